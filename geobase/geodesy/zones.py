"""CGCS2000 Gauss-Kruger zones and CRS resolution.

Gauss-Kruger (高斯-克吕格) is transverse Mercator with scale 1 on the central meridian and a
false easting of 500 km. China uses 3-degree zones (zone n: central meridian 3n E) and
6-degree zones (zone n: central meridian 6n - 3 E), each with and without the zone number
prefixed to the easting (false easting n * 1,000,000 + 500,000). EPSG codes:

==========  ========  ===========  =============
width       prefixed  zones        EPSG
==========  ========  ===========  =============
3-degree    yes       25..45       4513..4533
3-degree    no        CM 75..135   4534..4554
6-degree    yes       13..23       4491..4501
6-degree    no        CM 75..135   4502..4512
==========  ========  ===========  =============

The same structure exists on the legacy datums (Beijing 1954, Xian 1980, New Beijing), each
with its own EPSG codes. :func:`gk_system_of` recognises any of them, EPSG-coded or
custom, from the CRS definition itself (transverse Mercator, scale 1, latitude of origin 0,
false northing 0, false easting 500 km plus an optional zone prefix, a central meridian of
the zone series, a Chinese datum or ellipsoid), so that the checks in
:mod:`geobase.geodesy.transform` guard every Chinese Gauss-Kruger system alike.

Short names accepted wherever a CRS is: ``gk3:39`` and ``gk6:20`` name a zone by number
(prefixed eastings, as EPSG names those systems), ``gk3cm:117`` and ``gk6cm:117`` by central
meridian (no prefix).

Example:
    >>> zone_for(116.682)
    GKZone(width=3, number=39, prefixed=False)
    >>> resolve_crs("gk3:39").to_epsg()
    4527
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Literal, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pyproj import CRS
from pyproj.exceptions import CRSError

from geobase.errors import InvalidCoordinates, UnknownCRS
from geobase.geodesy.constants import (
    CGCS2000,
    CHINA_BOUNDS,
    CHINA_DATUMS,
    CHINA_ELLIPSOIDS,
    FALSE_EASTING,
    ZONE_PREFIX_UNIT,
)

Width = Literal[3, 6]

#: Zone numbers that have a CGCS2000 EPSG code, per zone width.
ZONE_NUMBERS: dict[Width, range] = {3: range(25, 46), 6: range(13, 24)}

# First EPSG code of each family: (width, prefixed) -> code of the lowest zone.
_EPSG_BASE: dict[tuple[Width, bool], int] = {
    (3, True): 4513,
    (3, False): 4534,
    (6, True): 4491,
    (6, False): 4502,
}

#: Every CGCS2000 Gauss-Kruger EPSG code.
EPSG_RANGE = range(4491, 4555)

_SHORT_NAME = re.compile(r"^gk(?P<width>3|6)(?P<cm>cm)?:(?P<value>\d+(?:\.0+)?)$", re.IGNORECASE)

CRS_FORMS = (
    "an EPSG code (EPSG:4548 or 4548), a Gauss-Kruger short name (gk3:39, gk6:20, gk3cm:117, "
    "gk6cm:117), WKT or a PROJ string"
)


def central_meridian_of(width: int, number: int) -> int:
    """The central meridian (degrees east) of zone ``number`` of a 3- or 6-degree system."""
    return 3 * number if width == 3 else 6 * number - 3


class _ZoneGeometry:
    """Central meridian, false easting and edges of a zone (``width``, ``number``,
    ``prefixed``): the one home of these rules for every datum's systems."""

    width: Width
    number: int
    prefixed: bool

    @property
    def central_meridian(self) -> float:
        """Central meridian, degrees east."""
        return float(central_meridian_of(self.width, self.number))

    @property
    def false_easting(self) -> float:
        """False easting in metres, with the zone prefix when ``prefixed``."""
        return FALSE_EASTING + (self.number * ZONE_PREFIX_UNIT if self.prefixed else 0.0)

    @property
    def west(self) -> float:
        """Western edge of the zone, degrees east."""
        return self.central_meridian - self.width / 2

    @property
    def east(self) -> float:
        """Eastern edge of the zone, degrees east."""
        return self.central_meridian + self.width / 2


