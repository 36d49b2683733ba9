"""``geobase emergency``: the best data for an area, packed for offline use."""

from __future__ import annotations

from pathlib import Path

import click

from geobase.cli.options import (
    encoding_option,
    info,
    open_workspace,
    overwrite_option,
    workspace_option,
)


@click.command()
@click.argument("aoi")
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(path_type=Path),
    help="Package folder to create (a .zip of it is written beside it).",
)
@click.option("--radius", type=float, default=None, help="Metres around a point AOI.")
@click.option(
    "--control-distance",
    type=float,
    default=3000.0,
    show_default=True,
    help="Usable control points up to this far (m) from the area.",
)
@click.option("--cors", "cors_count", type=int, default=3, show_default=True,
              help="Number of nearest CORS stations.")  # fmt: skip
@click.option("--max-zoom", type=int, default=17, show_default=True,
              help="Finest zoom of the offline tile pyramid.")  # fmt: skip
@click.option("--include-restricted", is_flag=True,
              help="Also pack restricted (涉密) data; needs --token.")  # fmt: skip
@click.option("--token", envvar="GEOBASE_TOKEN", default=None,
              help="Bearer token with restricted clearance (or GEOBASE_TOKEN).")  # fmt: skip
@encoding_option()
@overwrite_option
@workspace_option
def emergency(
    aoi: str,
    output: Path,
    radius: float | None,
    control_distance: float,
    cors_count: int,
    max_zoom: int,
    include_restricted: bool,
    token: str | None,
    encoding: str | None,
    overwrite: bool,
    workspace_dir: Path | None,
) -> None:
    """Write an emergency package for AOI: a polygon file, W,S,E,N, or LON,LAT with --radius.

    The package holds the newest and finest imagery and the DEM clipped as COGs, the
    topographic sheets over the area, usable control points nearby and the nearest CORS
    stations, an offline tile pyramid (PMTiles), manifest.json and index.html (an offline
    viewer). Restricted data go in only with --include-restricted and a cleared token.
    """
    from geobase.emergency import build_package, parse_aoi

    area = parse_aoi(aoi, radius=radius)
    with open_workspace(workspace_dir) as ws:
        result = build_package(
            ws,
            area,
            output,
            include_restricted=include_restricted,
            token=token,
            control_distance=control_distance,
            cors_count=cors_count,
            max_zoom=max_zoom,
            overwrite=overwrite,
            encoding=encoding,
            progress=lambda message: info(f"[emergency] {message} ..."),
        )
    m = result.manifest
    info(
        f"Package {result.path} ({m['package']['classification']}): "
        f"{len(m['sources'])} sources, {m['sheets']['count_1_500']} sheets at 1:500, "
        f"{m['control']['usable_points']} usable control points, "
        f"{len(m['control']['cors_stations'])} CORS stations; "
        f"{m['withheld']['count']} restricted datasets withheld"
    )
    info(f"Zip: {result.zip_path}")
    info(f"Viewer (offline): {(result.path / 'index.html').as_uri()}")
