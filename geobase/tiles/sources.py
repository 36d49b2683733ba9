"""Sources of a tile build: the rasters to paint, opened and read for the warp.

Process-wide state, all of it caches that only save time (the pixels never depend on it):

- :data:`BOUNDS`: a source's bounds in the tile matrix set's CRS per file version (path,
  size, mtime) and CRS, so that an update does not pay GDAL's ``transform_bounds`` again;
- :func:`transformer`: pyproj transformers per CRS pair (PROJ's set-up costs up to ~70 ms);
- :data:`HANDLES`: the rasters each thread of each process keeps open between requests,
  so that GDAL's block cache serves the blocks neighbouring requests share. GDAL handles
  are not safe across threads (a Dask worker warps in threads) nor across a fork (their
  file offsets are shared): each thread has its own, and a forked child drops its parent's.
"""

from __future__ import annotations

import functools
import math
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import rasterio
import rasterio.enums
import rasterio.windows
from rasterio.errors import RasterioError

from geobase.errors import SourceReadError

#: source pixels read at once at most where the source is reduced (f > 1)
READ_PIXELS = 1 << 22
#: rasters one thread keeps open at most (see :data:`HANDLES`)
MAX_OPEN = 8


@dataclass(frozen=True)
class SourceRef:
    """A raster to paint, with its bounds in the tile matrix set's CRS."""

    path: str
    bounds: tuple[float, float, float, float]
    crs_wkt: str = ""  # the raster's CRS (see :func:`prepare_transformers`)


class BoundsMemo:
    """Bounds of sources in a CRS, per file version: at most ``size`` entries (cleared
    when full: a build or an update touches far fewer files)."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self.entries: dict[tuple, tuple[tuple[float, float, float, float], str]] = {}

    def get(self, key: tuple | None) -> tuple[tuple[float, float, float, float], str] | None:
        return None if key is None else self.entries.get(key)

    def put(self, key: tuple | None, value: tuple[tuple[float, float, float, float], str]) -> None:
        if key is None:
            return
        if len(self.entries) >= self.size:
            self.entries.clear()
        self.entries[key] = value


BOUNDS = BoundsMemo()


def source_ref(path: str, crs: Any) -> SourceRef:
    """A :class:`SourceRef`: the raster and its bounds in ``crs``.

    Remembered per file version (size, mtime) and CRS within the process (:data:`BOUNDS`):
    GDAL's ``transform_bounds`` costs 20-60 ms a call, much of a small update's time.
    """
    try:
        stat = os.stat(path)
        key: tuple | None = (str(path), stat.st_size, stat.st_mtime_ns, str(crs))
    except OSError:
        key = None  # let open_raster report it (or a GDAL virtual path)
    known = BOUNDS.get(key)
    if known is not None:
        return SourceRef(str(path), *known)
    with open_raster(path) as src:
        # the inverse of the warp's own transformer (made once; a second pair of CRSs
        # across datums, e.g. CGCS2000 and WGS 84, costs PROJ another ~70 ms search)
        bounds = tuple(
            transformer(crs, src.crs).transform_bounds(
                *raster_bounds(src), densify_pts=21, direction="INVERSE"
            )
        )
        wkt = src.crs.to_wkt()
    BOUNDS.put(key, (bounds, wkt))
    return SourceRef(str(path), bounds, wkt)


def raster_bounds(src: Any) -> tuple[float, float, float, float]:
    """(w, s, e, n) of a raster's four corners in its CRS: rasterio's ``bounds`` takes
    two corners only (wrong for a rotated raster) and multiplies with ``*`` (affine >= 3.1
    warns)."""
    t = src.transform
    xs, ys = zip(*(t @ (c, r) for c in (0, src.width) for r in (0, src.height)), strict=True)
    return min(xs), min(ys), max(xs), max(ys)


def open_raster(path: str) -> Any:
    """Open a raster, turning GDAL's failures into SourceReadError."""
    try:
        src = rasterio.open(path)
    except (RasterioError, OSError) as exc:
        raise SourceReadError(f"{path}: cannot be opened as a raster ({exc})") from exc
    if src.crs is None:
        src.close()
        raise SourceReadError(f"{path}: has no CRS; assign one before publishing it as tiles")
    return src


