"""The chart and statistics API of stored sessions.

    GET /api/sessions/{id}/series?variable=NAME[&start=MS&end=MS][&width=PX]
        one variable's readings in [start, end] (board ms, default: all of it),
        at most about 2 x width points: raw, or a min/max envelope from SQL
    GET /api/sessions/{id}/stats[?variable=NAME...]
        count, min, max, mean, std per variable (blitz.data.browse)
    GET /api/compare?a=ID&b=ID
        two sessions' statistics side by side and their differences
"""

from __future__ import annotations

import time
from typing import Any

from twisted.internet.defer import Deferred

from blitz.data.browse import compare_sessions, load_session, session_stats
from blitz.web.context import ConsoleContext, browse_errors
from blitz.web.http import BadRequest, Call, Response, Route, json_response
from blitz.web.params import int_param, session_id_arg, variable_params
from blitz.web.series_query import fetch_series

__all__ = ["MAX_WIDTH_PX", "MIN_WIDTH_PX", "series_routes"]

MIN_WIDTH_PX = 10
MAX_WIDTH_PX = 8000
DEFAULT_WIDTH_PX = 1000
_TIME_LIMIT = 2**62


def series_routes(ctx: ConsoleContext) -> list[Route]:
    """The routes above, bound to `ctx`."""

    def load_series(session_id: int, name: str, start: int | None, end: int | None, width: int) -> dict[str, Any]:
        began = time.perf_counter()
        with ctx.connection() as conn, browse_errors():
            view = load_session(conn, session_id)
            span = view.select([name])[0]
            first = span.first_ms if start is None else start
            last = span.last_ms if end is None else end
            if last < first:
                raise BadRequest(f"start and end: expected start <= end, got start={first}, end={last}")
            series = fetch_series(conn, session_id, span.category_id, first, last, width,
                                  engine=ctx.database.engine, workers=ctx.series_workers)
        data = {
            "session": session_id,
            "variable": name,
            "session_first_ms": view.first_ms,
            "session_last_ms": view.last_ms,
            "range": [span.first_ms, span.last_ms],
            **series.to_json(),
        }
        data["elapsed_ms"] = round((time.perf_counter() - began) * 1000, 2)
        return data

    def series(call: Call) -> "Deferred[Response]":
        call.allow_only("variable", "start", "end", "width")
        session_id = session_id_arg(call)
        names = variable_params(call)
        if len(names) != 1:
            raise BadRequest(f"variable: expected exactly one variable per series request, got {len(names)}")
        start = int_param(call, "start", minimum=-_TIME_LIMIT, maximum=_TIME_LIMIT)
        end = int_param(call, "end", minimum=-_TIME_LIMIT, maximum=_TIME_LIMIT)
        width = int_param(call, "width", DEFAULT_WIDTH_PX, MIN_WIDTH_PX, MAX_WIDTH_PX)
        assert width is not None
        return ctx.run(load_series, session_id, names[0], start, end, width).addCallback(json_response)

    def load_stats(session_id: int, names: list[str]) -> dict[str, Any]:
        with ctx.connection() as conn, browse_errors():
            view = load_session(conn, session_id)
            return session_stats(conn, view, names or None).to_dict()

    def stats(call: Call) -> "Deferred[Response]":
        call.allow_only("variable")
        session_id = session_id_arg(call)
        names = variable_params(call, required=False)
        return ctx.run(load_stats, session_id, names).addCallback(json_response)

    def load_comparison(a: int, b: int) -> dict[str, Any]:
        with ctx.connection() as conn, browse_errors():
            return compare_sessions(conn, a, b).to_dict()

    def compare(call: Call) -> "Deferred[Response]":
        call.allow_only("a", "b")
        a = int_param(call, "a", minimum=0, maximum=2**31 - 1)
        b = int_param(call, "b", minimum=0, maximum=2**31 - 1)
        if a is None or b is None:
            raise BadRequest("a and b: expected two session numbers, e.g. /api/compare?a=1&b=2")
        return ctx.run(load_comparison, a, b).addCallback(json_response)

    return [
        Route("GET", "/api/sessions/{session}/series", series),
        Route("GET", "/api/sessions/{session}/stats", stats),
        Route("GET", "/api/compare", compare),
    ]
