"""CGCS2000 constants (China Geodetic Coordinate System 2000, 2000国家大地坐标系).

The defining constants of the frame and its ellipsoid, the EPSG codes of its geographic,
geographic 3D and geocentric CRSs, and the extent geobase uses for plausibility checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyproj import Geod

from geobase.errors import InvalidEllipsoid


@dataclass(frozen=True)
class Ellipsoid:
    """A reference ellipsoid given by its defining constants.

    Attributes:
        name: Ellipsoid name.
        a: Semi-major axis, metres.
        inverse_flattening: 1/f.
        gm: Geocentric gravitational constant, m^3/s^2 (None where not defined).
        omega: Angular velocity of the Earth, rad/s (None where not defined).
    """

    name: str
    a: float
    inverse_flattening: float
    gm: float | None = None
    omega: float | None = None

    def __post_init__(self) -> None:
        if not (self.a > 0 and self.inverse_flattening > 1):
            raise InvalidEllipsoid(
                f"ellipsoid {self.name}: a={self.a}, 1/f={self.inverse_flattening}; "
                "expected a > 0 and 1/f > 1"
            )

    @property
    def f(self) -> float:
        """Flattening."""
        return 1.0 / self.inverse_flattening

    @property
    def b(self) -> float:
        """Semi-minor axis, metres."""
        return self.a * (1.0 - self.f)

    @property
    def e2(self) -> float:
        """First eccentricity squared."""
        return self.f * (2.0 - self.f)

    @property
    def e(self) -> float:
        """First eccentricity."""
        return math.sqrt(self.e2)

    def proj_params(self) -> str:
        """The ellipsoid as PROJ parameters (``+a=... +rf=...``)."""
        return f"+a={self.a!r} +rf={self.inverse_flattening!r}"

    def geod(self) -> Geod:
        """Geodesics on this ellipsoid (pyproj's ``Geod``: distances, azimuths)."""
        from pyproj import Geod

        return Geod(a=self.a, f=self.f)


#: The CGCS2000 ellipsoid (DOMAIN.md section 2).
CGCS2000 = Ellipsoid(
    name="CGCS2000",
    a=6378137.0,
    inverse_flattening=298.257222101,
    gm=3.986004418e14,
    omega=7.292115e-5,
)

#: CGCS2000 geographic 2D (lat, lon in EPSG's order; geobase uses lon, lat).
EPSG_GEOGRAPHIC = 4490
#: CGCS2000 geographic 3D (with ellipsoidal height).
EPSG_GEOGRAPHIC_3D = 4480
#: CGCS2000 geocentric (X, Y, Z).
EPSG_GEOCENTRIC = 4479

#: Legacy datums for which PROJ has only a ballpark (zero) shift to CGCS2000.
LEGACY_DATUMS = ("Beijing 1954", "Xian 1980", "New Beijing")

#: Datums of the Chinese Gauss-Kruger systems (names as PROJ gives them).
CHINA_DATUMS = ("China 2000", *LEGACY_DATUMS)

#: (a, 1/f) of their ellipsoids: CGCS2000 (= GRS 1980 to 0.1 mm), Krassowsky 1940
#: (Beijing 1954, New Beijing), IAG 1975 (Xian 1980).
CHINA_ELLIPSOIDS = (
    (CGCS2000.a, CGCS2000.inverse_flattening),
    (6378245.0, 298.3),
    (6378140.0, 298.257),
)

#: Longitude/latitude box of China's territory, used only to tell swapped axes from data.
CHINA_BOUNDS = (73.0, 3.0, 136.0, 54.0)

#: Plausible Gauss-Kruger northings in China, metres (about 3N to 54N).
NORTHING_RANGE = (300_000.0, 6_100_000.0)

#: Metres per zone-number step of a prefixed easting.
ZONE_PREFIX_UNIT = 1_000_000.0

#: False easting of every CGCS2000 Gauss-Kruger system (before the zone prefix), metres.
FALSE_EASTING = 500_000.0
