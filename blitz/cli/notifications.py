"""`blitz errors`: the local notifications table, and optionally the logger's."""

from __future__ import annotations

import click

from blitz.cli.layout import format_time_ms, table
from blitz.cli.options import (
    ServerOptions,
    database_option,
    handle_errors,
    json_option,
    open_database,
    print_json,
    server_options,
)

SEVERITIES = {1: "info", 2: "warning", 3: "error"}


@click.command()
@click.option("--clear", is_flag=True, help="Remove every local notification after showing them.")
@click.option("--server", "from_server", is_flag=True, help="Also show the logger's recent notifications.")
@server_options
@database_option
@json_option
@handle_errors
def errors(clear: bool, from_server: bool, server: ServerOptions, db: str, as_json: bool) -> None:
    """Show the notifications recorded locally (skipped lines, unknown boards ...).

    \b
    Example:
      blitz errors
      blitz errors --server --json
      blitz errors --clear
    """
    from blitz.data.models import Notification

    with open_database(db) as database:
        local = sorted(database.all(Notification), key=lambda n: (n.time_logged, n.id))
        cleared = database.clear_errors() if clear else 0
    remote = []
    if from_server:
        with server.client() as client:
            remote = client.notifications()
    if as_json:
        data = {"local": [n.to_dict() for n in local], "cleared": cleared}
        if from_server:
            data["server"] = [{"time_ms": n.time_ms, "severity": n.severity, "text": n.text} for n in remote]
        print_json(data)
        return
    rows = [["local", format_time_ms(n.time_logged), SEVERITIES.get(n.severity, str(n.severity)), n.description]
            for n in local]
    rows += [["logger", format_time_ms(n.time_ms), SEVERITIES.get(n.severity, str(n.severity)), n.text]
             for n in remote]
    if rows:
        click.echo(table(["SOURCE", "TIME", "SEVERITY", "DESCRIPTION"], rows))
    else:
        click.echo("no notifications", err=True)
    if clear:
        click.echo(f"cleared {cleared} local notification(s)", err=True)
