"""``geobase ingest PATH...``: turn deliveries into catalogue records.

Thin shell over :func:`geobase.ingest.ingest`; library errors become one-line messages
with exit code 2 for bad input (see :mod:`geobase.cli`).
"""

from __future__ import annotations

from pathlib import Path

import click

from geobase.classification import CLASSIFICATIONS
from geobase.cli.options import (
    emit,
    format_option,
    info,
    open_workspace,
    progress_bar,
    workspace_option,
)


@click.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--product", "-p", default=None, help="Product code (default: detected).")
@click.option(
    "--acquired",
    default=None,
    metavar="DATE[/DATE]",
    help="Acquisition date or window, YYYY-MM-DD[/YYYY-MM-DD] (default: from the data).",
)
@click.option(
    "--allow-future",
    is_flag=True,
    help="Accept an --acquired date after today (refused by default as a likely typo).",
)
@click.option("--crs", default=None, help="CRS of data that state none (EPSG:4548, gk3:39, WKT).")
@click.option(
    "--classification",
    type=click.Choice(CLASSIFICATIONS),
    default="internal",
    show_default=True,
    help="Release classification (分类分级).",
)
@click.option("--owner", default=None, help="Responsible organisation (谁提供、谁负责).")
@click.option("--dataset-id", default=None, help="Dataset id (default: from the file name).")
@click.option(
    "--cog/--no-cog",
    default=True,
    show_default=True,
    help="Derive a web-optimised COG beside each image and DEM (lossless unless the "
    "delivery is lossy); the delivery is archived byte for byte either way.",
)
@click.option(
    "--dem",
    "dem_resolution",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="METRES",
    help="Also derive a DEM at this resolution from each point cloud's ground points.",
)
@click.option(
    "--qc",
    "run_qc",
    is_flag=True,
    help="Run the acceptance checks first (as 'geobase qc'); blocking defects refuse the "
    "delivery (exit 3, nothing recorded) and the results are recorded with the datasets.",
)
@click.option(
    "--accept-defects",
    default=None,
    metavar="REASON",
    help="With --qc: ingest despite blocking defects, recording this reason.",
)
@format_option()
@workspace_option
@click.pass_context
def ingest(
    ctx,
    paths,
    product,
    acquired,
    allow_future,
    crs,
    classification,
    owner,
    dataset_id,
    cog,
    dem_resolution,
    run_qc,
    accept_defects,
    fmt,
    workspace_dir,
):
    """Ingest imagery, DEMs, point clouds, vector maps and 3D models into the catalogue.

    All or nothing: if one delivery fails, nothing is recorded or stored. Every
    delivery is kept as delivered; 'geobase catalog show ID' lists it with the files
    derived from it.
    """
    if accept_defects is not None and not run_qc:
        raise click.UsageError("--accept-defects goes with --qc")
    if accept_defects is not None and not accept_defects.strip():
        raise click.BadParameter("give the reason for accepting", param_hint="--accept-defects")
    if run_qc and product is None:
        raise click.UsageError("--qc needs --product: the checks are the product's")
    from geobase.ingest import ingest as run

    with open_workspace(workspace_dir) as ws:
        gate = _qc_gate(ctx, ws, paths, product, acquired, accept_defects) if run_qc else None
        with progress_bar("ingest", len(paths)) as progress:
            results = run(
                ws,
                list(paths),
                product=product,
                acquired=acquired,
                allow_future=allow_future,
                crs=crs,
                classification=classification,
                owner=owner,
                dataset_id=dataset_id,
                cog=cog,
                dem_resolution=dem_resolution,
                progress=progress,
                on_record=gate,
            )
    for r in results:
        info(f"{r.status}: {r.dataset_id} v{r.version} ({r.product}) <- {r.source}")
        if r.record.get("acquired_end") is None:
            info(f"  acquisition date unknown: re-ingest with --acquired to date {r.dataset_id}")
    emit([r.as_dict() for r in results], fmt)


def _qc_gate(ctx, ws, paths, product, acquired, accept_defects):
    """Check the delivery against the workspace's CRS and ``[qc.<product>]``; refuse it
    (exit 3, nothing recorded) with blocking defects unless accepted with a reason.
    Returns the recorder of the results, run in the ingest's transaction."""
    from geobase.qc import check_delivery
    from geobase.qc.records import recorder

    report = check_delivery(list(paths), product, workspace=ws, acquired=acquired)
    for d in report.defects:
        info(f"{d.severity}: {d.file}: {d.check}: {d.message}")
    if report.blocking and accept_defects is None:
        click.echo(
            f"Error: delivery refused: {len(report.blocking)} blocking defect(s) "
            "(see above; 'geobase qc ... -o report.html' maps them); nothing was recorded. "
            "Fix the delivery, or accept it with --accept-defects REASON",
            err=True,
        )
        ctx.exit(3)
    if report.blocking:
        info(f"accepted with {len(report.blocking)} blocking defect(s): {accept_defects}")
    return recorder(report, accept_defects)
