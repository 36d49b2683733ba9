"""What sheets covering an area share, national or rectangular: the area in the grid's
CRS, the sheets that meet it, and the limit on how many are tried."""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geobase.errors import InvalidCoordinates, SheetGridTooLarge, UnknownCRS


def _crs(crs: Any):
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        return CRS.from_user_input(crs)
    except CRSError as exc:
        raise UnknownCRS(f"CRS {crs!r} is not understood: {exc}") from None


def require_gk_crs(crs: Any):
    """``crs`` as a pyproj CRS, checked to be a Gauss-Kruger (transverse Mercator) system.

    Raises:
        UnknownCRS: not understood, or not a transverse Mercator projection.

    Example:
        >>> require_gk_crs("EPSG:4548").name
        'CGCS2000 / 3-degree Gauss-Kruger CM 117E'
    """
    result = _crs(crs)
    operation = result.coordinate_operation
    if (
        not result.is_projected
        or operation is None
        or "transverse mercator" not in operation.method_name.lower()
    ):
        raise UnknownCRS(
            f"{result.to_string()} ({result.name}) is not a Gauss-Kruger (transverse Mercator) "
            "system; rectangular sheets need one, e.g. EPSG:4548"
        )
    return result


def _area(geometry: Any, crs: Any, target: Any, densify_m: float) -> BaseGeometry:
    """One shapely geometry in ``target``; GeoSeries/GeoDataFrames carry their CRS."""
    source = None
    if hasattr(geometry, "geometry") and hasattr(geometry, "crs"):  # GeoDataFrame/GeoSeries
        if geometry.crs is None:
            raise UnknownCRS(
                "the area has no CRS; set one (e.g. EPSG:4490) before asking for sheets"
            )
        source = geometry.crs
        geoms = np.asarray(geometry.geometry.values if hasattr(geometry, "geometry") else geometry)
        geoms = geoms[~shapely.is_missing(geoms)]
        geometry = shapely.union_all(shapely.make_valid(geoms)) if len(geoms) else shapely.Polygon()
    elif isinstance(geometry, shapely.Geometry):
        source = _crs(crs)
    else:
        raise InvalidCoordinates(
            f"area must be a shapely geometry, GeoSeries or GeoDataFrame, got {type(geometry).__name__}"
        )
    if geometry.is_empty:
        raise InvalidCoordinates("the area is empty; nothing to cover with sheets")
    if not shapely.is_valid(geometry):
        geometry = shapely.make_valid(geometry)
    source = _crs(source)
    if source == target:
        return geometry
    from pyproj import Transformer

    step = densify_m / 111_000 if source.is_geographic else densify_m
    geometry = shapely.segmentize(geometry, step)
    transformer = Transformer.from_crs(source, target, always_xy=True)

    def project(xy: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    result = shapely.transform(geometry, project)
    coords = shapely.get_coordinates(result)
    if not np.isfinite(coords).all():
        raise InvalidCoordinates(
            f"the area does not project from {source.to_string()} to {target.to_string()} (outside its domain?)"
        )
    return result


def _meeting(area: BaseGeometry, boxes: np.ndarray) -> np.ndarray:
    """Mask of boxes sharing area with a polygonal area, or meeting a point/line area."""
    shapely.prepare(area)
    hit = shapely.intersects(area, boxes)
    if shapely.get_dimensions(area) < 2:
        return hit
    idx = np.flatnonzero(hit)
    inner = shapely.contains_properly(area, boxes[idx])
    edge = idx[~inner]
    hit[edge] = ~shapely.touches(area, boxes[edge])
    return hit


def _check_count(count: int, max_sheets: int, label: str) -> None:
    if count > max_sheets:
        raise SheetGridTooLarge(
            f"the area's extent spans {count:,} candidate {label} sheets, more than the limit "
            f"{max_sheets:,}; use a smaller area or scale, or raise max_sheets"
        )
