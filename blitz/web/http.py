"""HTTP plumbing of the console: routes, JSON responses and errors as `{"error": ...}`.

Handlers are plain functions of a `Call`; they return a `Response`, a Deferred
firing with one, or `STREAMING` when they write the body themselves (server-sent
events, exports).  Any `HttpError` becomes its status with a JSON message, and
an unexpected exception a 500 that is logged with its traceback.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union
from urllib.parse import parse_qs

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.python import log
from twisted.python.failure import Failure
from twisted.web.server import Request

__all__ = [
    "BadRequest",
    "Call",
    "HttpError",
    "Response",
    "Route",
    "STREAMING",
    "dispatch",
    "json_response",
    "write_response",
]

JSON_TYPE = "application/json; charset=utf-8"
MAX_BODY_BYTES = 64 * 1024


class HttpError(Exception):
    """An error the browser sees as `status` and `{"error": message}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class BadRequest(HttpError):
    """A parameter or body the console cannot use (400)."""

    def __init__(self, message: str) -> None:
        super().__init__(400, message)


@dataclass
class Response:
    """A complete response: status, body and headers."""

    body: bytes
    status: int = 200
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)


class _Streaming:
    """Marker: the handler writes and finishes the request itself."""

    def __repr__(self) -> str:
        return "STREAMING"


STREAMING = _Streaming()

HandlerResult = Union[Response, _Streaming, "Deferred[Any]"]


def json_response(data: Any, status: int = 200) -> Response:
    """`data` as a compact JSON response."""
    body = json.dumps(data, separators=(",", ":"), allow_nan=False).encode("utf-8")
    return Response(body, status)


def error_response(status: int, message: str) -> Response:
    """The JSON error body every failure uses."""
    return json_response({"error": message}, status)


class Call:
    """One request as a handler sees it: path arguments, query and JSON body."""

    def __init__(self, request: Request, path_args: dict[str, str]) -> None:
        self.request = request
        self.path_args = path_args
        raw_query = request.uri.split(b"?", 1)[1] if b"?" in request.uri else b""
        try:
            parsed = parse_qs(raw_query.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise BadRequest("query string: expected UTF-8 text") from None
        self.query: dict[str, list[str]] = parsed

    def allow_only(self, *names: str) -> None:
        """Refuse query parameters other than `names` (a typo should not be ignored silently)."""
        unknown = sorted(set(self.query) - set(names))
        if unknown:
            allowed = ", ".join(names) if names else "none"
            raise BadRequest(f"unknown query parameter {unknown[0]!r}; expected one of: {allowed}")

    def json_body(self) -> dict[str, Any]:
        """The request body as a JSON object (an empty body is `{}`)."""
        content = self.request.content
        raw = content.read(MAX_BODY_BYTES + 1) if content is not None else b""
        if len(raw) > MAX_BODY_BYTES:
            raise HttpError(413, f"request body: expected at most {MAX_BODY_BYTES} bytes")
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadRequest(f"request body: expected a JSON object ({exc})") from None
        if not isinstance(body, dict):
            raise BadRequest(f"request body: expected a JSON object, got {type(body).__name__}")
        return body


Handler = Callable[[Call], HandlerResult]


@dataclass(frozen=True)
class Route:
    """`method` and a path pattern with `{name}` parts (one path segment each)."""

    method: str
    pattern: str
    handler: Handler

    def match(self, path: str) -> Optional[dict[str, str]]:
        """The path arguments if `path` fits the pattern, else None."""
        regex = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.pattern)) + "$"
        found = re.match(regex, path)
        return found.groupdict() if found else None


def write_response(request: Request, response: Response) -> None:
    """Send `response` and finish the request (unless the client has gone)."""
    if getattr(request, "_disconnected", False) or getattr(request, "finished", False):
        return
    request.setResponseCode(response.status)
    request.setHeader(b"content-type", response.content_type.encode("ascii"))
    for name, value in response.headers.items():
        request.setHeader(name.encode("ascii"), value.encode("latin-1"))
    request.setHeader(b"content-length", str(len(response.body)).encode("ascii"))
    if request.method != b"HEAD":
        request.write(response.body)
    request.finish()


def _failure_response(failure: Failure) -> Response:
    if failure.check(HttpError):
        error: HttpError = failure.value  # type: ignore[assignment]
        return error_response(error.status, error.message)
    log.err(failure, "blitz ui: request handler failed")
    return error_response(500, f"internal error: {failure.getErrorMessage()} (details in the console's log)")


def dispatch(routes: list[Route], request: Request, path: str) -> None:
    """Run the route matching `request` and write what it returns."""
    method = request.method.decode("ascii", "replace")
    allowed: list[str] = []
    for route in routes:
        args = route.match(path)
        if args is None:
            continue
        if route.method != method and not (method == "HEAD" and route.method == "GET"):
            allowed.append(route.method)
            continue
        result = maybeDeferred(lambda: route.handler(Call(request, args)))

        def done(value: Any) -> None:
            if value is STREAMING:
                return
            if not isinstance(value, Response):
                value = error_response(500, f"internal error: handler returned {type(value).__name__}")
            write_response(request, value)

        result.addCallbacks(done, lambda failure: write_response(request, _failure_response(failure)))
        result.addErrback(log.err, "blitz ui: writing a response failed")
        return
    if allowed:
        response = error_response(405, f"{method} {path}: expected one of {', '.join(sorted(set(allowed)))}")
        response.headers["allow"] = ", ".join(sorted(set(allowed)))
        write_response(request, response)
        return
    write_response(request, error_response(404, f"no such page or API: {path}"))
