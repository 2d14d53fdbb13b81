"""The sessions API: the list (synced from the logger), one session's overview, download, delete.

    GET  /api/sessions                      local session list, newest first
    POST /api/sessions/sync                 fetch SESSIONS from the logger into the local list
    GET  /api/sessions/{id}                 overview: times, counts, variables and their spans
    POST /api/sessions/{id}/download        start the download (202), progress at /api/downloads
    POST /api/sessions/{id}/delete          {"scope": "local"} drops the readings here,
                                            {"scope": "everywhere"} also deletes it on the logger
    GET  /api/downloads[/{id}]              download jobs and their progress
"""

from __future__ import annotations

import time
from typing import Any, Callable

from twisted.internet.defer import Deferred, inlineCallbacks

from blitz.client.errors import UnknownSession
from blitz.data.browse import load_session
from blitz.data.models import Session
from blitz.web.context import ConsoleContext, browse_errors
from blitz.web.http import BadRequest, Call, HttpError, Response, Route, json_response
from blitz.web.logger_link import TOLERATED
from blitz.web.params import session_id_arg

__all__ = ["session_json", "session_routes"]

DELETE_SCOPES = ("local", "everywhere")


def session_json(row: Session, now_ms: int) -> dict[str, Any]:
    """One session of the list with its duration and download state."""
    running = row.time_stopped is None
    end = now_ms if running else row.time_stopped
    duration = None if row.time_started is None or end is None else max(0, end - row.time_started) / 1000
    stored = row.downloaded_messages or 0
    return {
        "id": row.ref_id,
        "time_started": row.time_started,
        "time_stopped": row.time_stopped,
        "running": running,
        "duration_s": duration,
        "messages": row.number_of_readings,
        "stored_messages": stored,
        "downloaded": bool(row.available),
        "partial": 0 < stored < (row.number_of_readings or 0),
    }


def session_routes(ctx: ConsoleContext, wall_clock: Callable[[], float] = time.time) -> list[Route]:
    """The routes above, bound to `ctx`."""
    database = ctx.database

    def local_list() -> list[dict[str, Any]]:
        now_ms = int(wall_clock() * 1000)
        rows = sorted(database.all(Session), key=lambda row: row.ref_id, reverse=True)
        return [session_json(row, now_ms) for row in rows]

    def list_response(sessions: list[dict[str, Any]]) -> Response:
        link = ctx.link
        return json_response(
            {
                "sessions": sessions,
                "logger": {
                    "connected": bool(link and link.connected),
                    "address": link.address if link else None,
                    "error": link.error if link else "started without a logger",
                },
                "downloads": ctx.jobs.jobs() if ctx.jobs else [],
            }
        )

    def list_sessions(call: Call) -> "Deferred[Response]":
        call.allow_only()
        return ctx.run(local_list).addCallback(list_response)

    @inlineCallbacks
    def sync(call: Call) -> Any:
        call.allow_only()
        infos = yield ctx.require_link().command("sessions")
        rows = [[info.id, info.start_ms, info.end_ms, info.messages] for info in infos]
        yield ctx.run(database.update_session_list, rows)
        sessions = yield ctx.run(local_list)
        return list_response(sessions)

    def overview(session_id: int) -> dict[str, Any]:
        with ctx.connection() as conn, browse_errors():
            view = load_session(conn, session_id)
        data = view.to_dict()
        data["spans"] = [
            {"name": span.name, "first_ms": span.first_ms, "last_ms": span.last_ms} for span in view.variables
        ]
        data["complete"] = view.complete
        return data

    def session_detail(call: Call) -> "Deferred[Response]":
        call.allow_only()
        session_id = session_id_arg(call)
        return ctx.run(overview, session_id).addCallback(json_response)

    def download(call: Call) -> Response:
        call.allow_only()
        session_id = session_id_arg(call)
        call.json_body()
        if ctx.jobs is None:
            raise HttpError(503, "this console was started without a logger, so it cannot download")
        link = ctx.require_link()
        if not link.connected:
            link.require()
        job, started = ctx.jobs.start(session_id)
        return json_response({"job": job, "started": started}, 202 if started else 200)

    def forget(session_id: int, scope: str) -> None:
        known = database.get(Session, {"ref_id": session_id})
        if known is None:
            raise HttpError(404, f"no session {session_id} in the local database")
        if scope == "local":
            database.clear_session_data(session_id)
        else:
            database.delete_session(session_id)

    @inlineCallbacks
    def delete(call: Call) -> Any:
        call.allow_only()
        session_id = session_id_arg(call)
        body = call.json_body()
        unknown = sorted(set(body) - {"scope"})
        if unknown:
            raise BadRequest(f"request body: unknown field {unknown[0]!r}; expected only 'scope'")
        scope = body.get("scope", "local")
        if scope not in DELETE_SCOPES:
            raise BadRequest(f"scope: expected one of {', '.join(DELETE_SCOPES)}, got {scope!r}")
        if ctx.jobs is not None and (ctx.jobs.job(session_id) or {}).get("state") == "running":
            raise HttpError(409, f"session {session_id} is being downloaded; wait for the download to finish")
        on_logger = False
        if scope == "everywhere":
            outcome = yield ctx.require_link().command("delete", session_id, tolerate=(UnknownSession,))
            on_logger = outcome is not TOLERATED
        yield ctx.run(forget, session_id, scope)
        return json_response({"deleted": session_id, "scope": scope, "deleted_on_logger": bool(on_logger)})

    def downloads(call: Call) -> Response:
        call.allow_only()
        return json_response({"downloads": ctx.jobs.jobs() if ctx.jobs else []})

    def one_download(call: Call) -> Response:
        call.allow_only()
        session_id = session_id_arg(call)
        job = ctx.jobs.job(session_id) if ctx.jobs else None
        if job is None:
            raise HttpError(404, f"no download of session {session_id} was started here")
        return json_response(job)

    return [
        Route("GET", "/api/sessions", list_sessions),
        Route("POST", "/api/sessions/sync", sync),
        Route("GET", "/api/sessions/{session}", session_detail),
        Route("POST", "/api/sessions/{session}/download", download),
        Route("POST", "/api/sessions/{session}/delete", delete),
        Route("GET", "/api/downloads", downloads),
        Route("GET", "/api/downloads/{session}", one_download),
    ]
