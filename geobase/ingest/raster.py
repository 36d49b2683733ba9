"""GeoTIFF imagery and DEMs (and SRTM ``.hgt`` tiles, see :mod:`geobase.ingest.srtm`):
metadata, valid-data footprint, cloud-optimised GeoTIFF.

Memory stays bounded by the read size, not the image size: the footprint comes from a
decimated read of the dataset mask (GDAL uses the overviews where there are some), the
validation and the COG conversion go block by block with a bounded GDAL cache.
"""

from __future__ import annotations

import contextlib
import logging
import math
import struct
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import shapely
from affine import Affine
from pyproj import CRS
from rasterio.enums import ColorInterp, MaskFlags
from rasterio.errors import NotGeoreferencedWarning, RasterioError, RasterioIOError
from rasterio.windows import Window

from geobase.catalog.products import COG_COMPRESSIONS
from geobase.dates import parse_date
from geobase.errors import (
    InvalidDate,
    MissingCRS,
    SourceReadError,
    StoreError,
    UnsupportedInput,
)
from geobase.geodesy.constants import CGCS2000
from geobase.ingest import srtm
from geobase.ingest.footprint import polygonize, to_cgcs2000
from geobase.ingest.metadata import Acquired, vertical_datum

logger = logging.getLogger(__name__)

FOOTPRINT_CELLS = 1024  # longest side of the decimated mask read for the footprint
GDAL_CACHE_BYTES = 256 << 20  # GDAL's block cache during conversion (peak RSS < 1 GB)
FOOTPRINT_CACHE_BYTES = 16 << 20  # the footprint's read passes over each block once
STRIP_ROWS = 512  # full-resolution mask read a window of STRIP_ROWS x STRIP_COLS at a time
STRIP_COLS = 4096  # (no overviews), so the window's blocks fit the footprint's GDAL cache
RASTER_SUFFIXES = (".tif", ".tiff", ".gtif", ".gtiff")


@dataclass
class RasterInfo:
    """What a GeoTIFF states about itself."""

    path: Path
    crs: CRS
    crs_given: bool
    transform: Affine
    width: int
    height: int
    count: int
    dtype: str
    nodata: float | None
    resolution_m: float
    colorinterp: list[str]
    has_alpha: bool
    has_mask: bool
    all_valid: bool
    overviews: list[int]
    compression: str | None
    acquired: Acquired | None
    vertical_datum: str | None
    tags: dict[str, str] = field(default_factory=dict)
    srtm_tile: srtm.SrtmTile | None = None  # what an SRTM file's name and size state

    @property
    def is_rgb(self) -> bool:
        """3 (or 3 + alpha) byte bands: an orthophoto."""
        colour = self.count - (1 if self.has_alpha else 0)
        return self.dtype == "uint8" and colour == 3

    @property
    def looks_like_dem(self) -> bool:
        """One band of floating-point values, or an SRTM tile (int16 heights)."""
        if self.srtm_tile is not None:
            return True
        return self.count == 1 and np.issubdtype(np.dtype(self.dtype), np.floating)

    def metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "width": self.width,
            "height": self.height,
            "transform": list(self.transform)[:6],
            "colorinterp": self.colorinterp,
            "overviews": self.overviews,
            "source_compression": self.compression,
            "crs_given": self.crs_given,
            "mask": "alpha" if self.has_alpha else "internal" if self.has_mask else None,
            **({"file_date": self.file_date} if self.file_date else {}),
        }
        if self.srtm_tile is not None:
            meta["srtm"] = self.srtm_tile.metadata()
        return meta

    @property
    def file_date(self) -> str | None:
        """The TIFF DateTime tag: when the file was written (an export), kept as a record.

        It never dates the acquisition: a re-export years after the flight carries the
        export's date.
        """
        value = self.tags.get("TIFFTAG_DATETIME")
        if not value:
            return None
        try:
            return parse_date(value).isoformat()
        except InvalidDate:
            return value[:40]


@contextlib.contextmanager
def open_raster(path: Path) -> Iterator[rasterio.io.DatasetReader]:
    """Open a raster, turning GDAL's failures into :class:`SourceReadError`."""
    try:
        with warnings.catch_warnings():
            # an ungeoreferenced TIFF is reported by read_info with its own message
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            ds = rasterio.open(path)
    except RasterioIOError as exc:
        raise SourceReadError(
            f"{path.name}: cannot be opened as a raster ({_gdal_reason(exc)}); "
            "likely not a GeoTIFF, truncated or corrupt"
        ) from exc
    with ds:
        yield ds


