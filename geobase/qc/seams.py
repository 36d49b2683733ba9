"""Seams between orthophotos: the geometric offset in the overlap of two images, measured
by phase correlation (:mod:`geobase.registration`; sub-pixel, in pixels and metres), and
the radiometric jump across it (the relative difference of their mean brightness there).

Both images of a pair are read over one window of the overlap, the neighbour resampled
(bilinear) onto the checked image's grid, so images in other CRSs or resolutions are
compared too. Neighbours are the other images of the delivery and, inside a workspace,
the catalogued orthophotos whose footprints meet the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp, Resampling
from rasterio.warp import reproject
from rasterio.windows import Window
from shapely.geometry.base import BaseGeometry

from geobase.qc import rasters
from geobase.qc.context import Context
from geobase.qc.places import LONLAT, to_lonlat
from geobase.registration import phase_correlation

WINDOW_PX = 512  # the overlap window measured, at most, on each side
MIN_PEAK = 0.03  # a correlation peak lower than this measures nothing (no shared texture)


@dataclass
class Neighbour:
    """An image to compare with: a file of the delivery or a catalogued dataset."""

    label: str
    path: Path
    footprint: BaseGeometry  # EPSG:4490


@dataclass
class Offset:
    dx: float  # pixels, east
    dy: float  # pixels, south
    peak: float
    jump: float  # relative mean difference

    @property
    def px(self) -> float:
        return math.hypot(self.dx, self.dy)


def _probe_band(ds) -> int:
    colour = [i + 1 for i, c in enumerate(ds.colorinterp) if c != ColorInterp.alpha]
    return colour[1] if len(colour) >= 3 else colour[0]


def measure(item: rasters.Opened, other: Path, overlap_local: BaseGeometry) -> Offset | None:
    """Offset and radiometric jump of ``other`` against ``item`` over the overlap (in the
    item's CRS); None when the window holds too little shared valid data."""
    info = item.info
    cx, cy = overlap_local.centroid.x, overlap_local.centroid.y
    res_x, res_y = abs(info.transform.a), abs(info.transform.e)
    x0, y0, x1, y1 = overlap_local.bounds
    half_w = min(WINDOW_PX * res_x, x1 - x0) / 2
    half_h = min(WINDOW_PX * res_y, y1 - y0) / 2
    with rasterio.open(info.path) as ds:
        # by hand: rasterio 1.4's from_bounds multiplies Affines with `*` (affine >= 3.1)
        col0, row0 = ~ds.transform @ (cx - half_w, cy + half_h)
        col1, row1 = ~ds.transform @ (cx + half_w, cy - half_h)
        c0, r0 = max(0, round(min(col0, col1))), max(0, round(min(row0, row1)))
        c1 = min(ds.width, round(max(col0, col1)))
        r1 = min(ds.height, round(max(row0, row1)))
        if c1 - c0 < 16 or r1 - r0 < 16:
            return None
        win = Window(c0, r0, c1 - c0, r1 - r0)
        band = _probe_band(ds)
        a = ds.read(band, window=win).astype(np.float64)
        a_valid = ds.read_masks(band, window=win) > 0
        transform = ds.transform @ Affine.translation(c0, r0)
    b = np.full(a.shape, np.nan)
    with rasterio.open(other) as src:
        reproject(
            rasterio.band(src, _probe_band(src)),
            b,
            src_nodata=src.nodata,
            dst_transform=transform,
            dst_crs=info.crs,
            dst_nodata=np.nan,
            resampling=Resampling.bilinear,
        )
    both = a_valid & np.isfinite(b)
    if both.mean() < 0.9 or min(a.shape) < 16:
        # correlation over fill would measure the fill's edge: take the largest valid
        # square instead would need a search; the window is refused
        return None
    a = np.where(both, a, a[both].mean())
    b = np.where(both, b, b[both].mean())
    # the neighbour's content lies (dx, dy) from the image's; the seam's offset is the
    # shift that moves the neighbour back onto the image
    dx, dy, peak = phase_correlation(a, b)
    dx, dy = -dx, -dy
    ma, mb = float(a[both].mean()), float(b[both].mean())
    jump = abs(ma - mb) / max(ma, mb, 1.0)
    return Offset(dx, dy, peak, jump)


def check_pairs(ctx: Context, items: list[rasters.Opened], neighbours: list[Neighbour]) -> None:
    """``dom.seam_offset`` and ``dom.radiometric_jump`` for each image against the later
    images of the delivery and every catalogued neighbour."""
    t = ctx.thresholds
    for i, item in enumerate(items):
        others = [Neighbour(o.given, o.info.path, o.footprint) for o in items[i + 1 :]]
        others += neighbours
        for other in others:
            if not other.footprint.intersects(item.footprint):
                continue
            ctx.ran(item.given, "dom.seam_offset", "dom.radiometric_jump")
            overlap = other.footprint.intersection(item.footprint)
            local = to_lonlat(overlap, LONLAT, item.crs)
            x0, y0, x1, y1 = local.bounds
            res = item.info.resolution_m
            if min(x1 - x0, y1 - y0) < t.seam_min_overlap_px * res:
                ctx.note(
                    item.given,
                    f"overlap with {other.label} narrower than {t.seam_min_overlap_px} px: "
                    "seam not measured",
                )
                continue
            found = measure(item, other.path, local)
            if found is None or found.peak < MIN_PEAK:
                ctx.note(
                    item.given,
                    f"overlap with {other.label}: no shared valid texture to correlate; "
                    "seam not measured",
                )
                continue
            metres = found.px * res
            if found.px > t.seam_offset_px:
                ctx.add(
                    item.given,
                    "dom.seam_offset",
                    "blocking",
                    round(metres, 3),
                    round(t.seam_offset_px * res, 3),
                    f"offset of {found.px:.2f} px ({metres:.2f} m; dx {found.dx:+.2f}, dy "
                    f"{found.dy:+.2f} px) against {other.label} in their overlap",
                    overlap,
                )
            if found.jump > t.radiometric_jump:
                ctx.add(
                    item.given,
                    "dom.radiometric_jump",
                    "minor",
                    round(found.jump, 3),
                    t.radiometric_jump,
                    f"brightness differs by {found.jump:.0%} from {other.label} in their overlap",
                    overlap,
                )
