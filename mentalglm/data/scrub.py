"""PII scrubbing of posts: URLs, e-mail addresses, ID-card numbers, phone numbers and @handles.

Order matters: e-mails first (their domain would otherwise read as a URL), then URLs (which may hold
digits), ID cards before phone numbers (an 18-digit ID contains 11-digit runs), @handles last.
"""

from __future__ import annotations

import re
from collections import Counter

_TLDS = r"(?:com|cn|net|org|io|me|cc|co|info|edu|gov|top|xyz|html?)"
_URL_BODY = r"[^\s\u3000-\u303f\u4e00-\u9fff\uff00-\uffef“”‘’\"'<>()]*"
URL_RE = re.compile(
    rf"(?:(?:https?|ftp)://|www\.){_URL_BODY}"
    rf"|\b(?:[A-Za-z0-9-]+\.)+{_TLDS}\b(?:/{_URL_BODY})?",
    re.IGNORECASE,
)
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_DATE = r"(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
ID_CARD_RE = re.compile(
    rf"(?<![0-9A-Za-z])[1-9]\d{{5}}{_DATE}\d{{3}}[\dXx](?![0-9A-Za-z])"  # 18 digits, last may be X
    rf"|(?<!\d)[1-9]\d{{7}}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{{3}}(?!\d)"  # old 15-digit form
)
PHONE_RE = re.compile(
    r"(?<![\d+])(?:\+?86[-\s]?)?1[3-9]\d(?:[-\s]?\d{4}){2}(?!\d)"  # mobile, 11 digits, +86 optional
    r"|(?<!\d)(?:\(0\d{2,3}\)|0\d{2,3}-)\d{7,8}(?!\d)"  # landline with area code
    r"|(?<!\d)(?:400|800)-?\d{3}-?\d{4}(?!\d)"  # service numbers
)
# Weibo handles: letters, digits, CJK, "_" and "-", up to 30 characters; ends at spaces or punctuation.
HANDLE_RE = re.compile(r"@[\w\-]{1,30}")

PLACEHOLDERS = (("[EMAIL]", EMAIL_RE), ("[URL]", URL_RE), ("[ID]", ID_CARD_RE), ("[PHONE]", PHONE_RE),
                ("[USER]", HANDLE_RE))


def scrub_pii(text: str) -> tuple[str, Counter[str]]:
    """Replace PII in `text` with placeholders.

    Returns:
        (scrubbed text, count of replacements per placeholder).
    """
    counts: Counter[str] = Counter()
    for placeholder, pattern in PLACEHOLDERS:
        text, n = pattern.subn(placeholder, text)
        if n:
            counts[placeholder] += n
    return text, counts
