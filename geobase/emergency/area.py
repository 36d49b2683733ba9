"""The area of interest of an emergency package: a polygon, a bounding box or a point
with a radius, in CGCS2000 geographic coordinates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geobase.areas import read_polygon
from geobase.errors import (
    AreaOfInterestError,
    InvalidCoordinates,
    SourceReadError,
    ValidationError,
)
from geobase.geodesy.constants import CGCS2000
from geobase.geodesy.lonlat import check_bbox, check_lonlat, parse_numbers

GEOD = CGCS2000.geod()
MAX_RADIUS_M = 50_000.0


@dataclass(frozen=True)
class AreaOfInterest:
    """An area in CGCS2000 geographic coordinates (EPSG:4490).

    Attributes:
        geometry: a polygon or multipolygon, lon/lat.
        description: how it was given ("point 116.6,23.26 r=2000 m", a file name, ...).
    """

    geometry: BaseGeometry
    description: str

    def __post_init__(self) -> None:
        g = self.geometry
        if g is None or g.is_empty or g.geom_type not in ("Polygon", "MultiPolygon"):
            raise AreaOfInterestError(f"area of interest {self.description}: not a polygon")
        if not g.is_valid:
            raise AreaOfInterestError(f"area of interest {self.description}: invalid polygon")
        w, s, e, n = g.bounds
        if not (-180 <= w <= e <= 180 and -90 <= s <= n <= 90):
            raise AreaOfInterestError(
                f"area of interest {self.description}: bounds {g.bounds} are not lon/lat degrees"
            )

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return tuple(self.geometry.bounds)  # type: ignore[return-value]

    @property
    def centre(self) -> tuple[float, float]:
        c = self.geometry.centroid
        return float(c.x), float(c.y)

    def area_km2(self) -> float:
        return abs(GEOD.geometry_area_perimeter(self.geometry)[0]) / 1e6


def circle(lon: float, lat: float, radius: float, segments: int = 90) -> shapely.Polygon:
    """A geodesic circle of ``radius`` metres around (lon, lat), as a lon/lat polygon."""
    azimuths = np.linspace(0.0, 360.0, segments, endpoint=False)
    n = len(azimuths)
    lons, lats, _ = GEOD.fwd(np.full(n, lon), np.full(n, lat), azimuths, np.full(n, radius))
    return shapely.Polygon(np.column_stack([lons, lats]))


def parse_aoi(spec: str | Path, radius: float | None = None) -> AreaOfInterest:
    """An area of interest from the command line.

    Args:
        spec: a polygon file (GeoJSON, GeoPackage, Shapefile, any CRS), a bounding box
            ``W,S,E,N`` or a point ``LON,LAT`` (CGCS2000 degrees).
        radius: metres around a point (required for a point, refused otherwise).

    Raises:
        AreaOfInterestError: malformed, unreadable or empty; a bad radius.
    """
    text = str(spec).strip()
    values = None
    if not Path(text).exists() and any(c in text for c in ",，;；"):
        try:
            values = parse_numbers(text, "area of interest", (2, 4))
        except InvalidCoordinates as exc:
            raise AreaOfInterestError(f"{exc} (LON,LAT, W,S,E,N or a polygon file)") from None
    if values is not None:
        if len(values) == 2:
            if radius is None:
                raise AreaOfInterestError(
                    f"point {text}: give a radius in metres (--radius) around it"
                )
            if not (0 < radius <= MAX_RADIUS_M):
                raise AreaOfInterestError(
                    f"radius {radius:g} m is not in (0, {MAX_RADIUS_M:g}] metres"
                )
            lon, lat = values
            try:
                check_lonlat(lon, lat, "point")
            except InvalidCoordinates as exc:
                raise AreaOfInterestError(str(exc)) from None
            return AreaOfInterest(circle(lon, lat, radius), f"point {text}, radius {radius:g} m")
        if len(values) == 4:
            if radius is not None:
                raise AreaOfInterestError("--radius applies to a point, not to a bounding box")
            w, s, e, n = values
            try:
                check_bbox(w, s, e, n)
            except InvalidCoordinates as exc:
                raise AreaOfInterestError(str(exc)) from None
            return AreaOfInterest(shapely.box(w, s, e, n), f"bounding box {text}")
        raise AreaOfInterestError(
            f"area of interest {text!r}: {len(values)} numbers; expected LON,LAT or W,S,E,N"
        )
    if radius is not None:
        raise AreaOfInterestError("--radius applies to a point, not to a polygon file")
    path = Path(text)
    try:
        geom = read_polygon(path, "area of interest")
    except (SourceReadError, ValidationError) as exc:
        raise AreaOfInterestError(str(exc)) from None
    return AreaOfInterest(geom, f"polygon file {path.name}")
