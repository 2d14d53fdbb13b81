"""Commands that steer the logger: status, start, stop, reset, boards, command."""

from __future__ import annotations

from typing import Any

import click

from blitz.cli.layout import format_duration, table
from blitz.cli.options import (
    ServerOptions,
    handle_errors,
    json_option,
    print_json,
    quiet_option,
    server_options,
)


@click.command()
@server_options
@json_option
@handle_errors
def status(server: ServerOptions, as_json: bool) -> None:
    """Show whether the logger is logging, its boards, Redis and notifications.

    \b
    Example:
      blitz status
      blitz status --json | jq .boards
    """
    with server.client() as client:
        report = client.status()
    if as_json:
        print_json(report)
        return
    click.echo(_status_text(report))


def _status_text(report: dict[str, Any]) -> str:
    session = report.get("session", -1)
    lines = []
    if report.get("logging"):
        lines.append(f"logging:        yes, session {session} ({report.get('session_messages', 0)} messages)")
    else:
        lines.append("logging:        no")
    lines.append(f"uptime:         {format_duration(report.get('uptime_s'))}")
    redis = report.get("redis") or {}
    state = "ok" if redis.get("ok") else "UNAVAILABLE"
    lines.append(f"redis:          {state} {redis.get('url', '')} "
                 f"(buffered {redis.get('buffered', 0)}, dropped {redis.get('dropped', 0)})")
    lines.append(f"notifications:  {report.get('notifications', 0)} (see 'blitz errors --server')")
    boards = report.get("boards") or []
    if boards:
        rows = [[f"{int(b.get('id', 0)):02x}", b.get("state", ""), b.get("port", ""), b.get("messages", 0),
                 b.get("errors", 0), b.get("overwritten", 0), b.get("description", "")] for b in boards]
        lines.append("")
        lines.append(table(["BOARD", "STATE", "PORT", "MESSAGES", "ERRORS", "LOST", "DESCRIPTION"], rows,
                           right=(3, 4, 5)))
    else:
        lines.append("boards:         none connected")
    return "\n".join(lines)


@click.command()
@server_options
@json_option
@quiet_option
@handle_errors
def start(server: ServerOptions, as_json: bool, quiet: bool) -> None:
    """Start a logging session on every connected board.

    If a session is already running, says so and leaves it running.

    \b
    Example:
      blitz start
      SESSION=$(blitz start --quiet)
    """
    with server.client() as client:
        result = client.start()
    if as_json:
        print_json({"session": result.session_id, "new": result.new})
    elif quiet:
        click.echo(result.session_id)
    elif result.new:
        click.echo(f"started session {result.session_id}")
    else:
        click.echo(f"already logging: session {result.session_id}")


@click.command()
@server_options
@json_option
@quiet_option
@handle_errors
def stop(server: ServerOptions, as_json: bool, quiet: bool) -> None:
    """Stop the running session (the boards are drained first).

    Fails with exit code 1 when no session is running.

    \b
    Example:
      blitz stop && blitz download --all
    """
    with server.client() as client:
        session_id = client.stop()
    if as_json:
        print_json({"session": session_id})
    elif quiet:
        click.echo(session_id)
    else:
        click.echo(f"stopped session {session_id}")


@click.command()
@server_options
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@handle_errors
def reset(server: ServerOptions, yes: bool) -> None:
    """Stop logging and delete EVERY session stored on the logger.

    Sessions already downloaded stay in the local store.

    \b
    Example:
      blitz reset --yes
    """
    if not yes:
        click.confirm(f"Delete every session stored on the logger at {server.host}:{server.port}?", abort=True,
                      err=True)
    with server.client() as client:
        client.reset()
    click.echo("logger reset: every session deleted")


@click.command()
@server_options
@json_option
@handle_errors
def boards(server: ServerOptions, as_json: bool) -> None:
    """List the boards the logger has seen, with their state and port.

    \b
    Example:
      blitz boards
      blitz boards --json
    """
    with server.client() as client:
        found = client.boards()
    if as_json:
        print_json([{"id": b.id, "state": b.state, "port": b.port, "description": b.description} for b in found])
        return
    if not found:
        click.echo("no boards connected", err=True)
        return
    click.echo(table(["BOARD", "STATE", "PORT", "DESCRIPTION"],
                     [[f"{b.id:02x}", b.state, b.port, b.description] for b in found]))


@click.command("command")
@click.argument("board")
@click.argument("hex_command", metavar="HEX")
@server_options
@json_option
@handle_errors
def command(board: str, hex_command: str, server: ServerOptions, as_json: bool) -> None:
    """Send a raw hex command line to one board and print its answer lines.

    BOARD is the board id in hex (08, 0x08); HEX is the whole command line
    for the board, such as 0881 (ID) or 0885 followed by the arguments.

    \b
    Example:
      blitz command 08 0881
      blitz command 09 0885000000640000000000000000
    """
    from blitz.boards.manager import parse_board_id

    try:
        board_id = parse_board_id(board)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="BOARD") from None
    hex_command = hex_command.strip()
    if not hex_command or any(c not in "0123456789abcdefABCDEF" for c in hex_command):
        raise click.BadParameter(f"expected hex digits, got {hex_command!r}", param_hint="HEX")
    with server.client() as client:
        lines = client.board(board_id, hex_command)
    if as_json:
        print_json({"board": board_id, "lines": lines})
        return
    for line in lines:
        click.echo(line)
    if not lines:
        click.echo(f"board {board_id:02x} acknowledged", err=True)

