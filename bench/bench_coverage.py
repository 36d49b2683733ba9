"""Sheet statuses for the whole city at 1:500 against 10,000 dataset footprints.

geobase (``geobase.coverage.sheet_statuses``: STRtree pairs, prepared ``contains``,
vectorised pieces and grouped ``union_all``) against what an analyst would write in a
notebook: the same sheet grid clipped to the city, ``footprints.dissolve()``, then
``geopandas.overlay(grid, dissolved, how="intersection")`` and the covered area per sheet.
Both sides start from the same GeoDataFrames in EPSG:4548 and apply the same thresholds;
the statuses must be identical. Target: geobase at least 5x faster.

Footprints (seeded): 60% sheet-aligned blocks of 1-6 x 1-6 sheets (1:500 deliveries),
40% rotated rectangles 0.3-2 km on a side (imagery), centred on random points in the
city (the demo's approximate district boundaries).

Usage: python bench/bench_coverage.py [--footprints 10000] [--repeat 3] [--write]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from results import update_section  # noqa: E402

from geobase.coverage.compute import to_area_crs  # noqa: E402
from geobase.coverage.sheets import sheet_statuses  # noqa: E402
from geobase.sheets import rect_sheets_covering  # noqa: E402

TOL = 1e-4
CRS = "EPSG:4548"


def districts() -> gpd.GeoDataFrame:
    frame = gpd.read_file(ROOT / "datasets" / "districts" / "shantou_districts.geojson")
    return to_area_crs(frame[["name", "geometry"]], CRS, 0.001)


def footprints(city: shapely.Geometry, n: int, seed: int = 2021) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    west, south, east, north = city.bounds
    shapely.prepare(city)
    centres = np.empty((0, 2))
    while len(centres) < n:
        xy = rng.uniform([west, south], [east, north], size=(4 * n, 2))
        inside = shapely.contains_xy(city, xy[:, 0], xy[:, 1])
        centres = np.vstack([centres, xy[inside]])
    centres = centres[:n]
    aligned = rng.random(n) < 0.6
    geoms = np.empty(n, dtype=object)
    # sheet-aligned blocks
    k = int(aligned.sum())
    x0 = np.floor(centres[aligned, 0] / 250) * 250
    y0 = np.floor(centres[aligned, 1] / 250) * 250
    w = rng.integers(1, 7, k) * 250
    h = rng.integers(1, 7, k) * 250
    geoms[aligned] = shapely.box(x0, y0, x0 + w, y0 + h)
    # rotated rectangles
    m = n - k
    half_w = rng.uniform(150, 1000, m)
    half_h = rng.uniform(150, 1000, m)
    angle = rng.uniform(0, np.pi, m)
    cx, cy = centres[~aligned, 0], centres[~aligned, 1]
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]], dtype=float)
    dx = corners[None, :, 0] * half_w[:, None]
    dy = corners[None, :, 1] * half_h[:, None]
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    xs = cx[:, None] + dx * cos - dy * sin
    ys = cy[:, None] + dx * sin + dy * cos
    rings = np.stack([xs, ys], axis=-1)
    geoms[~aligned] = shapely.polygons(rings)
    dates = rng.integers(0, 12 * 365, n)
    acquired = (np.datetime64("2013-01-01") + dates.astype("timedelta64[D]")).astype(str)
    return gpd.GeoDataFrame({"acquired_end": acquired}, geometry=geoms, crs=CRS)


def anchor(fp: gpd.GeoDataFrame, dist: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The notebook approach: grid clipped to the city, overlay with the dissolved footprints."""
    city = dist.union_all()
    grid = rect_sheets_covering(city, 500, CRS)
    grid["sheet_area"] = grid.area
    land = grid.copy()
    land["geometry"] = grid.geometry.intersection(city)
    land["land"] = land.area
    land = land[land["land"] > TOL * land["sheet_area"]]
    dissolved = fp[["geometry"]].dissolve()
    inter = gpd.overlay(land[["code", "geometry"]], dissolved, how="intersection")
    covered = inter.assign(covered=inter.area).groupby("code")["covered"].sum()
    land["covered"] = covered.reindex(land["code"]).fillna(0.0).to_numpy()
    share = (land["covered"] / land["land"]).clip(0, 1)
    land["share"] = share
    land["status"] = np.where(
        share >= 1 - TOL, "covered", np.where(share <= TOL, "missing", "partial")
    )
    return land.sort_values("code", ignore_index=True)


