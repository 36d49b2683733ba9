"""Pixel encodings of elevation and the overview cache's raw tiles.

- terrain-RGB (Mapbox): heights packed into the three bytes of a lossless tile;
- hillshade (Horn's method) of a warped elevation block, with ground pixel sizes;
- the raw tile codec of the overview cache (data then the packed mask).

The image formats themselves (JPEG, PNG, WebP with fixed settings) are in
:mod:`geobase.tiles.encode`.
"""

from __future__ import annotations

import math
import zlib
from typing import TYPE_CHECKING, Any

import numpy as np
from morecantile.models import TileMatrixSet

if TYPE_CHECKING:
    from geobase.tiles.render import Grid

TILE = 256


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


def ground_pixel_size(
    tms: TileMatrixSet, g: Grid, rows_y: np.ndarray
) -> tuple[np.ndarray, np.ndarray | float]:
    """Ground pixel sizes (dx per row, dy) in metres for hillshading at northings ``rows_y``."""
    # here, not at the top: the geodesy package imports pandas (~0.4 s of every build)
    from geobase.geodesy.constants import CGCS2000

    crs = tms.rasterio_crs
    if crs.is_geographic:
        lat = np.radians(rows_y)
        a, e2 = CGCS2000.a, CGCS2000.e2
        w = np.sqrt(1 - e2 * np.sin(lat) ** 2)
        n_rad = a / w
        m_rad = a * (1 - e2) / w**3
        deg = math.pi / 180.0
        return g.res * deg * n_rad * np.cos(lat), g.res * deg * m_rad
    # Web Mercator (a sphere of radius a): scale factor 1 / cos(lat) at every point
    lat = np.arctan(np.sinh(rows_y / CGCS2000.a))
    dx = g.res * np.cos(lat)
    return dx, dx


# --- raw tile codec (the overview cache) -------------------------------------------


def pack_raw(data: np.ndarray, mask: np.ndarray) -> bytes:
    """A raw tile as bytes (data then the packed mask), uncompressed: zlib, even at level 1,
    cost about a tenth of a JPEG build's CPU for a cache that is written far more often
    than read. Older caches hold zlib streams; :func:`unpack_raw` reads both."""
    return np.ascontiguousarray(data).tobytes() + np.packbits(mask).tobytes()


def unpack_raw(blob: bytes, channels: int, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """A raw tile from :func:`pack_raw` bytes (or an older cache's zlib stream)."""
    dtype = np.dtype(dtype)
    n = channels * TILE * TILE * dtype.itemsize
    raw = blob if len(blob) == n + TILE * TILE // 8 else zlib.decompress(blob)
    data = np.frombuffer(raw[:n], dtype=dtype).reshape(channels, TILE, TILE).copy()
    mask = np.unpackbits(np.frombuffer(raw[n:], dtype=np.uint8))[: TILE * TILE]
    return data, mask.reshape(TILE, TILE).astype(bool)
