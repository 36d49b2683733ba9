"""Map-sheet numbering: GB/T 13989-2012 national sheets and rectangular city sheets.

National sheets (国家基本比例尺地形图分幅) cover 1:1,000,000 to 1:500. A 1:1,000,000 sheet
spans 6° x 4° and is named by its row letter (A..V, 4° bands from the equator) and its
column (01..60, 6° bands from 180°W): ``F50``. Every larger scale divides the 1:1M sheet
into a square grid whose rows are counted from the north edge and columns from the west
edge, both from 1: ``F50G016043`` (1:10,000, row 16, column 43), ``F50K10120387``
(1:500, 4+4 digits).

Rectangular sheets (矩形分幅) lie on a Gauss-Kruger grid (default EPSG:4548): 250 m,
500 m, 1 km and 2 km squares at 1:500, 1:1000, 1:2000 and 1:5000, named by the south-west
corner "x-y" in km, northing first (``2583.25-467.50`` at 1:500).

Exactness
---------
Every edge of every national sheet is an edge of the 1:500 grid: 1/384° of longitude by
1/576° of latitude (9.375" x 6.25"). A point is therefore reduced, exactly, to the two
integers of its 1:500 cell (column counted from 180°W, row counted from the equator) and
every code at every scale is derived from them by integer division. A point on an edge
belongs to the cell to its east / north, so a point on a corner belongs to the north-east
sheet.

How a coordinate becomes exact:

* ``int`` and ``Fraction`` are exact and taken as they are.
* Written or measured values (``float``, ``Decimal`` and strings, decimal degrees or
  D°M'S") are read exactly (a float as its binary value), then a value less than
  :data:`EDGE_TOLERANCE` (1e-9 degree, about 0.1 mm) below an edge counts as on the
  edge. Edges mostly have no finite decimal or binary form (23°20' is 23.333...), so
  the printed bounds of a sheet (``23.333333333333332``, 17 significant digits) and
  ``23 + 20 / 60`` lie on the edge and go north, as they would on paper.
* Vectorised path (:func:`sheet_codes`): floats with ``|x| >= 2`` are multiples of
  2**-52 degree, so numpy converts them to int64 exactly in that unit and computes cell
  indices with integer shifts (``(3 * (lon + 180) * 2**52) >> 45``), including the
  edge rule above, without rounding. Other values (``|x| < 2``, object arrays of
  Fractions or strings) fall back to the exact scalar path element by element.

Rectangular sheets have integer-metre edges, which floats hold exactly; the cell is
``floor(x / size)``, checked and corrected with exact float comparisons.

Example:
    >>> sheet_code(116.682, 23.354, "1:10000")
    'F50G016043'
    >>> sheet_bounds("F50")
    Bounds(west=114.0, south=20.0, east=120.0, north=24.0)
    >>> rect_sheet_code(467483.3555, 2583777.6078, 500)
    '2583.75-467.25'
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np
import shapely

from geobase.errors import (
    AxisOrderError,
    InvalidCoordinates,
    SheetCodeError,
    SheetGridTooLarge,
    UnknownCRS,
)

logger = logging.getLogger(__name__)

__all__ = [
    "EDGE_TOLERANCE",
    "RECT_SCALES",
    "SCALES",
    "Bounds",
    "RectScale",
    "SheetCode",
    "SheetScale",
    "format_dms",
    "parse_angle",
    "parse_scale",
    "parse_sheet_code",
    "rect_sheet_bounds",
    "rect_sheet_code",
    "rect_sheet_codes",
    "rect_sheet_polygon",
    "rect_sheets_covering",
    "require_gk_crs",
    "sheet_bounds",
    "sheet_code",
    "sheet_codes",
    "sheet_polygon",
    "sheets_covering",
]

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


# --- scales ------------------------------------------------------------------------

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


def _rect_scale(scale: Any) -> RectScale:
    denominator = parse_scale(scale)
    if denominator not in RECT_SCALES:
        allowed = ", ".join(f"1:{d}" for d in RECT_SCALES)
        raise SheetCodeError(
            f"rectangular sheets exist at {allowed} only; got 1:{denominator} (use national sheets)"
        )
    return RECT_SCALES[denominator]


# --- exact coordinates -----------------------------------------------------------

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


def _exact(value: Any, what: str) -> tuple[Fraction, bool]:
    """(exact value, whether it was written or measured: float, Decimal or text)."""
    if isinstance(value, bool):
        raise InvalidCoordinates(f"{what} {value!r} is not a number")
    if isinstance(value, float | np.floating):
        value = float(value)
        if not math.isfinite(value):
            raise InvalidCoordinates(f"{what} {value!r} is not a finite number")
        return Fraction(value), True
    if isinstance(value, int | np.integer | Fraction):
        return Fraction(value), False
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidCoordinates(f"{what} {value!r} is not a finite number")
        return Fraction(value), True
    if isinstance(value, str):
        return parse_angle(value), True
    raise InvalidCoordinates(f"{what} {value!r} is not a number (got {type(value).__name__})")


def _check_lat(lat: Fraction | float, shown: Any) -> None:
    if lat < -90 or lat > 90:
        raise InvalidCoordinates(
            f"latitude {shown} is outside -90..90; did you swap longitude and latitude?"
        )
    if lat < 0:
        raise InvalidCoordinates(
            f"latitude {shown} is south of the equator; sheet numbering here covers the "
            "northern hemisphere only (China lies north of the equator)"
        )
    if lat >= _MAX_LAT:
        raise InvalidCoordinates(
            f"latitude {shown} is at or beyond 88°N; polar sheets are not numbered"
        )


def _check_lon(lon: Fraction | float, shown: Any) -> None:
    if lon < -180 or lon > 180:
        raise InvalidCoordinates(f"longitude {shown} is outside -180..180")


def _cell(value: Any, what: str, per_deg: int, offset: int) -> int:
    """Exact 1:500 cell index of one coordinate (see "Exactness" for the edge rule)."""
    exact, written = _exact(value, what)
    (_check_lon if what == "longitude" else _check_lat)(exact, value)
    index = math.floor((exact + offset) * per_deg)
    if written and Fraction(index + 1, per_deg) - offset - exact <= EDGE_TOLERANCE:
        index += 1
    return index


def _cell_of(lon: Any, lat: Any) -> tuple[int, int]:
    col = _cell(lon, "longitude", _LON_CELLS_PER_DEG, 180) % _LON_CELLS
    row = _cell(lat, "latitude", _LAT_CELLS_PER_DEG, 0)
    if row >= _MAX_LAT * _LAT_CELLS_PER_DEG:
        raise InvalidCoordinates(
            f"latitude {lat} is at or beyond 88°N; polar sheets are not numbered"
        )
    return col, row


_TWO52 = 2.0**52


def _cells_fast(values: np.ndarray, per_deg_shift: int, factor: int, offset: int) -> np.ndarray:
    """Cell indices of floats with |x| >= 2 in exact int64 arithmetic.

    ``values * 2**52`` is an exact integer V; the cell is floor((V + offset*2**52) * factor
    / 2**shift); ``factor / 2**shift == per_deg / 2**52``.
    """
    scaled = (values * _TWO52).astype(np.int64) + np.int64(offset) * np.int64(2**52)
    product = scaled * np.int64(factor)
    index = product >> per_deg_shift
    # Edge rule: snap up within EDGE_TOLERANCE below the next edge. The distance is in
    # units of 2**-52 / factor degree, so the tolerance is floor(factor 2**52 / 10**9).
    distance = ((index + 1) << per_deg_shift) - product
    limit = math.floor(factor * 2**52 * EDGE_TOLERANCE)
    return index + (distance <= limit)


def _cells_of(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised exact 1:500 cell indices (col from 180°W, row from the equator)."""
    lon_arr = np.asarray(lon)
    lat_arr = np.asarray(lat)
    try:
        lon_arr, lat_arr = np.broadcast_arrays(lon_arr, lat_arr)
    except ValueError as exc:
        raise InvalidCoordinates(
            f"longitude and latitude arrays differ in shape: {lon_arr.shape} and {lat_arr.shape}"
        ) from exc
    shape = lon_arr.shape
    lon_flat, lat_flat = lon_arr.ravel(), lat_arr.ravel()
    cols = np.empty(lon_flat.size, dtype=np.int64)
    rows = np.empty(lon_flat.size, dtype=np.int64)
    numeric = lon_flat.dtype.kind in "fiu" and lat_flat.dtype.kind in "fiu"
    if numeric:
        lon_f = lon_flat.astype(np.float64)
        lat_f = lat_flat.astype(np.float64)
        bad = ~(np.isfinite(lon_f) & np.isfinite(lat_f))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InvalidCoordinates(f"point {i}: ({lon_flat[i]}, {lat_flat[i]}) is not finite")
        for i in np.flatnonzero((lon_f < -180) | (lon_f > 180))[:1]:
            _check_lon(lon_f[i], f"{lon_flat[i]} (point {i})")
        for i in np.flatnonzero((lat_f < 0) | (lat_f >= _MAX_LAT))[:1]:
            _check_lat(lat_f[i], f"{lat_flat[i]} (point {i})")
        fast = (np.abs(lon_f) >= 2) & (lat_f >= 2)
        # lon: 384 / 2**52 = 3 / 2**45; lat: 576 / 2**52 = 9 / 2**46.
        cols[fast] = _cells_fast(lon_f[fast], 45, 3, 180)
        rows[fast] = _cells_fast(lat_f[fast], 46, 9, 0)
        slow = np.flatnonzero(~fast)
        values_lon, values_lat = lon_f, lat_f
    else:
        slow = np.arange(lon_flat.size)
        values_lon, values_lat = lon_flat, lat_flat
    for i in slow:
        lon_i = values_lon[i].item() if hasattr(values_lon[i], "item") else values_lon[i]
        lat_i = values_lat[i].item() if hasattr(values_lat[i], "item") else values_lat[i]
        try:
            cols[i], rows[i] = _cell_of(lon_i, lat_i)
        except InvalidCoordinates as exc:
            raise InvalidCoordinates(f"point {i}: {exc}") from None
    over = rows >= _MAX_LAT * _LAT_CELLS_PER_DEG
    if over.any():
        i = int(np.flatnonzero(over)[0])
        raise InvalidCoordinates(
            f"point {i}: latitude {lat_flat[i]} is at or beyond 88°N; polar sheets are not numbered"
        )
    cols %= _LON_CELLS
    return cols.reshape(shape), rows.reshape(shape)


