"""`blitz server`: run the logging server until SIGINT/SIGTERM.

Builds the configuration (flags > BLITZ_* environment > config file), starts
an embedded append-only redis-server in the data directory unless
`--redis-url` is given, and runs `blitz.server.service.make_service` on the
reactor.  A signal ends a running session cleanly (boards drained and
stopped, end recorded), closes the ports and stops the embedded Redis.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click

from blitz.errors import BlitzError

log = logging.getLogger("blitz.server")


def _flags(options: dict[str, Any]) -> dict[str, Any]:
    """Click options to ServerConfig field names (None = not given)."""
    flags = {
        "host": options["host"],
        "port": options["port"],
        "serial": tuple(options["serial"]) or None,
        "scan": False if options["no_scan"] else None,
        "poll_interval_s": options["poll_interval"],
        "redis_url": options["redis_url"],
        "data_dir": options["data_dir"],
        "appendfsync": options["appendfsync"],
        "token": options["token"],
        "tls_cert": options["tls_cert"],
        "tls_key": options["tls_key"],
        "allow_delete": False if options["no_delete"] else None,
        "allow_reset": False if options["no_reset"] else None,
        "reset_wait_s": options["reset_wait"],
        "baudrate": options["baudrate"],
        "log_level": options["log_level"],
        "netscanner_host": options["netscanner"],
    }
    return flags


@click.command("server")
@click.option("--host", help="Address to listen on [127.0.0.1]; others need --token.")
@click.option("--port", type=int, help="Control port [8999]; 0 picks a free one.")
@click.option("--serial", multiple=True, metavar="PORT", help="Serial port or pyserial URL; repeatable.")
@click.option("--no-scan", is_flag=True, help="Use only --serial ports, do not scan for USB boards.")
@click.option("--poll-interval", type=float, metavar="SECONDS", help="TRANSMIT period [0.1].")
@click.option("--redis-url", metavar="URL", help="Use this Redis instead of an embedded one.")
@click.option("--data-dir", metavar="DIR", help="Embedded Redis's directory [./blitz-data].")
@click.option("--appendfsync", type=click.Choice(["always", "everysec", "no"]),
              help="Embedded Redis's fsync policy [everysec]; always: no acknowledged line lost to a power cut.")
@click.option("--token", help="Clients must AUTH with it (or set BLITZ_TOKEN).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML config file.")
@click.option("--tls-cert", type=click.Path(dir_okay=False), help="PEM certificate: serve TLS.")
@click.option("--tls-key", type=click.Path(dir_okay=False), help="PEM private key for --tls-cert.")
@click.option("--no-delete", is_flag=True, help="Refuse the DELETE command.")
@click.option("--no-reset", is_flag=True, help="Refuse the RESET command.")
@click.option("--reset-wait", type=float, metavar="SECONDS", help="Wait after opening a port [2].")
@click.option("--baudrate", type=int, help="Serial speed [57600].")
@click.option("--netscanner", metavar="HOST[:PORT][,HOST[:PORT]]",
              help="Bridge NetScanner 9116 scanners as boards 0x0A (and 0x0B).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), help="[info]")
def server(config_file: str | None, **options: Any) -> None:
    """Log every expansion board to Redis and serve the control protocol.

    Runs until SIGINT or SIGTERM, which end a running session cleanly.
    Options also come from BLITZ_<NAME> variables and a TOML --config file
    (see docs/server.md).

    \b
    Example:
      blitz server --serial /dev/ttyACM0 --serial /dev/ttyACM1
      blitz server --no-scan --serial socket://192.168.1.20:7000 --poll-interval 0.05
    """
    from blitz.server.config import load_config

    try:
        config = load_config(_flags(options), os.environ, config_file)
    except BlitzError as exc:
        raise click.ClickException(str(exc)) from None
    code = run_server(config)
    if code:
        sys.exit(code)


def _setup_logging(level: str) -> None:
    """Log lines on stderr, Twisted's included."""
    from twisted.logger import STDLibLogObserver, globalLogBeginner

    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    globalLogBeginner.beginLoggingTo([STDLibLogObserver()], redirectStandardIO=False)


def run_server(config: Any) -> int:
    """Run the server on the global reactor until it stops; returns an exit code."""
    from redis import Redis
    from twisted.internet import reactor

    from blitz.data.redis_process import EmbeddedRedis
    from blitz.server.service import make_service

    _setup_logging(config.log_level)
    embedded = None
    outcome = {"code": 0}
    try:
        url = config.redis_url
        if url is None:
            os.makedirs(config.data_dir, exist_ok=True)
            # A SIGKILLed server's redis-server dies with it (Linux) or is stopped here.
            embedded = EmbeddedRedis(config.data_dir, appendonly=True, appendfsync=config.appendfsync,
                                     die_with_parent=True, lock_data_dir=True)
            url = embedded.start()
            if embedded.stopped_orphan is not None:
                log.warning("stopped redis-server %d, left running in %s by a server that crashed",
                            embedded.stopped_orphan, config.data_dir)
            log.info("embedded redis-server started: %s (append-only, fsync %s)", url, config.appendfsync)
        client = Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=2.0)
        service = make_service(config, reactor, client)
    except BlitzError as exc:
        log.error("cannot start: %s", exc)
        if embedded is not None:
            embedded.stop()
        return 1

    def start() -> None:
        try:
            service.startService()
        except Exception as exc:  # cannot listen, bad certificate, ...
            log.error("cannot start: %s", exc)
            outcome["code"] = 1
            reactor.stop()  # type: ignore[attr-defined]
            return
        reactor.addSystemEventTrigger("before", "shutdown", service.stopService)  # type: ignore[attr-defined]
        waiting = getattr(service.listener, "_waitingForPort", None)
        if waiting is not None:
            waiting.addCallbacks(_listening, lambda f: _cannot_listen(f, outcome, reactor))
        log.info("serial ports: %s; polling every %g s", ", ".join(config.serial) or "scan only",
                 config.poll_interval_s)

    reactor.callWhenRunning(start)  # type: ignore[attr-defined]
    try:
        reactor.run()  # type: ignore[attr-defined]
    finally:
        client.close()
        if embedded is not None:
            embedded.stop()
            log.info("embedded redis-server stopped")
    log.info("blitz server stopped")
    return outcome["code"]


def _listening(port: Any) -> Any:
    address = port.getHost()
    log.info("blitz server listening on %s:%s", address.host, address.port)
    return port


def _cannot_listen(failure: Any, outcome: dict[str, int], reactor: Any) -> None:
    log.error("cannot listen: %s", failure.getErrorMessage())
    outcome["code"] = 1
    reactor.stop()
