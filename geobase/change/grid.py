"""The common grid of two epochs and reading an epoch's window on it.

The grid takes the CRS of BEFORE's first raster, the coarser pixel of the two epochs
and the area both cover (snapped to BEFORE's pixels where they are of that size). A
raster already on the grid is read directly (windowed, no resampling); any other goes
through a ``WarpedVRT`` (bilinear). A sub-pixel shift between the epochs is corrected
while reading: bilinear interpolation for a raster on the grid, a shifted warp otherwise.
Open datasets are kept per process (:func:`close_all` closes them).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from pyproj import CRS as ProjCRS
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from geobase.change.epochs import Source
from geobase.errors import GeobaseError, NoOverlapError, NoTransformError


@dataclass(frozen=True)
class Grid:
    """A north-up grid: CRS (WKT), pixel size, origin and size."""

    crs_wkt: str
    res: float
    x0: float  # west edge
    y0: float  # north edge
    width: int
    height: int

    @property
    def transform(self) -> Affine:
        return Affine(self.res, 0.0, self.x0, 0.0, -self.res, self.y0)

    @property
    def crs(self) -> ProjCRS:
        return _crs_from_wkt(self.crs_wkt)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return (
            self.x0,
            self.y0 - self.res * self.height,
            self.x0 + self.res * self.width,
            self.y0,
        )

    def window_transform(self, row: int, col: int) -> Affine:
        return self.transform @ Affine.translation(col, row)


@functools.lru_cache(maxsize=32)
def _crs_from_wkt(wkt: str) -> ProjCRS:
    return ProjCRS.from_wkt(wkt)


def _proj(crs: Any) -> ProjCRS:
    return ProjCRS.from_wkt(crs.to_wkt()) if not isinstance(crs, ProjCRS) else crs


def source_bounds_in(source: Source, crs: ProjCRS) -> tuple[float, float, float, float]:
    """A source's bounds in ``crs`` (densified edges).

    Raises:
        NoTransformError: no usable transformation between the source's CRS and ``crs``.
    """
    from geobase.geodesy.transform import get_transformer

    src = _proj(source.crs)
    if src == crs:
        return source.bounds
    try:
        transformer = get_transformer(src, crs)
        bounds = transformer.transform_bounds(*source.bounds, densify_pts=21)
    except GeobaseError as err:
        raise NoTransformError(
            f"{source.path.name}: {err}; reproject one epoch to the other's CRS first"
        ) from err
    except Exception as err:  # pyproj's ProjError and friends
        raise NoTransformError(
            f"{source.path.name}: no usable transformation from {src.name} to {crs.name} "
            f"({str(err).splitlines()[0] if str(err) else type(err).__name__})"
        ) from err
    if not all(math.isfinite(v) for v in bounds):
        raise NoTransformError(
            f"{source.path.name}: its bounds do not transform from {src.name} to {crs.name}"
        )
    return bounds


def _union(boxes: list[tuple[float, ...]]) -> tuple[float, float, float, float]:
    arr = np.array(boxes)
    return arr[:, 0].min(), arr[:, 1].min(), arr[:, 2].max(), arr[:, 3].max()


def common_grid(before: list[Source], after: list[Source], *, res: float | None = None) -> Grid:
    """The grid both epochs are compared on (see the module docstring).

    Raises:
        NoTransformError: a CRS cannot be transformed into the grid's.
        NoOverlapError: the epochs' areas do not meet.
    """
    crs = _proj(before[0].crs)
    wb = _union([source_bounds_in(s, crs) for s in before])
    wa = _union([source_bounds_in(s, crs) for s in after])
    west, south = max(wb[0], wa[0]), max(wb[1], wa[1])
    east, north = min(wb[2], wa[2]), min(wb[3], wa[3])
    if west >= east or south >= north:
        raise NoOverlapError(
            f"the epochs do not overlap: before covers {_fmt(wb)}, after covers {_fmt(wa)} "
            f"(in {crs.name}); check that both show the same place"
        )

    def res_in(s: Source) -> float:
        if _proj(s.crs) == crs:
            return s.res
        b = source_bounds_in(s, crs)
        return max((b[2] - b[0]) / s.width, (b[3] - b[1]) / s.height)

    pixel = res or max(res_in(s) for s in before + after)
    ref = before[0]
    a, b, c, d, _e, f = ref.transform
    if _proj(ref.crs) == crs and b == d == 0 and abs(a - pixel) < 1e-9 * pixel:
        ox, oy = c, f  # snap to BEFORE's pixels
    else:
        ox, oy = 0.0, 0.0
    x0 = ox + math.ceil((west - ox) / pixel - 1e-6) * pixel
    y0 = oy - math.ceil((oy - north) / pixel - 1e-6) * pixel
    width = math.floor((east - x0) / pixel + 1e-6)
    height = math.floor((y0 - south) / pixel + 1e-6)
    if width < 8 or height < 8:
        raise NoOverlapError(
            f"the epochs overlap in only {max(width, 0)} x {max(height, 0)} pixels of "
            f"{pixel:g} (before {_fmt(wb)}, after {_fmt(wa)}); too small to compare"
        )
    return Grid(crs.to_wkt(), float(pixel), float(x0), float(y0), width, height)


def _fmt(b: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:.1f}" for v in b) + ")"


# --- reading ------------------------------------------------------------------------------

_OPEN: dict[Any, Any] = {}


def close_all() -> None:
    """Close the datasets this process opened for reading windows."""
    for handle in _OPEN.values():
        handle.close()
    _OPEN.clear()


def _dataset(path: Any) -> Any:
    key = ("ds", str(path))
    if key not in _OPEN:
        _OPEN[key] = rasterio.open(path)
    return _OPEN[key]


@functools.lru_cache(maxsize=256)
def aligned(source: Source, grid: Grid) -> tuple[int, int] | None:
    """The grid origin's pixel offset in the source, if the source is on the grid."""
    a, b, c, d, e, f = source.transform
    if (
        b != 0
        or d != 0
        or abs(a - grid.res) > 1e-9 * grid.res
        or abs(-e - grid.res) > 1e-9 * grid.res
    ):
        return None
    if _proj(source.crs) != grid.crs:
        return None
    col = (grid.x0 - c) / grid.res
    row = (f - grid.y0) / grid.res
    if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
        return None
    return round(row), round(col)