def _gdal_reason(exc: BaseException) -> str:
    """The innermost GDAL message of a rasterio error chain (the one that says why)."""
    reason = ""
    seen = 0
    cause: BaseException | None = exc
    while cause is not None and seen < 10:
        text = str(cause).strip()
        if text and "See previous exception" not in text:
            reason = text.splitlines()[0]
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return (reason or type(exc).__name__)[:200]


# no compression in a delivery packs more pixel bytes per byte of file (DEFLATE of
# constant data reaches about 1000x); a block stating more lies
MAX_COMPRESSION_RATIO = 10_000


def _check_size(path: Path, ds) -> None:
    """Refuse a raster whose pixels could not be backed by the bytes its blocks hold.

    A sparse GeoTIFF (GDAL's SPARSE_OK: empty tiles or strips with offset and byte count
    0, read as nodata) may state far more pixels than its file could hold; what counts is
    each stored block: its pixels must come from its bytes at no more than
    :data:`MAX_COMPRESSION_RATIO`. The blocks are only looked at when the whole file
    exceeds that ratio, so their number is bounded by the file's size.

    Raises:
        SourceReadError: no block stores any bytes, or the stored blocks' pixels exceed
            their bytes by more than :data:`MAX_COMPRESSION_RATIO`, or a block's bytes lie
            beyond the end of the file (a header that lies, or a truncated file).
    """
    size = path.stat().st_size if path.is_file() else 0
    if not size:
        return  # not a plain file (a VRT's sources, /vsi paths): GDAL's own checks apply
    itemsize = np.dtype(ds.dtypes[0]).itemsize
    pixel_bytes = ds.width * ds.height * ds.count * itemsize
    if pixel_bytes <= size * MAX_COMPRESSION_RATIO:
        return
    stated = (
        f"{path.name}: the header states {ds.width} x {ds.height} x {ds.count} "
        f"{ds.dtypes[0]} pixels ({pixel_bytes:,} bytes) in a file of {size:,} bytes"
    )
    table = _block_table(path, size)
    if table is None:  # not a TIFF whose blocks this reads: the whole file's ratio decides
        raise SourceReadError(f"{stated}; a header that lies, or a truncated file")
    offsets, counts = table
    stored_blocks = counts > 0
    if (offsets[stored_blocks] + counts[stored_blocks] > size).any():
        bad = int(np.argmax(stored_blocks & (offsets + counts > size)))
        raise SourceReadError(
            f"{stated}; block {bad} needs bytes {int(offsets[bad]):,}.."
            f"{int(offsets[bad] + counts[bad]):,} beyond the end of the file; a truncated "
            "file or a header that lies"
        )
    stored = int(counts[stored_blocks].sum())
    if not stored:
        raise SourceReadError(
            f"{stated}, and none of its {len(counts):,} blocks holds any bytes; "
            "a header that lies, or an empty sparse file"
        )
    # a sparse block (offset and byte count 0) is nodata; each stored one must hold its
    # share of the pixels
    backed = pixel_bytes * int(stored_blocks.sum()) // len(counts)
    if backed > stored * MAX_COMPRESSION_RATIO:
        raise SourceReadError(
            f"{stated}; its {int(stored_blocks.sum()):,} stored blocks hold {backed:,} bytes "
            f"of pixels in {stored:,} bytes, beyond {MAX_COMPRESSION_RATIO:,}x compression; "
            "a header that lies"
        )


_TIFF_ARRAY_TYPES = {3: "H", 4: "I", 16: "Q"}  # SHORT, LONG, LONG8


