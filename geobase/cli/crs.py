"""``geobase crs`` (info, zone, transform, fit, apply) and ``geobase height``.

Thin shells over :mod:`geobase.geodesy` (files: :mod:`geobase.geodesy.files`, which
documents how CSV coordinate columns are found and written). CSV is read in UTF-8 (with or
without BOM) or GBK and written in the input's encoding unless ``--encoding`` says
otherwise. Errors are one line on stderr, exit code 2 for bad input.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from geobase.cli.options import (
    check_output,
    emit,
    format_option,
    info,
    overwrite_option,
)
from geobase.cli.options import encoding_option as options_encoding_option
from geobase.errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd

# geobase.geodesy.raster.RESAMPLING, listed here so that `geobase --help` does not import
# geobase.geodesy (pyproj, numpy, pandas); tests/test_cli_startup.py checks they agree
RESAMPLING = ("nearest", "bilinear", "cubic", "cubic_spline", "lanczos", "average", "mode")

xy_option = click.option(
    "--xy",
    "xy",
    type=click.Choice(["gis", "survey"]),
    default=None,
    help="How x,y columns are read: survey (x = north; default for Gauss-Kruger) or gis "
    "(x = east; default otherwise).",
)
encoding_option = options_encoding_option(same=True)
no_check_option = click.option(
    "--no-check",
    is_flag=True,
    help="Skip the checks for swapped axes, zone prefixes and out-of-range values.",
)


def _read(path: str) -> tuple[pd.DataFrame, str]:
    """A CSV file (``-``: stdin) as a table of strings, and its name for messages."""
    from geobase.geodesy import read_table

    if path == "-":
        return read_table(sys.stdin.buffer.read(), name="stdin"), "stdin"
    return read_table(path), path


def _write(frame: pd.DataFrame, path: str, encoding: str | None) -> None:
    from geobase.geodesy import write_table

    write_table(frame, sys.stdout if path == "-" else path, encoding)


@click.group("crs")
def crs() -> None:
    """Coordinate reference systems: describe, find zones, transform, fit and apply."""


@crs.command("info")
@click.argument("code")
@format_option(default="table", choices=("table", "json"))
def info_cmd(code: str, fmt: str) -> None:
    """Describe a CRS or Gauss-Kruger zone (EPSG:4548, 4527, gk3:39, gk6:20, gk3cm:117)."""
    from geobase.geodesy.describe import describe_crs

    record = describe_crs(code)
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
    from geobase.geodesy.describe import zones_at

    emit(zones_at(lon, lat), fmt)


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
    from geobase.geodesy import io_kind, resolve_crs, transform_table, transform_vector_file

    kind = io_kind(src_path, dst_path)
    target = resolve_crs(dst)
    if kind == "vector":
        count = transform_vector_file(
            src_path,
            dst_path,
            target,
            src_crs=src,
            check=not no_check,
            allow_ballpark=allow_ballpark,
            overwrite=overwrite,
            notify=info,
        )
        info(f"{count} features {src_path} -> {dst_path}")
        return
    if src is None:
        raise ValidationError(f"{src_path}: a CSV file has no CRS; pass --from")
    source = resolve_crs(src)
    check_output(dst_path, overwrite)
    frame, name = _read(src_path)
    out = transform_table(
        frame,
        source,
        target,
        xy=xy,  # type: ignore[arg-type]
        check=not no_check,
        allow_ballpark=allow_ballpark,
        source=name,
    )
    _write(out, dst_path, encoding)
    info(f"{len(out)} points {name} -> {dst_path}")


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
@click.option(
    "--from",
    "src",
    required=True,
    help="CRS of the src_ columns; 'local' for a city grid without a CRS definition.",
)
@click.option(
    "--to",
    "dst",
    required=True,
    help="CRS of the dst_ columns (the file records both; 7p needs real CRSs on both sides).",
)
@click.option(
    "--convention",
    type=click.Choice(["coordinate_frame", "position_vector"]),
    default="coordinate_frame",
    show_default=True,
    help="Rotation sign convention of 4p/7p parameters.",
)
@xy_option
@click.option(
    "--sigma",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="A-priori precision of one coordinate of a common point, metres (both sides "
    "together). Default: estimated robustly from the points.",
)
@click.option(
    "--alpha",
    type=click.FloatRange(min=0, max=0.5, min_open=True, max_open=True),
    default=0.001,
    show_default=True,
    help="Significance level of the blunder tests (over all points).",
)
@click.option("--no-reject", is_flag=True, help="Test for blunders but keep every point.")
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
    sigma: float | None,
    alpha: float,
    no_reject: bool,
    fmt: str,
    overwrite: bool,
) -> None:
    """Fit transformation parameters from common points.

    COMMON is a CSV with id, src_east,src_north (or src_lon,src_lat or src_x,src_y),
    dst_east,dst_north (likewise) and, for 7p, src_h,dst_h (ellipsoidal heights).
    The parameter file records --from and --to; `crs apply` checks and labels with them.

    Blunders are found by iterative data snooping seeded by a robust (IGG-III) estimate;
    each rejection is reported with its standardised residual w and the critical value.
    With --sigma the tests use that precision and the fit gets a global chi-square test;
    without it each point is judged by the sigma0 of the fit without it (externally
    studentised), so that a blunder cannot inflate the sigma it is judged by.
    """
    from geobase.geodesy import CommonPoints, fit, write_parameters
    from geobase.geodesy.describe import fit_summary, parse_ids, residuals_table
    from geobase.geodesy.paramfiles import LOCAL, with_crs

    out = check_output(output, overwrite)
    frame, name = _read(common)
    src_fit, dst_fit = (None if c == LOCAL else c for c in (src, dst))
    points = CommonPoints.from_frame(frame, xy=xy, src_crs=src_fit, dst_crs=dst_fit, source=name)  # type: ignore[arg-type]
    result = fit(
        points,
        model,  # type: ignore[arg-type]
        src_crs=src_fit,
        dst_crs=dst_fit,
        convention=convention,  # type: ignore[arg-type]
        check_ids=parse_ids(check_ids),
        reject=not no_reject,
        sigma=sigma,
        alpha=alpha,
    )
    params = with_crs(result.parameters, src, dst)
    write_parameters(params, out)
    report = result.report
    if fmt == "json":
        emit(params.model_dump(mode="json"), "json")
    elif fmt == "csv":
        emit(result.residuals_frame(), "csv")
    else:
        emit(fit_summary(result), "table")
        emit(residuals_table(result), "table")
    for line in report.warnings:
        info(f"warning: {line}")
    for rejection in report.rejections:
        info(f"rejected as a blunder: {rejection.id}: {rejection.reason}")
    info(f"parameters written to {out}")


@crs.command("apply")
@click.argument("params_path", metavar="PARAMS")
@click.argument("src_path", metavar="IN")
@click.argument("dst_path", metavar="OUT")
@click.option(
    "--from",
    "src",
    default=None,
    help="Source CRS, for a parameter file that names none (older or hand-made files).",
)
@click.option(
    "--to",
    "dst",
    default=None,
    help="Target CRS, for a parameter file that names none.",
)
@click.option(
    "--resampling",
    type=click.Choice(RESAMPLING),
    default=None,
    help="Rasters: resampling [default: bilinear; nearest for colour-table rasters].",
)
@xy_option
@encoding_option
@no_check_option
@overwrite_option
def apply_cmd(
    params_path: str,
    src_path: str,
    dst_path: str,
    src: str | None,
    dst: str | None,
    resampling: str | None,
    xy: str | None,
    encoding: str,
    no_check: bool,
    overwrite: bool,
) -> None:
    """Apply parameters (from `geobase crs fit`, or a hand-written 4p/7p file) to a CSV,
    vector file or GeoTIFF.

    7p: a CSV column h (ellipsoidal height) is transformed too; without it heights are 0.
    A GeoTIFF is warped with the parameters' PROJ pipeline into a cloud-optimised GeoTIFF.
    """
    from geobase.geodesy import apply_table, apply_vector_file, io_kind, read_parameters
    from geobase.geodesy.paramfiles import units_line, with_crs
    from geobase.geodesy.raster import RASTER_SUFFIXES, apply_raster

    params = with_crs(read_parameters(params_path), src, dst, source=params_path)
    if units := units_line(params):
        info(units)
    if resampling is not None and Path(src_path).suffix.lower() not in RASTER_SUFFIXES:
        raise ValidationError(f"--resampling applies to rasters (.tif) only, not {src_path}")
    if Path(src_path).suffix.lower() in RASTER_SUFFIXES:
        result = apply_raster(
            params,
            src_path,
            dst_path,
            resampling=resampling,
            overwrite=overwrite,
            check=not no_check,
            notify=info,
        )
        info(
            f"{src_path} -> {dst_path} ({params.model}): {result.width} x {result.height} "
            f"pixels of {result.resolution:.6g} in {result.crs}, {result.resampling}"
        )
        return
    if io_kind(src_path, dst_path) == "vector":
        count = apply_vector_file(
            params, src_path, dst_path, check=not no_check, overwrite=overwrite, notify=info
        )
        info(f"{count} features {src_path} -> {dst_path} ({params.model})")
        return
    check_output(dst_path, overwrite)
    frame, name = _read(src_path)
    out = apply_table(
        frame,
        params,
        xy=xy,  # type: ignore[arg-type]
        check=not no_check,
        source=name,
        notify=info,
    )
    _write(out, dst_path, encoding)
    info(f"{len(out)} points {name} -> {dst_path} ({params.model})")


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
    from geobase.geodesy import HeightAnomalyGrid, convert_heights_table, file_kind, resolve_crs

    if file_kind(src_path, "input") != "csv" or file_kind(dst_path, "output") != "csv":
        raise ValidationError(f"{src_path} -> {dst_path}: height converts CSV files")
    crs_ = resolve_crs(crs_spec)
    grid = HeightAnomalyGrid.open(grid_path)
    check_output(dst_path, overwrite)
    frame, name = _read(src_path)
    out = convert_heights_table(
        frame,
        grid,
        crs_,
        direction=direction,  # type: ignore[arg-type]
        h_col=h_col,
        out_col=out_col,
        xy=xy,  # type: ignore[arg-type]
        source=name,
    )
    _write(out, dst_path, encoding)
    info(f"{len(out)} heights {name} -> {dst_path} ({direction})")
