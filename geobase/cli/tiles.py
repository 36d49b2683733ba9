"""``geobase tiles``: build, update, list and inspect tile pyramids."""

from __future__ import annotations

import re
from pathlib import Path

import click

from geobase.cli.options import (
    emit,
    format_option,
    info,
    name_callback,
    open_workspace,
    overwrite_option,
    progress_bar,
    workspace_option,
)

_ZOOM = re.compile(r"^\s*(\d{1,2})\s*(?:-\s*(\d{1,2}))?\s*$")


def _zoom(ctx, param, value):
    if value is None:
        return None
    match = _ZOOM.match(value)
    if not match:
        raise click.BadParameter(f"{value!r}: expected A-B (e.g. 12-19) or one zoom")
    lo = int(match.group(1))
    hi = int(match.group(2)) if match.group(2) is not None else lo
    if lo > hi:
        raise click.BadParameter(f"{value!r}: the first zoom is above the second")
    return lo, hi


@click.group()
def tiles() -> None:
    """Tile pyramids (WebMercatorQuad, CGCS2000Quad) in directories, MBTiles and PMTiles."""


@tiles.command()
@click.argument("source")
@click.option(
    "--tms",
    type=click.Choice(["WebMercatorQuad", "CGCS2000Quad"]),
    default=None,
    help="Tile matrix set (default WebMercatorQuad; on --update: the pyramid's).",
)
@click.option(
    "--zoom", callback=_zoom, default=None, help="Zoom range A-B (default: from the data)."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jpeg", "png", "webp"]),
    default=None,
    help="Tile format (default png).",
)
@click.option(
    "--render",
    "mode",
    type=click.Choice(["rgb", "terrain-rgb", "hillshade"]),
    default=None,
    help="rgb for imagery; terrain-rgb (default for DEMs) or hillshade for DEMs.",
)
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="Directory, .mbtiles, .pmtiles or .gpkg.",
)
@click.option("--update", is_flag=True, help="Re-render only what changed since the last build.")
@click.option(
    "--workers", type=click.IntRange(min=1), default=None, help="Processes (default: CPUs)."
)
@click.option("--dask", "dask_addr", default=None, help="Dask scheduler address tcp://HOST:PORT.")
@click.option("--block", type=click.IntRange(min=1), default=None, help="Window size in tiles.")
@click.option(
    "--max-memory",
    "max_memory",
    type=click.IntRange(min=256),
    default=None,
    metavar="MIB",
    help="Peak memory of the build, all processes (default: [tiles] max_memory_mb, none).",
)
@click.option(
    "--name",
    default=None,
    callback=name_callback("pyramid name"),
    help="Pyramid name (default: the output's stem): letters, digits, _ . -",
)
@overwrite_option
@workspace_option
def build(source, tms, zoom, fmt, mode, out, update, workers, dask_addr, block, max_memory, name,
          overwrite, workspace_dir) -> None:  # fmt: skip
    """Build the pyramid of SOURCE: a raster file, a product code or a dataset id.

    In a workspace the build is recorded (and served by `geobase serve`). Outside one,
    SOURCE must be a raster file: the pyramid is written like gdal2tiles does and nothing
    is recorded; so too for an output outside the workspace and its data root (a product
    code or dataset id, or --update, is refused there: the server would not serve it).
    The output's folder is created if missing.
    """
    from geobase.errors import WorkspaceNotFound

    if update and overwrite:
        raise click.UsageError("--update and --overwrite exclude each other")
    try:
        ws = open_workspace(workspace_dir)
    except WorkspaceNotFound:
        if workspace_dir is not None or not Path(source).is_file():
            raise
        if update:
            raise click.UsageError(
                "--update needs a workspace (the pyramid's record); there is none here"
            ) from None
        ws = None
        info(f"no workspace: writing {out} only, nothing recorded")
    options = dict(tms=tms, zoom=zoom, fmt=fmt, mode=mode, overwrite=overwrite, workers=workers,
                   dask=dask_addr, block=block, max_memory_mb=max_memory, name=name)  # fmt: skip
    if ws is not None:
        from geobase.tiles.build import check_recordable, recordable

        if not recordable(ws, out):
            try:
                if update or not Path(source).is_file():
                    check_recordable(ws, out)  # refused: one line naming both places
            finally:
                ws.close()
            ws = None
            info(f"{out} lies outside the workspace: writing it only, nothing recorded")
    if ws is None:
        from geobase.tiles.build import build_file

        with progress_bar("tiles") as bar:
            record = build_file(source, out, progress=bar, **options)
    else:
        from geobase.tiles.build import build_tiles

        try:
            with progress_bar("tiles") as bar:
                record = build_tiles(ws, source, out, update=update, progress=bar, **options)
        finally:
            ws.close()
    if record.get("up_to_date"):
        info(f"{out}: up to date")
        return
    if not update:
        if zoom is None:
            info(f"zoom {record['minzoom']}-{record['maxzoom']} derived from the data: "
                 f"{record['maxzoom']} the zoom closest to its pixel size, {record['minzoom']} "
                 "the first to hold it in one tile; --zoom A-B to choose")  # fmt: skip
        if tms is None:
            info("tile matrix set WebMercatorQuad (the default); --tms to choose")
    info(
        f"{out}: {record['tile_count']} tiles, {record['bytes']} bytes "
        f"(z{record['minzoom']}-{record['maxzoom']} {record['tms']} {record['format']}, "
        f"{record['written_tiles']} written in {record['seconds']:.1f} s)"
    )


@tiles.command("list")
@format_option()
@workspace_option
def list_(fmt, workspace_dir) -> None:
    """The workspace's pyramids (newest build of each)."""
    from geobase.tiles.build import list_pyramids

    ws = open_workspace(workspace_dir)
    try:
        emit(list_pyramids(ws), fmt)
    finally:
        ws.close()


@tiles.command("info")
@click.argument("path", type=click.Path(path_type=Path))
def info_(path) -> None:
    """The TileJSON document of a pyramid (directory, .mbtiles, .pmtiles or .gpkg)."""
    from geobase.tiles.stores import open_pyramid

    with open_pyramid(path) as reader:
        emit(reader.tilejson, "json")
