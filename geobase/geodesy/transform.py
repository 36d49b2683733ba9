"""Vectorised coordinate transforms and plausibility checks.

Every array is in (east, north) = (lon, lat) order: transformers are built with
``always_xy=True`` and reused (one cache per thread, since a pyproj Transformer must not be
shared between threads). Checks are a few numpy reductions over the arrays, so that a
transform of millions of points costs about what the bare pyproj call costs.

Example:
    >>> e, n = transform([116.682], [23.354], "EPSG:4490", "EPSG:4548")
    >>> round(float(e[0]), 4), round(float(n[0]), 4)
    (467483.3555, 2583777.6078)
"""

from __future__ import annotations

import functools
import logging
import math
import threading
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pyproj import CRS, Transformer
from pyproj.exceptions import ProjError

from geobase.errors import (
    AxisOrderError,
    BallparkTransformation,
    InvalidCoordinates,
    OutsideZoneError,
    UnknownCRS,
    ZonePrefixError,
)
from geobase.geodesy.constants import (
    CHINA_DATUMS,
    LEGACY_DATUMS,
    NORTHING_RANGE,
    ZONE_PREFIX_UNIT,
)
from geobase.geodesy.zones import (
    ZONE_NUMBERS,
    GKSystem,
    GKZone,
    crs_label,
    gk_system,
    gk_system_of,
    resolve_crs,
)

logger = logging.getLogger(__name__)

CRSLike = str | int | CRS | GKZone
Errors = Literal["raise", "nan"]

_local = threading.local()
_CACHE_SIZE = 64


def _datum_name(crs: CRS) -> str | None:
    datum = crs.datum
    return datum.name if datum is not None else None


def get_transformer(src: CRSLike, dst: CRSLike, *, allow_ballpark: bool = False) -> Transformer:
    """A cached ``always_xy`` pyproj Transformer from ``src`` to ``dst`` (per thread).

    Args:
        src: Source CRS (anything :func:`resolve_crs` accepts).
        dst: Target CRS.
        allow_ballpark: Accept a ballpark (zero-shift) datum change from or to a legacy
            datum (Beijing 1954, Xian 1980), which is wrong by 100 m or more.

    Raises:
        UnknownCRS: a CRS is not understood.
        BallparkTransformation: PROJ only knows a ballpark shift between the datums of a
            legacy system and the other system, and ``allow_ballpark`` is False.
    """
    src_crs, dst_crs = resolve_crs(src), resolve_crs(dst)
    cache: dict[tuple[CRS, CRS], tuple[Transformer, str | None]] | None = getattr(
        _local, "transformers", None
    )
    if cache is None:
        cache = _local.transformers = {}
    key = (src_crs, dst_crs)
    entry = cache.get(key)
    if entry is None:
        try:
            transformer = Transformer.from_crs(src_crs, dst_crs, always_xy=True)
        except ProjError as exc:
            reason = str(exc).splitlines()[0] if str(exc) else "PROJ error"
            raise UnknownCRS(
                f"no transformation from {crs_label(src_crs)} to {crs_label(dst_crs)}: {reason}"
            ) from exc
        problem = None
        if "ballpark" in transformer.description.lower():
            names = (_datum_name(src_crs), _datum_name(dst_crs))
            legacy = [name for name in names if name in LEGACY_DATUMS]
            if legacy and names[0] != names[1]:
                problem = (
                    f"PROJ has no real transformation from {crs_label(src_crs)} ({names[0]}) "
                    f"to {crs_label(dst_crs)} ({names[1]}), only a ballpark offset of zero, "
                    "wrong by 100 m or more; fit parameters from common points "
                    "(geobase crs fit) and apply them (geobase crs apply)"
                )
            else:
                logger.debug("ballpark datum change: %s", transformer.description)
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        entry = cache[key] = (transformer, problem)
    transformer, problem = entry
    if problem is not None and not allow_ballpark:
        raise BallparkTransformation(problem)
    return transformer


