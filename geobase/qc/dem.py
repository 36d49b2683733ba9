"""DEM checks: spatial reference, resolution, voids, spikes and pits (robust local
outliers), heights outside the city's plausible range, steps across tile edges and the
vertical datum.

The heights are read once, in strips of rows with a one-row halo. A spike or pit is a
cell further from the median of its eight neighbours than ``spike_k`` robust standard
deviations (1.4826 x the strip's median absolute residual) and than ``spike_min_m``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
import shapely
from numpy.lib.stride_tricks import sliding_window_view
from rasterio.windows import Window

from geobase.ingest.metadata import read_sidecar
from geobase.qc import rasters
from geobase.qc.context import Context
from geobase.qc.places import cells_to_polygons, enclosed
from geobase.qc.settings import DemThresholds

MAX_CELLS = 4096
EDGE_SAMPLES = 2000  # points sampled along a shared tile edge, at most


def check(ctx: Context, given: str, path: Path) -> rasters.Opened:
    """Every per-file DEM check; returns the opened delivery for the edge checks."""
    t: DemThresholds = ctx.thresholds
    item = rasters.open_delivery(ctx, given, path)
    if not item.zone_reported:
        rasters.check_crs(ctx, given, item.crs, item.info.crs_given, item.footprint, "dem")
    rasters.check_resolution(ctx, item, "dem", 1.01)
    _check_heights(ctx, item, t)
    _check_datum(ctx, item, t)
    return item


def _heights(ds, r0: int, h: int, nodata) -> np.ndarray:
    """Rows r0 .. r0 + h with a one-cell halo of NaN (or the neighbouring rows) around."""
    top, bottom = max(0, r0 - 1), min(ds.height, r0 + h + 1)
    z = ds.read(1, window=Window(0, top, ds.width, bottom - top)).astype(np.float64)
    if nodata is not None and not np.isnan(nodata):
        z[z == nodata] = np.nan
    pad_top = 1 - (r0 - top)
    pad_bottom = 1 - (bottom - (r0 + h))
    return np.pad(z, ((pad_top, pad_bottom), (1, 1)), constant_values=np.nan)


def _check_heights(ctx: Context, item: rasters.Opened, t: DemThresholds) -> None:
    """``dem.void``, ``dem.spike``, ``dem.pit``, ``dem.range``: one pass in strips."""
    info = item.info
    ctx.ran(item.given, "dem.void", "dem.spike", "dem.pit", "dem.range")
    k = rasters.cell_size(info, t.void_min_area_m2, 1, MAX_CELLS)
    rows, cols = -(-info.height // k), -(-info.width // k)
    void = np.zeros((rows, cols), dtype=bool)
    low = np.zeros((rows, cols), dtype=bool)
    high = np.zeros((rows, cols), dtype=bool)
    outliers: list[tuple[float, float, float, int]] = []  # x, y, residual, sign
    zmin, zmax = np.inf, -np.inf
    with rasterio.open(info.path) as ds:
        for r0, window in rasters.strips(ds, k):
            h = int(window.height)
            zz = _heights(ds, r0, h, info.nodata)
            z = zz[1:-1, 1:-1]
            ok = np.isfinite(z)
            i0 = r0 // k
            v = rasters.cells(~ok, k, fill=False).mean(axis=(1, 3))
            void[i0 : i0 + v.shape[0]] = v >= 0.5
            if ok.any():
                zmin = min(zmin, float(np.nanmin(z)))
                zmax = max(zmax, float(np.nanmax(z)))
                lo = rasters.cells(ok & (z < t.z_min), k, fill=False).any(axis=(1, 3))
                hi = rasters.cells(ok & (z > t.z_max), k, fill=False).any(axis=(1, 3))
                low[i0 : i0 + lo.shape[0]] = lo
                high[i0 : i0 + hi.shape[0]] = hi
            outliers += _outliers(zz, ok, t, ds.transform, r0)
    grid = rasters.cell_transform(info.transform, k)
    for poly in enclosed(void, grid, t.void_min_area_m2):
        ctx.add(
            item.given,
            "dem.void",
            "blocking",
            round(poly.area, 2),
            t.void_min_area_m2,
            f"a void (no height) of {poly.area:.1f} m2 inside the DEM",
            rasters.lonlat(item, poly),
        )
    for x, y, resid, sign in outliers:
        check = "dem.spike" if sign > 0 else "dem.pit"
        ctx.add(
            item.given,
            check,
            "blocking",
            round(abs(resid), 3),
            t.spike_min_m,
            f"a {'spike' if sign > 0 else 'pit'} {abs(resid):.2f} m "
            f"{'above' if sign > 0 else 'below'} the median of its neighbours",
            rasters.lonlat(item, shapely.Point(x, y)),
        )
    for mask, what, limit in ((low, "below", t.z_min), (high, "above", t.z_max)):
        for poly in cells_to_polygons(mask, grid):
            ctx.add(
                item.given,
                "dem.range",
                "blocking",
                round(zmin if what == "below" else zmax, 3),
                limit,
                f"heights {what} the plausible {limit} m for the city (extreme "
                f"{zmin if what == 'below' else zmax:.2f} m)",
                rasters.lonlat(item, poly),
            )


def _outliers(zz: np.ndarray, ok: np.ndarray, t: DemThresholds, transform, r0: int):
    """Spikes and pits of one strip (``zz`` with its one-cell halo)."""
    z = zz[1:-1, 1:-1]
    if z.size == 0 or not ok.any():
        return []
    centre = np.where(np.isfinite(zz), zz, np.nan)
    windows = sliding_window_view(centre, (3, 3)).reshape(z.shape[0], z.shape[1], 9)
    neigh = np.delete(windows, 4, axis=2)
    # a missing neighbour takes the centre's height: it neither makes nor hides a spike
    neigh = np.where(np.isfinite(neigh), neigh, z[..., None])
    part = np.partition(neigh, (3, 4), axis=2)
    med = 0.5 * (part[..., 3] + part[..., 4])
    resid = z - med
    r = resid[ok]
    scale = 1.4826 * float(np.median(np.abs(r - np.median(r)))) if r.size else 0.0
    limit = max(t.spike_k * scale, t.spike_min_m)
    rows, cols = np.nonzero(ok & (np.abs(resid) > limit))
    found = []
    for i, j in zip(rows, cols, strict=True):
        x, y = transform @ (j + 0.5, r0 + i + 0.5)
        found.append((x, y, float(resid[i, j]), int(np.sign(resid[i, j]))))
    return found


def _check_datum(ctx: Context, item: rasters.Opened, t: DemThresholds) -> None:
    """``dem.vertical_datum``: none declared (minor), or another than the product's."""
    ctx.ran(item.given, "dem.vertical_datum")
    stated = item.info.vertical_datum or read_sidecar(item.info.path).get("vertical_datum")
    if stated is None:
        ctx.add(
            item.given,
            "dem.vertical_datum",
            "minor",
            None,
            t.vertical_datum[0],
            "no vertical datum declared (compound CRS or sidecar 'vertical_datum')",
            item.footprint,
        )
        return
    if not any(_same_datum(stated, want) for want in t.vertical_datum):
        ctx.add(
            item.given,
            "dem.vertical_datum",
            "blocking",
            stated,
            t.vertical_datum[0],
            f"vertical datum {stated!r} is not the product's ({t.vertical_datum[0]})",
            item.footprint,
        )