def prepare_transformers(sources: Iterable[SourceRef], crs: Any) -> None:
    """Make the warp's coordinate transformations (tms CRS -> each source's CRS) in this
    process: PROJ's set-up costs ~60 ms each, and forked workers inherit them."""
    dst = crs.to_wkt()
    for wkt in sorted({s.crs_wkt for s in sources if s.crs_wkt})[:8]:
        _transformer(dst, wkt)


def channels_for(mode: str, bands: int) -> int:
    """Channels of a build's raw tiles: 3 for RGB imagery (1 if grey), 1 for elevations."""
    if mode == "rgb":
        return 3 if bands >= 3 else 1
    return 1


# --- open rasters per thread ------------------------------------------------------------


class SourceHandles(threading.local):
    """The rasters one thread of one process keeps open (see the module's notes)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.open: dict[tuple, Any] = {}


HANDLES = SourceHandles()


def open_source(path: str) -> Any:
    """The raster open for reading, kept open between requests of this thread (GDAL's
    block cache then serves the blocks that neighbouring chunks share: JPEG decoding is
    much of a warp). Keyed by file version; never shared across a fork or a thread."""
    handles = HANDLES
    if handles.pid != os.getpid():
        handles.open.clear()  # a parent's handles (their file offsets are shared): drop them
        handles.pid = os.getpid()
    try:
        stat = os.stat(path)
        key: tuple[str, int | None, int | None] = (path, stat.st_size, stat.st_mtime_ns)
    except OSError:
        key = (path, None, None)
    src = handles.open.get(key)
    if src is None:
        if len(handles.open) >= MAX_OPEN:
            close_sources()
        src = handles.open[key] = open_raster(path)
    return src


def close_sources() -> None:
    """Close the rasters :func:`open_source` keeps open in this thread of this process."""
    handles = HANDLES
    if handles.pid == os.getpid():
        for src in handles.open.values():
            src.close()
    handles.open.clear()


# --- coordinate transformations ---------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _transformer(crs_from: str, crs_to: str) -> Any:
    from pyproj import Transformer

    # PROJ picks the operation on first use (tens of ms): reuse it across requests
    return Transformer.from_crs(crs_from, crs_to, always_xy=True)


def transformer(crs_from: Any, crs_to: Any) -> Any:
    """A pyproj transformer (x, y order) between two CRSs (rasterio CRS or text), kept
    for the process: making one costs ~0.2 ms within a datum and ~70 ms across datums
    (PROJ searches its database), where GDAL's ``transform_bounds`` costs 20-50 ms on
    every call."""
    return _transformer(*(c if isinstance(c, str) else c.to_wkt() for c in (crs_from, crs_to)))


def transform_bounds(crs_from: Any, crs_to: Any, bounds: Any) -> tuple[float, float, float, float]:
    """``bounds`` (w, s, e, n) in ``crs_to``, densified 21 points a side (PROJ's
    ``proj_trans_bounds``, the same as GDAL's)."""
    return tuple(transformer(crs_from, crs_to).transform_bounds(*bounds, densify_pts=21))


# --- reading windows --------------------------------------------------------------------


def read_reduced(src: Any, bands: list[int], window: tuple[int, int, int, int], f: int,
                 dtype: Any) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Pixels and validity of source window (col0, row0, col1, row1) in units of f x f
    blocks of source pixels (blocks aligned to the source's origin; f = 1: as read).
    A block is the mean of its valid pixels (uint8 rounded half up), valid if any is.
    Past f = 1 the window is read in pieces of whole blocks (``READ_PIXELS`` source
    pixels at most): memory follows the reduced window, not the source."""
    if f == 1:
        return _read_blocks(src, bands, window, 1, dtype)
    c0, r0, c1, r1 = window
    out = np.zeros((len(bands), r1 - r0, c1 - c0), np.uint8 if dtype == np.uint8 else np.float64)
    ok = np.zeros((r1 - r0, c1 - c0), bool)
    side = max(1, math.isqrt(READ_PIXELS) // f)  # blocks per piece and axis
    for pr in range(r0, r1, side):
        for pc in range(c0, c1, side):
            pr1, pc1 = min(r1, pr + side), min(c1, pc + side)
            rows, cols = slice(pr - r0, pr1 - r0), slice(pc - c0, pc1 - c0)
            out[:, rows, cols], ok[rows, cols] = _read_blocks(
                src, bands, (pc, pr, pc1, pr1), f, dtype
            )
    return out, ok


def _read_blocks(src: Any, bands: list[int], window: tuple[int, int, int, int], f: int,
                 dtype: Any) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """One read of :func:`read_reduced`."""
    c0, r0, c1, r1 = window
    rc0, rr0 = c0 * f, r0 * f
    rc1, rr1 = min(src.width, c1 * f), min(src.height, r1 * f)
    win = rasterio.windows.Window(rc0, rr0, rc1 - rc0, rr1 - rr0)
    pix = src.read(bands, window=win)
    every = all_valid(src)
    valid = np.ones(pix.shape[1:], bool) if every else src.dataset_mask(window=win) > 0
    if dtype == np.uint8:
        if pix.dtype != np.uint8:
            pix = np.clip(np.rint(pix), 0, 255).astype(np.uint8)
        if not every:
            pix = pix * valid
    else:
        pix = pix.astype(np.float64)
        valid &= np.isfinite(pix).all(axis=0)
        pix = np.where(valid, pix, 0.0)
    if f == 1:
        return pix, valid
    ph, pw = r1 - r0, c1 - c0  # blocks
    if pix.shape[1:] != (ph * f, pw * f):  # partial blocks at the source's edge
        pad = ((0, ph * f - pix.shape[1]), (0, pw * f - pix.shape[2]))
        pix, valid = np.pad(pix, ((0, 0), *pad)), np.pad(valid, pad)
    acc = np.uint32 if dtype == np.uint8 else np.float64
    total = pix.reshape(len(bands), ph, f, pw, f).sum(axis=(2, 4), dtype=acc)
    count = valid.reshape(ph, f, pw, f).sum(axis=(1, 3), dtype=np.uint32)
    ok = count > 0
    safe = np.maximum(count, 1)
    if dtype == np.uint8:
        return ((2 * total + safe) // (2 * safe)).astype(np.uint8), ok
    return np.where(ok, total / safe, 0.0), ok


def all_valid(src: Any) -> bool:
    """Whether every pixel of the raster is valid (no nodata, mask or alpha)."""
    return all(fl == [rasterio.enums.MaskFlags.all_valid] for fl in src.mask_flag_enums)


def packed_table(
    src: Any, bands: list[int], window: tuple[int, int, int, int], f: int,
    decoder: str | None = None,
) -> np.ndarray:  # fmt: skip
    """The padded window table of uint8 imagery: per source pixel one uint64 holding the
    bands and the validity in its four 16-bit lanes (k*k*255 < 2**16), zero on the
    border and where invalid, so that one gather per sample sums every channel.
    ``decoder``: ``turbo`` reads the JPEG tiles of a YCbCr JPEG GeoTIFF with
    :mod:`geobase.tiles.jpegtiles` (at f = 1), ``gdal`` through GDAL (None:
    :func:`geobase.tiles.jpegtiles.decoder_mode`)."""
    c0, r0, c1, r1 = window
    h, w = r1 - r0, c1 - c0
    if f == 1 and src.dtypes[0] == "uint8" and len(bands) <= 3:
        from geobase.tiles.jpegtiles import decoder_mode, read_window
        from geobase.tiles.kernels import pack_pixels

        # a plain read, packed in one compiled pass (GDAL writing into the lanes, a
        # strided copy, cost five times the read)
        win = rasterio.windows.Window(c0, r0, w, h)
        every = all_valid(src)
        valid = np.ones((1, 1), bool) if every else src.dataset_mask(window=win) > 0
        turbo = decoder_mode(decoder) == "turbo" and bands == [1, 2, 3]
        rgb = read_window(src, window) if turbo else None
        pix = src.read(bands, window=win) if rgb is None else rgb.transpose(2, 0, 1)
        table = np.zeros((h + 2, w + 2), np.int64)
        pack_pixels(pix, valid, every, table)
        return table.view(np.uint64).reshape(-1)
    lanes = np.zeros((h + 2, w + 2, 4), np.uint16)
    inner = lanes[1:-1, 1:-1]
    pix, ok = read_reduced(src, bands, window, f, np.uint8)
    for i in range(len(bands)):
        inner[..., i] = pix[i]
    inner[..., 3] = ok
    return lanes.view(np.uint64).reshape(-1)
