"""Transforming CSV point tables, and the file kinds and coordinate columns of every file.

What :mod:`geobase.geodesy.files` says of CSV coordinate columns lives here: the column
names matched without case (:data:`LON_NAMES` and friends), :func:`coordinate_columns`
choosing them, and :func:`transform_table`, :func:`apply_table` and
:func:`convert_heights_table` writing results into the target's columns. Also the file
kinds (:func:`file_kind`, :data:`VECTOR_DRIVERS`) and batch size the vector files
(:mod:`geobase.geodesy.vectorfiles`) share.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple, TextIO

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from geobase.errors import (
    AxisOrderError,
    SourceReadError,
    ValidationError,
)
from geobase.geodesy.transform import CRSLike, check_coordinates
from geobase.geodesy.zones import gk_system_of, resolve_crs

if TYPE_CHECKING:
    from geobase.geodesy.fit import TransformParameters
    from geobase.geodesy.heights import HeightAnomalyGrid

XY = Literal["gis", "survey"]
Kind = Literal["csv", "vector"]
Notify = Callable[[str], None]

CSV_SUFFIXES = (".csv", ".txt")
#: Vector file suffix -> OGR driver.
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

BATCH_SIZE = 2000


# --- CSV tables ------------------------------------------------------------------------


def file_kind(path: str | Path, role: str = "input") -> Kind:
    """Whether a path names a CSV (``-``: stdin/stdout) or a vector file, by its suffix.

    Raises:
        ValidationError: any other suffix.
    """
    if str(path) == "-":
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


def io_kind(src_path: str | Path, dst_path: str | Path) -> Kind:
    """The common kind of an input and an output path (see :func:`file_kind`).

    Raises:
        ValidationError: an unsupported suffix, or a CSV paired with a vector file.
    """
    in_kind, out_kind = file_kind(src_path, "input"), file_kind(dst_path, "output")
    if in_kind != out_kind:
        raise ValidationError(
            f"{src_path} -> {dst_path}: CSV goes to CSV and vector files to vector files"
        )
    return in_kind


def read_table(source: str | Path | bytes, *, name: str = "stdin") -> pd.DataFrame:
    """Read a CSV file, or CSV bytes (stdin), with :func:`geobase.tabular.read_csv`.

    Args:
        source: A path, or the bytes of a CSV file.
        name: What to call bytes in messages.

    Raises:
        SourceReadError, EmptyInputError: see :func:`geobase.tabular.read_csv`.
    """
    from geobase.tabular import read_csv

    if not isinstance(source, bytes):
        return read_csv(source)
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "stdin.csv"
        file.write_bytes(source)
        try:
            return read_csv(file)
        except SourceReadError as exc:
            raise type(exc)(str(exc).replace(str(file), name)) from None


def write_table(
    frame: pd.DataFrame, target: str | Path | TextIO, encoding: str | None = None
) -> None:
    """Write a table as CSV to a path or a text stream (:func:`geobase.tabular.write_csv`).

    Args:
        frame: The table.
        target: A path, or an open text stream (stdout).
        encoding: None (the policy's default: UTF-8 with BOM for a file, plain UTF-8
            for a stream), ``same`` (the input's, from ``frame.attrs["encoding"]``),
            ``utf-8``, ``utf-8-sig`` or ``gbk`` (strict: a character GBK lacks is refused).

    Raises:
        UnencodableText: a value holds a character the encoding cannot write.
    """
    from geobase.tabular import write_csv

    if encoding == "same":
        encoding = frame.attrs.get("encoding") or "utf-8"
    write_csv(frame, target, encoding=encoding)


class Columns(NamedTuple):
    """Which columns of a table hold a point's east and north (or lon and lat).

    Attributes:
        east: Column of eastings (longitudes).
        north: Column of northings (latitudes).
        naming: ``lonlat``, ``eastnorth`` or ``xy``.
        xy: ``gis`` or ``survey`` for x,y naming, else None.
    """

    east: str
    north: str
    naming: str
    xy: str | None = None


def find_column(frame: pd.DataFrame, names: Sequence[str]) -> str | None:
    """The first column whose stripped, lower-cased name is one of ``names``."""
    lookup = {str(c).strip().lower(): c for c in frame.columns}
    for name in names:
        if name in lookup:
            return lookup[name]
    return None


def _is_gk(crs: CRSLike | None) -> bool:
    return crs is None or gk_system_of(resolve_crs(crs)) is not None


def coordinate_columns(
    frame: pd.DataFrame,
    crs: CRSLike | None = None,
    xy: XY | None = None,
    *,
    geographic: bool | None = None,
    source: str = "table",
) -> Columns:
    """The columns holding a table's coordinates in a CRS.

    Args:
        frame: The table.
        crs: The coordinates' CRS; None for a local grid (x,y read as surveying x,y).
        xy: How ``x,y`` columns are read: ``survey`` (x = north) or ``gis`` (x = east).
            Default: survey for Gauss-Kruger systems and local grids, gis otherwise.
        geographic: Whether lon,lat columns are wanted (default: whether ``crs`` is
            geographic).
        source: Name of the table in messages.

    Returns:
        The matching :class:`Columns`.

    Raises:
        ValidationError: no suitable pair of columns.
    """
    if geographic is None:
        geographic = crs is not None and resolve_crs(crs).is_geographic
    if geographic:
        lon, lat = find_column(frame, LON_NAMES), find_column(frame, LAT_NAMES)
        if lon is not None and lat is not None:
            return Columns(lon, lat, "lonlat")
    else:
        east, north = find_column(frame, EAST_NAMES), find_column(frame, NORTH_NAMES)
        if east is not None and north is not None:
            return Columns(east, north, "eastnorth")
    x, y = find_column(frame, X_NAMES), find_column(frame, Y_NAMES)
    if x is not None and y is not None:
        mode = xy or ("survey" if _is_gk(crs) else "gis")
        if mode == "survey":
            return Columns(y, x, "xy", mode)
        return Columns(x, y, "xy", mode)
    expected = "lon,lat" if geographic else "east,north"
    kind = "geographic" if geographic else "projected"
    raise ValidationError(
        f"{source}: no coordinate columns for a {kind} CRS: expected {expected} or x,y; found "
        f"{', '.join(map(str, frame.columns))} (is --from right?)"
    )


def row_labels(frame: pd.DataFrame) -> list[str]:
    """``line N`` (file lines, from ``frame.attrs["lines"]``) or ``row N`` per row."""
    lines = frame.attrs.get("lines")
    if lines is None or len(lines) != len(frame):
        return [f"row {i + 1}" for i in range(len(frame))]
    return [f"line {n}" for n in lines]


def column_values(frame: pd.DataFrame, column: str, source: str = "table") -> NDArray[np.float64]:
    """A column as float64, every value a finite number.

    Raises:
        ValidationError: a missing value or one that is not a number (first one named).
    """
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        value = raw.iloc[i]
        what = "no value" if value is None or value != value else f"{value!r} is not a number"
        raise ValidationError(
            f"{source}: {row_labels(frame)[i]}: column {column}: {what} "
            f"({int(bad.sum())} bad value(s))"
        )
    return values


def _set_column(frame: pd.DataFrame, name: str, values: NDArray[np.float64], decimals: int) -> None:
    existing = find_column(frame, (name.lower(),))
    frame[existing if existing is not None else name] = [
        f"{v:.{decimals}f}" for v in values.tolist()
    ]


def _output_columns(
    columns: Columns, geographic: bool, gauss_kruger: bool, xy: XY | None
) -> tuple[str, str, int]:
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


def transform_table(
    frame: pd.DataFrame,
    src: CRSLike,
    dst: CRSLike,
    *,
    xy: XY | None = None,
    check: bool = True,
    allow_ballpark: bool = False,
    source: str = "table",
) -> pd.DataFrame:
    """Reproject the points of a table, keeping every column.

    Args:
        frame: The table (strings or numbers), e.g. from :func:`read_table`.
        src: CRS of the table's coordinates.
        dst: Target CRS.
        xy: How ``x,y`` columns are read and written (see :func:`coordinate_columns`).
        check: Check the input for swapped axes, zone prefixes and out-of-range values.
        allow_ballpark: See :func:`geobase.geodesy.get_transformer`.
        source: Name of the table in messages.

    Returns:
        A copy with the target coordinates as text (9 decimals for degrees, 4 for metres).

    Raises:
        ValidationError: no coordinate columns, or values that are not numbers.
        InvalidCoordinates, AxisOrderError, ZonePrefixError: from the check or PROJ.
        UnknownCRS, BallparkTransformation: see :func:`geobase.geodesy.transform`.
    """
    from geobase.geodesy.transform import transform

    src_crs, dst_crs = resolve_crs(src), resolve_crs(dst)
    columns = coordinate_columns(frame, src_crs, xy, source=source)
    east = column_values(frame, columns.east, source)
    north = column_values(frame, columns.north, source)
    try:
        out_e, out_n = transform(
            east,
            north,
            src_crs,
            dst_crs,
            check=check,
            allow_ballpark=allow_ballpark,
            labels=row_labels(frame),
        )
    except AxisOrderError as exc:
        raise _xy_hint(exc, columns) from None
    e_name, n_name, decimals = _output_columns(columns, dst_crs.is_geographic, _is_gk(dst_crs), xy)
    out = frame.copy()
    _set_column(out, e_name, out_e, decimals)
    _set_column(out, n_name, out_n, decimals)
    return out


def apply_table(
    frame: pd.DataFrame,
    params: TransformParameters,
    *,
    xy: XY | None = None,
    check: bool = True,
    source: str = "table",
    notify: Notify | None = None,
) -> pd.DataFrame:
    """Apply fitted parameters to the points of a table, keeping every column.

    For a 7p model a column ``h`` (ellipsoidal height) is transformed too; without one
    heights are taken as 0 and none are written (``notify`` is told).

    Args:
        frame: The table.
        params: Parameters from :func:`geobase.geodesy.fit` or ``read_parameters``, naming
            both CRSs (see :func:`geobase.geodesy.paramfiles.with_crs`).
        xy: How ``x,y`` columns are read and written (see :func:`coordinate_columns`).
        check: Check the input against the parameters' source CRS (unless ``local``).
        source: Name of the table in messages.
        notify: Called with one-line notes for the user.

    Returns:
        A copy with the transformed coordinates as text.

    Raises:
        ParameterFileError: the parameters do not name both CRSs.
        ValidationError: no coordinate columns, or values that are not numbers.
        InvalidCoordinates, AxisOrderError: from the check or PROJ.
    """
    from geobase.geodesy.fit import apply
    from geobase.geodesy.paramfiles import declared_crs, with_crs

    params = with_crs(params)
    src_crs, dst_crs = declared_crs(params.src_crs), declared_crs(params.dst_crs)
    columns = coordinate_columns(
        frame, src_crs, xy, geographic=params.src_axes == "lon_lat", source=source
    )
    east = column_values(frame, columns.east, source)
    north = column_values(frame, columns.north, source)
    h_column = find_column(frame, ("h",)) if params.model == "7p" else None
    h = column_values(frame, h_column, source) if h_column is not None else None
    try:
        result = apply(params, east, north, h, check=check, labels=row_labels(frame), notify=notify)
    except AxisOrderError as exc:
        raise _xy_hint(exc, columns) from None
    e_name, n_name, decimals = _output_columns(
        columns, params.dst_axes == "lon_lat", _is_gk(dst_crs), xy
    )
    out = frame.copy()
    _set_column(out, e_name, result[0], decimals)
    _set_column(out, n_name, result[1], decimals)
    if h_column is not None:
        out[h_column] = [f"{v:.4f}" for v in result[2].tolist()]
    elif params.model == "7p" and notify is not None:
        notify("no h column: ellipsoidal heights taken as 0; output heights not written")
    return out


def convert_heights_table(
    frame: pd.DataFrame,
    grid: HeightAnomalyGrid,
    crs: CRSLike = "EPSG:4490",
    *,
    direction: Literal["normal", "ellipsoidal"] = "normal",
    h_col: str | None = None,
    out_col: str | None = None,
    xy: XY | None = None,
    source: str = "table",
) -> pd.DataFrame:
    """Convert a table's heights with a quasi-geoid grid, keeping every column.

    Args:
        frame: The table, with coordinates and a height column.
        grid: The height-anomaly grid.
        crs: CRS of the coordinates.
        direction: ``normal``: H = h - zeta; ``ellipsoidal``: h = H + zeta.
        h_col: Input height column (default ``h``, or ``H`` towards ellipsoidal).
        out_col: Output height column, appended (default ``H``, or ``h``).
        xy: How ``x,y`` columns are read (see :func:`coordinate_columns`).
        source: Name of the table in messages.

    Returns:
        A copy with the converted heights (4 decimals) in a new column.

    Raises:
        ValidationError: no such height column, the output column exists, no coordinate
            columns or values that are not numbers.
        InvalidCoordinates, AxisOrderError, OutsideGridError: implausible coordinates or
            points outside the grid.
    """
    crs_ = resolve_crs(crs)
    in_name = h_col or ("h" if direction == "normal" else "H")
    out_name = out_col or ("H" if direction == "normal" else "h")
    if in_name not in frame.columns:
        raise ValidationError(
            f"{source}: no height column {in_name!r}; found "
            f"{', '.join(map(str, frame.columns))} (name it with --h-col)"
        )
    if out_name in frame.columns:
        raise ValidationError(
            f"{source}: already has a column {out_name!r}; name the output with --out-col"
        )
    columns = coordinate_columns(frame, crs_, xy, source=source)
    east = column_values(frame, columns.east, source)
    north = column_values(frame, columns.north, source)
    values = column_values(frame, in_name, source)
    labels = row_labels(frame)
    try:
        check_coordinates(east, north, crs_, labels=labels)
    except AxisOrderError as exc:
        raise _xy_hint(exc, columns) from None
    convert = grid.to_normal if direction == "normal" else grid.to_ellipsoidal
    result = convert(east, north, values, crs_, labels=labels)
    out = frame.copy()
    out[out_name] = [f"{v:.4f}" for v in np.asarray(result).tolist()]
    return out
