"""``geobase crs`` (info, zone, transform, fit, apply) and ``geobase height``.

Thin shells over :mod:`geobase.geodesy`. Coordinate columns of CSV files:

- ``lon,lat`` (also longitude/latitude, 经度/纬度) for geographic CRSs and ``east,north``
  (also easting/northing, 东坐标/北坐标) for projected ones are unambiguous;
- ``x,y`` follow the surveying convention (x = north, y = east) for Gauss-Kruger systems
  and the GIS one (x = east) otherwise; ``--xy gis|survey`` overrides.

Every input column is kept; results go into the target's coordinate columns (``lon,lat``,
``east,north`` or ``x,y`` when the input used ``x,y``), replacing columns of that name and
appended otherwise. CSV is read in UTF-8 (with or without BOM) or GBK and written in the
input's encoding unless ``--encoding`` says otherwise. Errors are one line on stderr, exit
code 2 for bad input.
"""

from __future__ import annotations

import contextlib
import math
import re
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd

from geobase.cli.options import check_output, emit, format_option, info, overwrite_option
from geobase.errors import (
    AxisOrderError,
    EmptyInputError,
    SourceReadError,
    ValidationError,
)

CSV_SUFFIXES = (".csv", ".txt")
VECTOR_DRIVERS = {
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".gpkg": "GPKG",
    ".shp": "ESRI Shapefile",
}

# accepted names per coordinate role, compared without case
LON_NAMES = ("lon", "lng", "longitude", "经度", "大地经度")
LAT_NAMES = ("lat", "latitude", "纬度", "大地纬度")
EAST_NAMES = ("east", "easting", "东坐标", "横坐标")
NORTH_NAMES = ("north", "northing", "北坐标", "纵坐标")
X_NAMES = ("x", "x坐标")
Y_NAMES = ("y", "y坐标")

xy_option = click.option(
    "--xy",
    "xy",
    type=click.Choice(["gis", "survey"]),
    default=None,
    help="How x,y columns are read: survey (x = north; default for Gauss-Kruger) or gis "
    "(x = east; default otherwise).",
)
encoding_option = click.option(
    "--encoding",
    type=click.Choice(["same", "utf-8", "utf-8-sig", "gbk"]),
    default="same",
    show_default=True,
    help="Encoding of an output CSV (same: the input's).",
)
no_check_option = click.option(
    "--no-check",
    is_flag=True,
    help="Skip the checks for swapped axes, zone prefixes and out-of-range values.",
)


# --- CSV coordinate columns ----------------------------------------------------------


@dataclass(frozen=True)
class Columns:
    """Which columns of a table hold a point's east and north (or lon and lat)."""

    east: str
    north: str
    naming: str  # "lonlat", "eastnorth" or "xy"
    xy: str | None = None  # "gis" or "survey" for x,y naming


def _find(frame: pd.DataFrame, names: Sequence[str]) -> str | None:
    lookup = {str(c).strip().lower(): c for c in frame.columns}
    for name in names:
        if name in lookup:
            return lookup[name]
    return None


def _is_gk(crs: Any) -> bool:
    from geobase.geodesy import gk_zone_of

    return gk_zone_of(crs) is not None


def coordinate_columns(
    frame: pd.DataFrame, geographic: bool, xy: str | None, gauss_kruger: bool, source: str
) -> Columns:
    """The coordinate columns for a CRS of the given kind.

    Raises:
        ValidationError: no suitable pair of columns.
    """
    if geographic:
        lon, lat = _find(frame, LON_NAMES), _find(frame, LAT_NAMES)
        if lon is not None and lat is not None:
            return Columns(lon, lat, "lonlat")
    else:
        east, north = _find(frame, EAST_NAMES), _find(frame, NORTH_NAMES)
        if east is not None and north is not None:
            return Columns(east, north, "eastnorth")
    x, y = _find(frame, X_NAMES), _find(frame, Y_NAMES)
    if x is not None and y is not None:
        mode = xy or ("survey" if gauss_kruger else "gis")
        if mode == "survey":
            return Columns(y, x, "xy", mode)
        return Columns(x, y, "xy", mode)
    expected = "lon,lat" if geographic else "east,north"
    kind = "geographic" if geographic else "projected"
    raise ValidationError(
        f"{source}: no coordinate columns for a {kind} CRS: expected {expected} or x,y; found "
        f"{', '.join(map(str, frame.columns))} (is --from right?)"
    )


