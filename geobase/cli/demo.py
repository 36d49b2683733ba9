"""``geobase demo``: build the Shantou demo workspace end to end."""

from __future__ import annotations

from pathlib import Path

import click

from geobase.cli.options import emit, info


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default="shantou")
def demo(directory: Path) -> None:
    """Build the Shantou demo workspace in DIRECTORY (default ./shantou); safe to rerun."""
    from geobase.cli.workspace import workspace_status
    from geobase.demo import build_demo
    from geobase.store import Workspace

    result = build_demo(directory, progress=lambda step: info(f"[demo] {step} ..."))
    for name, outcome in result.steps:
        info(f"[demo] {name}: {outcome}")
    with Workspace.open(result.workspace) as ws:
        status = workspace_status(ws)
    emit([{"table": k, "records": v} for k, v in status["records"].items()], "table")
    info(f"Demo workspace ready in {result.workspace}.")
    info(f"Next: cd {directory} && geobase status")
