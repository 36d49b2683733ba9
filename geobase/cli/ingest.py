"""``geobase ingest PATH...``: turn deliveries into catalogue records.

Thin shell over :func:`geobase.ingest.ingest`; library errors become one-line messages
with exit code 2 for bad input (see :mod:`geobase.cli`).
"""

from __future__ import annotations

from pathlib import Path

import click

from geobase.cli.options import (
    emit,
    format_option,
    info,
    open_workspace,
    progress_bar,
    workspace_option,
)

CLASSIFICATION_CHOICES = ("public", "internal", "restricted")


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
    type=click.Choice(CLASSIFICATION_CHOICES),
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
@format_option()
@workspace_option
def ingest(
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
    fmt,
    workspace_dir,
):
    """Ingest imagery, DEMs, point clouds, vector maps and 3D models into the catalogue.

    All or nothing: if one delivery fails, nothing is recorded or stored. Every
    delivery is kept as delivered; 'geobase catalog show ID' lists it with the files
    derived from it.
    """
    from geobase.ingest import ingest as run

    with open_workspace(workspace_dir) as ws, progress_bar("ingest", len(paths)) as progress:
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
        )
    for r in results:
        info(f"{r.status}: {r.dataset_id} v{r.version} ({r.product}) <- {r.source}")
        if r.record.get("acquired_end") is None:
            info(f"  acquisition date unknown: re-ingest with --acquired to date {r.dataset_id}")
    emit([r.as_dict() for r in results], fmt)