@dataclass(frozen=True)
class GKZone(_ZoneGeometry):
    """One CGCS2000 Gauss-Kruger system: zone width, zone number and prefix convention.

    Attributes:
        width: Zone width in degrees, 3 or 6.
        number: Zone number (3-degree: 25..45, 6-degree: 13..23 for China).
        prefixed: Whether eastings carry the zone number (false easting n*1e6 + 500 km).

    Raises:
        UnknownCRS: a width other than 3 or 6, or a zone without a CGCS2000 EPSG code.
    """

    width: Width
    number: int
    prefixed: bool = False

    def __post_init__(self) -> None:
        if self.width not in ZONE_NUMBERS:
            raise UnknownCRS(f"Gauss-Kruger zone width {self.width!r}: expected 3 or 6")
        zones = ZONE_NUMBERS[self.width]
        if self.number not in zones:
            raise UnknownCRS(
                f"{self.width}-degree zone {self.number} has no CGCS2000 system: expected "
                f"zones {zones.start}..{zones.stop - 1} (central meridians 75E..135E)"
            )

    @classmethod
    def from_central_meridian(cls, cm: float, width: Width = 3, prefixed: bool = False) -> GKZone:
        """The zone of a given central meridian (degrees east).

        Raises:
            UnknownCRS: no zone of this width has that central meridian.
        """
        number = (cm / 3.0) if width == 3 else (cm + 3.0) / 6.0
        if width not in ZONE_NUMBERS or number != int(number):
            raise UnknownCRS(
                f"central meridian {cm:g}E is not that of a {width}-degree zone: "
                + ("expected a multiple of 3" if width == 3 else "expected 6n - 3 (75, 81, ..)")
            )
        return cls(width, int(number), prefixed)

    @classmethod
    def from_epsg(cls, code: int) -> GKZone:
        """The zone of a CGCS2000 Gauss-Kruger EPSG code (4491..4554).

        Raises:
            UnknownCRS: the code is not a CGCS2000 Gauss-Kruger system.
        """
        for (width, prefixed), base in _EPSG_BASE.items():
            zones = ZONE_NUMBERS[width]
            if base <= code < base + len(zones):
                return cls(width, zones.start + code - base, prefixed)
        raise UnknownCRS(
            f"EPSG:{code} is not a CGCS2000 Gauss-Kruger system: expected EPSG:4491..4554"
        )

    @property
    def epsg(self) -> int:
        """The EPSG code of this system."""
        return (
            _EPSG_BASE[(self.width, self.prefixed)] + self.number - ZONE_NUMBERS[self.width].start
        )

    @property
    def short_name(self) -> str:
        """``gk3:39`` for a prefixed system, ``gk3cm:117`` for one without prefix."""
        if self.prefixed:
            return f"gk{self.width}:{self.number}"
        return f"gk{self.width}cm:{self.central_meridian:.0f}"

    @property
    def name(self) -> str:
        """The EPSG name of the system."""
        kind = "3-degree Gauss-Kruger" if self.width == 3 else "Gauss-Kruger"
        where = f"zone {self.number}" if self.prefixed else f"CM {self.central_meridian:.0f}E"
        return f"CGCS2000 / {kind} {where}"

    @property
    def proj4(self) -> str:
        """The projection as a PROJ string, built from geobase's own constants."""
        return (
            f"+proj=tmerc +lat_0=0 +lon_0={self.central_meridian:g} +k=1 "
            f"+x_0={self.false_easting:.0f} +y_0=0 {CGCS2000.proj_params()} +units=m +no_defs"
        )

    def with_prefix(self, prefixed: bool) -> GKZone:
        """The same zone with or without the zone-number prefix."""
        return GKZone(self.width, self.number, prefixed)

    def crs(self) -> CRS:
        """The pyproj CRS (from the EPSG database)."""
        return _epsg_crs(self.epsg)

    def __str__(self) -> str:
        return f"EPSG:{self.epsg} ({self.name})"


@functools.lru_cache(maxsize=128)
def _epsg_crs(code: int) -> CRS:
    return CRS.from_epsg(code)


@overload
def zone_for(lon: float, width: Width = 3, *, prefixed: bool = False) -> GKZone: ...


@overload
def zone_for(lon: ArrayLike, width: Width = 3, *, prefixed: bool = False) -> NDArray[np.int64]: ...