def transform(
    east: ArrayLike,
    north: ArrayLike,
    src: CRSLike,
    dst: CRSLike,
    h: ArrayLike | None = None,
    *,
    check: bool = True,
    errors: Errors = "raise",
    allow_ballpark: bool = False,
    labels: Sequence[Any] | None = None,
) -> tuple[NDArray[np.float64], ...]:
    """Transform coordinate arrays from one CRS to another.

    Args:
        east: Eastings or longitudes (degrees for geographic CRSs).
        north: Northings or latitudes, same shape as ``east``.
        src: Source CRS (anything :func:`resolve_crs` accepts: ``"EPSG:4490"``, ``"gk3:39"``).
        dst: Target CRS.
        h: Optional heights; passed through PROJ (changed only by 3D operations).
        check: Check the input with :func:`check_coordinates` first (swapped axes, zone
            prefixes, out-of-range values, points outside their zone) and a Gauss-Kruger
            result with :func:`check_target` (a target zone that does not hold the
            points). Costs a few reductions over the arrays.
        errors: ``"raise"``: a point that PROJ cannot transform is an error;
            ``"nan"``: it becomes NaN.
        allow_ballpark: See :func:`get_transformer`.
        labels: Names of the points for error messages (file line numbers, ids).

    Returns:
        ``(east, north)`` or ``(east, north, h)`` as float64 arrays (new arrays; the inputs
        are not modified).

    Raises:
        InvalidCoordinates: shapes differ, or points cannot be transformed.
        AxisOrderError, ZonePrefixError, OutsideZoneError: from the checks (of the input
            against ``src`` and, for a Gauss-Kruger target, of the result against its zone).
        UnknownCRS, BallparkTransformation: from :func:`get_transformer`.
    """
    src_crs, dst_crs = resolve_crs(src), resolve_crs(dst)
    e = np.asarray(east, dtype=np.float64)
    n = np.asarray(north, dtype=np.float64)
    if e.shape != n.shape:
        raise InvalidCoordinates(f"east has shape {e.shape} but north has shape {n.shape}")
    z = None
    if h is not None:
        z = np.asarray(h, dtype=np.float64)
        if z.shape != e.shape:
            raise InvalidCoordinates(f"h has shape {z.shape} but east has shape {e.shape}")
    if check:
        check_coordinates(e, n, src_crs, labels=labels)
    transformer = get_transformer(src_crs, dst_crs, allow_ballpark=allow_ballpark)
    if e.ndim == 0:
        e, n = e.reshape(1), n.reshape(1)
        z = None if z is None else z.reshape(1)
        one = transform(e, n, src_crs, dst_crs, z, check=False, errors=errors, labels=labels)
        if check:
            check_target(one[0], one[1], dst_crs, labels=labels)
        return tuple(np.asarray(a).reshape(()) for a in one)
    out: tuple[Any, ...] = (
        transformer.transform(e, n) if z is None else transformer.transform(e, n, z)
    )
    out_e, out_n = out[0], out[1]
    if not (np.isfinite(out_e).all() and np.isfinite(out_n).all()):
        failed = ~(np.isfinite(out_e) & np.isfinite(out_n))
        if errors == "raise":
            failed &= np.isfinite(e) & np.isfinite(n)
            if failed.any():
                i = int(np.flatnonzero(failed.reshape(-1))[0])
                raise InvalidCoordinates(
                    f"{_where(i, labels)}{int(failed.sum())} of {failed.size} points cannot be "
                    f"transformed from {crs_label(src_crs)} to {crs_label(dst_crs)}, first "
                    f"({e.reshape(-1)[i]:.9g}, {n.reshape(-1)[i]:.9g}); are they inside the "
                    "area of the CRS?"
                )
        out_e[failed] = np.nan
        out_n[failed] = np.nan
        if z is not None:
            out[2][failed] = np.nan
    if check:
        check_target(out_e, out_n, dst_crs, labels=labels)
    return tuple(out)


def transform_geometries(
    geometries: Any, src: CRSLike, dst: CRSLike, *, check: bool = True, allow_ballpark: bool = False
) -> Any:
    """Transform shapely geometries (one or an array), keeping Z where present.

    Raises:
        The errors of :func:`transform`.
    """
    import shapely

    if check:
        coords = shapely.get_coordinates(geometries)
        if len(coords):
            check_coordinates(coords[:, 0], coords[:, 1], src)

    def fn(x: NDArray, y: NDArray, z: NDArray | None = None):
        return transform(x, y, src, dst, z, check=False, allow_ballpark=allow_ballpark)

    # the stubs know neither include_z=None (keep Z where present) nor the three-argument
    # function of interleaved=False
    out = shapely.transform(  # type: ignore[call-overload]
        geometries, fn, include_z=None, interleaved=False
    )
    if check:
        coords = shapely.get_coordinates(out)
        if len(coords):
            check_target(coords[:, 0], coords[:, 1], dst)
    return out


