"""The console's pages and static assets, served from the installed `blitz/web/static/` folder.

Pages are plain HTML files whose scripts fetch the JSON API; only the login
page is filled in on the server (its message and the page to return to).
Assets are read once per console and served with their content type; any name
not in the folder is a 404, so no path ever leaves it.
"""

from __future__ import annotations

import html
import re
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Callable, Optional

from blitz.web.http import Call, HttpError, Response, Route

__all__ = ["StaticFiles", "page_routes"]

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,80}$")

PAGES = {
    "/": "dashboard.html",
    "/sessions": "sessions.html",
    "/sessions/{session}": "session.html",
    "/compare": "compare.html",
}


class StaticFiles:
    """The files of one folder, read on first use and kept."""

    def __init__(self, folder: Optional[Traversable] = None) -> None:
        self._folder = folder if folder is not None else resources.files("blitz.web") / "static"
        self._cache: dict[str, tuple[bytes, str]] = {}

    def get(self, name: str) -> Optional[tuple[bytes, str]]:
        """(content, content type) of `name`, or None when the folder has no such file."""
        if name in self._cache:
            return self._cache[name]
        suffix = name[name.rfind(".") :] if "." in name else ""
        if not _NAME.match(name) or suffix not in _TYPES:
            return None
        entry = self._folder / name
        if not entry.is_file():
            return None
        found = (entry.read_bytes(), _TYPES[suffix])
        self._cache[name] = found
        return found

    def response(self, name: str) -> Response:
        """`name` as a response, or a 404 error."""
        found = self.get(name)
        if found is None:
            raise HttpError(404, f"no such file: {name}")
        body, content_type = found
        return Response(body, 200, content_type, {"cache-control": "no-cache"})

    def login_page(self, next_path: str, message: str = "", status: int = 200) -> Response:
        """The token form, returning to `next_path` after a successful login."""
        found = self.get("login.html")
        if found is None:
            raise HttpError(500, "login.html is missing from the installed console")
        text = found[0].decode("utf-8")
        text = text.replace("{{next}}", html.escape(next_path, quote=True))
        text = text.replace("{{message}}", html.escape(message))
        return Response(text.encode("utf-8"), status, _TYPES[".html"], {"cache-control": "no-store"})


def page_routes(files: StaticFiles) -> list[Route]:
    """The pages and `/static/{name}`."""

    def asset(call: Call) -> Response:
        call.allow_only()
        return files.response(call.path_args["name"])

    def page(name: str) -> Callable[[Call], Response]:
        def serve(call: Call) -> Response:
            return files.response(name)

        return serve

    routes = [Route("GET", "/static/{name}", asset)]
    routes.extend(Route("GET", path, page(name)) for path, name in PAGES.items())
    return routes
