"""Transforming the files surveyors exchange: CSV point tables and vector files.

CSV coordinate columns, matched without case:

- ``lon,lat`` (also lng/longitude/latitude, 经度/纬度, 大地经度/大地纬度) for geographic CRSs
  and ``east,north`` (also easting/northing, 东坐标/北坐标, 横坐标/纵坐标) for projected ones
  are unambiguous;
- ``x,y`` (also x坐标/y坐标) follow the surveying convention (x = north, y = east) for
  Gauss-Kruger systems and the GIS one (x = east) otherwise; ``xy="gis"|"survey"``
  overrides.

Table functions keep every column: results go into the target's coordinate columns
(``lon,lat``, ``east,north`` or ``x,y`` when the input used ``x,y``), replacing columns of
that name and appended otherwise. Vector files are streamed record by record through fiona
with one reused ``always_xy`` transformer, into a temporary file beside the destination
that is renamed at the end, so a failure leaves nothing behind.

Example:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"id": ["A"], "lon": ["116.682"], "lat": ["23.354"]})
    >>> out = transform_table(frame, "EPSG:4490", "EPSG:4548")
    >>> out.loc[0, "east"], out.loc[0, "north"]
    ('467483.3555', '2583777.6078')
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TextIO

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pyproj import CRS

from geobase.areas import check_geometries
from geobase.errors import (
    AxisOrderError,
    EmptyInputError,
    GeobaseError,
    OutputExistsError,
    SourceReadError,
    ValidationError,
)
from geobase.geodesy.transform import CRSLike, check_coordinates, get_transformer
from geobase.geodesy.zones import crs_label, gk_system_of, resolve_crs
from geobase.paths import atomic_output

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


# --- vector files ----------------------------------------------------------------------


class _FeatureLabels(Sequence[str]):
    """``feature N`` for each coordinate of a batch, built only when a message needs one."""

    def __init__(self, index: NDArray[np.intp], first: int) -> None:
        self._index, self._first = index, first

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, i):
        return f"feature {self._first + int(self._index[i]) + 1}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).split(". Failed to write record")[0]
    return text.splitlines()[0] if text else type(exc).__name__


def _file_crs(collection: Any) -> CRS | None:
    wkt = collection.crs_wkt
    return resolve_crs(CRS.from_wkt(wkt)) if wkt else None


class _Layer(NamedTuple):
    name: str
    features: int
    crs: CRS | None


def _open_layers(path: Path, layer: str | None, driver: str) -> list[_Layer]:
    import fiona

    if not path.exists():
        raise SourceReadError(f"{path}: no such file")
    try:
        names = fiona.listlayers(path)
        layers = []
        for name in [layer] if layer is not None else names:
            if name not in names:
                raise ValidationError(f"{path}: no layer {name!r}; layers: {', '.join(names)}")
            with fiona.open(path, layer=name) as collection:
                layers.append(_Layer(name, len(collection), _file_crs(collection)))
    except GeobaseError:
        raise
    except Exception as exc:  # fiona's DriverError and GDAL's errors
        raise SourceReadError(
            f"{path}: cannot be read as a vector file ({_first_line(exc)})"
        ) from exc
    if len(layers) > 1 and driver != "GPKG":
        raise ValidationError(
            f"{path} holds {len(layers)} layers ({', '.join(names)}) and a {driver} file holds "
            "one; write to a .gpkg file or name the layer"
        )
    if not any(item.features for item in layers):
        raise EmptyInputError(f"{path}: no features")
    return layers


def _batches(collection: Any, size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for feature in collection:
        batch.append(feature)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# (geometries, a label per coordinate, layer name) -> geometries
Convert = Callable[[NDArray[np.object_], Sequence[str], str], NDArray[np.object_]]


def _stream(
    src_path: Path,
    dst_path: Path,
    layers: list[_Layer],
    dst_crs: CRS | None,
    convert: Convert,
    *,
    overwrite: bool,
    batch_size: int,
) -> int:
    """Copy layers feature by feature with converted geometries; returns the count."""
    import fiona
    import shapely
    from shapely.geometry import mapping, shape

    if dst_path.exists() and not overwrite:
        raise OutputExistsError(f"{dst_path} exists; pass --overwrite to replace it")
    driver = VECTOR_DRIVERS[dst_path.suffix.lower()]
    crs_wkt = dst_crs.to_wkt() if dst_crs is not None else None
    count = 0
    with atomic_output(dst_path) as tmp:  # a shapefile's parts move together
        for item in layers:
            with fiona.open(src_path, layer=item.name) as src:
                options: dict[str, Any] = {"driver": driver, "schema": src.schema}
                if crs_wkt is not None:
                    options["crs_wkt"] = crs_wkt
                if driver == "ESRI Shapefile":
                    options["encoding"] = "utf-8"
                else:
                    options["layer"] = item.name if len(layers) > 1 else dst_path.stem
                try:
                    dst = fiona.open(tmp, "w", **options)
                except Exception as exc:
                    raise _write_error(dst_path, driver, exc) from exc
                with dst:
                    for batch in _batches(src, batch_size):
                        with warnings.catch_warnings():
                            # NaN coordinates warn while built; check_geometries refuses them
                            warnings.filterwarnings("ignore", "invalid value", RuntimeWarning)
                            geoms = np.array(
                                [None if f.geometry is None else shape(f.geometry) for f in batch],
                                dtype=object,
                            )
                        check_geometries(
                            geoms,
                            f"{src_path} layer {item.name!r}",
                            start=count,
                            allow_missing=True,
                            allow_invalid=True,
                        )
                        index = shapely.get_coordinates(geoms, return_index=True)[1]
                        out = convert(geoms, _FeatureLabels(index, count), item.name)
                        features = [
                            fiona.Feature(
                                geometry=None
                                if g is None
                                else fiona.Geometry.from_dict(mapping(g)),
                                id=f.id,
                                properties=f.properties,
                            )
                            for f, g in zip(batch, out, strict=True)
                        ]
                        try:
                            dst.writerecords(features)
                        except Exception as exc:
                            raise _write_error(dst_path, driver, exc) from exc
                        count += len(batch)
    return count


def _write_error(path: Path, driver: str, exc: BaseException) -> ValidationError:
    return ValidationError(f"{path}: cannot be written as {driver} ({_first_line(exc)})")


def transform_vector_file(
    src_path: str | Path,
    dst_path: str | Path,
    dst_crs: CRSLike,
    *,
    src_crs: CRSLike | None = None,
    layer: str | None = None,
    check: bool = True,
    allow_ballpark: bool = False,
    overwrite: bool = False,
    batch_size: int = BATCH_SIZE,
    notify: Notify | None = None,
) -> int:
    """Reproject a GeoJSON, GeoPackage or shapefile, streaming it record by record.

    The destination gets the source's schema and attributes and the target CRS; Z values
    are kept. It is written beside the destination under a temporary name and renamed
    when complete (every part of a shapefile), so a failure leaves nothing.

    Args:
        src_path: The input file.
        dst_path: The output file; its suffix chooses the format.
        dst_crs: Target CRS.
        src_crs: CRS of the input, overriding the one the file declares (``notify`` is
            told when they differ); required when the file declares none.
        layer: The layer to transform; default: every layer (a GeoPackage output holds
            them all, other formats need a single-layer input).
        check: Check coordinates for swapped axes, zone prefixes and out-of-range values.
        allow_ballpark: See :func:`geobase.geodesy.get_transformer`.
        overwrite: Replace an existing output.
        batch_size: Records transformed and written at a time.
        notify: Called with one-line notes for the user.

    Returns:
        The number of features written.

    Raises:
        SourceReadError: the input is missing or not a readable vector file.
        EmptyInputError: the input holds no features.
        ValidationError: no CRS, several layers to a single-layer format, an unsupported
            suffix, or an output the driver cannot hold (e.g. mixed geometry types in a
            shapefile).
        OutputExistsError: the output exists and ``overwrite`` is False.
        InvalidCoordinates, UnknownCRS, BallparkTransformation: see
            :func:`geobase.geodesy.transform`.

    Example:
        >>> transform_vector_file("marks.gpkg", "marks_gk.shp", "EPSG:4548")  # doctest: +SKIP
        12
    """
    src_path, dst_path = Path(src_path), Path(dst_path)
    if io_kind(src_path, dst_path) != "vector":
        raise ValidationError(f"{src_path}: not a vector file; expected .geojson, .gpkg or .shp")
    target = resolve_crs(dst_crs)
    driver = VECTOR_DRIVERS[dst_path.suffix.lower()]
    layers = _open_layers(src_path, layer, driver)
    given = resolve_crs(src_crs) if src_crs is not None else None
    sources = {}
    for item in layers:
        if given is not None:
            if item.crs is not None and not item.crs.equals(given) and notify is not None:
                notify(
                    f"{src_path} declares {crs_label(item.crs)}; using --from {src_crs} as "
                    "requested"
                )
            sources[item.name] = given
        elif item.crs is None:
            raise ValidationError(f"{src_path}: the file has no CRS; pass --from")
        else:
            sources[item.name] = item.crs

    def convert(
        geoms: NDArray[np.object_], labels: Sequence[str], layer_name: str
    ) -> NDArray[np.object_]:
        import shapely

        source = sources[layer_name]
        if check:
            coords = shapely.get_coordinates(geoms)
            if len(coords):
                check_coordinates(coords[:, 0], coords[:, 1], source, labels=labels)
        transformer = get_transformer(source, target, allow_ballpark=allow_ballpark)

        def fn(x, y, z=None):
            return transformer.transform(x, y) if z is None else transformer.transform(x, y, z)

        # the stubs know neither include_z=None (keep Z where present) nor the
        # three-argument function of interleaved=False
        return shapely.transform(  # type: ignore[call-overload]
            geoms, fn, include_z=None, interleaved=False
        )

    for item in layers:  # fail on a ballpark or unknown transformation before writing
        get_transformer(sources[item.name], target, allow_ballpark=allow_ballpark)
    return _stream(
        src_path, dst_path, layers, target, convert, overwrite=overwrite, batch_size=batch_size
    )


def apply_vector_file(
    params: TransformParameters,
    src_path: str | Path,
    dst_path: str | Path,
    *,
    layer: str | None = None,
    check: bool = True,
    overwrite: bool = False,
    batch_size: int = BATCH_SIZE,
    notify: Notify | None = None,
) -> int:
    """Apply fitted parameters to a vector file, streaming it record by record.

    Plane models (4p, affine, poly2) pass Z values through; 7p transforms them as
    ellipsoidal heights. The output gets the parameters' target CRS (none for ``local``)
    and is written like :func:`transform_vector_file` does. Parameters that do not name
    both CRSs are refused (ParameterFileError). Every vertex goes through the checks of
    :func:`geobase.geodesy.apply` (as a CSV's points do), batch by batch: the source CRS's
    guard, the target zone, and one note for the vertices outside the common points' hull.

    Args:
        params: Parameters from :func:`geobase.geodesy.fit` or ``read_parameters``.
        src_path: The input file.
        dst_path: The output file; its suffix chooses the format.
        layer: The layer to transform (default: every layer; see
            :func:`transform_vector_file`).
        check: Check coordinates against the parameters' source CRS and the results
            against a Gauss-Kruger target's zone, where they name them.
        overwrite: Replace an existing output.
        batch_size: Records transformed and written at a time.
        notify: Told (one line, once the file is written) about vertices outside the
            common points' hull (see :func:`geobase.geodesy.apply`).

    Returns:
        The number of features written.

    Raises:
        ValidationError: the file declares another CRS than the parameters' source, or
            see :func:`transform_vector_file`.
        OutsideZoneError: a vertex lands outside a Gauss-Kruger target's zone.
        SourceReadError, EmptyInputError, OutputExistsError, InvalidCoordinates: see
            :func:`transform_vector_file`.
    """
    import shapely

    from geobase.geodesy.fit import HullCheck, apply, check_apply_input, check_apply_output
    from geobase.geodesy.paramfiles import declared_crs, with_crs

    src_path, dst_path = Path(src_path), Path(dst_path)
    if io_kind(src_path, dst_path) != "vector":
        raise ValidationError(f"{src_path}: not a vector file; expected .geojson, .gpkg or .shp")
    params = with_crs(params)
    src_crs, dst_crs = declared_crs(params.src_crs), declared_crs(params.dst_crs)
    driver = VECTOR_DRIVERS[dst_path.suffix.lower()]
    layers = _open_layers(src_path, layer, driver)
    for item in layers:
        if src_crs is not None and item.crs is not None and not item.crs.equals(src_crs):
            raise ValidationError(
                f"{src_path} is in {crs_label(item.crs)} but the parameters are for "
                f"{crs_label(src_crs)}"
            )

    def fn(x, y, z=None):
        out = apply(params, x, y, z if params.model == "7p" else None, check=False)
        return out if z is None or len(out) == 3 else (*out, z)

    hull = HullCheck(params)

    def convert(
        geoms: NDArray[np.object_], labels: Sequence[str], layer_name: str
    ) -> NDArray[np.object_]:
        coords = shapely.get_coordinates(geoms)
        if not len(coords):
            return geoms
        if check:
            check_apply_input(params, coords[:, 0], coords[:, 1], labels)
        hull.add(coords[:, 0], coords[:, 1], labels)
        out = shapely.transform(  # type: ignore[call-overload]  # as in _transform_layer
            geoms, fn, include_z=None, interleaved=False
        )
        if check:
            moved = shapely.get_coordinates(out)  # the same vertices in the same order
            check_apply_output(params, moved[:, 0], moved[:, 1], labels)
        return out

    count = _stream(
        src_path, dst_path, layers, dst_crs, convert, overwrite=overwrite, batch_size=batch_size
    )
    note = hull.note()
    if note is not None and notify is not None:
        notify(f"{src_path}: {note}")
    return count
