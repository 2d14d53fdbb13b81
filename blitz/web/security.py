"""Who may use the console: loopback by default, a token otherwise, same-origin changes only.

- Bound to loopback, requests must name a loopback host (`Host`), which stops
  DNS-rebinding pages from reaching the console through the user's browser.
- With a token (required for any other bind address) the browser proves it
  once on the login page and then carries a cookie marked HttpOnly and
  SameSite=Strict; the cookie holds an HMAC of the token, never the token.
- Requests that change anything (POST) must come from the console's own
  pages: their `Origin` (or, lacking it, `Referer`) must be this site.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from typing import Optional
from urllib.parse import urlsplit

from twisted.web.server import Request

from blitz.errors import ConfigError

__all__ = ["COOKIE_NAME", "AccessPolicy", "is_loopback", "safe_next_path"]

COOKIE_NAME = "blitz_ui"
_SAFE_METHODS = frozenset({b"GET", b"HEAD", b"OPTIONS"})


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _host_name(host_header: str) -> str:
    """The host part of a `Host` header value (`[::1]:8080` -> `::1`)."""
    if host_header.startswith("["):
        return host_header[1:].split("]", 1)[0]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def safe_next_path(raw: Optional[str]) -> str:
    """A local path to go to after logging in; anything else (other sites, `//x`) is `/`."""
    if not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw:
        return "/"
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc:
        return "/"
    return raw


class AccessPolicy:
    """The console's access rules for one bind address and optional token."""

    def __init__(self, bind_host: str, token: Optional[str] = None) -> None:
        self.bind_host = bind_host
        self.loopback = is_loopback(bind_host)
        if token is not None and not token.strip():
            raise ConfigError("ui token: expected a non-empty token, got an empty string")
        if not self.loopback and not token:
            raise ConfigError(
                f"refusing to serve the web console on {bind_host}, which is not a loopback address, "
                f"without a token: set --ui-token (or BLITZ_UI_TOKEN), or bind to 127.0.0.1"
            )
        self._token = token
        self._cookie_value = (
            hmac.new(token.encode("utf-8"), b"blitz-ui-cookie-v1", hashlib.sha256).hexdigest()
            if token
            else None
        )

    @property
    def token_required(self) -> bool:
        """True when the browser must log in with the token."""
        return self._token is not None

    def host_problem(self, request: Request) -> Optional[str]:
        """Why the request's `Host` is not acceptable, or None."""
        if not self.loopback:
            return None
        raw = request.getHeader(b"host")
        host = raw.decode("latin-1") if isinstance(raw, bytes) else (raw or "")
        if not host or not is_loopback(_host_name(host)):
            return (
                f"this console serves loopback only; expected a Host header such as 127.0.0.1 "
                f"or localhost, got {host!r}"
            )
        return None

    def authenticated(self, request: Request) -> bool:
        """True when no token is needed or the request carries the login cookie."""
        if self._cookie_value is None:
            return True
        cookie = request.getCookie(COOKIE_NAME.encode("ascii"))
        if not cookie:
            return False
        return hmac.compare_digest(cookie.decode("latin-1"), self._cookie_value)

    def check_token(self, candidate: str) -> bool:
        """Constant-time comparison of a submitted token."""
        if self._token is None:
            return True
        return hmac.compare_digest(candidate.encode("utf-8"), self._token.encode("utf-8"))

    def login_cookie(self) -> str:
        """The Set-Cookie value that keeps a browser logged in (HttpOnly, SameSite=Strict)."""
        if self._cookie_value is None:
            raise ConfigError("no token is configured, so there is nothing to log in with")
        return f"{COOKIE_NAME}={self._cookie_value}; Path=/; HttpOnly; SameSite=Strict"

    def origin_problem(self, request: Request) -> Optional[str]:
        """Why a state-changing request may not be from this site, or None when it is."""
        if request.method in _SAFE_METHODS:
            return None
        raw_host = request.getHeader(b"host")
        host = raw_host.decode("latin-1") if isinstance(raw_host, bytes) else (raw_host or "")
        scheme = "https" if request.isSecure() else "http"
        expected = f"{scheme}://{host}"
        origin = _header(request, b"origin")
        if origin is not None:
            if origin == expected:
                return None
            return f"cross-site request refused: Origin {origin!r} is not this console ({expected})"
        referer = _header(request, b"referer")
        if referer is not None and (referer == expected or referer.startswith(expected + "/")):
            return None
        return f"state-changing requests must come from this console's pages (Origin {expected})"


def _header(request: Request, name: bytes) -> Optional[str]:
    value = request.getHeader(name)
    if value is None:
        return None
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)
