"""JPEG-compressed GeoTIFF tiles decoded with libjpeg-turbo (Pillow's) instead of GDAL's.

Orthophoto deliveries are mostly tiled GeoTIFFs (COGs) of YCbCr JPEG tiles. The rasterio
wheels' GDAL decodes them with IJG libjpeg 9, which has no SIMD and upsamples the chroma
with a scaled 16 x 16 inverse DCT: ~10-12 ns a pixel on the city bench's q90 tiles, about
a third of a JPEG tile build. Pillow's libjpeg-turbo decodes the same tiles in ~5 ns
(SIMD, a triangle filter for the chroma). The two decoders differ by a few grey levels
at sharp colour edges (52-55 dB on the city mosaic: far less than the q90 compression
itself loses); everything else (the pixels' places, the masks, the warp) is unchanged.

What this module reads itself: the first image of a tiled, pixel-interleaved, 3-band
uint8 GeoTIFF whose tiles are YCbCr JPEG (photometric 6, compression 7), its tile offsets
and the shared JPEG tables parsed by Pillow's TIFF directory reader; each tile is the
tables' stream joined to the tile's own and decoded by Pillow. Anything else (other
compressions, RGB JPEG, masks and nodata, which GDAL still reads) goes through GDAL.
Written by hand because neither rasterio nor GDAL's API hands out a tile's compressed
bytes.

The reference is GDAL's read: ``GEOBASE_JPEG_DECODER=gdal`` (read where a build's
settings are made); the overview cache's fingerprint names the decoder, so an update
never mixes the two.

Decoded tiles are kept per thread and process (:data:`TILE_CACHE_BYTES`, like GDAL's
block cache, which these files then bypass), so windows sharing a source tile decode it
once when they run in the same worker.
"""

from __future__ import annotations

import io
import os
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from geobase.errors import SourceReadError
from geobase.tiles.switches import switch

DECODERS: tuple[str, ...] = ("turbo", "gdal")
ENV = "GEOBASE_JPEG_DECODER"
#: decoded tiles one thread keeps at most (bytes): a window of 8 x 8 base tiles over
#: 0.05 m imagery is ~2800 x 2800 source pixels, 36 tiles of 512 x 512 (28 MB)
TILE_CACHE_BYTES = 32 << 20
_TIFF_TAGS = {"width": 256, "height": 257, "tile_w": 322, "tile_h": 323, "offsets": 324,
              "counts": 325, "compression": 259, "photometric": 262, "tables": 347}  # fmt: skip


def decoder_mode(value: str | None = None) -> str:
    """The JPEG decoder a build uses: ``value``, else ``$GEOBASE_JPEG_DECODER``, else
    ``turbo``.

    Raises:
        TileSettingsError: a value other than ``turbo`` or ``gdal``.
    """
    return switch(value, ENV, DECODERS, "JPEG decoder")