def _valid(data: np.ndarray, nodata: float | None) -> np.ndarray:
    valid = np.ones(data.shape[1:], dtype=bool)
    for band in data:
        if nodata is not None and not math.isnan(nodata):
            valid &= band != band.dtype.type(nodata) if data.dtype.kind != "f" else band != nodata
        if data.dtype.kind == "f":
            valid &= np.isfinite(band)
    return valid


def _has_mask(ds: Any) -> bool:
    return any(
        rasterio.enums.MaskFlags.per_dataset in f or rasterio.enums.MaskFlags.alpha in f
        for f in ds.mask_flag_enums
    )


def _read_direct(
    source: Source, offset: tuple[int, int], row: int, col: int, h: int, w: int
) -> tuple[np.ndarray, np.ndarray]:
    """A window of the source (grid pixel row, col; size h x w); outside it invalid."""
    ds = _dataset(source.path)
    r0, c0 = row + offset[0], col + offset[1]
    rr0, cc0 = max(r0, 0), max(c0, 0)
    rr1, cc1 = min(r0 + h, source.height), min(c0 + w, source.width)
    window = Window(cc0, rr0, max(cc1 - cc0, 0), max(rr1 - rr0, 0))
    if rr1 <= rr0 or cc1 <= cc0:
        dtype = ds.dtypes[source.bands[0] - 1]
        return np.zeros((len(source.bands), h, w), dtype=dtype), np.zeros((h, w), dtype=bool)
    block = ds.read(list(source.bands), window=window)
    if (rr0, cc0, rr1, cc1) == (r0, c0, r0 + h, c0 + w):
        ok = _valid(block, source.nodata)
        if source.nodata is None and _has_mask(ds):
            ok &= ds.read_masks(source.bands[0], window=window) > 0
        return block, ok
    data = np.zeros((len(source.bands), h, w), dtype=block.dtype)
    valid = np.zeros((h, w), dtype=bool)
    ok = _valid(block, source.nodata)
    if source.nodata is None and _has_mask(ds):
        ok &= ds.read_masks(source.bands[0], window=window) > 0
    sl = (slice(rr0 - r0, rr1 - r0), slice(cc0 - c0, cc1 - c0))
    data[(slice(None), *sl)] = block
    valid[sl] = ok
    return data, valid


