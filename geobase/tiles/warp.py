"""The warp: paint sources into a block of the zoom's pixel grid, with a fast path and a
plain reference.

- ``fast`` (the default): each output pixel is the exact area-weighted average of the
  source pixels under it, with source coordinates exact on a lattice fixed to the zoom's
  global pixel grid (:mod:`geobase.tiles.gather`, :mod:`geobase.tiles.kernels`): a
  pixel's bytes do not depend on the request, the blocks, the workers or full build
  against update. Far below the data's resolution (a base pixel over ``REDUCED_OVERSAMPLE``
  source pixels) k x k nearest samples of f x f block means stand in for it.
- ``reference``: rasterio's ``reproject`` (GDAL's warper, ``Resampling.average``) of each
  source onto the request, read at full resolution. Slower, and its pixels may differ by a
  rounding step between requests (GDAL's approximate transformer is fitted per chunk);
  kept as what the fast path is tested against, and as a fallback.

The switch: the ``GEOBASE_WARP`` environment variable (``fast`` or ``reference``), read
where a build's settings are made; the overview cache's fingerprint names the warp, so an
update never mixes the two.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import rasterio
import rasterio.warp
from affine import Affine
from rasterio.enums import Resampling
from rasterio.errors import RasterioError

from geobase.errors import SourceReadError
from geobase.tiles import gather
from geobase.tiles.gather import COORD_STEP, area_warp_source, gather_warp
from geobase.tiles.jpegtiles import decoder_mode
from geobase.tiles.sources import SourceRef, open_source, prepare_transformers
from geobase.tiles.switches import switch

#: most source pixels per base pixel and axis warped by the exact area average from the
#: source itself; past it, from f x f block means of the source (see :func:`oversample`)
REDUCED_OVERSAMPLE = 16
#: kept for callers of the former nearest-sample warp (the area path has no k)
MAX_OVERSAMPLE = 4
WARPS: tuple[str, ...] = ("fast", "reference")
#: names each warp's arithmetic in the overview cache's fingerprint: bump it whenever
#: base pixels change, so that an update never mixes old cached pixels with new ones
WARP_VERSIONS = {"fast": "area-lattice-4", "reference": "rasterio-reproject-average-1"}
WARP_VERSION = WARP_VERSIONS["fast"]
ENV = "GEOBASE_WARP"


def warp_mode(value: str | None = None) -> str:
    """The warp a build uses: ``value``, else ``$GEOBASE_WARP``, else ``fast``.

    Raises:
        TileSettingsError: a value other than ``fast`` or ``reference``.
    """
    return switch(value, ENV, WARPS, "warp")


def prepare_warp(sources: Iterable[SourceRef], crs: Any) -> None:
    """Ready the warp in this process: PROJ's transformations (~60 ms each) and, for the
    fast warp, its compiled kernel (~0.3 s); forked workers inherit both."""
    prepare_transformers(sources, crs)
    if warp_mode() == "fast":
        from geobase.tiles import kernels

        kernels.load()


def warp_version(mode: str, decoder: str | None = None) -> str:
    """The overview cache's name for the arithmetic of warp ``mode`` with JPEG
    ``decoder`` (None: :func:`decoder_mode`; the reference warp reads through GDAL
    whatever the decoder)."""
    mode = warp_mode(mode)
    if mode == "reference":
        return WARP_VERSIONS[mode]
    return f"{WARP_VERSIONS[mode]}+jpeg-{decoder_mode(decoder)}"


def warp_block(
    sources: Sequence[SourceRef],
    crs: Any,
    transform: Affine,
    width: int,
    height: int,
    mode: str,
    channels: int,
    *,
    anchor: tuple[float, float] | None = None,
    warp: str | None = None,
    decoder: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Paint the sources (oldest first, newest on top) into one block; returns data, mask.

    ``anchor``: the (left, top) of the zoom's pixel grid, which ``transform`` is a whole
    number of pixels from; the coordinate lattice of the fast warp is fixed to it, so a
    pixel's bytes do not depend on the request it is warped in. None: the block's own
    origin (a lattice relative to the request). ``warp``: ``fast`` or ``reference``
    (None: :func:`warp_mode`); ``decoder``: the fast warp's JPEG decoder, ``turbo`` or
    ``gdal`` (None: :func:`geobase.tiles.jpegtiles.decoder_mode`).
    """
    warp = warp_mode(warp)
    decoder = decoder_mode(decoder)
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
                                col1 - col0, row1 - row0, mode, channels, warp, decoder)  # fmt: skip
        if not valid.any():
            continue
        window = (slice(row0, row1), slice(col0, col1))
        region = data[(slice(None), *window)]
        np.copyto(region, part, where=valid[None])
        mask[window] |= valid
    return data, mask


