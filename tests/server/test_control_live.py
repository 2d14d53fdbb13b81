"""LIVE ON/OFF: push lines interleaved with replies, and a bounded backlog for slow clients."""

from __future__ import annotations

from twisted.logger import globalLogPublisher

from tests.server.test_control_fakes import (
    Connection, FakeLogger, SlowTransport, chunkings, reactor_turn,
)

LINE = "08a0000000010fff0000000000000"


def live_logger() -> FakeLogger:
    logger = FakeLogger()
    logger.add_session([], running=True)
    return logger


def test_pushes_interleave_with_replies() -> None:
    for chunk in chunkings():
        logger = live_logger()
        conn = Connection(logger)
        assert conn.send("LIVE ON", chunk=chunk) == ["ACK"]
        logger.append([LINE, LINE.upper()])
        assert conn.send("PING", chunk=chunk) == [f"!LIVE 1 {LINE}", f"!LIVE 1 {LINE.upper()}",
                                                  "ACK PONG"]
        logger.notify("board 09 lost", severity=3)
        assert conn.output() == ["!NOTE 1700000000000 3 board 09 lost"]
        assert conn.send("LIVE OFF", chunk=chunk) == ["ACK"]
        logger.append([LINE])
        logger.notify("ignored")
        assert conn.send("PING", chunk=chunk) == ["ACK PONG"]


def test_pushes_may_arrive_while_a_reply_is_pending() -> None:
    logger = live_logger()
    logger.add_board(8)
    conn = Connection(logger)
    conn.send("LIVE ON")
    logger.hold = True
    assert conn.send("BOARD 08 0883") == []
    logger.append([LINE])
    logger.release()
    assert conn.output() == [f"!LIVE 1 {LINE}", "+0840", "ACK"]


def test_live_on_twice_subscribes_once_and_disconnect_unsubscribes() -> None:
    logger = live_logger()
    conn = Connection(logger)
    assert conn.send("LIVE ON", "LIVE ON", "LIVE OFF", "LIVE OFF", "LIVE ON") == ["ACK"] * 5
    assert len(logger.live_listeners) == 1
    logger.append([LINE])
    assert conn.output() == [f"!LIVE 1 {LINE}"]
    conn.protocol.connectionLost(None)
    assert logger.live_listeners == []


def test_several_clients_each_get_every_line() -> None:
    logger = live_logger()
    a, b = Connection(logger), Connection(logger)
    a.send("LIVE ON")
    b.send("LIVE ON")
    logger.append([LINE])
    assert a.output() == b.output() == [f"!LIVE 1 {LINE}"]


def test_slow_live_client_gets_a_bounded_queue_and_a_drop_count() -> None:
    logger = live_logger()
    transport = SlowTransport(limit=1000)
    conn = Connection(logger, transport=transport, live_queue_lines=10)
    conn.send("LIVE ON")
    lines = [f"08a0{i:08x}0000000000000000" for i in range(200)]
    for line in lines:
        logger.append([line])
    assert transport.paused
    written_before_pause = transport.value().decode().splitlines()[1:]
    sent = len(written_before_pause)
    assert written_before_pause == [f"!LIVE 1 {line}" for line in lines[:sent]]
    assert conn.protocol.live.queued == 10
    transport.drain()
    after = transport.value().decode().splitlines()[1 + sent:]
    dropped = 200 - sent - 10
    assert after == [f"!DROPPED {dropped}"] + [f"!LIVE 1 {line}" for line in lines[-10:]]
    assert conn.protocol.live.dropped_total == dropped
    conn.output()
    assert conn.send("PING") == ["ACK PONG"]


def test_commands_wait_while_the_client_is_not_reading() -> None:
    logger = live_logger()
    transport = SlowTransport(limit=100)
    conn = Connection(logger, transport=transport)
    conn.send("HELP")
    assert transport.paused
    before = len(transport.value())
    conn.feed(b"PING\nLOGGING\n")
    assert len(transport.value()) == before  # nothing new is generated for a stalled client
    transport.drain()
    assert transport.value()[before:] == b"ACK PONG\nINSESSION 1\n"


def test_a_client_flooding_commands_without_reading_is_throttled() -> None:
    conn = Connection(live_logger(), transport=SlowTransport(limit=100), max_pending_lines=20)
    conn.send("HELP")
    conn.feed(b"PING\n" * 30)
    assert conn.transport.producerState == "paused"  # we stopped reading from the socket
    assert len(conn.protocol._pending) == 30
    for _ in range(30):
        conn.transport.drain()
    assert conn.output()[-30:] == ["ACK PONG"] * 30
    assert conn.transport.producerState == "producing"


def test_a_failing_push_never_raises_into_the_logging_path() -> None:
    logger = live_logger()
    conn = Connection(logger)
    conn.send("LIVE ON")

    def broken(data: object) -> None:
        raise OSError("socket gone")

    conn.transport.writeSequence = broken  # type: ignore[method-assign]
    events: list[dict[str, object]] = []
    globalLogPublisher.addObserver(events.append)
    try:
        logger.append([LINE])
        logger.notify("still fine")
    finally:
        globalLogPublisher.removeObserver(events.append)
    assert len([e for e in events if "log_failure" in e]) == 2


def test_flushing_the_live_backlog_can_pause_again_and_keeps_download_paused() -> None:
    logger = live_logger()
    logger.add_session([b"08a0%08x0000000000000000" % i for i in range(1000)])
    transport = SlowTransport(limit=2000)
    conn = Connection(logger, transport=transport, chunk_lines=50)
    conn.send("LIVE ON", "DOWNLOAD 2")
    while not transport.paused:
        reactor_turn(conn.clock)
    assert conn.clock.getDelayedCalls() == []
    for i in range(100):
        logger.append([LINE])
    assert conn.protocol.live.queued == 100
    transport.drain()  # the backlog (100 x 38 bytes) is more than the limit again
    assert transport.paused
    assert conn.clock.getDelayedCalls() == []  # so the download did not resume
    while transport.paused:
        transport.drain()
        while reactor_turn(conn.clock):
            pass
    assert transport.value().decode().splitlines()[-1] == "ACK 1000 1000"


def test_quit_turns_live_off() -> None:
    logger = live_logger()
    conn = Connection(logger)
    assert conn.send("LIVE ON", "QUIT") == ["ACK", "ACK bye"]
    assert logger.live_listeners == []
