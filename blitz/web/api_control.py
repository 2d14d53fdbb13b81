"""The logger control API: state, start and stop, notifications.

    GET  /api/status           the logger's state (reachable or not, STATUS, board rates) and the store
    POST /api/logger/start     START a session: {"session": N, "new": true|false}
    POST /api/logger/stop      STOP it: {"session": N}; 409 when none is running
    GET  /api/notifications    the logger's recent notifications and the local ones
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, inlineCallbacks

from blitz.data.models import Notification
from blitz.web.context import ConsoleContext
from blitz.web.http import Call, Response, Route, json_response

__all__ = ["control_routes", "status_json"]


def status_json(ctx: ConsoleContext, token_required: bool) -> dict[str, Any]:
    """What `/api/status` answers (also the first event of every stream)."""
    link = ctx.link
    url = ctx.database.engine.url
    return {
        "logger": link.snapshot() if link is not None else {"connected": False, "address": None,
                                                             "error": "started without a logger"},
        "database": url.render_as_string(hide_password=True),
        "token_required": token_required,
        "downloads": ctx.jobs.jobs() if ctx.jobs else [],
    }


def control_routes(ctx: ConsoleContext, token_required: bool) -> list[Route]:
    """The routes above, bound to `ctx`."""

    def status(call: Call) -> Response:
        call.allow_only()
        return json_response(status_json(ctx, token_required))

    @inlineCallbacks
    def start(call: Call) -> Any:
        call.allow_only()
        call.json_body()
        result = yield ctx.require_link().command("start")
        return json_response({"session": result.session_id, "new": result.new})

    @inlineCallbacks
    def stop(call: Call) -> Any:
        call.allow_only()
        call.json_body()
        session_id = yield ctx.require_link().command("stop")
        return json_response({"session": session_id})

    def local_notes() -> list[dict[str, Any]]:
        return [note.to_dict() for note in ctx.database.all(Notification)]

    def notifications(call: Call) -> "Deferred[Response]":
        call.allow_only()
        logger_notes = list(ctx.link.notes) if ctx.link is not None else []
        return ctx.run(local_notes).addCallback(
            lambda local: json_response({"logger": logger_notes, "local": local})
        )

    return [
        Route("GET", "/api/status", status),
        Route("POST", "/api/logger/start", start),
        Route("POST", "/api/logger/stop", stop),
        Route("GET", "/api/notifications", notifications),
    ]
