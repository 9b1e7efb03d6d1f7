"""The analyst page (`GET /`) and the headers it is sent with.

The page is one HTML file with its style and script inline. Its Content-Security-Policy allows exactly those two
blocks (by SHA-256) and requests to its own origin, nothing else: no other script, style, frame, form target or
plugin, and no page may frame it (`frame-ancestors 'none'`, and `X-Frame-Options: DENY` for older browsers).
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache
from importlib import resources

_BLOCK = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


def _source_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def content_security_policy(html: str) -> str:
    """The CSP of a page whose only script and style are its inline `<script>` and `<style>` blocks."""
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for kind, body in _BLOCK.findall(html):
        hashes[kind].append(_source_hash(body))
    return ("default-src 'none'; script-src " + (" ".join(hashes["script"]) or "'none'")
            + "; style-src " + (" ".join(hashes["style"]) or "'none'")
            + "; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
              "frame-ancestors 'none'")


@lru_cache(maxsize=1)
def page() -> tuple[str, dict[str, str]]:
    """(the page's HTML, the headers it is sent with)."""
    html = resources.files("mentalglm.serve").joinpath("static/index.html").read_text("utf-8")
    return html, {"Content-Security-Policy": content_security_policy(html), "X-Frame-Options": "DENY",
                  "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                  "Cache-Control": "no-cache"}
