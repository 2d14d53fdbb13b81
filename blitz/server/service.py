"""Wiring of `blitz server`: one MultiService holding every part of the logger.

`make_service(config, reactor, redis)` builds the Logger, the Redis writer,
one `LinkService` per serial port (added as ports are configured or found),
a `TimerService` for polling, one for port scans, and the control listener.
Stopping it ends a running session cleanly first (drain, STOP, record the
end), then closes the listener and the ports, then flushes the writer.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from redis import Redis
from twisted.application.internet import StreamServerEndpointService, TimerService
from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.protocol import Factory
from twisted.internet.threads import deferToThreadPool

from blitz.data.redis_buffer import DatabaseServer
from blitz.server.board_link import BoardLink, LinkSettings, PortOpener
from blitz.server.config import ServerConfig
from blitz.server.discovery import Comports, PortWatcher
from blitz.server.logger import BlitzLogger, LoggerOptions
from blitz.server.redis_writer import RedisWriter
from blitz.server.serial_transport import make_opener

log = logging.getLogger(__name__)


class LinkService(Service):
    """Opens one board link when started and closes it when stopped."""

    def __init__(self, link: BoardLink) -> None:
        self.link = link
        self.name = f"port {link.port}"

    def startService(self) -> None:
        super().startService()
        self.link.open()

    def stopService(self) -> Deferred[None]:
        super().stopService()
        return self.link.close()


class BlitzService(MultiService):
    """The whole server; stopping it ends the session before closing ports."""

    def __init__(self, logger: BlitzLogger, writer: RedisWriter, reactor: Any, flush_timeout_s: float = 10.0) -> None:
        super().__init__()
        self.logger = logger
        self.writer = writer
        self.reactor = reactor
        self.flush_timeout_s = flush_timeout_s
        self.watcher: PortWatcher | None = None
        self.listener: StreamServerEndpointService | None = None

    def startService(self) -> None:
        self.writer.start()
        self.logger.resume()
        super().startService()
        if self.watcher is not None:
            self.watcher.refresh()

    @inlineCallbacks
    def stopService(self) -> Any:
        try:
            yield self.logger.shutdown()
        except Exception:  # shutdown must go on whatever the session did
            log.exception("ending the session on shutdown failed")
        yield MultiService.stopService(self)
        pool = self.reactor.getThreadPool()
        flushed = yield deferToThreadPool(self.reactor, pool, self.writer.stop, self.flush_timeout_s)
        if not flushed:
            log.error("Redis writer stopped with %d lines unwritten", self.writer.buffered)


def _control_factory(logger: BlitzLogger, config: ServerConfig, reactor: Any) -> Factory:
    """The control protocol's factory (imported lazily: it is a separate part)."""
    from blitz.server.control_protocol import ControlFactory

    return ControlFactory(logger, config, clock=reactor)


def make_service(
    config: ServerConfig,
    reactor: Any,
    redis: Redis,
    *,
    opener: PortOpener | None = None,
    comports: Comports | None = None,
    factory: Callable[[BlitzLogger, ServerConfig, Any], Factory] | None = _control_factory,
    listen: bool = True,
) -> BlitzService:
    """Build the server's MultiService (not started) from its parts.

    `opener` and `comports` replace the real serial ports in tests; with
    `listen=False` there is no control listener (in-process tests drive the
    Logger directly).
    """
    store = DatabaseServer(redis=redis, prefix=config.redis_prefix)
    holder: list[BlitzLogger] = []
    writer = RedisWriter(
        store,
        reactor.callFromThread,
        notify=lambda severity, text: holder[0].notify(severity, text),
        max_buffered_lines=config.max_buffered_lines,
    )
    options = LoggerOptions(
        allow_delete=config.allow_delete,
        allow_reset=config.allow_reset,
        redis_url=_safe_url(redis),
    )
    logger = BlitzLogger(store, writer, reactor, options)
    holder.append(logger)
    service = BlitzService(logger, writer, reactor)
    settings = LinkSettings(
        reset_wait_s=config.reset_wait_s,
        reply_timeout_s=config.reply_timeout_s,
        silent_timeout_s=config.command_timeout_s,
        missed_polls_lost=config.missed_polls_lost,
        retry_max_s=config.retry_max_s,
    )
    port_opener = opener or make_opener(reactor, config.baudrate)

    def add_port(port: str) -> None:
        link = BoardLink(port, port_opener, reactor, logger, settings)
        logger.add_link(link)
        LinkService(link).setServiceParent(service)

    watcher_options: dict[str, Any] = {} if comports is None else {"comports": comports}
    service.watcher = PortWatcher(config.serial, add_port, scan=config.scan, **watcher_options)
    poller = TimerService(config.poll_interval_s, logger.poll)
    poller.clock = reactor
    poller.setServiceParent(service)
    if config.scan:
        scanner = TimerService(config.scan_interval_s, service.watcher.refresh)
        scanner.clock = reactor
        scanner.setServiceParent(service)
    if config.netscanner_host:
        _add_netscanner(service, logger, config, reactor)
    if listen and factory is not None:
        from blitz.server.tls import server_endpoint

        listener = StreamServerEndpointService(server_endpoint(reactor, config), factory(logger, config, reactor))
        listener._raiseSynchronously = True
        listener.setServiceParent(service)
        service.listener = listener
    return service


def parse_netscanner_hosts(value: str) -> list[tuple[int, str, int]]:
    """`host[:port][,host[:port]]` -> [(board id, host, port)]: 0x0A, then 0x0B."""
    from blitz.errors import ConfigError
    from blitz.server.netscanner_codec import NETSCANNER_PORT

    entries = [part.strip() for part in value.split(",") if part.strip()]
    if not 1 <= len(entries) <= 2:
        raise ConfigError(f"netscanner_host: expected one or two 'host[:port]' entries, got {value!r}")
    bridges = []
    for board_id, entry in zip((0x0A, 0x0B), entries):
        host, _, port_text = entry.partition(":")
        try:
            port = int(port_text) if port_text else NETSCANNER_PORT
        except ValueError:
            raise ConfigError(f"netscanner_host: expected a port number in {entry!r}") from None
        if not host or not 0 < port < 65536:
            raise ConfigError(f"netscanner_host: expected 'host[:port]', got {entry!r}")
        bridges.append((board_id, host, port))
    return bridges


def _add_netscanner(service: BlitzService, logger: BlitzLogger, config: ServerConfig, reactor: Any) -> None:
    """Bridge one or two NetScanner 9116s as boards 0x0A and 0x0B."""
    from blitz.server.netscanner import netscanner_service

    assert config.netscanner_host is not None
    for board_id, host, port in parse_netscanner_hosts(config.netscanner_host):
        bridge = netscanner_service(
            reactor, host, board_id, logger.external_line,
            lambda text, severity: logger.notify(severity, text), logger.session_ms, port=port,
        )
        bridge.setServiceParent(service)


def _safe_url(redis: Redis) -> str:
    """Where Redis is, for STATUS, without any password."""
    kwargs = redis.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix://{kwargs['path']}"
    return f"redis://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"