def _same_datum(stated: str, wanted: str) -> bool:
    a, b = stated.lower(), wanted.lower()
    return a == b or ("1985" in a and "1985" in b)


def check_edges(ctx: Context, items: list[rasters.Opened]) -> None:
    """``dem.tile_step``: the median height difference across the edge two tiles of the
    delivery share (sampled half a cell inside each), above ``step_m``."""
    t: DemThresholds = ctx.thresholds
    for i, a in enumerate(items):
        for b in items[i + 1 :]:
            if not a.crs.equals(b.crs):
                continue
            res = max(a.info.resolution_m, b.info.resolution_m)
            touch = a.local_footprint.buffer(res / 2).intersection(
                b.local_footprint.buffer(res / 2)
            )
            if touch.is_empty:
                continue
            ctx.ran(a.given, "dem.tile_step")
            x0, y0, x1, y1 = touch.bounds
            vertical = (x1 - x0) < (y1 - y0)
            if vertical:
                line = shapely.LineString([((x0 + x1) / 2, y0 + res), ((x0 + x1) / 2, y1 - res)])
            else:
                line = shapely.LineString([(x0 + res, (y0 + y1) / 2), (x1 - res, (y0 + y1) / 2)])
            if line.length <= 0:
                continue
            n = int(min(EDGE_SAMPLES, max(2, line.length / res)))
            pts = [line.interpolate(f, normalized=True) for f in np.linspace(0, 1, n)]
            side = np.array([(p.x, p.y) for p in pts])
            za = _sample_inside(a, side, res, vertical)
            zb = _sample_inside(b, side, res, vertical)
            both = np.isfinite(za) & np.isfinite(zb)
            if both.sum() < 2:
                continue
            step = float(np.median(np.abs(za[both] - zb[both])))
            if step > t.step_m:
                ctx.add(
                    a.given,
                    "dem.tile_step",
                    "blocking",
                    round(step, 3),
                    t.step_m,
                    f"heights step by {step:.2f} m (median) across the edge with {b.given}",
                    rasters.lonlat(a, line),
                )


def _sample_inside(
    item: rasters.Opened, points: np.ndarray, res: float, vertical: bool
) -> np.ndarray:
    """Heights at the points, each moved half a cell across the edge into the item."""
    centre = item.local_footprint.centroid
    axis = 0 if vertical else 1
    toward = np.sign((centre.x, centre.y)[axis] - points[0, axis])
    moved = points.copy()
    moved[:, axis] += toward * res / 2
    with rasterio.open(item.info.path) as ds:
        values = np.array([v[0] for v in ds.sample([tuple(p) for p in moved])], dtype=np.float64)
        if ds.nodata is not None:
            values[values == ds.nodata] = np.nan
    return values