def _numbers(frame: pd.DataFrame, column: str, source: str) -> np.ndarray:
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        line = _lines(frame)[i]
        value = raw.iloc[i]
        what = "no value" if value is None or value != value else f"{value!r} is not a number"
        raise ValidationError(
            f"{source}: {line}: column {column}: {what} ({int(bad.sum())} bad value(s))"
        )
    return values


def _lines(frame: pd.DataFrame) -> list[str]:
    lines = frame.attrs.get("lines")
    if lines is None or len(lines) != len(frame):
        return [f"row {i + 1}" for i in range(len(frame))]
    return [f"line {n}" for n in lines]


def _set_column(frame: pd.DataFrame, name: str, values: Sequence[str]) -> str:
    """Write values into the column called ``name`` (any case), or append it."""
    existing = _find(frame, (name.lower(),))
    target = existing if existing is not None else name
    frame[target] = list(values)
    return target


def _format(values: np.ndarray, decimals: int) -> list[str]:
    return [f"{v:.{decimals}f}" for v in values.tolist()]


def output_columns(columns: Columns, geographic: bool, gauss_kruger: bool, xy: str | None):
    """(east name, north name, decimals) of the target columns."""
    if geographic:
        return "lon", "lat", 9
    if columns.naming == "xy":
        mode = xy or ("survey" if gauss_kruger else "gis")
        return ("y", "x", 4) if mode == "survey" else ("x", "y", 4)
    return "east", "north", 4


def _xy_hint(exc: AxisOrderError, columns: Columns) -> AxisOrderError:
    if columns.naming != "xy":
        return exc
    if columns.xy == "survey":
        hint = "x,y were read as surveying x = north, y = east; pass --xy gis if x holds eastings"
    else:
        hint = "x,y were read as x = east, y = north; pass --xy survey if x holds northings"
    return AxisOrderError(f"{exc}; {hint}")


# --- files ---------------------------------------------------------------------------


def _kind(path: str, role: str) -> str:
    if path == "-":
        return "csv"
    suffix = Path(path).suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in VECTOR_DRIVERS:
        return "vector"
    raise ValidationError(
        f"{path}: unsupported {role} format {suffix or '(no extension)'!r}; expected .csv, "
        ".geojson, .json, .gpkg or .shp"
    )


@contextlib.contextmanager
def _csv_input(path: str) -> Iterator[tuple[pd.DataFrame, str]]:
    """Read a CSV (``-``: stdin) as a frame of strings; yields (frame, name)."""
    from geobase.tabular import read_csv

    if path != "-":
        yield read_csv(path), path
        return
    data = sys.stdin.buffer.read()
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "stdin.csv"
        file.write_bytes(data)
        try:
            frame = read_csv(file)
        except SourceReadError as exc:
            raise type(exc)(str(exc).replace(str(file), "stdin")) from None
        yield frame, "stdin"


def _write_csv(frame: pd.DataFrame, path: str, encoding: str) -> None:
    from geobase.tabular import write_csv

    if encoding == "same":
        encoding = frame.attrs.get("encoding", "utf-8")
    if encoding == "gbk":
        encoding = "gb18030"  # GBK's superset: never fails on a character GBK lacks
    if path == "-":
        write_csv(frame, sys.stdout)
        return
    write_csv(frame, path, encoding=encoding)


def _read_vector(path: str):
    import geopandas as gpd

    file = Path(path)
    if not file.exists():
        raise SourceReadError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            # GDAL's notes about the file (e.g. a missing .prj) are reported as errors below
            warnings.simplefilter("ignore", RuntimeWarning)
            frame = gpd.read_file(file)
    except Exception as exc:  # pyogrio raises its own DataSourceError / DataLayerError
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SourceReadError(f"{path}: cannot be read as a vector file ({message})") from None
    if frame.empty:
        raise EmptyInputError(f"{path}: no features")
    return frame


SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


def _write_vector(frame, path: str) -> None:
    driver = VECTOR_DRIVERS[Path(path).suffix.lower()]
    target = Path(path)
    parts = (
        [target.with_suffix(s) for s in SHAPEFILE_PARTS] if driver == "ESRI Shapefile" else [target]
    )
    for part in parts:
        part.unlink(missing_ok=True)
    try:
        frame.to_file(target, driver=driver)
    except Exception as exc:  # pyogrio's errors: leave nothing half-written behind
        for part in parts:
            part.unlink(missing_ok=True)
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValidationError(f"{path}: cannot be written as {driver} ({message})") from None


