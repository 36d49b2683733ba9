"""Benchmark: the PostGIS store against the GeoPackage store, same workspace, same run.

One workspace is built on GeoPackage (the demo districts, ``--points`` seeded control
points imported with :func:`geobase.control.importer.import_points`, ``--datasets``
seeded catalogue records with footprints) and copied to PostGIS with
``geobase.store.copy.copy_store``. Then, alternating between the stores:

1. Radius searches: ``--searches`` seeded searches (centres inside the districts, radii
   200..2,000 m), each in its own read transaction as a request would run it, with
   :func:`geobase.control.registry.radius_fids` (GiST ``&&`` on PostGIS, the R-tree on
   GeoPackage, exact geodesic check). Reported: median per search.
2. Coverage: :func:`geobase.coverage.compute.district_coverage` for the imagery
   product (catalogue read through the spatial index, unions per district). Reported:
   best of ``--repeat`` runs.

Both stores must give the same answers. Ratios are PostGIS time / GeoPackage time (above 1:
PostGIS is slower). The PostgreSQL server is a throw-away cluster on this machine
(``tests/postgis_cluster.py``, fsync off) unless ``--url`` names a database holding no
workspace; the client talks to it over loopback TCP, so each query pays a round trip
that the in-process GeoPackage does not.

Usage::

    .venv/bin/python bench/bench_store.py                     # 20,000 points, 300 searches
    .venv/bin/python bench/bench_store.py --points 5000 --searches 100 --datasets 500
    .venv/bin/python bench/bench_store.py --write             # record in bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from results import update_section  # noqa: E402

from geobase.control.importer import import_points  # noqa: E402
from geobase.control.registry import radius_fids  # noqa: E402
from geobase.coverage.compute import district_coverage  # noqa: E402
from geobase.store import Workspace, utc_now  # noqa: E402
from geobase.store.copy import copy_store  # noqa: E402
from geobase.store.districts import list_districts, load_districts  # noqa: E402

SEED = 2024
PRODUCT = "dom02"
AS_OF = "2024-12-31"
DISTRICTS = ROOT / "datasets" / "districts" / "shantou_districts.geojson"


def random_points(area: shapely.Geometry, count: int, rng) -> tuple[np.ndarray, np.ndarray]:
    minx, miny, maxx, maxy = area.bounds
    lons, lats, have = [], [], 0
    while have < count:
        x, y = rng.uniform(minx, maxx, count), rng.uniform(miny, maxy, count)
        inside = shapely.contains_xy(area, x, y)
        lons.append(x[inside])
        lats.append(y[inside])
        have += int(inside.sum())
    return np.concatenate(lons)[:count], np.concatenate(lats)[:count]


def build_gpkg(root: Path, points: int, datasets: int) -> Workspace:
    ws = Workspace.init(root / "gpkg", name="bench")
    load_districts(ws.store, DISTRICTS)
    area = shapely.union_all(list_districts(ws.store).geometry.values).buffer(-0.001)
    rng = np.random.default_rng(SEED)
    lons, lats = random_points(area, points, rng)
    path = root / "points.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(["点号", "点名", "等级", "纬度", "经度"])
        for k, (lon, lat) in enumerate(zip(lons, lats, strict=True)):
            out.writerow([f"P{k:06d}", f"测试点{k}", "DE"[k % 2], f"{lat:.9f}", f"{lon:.9f}"])
    import_points(ws, path)
    # catalogue: imagery tiles 0.5-3 km, acquired over five years, some re-delivered
    cx, cy = random_points(area, datasets, rng)
    half = rng.uniform(0.0025, 0.015, datasets)
    rows = []
    with ws.store.transaction() as tx:
        for k in range(datasets):
            box = shapely.box(cx[k] - half[k], cy[k] - half[k], cx[k] + half[k], cy[k] + half[k])
            year = 2020 + k % 5
            rows.append(
                {
                    "dataset_id": f"img-{k:05d}",
                    "version": 1,
                    "product": PRODUCT,
                    "kind": "imagery",
                    "acquired_start": f"{year}-03-01",
                    "acquired_end": f"{year}-03-{1 + k % 28:02d}",
                    "ingested_at": utc_now(),
                    "classification": "internal",
                    "resolution": 0.2,
                    "path": f"datasets/img-{k:05d}.tif",
                    "checksum": hashlib.sha256(str(k).encode()).hexdigest(),
                    "geom": tx.geom(shapely.MultiPolygon([box]), 4490),
                }
            )
        tx.insert_many("datasets", rows)
        tx.touch("datasets")
    return ws


def searches(area: shapely.Geometry, count: int) -> list[tuple[float, float, float]]:
    rng = np.random.default_rng(SEED + 1)
    lons, lats = random_points(area, count, rng)
    radii = rng.uniform(200, 2000, count)
    return list(zip(lons.tolist(), lats.tolist(), radii.tolist(), strict=True))


def time_searches(ws: Workspace, plan) -> tuple[list[float], list[frozenset]]:
    times, found = [], []
    for lon, lat, r in plan:
        start = time.perf_counter()
        with ws.store.read() as tx:
            fids = radius_fids(tx, lon, lat, r)
        times.append(time.perf_counter() - start)
        found.append(frozenset(fids.tolist()))
    return times, found


def time_coverage(ws: Workspace):
    start = time.perf_counter()
    table = district_coverage(ws, PRODUCT, as_of=AS_OF)
    return time.perf_counter() - start, table


def run(args) -> dict:
    cluster = None
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        gp = build_gpkg(root, args.points, args.datasets)
        build_s = time.perf_counter() - t0
        url = args.url
        if url is None:
            from tests.postgis_cluster import Cluster

            cluster = Cluster().start()
            url = cluster.create_database(empty=True)
        try:
            pg = Workspace.init(root / "pg", name="bench", store=url)
            t0 = time.perf_counter()
            copied = copy_store(gp.store, pg.store)
            copy_s = time.perf_counter() - t0
            area = shapely.union_all(list_districts(gp.store).geometry.values)
            plan = searches(area.buffer(-0.001), args.searches)
            # warm-up both, then alternate halves so that drift hits both sides alike
            time_searches(gp, plan[:20])
            time_searches(pg, plan[:20])
            time_coverage(gp)
            time_coverage(pg)
            t_gp, t_pg, same_search = [], [], True
            half = len(plan) // 2
            for part in (plan[:half], plan[half:]):
                a, fa = time_searches(gp, part)
                b, fb = time_searches(pg, part)
                t_gp += a
                t_pg += b
                same_search &= fa == fb
            hits = statistics.mean(len(f) for f in fa + fb)
            cov_gp, cov_pg = [], []
            for _ in range(args.repeat):
                s, table_gp = time_coverage(gp)
                cov_gp.append(s)
                s, table_pg = time_coverage(pg)
                cov_pg.append(s)
            cols = [c for c in table_gp.columns if c != "geometry"]
            same_coverage = table_gp[cols].equals(table_pg[cols])
            pg.close()
        finally:
            gp.close()
            if cluster is not None:
                cluster.stop()
    return {
        "points": args.points,
        "datasets": args.datasets,
        "searches": len(plan),
        "hits": hits,
        "build_s": build_s,
        "copy_s": copy_s,
        "rows": sum(copied.values()),
        "search_gp": t_gp,
        "search_pg": t_pg,
        "cov_gp": cov_gp,
        "cov_pg": cov_pg,
        "same_search": same_search,
        "same_coverage": same_coverage,
        "server": "throw-away local cluster" if args.url is None else "given --url",
    }


def report(r: dict, command: str) -> str:
    med_gp, med_pg = statistics.median(r["search_gp"]), statistics.median(r["search_pg"])
    best_gp, best_pg = min(r["cov_gp"]), min(r["cov_pg"])
    import psycopg
    import shapely as sh

    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return f"""
