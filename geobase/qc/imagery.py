"""Orthophoto (DOM) checks: spatial reference and zone, ground resolution, bands and bit
depth, no-data declared, no-data holes inside the footprint, blank and saturated
patches, COG layout, metadata completeness; seams are in :mod:`geobase.qc.seams`.

The pixels are read once, in strips of whole rows, and reduced to a grid of cells
(valid share, standard deviation, saturated share) on which holes and patches are
found, so memory is bounded by the strip and time stays near one read of the image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import ColorInterp

from geobase.ingest.metadata import read_sidecar
from geobase.qc import rasters
from geobase.qc.context import Context
from geobase.qc.places import cells_to_polygons, enclosed
from geobase.qc.settings import ImageryThresholds

MAX_CELLS = 4096  # cells on the longer side of the grid


def check(ctx: Context, given: str, path: Path) -> rasters.Opened:
    """Every per-file orthophoto check; returns the opened delivery for the seam checks."""
    t: ImageryThresholds = ctx.thresholds
    item = rasters.open_delivery(ctx, given, path)
    if not item.zone_reported:
        rasters.check_crs(ctx, given, item.crs, item.info.crs_given, item.footprint, "dom")
    rasters.check_resolution(ctx, item, "dom", t.resolution_tolerance)
    _check_bands(ctx, item, t)
    _check_pixels(ctx, item, t)
    rasters.check_cog(ctx, item, "dom", t.overview_min_size, t.cog_required)
    _check_metadata(ctx, item, t)
    return item


def _check_bands(ctx: Context, item: rasters.Opened, t: ImageryThresholds) -> None:
    info = item.info
    ctx.ran(item.given, "dom.bands", "dom.bit_depth", "dom.nodata_declared")
    colour = info.count - (1 if info.has_alpha else 0)
    if colour not in t.bands:
        ctx.add(
            item.given,
            "dom.bands",
            "blocking",
            colour,
            t.bands,
            f"{colour} colour band(s); the product has {' or '.join(map(str, t.bands))}",
            item.footprint,
        )
    if info.dtype not in t.dtypes:
        ctx.add(
            item.given,
            "dom.bit_depth",
            "minor",
            info.dtype,
            t.dtypes,
            f"pixels are {info.dtype}; the product allows {', '.join(t.dtypes)}",
            item.footprint,
        )
    if info.nodata is None and not info.has_alpha and not info.has_mask:
        ctx.add(
            item.given,
            "dom.nodata_declared",
            "minor",
            None,
            "nodata, mask or alpha",
            "no nodata value, mask or alpha band declared: fill pixels cannot be told "
            "from image pixels",
            item.footprint,
        )


def _valid(ds, data: np.ndarray, window, info, colour: list[int]) -> np.ndarray | None:
    """The strip's valid pixels, None when every pixel is valid (no mask declared)."""
    if info.has_alpha:
        alpha = next(i for i, c in enumerate(ds.colorinterp) if c == ColorInterp.alpha)
        return data[alpha] > 0
    if info.has_mask:
        return ds.read_masks(1, window=window) > 0
    if info.nodata is not None:
        nd = info.nodata
        if np.isnan(nd):
            return ~np.logical_and.reduce([np.isnan(data[i]) for i in colour])
        return np.logical_or.reduce([data[i] != nd for i in colour])
    return None