# --- national codes ----------------------------------------------------------------


def _codes(cols: np.ndarray, rows: np.ndarray, spec: SheetScale) -> np.ndarray:
    """Codes of the sheets holding 1:500 cells (cols, rows), vectorised."""
    cols = np.asarray(cols, dtype=np.int64)
    rows = np.asarray(rows, dtype=np.int64)
    letters = np.array(list(_ROW_LETTERS))[rows // _CELLS_PER_MILLION]
    zones = np.char.zfill((cols // _CELLS_PER_MILLION + 1).astype(str), 2)
    codes = np.char.add(letters, zones)
    if spec.rows == 1:
        return codes
    row = spec.rows - (rows % _CELLS_PER_MILLION) // spec.cells
    col = (cols % _CELLS_PER_MILLION) // spec.cells + 1
    codes = np.char.add(codes, spec.letter)
    codes = np.char.add(codes, np.char.zfill(row.astype(str), spec.digits))
    return np.char.add(codes, np.char.zfill(col.astype(str), spec.digits))


def sheet_code(lon: Any, lat: Any, scale: Any) -> str:
    """The national sheet code of a point (CGCS2000 lon/lat, northern hemisphere).

    A point on an edge belongs to the sheet east / north of it, a corner point to the
    north-east sheet.

    Args:
        lon: longitude in degrees (float, int, Fraction, Decimal or a D°M'S" string).
        lat: latitude in degrees, 0 <= lat < 88.
        scale: any form :func:`parse_scale` accepts.

    Raises:
        InvalidCoordinates: not a number, out of range or in the southern hemisphere.
        SheetCodeError: unknown scale.

    Example:
        >>> sheet_code("116°28'25\\"", "39°54'30\\"", "1:100k")
        'J50D001005'
    """
    spec = SCALES[parse_scale(scale)]
    col, row = _cell_of(lon, lat)
    return str(_codes(np.array([col]), np.array([row]), spec)[0])


def sheet_codes(lon: Any, lat: Any, scale: Any) -> np.ndarray:
    """Sheet codes of many points at once (see :func:`sheet_code`), as a string array.

    Floats are handled in exact int64 arithmetic; other values through Fractions.

    Example:
        >>> sheet_codes([116.682, 117.29], [23.354, 31.8492], 1_000_000).tolist()
        ['F50', 'H50']
    """
    spec = SCALES[parse_scale(scale)]
    cols, rows = _cells_of(lon, lat)
    return _codes(cols, rows, spec)


_CODE_RE = re.compile(r"([A-Z])(\d{2})(?:([A-Z])(\d+))?")


def parse_sheet_code(code: str) -> SheetCode:
    """Check and split a national sheet code (lower case accepted, normalised to upper).

    Raises:
        SheetCodeError: the code is malformed, names an unknown scale letter or a row /
            column outside its 1:1,000,000 sheet.

    Example:
        >>> parse_sheet_code("f50g016043")
        SheetCode(code='F50G016043', scale=10000, band=5, zone=50, row=16, col=43)
    """
    if not isinstance(code, str):
        raise SheetCodeError(f"sheet code must be text, got {type(code).__name__} {code!r}")
    text = code.strip().upper()
    example = "expected e.g. 'F50' (1:1,000,000), 'F50G016043' (1:10,000) or 'F50K10120387' (1:500)"
    if not text:
        raise SheetCodeError(f"empty sheet code; {example}")
    match = _CODE_RE.fullmatch(text)
    if not match:
        if re.fullmatch(r"\d+(\.\d+)?-\d+(\.\d+)?", text):
            raise SheetCodeError(
                f"{code!r} looks like a rectangular sheet number (x-y in km), not a national sheet code"
            )
        raise SheetCodeError(f"malformed sheet code {code!r}; {example}")
    letter, zone_text, scale_letter, digits = match.groups()
    band = _ROW_LETTERS.find(letter)
    if band < 0:
        raise SheetCodeError(
            f"sheet code {code!r}: row letter {letter} is beyond V (84-88°N); expected A..V "
            "(northern hemisphere only; polar sheets are not numbered)"
        )
    zone = int(zone_text)
    if not 1 <= zone <= 60:
        raise SheetCodeError(f"sheet code {code!r}: column {zone_text} is outside 01..60")
    if scale_letter is None:
        return SheetCode(text, 1_000_000, band, zone, 1, 1)
    spec = _BY_LETTER.get(scale_letter)
    if spec is None:
        raise SheetCodeError(
            f"sheet code {code!r}: unknown scale letter {scale_letter}; expected B (1:500,000) .. K (1:500)"
        )
    if len(digits) != 2 * spec.digits:
        raise SheetCodeError(
            f"sheet code {code!r}: scale letter {scale_letter} ({spec.label}) takes "
            f"{spec.digits}+{spec.digits} digits, got {len(digits)}"
        )
    row, col = int(digits[: spec.digits]), int(digits[spec.digits :])
    for name, number in (("row", row), ("column", col)):
        if not 1 <= number <= spec.rows:
            raise SheetCodeError(
                f"sheet code {code!r}: {name} {number} is outside 1..{spec.rows} for {spec.label} ({scale_letter})"
            )
    return SheetCode(text, spec.denominator, band, zone, row, col)


def _exact_bounds(parsed: SheetCode) -> Bounds:
    spec = SCALES[parsed.scale]
    west = (parsed.zone - 1) * 6 - 180 + (parsed.col - 1) * spec.dlon
    south = parsed.band * 4 + (spec.rows - parsed.row) * spec.dlat
    return Bounds(west, south, west + spec.dlon, south + spec.dlat)


def sheet_bounds(code: str, *, exact: bool = False) -> Bounds:
    """The extent of a national sheet, degrees: (west, south, east, north).

    Args:
        code: a sheet code such as ``"F50G016043"`` (case-insensitive).
        exact: return Fractions instead of correctly rounded floats.

    Raises:
        SheetCodeError: malformed code.

    Example:
        >>> sheet_bounds("J50D001005", exact=True).south  # 39°40'
        Fraction(119, 3)
    """
    bounds = _exact_bounds(parse_sheet_code(code))
    return bounds if exact else Bounds(*(float(v) for v in bounds))


def sheet_polygon(code: str) -> shapely.Polygon:
    """The sheet as a shapely polygon in lon/lat (EPSG:4490).

    Example:
        >>> sheet_polygon("F50").bounds
        (114.0, 20.0, 120.0, 24.0)
    """
    return shapely.box(*sheet_bounds(code))


# --- rectangular sheets --------------------------------------------------------------


def _rect_index(values: np.ndarray, size: int) -> np.ndarray:
    index = np.floor_divide(values, size)
    index = np.where(index * size > values, index - 1, index)
    index = np.where((index + 1) * size <= values, index + 1, index)
    return index.astype(np.int64)


def _km(metres: np.ndarray, decimals: int) -> np.ndarray:
    whole = (metres // 1000).astype(str)
    if decimals == 0:
        return whole
    frac = (metres % 1000) // 10 ** (3 - decimals)
    return np.char.add(np.char.add(whole, "."), np.char.zfill(frac.astype(str), decimals))


def _rect_codes(ke: np.ndarray, kn: np.ndarray, spec: RectScale) -> np.ndarray:
    north = _km(kn * spec.size_m, spec.decimals)
    east = _km(ke * spec.size_m, spec.decimals)
    return np.char.add(np.char.add(north, "-"), east)


def _check_gk(east: np.ndarray, north: np.ndarray) -> None:
    bad = ~(np.isfinite(east) & np.isfinite(north))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidCoordinates(f"point {i}: ({east[i]}, {north[i]}) is not finite")
    neg = (east < 0) | (north < 0)
    if neg.any():
        i = int(np.flatnonzero(neg)[0])
        raise InvalidCoordinates(
            f"point {i}: easting {east[i]}, northing {north[i]} is negative; not on a "
            "northern-hemisphere Gauss-Kruger grid (are these lon/lat or local coordinates?)"
        )
    swapped = (east >= 1_000_000) & (east < 10_000_000)
    if swapped.any():
        i = int(np.flatnonzero(swapped)[0])
        raise AxisOrderError(
            f"point {i}: easting {east[i]} is no Gauss-Kruger easting (without a zone prefix "
            "they stay below 1,000 km, with one they start at 13,000 km); did you swap "
            "x (northing) and y (easting)? pass east, north"
        )


def rect_sheet_codes(east: Any, north: Any, scale: Any) -> np.ndarray:
    """Rectangular sheet numbers of many Gauss-Kruger points (metres), vectorised.

    Example:
        >>> rect_sheet_codes([467483.4, 467250.0], [2583777.6, 2583250.0], "1:500").tolist()
        ['2583.75-467.25', '2583.25-467.25']
    """
    spec = _rect_scale(scale)
    try:
        e = np.asarray(east, dtype=np.float64)
        n = np.asarray(north, dtype=np.float64)
        e, n = np.broadcast_arrays(e, n)
    except (TypeError, ValueError) as exc:
        raise InvalidCoordinates(
            f"easting/northing are not numeric arrays of one shape: {exc}"
        ) from None
    _check_gk(e.ravel(), n.ravel())
    return _rect_codes(_rect_index(e, spec.size_m), _rect_index(n, spec.size_m), spec)


def rect_sheet_code(east: float, north: float, scale: Any) -> str:
    """The rectangular sheet number ("x-y" of the south-west corner, km) of a GK point.

    Args:
        east: easting in metres (x of GIS software, surveying y).
        north: northing in metres (surveying x).
        scale: 1:500, 1:1000, 1:2000 or 1:5000.

    Raises:
        InvalidCoordinates: not finite or negative; AxisOrderError for swapped axes.
        SheetCodeError: a scale without rectangular sheets.

    Example:
        >>> rect_sheet_code(467483.3555, 2583777.6078, "1:1000")
        '2583.5-467.0'
    """
    return str(rect_sheet_codes([east], [north], scale)[0])


_RECT_RE = re.compile(r"(\d+)(?:\.(\d{1,3}))?-(\d+)(?:\.(\d{1,3}))?")


def _parse_rect(code: str, scale: Any | None) -> tuple[RectScale, int, int]:
    if not isinstance(code, str):
        raise SheetCodeError(f"sheet number must be text, got {type(code).__name__} {code!r}")
    text = code.strip()
    match = _RECT_RE.fullmatch(text)
    if not match:
        hint = " (that is a national sheet code)" if re.match(r"[A-Za-z]\d", text) else ""
        raise SheetCodeError(
            f"malformed rectangular sheet number {code!r}{hint}; expected the south-west "
            "corner 'x-y' in km, northing first, e.g. '2583.25-467.50'"
        )
    x_int, x_dec, y_int, y_dec = match.groups()
    if scale is None:
        decimals = {len(x_dec or ""), len(y_dec or "")}
        guess = [s for s in RECT_SCALES.values() if decimals == {s.decimals}]
        if len(guess) != 1:
            options = " or ".join(s.label for s in guess) if guess else "no scale"
            raise SheetCodeError(
                f"cannot tell the scale of rectangular sheet {code!r} ({options} fits); pass the scale"
            )
        spec = guess[0]
    else:
        spec = _rect_scale(scale)
    north = int(x_int) * 1000 + int((x_dec or "").ljust(3, "0"))
    east = int(y_int) * 1000 + int((y_dec or "").ljust(3, "0"))
    for name, metres in (("northing", north), ("easting", east)):
        if metres % spec.size_m:
            raise SheetCodeError(
                f"rectangular sheet {code!r}: {name} {metres / 1000:g} km is not a multiple of "
                f"{spec.size_m / 1000:g} km, the {spec.label} sheet size"
            )
    return spec, east, north


def rect_sheet_bounds(code: str, scale: Any | None = None) -> Bounds:
    """The extent of a rectangular sheet in its GK CRS, metres: (west, south, east, north).

    Args:
        code: the sheet number, e.g. ``"2583.25-467.50"``.
        scale: the sheet's scale; when None it is inferred from the decimals (2: 1:500,
            0: 1:5000; 1 decimal fits 1:1000 and 1:2000 and needs the scale).

    Raises:
        SheetCodeError: malformed number, or a corner not on the scale's grid.

    Example:
        >>> rect_sheet_bounds("2583.25-467.50")
        Bounds(west=467500.0, south=2583250.0, east=467750.0, north=2583500.0)
    """
    spec, east, north = _parse_rect(code, scale)
    size = spec.size_m
    return Bounds(float(east), float(north), float(east + size), float(north + size))


def rect_sheet_polygon(code: str, scale: Any | None = None) -> shapely.Polygon:
    """The rectangular sheet as a shapely polygon in its GK CRS."""
    return shapely.box(*rect_sheet_bounds(code, scale))


# --- sheets covering an area -------------------------------------------------------


def _crs(crs: Any):
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        return CRS.from_user_input(crs)
    except CRSError as exc:
        raise UnknownCRS(f"CRS {crs!r} is not understood: {exc}") from None


def require_gk_crs(crs: Any):
    """``crs`` as a pyproj CRS, checked to be a Gauss-Kruger (transverse Mercator) system.

    Raises:
        UnknownCRS: not understood, or not a transverse Mercator projection.

    Example:
        >>> require_gk_crs("EPSG:4548").name
        'CGCS2000 / 3-degree Gauss-Kruger CM 117E'
    """
    result = _crs(crs)
    operation = result.coordinate_operation
    if (
        not result.is_projected
        or operation is None
        or "transverse mercator" not in operation.method_name.lower()
    ):
        raise UnknownCRS(
            f"{result.to_string()} ({result.name}) is not a Gauss-Kruger (transverse Mercator) "
            "system; rectangular sheets need one, e.g. EPSG:4548"
        )
    return result


def _area(geometry: Any, crs: Any, target, densify_m: float) -> shapely.Geometry:
    """One shapely geometry in ``target``; GeoSeries/GeoDataFrames carry their CRS."""
    source = None
    if hasattr(geometry, "geometry") and hasattr(geometry, "crs"):  # GeoDataFrame/GeoSeries
        if geometry.crs is None:
            raise UnknownCRS(
                "the area has no CRS; set one (e.g. EPSG:4490) before asking for sheets"
            )
        source = geometry.crs
        geoms = np.asarray(geometry.geometry.values if hasattr(geometry, "geometry") else geometry)
        geoms = geoms[~shapely.is_missing(geoms)]
        geometry = shapely.union_all(shapely.make_valid(geoms)) if len(geoms) else shapely.Polygon()
    elif isinstance(geometry, shapely.Geometry):
        source = _crs(crs)
    else:
        raise InvalidCoordinates(
            f"area must be a shapely geometry, GeoSeries or GeoDataFrame, got {type(geometry).__name__}"
        )
    if geometry.is_empty:
        raise InvalidCoordinates("the area is empty; nothing to cover with sheets")
    if not shapely.is_valid(geometry):
        geometry = shapely.make_valid(geometry)
    source = _crs(source)
    if source == target:
        return geometry
    from pyproj import Transformer

    step = densify_m / 111_000 if source.is_geographic else densify_m
    geometry = shapely.segmentize(geometry, step)
    transformer = Transformer.from_crs(source, target, always_xy=True)

    def project(xy: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    result = shapely.transform(geometry, project)
    coords = shapely.get_coordinates(result)
    if not np.isfinite(coords).all():
        raise InvalidCoordinates(
            f"the area does not project from {source.to_string()} to {target.to_string()} (outside its domain?)"
        )
    return result


def _meeting(area: shapely.Geometry, boxes: np.ndarray) -> np.ndarray:
    """Mask of boxes sharing area with a polygonal area, or meeting a point/line area."""
    shapely.prepare(area)
    hit = shapely.intersects(area, boxes)
    if shapely.get_dimensions(area) < 2:
        return hit
    idx = np.flatnonzero(hit)
    inner = shapely.contains_properly(area, boxes[idx])
    edge = idx[~inner]
    hit[edge] = ~shapely.touches(area, boxes[edge])
    return hit


def _check_count(count: int, max_sheets: int, label: str) -> None:
    if count > max_sheets:
        raise SheetGridTooLarge(
            f"the area's extent spans {count:,} candidate {label} sheets, more than the limit "
            f"{max_sheets:,}; use a smaller area or scale, or raise max_sheets"
        )


def sheets_covering(
    geometry: Any, scale: Any, crs: Any = "EPSG:4490", *, max_sheets: int = 5_000_000
):
    """All national sheets sharing area with a polygon (or meeting a point / line).

    Candidates come from the area's bounding box with numpy; shapely 2 predicates on
    the whole array filter them (a prepared ``intersects``, then ``touches`` for the
    boxes on the boundary only).

    Args:
        geometry: a shapely geometry in ``crs``, or a GeoSeries / GeoDataFrame with its
            own CRS (all its geometries are united).
        scale: any form :func:`parse_scale` accepts.
        crs: the CRS of a plain shapely geometry (default CGCS2000 lon/lat).
        max_sheets: refuse areas whose bounding box spans more candidate sheets.

    Returns:
        GeoDataFrame with columns code, scale (denominator) and geometry (EPSG:4490),
        sorted by code.

    Raises:
        SheetCodeError, InvalidCoordinates, UnknownCRS, SheetGridTooLarge.

    Example:
        >>> sheets_covering(shapely.box(116.6, 23.3, 116.7, 23.4), "1:50k").code.tolist()
        ['F50E004011', 'F50E005011']
    """
    import geopandas as gpd
    from pyproj import CRS

    spec = SCALES[parse_scale(scale)]
    target = CRS.from_epsg(4490)
    dlat_m = float(spec.dlat) * 111_000
    area = _area(geometry, crs, target, densify_m=dlat_m / 4)
    west, south, east, north = (Fraction(v) for v in area.bounds)
    _check_lon(west, float(west))
    _check_lon(east, float(east))
    _check_lat(south, float(south))
    if north > _MAX_LAT:
        raise InvalidCoordinates(
            f"the area reaches {float(north)}°N, beyond 88°N; polar sheets are not numbered"
        )
    n_cols = 360 * spec.rows // 6
    n_rows = _MAX_LAT * spec.rows // 4
    c0 = max(math.floor((west + 180) / spec.dlon) - 1, 0)  # -1: sheets touching a west
    c1 = min(math.floor((east + 180) / spec.dlon), n_cols - 1)
    r0 = max(math.floor(south / spec.dlat) - 1, 0)  # or south edge meet points and lines
    r1 = min(math.floor(north / spec.dlat), n_rows - 1)
    _check_count((c1 - c0 + 1) * (r1 - r0 + 1), max_sheets, spec.label)
    cc, rr = np.meshgrid(
        np.arange(c0, c1 + 1, dtype=np.int64), np.arange(r0, r1 + 1, dtype=np.int64)
    )
    cc, rr = cc.ravel(), rr.ravel()
    # Exact edges, one correctly rounded division each: (index * p - offset * q) / q.
    p_lon, q_lon = spec.dlon.numerator, spec.dlon.denominator
    p_lat, q_lat = spec.dlat.numerator, spec.dlat.denominator
    west_e = (cc * p_lon - 180 * q_lon) / q_lon
    east_e = ((cc + 1) * p_lon - 180 * q_lon) / q_lon
    south_e = (rr * p_lat) / q_lat
    north_e = ((rr + 1) * p_lat) / q_lat
    boxes = shapely.box(west_e, south_e, east_e, north_e)
    keep = _meeting(area, boxes)
    codes = _codes(cc[keep] * spec.cells, rr[keep] * spec.cells, spec)
    frame = gpd.GeoDataFrame(
        {"code": codes.astype(object), "scale": np.full(len(codes), spec.denominator)},
        geometry=boxes[keep],
        crs=target,
    )
    return frame.sort_values("code", ignore_index=True)


def rect_sheets_covering(
    geometry: Any, scale: Any, crs: Any = "EPSG:4548", *, max_sheets: int = 5_000_000
):
    """All rectangular sheets of a GK grid sharing area with a polygon (vectorised).

    Args:
        geometry: a shapely geometry in the grid CRS ``crs``, or a GeoSeries /
            GeoDataFrame with its own CRS (reprojected to ``crs``, densified first).
        scale: 1:500, 1:1000, 1:2000 or 1:5000.
        crs: the Gauss-Kruger CRS of the grid (default EPSG:4548, CM 117°E).
        max_sheets: refuse areas whose bounding box spans more candidate sheets.

    Returns:
        GeoDataFrame with columns code, scale and geometry in ``crs``, sorted by code.

    Example:
        >>> rect_sheets_covering(shapely.box(467100, 2583100, 467600, 2583300), 500).code.tolist()
        ['2583.00-467.00', '2583.00-467.25', '2583.00-467.50', '2583.25-467.00', '2583.25-467.25', '2583.25-467.50']
    """
    import geopandas as gpd

    spec = _rect_scale(scale)
    grid = require_gk_crs(crs)
    size = spec.size_m
    area = _area(geometry, grid, grid, densify_m=size / 4)
    west, south, east, north = area.bounds
    _check_gk(np.array([west, east]), np.array([south, north]))
    e0, e1 = _rect_index(np.array([west, east]), size)
    n0, n1 = _rect_index(np.array([south, north]), size)
    e0, n0 = max(e0 - 1, 0), max(n0 - 1, 0)  # sheets touching a west / south edge
    _check_count(int((e1 - e0 + 1) * (n1 - n0 + 1)), max_sheets, spec.label)
    ke, kn = np.meshgrid(
        np.arange(e0, e1 + 1, dtype=np.int64), np.arange(n0, n1 + 1, dtype=np.int64)
    )
    ke, kn = ke.ravel(), kn.ravel()
    boxes = shapely.box(ke * size, kn * size, (ke + 1) * size, (kn + 1) * size)
    keep = _meeting(area, boxes)
    codes = _rect_codes(ke[keep], kn[keep], spec)
    frame = gpd.GeoDataFrame(
        {"code": codes.astype(object), "scale": np.full(len(codes), spec.denominator)},
        geometry=boxes[keep],
        crs=grid,
    )
    return frame.sort_values("code", ignore_index=True)