def zone_for(lon, width: Width = 3, *, prefixed: bool = False):
    """The Gauss-Kruger zone holding a longitude.

    A 3-degree zone n spans [3n - 1.5, 3n + 1.5); a 6-degree zone n spans [6n - 6, 6n).
    A point on a zone edge belongs to the zone to its east.

    Args:
        lon: Longitude in degrees east (CGCS2000); a scalar or an array.
        width: Zone width, 3 or 6.
        prefixed: For a scalar, whether the returned system has prefixed eastings.

    Returns:
        For a scalar, the :class:`GKZone`; for an array, the zone numbers as an int array
        of the same shape (``GKZone(width, n, prefixed).epsg`` gives each code).

    Raises:
        InvalidCoordinates: a longitude outside the CGCS2000 zones (73.5E..136.5E for
            3-degree, 72E..138E for 6-degree zones) or not finite.
        UnknownCRS: a width other than 3 or 6.

    Example:
        >>> zone_for(116.682, 6).number
        20
        >>> zone_for([111.3, 116.682]).tolist()
        [37, 39]
    """
    if width not in ZONE_NUMBERS:
        raise UnknownCRS(f"Gauss-Kruger zone width {width!r}: expected 3 or 6")
    values = np.asarray(lon, dtype=np.float64)
    numbers = np.floor((values + 1.5) / 3.0) if width == 3 else np.floor(values / 6.0) + 1.0
    zones = ZONE_NUMBERS[width]
    bad = ~((numbers >= zones.start) & (numbers < zones.stop))
    if bad.any():
        first = values.reshape(-1)[np.flatnonzero(bad.reshape(-1))[0]]
        west = zones.start * 3 - 1.5 if width == 3 else (zones.start - 1) * 6
        east = (zones.stop - 1) * 3 + 1.5 if width == 3 else (zones.stop - 1) * 6
        raise InvalidCoordinates(
            f"longitude {first:g} is outside the CGCS2000 {width}-degree Gauss-Kruger zones "
            f"({west:g}E..{east:g}E)"
            + (f"; {int(bad.sum())} of {bad.size} values" if bad.size > 1 else "")
        )
    if values.ndim == 0:
        return GKZone(width, int(numbers), prefixed)
    return numbers.astype(np.int64)


def _parse_short_name(spec: str) -> GKZone | None:
    match = _SHORT_NAME.match(spec)
    if match is None:
        return None
    width = int(match["width"])
    value = float(match["value"])
    if match["cm"]:
        return GKZone.from_central_meridian(value, width, prefixed=False)  # type: ignore[arg-type]
    return GKZone(width, int(value), prefixed=True)  # type: ignore[arg-type]


@functools.lru_cache(maxsize=256)
def _resolve_cached(spec: str | int) -> CRS:
    if isinstance(spec, int):
        try:
            return _epsg_crs(spec)
        except CRSError:
            raise UnknownCRS(f"unknown CRS EPSG:{spec}: not in the EPSG database") from None
    text = spec.strip()
    if not text:
        raise UnknownCRS(f"empty CRS: expected {CRS_FORMS}")
    if text.lower().startswith("gk"):
        zone = _parse_short_name(text)
        if zone is None:
            raise UnknownCRS(
                f"unknown Gauss-Kruger short name {text!r}: expected gk3:<zone 25..45>, "
                "gk6:<zone 13..23>, gk3cm:<central meridian> or gk6cm:<central meridian>"
            )
        return zone.crs()
    if text.isdigit():
        return _resolve_cached(int(text))
    try:
        return CRS.from_user_input(text)
    except CRSError:
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise UnknownCRS(f"unknown CRS {shown!r}: expected {CRS_FORMS}") from None


def resolve_crs(spec: str | int | CRS | GKZone) -> CRS:
    """A pyproj CRS from anything geobase accepts as a CRS.

    Args:
        spec: ``"EPSG:4548"``, ``4548``, ``"4548"``, ``"gk3:39"`` (zone 39, prefixed:
            EPSG:4527), ``"gk6:20"`` (EPSG:4498), ``"gk3cm:117"`` (EPSG:4548),
            ``"gk6cm:117"`` (EPSG:4509), a :class:`GKZone`, a WKT or PROJ string, or a
            pyproj CRS (returned as is).

    Returns:
        The CRS. Results for strings and codes are cached: the same spec gives the same
        object.

    Raises:
        UnknownCRS: neither geobase nor PROJ understands the spec.

    Example:
        >>> resolve_crs("gk3cm:117").to_epsg()
        4548
    """
    if isinstance(spec, CRS):
        return spec
    if isinstance(spec, GKZone):
        return spec.crs()
    if isinstance(spec, bool) or not isinstance(spec, str | int | np.integer):
        raise UnknownCRS(f"unknown CRS {spec!r} ({type(spec).__name__}): expected {CRS_FORMS}")
    return _resolve_cached(int(spec) if isinstance(spec, np.integer) else spec)


