"""Angles as text: degrees or degrees-minutes-seconds read exactly, and the one DMS
formatter (sheet bounds, datasheets, ``control show``)."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from fractions import Fraction

import numpy as np

from geobase.errors import InvalidCoordinates

_DMS_RE = re.compile(
    r"""(?P<sign>[-+])?\s*(?P<d>\d+(?:\.\d+)?)\s*(?:°|d|:|\s)\s*
        (?:(?P<m>\d+(?:\.\d+)?)\s*(?:'|′|m|:|\s)?\s*
        (?:(?P<s>\d+(?:\.\d+)?)\s*(?:"|″|''|(?-i:s))?)?)?\s*(?P<hemi>[NSEW])?""",
    re.VERBOSE | re.IGNORECASE,
)


def parse_angle(text: str) -> Fraction:
    """An angle in degrees, exactly, from decimal degrees or degrees-minutes-seconds.

    Accepts ``"116.682"``, ``"116°28'25\\""``, ``"116d28m25s"``, ``"116:28:25"``,
    ``"39 54 30 N"``; a trailing S or W makes the angle negative.

    Raises:
        InvalidCoordinates: the text is not an angle, or minutes/seconds are >= 60.

    Example:
        >>> parse_angle("116°28'25\\"") == 116 + Fraction(28, 60) + Fraction(25, 3600)
        True
    """
    raw = text
    text = text.strip()
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        pass
    match = _DMS_RE.fullmatch(text)
    if not match:
        raise InvalidCoordinates(
            f"angle {raw!r} is not understood; expected decimal degrees (116.682) or D°M'S\" (116°28'25\")"
        )
    value = Fraction(match.group("d"))
    for part, unit in (("m", 60), ("s", 3600)):
        if match.group(part) is not None:
            amount = Fraction(match.group(part))
            if amount >= 60:
                raise InvalidCoordinates(
                    f"angle {raw!r}: {'minutes' if part == 'm' else 'seconds'} must be < 60"
                )
            value += amount / unit
    negative = match.group("sign") == "-"
    if match.group("hemi") and match.group("hemi").upper() in "SW":
        negative = not negative
    return -value if negative else value


def format_dms(
    value: Fraction | Decimal | float | int, decimals: int = 5, *, trim: bool = False
) -> str:
    """Degrees as D°MM'SS.sss", rounded at ``decimals`` decimals of a second.

    The one formatter of angles as text (sheet bounds, datasheets, ``control show``).
    The value is taken exactly (a float as its binary value, so 23.36, whose float lies
    just below, still prints 23°21'36.00000") and rounded once, half to even on exact
    ties (GB/T 8170); seconds and minutes carry into minutes and degrees, so no 60
    appears. A value that rounds to zero prints without a sign.

    Args:
        value: degrees (float, int, Fraction or Decimal).
        decimals: decimals of the seconds (5: 0.00001", about 0.3 mm on the ground).
        trim: drop trailing zeros of the seconds (and the point when none are left),
            for exact values such as sheet edges (multiples of 1/8").

    Raises:
        InvalidCoordinates: not a finite number, or ``decimals`` is negative.

    Example:
        >>> print(format_dms(23.36), format_dms(-116.1, 2))
        23°21'36.00000" -116°06'00.00"
        >>> print(format_dms(Fraction(116) + Fraction(75, 8 * 3600), 3, trim=True))
        116°00'09.375"
    """
    if isinstance(decimals, bool) or not isinstance(decimals, int) or decimals < 0:
        raise InvalidCoordinates(f"decimals {decimals!r} must be a whole number >= 0")
    if isinstance(value, bool | str):
        raise InvalidCoordinates(f"angle {value!r} is not a number (parse text with parse_angle)")
    if isinstance(value, float | np.floating | Decimal) and not math.isfinite(value):
        raise InvalidCoordinates(f"angle {value!r} is not a finite number")
    try:
        exact = Fraction(value)
    except (TypeError, ValueError):
        raise InvalidCoordinates(f"angle {value!r} is not a number") from None
    unit = 10**decimals
    count = round(exact * 3600 * unit)  # exact; half to even
    sign = "-" if count < 0 else ""
    degrees, rest = divmod(abs(count), 3600 * unit)
    minutes, rest = divmod(rest, 60 * unit)
    seconds, fraction = divmod(rest, unit)
    text = f"{seconds:02d}"
    digits = f"{fraction:0{decimals}d}" if decimals else ""
    if trim:
        digits = digits.rstrip("0")
    if digits:
        text += "." + digits
    return f"{sign}{degrees}°{minutes:02d}'{text}\""
