"""Rendering: warp a block of base-zoom tiles in one go, cut it into tiles, make overviews.

A *block* is a rectangle of tiles at the base (highest) zoom. Its pixels are warped from
the sources by :func:`gather_warp` (k x k nearest samples per pixel, averaged, at source
coordinates exact on a lattice fixed to the zoom's global pixel grid), so that a pixel's
value does not depend on the request it is warped in: no seams, and the same bytes
whatever the blocks, the number of workers, or full build against update. Upper zooms are made from their
children by 2 x 2 averaging of the valid pixels. The data stays raw (uint8 imagery or
float32 elevations) through the pyramid and is encoded per tile at the end, so terrain-RGB
values are never interpolated after encoding.

Raw tiles are ``(data, mask)``: ``data`` is ``(channels, 256, 256)`` uint8 (``rgb``,
``hillshade``) or float32 (``terrain-rgb``), zero where invalid; ``mask`` is a
``(256, 256)`` bool array of valid pixels.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import threading
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import rasterio
import rasterio.enums
import rasterio.windows
from affine import Affine
from morecantile import Tile
from morecantile.models import TileMatrixSet
from rasterio.errors import RasterioError

from geobase.errors import SourceReadError
from geobase.tiles.encode import encode_tile

logger = logging.getLogger(__name__)

Mode = Literal["rgb", "terrain-rgb", "hillshade"]
MODES: tuple[str, ...] = ("rgb", "terrain-rgb", "hillshade")
TILE = 256
#: base tiles per side of one warp request at most (memory); the bytes never depend on it
WARP_CHUNK = 4
#: most nearest-neighbour samples per base pixel and axis (see :func:`oversample`)
MAX_OVERSAMPLE = 4
REDUCED_OVERSAMPLE = 16
#: k x k samples of output pixels warped in one gather at most (its packed source window
#: and indices take ~8 bytes a sample): larger requests are warped in bands of rows
GATHER_SAMPLES = 1 << 24
#: source pixels read at once at most where the source is reduced (f > 1)
READ_PIXELS = 1 << 22
#: names the warp's arithmetic in the overview cache's fingerprint: bump it whenever base
#: pixels change, so that an update never mixes old cached pixels with new ones
WARP_VERSION = "gather-lattice-2"


# --- grid arithmetic ---------------------------------------------------------------


@dataclass(frozen=True)
class Grid:
    """One zoom level of a tile matrix set, in the CRS's (east, north) order."""

    zoom: int
    left: float
    top: float
    res: float
    width: int  # tiles
    height: int

    def transform(self, x0: int, y0: int, pad: int = 0) -> Affine:
        """The pixel transform of a block whose top-left tile is (x0, y0), padded by ``pad`` px."""
        return Affine(
            self.res,
            0.0,
            self.left + (x0 * TILE - pad) * self.res,
            0.0,
            -self.res,
            self.top - (y0 * TILE - pad) * self.res,
        )

    def tile_range(self, bounds: Sequence[float]) -> tuple[int, int, int, int] | None:
        """Tiles (x0, y0, x1, y1), end exclusive, meeting ``bounds`` (CRS units), or None."""
        w, s, e, n = bounds
        span = self.res * TILE
        x0 = max(0, math.floor((w - self.left) / span))
        x1 = min(self.width, math.ceil((e - self.left) / span))
        y0 = max(0, math.floor((self.top - n) / span))
        y1 = min(self.height, math.ceil((self.top - s) / span))
        if x0 >= x1 or y0 >= y1:
            return None
        return x0, y0, x1, y1


def grid(tms: TileMatrixSet, zoom: int) -> Grid:
    """The :class:`Grid` of ``zoom`` (origin taken from morecantile's tile bounds)."""
    matrix = tms.matrix(zoom)
    b = tms.xy_bounds(Tile(0, 0, zoom))
    return Grid(zoom, b.left, b.top, matrix.cellSize, matrix.matrixWidth, matrix.matrixHeight)


def source_ref(path: str, crs) -> SourceRef:
    """A :class:`SourceRef`: the raster and its bounds in ``crs``.

    Remembered per file version (size, mtime) and CRS within the process: GDAL's
    ``transform_bounds`` costs 20-60 ms a call, much of a small update's time.
    """
    try:
        stat = os.stat(path)
        key = (str(path), stat.st_size, stat.st_mtime_ns, str(crs))
    except OSError:
        key = None  # let open_raster report it (or a GDAL virtual path)
    if key is not None and key in _BOUNDS:
        return SourceRef(str(path), *_BOUNDS[key])
    with open_raster(path) as src:
        # the inverse of the warp's own transformer (made once; a second pair of CRSs
        # across datums, e.g. CGCS2000 and WGS 84, costs PROJ another ~70 ms search)
        bounds = tuple(
            transformer(crs, src.crs).transform_bounds(
                *src.bounds, densify_pts=21, direction="INVERSE"
            )
        )
        wkt = src.crs.to_wkt()
    if key is not None:
        if len(_BOUNDS) >= 4096:
            _BOUNDS.clear()
        _BOUNDS[key] = (bounds, wkt)
    return SourceRef(str(path), bounds, wkt)


