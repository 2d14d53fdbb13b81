"""Assemble the web console: access checks in front of the routes, a Twisted Web site, its parts' lifecycle.

`Console` owns the worker threads, the event hub, the logger link and the
download jobs; `ConsoleResource` is the site's single resource: it applies
the `AccessPolicy` (Host, login token, same-origin POST), adds the security
headers every response carries, and dispatches to the routes.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping, Optional
from urllib.parse import quote

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IListeningPort
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

from blitz.boards.definition import Board
from blitz.client.blocking import Client
from blitz.data.client_database import DatabaseClient
from blitz.web.api_control import control_routes, status_json
from blitz.web.api_export import export_routes
from blitz.web.api_live import EventHub, LiveBatcher, live_routes
from blitz.web.api_series import series_routes
from blitz.web.api_sessions import session_routes
from blitz.web.context import ConsoleContext
from blitz.web.downloads import ClosableSource, DownloadJobs
from blitz.web.http import Response, Route, dispatch, error_response, write_response
from blitz.web.logger_link import LoggerLink
from blitz.web.pages import StaticFiles, page_routes
from blitz.web.security import AccessPolicy, safe_next_path

__all__ = ["Console", "ConsoleResource", "LoggerAddress"]

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}
LOGIN_DELAY_S = 0.5


class LoggerAddress:
    """Where the logger is and the token it wants (None: no token)."""

    def __init__(self, host: str, port: int, token: Optional[str] = None) -> None:
        self.host = host
        self.port = int(port)
        self.token = token or None


class ConsoleResource(Resource):
    """Every request: access checks, security headers, then the matching route."""

    isLeaf = True

    def __init__(self, policy: AccessPolicy, routes: list[Route], files: StaticFiles, reactor: Any) -> None:
        super().__init__()
        self._policy = policy
        self._routes = routes
        self._files = files
        self._reactor = reactor

    def render(self, request: Request) -> Any:
        for name, value in SECURITY_HEADERS.items():
            request.setHeader(name.encode("ascii"), value.encode("ascii"))
        path = request.path.decode("utf-8", "replace")
        is_api = path.startswith("/api/")
        problem = self._policy.host_problem(request)
        if problem is not None:
            write_response(request, error_response(403, problem))
            return NOT_DONE_YET
        if path == "/login":
            return self._login(request)
        if not self._policy.authenticated(request) and not path.startswith("/static/"):
            if is_api:
                write_response(request, error_response(401, "log in first: open the console's page and enter the token"))
            else:
                target = request.uri.decode("utf-8", "replace")
                write_response(request, _redirect("/login?next=" + quote(safe_next_path(target), safe="")))
            return NOT_DONE_YET
        problem = self._policy.origin_problem(request)
        if problem is not None:
            write_response(request, error_response(403, problem))
            return NOT_DONE_YET
        if is_api:
            request.setHeader(b"cache-control", b"no-store")
        dispatch(self._routes, request, path)
        return NOT_DONE_YET

    def _login(self, request: Request) -> Any:
        """GET shows the token form; POST checks the token and sets the cookie."""
        args: dict[bytes, list[bytes]] = request.args or {}
        next_values = args.get(b"next") or [b"/"]
        next_path = safe_next_path(next_values[0].decode("utf-8", "replace"))
        if request.method in (b"GET", b"HEAD"):
            write_response(request, self._files.login_page(next_path))
            return NOT_DONE_YET
        if request.method != b"POST":
            write_response(request, error_response(405, "/login: expected GET or POST"))
            return NOT_DONE_YET
        problem = self._policy.origin_problem(request)
        if problem is not None:
            write_response(request, error_response(403, problem))
            return NOT_DONE_YET
        if not self._policy.token_required:
            write_response(request, _redirect(next_path))
            return NOT_DONE_YET
        token = (args.get(b"token") or [b""])[0].decode("utf-8", "replace")
        if self._policy.check_token(token):
            response = _redirect(next_path)
            response.headers["set-cookie"] = self._policy.login_cookie()
            write_response(request, response)
            return NOT_DONE_YET
        # A wrong token is answered late, so guessing is slow.
        page = self._files.login_page(next_path, "That token is not right; try again.", 403)
        deferLater(self._reactor, LOGIN_DELAY_S, write_response, request, page)
        return NOT_DONE_YET


def _redirect(location: str) -> Response:
    return Response(b"", 303, "text/plain; charset=utf-8", {"location": location})


def _blocking_client(address: LoggerAddress) -> Callable[[], ClosableSource]:
    def make() -> ClosableSource:
        return Client(address.host, address.port, token=address.token, timeout=30.0)

    return make


class Console:
    """One web console: its site, worker threads, event hub, logger link and downloads."""

    def __init__(
        self,
        reactor: Any,
        database: DatabaseClient,
        boards: Mapping[int, Board],
        policy: AccessPolicy,
        logger: Optional[LoggerAddress] = None,
        threads: int = 10,
        make_client: Optional[Callable[[], ClosableSource]] = None,
        poll_s: float = 1.0,
        retry_s: float = 2.0,
        series_workers: Optional[int] = None,
    ) -> None:
        self.reactor = reactor
        self.database = database
        self.policy = policy
        self.threadpool = ThreadPool(minthreads=1, maxthreads=threads, name="blitz-ui")
        self.hub = EventHub(reactor)
        self.live = LiveBatcher(reactor, boards, self.hub.publish)
        self.link: Optional[LoggerLink] = None
        self.jobs: Optional[DownloadJobs] = None
        if logger is not None:
            self.link = LoggerLink(
                reactor, logger.host, logger.port, logger.token, self.hub.publish, self.live.add,
                poll_s=poll_s, retry_s=retry_s,
            )
            self.jobs = DownloadJobs(
                self.run, make_client or _blocking_client(logger), database, boards,
                on_change=lambda job: reactor.callFromThread(self.hub.publish, "download", job),
            )
        workers = series_workers if series_workers is not None else min(4, os.cpu_count() or 1)
        self.context = ConsoleContext(reactor, database, self.run, self.hub, self.link, self.jobs, workers)
        self.hub.set_replay(self._replay)
        self.files = StaticFiles()
        routes = [
            *control_routes(self.context, policy.token_required),
            *session_routes(self.context),
            *series_routes(self.context),
            *export_routes(self.context),
            *live_routes(self.hub),
            *page_routes(self.files),
        ]
        self.resource = ConsoleResource(policy, routes, self.files, reactor)
        self.site = Site(self.resource, reactor=reactor)
        self.site.displayTracebacks = False
        self._started = False

    def run(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> "Deferred[Any]":
        """Run blocking `function` (database work, a download) in a worker thread."""
        return deferToThreadPool(self.reactor, self.threadpool, function, *args, **kwargs)

    def _replay(self) -> list[tuple[str, Any]]:
        status = status_json(self.context, self.policy.token_required)
        notes = list(self.link.notes) if self.link is not None else []
        return [("logger", status["logger"]), ("notes", notes)]

    def start(self) -> None:
        """Start the worker threads and the logger link."""
        if self._started:
            return
        self._started = True
        self.threadpool.start()
        if self.link is not None:
            self.link.start()

    def stop(self) -> None:
        """Close streams, the logger link and the worker threads."""
        if not self._started:
            return
        self._started = False
        if self.link is not None:
            self.link.stop()
        self.live.stop()
        self.hub.close()
        self.threadpool.stop()

    def listen(self, port: int, host: str) -> IListeningPort:
        """Start and serve on `host:port` (0 picks a free port); the port tells which."""
        self.start()
        listening: IListeningPort = self.reactor.listenTCP(port, self.site, interface=host)
        return listening
