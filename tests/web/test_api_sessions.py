"""The sessions API without a logger: list, overview, delete, and the refusals that need a logger."""

from __future__ import annotations

import pytest

from blitz.data.client_database import DatabaseClient
from blitz.data.models import Reading, Session

from tests.web.conftest import ConsoleFactory, RunningConsole
from tests.web.harness import SampleSession

pytestmark = pytest.mark.integration


def test_the_list_is_newest_first_with_duration_and_download_state(console: RunningConsole,
                                                                    samples: dict[int, SampleSession]) -> None:
    reply = console.client.get("/api/sessions")
    assert reply.status == 200
    data = reply.json()
    sessions = data["sessions"]
    assert [s["id"] for s in sessions] == [3, 2, 1]
    by_id = {s["id"]: s for s in sessions}
    assert by_id[1]["duration_s"] == 12.0 and by_id[1]["messages"] == 6000
    assert by_id[1]["downloaded"] is True and by_id[1]["stored_messages"] == 6000
    assert by_id[2]["duration_s"] == 4.0 and by_id[2]["downloaded"] is True
    assert by_id[3]["running"] is True and by_id[3]["downloaded"] is False and by_id[3]["stored_messages"] == 0
    assert data["logger"] == {"connected": False, "address": None, "error": "started without a logger"}


def test_the_overview_lists_each_variable_with_its_span(console: RunningConsole,
                                                        samples: dict[int, SampleSession]) -> None:
    data = console.client.get("/api/sessions/1").json()
    assert data["ref_id"] == 1 and data["variables"] == ["alpha", "beta", "gamma"]
    spans = {span["name"]: span for span in data["spans"]}
    for name, (t, _) in samples[1].variables.items():
        assert (spans[name]["first_ms"], spans[name]["last_ms"]) == (int(t[0]), int(t[-1]))
    assert data["first_time_logged"] == 1000 and data["complete"] is True
    assert console.client.get("/api/sessions/3").status == 409
    assert console.client.get("/api/sessions/77").status == 404
    assert console.client.get("/api/sessions/1?x=1").status == 400


def test_deleting_the_local_copy_keeps_the_session_listed(console: RunningConsole, web_database: DatabaseClient,
                                                          samples: dict[int, SampleSession]) -> None:
    reply = console.client.post("/api/sessions/2/delete", {"scope": "local"})
    assert reply.status == 200, reply.text
    assert reply.json() == {"deleted": 2, "scope": "local", "deleted_on_logger": False}
    assert web_database.find(Reading, {"session_id": 2}) == []
    row = web_database.get(Session, {"ref_id": 2})
    assert row is not None and row.available is False and row.downloaded_messages == 0
    assert len(web_database.find(Reading, {"session_id": 1})) == sum(t.size for t, _ in samples[1].variables.values())
    assert console.client.post("/api/sessions/42/delete", {"scope": "local"}).status == 404


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"scope": "nowhere"}, 400, "scope: expected one of local, everywhere, got 'nowhere'"),
        ({"scope": "local", "force": True}, 400, "unknown field 'force'"),
        ("[1, 2]", 400, "expected a JSON object, got list"),
        ("{not json", 400, "request body: expected a JSON object"),
        ({"scope": "everywhere"}, 503, "this console was started without a logger"),
    ],
)
def test_bad_delete_requests_are_refused(console: RunningConsole, web_database: DatabaseClient,
                                         body: object, status: int, message: str) -> None:
    reply = console.client.post("/api/sessions/1/delete", body, headers={"Content-Type": "application/json"})
    assert reply.status == status
    assert message in reply.json()["error"]
    assert web_database.get(Session, {"ref_id": 1}).available is True  # nothing was deleted


def test_changes_need_post_from_this_site(console: RunningConsole, web_database: DatabaseClient) -> None:
    client = console.client
    wrong_method = client.get("/api/sessions/1/delete")
    assert wrong_method.status == 405 and wrong_method.headers["allow"] == "POST"
    no_origin = client.post("/api/sessions/1/delete", {"scope": "local"}, origin=None)
    assert no_origin.status == 403 and "must come from this console" in no_origin.json()["error"]
    other_site = client.post("/api/sessions/1/delete", {"scope": "local"}, origin="http://evil.example")
    assert other_site.status == 403 and "cross-site request refused" in other_site.json()["error"]
    referer = client.post("/api/sessions/1/delete", {"scope": "bogus"}, origin=None,
                          headers={"Referer": client.origin + "/sessions"})
    assert referer.status == 400  # a same-site Referer passes the check; the scope then fails
    assert web_database.get(Session, {"ref_id": 1}).available is True


def test_sync_download_and_control_say_the_logger_is_missing(console: RunningConsole) -> None:
    for path in ("/api/sessions/sync", "/api/sessions/1/download", "/api/logger/start", "/api/logger/stop"):
        reply = console.client.post(path)
        assert reply.status == 503, path
        assert "without a logger" in reply.json()["error"]
    assert console.client.get("/api/downloads").json() == {"downloads": []}
    assert console.client.get("/api/downloads/1").status == 404


def test_an_unreachable_logger_is_reported_and_browsing_still_works(
        make_console: ConsoleFactory, samples: dict[int, SampleSession], unused_port: int) -> None:
    from blitz.web.app import LoggerAddress
    from tests.client.stack import wait_for

    running = make_console(logger=LoggerAddress("127.0.0.1", unused_port), retry_s=0.2)

    def refused() -> dict | None:
        status = running.client.get("/api/status").json()
        return status if "cannot connect" in (status["logger"]["error"] or "") else None

    status = wait_for(refused, "the console to try the logger")
    assert status["logger"]["connected"] is False
    assert f"127.0.0.1:{unused_port}" in status["logger"]["error"]
    start = running.client.post("/api/logger/start")
    assert start.status == 503 and "is not reachable" in start.json()["error"]
    assert running.client.post("/api/sessions/1/download").status == 503
    assert running.client.get("/api/sessions").json()["sessions"][0]["id"] == 3
    assert running.client.get("/api/sessions/1/series?variable=alpha").status == 200


def test_unknown_paths_and_methods(console: RunningConsole) -> None:
    assert console.client.get("/api/nothing").status == 404
    assert console.client.get("/api/nothing").json()["error"] == "no such page or API: /api/nothing"
    put = console.client.request("PUT", "/api/sessions", body={})
    assert put.status == 405 and put.json()["error"].startswith("PUT /api/sessions: expected one of GET")


def test_notifications_list_the_local_ones(console: RunningConsole, web_database: DatabaseClient) -> None:
    note = web_database.log_error("session 2: 3 malformed line(s) skipped during download", severity=2)
    reply = console.client.get("/api/notifications")
    assert reply.status == 200
    data = reply.json()
    assert data["logger"] == []
    assert data["local"] == [{"id": note.id, "time_logged": note.time_logged, "severity": 2,
                              "description": "session 2: 3 malformed line(s) skipped during download"}]
    assert console.client.get("/api/notifications?since=1").status == 400


def test_download_parameters_are_checked_before_the_logger(console: RunningConsole) -> None:
    assert "session id: expected an integer" in console.client.post("/api/sessions/abc/download").json()["error"]
    assert console.client.post("/api/sessions/1/download?now=1").status == 400
    assert console.client.post("/api/sessions/1/download", "[]",
                               headers={"Content-Type": "application/json"}).status == 400
    assert console.client.get("/api/downloads/x").status == 400