def _vector_crs(frame, path: str, given: str | None):
    from geobase.geodesy import crs_label, resolve_crs

    if given is not None:
        crs = resolve_crs(given)
        if frame.crs is not None and not frame.crs.equals(crs):
            info(f"{path} declares {crs_label(frame.crs)}; using --from {given} as requested")
        return crs
    if frame.crs is None:
        raise ValidationError(f"{path}: the file has no CRS; pass --from")
    return resolve_crs(frame.crs.to_wkt())


# --- commands ------------------------------------------------------------------------


@click.group("crs")
def crs() -> None:
    """Coordinate reference systems: describe, find zones, transform, fit and apply."""


@crs.command("info")
@click.argument("code")
@format_option(default="table", choices=("table", "json"))
def info_cmd(code: str, fmt: str) -> None:
    """Describe a CRS or Gauss-Kruger zone (EPSG:4548, 4527, gk3:39, gk6:20, gk3cm:117)."""
    from geobase.geodesy import crs_label, gk_zone_of, resolve_crs

    crs_ = resolve_crs(code)
    record: dict[str, Any] = {
        "input": code,
        "name": crs_.name,
        "crs": crs_label(crs_),
        "epsg": crs_.to_epsg(min_confidence=100),
        "type": crs_.type_name,
    }
    if crs_.datum is not None:
        record["datum"] = crs_.datum.name
    if crs_.ellipsoid is not None:
        record["ellipsoid"] = crs_.ellipsoid.name
        record["semi_major_axis"] = crs_.ellipsoid.semi_major_metre
        record["inverse_flattening"] = crs_.ellipsoid.inverse_flattening
    record["axes_epsg_order"] = ", ".join(
        f"{a.name} ({a.direction}, {a.unit_name})" for a in crs_.axis_info
    )
    if crs_.is_geographic:
        record["geobase_order"] = "lon, lat (always_xy)"
    elif crs_.is_projected:
        record["geobase_order"] = "east, north (always_xy)"
    zone = gk_zone_of(crs_)
    if zone is not None:
        other = zone.with_prefix(not zone.prefixed)
        record.update(
            {
                "gauss_kruger": f"{zone.width}-degree zone {zone.number}",
                "central_meridian": zone.central_meridian,
                "false_easting": zone.false_easting,
                "zone_prefix": zone.prefixed,
                "short_name": zone.short_name,
                "zone_west": zone.west,
                "zone_east": zone.east,
                "counterpart": f"EPSG:{other.epsg} ({'with' if other.prefixed else 'without'} "
                "zone prefix)",
                "survey_axes": "x = north, y = east",
                "proj4": zone.proj4,
            }
        )
    area = crs_.area_of_use
    if area is not None:
        record["area_of_use"] = area.name
        record["bounds"] = ", ".join(f"{v:g}" for v in area.bounds)
    if fmt == "json":
        emit(record, "json")
    else:
        emit([{"property": k, "value": v} for k, v in record.items()], "table")


@crs.command("zone")
@click.argument("lon", type=float)
@click.argument("lat", type=float)
@format_option(default="table", choices=("table", "json", "csv"))
def zone_cmd(lon: float, lat: float, fmt: str) -> None:
    """Which Gauss-Kruger zones and EPSG codes hold a point (CGCS2000 LON LAT, degrees)."""
    from geobase.geodesy import GKZone, check_coordinates, transform, zone_for

    check_coordinates([lon], [lat], 4490)
    rows = []
    for width in (3, 6):
        zone = zone_for(lon, width)  # type: ignore[arg-type]
        for prefixed in (True, False):
            system = GKZone(zone.width, zone.number, prefixed)
            east, north = transform([lon], [lat], 4490, system, check=False)
            rows.append(
                {
                    "width": f"{width}-degree",
                    "zone": system.number,
                    "central_meridian": system.central_meridian,
                    "prefix": "yes" if prefixed else "no",
                    "epsg": f"EPSG:{system.epsg}",
                    "short_name": system.short_name,
                    "east": round(float(east[0]), 4),
                    "north": round(float(north[0]), 4),
                }
            )
    emit(rows, fmt)