# --- checks -----------------------------------------------------------------------------


def _where(i: int, labels: Sequence[Any] | None) -> str:
    if labels is not None:
        return f"{labels[i]}: "
    return f"point {i}: "


#: Largest magnitude a message writes in fixed point; beyond, 6 significant digits.
_FIXED_LIMIT = 1e12


def _num(value: float, decimals: int = 3) -> str:
    """A coordinate for a message: fixed point, or ``{:.6g}`` where huge or not finite."""
    value = float(value)
    if math.isfinite(value) and abs(value) < _FIXED_LIMIT:
        return f"{value:.{decimals}f}"
    return f"{value:.6g}"


def _count(bad: NDArray[np.bool_]) -> str:
    return f" ({int(bad.sum())} of {bad.size} points)" if bad.size > 1 else ""


def _bounds(values: NDArray[np.float64]) -> tuple[float, float]:
    flat = values.reshape(-1)
    # fmin/fmax skip NaN without the all-NaN warning of nanmin
    return float(np.fmin.reduce(flat)), float(np.fmax.reduce(flat))


def _within(values: NDArray[np.float64], lo: float, hi: float) -> NDArray[np.bool_]:
    """lo <= v < hi, with NaN counted as within (missing values are not checked here)."""
    return ((values >= lo) & (values < hi)) | np.isnan(values)


def check_coordinates(
    east: ArrayLike,
    north: ArrayLike,
    crs: CRSLike,
    *,
    labels: Sequence[Any] | None = None,
    names: tuple[str, str] | None = None,
) -> None:
    """Check that coordinates are plausible for their CRS; explain the likely cause if not.

    Gauss-Kruger systems of every Chinese datum (CGCS2000, Beijing 1954, Xian 1980, New
    Beijing; 3- and 6-degree; with and without zone prefix; see
    :func:`~geobase.geodesy.zones.gk_system_of`): eastings must lie in the zone's
    million-metre band (0..1,000,000 m, or n*1e6.. with the zone prefix), northings in
    China's range, and the points inside the zone, allowing :data:`ZONE_OVERLAP` degrees
    beyond its edges (the overlap with the neighbouring zones); a point beyond names the
    zone that holds it. Geographic systems: longitudes and latitudes in range, and not all
    outside the CRS's area of use when swapping them would put them all inside. Other
    CRSs are not checked. NaN values are skipped. The common case costs a few reductions
    over the arrays.

    Args:
        east: Eastings or longitudes.
        north: Northings or latitudes.
        crs: The CRS the coordinates claim to be in.
        labels: Names of the points for messages (file line numbers, ids).
        names: What to call the two arrays in messages (CSV column names); default
            ``("easting", "northing")`` or ``("lon", "lat")``.

    Raises:
        ZonePrefixError: eastings carry a zone prefix the CRS lacks, lack one it needs, or
            carry another zone's prefix ("did you mean EPSG:4527?").
        AxisOrderError: the values look like northing/easting (lat/lon) swapped.
        OutsideZoneError: points lie outside the zone of the CRS (naming the zone that
            holds them).
        InvalidCoordinates: values out of range for another reason.
    """
    crs = resolve_crs(crs)
    e = np.asarray(east, dtype=np.float64)
    n = np.asarray(north, dtype=np.float64)
    if e.shape != n.shape:
        raise InvalidCoordinates(f"east has shape {e.shape} but north has shape {n.shape}")
    if e.size == 0:
        return
    system = gk_system_of(crs)
    if system is not None:
        names = names or ("easting", "northing")
        _check_gk(e, n, system, labels, names)
        _check_zone_extent(e, n, system, labels, names, target=False)
    elif crs.is_geographic:
        _check_geographic(e, n, crs, labels, names or ("lon", "lat"))


