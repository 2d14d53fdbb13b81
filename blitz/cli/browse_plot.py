"""The `blitz plot` command: a downloaded session as a PNG, one panel per variable."""

from __future__ import annotations

from typing import Optional

import click

from blitz.cli.browse_common import offline_errors, open_store, session_id_argument, warn_if_partial
from blitz.cli.options import database_option


@click.command()
@session_id_argument()
@click.option("--variable", "variables", multiple=True, metavar="NAME", help="Only this variable (repeatable).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, metavar="FILE.png",
              help="Image to write  [default: session-<ID>.png]")
@click.option("--scale", type=float, default=1.0, show_default=True, metavar="K", help="Multiply values by K first.")
@click.option("--offset", type=float, default=0.0, show_default=True, metavar="C", help="Then add C.")
@click.option("--moving-average", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Then average each N consecutive readings.")
@click.option("--width", type=click.IntRange(min=200, max=20_000), default=1200, show_default=True, metavar="PX",
              help="Image width; large sessions draw one min/max bucket per pixel.")
@database_option
@offline_errors
def plot(
    session_id: int,
    variables: tuple[str, ...],
    output: Optional[str],
    scale: float,
    offset: float,
    moving_average: int,
    width: int,
    db: str,
) -> None:
    """Plot a downloaded session to a PNG: one panel per variable, time in seconds.

    Transforms apply in this order: --scale, --offset, --moving-average.
    A variable with more readings than the image has pixels is drawn as its
    min/max envelope per pixel column, so any session size plots quickly.

    \b
    Example:
      blitz plot 3
      blitz plot 3 --variable adc_channel_one --scale 0.001 --moving-average 50 -o adc.png
    """
    from blitz.client.plot import build_panels, render, save_png
    from blitz.client.transforms import TransformSpec
    from blitz.data.browse import iso_utc, load_session
    from blitz.data.export import snapshot

    spec = TransformSpec(scale=scale, offset=offset, moving_average=moving_average)
    path = output or f"session-{session_id}.png"
    with open_store(db) as store, snapshot(store.engine) as conn:
        overview = load_session(conn, session_id)
        warn_if_partial(overview)
        panels = build_panels(conn, overview, list(variables), spec, buckets=width)
    title = f"session {session_id}"
    if overview.time_started is not None:
        title += f", started {iso_utc(overview.time_started)}"
    if not spec.identity:
        title += f" ({spec.describe()})"
    save_png(render(panels, title, width_px=width), path)
    for panel in panels:
        shown = f"min/max of {len(panel.times_s)} buckets" if panel.is_envelope else f"{len(panel.times_s)} points"
        click.echo(f"{panel.name}: {panel.readings} readings, {shown}", err=True)
    click.echo(path)


__all__ = ["plot"]
