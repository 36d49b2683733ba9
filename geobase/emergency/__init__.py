"""Emergency mapping packages (应急测绘数据包): the best data for an area, packed for offline use.

This package orchestrates the domain packages (it sits beside ``demo.py``; only ``cli``
imports it). Its modules, one concern each:

- :mod:`~geobase.emergency.area`: the area of interest (a polygon, a box, a point and radius);
- :mod:`~geobase.emergency.select`: what goes in (clearance, best imagery and DEMs, sheets,
  nearby control and CORS);
- :mod:`~geobase.emergency.clip`: sources clipped to the area (COGs, GeoPackages);
- :mod:`~geobase.emergency.tables`: the control tables (GeoJSON and CSV);
- :mod:`~geobase.emergency.offline`: the offline tiles (PMTiles and a tile folder);
- :mod:`~geobase.emergency.viewer`: the HTML viewer, from the files in ``assets/``;
- :mod:`~geobase.emergency.package`: the folder, manifest and zip, written atomically.

Example:
    >>> aoi = parse_aoi("116.60,23.26", radius=2000)  # doctest: +SKIP
    >>> build_package(ws, aoi, "chaoyang_pkg")  # doctest: +SKIP
"""

from geobase.emergency.area import MAX_RADIUS_M, AreaOfInterest, circle, parse_aoi
from geobase.emergency.clip import clip_to_cog
from geobase.emergency.package import (
    DEFAULT_CONTROL_DISTANCE_M,
    DEFAULT_CORS_COUNT,
    DEFAULT_MAX_ZOOM,
    MAX_AREA_KM2,
    PackageResult,
    build_package,
)
from geobase.emergency.viewer import viewer_html

__all__ = [
    "DEFAULT_CONTROL_DISTANCE_M",
    "DEFAULT_CORS_COUNT",
    "DEFAULT_MAX_ZOOM",
    "MAX_AREA_KM2",
    "MAX_RADIUS_M",
    "AreaOfInterest",
    "PackageResult",
    "build_package",
    "circle",
    "clip_to_cog",
    "parse_aoi",
    "viewer_html",
]