@dataclass(frozen=True)
class JpegTiles:
    """Where the JPEG tiles of one GeoTIFF lie, and its JPEG tables."""

    path: str
    version: tuple[int, int]  # the file's (size, mtime_ns) when indexed
    width: int
    height: int
    tile_w: int
    tile_h: int
    offsets: tuple[int, ...]
    counts: tuple[int, ...]
    tables: bytes

    def read(self, window: tuple[int, int, int, int]) -> np.ndarray:
        """RGB pixels (rows, cols, 3) of window (col0, row0, col1, row1).

        Raises:
            SourceReadError: a tile that is not a readable JPEG of the expected size.
        """
        c0, r0, c1, r1 = window
        out = np.empty((r1 - r0, c1 - c0, 3), np.uint8)
        across = -(-self.width // self.tile_w)
        with open(self.path, "rb") as fh:
            for ti in range(r0 // self.tile_h, (r1 - 1) // self.tile_h + 1):
                for tj in range(c0 // self.tile_w, (c1 - 1) // self.tile_w + 1):
                    tile = self._tile(fh, ti * across + tj)
                    y0, x0 = ti * self.tile_h, tj * self.tile_w
                    ys, ye = max(r0, y0), min(r1, y0 + self.tile_h)
                    xs, xe = max(c0, x0), min(c1, x0 + self.tile_w)
                    out[ys - r0 : ye - r0, xs - c0 : xe - c0] = tile[ys - y0 : ye - y0,
                                                                     xs - x0 : xe - x0]  # fmt: skip
        return out

    def _tile(self, fh: Any, index: int) -> np.ndarray:
        cache = _cache()
        key = (self.path, self.version, index)
        tile = cache.get(key)
        if tile is None:
            tile = self._decode(fh, index)
            cache.put(key, tile)
        return tile

    def _decode(self, fh: Any, index: int) -> np.ndarray:
        from PIL import Image, UnidentifiedImageError

        shape = (self.tile_h, self.tile_w, 3)
        count = self.counts[index]
        if count == 0:  # a sparse tile: GDAL reads it as zeros too
            return np.zeros(shape, np.uint8)
        fh.seek(self.offsets[index])
        data = fh.read(count)
        stream = self.tables[:-2] + data[2:] if self.tables else data
        try:
            with warnings.catch_warnings():
                # a damaged header's huge size is refused below, before any decoding
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(io.BytesIO(stream), formats=["JPEG"]) as im:
                    if im.size != (self.tile_w, self.tile_h) or im.mode != "RGB":
                        raise SourceReadError(
                            f"{self.path}: JPEG tile {index} is {im.size[0]} x {im.size[1]} "
                            f"{im.mode} where the TIFF says {self.tile_w} x {self.tile_h} "
                            "YCbCr; the file is damaged"
                        )
                    if im.info.get("adobe_transform") == 0:
                        # an Adobe marker calling the tile RGB, which libtiff (GDAL)
                        # would convert from YCbCr all the same: let GDAL read the file
                        raise _NotPlain
                    im.load()
                    return np.asarray(im)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            reason = "not a JPEG stream" if isinstance(exc, UnidentifiedImageError) else exc
            raise SourceReadError(
                f"{self.path}: JPEG tile {index} cannot be decoded ({reason}); the file may "
                "be truncated or damaged"
            ) from exc


class _NotPlain(Exception):
    """A tile this module would decode otherwise than GDAL: the file is GDAL's to read."""


def read_window(src: Any, window: tuple[int, int, int, int]) -> np.ndarray | None:
    """RGB pixels (rows, cols, 3) of window (col0, row0, col1, row1) of an open raster
    decoded here, or None where GDAL must read it (:func:`jpeg_tiles`).

    Raises:
        SourceReadError: a damaged tile.
    """
    tiles = jpeg_tiles(src)
    if tiles is None:
        return None
    try:
        return tiles.read(window)
    except _NotPlain:
        with _INDEX_LOCK:
            _INDEX[(tiles.path, *tiles.version)] = None
        return None


def jpeg_tiles(src: Any) -> JpegTiles | None:
    """The tile index of an open raster that this module decodes, or None (GDAL reads it):
    remembered per file version within the process."""
    from rasterio.enums import Compression, Interleaving, PhotometricInterp

    if (
        src.driver != "GTiff"
        or src.count != 3
        or set(src.dtypes) != {"uint8"}
        or src.compression != Compression.jpeg
        or src.photometric != PhotometricInterp.ycbcr
        or src.interleaving != Interleaving.pixel
    ):  # striped files have no tile tags: _index turns them away
        return None
    path = str(src.name)
    try:
        stat = os.stat(path)
    except OSError:
        return None  # a GDAL virtual path: GDAL reads it
    key = (path, stat.st_size, stat.st_mtime_ns)
    with _INDEX_LOCK:
        if key in _INDEX:
            return _INDEX[key]
    index = _index(path, (stat.st_size, stat.st_mtime_ns), src.width, src.height)
    with _INDEX_LOCK:
        if len(_INDEX) >= 1024:
            _INDEX.clear()
        _INDEX[key] = index
    return index


_INDEX: dict[tuple[str, int, int], JpegTiles | None] = {}
_INDEX_LOCK = threading.Lock()


def _index(path: str, version: tuple[int, int], width: int, height: int) -> JpegTiles | None:
    """Parse the first image file directory; None where it is not what GDAL read."""
    from PIL import TiffImagePlugin

    try:
        with open(path, "rb") as fh, warnings.catch_warnings():
            warnings.simplefilter("error")  # anything odd in the directory: GDAL reads it
            header = fh.read(8)
            if header[2:4] in (b"\x2b\x00", b"\x00\x2b"):  # BigTIFF, either byte order
                header += fh.read(8)
            ifd = TiffImagePlugin.ImageFileDirectory_v2(header)
            fh.seek(ifd.next)
            ifd.load(fh)
            tags = {name: ifd.get(tag) for name, tag in _TIFF_TAGS.items()}
    except Exception:  # whatever Pillow cannot parse, GDAL reads (and judges)
        return None
    if (tags["width"], tags["height"], tags["compression"], tags["photometric"]) != (
        width, height, 7, 6,
    ):  # fmt: skip
        return None
    tile_w, tile_h = tags["tile_w"], tags["tile_h"]
    offsets, counts = tags["offsets"], tags["counts"]
    if not tile_w or not tile_h or offsets is None or counts is None:
        return None
    n = -(-width // tile_w) * -(-height // tile_h)
    if len(offsets) != n or len(counts) != n:  # more: planar tiles; GDAL reads those
        return None
    tables = tags["tables"]
    return JpegTiles(path, version, width, height, int(tile_w), int(tile_h),
                     tuple(int(o) for o in offsets), tuple(int(c) for c in counts),
                     bytes(tables) if tables else b"")  # fmt: skip


class _TileCache:
    """Decoded tiles of one thread of one process, least recently used out first."""

    def __init__(self) -> None:
        self.tiles: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self.size = 0

    def get(self, key: tuple) -> np.ndarray | None:
        tile = self.tiles.get(key)
        if tile is not None:
            self.tiles.move_to_end(key)
        return tile

    def put(self, key: tuple, tile: np.ndarray) -> None:
        self.tiles[key] = tile
        self.size += tile.nbytes
        while self.size > TILE_CACHE_BYTES and len(self.tiles) > 1:
            _, old = self.tiles.popitem(last=False)
            self.size -= old.nbytes


class _Local(threading.local):
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.cache = _TileCache()


_LOCAL = _Local()


def _cache() -> _TileCache:
    """This thread's decoded tiles (a forked child starts empty)."""
    if _LOCAL.pid != os.getpid():
        _LOCAL.pid, _LOCAL.cache = os.getpid(), _TileCache()
    return _LOCAL.cache
