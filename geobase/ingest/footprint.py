"""Valid-data footprints: a boolean grid (mask or occupancy) -> polygons in EPSG:4490."""

from __future__ import annotations

import logging

import numpy as np
import shapely
from affine import Affine
from pyproj import CRS
from rasterio import features

from geobase.errors import UnsupportedInput
from geobase.geodesy.transform import check_coordinates, get_transformer

logger = logging.getLogger(__name__)

CGCS2000 = CRS.from_epsg(4490)


def polygonize(valid: np.ndarray, transform: Affine, *, simplify_px: float = 0.5):
    """The union of the cells where ``valid`` is true, in the grid's CRS.

    Args:
        valid: 2-D boolean (or 0/1) array.
        transform: the grid's affine transform.
        simplify_px: simplification tolerance in cells (0: none). Half a cell keeps the
            area within a fraction of a cell per boundary cell and removes the stair steps'
            redundant vertices.

    Returns:
        A (Multi)Polygon, empty when nothing is valid.
    """
    data = np.ascontiguousarray(valid, dtype=np.uint8)
    shapes = [
        shapely.geometry.shape(geom)
        for geom, value in features.shapes(data, mask=data.astype(bool), transform=transform)
        if value
    ]
    if not shapes:
        return shapely.MultiPolygon()
    merged = shapely.union_all(shapes)
    if simplify_px > 0:
        cell = max(abs(transform.a), abs(transform.e), abs(transform.b), abs(transform.d))
        merged = shapely.simplify(merged, cell * simplify_px, preserve_topology=True)
    return shapely.make_valid(merged) if not merged.is_valid else merged


def _transformer(crs: CRS):
    return get_transformer(crs, CGCS2000)


def to_cgcs2000(geom, crs: CRS, *, densify: float | None = None):
    """Reproject a footprint to EPSG:4490 as a MultiPolygon, densifying edges first.

    Args:
        geom: polygon(s) in ``crs``.
        crs: the data's CRS.
        densify: longest edge before reprojection, in CRS units (default: 1/50 of the
            larger side of the bounds), so that straight edges follow the curved image of
            a projected grid.

    Raises:
        AxisOrderError, ZonePrefixError, OutsideZoneError, InvalidCoordinates: the
            footprint is implausible in a Gauss-Kruger ``crs`` (swapped axes, wrong zone
            prefix, outside the zone).
        BallparkTransformation: ``crs`` is on a legacy datum PROJ cannot convert.
        UnsupportedInput: the footprint does not map into valid geographic coordinates.
    """
    if geom.is_empty:
        return shapely.MultiPolygon()
    if densify is None:
        minx, miny, maxx, maxy = geom.bounds
        densify = max(maxx - minx, maxy - miny) / 50 or 1.0
    dense = shapely.segmentize(geom, densify)
    if crs.is_geographic:
        minx, miny, maxx, maxy = geom.bounds
        if not (-180 <= minx <= maxx <= 360 and -90 <= miny <= maxy <= 90):
            raise UnsupportedInput(
                f"coordinates ({minx:.6g}, {miny:.6g}) .. ({maxx:.6g}, {maxy:.6g}) are out of "
                f"range for the geographic CRS {crs.name}; likely projected coordinates with "
                "a missing or wrong CRS"
            )
    coords = shapely.get_coordinates(dense)
    if crs.is_projected:
        # the one guard of geodesy: swapped axes, zone prefixes, points outside the zone
        check_coordinates(coords[:, 0], coords[:, 1], crs, names=("x", "y"))
    transformer = _transformer(crs)
    x, y = transformer.transform(coords[:, 0], coords[:, 1])
    out = shapely.set_coordinates(dense, np.column_stack([x, y]))
    lonlat = shapely.get_coordinates(out)
    if not np.all(np.isfinite(lonlat)) or np.abs(lonlat[:, 1]).max() > 90:
        raise UnsupportedInput(
            f"footprint does not project into CGCS2000 longitude/latitude from {crs.name}; "
            "likely a wrong CRS"
        )
    if not out.is_valid:
        out = shapely.make_valid(out)
    return as_multipolygon(out)


def as_multipolygon(geom) -> shapely.MultiPolygon:
    """The polygonal parts of a geometry as one MultiPolygon."""
    if geom.is_empty:
        return shapely.MultiPolygon()
    if geom.geom_type == "Polygon":
        return shapely.MultiPolygon([geom])
    if geom.geom_type == "MultiPolygon":
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    polys = []
    for part in parts:
        polys += list(shapely.get_parts(part))
    return shapely.MultiPolygon(polys)
