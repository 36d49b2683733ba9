"""Checks every raster delivery shares (orthophotos and DEMs): the spatial reference the
bureau requires, ground resolution, COG layout and overviews, and the pass over the
pixels in strips that the kind's checks reduce to a grid of cells."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import shapely
from affine import Affine
from pyproj import CRS
from rasterio.windows import Window
from shapely.geometry.base import BaseGeometry

from geobase.errors import InvalidCoordinates
from geobase.geodesy.zones import crs_label, gk_system_of
from geobase.ingest import raster
from geobase.qc.context import Context
from geobase.qc.places import to_lonlat

STRIP_PIXELS = 1 << 24  # pixels (per band) read at a time: memory bounded by the strip


@dataclass
class Opened:
    """A raster delivery read for checking."""

    given: str
    info: raster.RasterInfo
    footprint: BaseGeometry  # EPSG:4490
    local_footprint: BaseGeometry  # in the file's CRS
    zone_reported: bool = False  # its coordinates lie outside the zone it states

    @property
    def crs(self) -> CRS:
        return self.info.crs


def open_delivery(ctx: Context, given: str, path: Path) -> Opened:
    """Read a raster's metadata and footprint; a missing CRS is a defect (the required
    CRS is assumed to place the others).

    Raises:
        SourceReadError, UnsupportedInput: the file cannot be read as a raster.
    """
    # the required CRS only places a file stating none; a file stating another is
    # reported by check_crs (crs_zone), not warned about as an ignored --crs
    info = raster.read_info(path, crs=ctx.required_crs, warn_ignored=False)
    with raster.open_raster(path) as ds:
        b = ds.bounds
    local = shapely.box(b.left, b.bottom, b.right, b.top)
    try:
        fp = raster.footprint(info)
    except InvalidCoordinates as exc:
        # outside the zone it states: placed all the same (PROJ extends the projection)
        fp = to_lonlat(local, info.crs)
        ctx.report.footprints[given] = fp
        prefix = "dem" if ctx.product.kind == "dem" else "dom"
        ctx.add(
            given,
            f"{prefix}.crs_zone",
            "blocking",
            crs_label(info.crs),
            crs_label(ctx.required_crs),
            str(exc).split("; likely cause")[0],
            fp,
        )
        return Opened(given, info, fp, local, zone_reported=True)
    ctx.report.footprints[given] = fp
    return Opened(given, info, fp, local)


def check_crs(
    ctx: Context,
    given: str,
    crs: CRS,
    crs_given: bool,
    footprint: BaseGeometry,
    prefix: str,
) -> None:
    """``<prefix>.crs_missing``: no CRS in the file; ``<prefix>.crs_zone``: not the CRS
    the bureau requires (another datum or zone: blocking; the same zone written with
    or without the zone prefix: minor)."""
    ctx.ran(given, f"{prefix}.crs_zone")
    required = ctx.required_crs
    if crs_given:
        ctx.add(
            given,
            f"{prefix}.crs_missing",
            "blocking",
            None,
            crs_label(required),
            f"no CRS in the file; {crs_label(required)} assumed to place the other defects",
            footprint,
        )
        return
    if crs.equals(required, ignore_axis_order=True):
        return
    have, want = gk_system_of(crs), gk_system_of(required)
    same_zone = (
        have is not None
        and want is not None
        and have.datum == want.datum
        and have.central_meridian == want.central_meridian
    )
    ctx.add(
        given,
        f"{prefix}.crs_zone",
        "minor" if same_zone else "blocking",
        crs_label(crs),
        crs_label(required),
        f"CRS {crs_label(crs)} ({crs.name}) is not the required {crs_label(required)}"
        + (
            " (same zone, other zone-prefix convention)"
            if same_zone
            else " (another datum, zone or projection)"
        ),
        footprint,
    )


def check_resolution(ctx: Context, item: Opened, prefix: str, tolerance: float) -> None:
    """``<prefix>.resolution``: coarser than the product's ground resolution."""
    wanted = ctx.product.resolution
    if wanted is None:
        return
    ctx.ran(item.given, f"{prefix}.resolution")
    have = item.info.resolution_m
    if have > wanted * tolerance:
        ctx.add(
            item.given,
            f"{prefix}.resolution",
            "blocking",
            round(have, 4),
            wanted,
            f"ground resolution {have:.3f} m is coarser than the product's {wanted} m",
            item.footprint,
        )