_BOUNDS: dict[tuple, tuple[tuple[float, float, float, float], str]] = {}


def open_raster(path: str):
    """Open a raster, turning GDAL's failures into SourceReadError."""
    try:
        src = rasterio.open(path)
    except (RasterioError, OSError) as exc:
        raise SourceReadError(f"{path}: cannot be opened as a raster ({exc})") from None
    if src.crs is None:
        src.close()
        raise SourceReadError(f"{path}: has no CRS; assign one before publishing it as tiles")
    return src


# --- warping -------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceRef:
    """A raster to paint, with its bounds in the tile matrix set's CRS."""

    path: str
    bounds: tuple[float, float, float, float]
    crs_wkt: str = ""  # the raster's CRS (see :func:`prepare_transformers`)


def prepare_transformers(sources: Iterable[SourceRef], crs) -> None:
    """Make the warp's coordinate transformations (tms CRS -> each source's CRS) in this
    process: PROJ's set-up costs ~60 ms each, and forked workers inherit them."""
    dst = crs.to_wkt()
    for wkt in sorted({s.crs_wkt for s in sources if s.crs_wkt})[:8]:
        _transformer(dst, wkt)


def channels_for(mode: str, bands: int) -> int:
    if mode == "rgb":
        return 3 if bands >= 3 else 1
    return 1


