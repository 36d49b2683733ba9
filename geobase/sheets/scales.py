"""The scales of map sheets: the ten national scales of GB/T 13989-2012 and the four
scales of rectangular Gauss-Kruger sheets, and how a scale is written."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np

from geobase.errors import SheetCodeError

# The 1:500 grid: cells per degree and per 1:1M sheet.
_LON_CELLS_PER_DEG = 384  # 9.375"
_LAT_CELLS_PER_DEG = 576  # 6.25"
_CELLS_PER_MILLION = 2304  # per 1:1M sheet, both directions
_LON_CELLS = 360 * _LON_CELLS_PER_DEG  # around the globe
_MAX_LAT = 88  # row V ends at 88°N; the polar rows are not numbered here
_ROW_LETTERS = "ABCDEFGHIJKLMNOPQRSTUV"

#: Degrees below a sheet edge within which written or measured input counts as on it.
EDGE_TOLERANCE = Fraction(1, 10**9)


@dataclass(frozen=True)
class SheetScale:
    """One national scale of GB/T 13989-2012.

    Attributes:
        denominator: the scale denominator (10000 for 1:10,000).
        letter: the scale letter in codes ("" for 1:1,000,000, "B".."K" below).
        rows: rows (= columns) of this scale in one 1:1,000,000 sheet.
        digits: digits of the row and of the column number in codes (0, 3 or 4).
    """

    denominator: int
    letter: str
    rows: int
    digits: int

    @property
    def dlon(self) -> Fraction:
        """Sheet width in degrees of longitude (exact)."""
        return Fraction(6, self.rows)

    @property
    def dlat(self) -> Fraction:
        """Sheet height in degrees of latitude (exact)."""
        return Fraction(4, self.rows)

    @property
    def cells(self) -> int:
        """1:500 cells along one side of a sheet of this scale."""
        return _CELLS_PER_MILLION // self.rows

    @property
    def label(self) -> str:
        """``"1:10,000"``."""
        return f"1:{self.denominator:,}"


@dataclass(frozen=True)
class RectScale:
    """One scale of rectangular sheets on a Gauss-Kruger grid.

    Attributes:
        denominator: the scale denominator.
        size_m: side of a sheet on the ground, metres.
        decimals: decimals of the km values in the sheet number.
    """

    denominator: int
    size_m: int
    decimals: int

    @property
    def label(self) -> str:
        return f"1:{self.denominator:,}"


#: National scales by denominator (GB/T 13989-2012, table in DOMAIN.md section 6).
SCALES: Mapping[int, SheetScale] = MappingProxyType(
    {
        spec.denominator: spec
        for spec in (
            SheetScale(1_000_000, "", 1, 0),
            SheetScale(500_000, "B", 2, 3),
            SheetScale(250_000, "C", 4, 3),
            SheetScale(100_000, "D", 12, 3),
            SheetScale(50_000, "E", 24, 3),
            SheetScale(25_000, "F", 48, 3),
            SheetScale(10_000, "G", 96, 3),
            SheetScale(5_000, "H", 192, 3),
            SheetScale(2_000, "I", 576, 3),
            SheetScale(1_000, "J", 1152, 4),
            SheetScale(500, "K", 2304, 4),
        )
    }
)
_BY_LETTER = MappingProxyType({s.letter: s for s in SCALES.values() if s.letter})

#: Rectangular (矩形分幅) scales by denominator: 50 x 50 cm sheets, 40 x 40 cm at 1:5000.
RECT_SCALES: Mapping[int, RectScale] = MappingProxyType(
    {
        500: RectScale(500, 250, 2),
        1000: RectScale(1000, 500, 1),
        2000: RectScale(2000, 1000, 1),
        5000: RectScale(5000, 2000, 0),
    }
)


class Bounds(NamedTuple):
    """A sheet's extent: (west, south, east, north), x = east first."""

    west: Any
    south: Any
    east: Any
    north: Any


class SheetCode(NamedTuple):
    """A parsed national sheet code (rows from the north edge, columns from the west)."""

    code: str
    scale: int
    band: int  # 0 = A (0-4°N)
    zone: int  # 1..60, 6° columns from 180°W
    row: int  # 1.. within the 1:1M sheet, from the north (1 for 1:1M)
    col: int  # 1.. within the 1:1M sheet, from the west (1 for 1:1M)


_SCALE_RE = re.compile(r"(?:1\s*:\s*)?([\d,_ ]*\d)\s*([km]?)", re.IGNORECASE)


def parse_scale(value: Any) -> int:
    """The denominator of a national scale, from ``"1:10000"``, ``"1:10k"``, ``10000``...

    Args:
        value: an int denominator or a string such as ``"1:10,000"``, ``"10k"``, ``"1:1M"``.

    Returns:
        The denominator, a key of :data:`SCALES`.

    Raises:
        SheetCodeError: not a scale, or not one of the ten national scales.

    Example:
        >>> parse_scale("1:10k"), parse_scale("1:1,000,000"), parse_scale(500)
        (10000, 1000000, 500)
    """
    allowed = ", ".join(f"1:{d}" for d in sorted(SCALES))
    if isinstance(value, bool):
        raise SheetCodeError(f"scale {value!r} is not a number; expected one of {allowed}")
    if isinstance(value, int | np.integer):
        denominator = int(value)
    elif isinstance(value, str):
        match = _SCALE_RE.fullmatch(value.strip())
        if not match:
            raise SheetCodeError(
                f"scale {value!r} is not understood; expected one of {allowed} (e.g. '1:10000' or '10k')"
            )
        number = int(re.sub(r"[,_ ]", "", match.group(1)))
        denominator = number * {"": 1, "k": 1000, "m": 1_000_000}[match.group(2).lower()]
    else:
        raise SheetCodeError(f"scale {value!r} is not understood; expected one of {allowed}")
    if denominator not in SCALES:
        raise SheetCodeError(
            f"scale 1:{denominator} is not a map-sheet scale; expected one of {allowed}"
        )
    return denominator


def rect_scale(scale: Any) -> RectScale:
    """The rectangular scale for any form :func:`parse_scale` accepts.

    Raises:
        SheetCodeError: not a scale, or a scale without rectangular sheets.
    """
    denominator = parse_scale(scale)
    if denominator not in RECT_SCALES:
        allowed = ", ".join(f"1:{d}" for d in RECT_SCALES)
        raise SheetCodeError(
            f"rectangular sheets exist at {allowed} only; got 1:{denominator} (use national sheets)"
        )
    return RECT_SCALES[denominator]
