"""Coordinates typed as text: ``LON,LAT`` points and ``W,S,E,N`` boxes in degrees.

The one parser for coordinates given on a command line or in a form (``--near``,
``--new-position``, an emergency area of interest): finite numbers only, longitude in
-180..180 and latitude in -90..90, and a message that names the likely slip (latitude
first, Gauss-Kruger metres instead of degrees).
"""

from __future__ import annotations

import math
import re

from geobase.errors import InvalidCoordinates

# a comma (ASCII or full-width, as Chinese input methods type it) or a semicolon, with
# optional blanks; or blanks alone
_SEPARATOR = re.compile(r"\s*[,，;；]\s*|\s+")
MAX_TEXT = 200  # longer text is no coordinate list; keeps messages one short line


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:60] + "...")


def parse_numbers(text: str, what: str, count: int | tuple[int, ...]) -> tuple[float, ...]:
    """Finite numbers separated by commas (``116.6,23.3``); ``count`` says how many.

    Raises:
        InvalidCoordinates: not numbers, not finite, or not ``count`` of them.
    """
    counts = (count,) if isinstance(count, int) else tuple(count)
    expected = " or ".join(str(c) for c in counts)
    raw = str(text).strip()
    if not raw or len(raw) > MAX_TEXT:
        raise InvalidCoordinates(f"{what} {_shown(raw)}: expected {expected} numbers")
    parts = [p for p in _SEPARATOR.split(raw) if p != ""]
    values = []
    for part in parts:
        try:
            value = float(part)
        except ValueError:
            raise InvalidCoordinates(
                f"{what} {_shown(raw)}: {part[:30]!r} is not a number; expected {expected} "
                "numbers separated by commas"
            ) from None
        if not math.isfinite(value):
            raise InvalidCoordinates(f"{what} {_shown(raw)}: {part!r} is not a finite number")
        values.append(value)
    if len(values) not in counts:
        raise InvalidCoordinates(
            f"{what} {_shown(raw)}: {len(values)} numbers; expected {expected} separated by commas"
        )
    return tuple(values)


def check_lonlat(lon: float, lat: float, what: str = "point") -> tuple[float, float]:
    """(lon, lat) itself if both are finite degrees in range, else InvalidCoordinates."""
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise InvalidCoordinates(f"{what} {lon!r},{lat!r}: coordinates must be finite numbers")
    if -180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0:
        return lon, lat
    if -90.0 <= lon <= 90.0 and -180.0 <= lat <= 180.0:
        cause = "latitude given first? expected lon,lat, longitude first"
    elif max(abs(lon), abs(lat)) > 1000:
        cause = "Gauss-Kruger metres? expected lon,lat in degrees"
    else:
        cause = "expected lon,lat in degrees, lon -180..180, lat -90..90"
    raise InvalidCoordinates(f"{what} {lon:g},{lat:g} is outside the globe: {cause}")


def parse_lonlat(text: str, what: str = "point") -> tuple[float, float]:
    """A point ``LON,LAT`` in degrees (``116.68,23.35``).

    Raises:
        InvalidCoordinates: not two finite numbers, or outside -180..180 / -90..90.

    Example:
        >>> parse_lonlat("116.68, 23.35")
        (116.68, 23.35)
    """
    try:
        lon, lat = parse_numbers(text, what, 2)
    except InvalidCoordinates as exc:
        raise InvalidCoordinates(
            f"{exc} (expected LON,LAT in degrees, e.g. 116.68,23.35)"
        ) from None
    return check_lonlat(lon, lat, what)


def parse_bbox(text: str, what: str = "bounding box") -> tuple[float, float, float, float]:
    """A box ``W,S,E,N`` in degrees with W < E and S < N.

    Raises:
        InvalidCoordinates: not four finite numbers, out of range, or W >= E / S >= N.
    """
    w, s, e, n = parse_numbers(text, what, 4)
    check_bbox(w, s, e, n, what)
    return w, s, e, n


def check_bbox(w: float, s: float, e: float, n: float, what: str = "bounding box") -> None:
    """InvalidCoordinates unless W,S,E,N are degrees in range with W < E and S < N."""
    check_lonlat(w, s, f"{what} corner")
    check_lonlat(e, n, f"{what} corner")
    if not (w < e and s < n):
        raise InvalidCoordinates(
            f"{what} {w:g},{s:g},{e:g},{n:g}: expected W,S,E,N with W < E and S < N"
        )
