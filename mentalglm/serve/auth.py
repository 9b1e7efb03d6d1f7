"""Who may call the service: the bearer token, where replicas read it, and the fail-closed rule.

The token is never part of a Ray or Serve config (the dashboard shows those, runtime_env included): a replica
reads it from `serve.token_file` (a path, e.g. a mounted Kubernetes secret) or from MENTALGLM_API_TOKEN in its
node's environment (inherited from `ray start`, or from the process that started a local cluster).

Fail closed: a service bound beyond loopback with no token refuses to start, unless
`serve.allow_unauthenticated: true` says the openness is on purpose (then a warning is logged at start).
"""

from __future__ import annotations

import ipaddress
import logging
import os
from pathlib import Path
from typing import Any

from mentalglm.config import ConfigError

log = logging.getLogger(__name__)
TOKEN_ENV = "MENTALGLM_API_TOKEN"
PROTECTED_PREFIXES = ("/v1/",)
PROTECTED_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json")


def read_token(token_file: str | None) -> str | None:
    """The bearer token: the contents of `token_file` if given, else MENTALGLM_API_TOKEN; surrounding whitespace
    (a secret's trailing newline) is dropped, and an empty value means no token.

    Raises:
        ConfigError: `token_file` is given but cannot be read (naming serve.token_file).
    """
    if token_file:
        try:
            value = Path(token_file).expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"serve.token_file: cannot read {token_file} ({exc.__class__.__name__}); the "
                              "file must exist on every node that runs a replica") from None
        if not value.strip():
            raise ConfigError(f"serve.token_file: {token_file} is empty")
    else:
        value = os.environ.get(TOKEN_ENV, "")
    return value.strip() or None


def is_loopback(host: str) -> bool:
    """Whether `host` (a bind address) only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: assume it resolves beyond this machine


def check_exposure(host: str, token: str | None, allow_unauthenticated: bool) -> None:
    """Refuse an open service beyond loopback (see the module docstring); warn when it is allowed.

    Raises:
        ConfigError: `host` is not loopback, there is no token and `allow_unauthenticated` is false.
    """
    if token or is_loopback(host):
        return
    if not allow_unauthenticated:
        raise ConfigError(
            f"serve.host: {host} accepts connections from other machines, but no token is set: put the token in "
            f"serve.token_file or {TOKEN_ENV} on the Ray nodes, or set serve.allow_unauthenticated=true to serve "
            "without one on purpose")
    log.warning("serving on %s without a token (serve.allow_unauthenticated is true): anyone who can reach "
                "this address can use the model", host)


def serving_token(settings: Any) -> str | None:
    """The token a service with these `serve.*` settings requires (None: open), once it has passed the
    fail-closed rule; what the driver checks before deploying and each replica checks again on its node.

    Raises:
        ConfigError: see `read_token` and `check_exposure`.
    """
    token = read_token(settings.token_file)
    check_exposure(settings.host, token, settings.allow_unauthenticated)
    return token


def needs_token(path: str) -> bool:
    """Whether a request path is one the token guards: the API and its schema/docs pages."""
    return path.startswith(PROTECTED_PREFIXES) or path in PROTECTED_PATHS