def _read_warped(
    source: Source, grid: Grid, shift: tuple[float, float], row: int, col: int, h: int, w: int
) -> tuple[np.ndarray, np.ndarray]:
    key = ("vrt", str(source.path), grid, shift)
    if key not in _OPEN:
        transform = grid.transform @ Affine.translation(shift[0], shift[1])
        _OPEN[key] = WarpedVRT(
            _dataset(source.path),
            crs=grid.crs_wkt,
            transform=transform,
            width=grid.width,
            height=grid.height,
            resampling=Resampling.bilinear,
        )
    vrt = _OPEN[key]
    window = Window(col, row, w, h)
    data = vrt.read(list(source.bands), window=window)
    valid = _valid(data, source.nodata)
    valid &= vrt.read_masks(source.bands[0], window=window) > 0
    return data, valid


def _bilinear(data: np.ndarray, valid: np.ndarray, fx: float, fy: float):
    """Sample ``data`` (one extra row and column) at +fx, +fy pixels."""
    w00, w01 = (1 - fy) * (1 - fx), (1 - fy) * fx
    w10, w11 = fy * (1 - fx), fy * fx
    data = data.astype(np.float32, copy=False)
    out = data[:, :-1, :-1] * np.float32(w00)
    out += data[:, :-1, 1:] * np.float32(w01)
    out += data[:, 1:, :-1] * np.float32(w10)
    out += data[:, 1:, 1:] * np.float32(w11)
    ok = valid[:-1, :-1] & valid[:-1, 1:] & valid[1:, :-1] & valid[1:, 1:]
    return out, ok


def read_source(
    source: Source,
    grid: Grid,
    row: int,
    col: int,
    h: int,
    w: int,
    shift: tuple[float, float] = (0.0, 0.0),
) -> tuple[np.ndarray, np.ndarray]:
    """One raster's window on the grid: (bands x h x w, valid h x w); the raster's own
    data type where no resampling was needed, float32 where it was.

    ``shift`` (dx, dy) in grid pixels: output pixel (r, c) shows the source at grid
    position (c + dx, r + dy).
    """
    offset = aligned(source, grid)
    if offset is None:
        return _read_warped(source, grid, shift, row, col, h, w)
    dx, dy = shift
    if dx == 0 and dy == 0:
        return _read_direct(source, offset, row, col, h, w)
    ix, iy = math.floor(dx), math.floor(dy)
    data, valid = _read_direct(source, offset, row + iy, col + ix, h + 1, w + 1)
    return _bilinear(data, valid, dx - ix, dy - iy)


def read_epoch(
    sources: list[Source],
    grid: Grid,
    row: int,
    col: int,
    h: int,
    w: int,
    shift: tuple[float, float] = (0.0, 0.0),
) -> tuple[np.ndarray, np.ndarray]:
    """An epoch's window on the grid: a mosaic of its rasters, newest on top."""
    data, valid = read_source(sources[0], grid, row, col, h, w, shift)
    for source in sources[1:]:
        if valid.all():
            break
        more, ok = read_source(source, grid, row, col, h, w, shift)
        fill = ok & ~valid
        data[:, fill] = more[:, fill]
        valid |= fill
    return data, valid


def lattice(grid: Grid, size: int, count: int) -> list[tuple[int, int, int, int]]:
    """Up to ``count`` x ``count`` blocks of ``size`` spread evenly over the grid:
    (row, col, h, w)."""
    h, w = min(size, grid.height), min(size, grid.width)
    nr = min(count, max(1, round(grid.height / size)))
    nc = min(count, max(1, round(grid.width / size)))
    rows = np.unique(np.linspace(0, grid.height - h, nr).round().astype(int))
    cols = np.unique(np.linspace(0, grid.width - w, nc).round().astype(int))
    return [(int(r), int(c), h, w) for r in rows for c in cols]
