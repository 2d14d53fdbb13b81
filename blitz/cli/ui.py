"""`blitz ui`: serve the web console (Twisted Web) next to a connection to the logger.

Options come from flags, then BLITZ_* environment variables, then the `[ui]`
table of the TOML config file (`--config` or BLITZ_CONFIG), then defaults.
BLITZ_HOST / BLITZ_PORT / BLITZ_TOKEN name the logger, as for every other
command; the console's own address is BLITZ_UI_HOST / BLITZ_UI_PORT.
"""

from __future__ import annotations

import sys
from typing import Any, Optional

import click

from blitz.cli.options import boards_option, database_option, handle_errors, load_board_map, open_database
from blitz.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["console_url", "ui"]

CONFIG_KEYS = {"host", "port", "db", "logger_host", "logger_port", "token", "ui_token", "boards", "no_logger"}


def _read_config(ctx: click.Context, _param: click.Parameter, path: Optional[str]) -> None:
    """Load the `[ui]` table of the config file as the command's defaults (flags and env still win)."""
    if not path:
        return
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}") from None
    table = document.get("ui", {})
    if not isinstance(table, dict):
        raise click.BadParameter(f"{path}: expected [ui] to be a table, got {type(table).__name__}")
    unknown = sorted(set(table) - CONFIG_KEYS)
    if unknown:
        raise click.BadParameter(
            f"{path}: unknown key {unknown[0]!r} in [ui]; expected some of {', '.join(sorted(CONFIG_KEYS))}"
        )
    ctx.default_map = {**(ctx.default_map or {}), **table}


def console_url(host: str, port: int) -> str:
    """The URL to open for a console bound to `host:port` (the wildcard address opens via loopback)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


@click.command()
@click.option("--config", type=click.Path(exists=True, dir_okay=False), envvar="BLITZ_CONFIG", is_eager=True,
              expose_value=False, callback=_read_config, help="TOML file whose [ui] table sets defaults. Env: BLITZ_CONFIG.")
@click.option("--host", envvar="BLITZ_UI_HOST", default="127.0.0.1", show_default=True,
              help="Address the console listens on; anything but loopback needs --ui-token. Env: BLITZ_UI_HOST.")
@click.option("--port", envvar="BLITZ_UI_PORT", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Console port; 0 picks a free one. Env: BLITZ_UI_PORT.")
@database_option
@boards_option
@click.option("--logger-host", envvar="BLITZ_HOST", default="127.0.0.1", show_default=True,
              help="Logger (blitz server) host. Env: BLITZ_HOST.")
@click.option("--logger-port", envvar="BLITZ_PORT", type=click.IntRange(1, 65535), default=8999, show_default=True,
              help="Logger control port. Env: BLITZ_PORT.")
@click.option("--token", envvar="BLITZ_TOKEN", default=None, help="The logger's token. Env: BLITZ_TOKEN.")
@click.option("--ui-token", envvar="BLITZ_UI_TOKEN", default=None,
              help="Token the browser must give once (required off loopback). Env: BLITZ_UI_TOKEN.")
@click.option("--no-logger", is_flag=True, help="Browse the local database only; do not contact a logger.")
@click.option("--no-browser", is_flag=True, help="Do not open a browser window.")
@handle_errors
def ui(host: str, port: int, db: str, boards: tuple[str, ...], logger_host: str, logger_port: int,
       token: Optional[str], ui_token: Optional[str], no_logger: bool, no_browser: bool) -> None:
    """Serve the web console: dashboard, sessions, charts, compare and export.

    It keeps working when the logger is unreachable (the pages say so) and
    browses the local database. Stop it with Ctrl-C.

    \b
    Example:
      blitz ui                                  # http://127.0.0.1:8080/ opens
      blitz ui --logger-host pi.local --db lab.db --no-browser
      BLITZ_UI_TOKEN=s3cret blitz ui --host 0.0.0.0 --port 8080
    """
    from blitz.web.app import LoggerAddress
    from blitz.web.security import AccessPolicy

    policy = AccessPolicy(host, ui_token or None)
    if db.strip() == ":memory:":
        raise ConfigError("--db: the console needs a database file or URL, not ':memory:'")
    database = open_database(db)
    try:
        board_map = load_board_map(boards)
        logger = None if no_logger else LoggerAddress(logger_host, logger_port, token)
        _serve(database, board_map, policy, logger, host, port, open_browser=not no_browser)
    finally:
        database.close()


def _serve(database: Any, boards: Any, policy: Any, logger: Any, host: str, port: int, open_browser: bool) -> None:
    """Run the console on the global reactor until SIGINT/SIGTERM."""
    import webbrowser

    from twisted.internet import reactor as global_reactor
    from twisted.internet.error import CannotListenError
    from twisted.logger import FilteringLogObserver, LogLevel, LogLevelFilterPredicate, globalLogBeginner
    from twisted.logger import textFileLogObserver

    from blitz.web.app import Console

    reactor: Any = global_reactor
    predicate: Any = LogLevelFilterPredicate(defaultLogLevel=LogLevel.warn)
    file_observer: Any = textFileLogObserver(sys.stderr)
    observer: Any = FilteringLogObserver(file_observer, [predicate])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
    console = Console(reactor, database, boards, policy, logger)
    try:
        listening: Any = console.listen(port, host)
    except CannotListenError as exc:
        console.stop()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.socketError}") from None
    address: Any = listening.getHost()
    url = console_url(host, address.port)
    where = f"logger {logger.host}:{logger.port}" if logger is not None else "no logger"
    safe_db = database.engine.url.render_as_string(hide_password=True)
    click.echo(f"Blitz web console on {url} ({where}; database {safe_db})", err=True)
    if policy.token_required:
        click.echo("The browser will ask for the --ui-token once.", err=True)
    if open_browser:
        reactor.callInThread(webbrowser.open, url)
    reactor.addSystemEventTrigger("before", "shutdown", console.stop)
    reactor.run()