def _warp_one(ref: SourceRef, crs: Any, anchor: tuple[float, float], res: float, px0: int,
              py0: int, width: int, height: int, mode: str, channels: int,
              warp: str, decoder: str) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Warp one source onto output pixels [px0, px0 + width) x [py0, py0 + height)."""
    path = ref.path
    src = open_source(path)
    k, f = oversample(ref, src.width, src.height, res)
    bands = [1, 2, 3] if mode == "rgb" and src.count >= 3 else [1]
    alpha = [i + 1 for i, ci in enumerate(src.colorinterp) if ci.name == "alpha"]
    bands = [b for b in bands if b not in alpha] or bands
    dtype = np.uint8 if mode == "rgb" else np.float32
    try:
        if warp == "reference":
            data, valid = reference_warp(src, bands, crs, anchor, res, px0, py0, width, height,
                                         dtype)  # fmt: skip
        else:
            # bands of rows whose source window (about k x k pixels an output pixel) stays
            # within GATHER_SAMPLES
            step = gather.GATHER_SAMPLES // (k * k * width) // COORD_STEP * COORD_STEP
            step = min(height, max(COORD_STEP, step))
            parts = []
            for y in range(0, height, step):
                rows = min(step, height - y)
                if f == 1:
                    parts.append(area_warp_source(src, bands, crs, anchor, res, px0, py0 + y,
                                                  width, rows, dtype, decoder))  # fmt: skip
                else:
                    parts.append(gather_warp(src, bands, crs, anchor, res, px0, py0 + y, width,
                                             rows, k, f, dtype))  # fmt: skip
            if len(parts) == 1:
                data, valid = parts[0]
            else:
                data = np.concatenate([p[0] for p in parts], axis=1)
                valid = np.concatenate([p[1] for p in parts])
    except RasterioError as exc:
        raise SourceReadError(f"{path}: reading pixels failed ({exc})") from exc
    if mode == "rgb" and data.shape[0] != channels:
        data = np.repeat(data[:1], channels, axis=0)
    return data, valid


def reference_warp(src: Any, bands: list[int], crs: Any, anchor: tuple[float, float],
                   res: float, px0: int, py0: int, width: int, height: int,
                   dtype: Any) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The plain reference: rasterio's ``reproject`` (GDAL, ``Resampling.average``, the
    source's own mask, one thread) of one source onto the output pixels; a pixel is valid
    where GDAL's destination alpha is. uint8 as GDAL rounds it; elevations float32."""
    nb = len(bands)
    transform = Affine(res, 0.0, anchor[0] + px0 * res, 0.0, -res, anchor[1] - py0 * res)
    out_dtype = np.uint8 if dtype == np.uint8 else np.float32
    dst = np.zeros((nb + 1, height, width), out_dtype)
    rasterio.warp.reproject(
        rasterio.band(src, bands),
        dst,
        dst_transform=transform,
        dst_crs=crs,
        resampling=Resampling.average,
        dst_alpha=nb + 1,
        num_threads=1,
    )
    valid = dst[nb] > 0
    data = np.ascontiguousarray(dst[:nb])
    data[:, ~valid] = 0
    return data.astype(dtype, copy=False), valid


def oversample(ref: SourceRef, width: int, height: int, res: float) -> tuple[int, int]:
    """(k, f) for a source of ``width x height`` px: the source reduction f (the warp
    reads f x f block means) and k, about the source pixels per base pixel and axis.

    f = 1 up to ``REDUCED_OVERSAMPLE`` source pixels per base pixel: the fast warp then
    takes the exact area average of the source pixels (k only sizes its bands of rows).
    Past it (a base zoom far coarser than the data) the source is first reduced by
    f = ceil(ratio / REDUCED_OVERSAMPLE) (mean of f x f blocks aligned to its origin) and
    k x k nearest samples of the reduced source, k = ceil(ratio / f) <= 16, are averaged:
    RGB.byte.tif at z3-6, 39.6-44 dB against ``gdalwarp -r average``. Both depend only on
    the source and the zoom: every request of a build uses the same ones.
    """
    w, s, e, n = ref.bounds
    src_res = min((e - w) / width, (n - s) / height)
    ratio = abs(res) / src_res if src_res > 0 else 1.0
    if ratio <= MAX_OVERSAMPLE:
        return max(2, math.ceil(ratio - 1e-6)), 1
    f = max(1, math.ceil(ratio / REDUCED_OVERSAMPLE - 1e-9))
    return min(REDUCED_OVERSAMPLE, math.ceil(ratio / f - 1e-6)), f