def _check_pixels(ctx: Context, item: rasters.Opened, t: ImageryThresholds) -> None:
    """``dom.nodata_hole``, ``dom.blank_patch``, ``dom.saturated_patch``: one pass."""
    info = item.info
    ctx.ran(item.given, "dom.nodata_hole", "dom.blank_patch", "dom.saturated_patch")
    k = rasters.cell_size(info, min(t.hole_min_area_m2, t.patch_min_area_m2), 4, MAX_CELLS)
    rows, cols = -(-info.height // k), -(-info.width // k)
    valid_share = np.ones((rows, cols), dtype=np.float32)
    darkest = np.zeros((rows, cols), dtype=np.float64)  # brightest pixel of the probe band
    saturated = np.zeros((rows, cols), dtype=np.float32)
    top = np.iinfo(info.dtype).max if np.issubdtype(np.dtype(info.dtype), np.integer) else None
    with rasterio.Env(GDAL_CACHEMAX=rasters.STRIP_PIXELS * 4), rasterio.open(info.path) as ds:
        colour = [i for i, c in enumerate(ds.colorinterp) if c != ColorInterp.alpha]
        probe = colour[1] if len(colour) >= 3 else colour[0]  # green, or the one band
        for r0, window in rasters.strips(ds, k):
            data = ds.read(window=window)
            valid = _valid(ds, data, window, info, colour)
            i0 = r0 // k
            sizes = np.minimum(k, data.shape[1] - np.arange(0, data.shape[1], k))
            counts = np.outer(sizes, np.minimum(k, info.width - np.arange(0, info.width, k)))
            h = counts.shape[0]
            if valid is not None and not valid.all():
                share = rasters.reduce_cells(valid, k, "sum") / counts
                valid_share[i0 : i0 + h] = share
                band = np.where(valid, data[probe], 0)
            else:
                band = data[probe]
            darkest[i0 : i0 + h] = rasters.reduce_cells(band, k, "max")
            if top is not None:
                sat = np.logical_and.reduce([data[i] == top for i in colour])
                if valid is not None:
                    sat &= valid
                saturated[i0 : i0 + h] = rasters.reduce_cells(sat, k, "sum") / counts
    grid = rasters.cell_transform(info.transform, k)
    invalid = valid_share < 0.5
    for poly in enclosed(invalid, grid, t.hole_min_area_m2):
        ctx.add(
            item.given,
            "dom.nodata_hole",
            "blocking",
            round(poly.area, 2),
            t.hole_min_area_m2,
            f"a hole of no data of {poly.area:.1f} m2 inside the footprint",
            rasters.lonlat(item, poly),
        )
    full = valid_share >= 0.999
    # blank: every pixel black, a fill the nodata value does not declare (flat mid-tones
    # are water or shadow at coarse resolutions; white is saturated)
    blank = full & (darkest <= t.blank_level)
    for poly in cells_to_polygons(blank, grid, t.patch_min_area_m2):
        ctx.add(
            item.given,
            "dom.blank_patch",
            "blocking",
            round(poly.area, 2),
            t.patch_min_area_m2,
            f"a blank patch (every pixel at most {t.blank_level}, not declared as no data) "
            f"of {poly.area:.1f} m2",
            rasters.lonlat(item, poly),
        )
    sat_cells = (saturated >= t.saturated_share) & ~blank
    for poly in cells_to_polygons(sat_cells, grid, t.patch_min_area_m2):
        ctx.add(
            item.given,
            "dom.saturated_patch",
            "minor",
            round(poly.area, 2),
            t.patch_min_area_m2,
            f"a saturated patch of {poly.area:.1f} m2 (every band at {top})",
            rasters.lonlat(item, poly),
        )


def _check_metadata(ctx: Context, item: rasters.Opened, t: ImageryThresholds) -> None:
    """``dom.metadata``: acquisition date, sensor or producer stated nowhere."""
    ctx.ran(item.given, "dom.metadata")
    info = item.info
    sidecar = read_sidecar(info.path)
    tags = info.tags
    found = {
        "acquired": info.acquired is not None or "acquired" in sidecar or ctx.acquired is not None,
        "sensor": bool(sidecar.get("sensor") or tags.get("TIFFTAG_MODEL") or tags.get("SENSOR")),
        "producer": bool(
            sidecar.get("producer")
            or sidecar.get("owner")
            or tags.get("TIFFTAG_ARTIST")
            or tags.get("PRODUCER")
        ),
    }
    missing = [key for key in t.metadata if not found.get(key, False)]
    if missing:
        ctx.add(
            item.given,
            "dom.metadata",
            "minor",
            ", ".join(missing),
            ", ".join(t.metadata),
            f"metadata incomplete: {', '.join(missing)} stated neither in the file nor "
            "in a sidecar",
            item.footprint,
        )