@crs.command("transform")
@click.argument("src_path", metavar="IN")
@click.argument("dst_path", metavar="OUT")
@click.option("--from", "src", default=None, help="CRS of IN (required for CSV).")
@click.option("--to", "dst", required=True, help="Target CRS (EPSG:4548, gk3:39, ...).")
@xy_option
@encoding_option
@no_check_option
@click.option(
    "--allow-ballpark",
    is_flag=True,
    help="Accept PROJ's zero-shift ballpark for Beijing 1954 / Xian 1980 (wrong by 100 m+).",
)
@overwrite_option
def transform_cmd(
    src_path: str,
    dst_path: str,
    src: str | None,
    dst: str,
    xy: str | None,
    encoding: str,
    no_check: bool,
    allow_ballpark: bool,
    overwrite: bool,
) -> None:
    """Reproject a CSV, GeoJSON, GeoPackage or shapefile from --from to --to.

    CSV columns: lon,lat / east,north / x,y (see --xy); every column is kept.
    """
    from geobase.geodesy import resolve_crs, transform, transform_geometries

    in_kind, out_kind = _kind(src_path, "input"), _kind(dst_path, "output")
    if in_kind != out_kind:
        raise ValidationError(
            f"{src_path} -> {dst_path}: CSV goes to CSV and vector files to vector files"
        )
    target = resolve_crs(dst)
    if in_kind == "vector":
        frame = _read_vector(src_path)
        source = _vector_crs(frame, src_path, src)
        check_output(dst_path, overwrite)
        geometry = transform_geometries(
            np.asarray(frame.geometry.array),
            source,
            target,
            check=not no_check,
            allow_ballpark=allow_ballpark,
        )
        out = frame.set_geometry(list(geometry), crs=target)
        _write_vector(out, dst_path)
        info(f"{len(out)} features {src_path} -> {dst_path}")
        return
    if src is None:
        raise ValidationError(f"{src_path}: a CSV file has no CRS; pass --from")
    source = resolve_crs(src)
    check_output(dst_path, overwrite)
    with _csv_input(src_path) as (frame, name):
        columns = coordinate_columns(frame, source.is_geographic, xy, _is_gk(source), name)
        east = _numbers(frame, columns.east, name)
        north = _numbers(frame, columns.north, name)
        try:
            out_e, out_n = transform(
                east,
                north,
                source,
                target,
                check=not no_check,
                allow_ballpark=allow_ballpark,
                labels=_lines(frame),
            )
        except AxisOrderError as exc:
            raise _xy_hint(exc, columns) from None
        e_name, n_name, decimals = output_columns(columns, target.is_geographic, _is_gk(target), xy)
        _set_column(frame, e_name, _format(out_e, decimals))
        _set_column(frame, n_name, _format(out_n, decimals))
        _write_csv(frame, dst_path, encoding)
    info(f"{len(frame)} points {name} -> {dst_path}")


def _parse_ids(text: str | None) -> list[str]:
    if not text:
        return []
    return [part for part in re.split(r"[,，;\s]+", text) if part]