def check_target(
    east: ArrayLike,
    north: ArrayLike,
    crs: CRSLike,
    *,
    labels: Sequence[Any] | None = None,
) -> None:
    """Check that transformed points lie inside the zone of a Gauss-Kruger target CRS.

    Points projected into a zone that does not hold them (beyond :data:`ZONE_OVERLAP`
    degrees past its edges) are refused, naming the zone that does. Other CRSs are not
    checked; NaN values are skipped.

    Raises:
        OutsideZoneError: a point lies outside the target zone.
    """
    system = gk_system_of(resolve_crs(crs))
    if system is None:
        return
    e = np.asarray(east, dtype=np.float64)
    n = np.asarray(north, dtype=np.float64)
    if e.size:
        _check_zone_extent(e, n, system, labels, ("east", "north"), target=True)


def _prefix_of(value: float) -> tuple[int, int] | None:
    """(width, number) of the zone an easting's leading digits name, if they name one."""
    if not math.isfinite(value):
        return None
    number = int(value // ZONE_PREFIX_UNIT)
    for width, zones in ZONE_NUMBERS.items():
        if number in zones:
            return width, number
    return None


def _prefix_system(value: float, system: GKSystem) -> GKSystem | None:
    """The prefixed zone (on the datum of ``system``) an easting's leading digits name."""
    found = _prefix_of(value)
    return system.sibling(found[0], found[1], True) if found else None  # type: ignore[arg-type]


def _prefix_zone(value: float) -> GKZone | None:
    """The prefixed CGCS2000 zone an easting's leading digits name, if they name one."""
    found = _prefix_of(value)
    return GKZone(found[0], found[1], prefixed=True) if found else None  # type: ignore[arg-type]


def _check_gk(
    e: NDArray, n: NDArray, zone: GKSystem, labels: Sequence[Any] | None, names: tuple[str, str]
) -> None:
    lo = zone.number * ZONE_PREFIX_UNIT if zone.prefixed else 0.0
    hi = lo + ZONE_PREFIX_UNIT
    n_lo, n_hi = NORTHING_RANGE
    emin, emax = _bounds(e)
    nmin, nmax = _bounds(n)
    if emin > lo and emax < hi and nmin >= n_lo and nmax <= n_hi:
        return
    bad = ~(_within(e, lo, hi) & (e != lo) & _within(n, n_lo, n_hi))
    if not bad.any():
        return
    i = int(np.flatnonzero(bad.reshape(-1))[0])
    ei, ni = float(e.reshape(-1)[i]), float(n.reshape(-1)[i])
    where, count = _where(i, labels), _count(bad)
    label = zone.label
    en, nn = names
    northing_like = n_lo <= ni <= n_hi
    east_is_northing = n_lo <= ei <= n_hi
    prefix = _prefix_system(ei, zone) if ei >= ZONE_PREFIX_UNIT else None
    if zone.prefixed:
        if 0 < ei < ZONE_PREFIX_UNIT and northing_like:
            raise ZonePrefixError(
                f"{where}{en} {_num(ei)} has no zone prefix but {label} ({zone.name}) expects "
                f"one ({zone.number}xxxxxx); did you mean {zone.with_prefix(False).label}?"
                f"{count}"
            )
        if (
            prefix is not None
            and (prefix.width, prefix.number) != (zone.width, zone.number)
            and northing_like
        ):
            raise ZonePrefixError(
                f"{where}{en} {_num(ei)} has zone prefix {prefix.number} ({prefix.width}-degree) "
                f"but {label} is {zone.width}-degree zone {zone.number}; did you mean "
                f"{prefix.label}?{count}"
            )
        if east_is_northing and lo < ni < hi:
            raise AxisOrderError(
                f"{where}{en} {_num(ei)} and {nn} {_num(ni)} look swapped for {label}: {en} is in "
                f"the northing range and {nn} is a zone-{zone.number} easting; likely cause: "
                f"surveying x (north) / y (east) read as east / north{count}"
            )
        if east_is_northing and 0 < ni < ZONE_PREFIX_UNIT:
            raise AxisOrderError(
                f"{where}{en} {_num(ei)} and {nn} {_num(ni)} look swapped for {label}: {en} is in "
                f"the northing range and {nn} an easting (without the zone prefix {label} "
                f"expects; unprefixed system: {zone.with_prefix(False).label}); likely "
                f"cause: surveying x (north) / y (east) read as east / north{count}"
            )
    else:
        if prefix is not None and northing_like:
            other = (
                ""
                if prefix.central_meridian == zone.central_meridian
                else (
                    f" (zone {prefix.number} has central meridian "
                    f"{prefix.central_meridian:.0f}E, {label} {zone.central_meridian:.0f}E)"
                )
            )
            raise ZonePrefixError(
                f"{where}{en} {_num(ei, 0)} has a zone prefix but {label} has none; did you mean "
                f"{prefix.label}?{other}{count}"
            )
        if east_is_northing and 0 < ni < ZONE_PREFIX_UNIT:
            raise AxisOrderError(
                f"{where}{en} {_num(ei)} and {nn} {_num(ni)} look swapped for {label}: {en} is in "
                f"the northing range and {nn} in the easting range; likely cause: surveying "
                f"x (north) / y (east) read as east / north{count}"
            )
        swapped_prefix = _prefix_system(ni, zone) if ni >= ZONE_PREFIX_UNIT else None
        if east_is_northing and swapped_prefix is not None:
            raise AxisOrderError(
                f"{where}{en} {_num(ei)} and {nn} {_num(ni)} look swapped for {label}, and the "
                f"easting carries the zone prefix {swapped_prefix.number} "
                f"({swapped_prefix.label}); likely cause: surveying x (north) / y (east) "
                f"read as east / north{count}"
            )
    if not (lo < ei < hi) and not np.isnan(ei):
        expected = f"{lo:,.0f}..{hi:,.0f} m" if zone.prefixed else "0..1,000,000 m (no zone prefix)"
        raise InvalidCoordinates(
            f"{where}{en} {_num(ei)} is outside the easting range of {label}: expected "
            f"{expected}{count}"
        )
    raise InvalidCoordinates(
        f"{where}{nn} {_num(ni)} is outside the northing range of {label} in China: expected "
        f"{n_lo:,.0f}..{n_hi:,.0f} m{count}"
    )


#: Degrees beyond a zone's edges that its coordinates may reach: the overlap with the
#: neighbouring zones (Chinese practice computes points up to 30' into the next zone).
ZONE_OVERLAP = 0.5


def within_zone(lon: ArrayLike, west: ArrayLike, east: ArrayLike) -> NDArray[np.bool_]:
    """Whether longitudes lie in their zone (edges ``west``..``east``), allowing
    :data:`ZONE_OVERLAP` degrees beyond either edge: the one rule of every zone check."""
    lon = np.asarray(lon, dtype=np.float64)
    return (lon >= np.asarray(west) - ZONE_OVERLAP) & (lon <= np.asarray(east) + ZONE_OVERLAP)


@functools.lru_cache(maxsize=64)
def _geodetic(crs: CRS) -> CRS:
    return crs.geodetic_crs  # type: ignore[return-value]


def _edge_offset(system: GKSystem, northing: float) -> float:
    """Easting offset from the central meridian of the zone edge (plus the overlap) at the
    latitude where the central meridian has ``northing``: no point at that northing or
    south of it lies beyond the edge if its offset is smaller."""
    crs = system.crs
    assert crs is not None
    back = get_transformer(crs, _geodetic(crs))
    _, lat = back.transform(system.false_easting, northing)
    e, _ = back.transform(
        system.central_meridian + system.width / 2 + ZONE_OVERLAP, lat, direction="INVERSE"
    )
    return float(e) - system.false_easting


def _check_zone_extent(
    e: NDArray,
    n: NDArray,
    system: GKSystem,
    labels: Sequence[Any] | None,
    names: tuple[str, str],
    *,
    target: bool,
) -> None:
    """Refuse points beyond the zone's edges plus :data:`ZONE_OVERLAP` degrees."""
    if system.crs is None:
        return
    emin, emax = _bounds(e)
    _, nmax = _bounds(n)
    if not (np.isfinite(emin) and np.isfinite(nmax)):
        return
    centre = system.false_easting
    bound = _edge_offset(system, max(nmax, NORTHING_RANGE[0]))
    if emax - centre < bound and centre - emin < bound:
        return
    flat_e, flat_n = e.reshape(-1), n.reshape(-1)
    idx = np.flatnonzero(np.abs(flat_e - centre) >= bound)
    back = get_transformer(system.crs, _geodetic(system.crs))
    lon, lat = back.transform(flat_e[idx], flat_n[idx])
    outside = ~within_zone(lon, system.west, system.east)
    if not outside.any():
        return
    k = int(np.flatnonzero(outside)[0])
    i = int(idx[k])
    li, bi = float(lon[k]), float(lat[k])
    where = _where(i, labels)
    count = f" ({int(outside.sum())} of {flat_e.size} points)" if flat_e.size > 1 else ""
    cm = system.central_meridian
    side = "west" if li < cm else "east"
    zone = (
        f"{system.width}-degree zone {system.number} ({system.west:g}E..{system.east:g}E, "
        f"with {ZONE_OVERLAP:g} degrees of overlap)"
    )
    holding = system.holding(li) if np.isfinite(li) else None
    hold = (
        f"the zone holding it is {holding}"
        if holding is not None
        else "it lies outside China's Gauss-Kruger zones"
    )
    en, nn = names
    if target:
        raise OutsideZoneError(
            f"{where}the point at {li:.4f}E {bi:.4f}N is {abs(li - cm):.2f} degrees {side} of "
            f"the central meridian of the target {system.label} ({cm:g}E), outside {zone}; "
            f"{hold}{count}"
        )
    raise OutsideZoneError(
        f"{where}{en} {_num(flat_e[i])}, {nn} {_num(flat_n[i])} lies at {li:.4f}E, "
        f"{abs(li - cm):.2f} degrees {side} of the central meridian of {system.label} "
        f"({cm:g}E), outside {zone}; {hold}; likely cause: coordinates of another zone or a "
        f"wrong CRS{count}"
    )


@functools.lru_cache(maxsize=128)
def _area_of_use(crs: CRS) -> tuple[float, float, float, float, str] | None:
    area = crs.area_of_use
    if area is None:
        return None
    return (area.west, area.south, area.east, area.north, area.name)


def _check_geographic(
    e: NDArray, n: NDArray, crs: CRS, labels: Sequence[Any] | None, names: tuple[str, str]
) -> None:
    ln, la = names
    label = crs_label(crs)
    emin, emax = _bounds(e)
    nmin, nmax = _bounds(n)
    if emin >= -180 and emax <= 360 and nmin >= -90 and nmax <= 90:
        area = _area_of_use(crs)
        if area is not None:
            west, south, east_, north_, area_name = area
            disjoint = emax < west or emin > east_ or nmax < south or nmin > north_
            inside_swapped = nmin >= west and nmax <= east_ and emin >= south and emax <= north_
            if disjoint and inside_swapped:
                raise AxisOrderError(
                    f"{ln} {emin:g}..{emax:g} and {la} {nmin:g}..{nmax:g} lie outside the area "
                    f"of {label} ({area_name}) but inside it when swapped; likely cause: "
                    f"lat, lon order where geobase expects lon, lat"
                )
        return
    bad = ~((((e >= -180) & (e <= 360)) | np.isnan(e)) & (((n >= -90) & (n <= 90)) | np.isnan(n)))
    i = int(np.flatnonzero(bad.reshape(-1))[0])
    ei, ni = float(e.reshape(-1)[i]), float(n.reshape(-1)[i])
    where, count = _where(i, labels), _count(bad)
    if abs(ei) > 360 or abs(ni) > 360:
        datum = crs.datum.name if crs.datum is not None else None
        prefix = _prefix_zone(ei) if ei >= ZONE_PREFIX_UNIT else None
        if prefix is not None and datum in CHINA_DATUMS:  # that zone on the CRS's datum
            suggested = gk_system(datum, prefix.width, prefix.number, True).label
        else:
            suggested = f"EPSG:{prefix.epsg}" if prefix is not None else ""
        hint = (
            f"; the easting's prefix suggests {suggested}"
            if prefix is not None and NORTHING_RANGE[0] <= ni <= NORTHING_RANGE[1]
            else ""
        )
        raise InvalidCoordinates(
            f"{where}{ln} {_num(ei)} and {la} {_num(ni)} are not degrees but {label} is "
            f"geographic; likely cause: projected coordinates (metres) given with a "
            f"geographic CRS{hint}{count}"
        )
    if -90 <= ei <= 90 and -180 <= ni <= 360:
        raise AxisOrderError(
            f"{where}{la} {ni:g} is beyond +-90 while {ln} {ei:g} would be a valid latitude: "
            f"they look swapped for {label}; likely cause: lat, lon order where geobase "
            f"expects lon, lat{count}"
        )
    raise InvalidCoordinates(
        f"{where}{ln} {ei:g} / {la} {ni:g} out of range for {label}: expected lon -180..360, "
        f"lat -90..90{count}"
    )