def warp_block(
    sources: Sequence[SourceRef],
    crs,
    transform: Affine,
    width: int,
    height: int,
    mode: str,
    channels: int,
    *,
    anchor: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Paint the sources (oldest first, newest on top) into one block; returns data, mask.

    ``anchor``: the (left, top) of the zoom's pixel grid, which ``transform`` is a whole
    number of pixels from; the coordinate lattice of :func:`source_coords` is fixed to it,
    so a pixel's bytes do not depend on the request it is warped in. None: the block's own
    origin (a lattice relative to the request).
    """
    dtype = np.uint8 if mode == "rgb" else np.float32
    data = np.zeros((channels, height, width), dtype=dtype)
    mask = np.zeros((height, width), dtype=bool)
    if anchor is None:
        anchor = (transform.c, transform.f)
    res = transform.a
    px0 = round((transform.c - anchor[0]) / res)
    py0 = round((anchor[1] - transform.f) / res)
    inv = ~transform
    for ref in sources:
        w, s, e, n = ref.bounds
        c0, r0 = inv @ (w, n)
        c1, r1 = inv @ (e, s)
        col0 = max(0, math.floor(min(c0, c1)) - 2)
        col1 = min(width, math.ceil(max(c0, c1)) + 2)
        row0 = max(0, math.floor(min(r0, r1)) - 2)
        row1 = min(height, math.ceil(max(r0, r1)) + 2)
        if col0 >= col1 or row0 >= row1:
            continue
        part, valid = _warp_one(ref, crs, anchor, res, px0 + col0, py0 + row0,
                                col1 - col0, row1 - row0, mode, channels)  # fmt: skip
        if not valid.any():
            continue
        window = (slice(row0, row1), slice(col0, col1))
        region = data[(slice(None), *window)]
        np.copyto(region, part, where=valid[None])
        mask[window] |= valid
    return data, mask


def _warp_one(ref, crs, anchor, res, px0, py0, width, height, mode, channels):
    """Warp one source: k x k nearest samples per pixel, gathered and averaged."""
    path = ref.path
    src = _open_source(path)
    k, f = oversample(ref, src.width, src.height, res)
    bands = [1, 2, 3] if mode == "rgb" and src.count >= 3 else [1]
    alpha = [i + 1 for i, ci in enumerate(src.colorinterp) if ci.name == "alpha"]
    bands = [b for b in bands if b not in alpha] or bands
    dtype = np.uint8 if mode == "rgb" else np.float32
    # bands of rows whose k x k samples (and so their window) stay within GATHER_SAMPLES
    step = GATHER_SAMPLES // (k * k * width) // COORD_STEP * COORD_STEP
    step = min(height, max(COORD_STEP, step))
    parts = []
    try:
        for y in range(0, height, step):
            parts.append(gather_warp(src, bands, crs, anchor, res, px0, py0 + y, width,
                                     min(step, height - y), k, f, dtype))  # fmt: skip
    except RasterioError as exc:
        raise SourceReadError(f"{path}: reading pixels failed ({exc})") from None
    if len(parts) == 1:
        data, valid = parts[0]
    else:
        data = np.concatenate([p[0] for p in parts], axis=1)
        valid = np.concatenate([p[1] for p in parts])
    if mode == "rgb" and data.shape[0] != channels:
        data = np.repeat(data[:1], channels, axis=0)
    return data, valid


class _Handles(threading.local):
    """The rasters one thread of one process keeps open (GDAL handles are not safe to
    share between threads: a Dask worker runs several warps at once in threads)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.open: dict[tuple, object] = {}


_HANDLES = _Handles()


def _open_source(path: str):
    """The raster open for reading, kept open between requests of this thread (GDAL's
    block cache then serves the blocks that neighbouring chunks share: JPEG decoding is
    much of a warp). Keyed by file version; never shared across a fork or a thread."""
    handles = _HANDLES
    if handles.pid != os.getpid():
        handles.open.clear()  # a parent's handles (their file offsets are shared): drop them
        handles.pid = os.getpid()
    try:
        stat = os.stat(path)
        key = (path, stat.st_size, stat.st_mtime_ns)
    except OSError:
        key = (path, None, None)
    src = handles.open.get(key)
    if src is None:
        if len(handles.open) >= 8:
            close_sources()
        src = handles.open[key] = open_raster(path)
    return src


def close_sources() -> None:
    """Close the rasters :func:`_open_source` keeps open in this thread of this process."""
    handles = _HANDLES
    if handles.pid == os.getpid():
        for src in handles.open.values():
            src.close()
    handles.open.clear()


#: output pixels between the exactly transformed nodes of :func:`source_coords`; the
#: nodes sit at multiples of it on the zoom's global pixel grid, whatever the request
COORD_STEP = 16


@functools.lru_cache(maxsize=16)
def _transformer(crs_from: str, crs_to: str):
    from pyproj import Transformer

    # PROJ picks the operation on first use (tens of ms): reuse it across requests
    return Transformer.from_crs(crs_from, crs_to, always_xy=True)


def transformer(crs_from, crs_to):
    """A pyproj transformer (x, y order) between two CRSs (rasterio CRS or text), kept
    for the process: making one costs ~0.2 ms within a datum and ~70 ms across datums
    (PROJ searches its database), where GDAL's ``transform_bounds`` costs 20-50 ms on
    every call."""
    return _transformer(*(c if isinstance(c, str) else c.to_wkt() for c in (crs_from, crs_to)))


def transform_bounds(crs_from, crs_to, bounds) -> tuple[float, float, float, float]:
    """``bounds`` (w, s, e, n) in ``crs_to``, densified 21 points a side (PROJ's
    ``proj_trans_bounds``, the same as GDAL's)."""
    return tuple(transformer(crs_from, crs_to).transform_bounds(*bounds, densify_pts=21))


_SENTINEL = -1e15  # where a node does not transform: every sample near it falls outside
#: lattice cell rows warped at once: the coordinates and indices of a strip's samples stay
#: in the CPU's cache (whole-request arrays of them cost more in memory traffic and page
#: faults than in arithmetic); the bytes do not depend on it
STRIP_CELLS = 4


@dataclass(frozen=True)
class _Lattice:
    """Where a request's k x k samples per output pixel lie in the source.

    Source (column, row) coordinates are exact (pyproj) on the nodes at multiples of
    ``COORD_STEP`` pixels of the zoom's global pixel grid and bilinear in between: along
    the lattice rows in float64 (``along``, per output column), then down the cell in
    float32 (``along + down * t``). Sample (a, b) of a pixel takes its column at sample
    column b on the pixel's centre row, and its row at sample row a on the pixel's centre
    column: k + k coordinate planes instead of 2 k^2, the samples' grid following the
    source's rotation across the pixel only to first order (off by ~0.001 px for a degree
    of rotation). Every step is elementwise, so a sample depends only on its cell's nodes
    and its place in the cell, never on the request. Coordinates are stored plus one (the
    source's padded border, column/row -1, is 0): truncating them is then their floor.
    """

    #: per sample column b: the column coordinate (along, down): (cells + 1, width), (cells, width)
    cols: list[tuple[np.ndarray, np.ndarray]]
    rows: tuple[np.ndarray, np.ndarray]  # the row coordinate on the pixels' centre columns
    t_centre: np.ndarray  # (COORD_STEP,) place of the pixels' centre rows down a cell
    t_rows: list[np.ndarray]  # per sample row a: (COORD_STEP,)
    offset: int  # the request's first row within its first cell
    height: int
    bounds: tuple[float, float, float, float]  # (lo_c, lo_r, hi_c, hi_r) of finite nodes, +1
    partial: bool  # some nodes did not transform (samples near them must be clipped)

    def strips(self) -> Iterator[tuple[int, int, slice]]:
        """(first cell row, end cell row, output rows) of each strip."""
        cells = -(-(self.offset + self.height) // COORD_STEP)
        for i0 in range(0, cells, STRIP_CELLS):
            i1 = min(cells, i0 + STRIP_CELLS)
            y0 = max(0, i0 * COORD_STEP - self.offset)
            y1 = min(self.height, i1 * COORD_STEP - self.offset)
            yield i0, i1, slice(y0, y1)

    def index(self, plane, t, i0: int, i1: int, rows: slice, lo: int, hi: int, clip: bool):
        """Integer coordinates (int64, floored, minus ``lo``) of one plane's samples on
        output ``rows`` of cell rows [i0, i1); clipped to [lo, hi] if ``clip``."""
        along, down = plane
        buf = down[i0:i1, None, :] * t[None, :, None]
        buf += along[i0:i1, None, :]
        start = self.offset if i0 == 0 else 0
        buf = buf.reshape(-1, buf.shape[-1])[start : start + rows.stop - rows.start]
        if clip:
            np.clip(buf, lo, hi, out=buf)
        out = buf.astype(np.int64)  # truncation: the floor (all >= 0)
        out -= lo
        return out


def _lattice(src_crs, src_transform: Affine, crs, anchor, res: float,
             px0: int, py0: int, width: int, height: int, k: int) -> _Lattice | None:  # fmt: skip
    """The :class:`_Lattice` of output pixels [px0, px0 + width) x [py0, py0 + height)
    (counted from the zoom grid's ``anchor``, its left and top); None if no node
    transforms."""
    step = COORD_STEP
    nx0, ny0 = px0 // step, py0 // step
    nx1, ny1 = -(-(px0 + width) // step), -(-(py0 + height) // step)
    ix = np.arange(nx0, nx1 + 1, dtype=np.int64) * step
    iy = np.arange(ny0, ny1 + 1, dtype=np.int64) * step
    gx, gy = np.meshgrid(anchor[0] + ix * res, anchor[1] - iy * res)
    sx, sy = transformer(crs, src_crs).transform(gx, gy)
    inv = ~src_transform
    nodes = [inv.a * sx + inv.b * sy + inv.c + 1.0, inv.d * sx + inv.e * sy + inv.f + 1.0]
    finite = np.isfinite(nodes[0]) & np.isfinite(nodes[1])
    if not finite.any():
        return None
    bounds = (*(float(n[finite].min()) for n in nodes), *(float(n[finite].max()) for n in nodes))
    nodes = [np.where(finite, n, _SENTINEL) for n in nodes]
    gcol = px0 + np.arange(width)
    cell = gcol // step - nx0

    def plane(node, t):
        along = node[:, cell] + (node[:, cell + 1] - node[:, cell]) * t
        along = along.astype(np.float32)
        return along, np.diff(along, axis=0)

    span = step * k
    within = np.arange(step)
    return _Lattice(
        cols=[plane(nodes[0], ((gcol % step) * k + b + 0.5) / span) for b in range(k)],
        rows=plane(nodes[1], ((gcol % step) + 0.5) / step),
        t_centre=((within + 0.5) / step).astype(np.float32),
        t_rows=[((within * k + a + 0.5) / span).astype(np.float32) for a in range(k)],
        offset=py0 % step,
        height=height,
        bounds=bounds,
        partial=not finite.all(),
    )


def _read_reduced(src, bands, window, f: int, dtype):
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


def _read_blocks(src, bands, window, f: int, dtype):
    """One read of :func:`_read_reduced`."""
    c0, r0, c1, r1 = window
    rc0, rr0 = c0 * f, r0 * f
    rc1, rr1 = min(src.width, c1 * f), min(src.height, r1 * f)
    win = rasterio.windows.Window(rc0, rr0, rc1 - rc0, rr1 - rr0)
    pix = src.read(bands, window=win)
    all_valid = _all_valid(src)
    valid = np.ones(pix.shape[1:], bool) if all_valid else src.dataset_mask(window=win) > 0
    if dtype == np.uint8:
        if pix.dtype != np.uint8:
            pix = np.clip(np.rint(pix), 0, 255).astype(np.uint8)
        if not all_valid:
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


def _all_valid(src) -> bool:
    return all(fl == [rasterio.enums.MaskFlags.all_valid] for fl in src.mask_flag_enums)


def _packed_table(src, bands, window, f: int) -> np.ndarray:
    """The padded window table of uint8 imagery: per source pixel one uint64 holding the
    bands and the validity in its four 16-bit lanes (k*k*255 < 2**16), zero on the
    border and where invalid, so that one gather per sample sums every channel."""
    c0, r0, c1, r1 = window
    h, w = r1 - r0, c1 - c0
    lanes = np.zeros((h + 2, w + 2, 4), np.uint16)
    inner = lanes[1:-1, 1:-1]
    if f == 1 and src.dtypes[0] == "uint8" and len(bands) <= 3:
        # GDAL writes the pixels straight into their lanes (the low bytes)
        view = inner.view(np.uint8)[..., 0 : 2 * len(bands) : 2].transpose(2, 0, 1)
        src.read(bands, window=rasterio.windows.Window(c0, r0, w, h), out=view)
        if _all_valid(src):
            inner[..., 3] = 1
        else:
            valid = src.dataset_mask(window=rasterio.windows.Window(c0, r0, w, h)) > 0
            inner[~valid] = 0
            inner[..., 3] = valid
    else:
        pix, ok = _read_reduced(src, bands, window, f, np.uint8)
        for i in range(len(bands)):
            inner[..., i] = pix[i]
        inner[..., 3] = ok
    return lanes.view(np.uint64).reshape(-1)


def gather_warp(src, bands, crs, anchor, res, px0, py0, width, height, k, f, dtype):
    """k x k nearest samples per output pixel from one windowed read (of f x f block means
    of the source where f > 1), averaged over the valid ones: uint8 rounded half up,
    float64 then float32. Returns (data, valid)."""
    nb = len(bands)
    data = np.zeros((nb, height, width), dtype)
    valid = np.zeros((height, width), bool)
    src_transform = src.transform @ Affine.scale(f)
    sw, sh = -(-src.width // f), -(-src.height // f)
    lat = _lattice(src.crs, src_transform, crs, anchor, res, px0, py0, width, height, k)
    if lat is None:
        return data, valid
    # the samples lie within their cells' nodes: the nodes' range (one pixel more, for
    # rounding) bounds the window, so no sample in the source falls outside it
    lo_c, lo_r, hi_c, hi_r = (v - 1.0 for v in lat.bounds)
    c0, r0 = max(0, math.floor(lo_c) - 1), max(0, math.floor(lo_r) - 1)
    c1, r1 = min(sw, math.floor(hi_c) + 2), min(sh, math.floor(hi_r) + 2)
    if c0 >= c1 or r0 >= r1:
        return data, valid
    window = (c0, r0, c1, r1)
    # samples can leave the window only where it was cut to the source's edge
    clip = lat.partial or c0 == 0 or r0 == 0 or c1 == sw or r1 == sh
    kk = k * k
    stride = c1 - c0 + 2

    def indices(i0, i1, rows):
        """Flat table indices of the k x k sample planes of one strip."""
        cs = [lat.index(lat.cols[b], lat.t_centre, i0, i1, rows, c0, c1 + 1, clip)
              for b in range(k)]  # fmt: skip
        for a in range(k):
            r = lat.index(lat.rows, lat.t_rows[a], i0, i1, rows, r0, r1 + 1, clip)
            r *= stride
            for c in cs:
                yield r + c

    if dtype == np.uint8:
        table = _packed_table(src, bands, window, f)
        for i0, i1, rows in lat.strips():
            total = None
            for idx in indices(i0, i1, rows):
                if total is None:
                    total = table[idx]
                else:
                    total += table[idx]
            sums = total.view(np.uint16).reshape(*total.shape, 4)
            count = sums[..., 3]
            valid[rows] = count > 0
            if bool((count == kk).all()):
                part = sums[..., :nb] + np.uint16(kk // 2)
                if kk & (kk - 1):
                    part //= np.uint16(kk)
                else:
                    part >>= kk.bit_length() - 1
            else:
                safe = np.maximum(count, 1).astype(np.uint32)[..., None]
                part = (2 * sums[..., :nb].astype(np.uint32) + safe) // (2 * safe)
            data[:, rows] = part.transpose(2, 0, 1)
        return data, valid
    pix, ok = _read_reduced(src, bands, window, f, dtype)
    w, h = c1 - c0, r1 - r0
    vals = np.zeros((nb, h + 2, w + 2), np.float64)
    vals[:, 1:-1, 1:-1] = pix
    vals = vals.reshape(nb, -1)
    okp = np.zeros((h + 2, w + 2), np.uint16)  # counts reach k * k = 256
    okp[1:-1, 1:-1] = ok
    okp = okp.ravel()
    for i0, i1, rows in lat.strips():
        total = count = None
        for idx in indices(i0, i1, rows):
            if total is None:
                total, count = vals[:, idx], okp[idx]
            else:
                total += vals[:, idx]
                count += okp[idx]
        ok_rows = count > 0
        valid[rows] = ok_rows
        part = (total / np.maximum(count, 1)).astype(np.float32)
        part[:, ~ok_rows] = 0
        data[:, rows] = part
    return data, valid


def oversample(ref: SourceRef, width: int, height: int, res: float) -> tuple[int, int]:
    """(k, f) for a source of ``width x height`` px: nearest samples per base pixel and
    axis, and the source reduction (f x f block means) they are taken from.

    Like gdal2tiles (nearest samples on a 4x finer grid, then a 4 x 4 mean), but with
    the factor following the scale: k = ceil(base pixel / source pixel), at least 2, so
    that roughly every source pixel under a base pixel is sampled once: the mean then
    equals an area average up to the nearest-neighbour phase. Against ``gdalwarp -r
    average`` on Landsat texture (RGB.byte.tif, every tile), measured: 30-31 dB at
    least (31-35 dB mean) where k = 2 (z8, z9), 35.4 dB at k = 4 (z7). Past
    ``MAX_OVERSAMPLE`` source px per base px (a base zoom far coarser than the data) the
    source is first reduced by f = ceil(ratio / REDUCED_OVERSAMPLE) (mean of f x f blocks
    aligned to its origin) and k = ceil(ratio / f) <= 16: RGB.byte.tif at z3-6, 39.6-44
    dB (GDAL's own average kernel, used here once, gave 49-57 dB, but its pixels depended
    on the request). Both depend only on the source and the zoom: every request of a
    build uses the same ones.
    """
    w, s, e, n = ref.bounds
    src_res = min((e - w) / width, (n - s) / height)
    ratio = abs(res) / src_res if src_res > 0 else 1.0
    if ratio <= MAX_OVERSAMPLE:
        return max(2, math.ceil(ratio - 1e-6)), 1
    f = max(1, math.ceil(ratio / REDUCED_OVERSAMPLE - 1e-9))
    return min(REDUCED_OVERSAMPLE, math.ceil(ratio / f - 1e-6)), f


# --- pixel operations ---------------------------------------------------------------


def downsample(data: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2 x 2 mean of the valid pixels (uint8: rounded half up; float: float64 mean).

    Invalid pixels hold 0, so block sums count valid pixels only.
    """
    if data.dtype == np.uint8:
        total = _block_sums(data, np.uint16)
        if mask.all():
            total += 2
            total >>= 2
            return total.astype(np.uint8), np.ones(total.shape[1:], bool)
        count = _block_sums(mask, np.uint16)
        safe = np.maximum(count, 1)
        out = ((2 * total + safe) // (2 * safe)).astype(np.uint8)
        return out, count > 0
    total = _block_sums(data, np.float64)
    count = _block_sums(mask, np.float64)
    out_mask = count > 0
    out = (total / np.maximum(count, 1)).astype(np.float32)
    out[:, ~out_mask] = 0
    return out, out_mask


def _block_sums(x: np.ndarray, dtype) -> np.ndarray:
    """Sums of the 2 x 2 blocks of the last two axes (rows first, then column pairs)."""
    rows = np.add(x[..., 0::2, :], x[..., 1::2, :], dtype=dtype)
    pairs = rows.reshape(*rows.shape[:-1], rows.shape[-1] // 2, 2)
    return pairs[..., 0] + pairs[..., 1]


def hillshade(
    elev: np.ndarray,
    mask: np.ndarray,
    dx: np.ndarray,
    dy: float | np.ndarray,
    *,
    azimuth: float = 315.0,
    altitude: float = 45.0,
    z_factor: float = 1.0,
) -> np.ndarray:
    """Hillshade (0-255, Horn's method) of ``elev`` (H+2, W+2), interior (H, W) returned.

    ``dx``/``dy``: ground pixel sizes in metres, per interior row (arrays of H) or scalars.
    Invalid neighbours take the centre pixel's value, so edges of the data stay flat.
    """
    centre = elev[1:-1, 1:-1]

    def nb(dr: int, dc: int) -> np.ndarray:
        rows = slice(1 + dr, elev.shape[0] - 1 + dr)
        cols = slice(1 + dc, elev.shape[1] - 1 + dc)
        return np.where(mask[rows, cols], elev[rows, cols], centre)

    a, b, c = nb(-1, -1), nb(-1, 0), nb(-1, 1)
    d, f = nb(0, -1), nb(0, 1)
    g, h, i = nb(1, -1), nb(1, 0), nb(1, 1)
    dx = np.asarray(dx, dtype=np.float64).reshape(-1, 1)
    dy = np.asarray(dy, dtype=np.float64).reshape(-1, 1)
    dzdx = ((c + 2 * f + i) - (a + 2 * d + g)) / (8 * dx) * z_factor
    dzdy = ((g + 2 * h + i) - (a + 2 * b + c)) / (8 * dy) * z_factor
    zenith = math.radians(90.0 - altitude)
    az = math.radians(360.0 - azimuth + 90.0)
    slope = np.arctan(np.hypot(dzdx, dzdy))
    aspect = np.arctan2(dzdy, -dzdx)
    shade = np.cos(zenith) * np.cos(slope) + np.sin(zenith) * np.sin(slope) * np.cos(az - aspect)
    return np.clip(np.rint(255.0 * shade), 0, 255).astype(np.uint8)


def terrain_rgb(elev: np.ndarray) -> np.ndarray:
    """Mapbox terrain-RGB: height = -10000 + (R * 65536 + G * 256 + B) * 0.1."""
    v = np.clip(np.rint((elev.astype(np.float64) + 10000.0) * 10.0), 0, 2**24 - 1).astype(np.uint32)
    return np.stack([(v >> 16) & 255, (v >> 8) & 255, v & 255]).astype(np.uint8)


def decode_terrain_rgb(rgb: np.ndarray) -> np.ndarray:
    """Heights from terrain-RGB pixels (channels first)."""
    r, g, b = (rgb[i].astype(np.float64) for i in range(3))
    return -10000.0 + (r * 65536 + g * 256 + b) * 0.1


def ground_pixel_size(tms: TileMatrixSet, g: Grid, rows_y: np.ndarray) -> tuple[np.ndarray, float]:
    """Ground pixel sizes (dx per row, dy) in metres for hillshading at northings ``rows_y``."""
    crs = tms.rasterio_crs
    if crs.is_geographic:
        lat = np.radians(rows_y)
        a, e2 = 6378137.0, 0.00669438002290
        w = np.sqrt(1 - e2 * np.sin(lat) ** 2)
        n_rad = a / w
        m_rad = a * (1 - e2) / w**3
        deg = math.pi / 180.0
        return g.res * deg * n_rad * np.cos(lat), g.res * deg * m_rad
    # Web Mercator: scale factor 1 / cos(lat) at every point
    lat = np.arctan(np.sinh(rows_y / 6378137.0))
    dx = g.res * np.cos(lat)
    return dx, dx


# --- raw tile codec (the overview cache) ------------------------------------------------


def pack_raw(data: np.ndarray, mask: np.ndarray) -> bytes:
    """A raw tile as bytes (data then the packed mask), uncompressed: zlib, even at level 1,
    cost about a tenth of a JPEG build's CPU for a cache that is written far more often
    than read. Older caches hold zlib streams; :func:`unpack_raw` reads both."""
    return np.ascontiguousarray(data).tobytes() + np.packbits(mask).tobytes()


def unpack_raw(blob: bytes, channels: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    dtype = np.dtype(dtype)
    n = channels * TILE * TILE * dtype.itemsize
    raw = blob if len(blob) == n + TILE * TILE // 8 else zlib.decompress(blob)
    data = np.frombuffer(raw[:n], dtype=dtype).reshape(channels, TILE, TILE).copy()
    mask = np.unpackbits(np.frombuffer(raw[n:], dtype=np.uint8))[: TILE * TILE]
    return data, mask.reshape(TILE, TILE).astype(bool)


# --- the block job ----------------------------------------------------------------------


@dataclass(frozen=True)
class RenderSettings:
    """What every job of one build shares."""

    tms: TileMatrixSet
    fmt: str
    mode: str
    channels: int
    minzoom: int
    maxzoom: int
    fill: tuple[int, int, int] = (255, 255, 255)

    @property
    def dtype(self):
        return np.float32 if self.mode == "terrain-rgb" else np.uint8


@dataclass(frozen=True)
class BlockJob:
    """Render base-zoom tiles [x0, x1) x [y0, y1) and ``levels`` zooms below them.

    The rectangle is aligned to ``2**levels`` tiles (clipped to the matrix). ``only``:
    encode only these (z, x, y) tiles and report the blank ones among them as None (an
    update); None means every non-blank tile. ``quadrants``: also return the quadrant of
    its parent that each ``only`` base tile makes (an update, whose main process merges
    them into the parents).
    """

    x0: int
    y0: int
    x1: int
    y1: int
    levels: int
    sources: tuple[SourceRef, ...]
    only: frozenset[tuple[int, int, int]] | None = None
    quadrants: bool = False


Quadrant = tuple[np.ndarray, np.ndarray] | None  # (data, mask) 128 x 128; None: blank


@dataclass
class BlockResult:
    tiles: list[tuple[int, int, int, bytes | None]] = field(default_factory=list)
    raw: list[tuple[int, int, int, bytes | None]] = field(default_factory=list)
    quadrants: list[tuple[int, int, Quadrant]] = field(default_factory=list)  # base (x, y)
    base_tiles: int = 0
    window: tuple[int, int, int, int] = (0, 0, 0, 0)  # the job's base tiles x0, y0, x1, y1


def render_block(settings: RenderSettings, job: BlockJob) -> BlockResult:
    """Warp a block, cut it into tiles and make its ``levels`` overview zooms."""
    tms = settings.tms
    z = settings.maxzoom
    g = grid(tms, z)
    width = (job.x1 - job.x0) * TILE
    height = (job.y1 - job.y0) * TILE
    result = BlockResult(
        base_tiles=(job.x1 - job.x0) * (job.y1 - job.y0), window=(job.x0, job.y0, job.x1, job.y1)
    )
    data = np.zeros((settings.channels, height, width), dtype=settings.dtype)
    mask = np.zeros((height, width), dtype=bool)
    c = WARP_CHUNK
    for iy0 in range(job.y0, job.y1, c):
        for ix0 in range(job.x0, job.x1, c):
            # chunks from the block's corner: the warp does not depend on the request
            ix1, iy1 = min(ix0 + c, g.width, job.x1), min(iy0 + c, g.height, job.y1)
            part, part_mask = _render_chunk(settings, job.sources, g, ix0, iy0, ix1, iy1)
            dst = (slice((iy0 - job.y0) * TILE, (iy1 - job.y0) * TILE),
                   slice((ix0 - job.x0) * TILE, (ix1 - job.x0) * TILE))  # fmt: skip
            data[(slice(None), *dst)] = part
            mask[dst] = part_mask
    x0, y0 = job.x0, job.y0
    for level in range(job.levels + 1):
        zz = z - level
        if level > 0:
            if data.shape[1] % 2 or data.shape[2] % 2:
                raise AssertionError("block not aligned to its levels")  # pragma: no cover
            data, mask = downsample(data, mask)
            x0, y0 = x0 // 2, y0 // 2
        _emit(settings, result, zz, x0, y0, data, mask, job.only, cache=zz < z,
              quadrants=job.quadrants and zz == z)  # fmt: skip
    return result


def _render_chunk(settings, sources, g, x0, y0, x1, y1) -> tuple[np.ndarray, np.ndarray]:
    """Warp base tiles [x0, x1) x [y0, y1) (at most a chunk: bounded memory); their bytes
    do not depend on the request (the warp's lattice is fixed to the zoom's pixel grid)."""
    crs = settings.tms.rasterio_crs
    width, height = (x1 - x0) * TILE, (y1 - y0) * TILE
    anchor = (g.left, g.top)
    if settings.mode != "hillshade":
        return warp_block(sources, crs, g.transform(x0, y0), width, height,
                          settings.mode, settings.channels, anchor=anchor)  # fmt: skip
    elev, emask = warp_block(sources, crs, g.transform(x0, y0, pad=1), width + 2, height + 2,
                             "hillshade", 1, anchor=anchor)  # fmt: skip
    rows_y = g.top - ((y0 * TILE + np.arange(height) + 0.5) * g.res)
    dx, dy = ground_pixel_size(settings.tms, g, rows_y)
    mask = emask[1:-1, 1:-1].copy()
    data = hillshade(elev[0].astype(np.float64), emask, dx, dy)[None]
    data[:, ~mask] = 0
    return data, mask


def _emit(settings, result, z, x0, y0, data, mask, only, *, cache: bool,
          quadrants: bool) -> None:  # fmt: skip
    nty, ntx = mask.shape[0] // TILE, mask.shape[1] // TILE
    nonblank = mask.reshape(nty, TILE, ntx, TILE).any(axis=(1, 3))
    for j in range(nty):
        for i in range(ntx):
            key = (z, x0 + i, y0 + j)
            if only is not None and key not in only:
                continue
            if not nonblank[j, i]:
                if only is not None:
                    result.tiles.append((*key, None))
                    if cache:
                        result.raw.append((*key, None))
                    if quadrants:
                        result.quadrants.append((*key[1:], None))
                continue
            rows = slice(j * TILE, (j + 1) * TILE)
            cols = slice(i * TILE, (i + 1) * TILE)
            tdata = data[:, rows, cols]
            tmask = mask[rows, cols]
            result.tiles.append((*key, encode_for(settings, tdata, tmask)))
            if cache:
                result.raw.append((*key, pack_raw(tdata, tmask)))
            if quadrants:
                result.quadrants.append((*key[1:], downsample(tdata, tmask)))


def encode_for(settings: RenderSettings, data: np.ndarray, mask: np.ndarray) -> bytes:
    """Encode one raw tile in the build's format and mode."""
    if settings.mode == "terrain-rgb":
        return encode_tile(terrain_rgb(data[0]), mask, settings.fmt, lossless=True)
    return encode_tile(data, mask, settings.fmt, fill=settings.fill)


def merge_quadrants(
    quadrants: Iterable[tuple[int, int, Quadrant]], channels: int, dtype
) -> tuple[np.ndarray, np.ndarray]:
    """The parent raw tile of four children's quadrants given as (dx, dy, quadrant).

    A child's quadrant is its :func:`downsample`: 2 x 2 means never straddle children
    (256 is even), so this equals the mean of the four children side by side.
    """
    half = TILE // 2
    data = np.zeros((channels, TILE, TILE), dtype=dtype)
    mask = np.zeros((TILE, TILE), dtype=bool)
    for dx, dy, quadrant in quadrants:
        if quadrant is None:
            continue
        rows = slice(dy * half, (dy + 1) * half)
        cols = slice(dx * half, (dx + 1) * half)
        data[:, rows, cols] = quadrant[0]
        mask[rows, cols] = quadrant[1]
    return data, mask
