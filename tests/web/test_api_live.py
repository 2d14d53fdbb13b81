"""GET /api/events: the logger state first, then decoded LIVE batches and notifications as they come."""

from __future__ import annotations

import pytest

from blitz.boards import BlitzBasicBoard, MotorBoard
from blitz.client.reply_parser import LivePush, NoteInfo

from tests.client.stack import wait_for
from tests.web.conftest import RunningConsole
from tests.web.harness import EventStream

pytestmark = pytest.mark.integration


def test_a_page_gets_the_state_then_live_values_decoded_in_batches(console: RunningConsole) -> None:
    stream = EventStream(console.client.port)
    try:
        assert stream.status == 200
        assert stream.headers["content-type"] == "text/event-stream; charset=utf-8"
        wait_for(lambda: stream.of("notes"), "the replayed state")
        assert [event for event, _ in stream.events[:2]] == ["logger", "notes"]
        assert stream.of("logger")[0]["connected"] is False
        basic, motor = BlitzBasicBoard(), MotorBoard()
        lines = [str(basic.encode({"adc_channel_one": 100 + i, "adc_channel_three": 7}, timestamp=5000 + 10 * i))
                 for i in range(20)]
        lines += [str(motor.encode({"raw_adc": 3 * i, "set_point": 42}, timestamp=900 + i)) for i in range(5)]
        live = console.console.live

        def feed() -> None:
            for line in lines:
                live.add(7, line)

        console.reactor_thread.call(feed)
        batch = wait_for(lambda: stream.of("live"), "a live event")[0]
        assert len(stream.of("live")) == 1  # 25 lines, one event
        assert batch["session"] == 7
        one = batch["variables"]["adc_channel_one"]
        assert one["t"] == [5000 + 10 * i for i in range(20)]
        assert one["v"] == [100.0 + i for i in range(20)]
        assert one["board"] == 8
        assert batch["variables"]["adc_channel_three"]["v"] == [7.0] * 20
        assert batch["variables"]["raw_adc"]["v"] == [0.0, 3.0, 6.0, 9.0, 12.0]
        assert batch["variables"]["set_point"]["board"] == 9
    finally:
        stream.close()


def test_notifications_and_logger_state_are_pushed_to_every_page(console: RunningConsole) -> None:
    streams = [EventStream(console.client.port) for _ in range(2)]
    try:
        for stream in streams:
            wait_for(lambda: stream.of("notes"), "the replayed state")
        hub = console.console.hub
        wait_for(lambda: hub.subscribers == 2, "both pages to be subscribed")
        console.reactor_thread.call(hub.publish, "note", {"time_ms": 1, "severity": 3, "text": "board 09 lost"})
        for stream in streams:
            assert wait_for(lambda: stream.of("note"), "the note")[0]["text"] == "board 09 lost"
        streams[0].close()
        wait_for(lambda: hub.subscribers == 1, "the closed page to be forgotten")
    finally:
        for stream in streams:
            stream.close()


def test_a_bad_batch_does_not_stop_the_live_view(console: RunningConsole) -> None:
    stream = EventStream(console.client.port)
    try:
        wait_for(lambda: stream.of("notes"), "the replayed state")
        good = str(BlitzBasicBoard().encode({"adc_channel_two": 9}, timestamp=1))
        console.reactor_thread.call(lambda: [console.console.live.add(1, line) for line in ("zz", "0123", good)])
        batch = wait_for(lambda: stream.of("live"), "a live event")[0]
        assert batch["variables"]["adc_channel_two"]["v"] == [9.0]
        assert console.console.live.bad_lines == 2
    finally:
        stream.close()
