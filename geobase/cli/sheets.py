"""``geobase sheets``: map-sheet numbers (GB/T 13989-2012 national, rectangular GK sheets).

Thin shell over :mod:`geobase.sheets`; errors from the library become one-line messages
and exit code 2 (see :mod:`geobase.cli`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from geobase.cli.options import (
    check_output,
    emit,
    encoding_option,
    format_option,
    info,
    overwrite_option,
)
from geobase.errors import SheetCodeError

# the sheet math, geodesy and area readers (numpy, pyproj, geopandas) are imported by the
# commands that use them: `geobase --help` lists this group without them
if TYPE_CHECKING:
    from geobase import sheets as lib

OUTPUT_DRIVERS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON", ".csv": "CSV"}
_NUMBER = r"\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*"
_BBOX_RE = re.compile(",".join([_NUMBER] * 4))


def _scale(ctx: click.Context, param: click.Parameter, value: Any) -> int | None:
    if value is None:
        return None
    from geobase import sheets as lib

    try:
        return lib.parse_scale(value)
    except SheetCodeError as exc:
        raise click.BadParameter(str(exc)) from None


scale_option = click.option(
    "--scale",
    "-s",
    callback=_scale,
    help="Scale: 1:500, 1:1000, 1:2000, 1:5000, 1:10000 ... 1:1000000 (also '10k', '1M').",
)
kind_option = click.option(
    "--kind",
    type=click.Choice(["national", "rect"]),
    default="national",
    show_default=True,
    help="National GB/T 13989 sheets or rectangular (矩形分幅) Gauss-Kruger sheets.",
)
crs_option = click.option(
    "--crs",
    "crs_spec",
    default="EPSG:4548",
    show_default=True,
    help="Gauss-Kruger CRS of rectangular sheets (EPSG code, gk3:39, gk3cm:117, ...).",
)


def _record(code: str, scale: int, bounds: lib.Bounds, crs: str | None = None) -> dict:
    record: dict[str, Any] = {"code": code, "scale": f"1:{scale}"}
    if crs is not None:
        record["crs"] = crs
    record.update(bounds._asdict())
    return record


def _national_record(code: str) -> dict:
    from geobase import sheets as lib

    parsed = lib.parse_sheet_code(code)
    record = _record(parsed.code, parsed.scale, lib.sheet_bounds(parsed.code))
    exact = lib.sheet_bounds(parsed.code, exact=True)
    # edges are multiples of 1/8": three decimals of a second are exact
    record.update({f"{k}_dms": lib.format_dms(v, 3, trim=True) for k, v in exact._asdict().items()})
    return record


@click.group()
def sheets() -> None:
    """Map-sheet numbers: national GB/T 13989-2012 sheets and rectangular city sheets."""


@sheets.command("code")
@click.argument("lon")
@click.argument("lat")
@scale_option
@kind_option
@crs_option
@click.option(
    "--xy",
    is_flag=True,
    help="With --kind rect: the arguments are easting and northing in --crs, not lon/lat.",
)
@format_option(choices=("table", "json"))
def code_command(
    lon: str, lat: str, scale: int | None, kind: str, crs_spec: str, xy: bool, fmt: str
) -> None:
    """The sheet holding the point LON LAT (CGCS2000 degrees or D°M'S").

    A point on an edge belongs to the sheet east / north of it. Example:

        geobase sheets code 116.682 23.354 --scale 1:10000
    """
    from geobase import sheets as lib
    from geobase.geodesy import resolve_crs

    if scale is None:
        raise click.UsageError("missing option '--scale' (e.g. --scale 1:10000)")
    if kind == "national":
        if xy:
            raise click.UsageError("--xy applies to --kind rect only")
        code = lib.sheet_code(lon, lat, scale)
        emit(_national_record(code), fmt)
        return
    crs = lib.require_gk_crs(resolve_crs(crs_spec))
    if xy:
        east, north = _float(lon, "easting"), _float(lat, "northing")
    else:
        from pyproj import Transformer

        lon_f = float(lib.parse_angle(lon))
        lat_f = float(lib.parse_angle(lat))
        lib.sheet_code(lon_f, lat_f, 1_000_000)  # range checks with clear messages
        east, north = Transformer.from_crs(4490, crs, always_xy=True).transform(lon_f, lat_f)
    code = lib.rect_sheet_code(east, north, scale)
    emit(_record(code, scale, lib.rect_sheet_bounds(code, scale), crs.to_string()), fmt)


def _float(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise click.BadParameter(f"{what} {text!r} is not a number") from None


@sheets.command("bounds")
@click.argument("code")
@click.option(
    "--scale",
    "-s",
    callback=_scale,
    help="Scale of a rectangular sheet number when its decimals leave it open (1:1000 / 1:2000).",
)
@crs_option
@format_option(choices=("table", "json"))
def bounds_command(code: str, scale: int | None, crs_spec: str, fmt: str) -> None:
    """Bounds of a sheet: a national code (F50G016043) or a rectangular number (2583.25-467.50).

    National bounds are lon/lat degrees (with D°M'S"), rectangular ones metres in --crs.
    """
    from geobase import sheets as lib
    from geobase.geodesy import resolve_crs

    text = code.strip()
    if text[:1].isdigit():
        crs = lib.require_gk_crs(resolve_crs(crs_spec))
        bounds = lib.rect_sheet_bounds(text, scale)
        size = bounds.east - bounds.west
        denominator = next(s.denominator for s in lib.RECT_SCALES.values() if s.size_m == size)
        emit(_record(text, denominator, bounds, crs.to_string()), fmt)
        return
    if scale is not None and lib.parse_sheet_code(text).scale != scale:
        raise click.BadParameter(
            f"{text.upper()} is a 1:{lib.parse_sheet_code(text).scale} sheet, not 1:{scale}",
            param_hint="'--scale'",
        )
    emit(_national_record(text), fmt)


def _read_area(area: str):
    """A GeoDataFrame from a 'W,S,E,N' lon/lat box or a vector file GDAL reads."""
    import geopandas as gpd
    import shapely

    from geobase.areas import read_vector

    if _BBOX_RE.fullmatch(area):
        from geobase.geodesy.lonlat import parse_bbox

        west, south, east, north = parse_bbox(area, "--area")
        return gpd.GeoDataFrame(geometry=[shapely.box(west, south, east, north)], crs=4490)
    path = Path(area)
    if not path.exists():
        raise click.BadParameter(
            f"{area!r} is neither a W,S,E,N bbox nor an existing file", param_hint="'--area'"
        )
    return read_vector(path, "area file")


def _write(frame, out: Path, encoding: str | None) -> None:
    """Write to a temporary file next to ``out``, then move it into place."""
    from geobase.paths import atomic_output
    from geobase.tabular import FILE_ENCODING, encode_csv

    driver = OUTPUT_DRIVERS[out.suffix.lower()]
    with atomic_output(out) as tmp:
        if driver == "CSV":
            table = frame.bounds.rename(
                columns={"minx": "west", "miny": "south", "maxx": "east", "maxy": "north"}
            )
            table.insert(0, "scale", frame["scale"].to_numpy())
            table.insert(0, "code", frame["code"].to_numpy())
            Path(tmp).write_bytes(encode_csv(table, encoding or FILE_ENCODING, str(out)))
        else:
            frame.to_file(tmp, driver=driver, **({"layer": "sheets"} if driver == "GPKG" else {}))


@sheets.command("grid")
@scale_option
@click.option(
    "--area",
    required=True,
    help="Vector file (any format GDAL reads, with a CRS) or a lon/lat bbox 'W,S,E,N'.",
)
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    help="Output .gpkg, .geojson or .csv (bounds per sheet); '-' for GeoJSON on stdout.",
)
@kind_option
@crs_option
@click.option(
    "--max-sheets",
    type=click.IntRange(min=1),
    default=5_000_000,
    show_default=True,
    help="Refuse areas spanning more candidate sheets.",
)
@encoding_option()
@overwrite_option
def grid_command(
    scale: int | None,
    area: str,
    output: str,
    kind: str,
    crs_spec: str,
    max_sheets: int,
    encoding: str | None,
    overwrite: bool,
) -> None:
    """All sheets of one scale sharing area with AREA, written to OUTPUT.

    Example:

        geobase sheets grid --scale 1:500 --kind rect --area districts.gpkg -o sheets.gpkg
    """
    if scale is None:
        raise click.UsageError("missing option '--scale' (e.g. --scale 1:10000)")
    out = Path(output)
    if output != "-":
        if out.suffix.lower() not in OUTPUT_DRIVERS:
            raise click.BadParameter(
                f"{output!r}: unknown output type {out.suffix or '(none)'}; use .gpkg, .geojson or .csv",
                param_hint="'-o'",
            )
        check_output(out, overwrite)
    from geobase import sheets as lib
    from geobase.geodesy import resolve_crs

    frame = _read_area(area)
    if kind == "rect":
        result = lib.rect_sheets_covering(
            frame, scale, crs=resolve_crs(crs_spec), max_sheets=max_sheets
        )
    else:
        result = lib.sheets_covering(frame, scale, max_sheets=max_sheets)
    if output == "-":
        emit(result, "geojson")
    else:
        _write(result, out, encoding)
    info(f"{len(result)} sheets at 1:{scale} ({kind}) -> {output}")
