"""DOWNLOAD: chunked streaming with producer/consumer flow control."""

from __future__ import annotations

from twisted.internet import task

from blitz.server.download import DownloadStream, data_block
from tests.server.test_control_fakes import (
    Connection, FakeLogger, SlowTransport, chunkings, reactor_turn,
)

CHUNK_LINES = 50


def session_lines(count: int) -> list[bytes]:
    return [b"08a0%08x0000000000000000" % i for i in range(count)]


def pump(clock: task.Clock, turns: int = 1000) -> int:
    """Run reactor turns until nothing is scheduled; return how many ran."""
    for turn in range(turns):
        if not reactor_turn(clock):
            return turn
    raise AssertionError("still busy after {turns} turns")


def test_download_streams_in_chunks_across_reactor_turns() -> None:
    lines = session_lines(5 * CHUNK_LINES + 7)
    for chunk in chunkings():
        logger = FakeLogger()
        logger.add_session(lines)
        conn = Connection(logger, chunk_lines=CHUNK_LINES)
        first = conn.send("DOWNLOAD 1", "PING", chunk=chunk)
        assert first == ["+" + line.decode() for line in lines[:CHUNK_LINES]]
        assert logger.reads == [(1, 0, CHUNK_LINES)]
        pump(conn.clock)
        rest = conn.output()
        assert rest[:-2] == ["+" + line.decode() for line in lines[CHUNK_LINES:]]
        assert rest[-2:] == [f"ACK {len(lines)} {len(lines)}", "ACK PONG"]
        assert logger.reads == [(1, k * CHUNK_LINES, CHUNK_LINES) for k in range(6)]


def test_download_from_an_offset_and_past_the_end() -> None:
    logger = FakeLogger()
    logger.add_session(session_lines(2 * CHUNK_LINES))
    conn = Connection(logger, chunk_lines=CHUNK_LINES)
    reply = conn.send("DOWNLOAD 1 70")
    assert pump(conn.clock) == 0  # the first chunk came back short: already done
    assert len(reply) == 31 and reply[0] == "+" + session_lines(71)[70].decode()
    assert reply[-1] == "ACK 30 100"
    # a chunk that comes back exactly full needs one more (empty) read to know it is the end
    assert conn.send("DOWNLOAD 1 50") == ["+" + l.decode() for l in session_lines(100)[50:]]
    pump(conn.clock)
    assert conn.output() == ["ACK 50 100"]
    assert conn.send("DOWNLOAD 1 500") == ["ACK 0 500"]


def test_slow_client_pauses_the_download_and_memory_stays_bounded() -> None:
    lines = session_lines(40 * CHUNK_LINES)
    chunk_bytes = len(data_block(lines[:CHUNK_LINES]))
    logger = FakeLogger()
    logger.add_session(lines)
    transport = SlowTransport(limit=2 * chunk_bytes)
    conn = Connection(logger, transport=transport, chunk_lines=CHUNK_LINES)
    conn.send("DOWNLOAD 1")
    rounds = 0
    while True:
        pump(conn.clock)
        if not transport.paused:
            break  # finished: nothing scheduled and not waiting for the client
        reads_while_paused = len(logger.reads)
        conn.clock.advance(10)  # a slow client: time passes, nothing is read
        assert len(logger.reads) == reads_while_paused
        assert conn.clock.getDelayedCalls() == []
        transport.drain()
        rounds += 1
    transport.drain()
    assert rounds >= 10
    # never more than the limit plus the one chunk that crossed it was waiting
    assert transport.max_unread <= transport.limit + chunk_bytes
    received = transport.value().decode().splitlines()
    assert received[-1] == f"ACK {len(lines)} {len(lines)}"
    assert received[:-1] == ["+" + line.decode() for line in lines]


def test_client_disconnecting_mid_download_stops_the_producer() -> None:
    logger = FakeLogger()
    logger.add_session(session_lines(100 * CHUNK_LINES))
    conn = Connection(logger, chunk_lines=CHUNK_LINES)
    conn.send("DOWNLOAD 1", "PING")
    reactor_turn(conn.clock)
    reactor_turn(conn.clock)
    assert len(logger.reads) == 3
    conn.protocol.connectionLost(None)
    written = len(conn.transport.value())
    assert conn.clock.getDelayedCalls() == []
    pump(conn.clock)
    assert len(logger.reads) == 3 and len(conn.transport.value()) == written


def test_transport_stop_producing_also_stops_the_download() -> None:
    logger = FakeLogger()
    logger.add_session(session_lines(10 * CHUNK_LINES))
    conn = Connection(logger, chunk_lines=CHUNK_LINES)
    conn.send("DOWNLOAD 1")
    conn.transport.producer.stopProducing()
    pump(conn.clock)
    assert len(logger.reads) == 1


def test_several_downloads_at_once_share_the_reactor() -> None:
    clock = task.Clock()
    logger = FakeLogger()
    first = logger.add_session(session_lines(6 * CHUNK_LINES))
    second = logger.add_session(session_lines(3 * CHUNK_LINES))
    a = Connection(logger, clock=clock, chunk_lines=CHUNK_LINES)
    b = Connection(logger, clock=clock, chunk_lines=CHUNK_LINES)
    a.send(f"DOWNLOAD {first}")
    b.send(f"DOWNLOAD {second}")
    reactor_turn(clock)
    # one chunk each per turn, alternating
    assert [r[0] for r in logger.reads] == [first, second, first, second]
    pump(clock)
    assert a.output()[-1] == f"ACK {6 * CHUNK_LINES} {6 * CHUNK_LINES}"
    assert b.output()[-1] == f"ACK {3 * CHUNK_LINES} {3 * CHUNK_LINES}"


def test_storage_failure_mid_stream_ends_with_503() -> None:
    logger = FakeLogger()
    logger.add_session(session_lines(3 * CHUNK_LINES))
    conn = Connection(logger, chunk_lines=CHUNK_LINES)
    assert len(conn.send("DOWNLOAD 1")) == CHUNK_LINES
    logger.storage_down = True
    pump(conn.clock)
    assert conn.output() == ["ERROR 503 Redis is unavailable (connection refused)"]
    logger.storage_down = False
    assert conn.send("PING") == ["ACK PONG"]


def test_running_session_downloads_what_is_there() -> None:
    logger = FakeLogger()
    logger.add_session(session_lines(3), running=True)
    conn = Connection(logger, chunk_lines=CHUNK_LINES)
    assert conn.send("DOWNLOAD 1")[-1] == "ACK 3 3"
    logger.append(["08a00000000a0000000000000000"])
    assert conn.send("DOWNLOAD 1 3") == ["+08a00000000a0000000000000000", "ACK 1 4"]


def test_stray_line_breaks_inside_stored_lines_cannot_break_framing() -> None:
    assert data_block([b"ab\ncd", b"ef\r"]) == b"+ab cd\n+ef \n"


def test_stream_alone_fires_with_counts() -> None:
    logger = FakeLogger()
    logger.add_session(session_lines(7))
    out: list[bytes] = []
    clock = task.Clock()
    stream = DownloadStream(logger, 1, 2, out.append, clock, chunk_lines=3)
    done = stream.start()
    assert not done.called and stream.next_offset == 5
    assert pump(clock) == 1
    assert done.result == (5, 7) and b"".join(out).count(b"\n") == 5