def check_cog(ctx: Context, item: Opened, prefix: str, min_size: int, required: bool) -> None:
    """``<prefix>.cog``: not a valid Cloud Optimized GeoTIFF (rio-cogeo's validator);
    ``<prefix>.overviews``: an image larger than ``min_size`` without overviews."""
    from rio_cogeo.cogeo import cog_validate

    info = item.info
    ctx.ran(item.given, f"{prefix}.overviews")
    if max(info.width, info.height) > min_size and not info.overviews:
        ctx.add(
            item.given,
            f"{prefix}.overviews",
            "minor",
            0,
            f"overviews above {min_size} px",
            f"{info.width} x {info.height} px without overviews",
            item.footprint,
        )
    if not required:
        return
    ctx.ran(item.given, f"{prefix}.cog")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        valid, errors, _ = cog_validate(str(info.path), quiet=True)
    if not valid:
        ctx.add(
            item.given,
            f"{prefix}.cog",
            "minor",
            "; ".join(errors)[:200] or "not a COG",
            "valid COG",
            f"not a valid Cloud Optimized GeoTIFF ({'; '.join(errors)[:160]})",
            item.footprint,
        )


def cell_size(info: raster.RasterInfo, min_area_m2: float, min_px: int, max_cells: int) -> int:
    """Pixels per cell side: cells of at most a quarter of ``min_area_m2`` (so a region of
    that area holds whole cells), at least ``min_px``, and at most ``max_cells`` cells on
    the longer side."""
    k = int(math.sqrt(min_area_m2 / 4) / max(info.resolution_m, 1e-9))
    k = max(k, min_px, math.ceil(max(info.width, info.height) / max_cells))
    return k


def strips(ds: rasterio.io.DatasetReader, k: int) -> Iterator[tuple[int, Window]]:
    """Windows of whole rows, a multiple of ``k`` rows each, at most
    :data:`STRIP_PIXELS` pixels (per band)."""
    rows = max(k, (STRIP_PIXELS // max(ds.width, 1)) // k * k)
    for r0 in range(0, ds.height, rows):
        yield r0, Window(0, r0, ds.width, min(rows, ds.height - r0))


def cells(array: np.ndarray, k: int, fill: float = 0) -> np.ndarray:
    """A (rows, cols) array padded to multiples of ``k`` and viewed as
    (rows/k, k, cols/k, k) blocks."""
    h, w = array.shape
    ph, pw = -h % k, -w % k
    if ph or pw:
        array = np.pad(array, ((0, ph), (0, pw)), constant_values=fill)
    return array.reshape((h + ph) // k, k, (w + pw) // k, k)


def reduce_cells(array: np.ndarray, k: int, how: str) -> np.ndarray:
    """Per ``k`` x ``k`` cell of a (rows, cols) array: its ``sum`` or ``max`` (the last
    row and column of cells over what is left)."""
    h, w = array.shape
    if how == "sum":
        across = np.add.reduceat(array, np.arange(0, w, k), axis=1, dtype=np.int64)
        return np.add.reduceat(across, np.arange(0, h, k), axis=0)
    across = np.maximum.reduceat(array, np.arange(0, w, k), axis=1)
    return np.maximum.reduceat(across, np.arange(0, h, k), axis=0)


def cell_transform(transform: Affine, k: int) -> Affine:
    return transform @ Affine.scale(k, k)


def lonlat(item: Opened, geom: BaseGeometry) -> BaseGeometry:
    return to_lonlat(geom, item.crs)