@functools.lru_cache(maxsize=256)
def gk_zone_of(crs: CRS) -> GKZone | None:
    """The CGCS2000 Gauss-Kruger system a CRS is, or None if it is not one.

    Recognises the EPSG systems 4491..4554 (also when given as WKT that carries the code).
    """
    if not crs.is_projected:
        return None
    code = crs.to_epsg(min_confidence=100)
    if code is None or code not in EPSG_RANGE:
        return None
    return GKZone.from_epsg(code)


@functools.lru_cache(maxsize=256)
def crs_label(crs: CRS) -> str:
    """A short label for messages: ``EPSG:4548`` where the CRS has a code, else its name."""
    code = crs.to_epsg(min_confidence=100)
    return f"EPSG:{code}" if code is not None else (crs.name or "custom CRS")


def all_zones() -> list[GKZone]:
    """Every CGCS2000 Gauss-Kruger system, in EPSG code order (4491..4554)."""
    return sorted(
        (
            GKZone(w, n, p)
            for w, zones in ZONE_NUMBERS.items()
            for n in zones
            for p in (True, False)
        ),
        key=lambda z: z.epsg,
    )


# --- Gauss-Kruger systems of any Chinese datum -----------------------------------------


@dataclass(frozen=True)
class GKSystem(_ZoneGeometry):
    """A Chinese Gauss-Kruger system of any datum, as read from a CRS definition.

    Attributes:
        datum: The datum name PROJ gives (``China 2000``, ``Beijing 1954``, ``Xian 1980``,
            ``New Beijing``; ``unknown ...`` for a custom definition on a Chinese ellipsoid).
        width: Zone width in degrees, 3 or 6.
        number: Zone number (3-degree: central meridian / 3; 6-degree: (cm + 3) / 6).
        prefixed: Whether eastings carry the zone number.
        label: ``EPSG:2436`` where PROJ's database has the system, else a description.
        name: The CRS name (or a description of a system PROJ has no code for).
        crs: The CRS it was read from (None for a system named only as a suggestion).
    """

    datum: str
    width: Width
    number: int
    prefixed: bool
    label: str
    name: str
    crs: CRS | None = field(default=None, compare=False, repr=False)

    def sibling(self, width: Width, number: int, prefixed: bool) -> GKSystem:
        """The system of another zone (or prefix convention) on the same datum."""
        code = _family(self.datum).get((width, number, prefixed))
        kind = "3-degree Gauss-Kruger" if width == 3 else "Gauss-Kruger"
        where = f"zone {number}" if prefixed else f"CM {central_meridian_of(width, number)}E"
        if code is not None:
            label, name = f"EPSG:{code[0]}", code[1]
        else:
            name = f"{self.datum} / {kind} {where}"
            label = f"{kind} {where}" + (" with zone prefix" if prefixed else "")
        return GKSystem(self.datum, width, number, prefixed, label, name)

    def with_prefix(self, prefixed: bool) -> GKSystem:
        """The same zone with or without the zone-number prefix."""
        return self.sibling(self.width, self.number, prefixed)

    def holding(self, lon: float) -> GKSystem | None:
        """The zone of this width and prefix convention on this datum holding a longitude."""
        try:
            zone = zone_for(float(lon), self.width)
        except InvalidCoordinates:
            return None
        return self.sibling(self.width, zone.number, self.prefixed)

    def __str__(self) -> str:
        return f"{self.label} ({self.name})" if self.label.startswith("EPSG:") else self.label


def gk_system(datum: str, width: Width, number: int, prefixed: bool) -> GKSystem:
    """A Gauss-Kruger system of a Chinese datum by zone, with its EPSG code where PROJ
    has one (``gk_system("Xian 1980", 3, 39, False).label == "EPSG:2384"``)."""
    kind = "3-degree Gauss-Kruger" if width == 3 else "Gauss-Kruger"
    return GKSystem(datum, width, number, prefixed, kind, kind).sibling(width, number, prefixed)


def _param(op, *names: str) -> float | None:
    for p in op.params:
        if p.name in names:
            return float(p.value)
    return None


def _is_china_datum(crs: CRS) -> str | None:
    """The datum name where a CRS is on a Chinese datum or ellipsoid, else None."""
    datum = crs.datum.name if crs.datum is not None else None
    if datum in CHINA_DATUMS:
        return datum
    if datum is not None and not datum.lower().startswith("unknown"):
        return None  # a named datum of another country (Pulkovo 1942 is on Krassowsky too)
    ellipsoid = crs.ellipsoid
    if ellipsoid is None:
        return None
    a, rf = ellipsoid.semi_major_metre, ellipsoid.inverse_flattening
    for ea, erf in CHINA_ELLIPSOIDS:
        if abs(a - ea) < 1e-3 and abs(rf - erf) < 1e-8:
            return datum or "unknown"
    return None