@crs.command("fit")
@click.argument("common", metavar="COMMON")
@click.option(
    "--model",
    type=click.Choice(["4p", "7p", "affine", "poly2"]),
    required=True,
    help="4p plane similarity, 7p Bursa-Wolf, affine, or poly2 (2nd-order polynomial).",
)
@click.option("--check", "check_ids", default=None, help="Ids of check points, comma-separated.")
@click.option("-o", "--output", "output", required=True, help="Parameter file to write (JSON).")
@click.option("--from", "src", default=None, help="Source CRS (required for 7p).")
@click.option("--to", "dst", default=None, help="Target CRS (required for 7p).")
@click.option(
    "--convention",
    type=click.Choice(["coordinate_frame", "position_vector"]),
    default="coordinate_frame",
    show_default=True,
    help="Rotation sign convention of 4p/7p parameters.",
)
@xy_option
@click.option(
    "--reject-factor",
    type=click.FloatRange(min=0, min_open=True),
    default=3.0,
    show_default=True,
    help="Reject points beyond this many times the RMS.",
)
@click.option(
    "--reject-floor",
    type=click.FloatRange(min=0),
    default=0.01,
    show_default=True,
    help="Never reject residuals below this many metres.",
)
@click.option("--no-reject", is_flag=True, help="Keep every point (no blunder rejection).")
@format_option(default="table", choices=("table", "json", "csv"))
@overwrite_option
def fit_cmd(
    common: str,
    model: str,
    check_ids: str | None,
    output: str,
    src: str | None,
    dst: str | None,
    convention: str,
    xy: str | None,
    reject_factor: float,
    reject_floor: float,
    no_reject: bool,
    fmt: str,
    overwrite: bool,
) -> None:
    """Fit transformation parameters from common points.

    COMMON is a CSV with id, src_east,src_north (or src_lon,src_lat or src_x,src_y),
    dst_east,dst_north (likewise) and, for 7p, src_h,dst_h (ellipsoidal heights).
    """
    from geobase.geodesy import CommonPoints, fit, write_parameters

    out = check_output(output, overwrite)
    with _csv_input(common) as (frame, name):
        points = CommonPoints.from_frame(frame, xy=xy, src_crs=src, dst_crs=dst, source=name)  # type: ignore[arg-type]
    result = fit(
        points,
        model,  # type: ignore[arg-type]
        src_crs=src,
        dst_crs=dst,
        convention=convention,  # type: ignore[arg-type]
        check_ids=_parse_ids(check_ids),
        reject=not no_reject,
        reject_factor=reject_factor,
        reject_floor=reject_floor,
    )
    write_parameters(result.parameters, out)
    report = result.report
    if fmt == "json":
        emit(result.parameters.model_dump(mode="json"), "json")
    elif fmt == "csv":
        emit(result.residuals_frame(), "csv")
    else:
        summary = {"model": model, **result.parameters.parameters.model_dump(exclude={"model"})}
        summary.update(
            {
                "points": f"{report.n_fit} fit, {len(report.rejected)} rejected, "
                f"{report.n_check} check",
                "rms_m": f"{report.rms:.4f} per coordinate, {report.point_rms:.4f} per point",
                "sigma0_m": "-" if report.sigma0 is None else f"{report.sigma0:.4f}",
            }
        )
        if report.check_rms is not None:
            summary["check_rms_m"] = (
                f"{report.check_rms:.4f} per coordinate, {report.check_point_rms:.4f} per point"
            )
        emit([{"parameter": k, "value": _show(v)} for k, v in summary.items()], "table")
        residuals = result.residuals_frame()
        for column in ("de", "dn", "du", "residual"):
            if column in residuals:
                residuals[column] = residuals[column].map(lambda v: f"{v:.4f}")
        emit(residuals, "table")
    for line in report.warnings:
        info(f"warning: {line}")
    if report.rejected:
        info(f"rejected as blunders: {', '.join(report.rejected)}")
    info(f"parameters written to {out}")


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.10g}" if math.isfinite(value) else str(value)
    if isinstance(value, tuple | list):
        return ", ".join(_show(v) for v in value)
    return str(value)


@crs.command("apply")
@click.argument("params_path", metavar="PARAMS")
@click.argument("src_path", metavar="IN")
@click.argument("dst_path", metavar="OUT")
@xy_option
@encoding_option
@no_check_option
@overwrite_option
def apply_cmd(
    params_path: str,
    src_path: str,
    dst_path: str,
    xy: str | None,
    encoding: str,
    no_check: bool,
    overwrite: bool,
) -> None:
    """Apply fitted parameters (from `geobase crs fit`) to a CSV or vector file.

    7p: a CSV column h (ellipsoidal height) is transformed too; without it heights are 0.
    """
    from geobase.geodesy import apply, crs_label, read_parameters, resolve_crs

    params = read_parameters(params_path)
    in_kind, out_kind = _kind(src_path, "input"), _kind(dst_path, "output")
    if in_kind != out_kind:
        raise ValidationError(
            f"{src_path} -> {dst_path}: CSV goes to CSV and vector files to vector files"
        )
    src_crs = resolve_crs(params.src_crs) if params.src_crs else None
    dst_crs = resolve_crs(params.dst_crs) if params.dst_crs else None
    if in_kind == "vector":
        import shapely

        frame = _read_vector(src_path)
        if src_crs is not None and frame.crs is not None and not frame.crs.equals(src_crs):
            raise ValidationError(
                f"{src_path} is in {crs_label(resolve_crs(frame.crs.to_wkt()))} but the "
                f"parameters are for {crs_label(src_crs)}"
            )
        check_output(dst_path, overwrite)
        geoms = np.asarray(frame.geometry.array)
        if not no_check and src_crs is not None:
            from geobase.geodesy import check_coordinates

            coords = shapely.get_coordinates(geoms)
            check_coordinates(coords[:, 0], coords[:, 1], src_crs)

        def fn(x, y, z=None):
            out = apply(params, x, y, z if params.model == "7p" else None, check=False)
            return out if z is None or len(out) == 3 else (*out, z)

        out_geoms = shapely.transform(geoms, fn, include_z=None, interleaved=False)
        out = frame.set_geometry(list(out_geoms), crs=dst_crs)
        _write_vector(out, dst_path)
        info(f"{len(out)} features {src_path} -> {dst_path} ({params.model})")
        return
    check_output(dst_path, overwrite)
    src_gk = src_crs is None or _is_gk(src_crs)
    dst_gk = dst_crs is None or _is_gk(dst_crs)
    with _csv_input(src_path) as (frame, name):
        columns = coordinate_columns(frame, params.src_axes == "lon_lat", xy, src_gk, name)
        east = _numbers(frame, columns.east, name)
        north = _numbers(frame, columns.north, name)
        h_column = _find(frame, ("h",)) if params.model == "7p" else None
        h = _numbers(frame, h_column, name) if h_column is not None else None
        try:
            out = apply(params, east, north, h, check=not no_check, labels=_lines(frame))
        except AxisOrderError as exc:
            raise _xy_hint(exc, columns) from None
        e_name, n_name, decimals = output_columns(columns, params.dst_axes == "lon_lat", dst_gk, xy)
        _set_column(frame, e_name, _format(out[0], decimals))
        _set_column(frame, n_name, _format(out[1], decimals))
        if h_column is not None:
            frame[h_column] = _format(out[2], 4)
        elif params.model == "7p":
            info("no h column: ellipsoidal heights taken as 0; output heights not written")
        _write_csv(frame, dst_path, encoding)
    info(f"{len(frame)} points {name} -> {dst_path} ({params.model})")


