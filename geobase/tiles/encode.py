"""Tile encoding with Pillow: JPEG, PNG and WebP with fixed settings (deterministic bytes).

JPEG quality 75 and PNG zlib level 6 as gdal2tiles; WebP quality 60 at libwebp method 0
(gdal2tiles' bytes at a better PSNR, see WEBP_QUALITY; method 0 is faster than
gdal2tiles' 4, see WEBP_METHOD). Invalid pixels become transparency (PNG, WebP) or the fill colour (JPEG);
a tile without invalid pixels is written without an alpha channel.
"""

from __future__ import annotations

import io
from typing import Literal

import numpy as np
from PIL import Image

from geobase.errors import TileSettingsError

Format = Literal["jpeg", "png", "webp"]
FORMATS: tuple[str, ...] = ("jpeg", "png", "webp")
EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp"}
MEDIA_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}

JPEG_QUALITY = 75
#: chosen at equal bytes against gdal2tiles' WebP (q75, method 4) on the city bench's 0.05 m
#: mosaic (bench/bench_city.py, 4 files, 848 tiles): q60 at method 0 writes 0.99x its bytes
#: with a higher PSNR against gdalwarp -r average (z19-21 sample: 36.5 dB min, 38.1 mean,
#: against 30.1 and 35.0), because the area-average warp leaves less to correct; q75 wrote
#: 1.25x the bytes. JPEG q75 already writes libvips' bytes (1.01x) at its PSNR.
WEBP_QUALITY = 60
PNG_LEVEL = 6
#: libwebp effort 0-6 (Pillow's default 4; gdal2tiles' GDAL driver uses 4 too). Measured
#: on 256 px orthophoto tiles: method 1 encodes in 1.25 ms against 4.0 ms for method 4,
#: for files about 14% larger at the same quality. Tiles publish far more often than
#: they are fetched cold, so the faster setting is the default. Method 0 against 1, on the
#: bench's tiles: 1.27 ms against 1.45 ms a tile, 3% (200 z19 tiles) to 9% (all 849) more bytes.
WEBP_METHOD = 0


def encode_tile(
    data: np.ndarray,
    mask: np.ndarray,
    fmt: str,
    *,
    fill: tuple[int, int, int] = (255, 255, 255),
    lossless: bool = False,
) -> bytes:
    """Encode a (channels, H, W) uint8 tile with a (H, W) validity mask.

    Args:
        data: 1 (grey) or 3 (RGB) channels first.
        mask: True where the pixel is valid.
        fmt: ``jpeg``, ``png`` or ``webp``.
        fill: JPEG colour of invalid pixels.
        lossless: WebP lossless (terrain-RGB); PNG is always lossless.
    """
    channels = data.shape[0]
    full = bool(mask.all())
    # one Pillow band per plane, interleaved by Image.merge: ~6x cheaper than a numpy
    # transpose of channels-first data to the pixel-interleaved layout Pillow wants
    planes = [np.ascontiguousarray(plane) for plane in data]
    if fmt == "jpeg":
        if not full:
            colours = fill if channels > 1 else fill[:1]
            planes = [np.where(mask, p, np.uint8(c)) for p, c in zip(planes, colours, strict=False)]
        image = _merge(planes)
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=JPEG_QUALITY)
        return buf.getvalue()
    if fmt == "webp" and channels == 1:  # WebP has no grey modes
        planes = planes * 3
    if not full:
        planes.append(mask.astype(np.uint8) * np.uint8(255))
    image = _merge(planes)
    buf = io.BytesIO()
    if fmt == "png":
        image.save(buf, "PNG", compress_level=PNG_LEVEL)
    elif fmt == "webp":
        if lossless:
            image.save(buf, "WEBP", lossless=True, quality=100, method=2, exact=True)
        else:
            image.save(buf, "WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD)
    else:
        raise TileSettingsError(f"unknown tile format {fmt!r}; expected one of {FORMATS}")
    return buf.getvalue()


_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def _merge(planes: list[np.ndarray]) -> Image.Image:
    bands = [Image.fromarray(p) for p in planes]
    return bands[0] if len(bands) == 1 else Image.merge(_MODES[len(bands)], bands)