@functools.lru_cache(maxsize=256)
def gk_system_of(crs: CRS) -> GKSystem | None:
    """The Chinese Gauss-Kruger system a CRS is, on any datum, or None if it is not one.

    Read from the definition, not from a list of codes: a transverse Mercator projection
    with scale 1 on the central meridian, latitude of origin 0, false northing 0, false
    easting 500 km (+ n * 1,000,000 with the zone prefix n), a central meridian of the
    3-degree (3n) or 6-degree (6n - 3) series between 75E and 135E, metres, on a Chinese
    datum (CGCS2000, Beijing 1954, Xian 1980, New Beijing) or ellipsoid.

    Without a prefix, a central meridian 6n - 3 is both a 3- and a 6-degree zone; the
    width is then read from the CRS name ("3-degree") or its area of use (3 degrees
    wide), else taken as 6 degrees (the wider zone: the extent checks stay lenient).

    Example:
        >>> gk_system_of(resolve_crs(2436)).label, gk_system_of(resolve_crs(2436)).width
        ('EPSG:2436', 3)
    """
    if not crs.is_projected or crs.coordinate_operation is None:
        return None
    op = crs.coordinate_operation
    if op.method_name not in ("Transverse Mercator", "Gauss-Kruger"):
        return None
    if any(axis.unit_name not in ("metre", "meter") for axis in crs.axis_info):
        return None
    datum = _is_china_datum(crs)
    if datum is None:
        return None
    lat0 = _param(op, "Latitude of natural origin")
    cm = _param(op, "Longitude of natural origin")
    k = _param(op, "Scale factor at natural origin")
    fe = _param(op, "False easting")
    fn = _param(op, "False northing")
    if cm is None or fe is None or lat0 != 0 or k != 1 or fn != 0:
        return None
    prefix, rest = divmod(fe, ZONE_PREFIX_UNIT)
    if rest != FALSE_EASTING or cm != int(cm):
        return None
    cm_int = int(cm)
    if prefix:
        number = int(prefix)
        if number in ZONE_NUMBERS[3] and cm_int == central_meridian_of(3, number):
            width = 3
        elif number in ZONE_NUMBERS[6] and cm_int == central_meridian_of(6, number):
            width = 6
        else:
            return None
    else:
        if cm_int % 3 or not 75 <= cm_int <= 135:
            return None
        width = 3 if cm_int % 6 == 0 else _unprefixed_width(crs, cm_int)
        number = cm_int // 3 if width == 3 else (cm_int + 3) // 6
    label = crs_label(crs)
    if not label.startswith("EPSG:"):
        kind = "3-degree Gauss-Kruger" if width == 3 else "Gauss-Kruger"
        where = f"zone {number}" if prefix else f"CM {cm_int}E"
        label = f"the given {kind} {where} CRS ({datum} datum)"
    return GKSystem(datum, width, number, bool(prefix), label, crs.name, crs)  # type: ignore[arg-type]


def _unprefixed_width(crs: CRS, cm: int) -> Width:
    name = (crs.name or "").lower().replace("_", " ").replace("-", " ")
    if "3 degree" in name:
        return 3
    area = crs.area_of_use
    if (
        area is not None
        and abs(area.west - (cm - 1.5)) < 0.01
        and abs(area.east - (cm + 1.5)) < 0.01
    ):
        return 3
    return 6


@functools.lru_cache(maxsize=16)
def _family(datum: str) -> dict[tuple[int, int, bool], tuple[int, str]]:
    """(width, number, prefixed) -> (EPSG code, name) of a datum's Gauss-Kruger systems,
    from PROJ's database (the projected CRSs in China using transverse Mercator)."""
    from pyproj.aoi import AreaOfInterest
    from pyproj.database import query_crs_info
    from pyproj.enums import PJType

    if datum not in CHINA_DATUMS:
        return {}
    found: dict[tuple[int, int, bool], tuple[int, str]] = {}
    infos = query_crs_info(
        auth_name="EPSG",
        pj_types=PJType.PROJECTED_CRS,
        area_of_interest=AreaOfInterest(*CHINA_BOUNDS),
    )
    for info in infos:
        if info.projection_method_name != "Transverse Mercator":
            continue
        code = int(info.code)
        system = gk_system_of(_epsg_crs(code))
        if system is not None and system.datum == datum:
            found.setdefault((system.width, system.number, system.prefixed), (code, info.name))
    return found