def ours(fp: gpd.GeoDataFrame, dist: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return sheet_statuses(fp, dist, 500, tolerance=TOL)


def timed(fn, *args):
    t0, c0 = time.perf_counter(), time.process_time()
    result = fn(*args)
    return result, time.perf_counter() - t0, time.process_time() - c0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--footprints", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of geobase")
    parser.add_argument("--anchor-repeat", type=int, default=1, help="runs of the anchor")
    parser.add_argument("--write", action="store_true", help="record in bench/RESULTS.md")
    args = parser.parse_args()

    dist = districts()
    fp = footprints(dist.union_all(), args.footprints)
    ours(fp.iloc[:200], dist)  # warm-up (imports, caches)

    runs_ours, runs_anchor, cpu_ours, cpu_anchor = [], [], [], []
    result = expected = None
    for i in range(max(args.repeat, args.anchor_repeat)):
        if i < args.repeat:
            result, wall, cpu = timed(ours, fp, dist)
            runs_ours.append(wall)
            cpu_ours.append(cpu)
            print(f"geobase run {i + 1}: {wall:.2f} s", flush=True)
        if i < args.anchor_repeat:
            expected, wall, cpu = timed(anchor, fp, dist)
            runs_anchor.append(wall)
            cpu_anchor.append(cpu)
            print(f"anchor run {i + 1}: {wall:.2f} s", flush=True)

    same_codes = list(result["code"]) == list(expected["code"])
    identical = same_codes and list(result["status"]) == list(expected["status"])
    max_diff = (
        float(np.abs(result["share"].to_numpy() - expected["share"].to_numpy()).max())
        if same_codes
        else float("nan")
    )
    counts = result["status"].value_counts().to_dict()
    best_ours, best_anchor = min(runs_ours), min(runs_anchor)
    ratio = best_anchor / best_ours
    cpu_ratio = min(cpu_anchor) / min(cpu_ours)
    meets = ratio >= 5 and identical
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    text = f"""
**Speed-up geobase vs notebook overlay: {ratio:.1f}x** (best runs; {cpu_ratio:.1f}x on process CPU time). Statuses identical: {"yes" if identical else "NO"}. Target >= 5x and identical: {"meets" if meets else "MISSED"}.

| side | best time | all runs (s) |
|---|---|---|
| notebook: grid ∩ city, `footprints.dissolve()`, `gpd.overlay(..., how="intersection")` (anchor) | {best_anchor:.2f} s | {", ".join(f"{t:.2f}" for t in runs_anchor)} |
| `geobase.coverage.sheet_statuses` | {best_ours:.2f} s | {", ".join(f"{t:.2f}" for t in runs_ours)} |

- Sheets: {len(result):,} 1:500 sheets (250 m, EPSG:4548) over the demo's approximate districts ({dist.area.sum() / 1e6:,.0f} km2); statuses {counts}.
- Footprints: {len(fp):,} seeded (60% sheet-aligned blocks of 1-6 x 1-6 sheets, 40% rotated rectangles 0.3-2 km).
- Same sheets on both sides: {"yes" if same_codes else "NO"}; largest difference in covered share: {max_diff:.2e}.
- geobase also returns the newest date, age and dataset count per sheet; the anchor only the share.
- Machine: {platform.machine()}, {os.cpu_count()} CPUs visible, load average {load} at the end (shared machine); Python {platform.python_version()}, shapely {shapely.__version__}, geopandas {gpd.__version__}, GEOS {shapely.geos_version_string}.
- Date: {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}.
- Command: `python bench/bench_coverage.py --footprints {args.footprints} --repeat {args.repeat} --anchor-repeat {args.anchor_repeat}{" --write" if args.write else ""}`
"""
    print(text)
    if args.write:
        update_section("coverage", "coverage: sheet statuses at 1:500 vs notebook overlay", text)
    return 0 if meets else 1


if __name__ == "__main__":
    sys.exit(main())