@click.command("height")
@click.argument("src_path", metavar="IN")
@click.argument("dst_path", metavar="OUT")
@click.option("--geoid", "grid_path", required=True, help="Height-anomaly grid (GeoTIFF), metres.")
@click.option(
    "--to",
    "direction",
    type=click.Choice(["normal", "ellipsoidal"]),
    default="normal",
    show_default=True,
    help="normal: H = h - zeta (1985 heights); ellipsoidal: h = H + zeta.",
)
@click.option(
    "--crs",
    "crs_spec",
    default="EPSG:4490",
    show_default=True,
    help="CRS of the point coordinates in IN.",
)
@click.option(
    "--h-col", default=None, help="Input height column (default h, or H with --to ellipsoidal)."
)
@click.option("--out-col", default=None, help="Output height column (default H, or h).")
@xy_option
@encoding_option
@overwrite_option
def height(
    src_path: str,
    dst_path: str,
    grid_path: str,
    direction: str,
    crs_spec: str,
    h_col: str | None,
    out_col: str | None,
    xy: str | None,
    encoding: str,
    overwrite: bool,
) -> None:
    """Convert ellipsoidal heights to 1985 normal heights (or back) with a quasi-geoid grid.

    IN is a CSV with coordinates (lon,lat for the default --crs) and a height column.
    """
    from geobase.geodesy import HeightAnomalyGrid, resolve_crs

    if _kind(src_path, "input") != "csv" or _kind(dst_path, "output") != "csv":
        raise ValidationError(f"{src_path} -> {dst_path}: height converts CSV files")
    crs_ = resolve_crs(crs_spec)
    grid = HeightAnomalyGrid.open(grid_path)
    check_output(dst_path, overwrite)
    in_name = h_col or ("h" if direction == "normal" else "H")
    out_name = out_col or ("H" if direction == "normal" else "h")
    with _csv_input(src_path) as (frame, name):
        if in_name not in frame.columns:
            raise ValidationError(
                f"{name}: no height column {in_name!r}; found "
                f"{', '.join(map(str, frame.columns))} (name it with --h-col)"
            )
        if out_name in frame.columns:
            raise ValidationError(
                f"{name}: already has a column {out_name!r}; name the output with --out-col"
            )
        columns = coordinate_columns(frame, crs_.is_geographic, xy, _is_gk(crs_), name)
        east = _numbers(frame, columns.east, name)
        north = _numbers(frame, columns.north, name)
        values = _numbers(frame, in_name, name)
        labels = _lines(frame)
        convert: Callable[..., np.ndarray] = (
            grid.to_normal if direction == "normal" else grid.to_ellipsoidal
        )
        from geobase.geodesy import check_coordinates

        try:
            check_coordinates(east, north, crs_, labels=labels)
        except AxisOrderError as exc:
            raise _xy_hint(exc, columns) from None
        result = convert(east, north, values, crs_, labels=labels)
        frame[out_name] = _format(result, 4)
        _write_csv(frame, dst_path, encoding)
    info(f"{len(frame)} heights {name} -> {dst_path} ({direction})")
