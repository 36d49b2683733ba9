"""National sheets (国家基本比例尺地形图分幅, GB/T 13989-2012): the code of a point, the
extent of a code, and the sheets covering an area; exact as the package docstring says."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import shapely

from geobase.errors import InvalidCoordinates, SheetCodeError
from geobase.sheets.angles import parse_angle
from geobase.sheets.covering import _area, _check_count, _meeting
from geobase.sheets.scales import (
    _BY_LETTER,
    _CELLS_PER_MILLION,
    _LAT_CELLS_PER_DEG,
    _LON_CELLS,
    _LON_CELLS_PER_DEG,
    _MAX_LAT,
    _ROW_LETTERS,
    EDGE_TOLERANCE,
    SCALES,
    Bounds,
    SheetCode,
    SheetScale,
    parse_scale,
)


def _exact(value: Any, what: str) -> tuple[Fraction, bool]:
    """(exact value, whether it was written or measured: float, Decimal or text)."""
    if isinstance(value, bool):
        raise InvalidCoordinates(f"{what} {value!r} is not a number")
    if isinstance(value, float | np.floating):
        value = float(value)
        if not math.isfinite(value):
            raise InvalidCoordinates(f"{what} {value!r} is not a finite number")
        return Fraction(value), True
    if isinstance(value, np.integer):
        value = int(value)
    if isinstance(value, int | Fraction):
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
    for i in slow.tolist():
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
    grid_c, grid_r = np.meshgrid(
        np.arange(c0, c1 + 1, dtype=np.int64), np.arange(r0, r1 + 1, dtype=np.int64)
    )
    cc, rr = grid_c.ravel(), grid_r.ravel()
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
