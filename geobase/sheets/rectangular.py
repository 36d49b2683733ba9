"""Rectangular sheets (矩形分幅) on a Gauss-Kruger grid: the number of a point, the extent
of a number, and the sheets covering an area."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import shapely

from geobase.errors import AxisOrderError, InvalidCoordinates, SheetCodeError
from geobase.sheets.covering import _area, _check_count, _meeting, require_gk_crs
from geobase.sheets.scales import RECT_SCALES, Bounds, RectScale, rect_scale


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
    spec = rect_scale(scale)
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
        spec = rect_scale(scale)
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

    spec = rect_scale(scale)
    grid = require_gk_crs(crs)
    size = spec.size_m
    area = _area(geometry, grid, grid, densify_m=size / 4)
    west, south, east, north = area.bounds
    _check_gk(np.array([west, east]), np.array([south, north]))
    e0, e1 = _rect_index(np.array([west, east]), size)
    n0, n1 = _rect_index(np.array([south, north]), size)
    e0, n0 = max(e0 - 1, 0), max(n0 - 1, 0)  # sheets touching a west / south edge
    _check_count(int((e1 - e0 + 1) * (n1 - n0 + 1)), max_sheets, spec.label)
    grid_e, grid_n = np.meshgrid(
        np.arange(e0, e1 + 1, dtype=np.int64), np.arange(n0, n1 + 1, dtype=np.int64)
    )
    ke, kn = grid_e.ravel(), grid_n.ravel()
    boxes = shapely.box(ke * size, kn * size, (ke + 1) * size, (kn + 1) * size)
    keep = _meeting(area, boxes)
    codes = _rect_codes(ke[keep], kn[keep], spec)
    frame = gpd.GeoDataFrame(
        {"code": codes.astype(object), "scale": np.full(len(codes), spec.denominator)},
        geometry=boxes[keep],
        crs=grid,
    )
    return frame.sort_values("code", ignore_index=True)