def _block_table(path: Path, size: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Offsets and byte counts of the strips or tiles of a TIFF's first image.

    Reads the header and the first IFD only; every array read is checked to lie inside
    the file first, so memory stays bounded by the file's size.

    Returns:
        (offsets, byte counts), or None when the file is no classic or BigTIFF this
        reads (unknown byte order, no block arrays, arrays of equal length missing).

    Raises:
        SourceReadError: the IFD or a block array lies beyond the end of the file.
    """

    def beyond(what: str, end: int) -> SourceReadError:
        return SourceReadError(
            f"{path.name}: the TIFF's {what} ends at byte {end:,}, beyond the file's "
            f"{size:,} bytes; a truncated file or a header that lies"
        )

    with open(path, "rb") as f:
        head = f.read(16)
        order = {b"II": "<", b"MM": ">"}.get(head[:2])
        if order is None or len(head) < 16:
            return None
        magic = struct.unpack(order + "H", head[2:4])[0]
        if magic == 42:  # classic: 2-byte entry number, 12-byte entries, 4-byte fields
            ifd = struct.unpack(order + "I", head[4:8])[0]
            number_fmt, field_fmt, entry_size = "H", "I", 12
        elif magic == 43:  # BigTIFF: 8-byte entry number, 20-byte entries, 8-byte fields
            ifd = struct.unpack(order + "Q", head[8:16])[0]
            number_fmt, field_fmt, entry_size = "Q", "Q", 20
        else:
            return None
        number_size = struct.calcsize(number_fmt)
        inline = struct.calcsize(field_fmt)  # the count and the value field share this size
        if ifd + number_size > size:
            raise beyond("first IFD", ifd + number_size)
        f.seek(ifd)
        n = struct.unpack(order + number_fmt, f.read(number_size))[0]
        if ifd + number_size + n * entry_size > size:
            raise beyond("first IFD", ifd + number_size + n * entry_size)
        raw = f.read(n * entry_size)
        arrays: dict[int, np.ndarray] = {}
        for k in range(n):
            entry = raw[k * entry_size : (k + 1) * entry_size]
            tag, typ = struct.unpack(order + "HH", entry[:4])
            if tag not in (273, 279, 324, 325):  # strip / tile offsets and byte counts
                continue
            code = _TIFF_ARRAY_TYPES.get(typ)
            if code is None:
                return None
            count = struct.unpack(order + field_fmt, entry[4 : 4 + inline])[0]
            nbytes = count * struct.calcsize(code)
            field_ = entry[4 + inline :]
            if nbytes <= inline:
                data = field_[:nbytes]
            else:
                at = struct.unpack(order + field_fmt, field_)[0]
                if at + nbytes > size:
                    raise beyond(f"block array (tag {tag})", at + nbytes)
                f.seek(at)
                data = f.read(nbytes)
            arrays[tag] = np.frombuffer(data, dtype=order + code).astype(np.int64)
    offsets = arrays.get(324, arrays.get(273))
    counts = arrays.get(325, arrays.get(279))
    if offsets is None or counts is None or len(offsets) != len(counts) or not len(counts):
        return None
    return offsets, counts


def _resolution_m(crs: CRS, transform: Affine, width: int, height: int) -> float:
    xres = math.hypot(transform.a, transform.d)
    yres = math.hypot(transform.b, transform.e)
    if crs.is_geographic:
        lat = (transform @ (width / 2, height / 2))[1]
        metre = math.pi / 180 * CGCS2000.a  # a degree on the sphere of radius a
        return max(xres * metre * math.cos(math.radians(lat)), yres * metre)
    factor = 1.0
    for axis in crs.axis_info:
        if axis.unit_conversion_factor:
            factor = axis.unit_conversion_factor
            break
    return max(xres, yres) * factor


def _tiff_acquired(ds) -> Acquired | None:
    # only tags that state the acquisition; TIFF DateTime is when the file was written
    # (RasterInfo.file_date keeps it as a record, never as the acquisition date)
    tags = [
        (ds.tags(ns="IMAGERY").get("ACQUISITIONDATETIME"), "TIFF tag ACQUISITIONDATETIME"),
        (ds.tags().get("ACQUISITIONDATETIME"), "TIFF tag ACQUISITIONDATETIME"),
    ]
    for value, source in tags:
        if not value:
            continue
        try:
            day = parse_date(value)
        except InvalidDate:
            # a zeroed or garbled tag ("0000:00:00 00:00:00") states no date
            logger.warning("%s: %s %r is no date; ignored", ds.name, source, value[:40])
            continue
        return Acquired(day, day, source)
    return None


def read_info(path: Path, crs: CRS | None = None, *, warn_ignored: bool = True) -> RasterInfo:
    """Metadata of a GeoTIFF or an SRTM tile (checked against its name first).

    Args:
        path: the file.
        crs: a CRS to use when the file states none (``--crs``).
        warn_ignored: log a warning when the file states another CRS than ``crs`` (the
            user's ``--crs`` is then ignored); False where ``crs`` is no user's choice
            but an assumption the caller reports on itself (acceptance checks place a
            file without CRS in the required one and report the file's CRS).

    Raises:
        SourceReadError: the file cannot be opened; an SRTM tile whose size or archive
            does not match its name.
        UnsupportedInput: the file has no georeferencing (no transform, no GCPs); an SRTM
            file not named by its tile.
        MissingCRS: the file states no CRS and ``crs`` is None.
    """
    tile = srtm.check(path) if srtm.is_srtm(path) else None
    with open_raster(path) as ds:
        _check_size(path, ds)
        if ds.transform.is_identity and not ds.gcps[0]:
            raise UnsupportedInput(
                f"{path.name}: TIFF without georeferencing (no geotransform or GCPs); "
                "likely a plain image or its .tfw world file is missing"
            )
        if ds.gcps[0]:
            raise UnsupportedInput(
                f"{path.name}: georeferenced by GCPs only; orthorectify it first "
                "(gdalwarp) so that it has a geotransform"
            )
        src_crs = ds.crs
        given = False
        if src_crs is None or not src_crs.to_wkt():
            if crs is None:
                raise MissingCRS(
                    f"{path.name}: no coordinate reference system in the file; "
                    "pass --crs (for example --crs EPSG:4548)"
                )
            given = True
            pcrs = crs
        else:
            pcrs = CRS.from_wkt(src_crs.to_wkt())
            if warn_ignored and crs is not None and not pcrs.equals(crs, ignore_axis_order=True):
                logger.warning("%s states %s; --crs %s is ignored", path.name, pcrs.name, crs.name)
        try:
            acquired = _tiff_acquired(ds)
        except ValueError:
            logger.warning("%s: TIFF date tag is not a date; ignored", path.name)
            acquired = None
        flags = ds.mask_flag_enums
        has_alpha = any(c == ColorInterp.alpha for c in ds.colorinterp)
        has_mask = any(MaskFlags.per_dataset in f for f in flags) and not has_alpha
        all_valid = all(MaskFlags.all_valid in f for f in flags)
        return RasterInfo(
            path=path,
            crs=pcrs,
            crs_given=given,
            transform=ds.transform,
            width=ds.width,
            height=ds.height,
            count=ds.count,
            dtype=ds.dtypes[0],
            nodata=ds.nodata,
            resolution_m=_resolution_m(pcrs, ds.transform, ds.width, ds.height),
            colorinterp=[c.name for c in ds.colorinterp],
            has_alpha=has_alpha,
            has_mask=has_mask,
            all_valid=all_valid,
            overviews=ds.overviews(1),
            compression=ds.compression.name if ds.compression else None,
            acquired=acquired,
            vertical_datum=srtm.VERTICAL_DATUM if tile is not None else vertical_datum(pcrs),
            tags=dict(ds.tags()),
            srtm_tile=tile,
        )


def decimated_mask(ds, max_cells: int = FOOTPRINT_CELLS) -> tuple[np.ndarray, Affine]:
    """The dataset's valid-data mask, about ``max_cells`` on its longer side.

    With overviews, the finest overview at least ``max_cells`` wide is opened and its mask
    read whole (a few MB, whatever the image size). Without, the full-resolution mask is
    read one strip of blocks at a time and sampled every k-th pixel, so each block is
    decoded once and memory stays at one strip.
    """
    scale = max(ds.width, ds.height) / max_cells
    if scale <= 1:
        return ds.dataset_mask() > 0, ds.transform
    factors = ds.overviews(1)
    usable = [i for i, f in enumerate(factors) if f <= scale]
    if usable:
        level = max(usable)
        with rasterio.open(ds.name, overview_level=level) as ovr:
            return ovr.dataset_mask() > 0, ovr.transform
    k = math.floor(scale)
    out = np.zeros((-(-ds.height // k), -(-ds.width // k)), dtype=bool)
    block_h, block_w = ds.block_shapes[0]
    strip = max(block_h, (STRIP_ROWS // block_h) * block_h)
    chunk = max(block_w, (STRIP_COLS // block_w) * block_w)
    half = k // 2
    for r0 in range(0, ds.height, strip):
        h = min(strip, ds.height - r0)
        first_row = (half - r0) % k  # sampled rows: global index % k == half
        if first_row >= h:
            continue
        for c0 in range(0, ds.width, chunk):
            w = min(chunk, ds.width - c0)
            first_col = (half - c0) % k
            if first_col >= w:
                continue
            mask = ds.dataset_mask(window=Window(c0, r0, w, h))
            sampled = mask[first_row::k, first_col::k] > 0
            i0, j0 = (r0 + first_row) // k, (c0 + first_col) // k
            out[i0 : i0 + sampled.shape[0], j0 : j0 + sampled.shape[1]] = sampled
    return out, ds.transform @ Affine.scale(k, k)


def footprint(info: RasterInfo, max_cells: int = FOOTPRINT_CELLS):
    """The valid-data footprint in EPSG:4490, from a decimated mask read.

    Raises:
        SourceReadError: the mask cannot be read.
        UnsupportedInput: the raster holds no valid pixel.
    """
    # the blocks are read once each: GDAL's block cache would only hold memory
    with rasterio.Env(GDAL_CACHEMAX=FOOTPRINT_CACHE_BYTES), open_raster(info.path) as ds:
        if info.all_valid:
            west, south, east, north = ds.bounds
            local = shapely.box(west, south, east, north)
            if not ds.transform.is_rectilinear:
                corners = [
                    ds.transform @ c
                    for c in ((0, 0), (ds.width, 0), (ds.width, ds.height), (0, ds.height))
                ]
                local = shapely.Polygon(corners)
        else:
            try:
                valid, transform = decimated_mask(ds, max_cells)
            except RasterioError as exc:
                raise SourceReadError(
                    f"{info.path.name}: the valid-data mask cannot be read ({_gdal_reason(exc)}); "
                    "likely corrupt pixel data"
                ) from exc
            local = polygonize(valid, transform)
    if local.is_empty:
        raise UnsupportedInput(
            f"{info.path.name}: no valid pixel (every pixel is nodata {info.nodata}); "
            "likely a wrong nodata value or an empty delivery"
        )
    return to_cgcs2000(local, info.crs)


def validate_pixels(info: RasterInfo, progress: Callable[[int, int], None] | None = None) -> None:
    """Decode every block of the raster once (catches damaged pixel data).

    Raises:
        SourceReadError: a block cannot be decoded.
    """
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES), open_raster(info.path) as ds:
        windows = [w for _, w in ds.block_windows(1)]
        for i, window in enumerate(windows):
            try:
                ds.read(window=window)
            except RasterioError as exc:
                raise SourceReadError(
                    f"{info.path.name}: pixel data cannot be decoded at row {window.row_off}, "
                    f"column {window.col_off} ({_gdal_reason(exc)}); likely a damaged or "
                    "truncated file"
                ) from exc
            if progress is not None:
                progress(i + 1, len(windows))


# compressions of a delivery that already lost information: its derived COG may be lossy
LOSSY_COMPRESSIONS = frozenset({"jpeg", "webp"})
LOSSLESS_COGS = ("deflate", "lzw", "zstd")


def cog_compression(info: RasterInfo, kind: str, asked: str = "auto") -> str:
    """The compression of a raster's web-optimised COG.

    ``auto`` (the default) keeps every pixel: lossless DEFLATE, unless the delivery is
    itself lossy (JPEG-compressed) 8-bit RGB imagery, which stays JPEG. A product may ask
    for another (``[products.X] cog_compression``); JPEG and WebP hold 8-bit RGB imagery
    only, anything else stays lossless.
    """
    if asked not in COG_COMPRESSIONS:
        raise UnsupportedInput(
            f"COG compression {asked!r} is not one of {', '.join(COG_COMPRESSIONS)}"
        )
    rgb = kind == "imagery" and info.is_rgb
    if asked == "auto":
        lossy = (info.compression or "").lower() in LOSSY_COMPRESSIONS
        return "jpeg" if rgb and lossy else "deflate"
    if asked in ("jpeg", "webp") and not rgb:
        logger.warning(
            "%s: %s COGs hold 8-bit RGB imagery only; this %s is stored losslessly (deflate)",
            info.path.name,
            asked,
            kind,
        )
        return "deflate"
    return asked


def cog_profile(
    info: RasterInfo, kind: str, compression: str | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The rio-cogeo profile and options for a raster (see :func:`cog_compression`):
    JPEG/YCbCr (or WebP) with a mask for lossy RGB imagery, a lossless compression with a
    predictor for everything else (DEMs always).

    Returns:
        (dst_kwargs, cog_translate keyword arguments)
    """
    from rio_cogeo.profiles import cog_profiles

    compression = compression or cog_compression(info, kind)
    options: dict[str, Any] = {"overview_resampling": "average"}
    if compression in ("jpeg", "webp"):
        profile = dict(cog_profiles.get(compression))
        masked = info.nodata is not None or info.has_alpha or info.has_mask
        if masked:
            options["add_mask"] = True
        if info.has_alpha:
            options["indexes"] = [i + 1 for i, c in enumerate(info.colorinterp) if c != "alpha"]
        if info.nodata is not None and (info.has_alpha or info.has_mask):
            options["nodata"] = None
    else:
        profile = dict(cog_profiles.get(compression))
        floating = np.issubdtype(np.dtype(info.dtype), np.floating)
        profile["predictor"] = 3 if floating else 2
    return profile, options


def translate(source, dst: Path, profile: dict[str, Any], **options: Any) -> None:
    """rio-cogeo's ``cog_translate`` with its known deprecation noise silenced."""
    from rio_cogeo.cogeo import cog_translate

    with warnings.catch_warnings():
        # rio-cogeo multiplies Affine objects with `*`, which affine>=3 deprecates
        warnings.filterwarnings(
            "ignore", message="Use `@` matmul", category=PendingDeprecationWarning
        )
        cog_translate(source, str(dst), profile, **options)


def write_cog(
    info: RasterInfo,
    dst: Path,
    kind: str,
    *,
    config: dict[str, Any] | None = None,
    compression: str = "auto",
) -> dict[str, Any]:
    """Write ``info.path`` as a cloud-optimised GeoTIFF at ``dst`` and validate it.

    ``compression`` is ``auto`` (lossless unless the delivery is lossy RGB imagery) or
    one of :data:`COG_COMPRESSIONS` (see :func:`cog_compression`).

    Memory is bounded: GDAL's cache is capped and large images go through a temporary
    file next to ``dst`` instead of memory.

    Returns:
        What was written (profile, overview levels) for the record's metadata.

    Raises:
        SourceReadError: the source's pixels cannot be decoded.
        StoreError: the written file is not a valid COG.
    """
    from rio_cogeo.cogeo import cog_validate

    chosen = cog_compression(info, kind, compression)
    profile, options = cog_profile(info, kind, chosen)
    env = {
        "GDAL_CACHEMAX": GDAL_CACHE_BYTES,
        "GDAL_TIFF_OVR_BLOCKSIZE": 512,
        "GDAL_NUM_THREADS": "ALL_CPUS",
    }
    env.update(config or {})
    big = info.width * info.height > 4096 * 4096
    try:
        with open_raster(info.path) as src, contextlib.ExitStack() as stack:
            source = src
            if info.crs_given:
                from rasterio.vrt import WarpedVRT

                source = stack.enter_context(
                    WarpedVRT(
                        src,
                        src_crs=info.crs,
                        crs=info.crs,
                        src_transform=src.transform,
                        transform=src.transform,
                        width=src.width,
                        height=src.height,
                    )
                )
            translate(source, dst, profile, in_memory=not big, quiet=True, config=env, **options)
    except RasterioError as exc:
        raise SourceReadError(
            f"{info.path.name}: pixel data cannot be decoded ({_gdal_reason(exc)}); "
            "likely a damaged or truncated file"
        ) from exc
    valid, errors, _warnings = cog_validate(str(dst), quiet=True)
    if not valid:
        raise StoreError(f"{dst.name}: the written COG is not valid: {'; '.join(errors)}")
    with rasterio.open(dst) as out:
        return {
            "cog": True,
            "compression": out.compression.name if out.compression else None,
            "lossless": chosen in LOSSLESS_COGS,
            "overviews": out.overviews(1),
            "blocksize": list(out.block_shapes[0]),
        }
