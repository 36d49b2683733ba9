"""Rendering: warp a block of base-zoom tiles in one go, cut it into tiles, make overviews.

A *block* is a rectangle of tiles at the base (highest) zoom. Its pixels are warped from
the sources by :mod:`geobase.tiles.warp` (fast: the exact area-weighted average of the
source pixels under each pixel, at source coordinates exact on a lattice fixed to the
zoom's global pixel grid; reference: rasterio's ``reproject``), so that a pixel's value
does not depend on the request it is warped in: no seams, and the same bytes whatever the
blocks, the number of workers, or full build against update. Upper zooms are made from
their children by 2 x 2 averaging of the valid pixels. The data stays raw (uint8 imagery
or float32 elevations) through the pyramid and is encoded per tile at the end, so
terrain-RGB values are never interpolated after encoding.

Raw tiles are ``(data, mask)``: ``data`` is ``(channels, 256, 256)`` uint8 (``rgb``,
``hillshade``) or float32 (``terrain-rgb``), zero where invalid; ``mask`` is a
``(256, 256)`` bool array of valid pixels.

The layout: :mod:`~geobase.tiles.sources` (opening and reading sources, per-thread
handles, process-wide caches), :mod:`~geobase.tiles.warp` (the switch, the reference),
:mod:`~geobase.tiles.gather` and :mod:`~geobase.tiles.kernels` (the fast warp's
arithmetic), :mod:`~geobase.tiles.encodings` (terrain-RGB, hillshade, the raw tile codec),
:mod:`~geobase.tiles.encode` (JPEG, PNG, WebP). The names callers used to import from here
are re-exported.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from affine import Affine
from morecantile import Tile
from morecantile.models import TileMatrixSet

from geobase.tiles.encode import encode_tile
from geobase.tiles.encodings import (
    decode_terrain_rgb,
    ground_pixel_size,
    hillshade,
    pack_raw,
    terrain_rgb,
    unpack_raw,
)
from geobase.tiles.gather import COORD_STEP, GATHER_SAMPLES, gather_warp
from geobase.tiles.jpegtiles import decoder_mode
from geobase.tiles.sources import (
    READ_PIXELS,
    SourceRef,
    channels_for,
    close_sources,
    open_raster,
    source_ref,
    transform_bounds,
    transformer,
)
from geobase.tiles.warp import (
    MAX_OVERSAMPLE,
    REDUCED_OVERSAMPLE,
    WARP_VERSION,
    WARPS,
    oversample,
    prepare_warp,
    warp_block,
    warp_mode,
    warp_version,
)

__all__ = [
    "COORD_STEP",
    "GATHER_SAMPLES",
    "MAX_OVERSAMPLE",
    "MODES",
    "READ_PIXELS",
    "REDUCED_OVERSAMPLE",
    "TILE",
    "WARPS",
    "WARP_CHUNK",
    "WARP_VERSION",
    "BlockJob",
    "BlockResult",
    "Grid",
    "Quadrant",
    "RenderSettings",
    "SourceRef",
    "channels_for",
    "close_sources",
    "decode_terrain_rgb",
    "downsample",
    "encode_for",
    "gather_warp",
    "grid",
    "ground_pixel_size",
    "hillshade",
    "merge_quadrants",
    "open_raster",
    "oversample",
    "pack_raw",
    "prepare_transformers",
    "render_block",
    "source_ref",
    "terrain_rgb",
    "transform_bounds",
    "transformer",
    "unpack_raw",
    "warp_block",
    "warp_mode",
    "warp_version",
]

Mode = Literal["rgb", "terrain-rgb", "hillshade"]
MODES: tuple[str, ...] = ("rgb", "terrain-rgb", "hillshade")
TILE = 256
#: base tiles per side of one warp request at most (memory); the bytes never depend on it
WARP_CHUNK = 4
#: what a build calls before it forks its workers (the name it has always had)
prepare_transformers = prepare_warp


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


# --- pixel operations ---------------------------------------------------------------


def downsample(data: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2 x 2 mean of the valid pixels (uint8: rounded half up; float: float64 mean).

    uint8 in one compiled pass (:func:`geobase.tiles.kernels.downsample_u8`, ~15% of a
    JPEG build's CPU in numpy's several passes); the same integers as
    :func:`downsample_reference`, which ``tests/test_tiles_warp.py`` holds it to.
    """
    if data.dtype == np.uint8:
        from geobase.tiles.kernels import downsample_u8

        out = np.empty((data.shape[0], data.shape[1] // 2, data.shape[2] // 2), np.uint8)
        out_mask = np.empty(out.shape[1:], bool)
        downsample_u8(np.ascontiguousarray(data), np.ascontiguousarray(mask), out, out_mask)
        return out, out_mask
    return downsample_reference(data, mask)


def downsample_reference(data: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`downsample` in numpy. Invalid pixels hold 0, so block sums count valid
    pixels only."""
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
    #: ``fast`` or ``reference`` (see :mod:`geobase.tiles.warp`); by default
    #: ``$GEOBASE_WARP`` where the settings are made, so workers follow the main process
    warp: str = field(default_factory=warp_mode)
    #: the fast warp's JPEG decoder, ``turbo`` or ``gdal`` (see
    #: :mod:`geobase.tiles.jpegtiles`); by default ``$GEOBASE_JPEG_DECODER``
    decoder: str = field(default_factory=decoder_mode)

    def __post_init__(self) -> None:
        warp_mode(self.warp)  # a bad name fails here, not in a worker
        decoder_mode(self.decoder)

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
                          settings.mode, settings.channels, anchor=anchor,
                          warp=settings.warp, decoder=settings.decoder)  # fmt: skip
    elev, emask = warp_block(sources, crs, g.transform(x0, y0, pad=1), width + 2, height + 2,
                             "hillshade", 1, anchor=anchor, warp=settings.warp,
                             decoder=settings.decoder)  # fmt: skip
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
