"""``geobase demo``: build the Shantou demo workspace end to end."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from geobase.cli.options import emit, info


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default="shantou")
def demo(directory: Path) -> None:
    """Build the Shantou demo workspace in DIRECTORY (default ./shantou); safe to rerun.

    Districts, the control registry with its inspections, sample deliveries (synthetic
    Shantou imagery, DEMs, lidar and 1:500/1:1000 maps, plus real sample files) ingested
    into the catalogue, tile pyramids in Web Mercator and in the CGCS2000 grid, and the
    coverage report against the 2021-2025 plan.
    """
    from geobase.cli.workspace import workspace_status
    from geobase.demo import build_demo
    from geobase.store import Workspace

    result = build_demo(directory, progress=lambda step: info(f"[demo] {step} ..."))
    for name, outcome in result.steps:
        info(f"[demo] {name} ({result.seconds.get(name, 0):.0f} s): {outcome}")
    with Workspace.open(result.workspace) as ws:
        status = workspace_status(ws)
    emit([{"table": k, "records": v} for k, v in status["records"].items()], "table")
    total = sum(result.seconds.values())
    where = shlex.quote(str(directory))
    info(f"Demo workspace ready in {result.workspace} ({total:.0f} s).")
    info("Next:")
    if result.report is not None:
        info(f"  open the coverage report:  {result.report.as_uri()}")
    info(
        f"  start the map service:     cd {where} && geobase serve   (then http://127.0.0.1:8000/)"
    )
    info(f"  look around:               cd {where} && geobase status; geobase catalog list")
    info("  analyst notebooks:         notebooks/ (they open this workspace)")
