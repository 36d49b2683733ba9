"""Where a defect is: geometries in a file's CRS made into CGCS2000 lon/lat, and cells
of a grid made into polygons."""

from __future__ import annotations

import numpy as np
import shapely
import shapely.affinity
from affine import Affine
from pyproj import CRS
from rasterio import features
from shapely.geometry.base import BaseGeometry

from geobase.geodesy.transform import get_transformer

LONLAT = CRS.from_epsg(4490)


def to_lonlat(geom: BaseGeometry, crs: CRS, target: CRS = LONLAT) -> BaseGeometry:
    """A geometry in ``crs`` as EPSG:4490 (lon, lat) (or ``target``), long edges
    densified first.

    A legacy datum without a published transformation is placed with PROJ's ballpark
    one: a defect's place needs metres, not millimetres.
    """
    if crs.equals(target, ignore_axis_order=True):
        return geom
    xmin, ymin, xmax, ymax = geom.bounds
    span = max(xmax - xmin, ymax - ymin)
    if span > 0 and shapely.get_type_id(geom) not in (0, 4):
        geom = shapely.segmentize(geom, span / 20)
    tr = get_transformer(crs, target, allow_ballpark=True)

    def _xy(coords: np.ndarray) -> np.ndarray:
        x, y = tr.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, _xy)


def cells_to_polygons(
    mask: np.ndarray, transform: Affine, min_area: float = 0.0
) -> list[BaseGeometry]:
    """The connected regions (4-connected) of a boolean grid as polygons in the grid's CRS,
    those of at least ``min_area`` (CRS units squared), largest first."""
    data = np.ascontiguousarray(mask, dtype=np.uint8)
    if not data.any():
        return []
    polys = [
        shapely.geometry.shape(g)
        for g, v in features.shapes(data, mask=data.astype(bool), transform=transform)
        if v
    ]
    polys = [p for p in polys if p.area >= min_area]
    polys.sort(key=lambda p: -p.area)
    return polys


def enclosed(invalid: np.ndarray, transform: Affine, min_area: float = 0.0) -> list[BaseGeometry]:
    """The regions of ``invalid`` that do not touch the grid's border (holes inside the
    data, not the no-data around it), as polygons in the grid's CRS of at least
    ``min_area``, largest first."""
    data = np.ascontiguousarray(invalid, dtype=np.uint8)
    if not data.any():
        return []
    rows, cols = data.shape
    out = []
    for geom, value in features.shapes(data, mask=data.astype(bool)):
        if not value:
            continue
        x0, y0, x1, y1 = shapely.geometry.shape(geom).bounds  # pixel space
        if x0 <= 0 or y0 <= 0 or x1 >= cols or y1 >= rows:
            continue
        poly = shapely.affinity.affine_transform(
            shapely.geometry.shape(geom),
            [transform.a, transform.b, transform.d, transform.e, transform.c, transform.f],
        )
        if poly.area >= min_area:
            out.append(poly)
    out.sort(key=lambda p: -p.area)
    return out