**Ratios PostGIS / GeoPackage (time): radius search {med_pg / med_gp:.2f} (median per
search), coverage {best_pg / best_gp:.2f} (best of {len(r["cov_gp"])})**. Answers identical:
searches {"yes" if r["same_search"] else "NO"}, coverage table
{"yes" if r["same_coverage"] else "NO"}.

| measure | GeoPackage | PostGIS | ratio |
|---|---|---|---|
| radius search, median ({r["searches"]} searches, {r["hits"]:.0f} marks found on average) | {med_gp * 1e3:.2f} ms | {med_pg * 1e3:.2f} ms | {med_pg / med_gp:.2f} |
| radius search, 90th percentile | {np.percentile(r["search_gp"], 90) * 1e3:.2f} ms | {np.percentile(r["search_pg"], 90) * 1e3:.2f} ms | {np.percentile(r["search_pg"], 90) / np.percentile(r["search_gp"], 90):.2f} |
| coverage of {PRODUCT} per district as of {AS_OF}, best | {best_gp:.3f} s | {best_pg:.3f} s | {best_pg / best_gp:.2f} |
| coverage, all runs (s) | {", ".join(f"{v:.3f}" for v in r["cov_gp"])} | {", ".join(f"{v:.3f}" for v in r["cov_pg"])} | |

- Workspace: the demo districts, {r["points"]:,} seeded control points, {r["datasets"]:,}
  seeded imagery footprints; built on GeoPackage in {r["build_s"]:.1f} s and copied to
  PostGIS ({r["rows"]:,} rows, `copy_store`) in {r["copy_s"]:.1f} s.
- Each search is one read transaction (`BEGIN ... COMMIT` on PostGIS: two extra round
  trips) with the store's spatial index (GiST `&&` / GeoPackage R-tree) and the exact
  geodesic check of `radius_fids`; on GeoPackage `radius_fids` also decides clear cases
  from the R-tree's own envelopes, which PostGIS does not have, so PostGIS reads and
  measures every candidate.
- PostgreSQL server: {r["server"]} on the same machine (loopback TCP, fsync off);
  psycopg {psycopg.__version__}, shapely {sh.__version__}, Python {platform.python_version()}.
- Machine: {platform.machine()}, {os.cpu_count()} CPUs visible, load average {load} at the
  end (shared machine).
- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.
- Command: `{command}`
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=20_000)
    parser.add_argument("--datasets", type=int, default=2_000)
    parser.add_argument("--searches", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--url", default=None, help="an empty PostGIS database to use")
    parser.add_argument("--write", action="store_true", help="record in bench/RESULTS.md")
    args = parser.parse_args()
    result = run(args)
    command = "python bench/bench_store.py " + shlex.join(sys.argv[1:])
    text = report(result, command.strip())
    print(text)
    if args.write:
        update_section("store", "store: PostGIS vs GeoPackage", text)
    return 0 if result["same_search"] and result["same_coverage"] else 1


if __name__ == "__main__":
    sys.exit(main())
