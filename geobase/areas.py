"""Areas read from vector files: the one place that opens a user's polygon file.

District boundaries, search polygons, sheet-grid areas and emergency areas of interest
all come from files GDAL reads, in any CRS; this module refuses the same bad files the
same way everywhere.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geobase.errors import EmptyInputError, GeometryError, SourceReadError, ValidationError

DENSIFY_M = 50.0  # vertex spacing (m) when reprojecting projected polygons to lon/lat


@contextlib.contextmanager
def deferred_warnings() -> Iterator[None]:
    """Hold the warnings of a read (GDAL's, on a damaged file, come before the error that
    says it cannot be read) and issue them only if the read succeeds: a refused file is
    reported in one line, a file read with warnings keeps them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def read_vector(path: str | Path, what: str = "vector file") -> gpd.GeoDataFrame:
    """Read a vector file GDAL understands, refusing what cannot be placed on the map.

    Args:
        path: the file (GeoJSON, GeoPackage, Shapefile, ...).
        what: what the file is, for messages ("area file", "boundary file").

    Raises:
        SourceReadError: missing or unreadable file.
        EmptyInputError: an empty file, or one without geometries.
        ValidationError: the file has no CRS.
        GeometryError: a feature without a geometry, with non-finite coordinates or an
            invalid geometry (see :func:`check_geometries`).
    """
    path = Path(path)
    if not path.exists():
        raise SourceReadError(f"{what} {path}: no such file")
    if path.is_file() and path.stat().st_size == 0:
        raise EmptyInputError(f"{what} {path} is empty")
    try:
        with deferred_warnings():
            frame = gpd.read_file(path)
    except Exception as exc:  # GDAL raises many kinds; all mean "cannot read"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SourceReadError(f"{what} {path} cannot be read as a vector file ({reason})") from exc
    if (
        frame.empty
        or "geometry" not in frame
        or frame.geometry.isna().all()
        or frame.geometry.is_empty.all()
    ):
        raise EmptyInputError(f"{what} {path} holds no geometries")
    if frame.crs is None:
        raise ValidationError(f"{what} {path} has no CRS; add a .prj or save it with its CRS")
    check_geometries(frame.geometry.values, f"{what} {path}")
    return frame


def check_geometries(
    geoms,
    what: str,
    *,
    start: int = 0,
    allow_missing: bool = False,
    allow_invalid: bool = False,
) -> None:
    """Refuse geometries with non-finite coordinates and, unless allowed, invalid ones
    (self-intersecting rings, too few points) and missing or empty ones.

    Args:
        geoms: an array of shapely geometries (None for a missing one).
        what: the file or input, for the message.
        start: the index of ``geoms[0]`` in the file (features are numbered from 1).
        allow_missing: skip features without a geometry instead of refusing them.
        allow_invalid: pass invalid geometries (a conversion keeps them as they are).

    Raises:
        GeometryError: naming the first bad feature, its problem and how many are bad.
    """
    geoms = np.asarray(geoms, dtype=object)
    if not len(geoms):
        return
    bad: dict[int, str] = {}
    coords, index = shapely.get_coordinates(geoms, include_z=True, return_index=True)
    # x and y must be finite; z finite or absent (shapely reports no z as NaN)
    nonfinite = ~np.isfinite(coords[:, :2]).all(axis=1) | np.isinf(coords[:, 2])
    for i in np.unique(index[nonfinite]).tolist():
        bad[i] = "coordinates that are not finite numbers (NaN or Infinity)"
    absent = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if not allow_missing:
        for i in np.flatnonzero(absent).tolist():
            bad.setdefault(i, "no geometry (missing or empty)")
    check = ~absent & (not allow_invalid)
    check[list(bad)] = False
    invalid = np.flatnonzero(check)[~shapely.is_valid(geoms[check])]
    for i in invalid.tolist():
        bad.setdefault(i, f"an invalid geometry ({shapely.is_valid_reason(geoms[i])})")
    if bad:
        first = min(bad)
        more = f" ({len(bad) - 1} more bad features)" if len(bad) > 1 else ""
        raise GeometryError(
            f"{what}: feature {start + first + 1} has {bad[first]}{more}; repair the file "
            "(for example QGIS 'Fix geometries') and retry"
        )


def to_cgcs2000(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Reproject to EPSG:4490, densifying projected edges first (they curve in lon/lat)."""
    if frame.crs is None:
        raise ValidationError(
            "the polygons have no CRS; state it in the file (a .prj or GeoPackage)"
        )
    if not frame.crs.is_geographic:
        frame = frame.set_geometry(frame.geometry.segmentize(DENSIFY_M))
    return frame.to_crs(4490)


def read_polygon(path: str | Path, what: str = "area file") -> BaseGeometry:
    """The union of a file's polygons, in EPSG:4490 (other geometries are ignored).

    Raises:
        SourceReadError, EmptyInputError: see :func:`read_vector`.
        ValidationError: no CRS, or no polygon in the file.
    """
    frame = read_vector(path, what)
    frame = frame[frame.geom_type.isin(["Polygon", "MultiPolygon"])]
    if frame.empty:
        raise ValidationError(f"{what} {path} holds no polygon")
    return shapely.make_valid(shapely.union_all(to_cgcs2000(frame).geometry.values))
