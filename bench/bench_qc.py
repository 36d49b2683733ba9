"""Acceptance checks against reading the data once (issue 20: within 3x).

A 10000 x 10000 px RGB orthophoto (deflate COG with overviews, 0.2 m, EPSG:4548) and a
10 M point cloud (LAZ, LAS 1.4 format 6) are generated once; then, side by side in one
process, repeated: reading every pixel block / every point chunk once (the anchor), and
``geobase.qc.check_delivery`` on the file. CPU seconds (user + system of the process)
are compared; the median of the repeats is reported.

    .venv/bin/python bench/bench_qc.py --write
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import laspy
import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from pyproj import CRS
from rasterio.windows import Window

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.results import update_section
from geobase.qc import check_delivery

EAST0, NORTH0 = 467000.0, 2584000.0


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def make_ortho(path: Path, size: int) -> None:
    rng = np.random.default_rng(1)
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 3,
        "dtype": "uint8",
        "crs": "EPSG:4548",
        "transform": Affine(0.2, 0, EAST0, 0, -0.2, NORTH0 + size * 0.2),
        "nodata": 0,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
    }
    tmp = path.with_suffix(".raw.tif")
    with rasterio.open(tmp, "w", **profile) as ds:
        for r0 in range(0, size, 1024):
            h = min(1024, size - r0)
            coarse = rng.integers(30, 220, (3, h // 8 + 1, size // 8 + 1), dtype=np.uint8)
            block = np.kron(coarse, np.ones((8, 8), dtype=np.uint8))[:, :h, :size]
            noise = rng.integers(0, 12, (3, h, size), dtype=np.uint8)
            ds.write(block + noise, window=Window(0, r0, size, h))
    with rasterio.open(tmp) as src:
        rasterio.shutil.copy(src, path, driver="COG", compress="DEFLATE", blocksize=512)
    tmp.unlink()
    path.with_suffix(".json").write_text(
        '{"acquired": "2024-03-02", "sensor": "bench", "producer": "bench"}', encoding="utf-8"
    )


def make_cloud(path: Path, n: int) -> None:
    rng = np.random.default_rng(2)
    side = float(np.sqrt(n / 8.0))  # 8 points/m2
    header = laspy.LasHeader(point_format=6, version="1.4")
    header.offsets = [EAST0, NORTH0, 0]
    header.scales = [0.001, 0.001, 0.001]
    header.add_crs(CRS.from_epsg(4548))
    header.global_encoding.gps_time_type = laspy.header.GpsTimeType.STANDARD
    with laspy.open(path, mode="w", header=header) as writer:
        for start in range(0, n, 2_000_000):
            m = min(2_000_000, n - start)
            pts = laspy.ScaleAwarePointRecord.zeros(m, header=header)
            pts.x = EAST0 + rng.uniform(0, side, m)
            pts.y = NORTH0 + rng.uniform(0, side, m)
            pts.z = rng.uniform(5, 30, m)
            pts.classification = np.where(rng.uniform(0, 1, m) < 0.5, 2, 1).astype(np.uint8)
            pts.return_number = np.ones(m, dtype=np.uint8)
            pts.number_of_returns = np.ones(m, dtype=np.uint8)
            pts.gps_time = 393372818.0 + rng.uniform(0, 3600, m)
            pts.scan_angle = rng.integers(-3000, 3000, m).astype(np.int16)
            writer.write_points(pts)


def read_ortho(path: Path) -> None:
    with rasterio.open(path) as ds:
        for _, window in ds.block_windows(1):
            ds.read(window=window)


def read_cloud(path: Path) -> None:
    with laspy.open(path) as reader:
        for chunk in reader.chunk_iterator(1_000_000):
            _ = chunk.x, chunk.y, chunk.z


def measure(fn, *args) -> float:
    c0 = cpu()
    fn(*args)
    return cpu() - c0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000, help="orthophoto side, px")
    parser.add_argument("--points", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ortho, cloud = Path(tmp, "ortho.tif"), Path(tmp, "cloud.laz")
        t0 = time.perf_counter()
        make_ortho(ortho, args.size)
        make_cloud(cloud, args.points)
        print(f"generated in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        for label, path, product, read in (
            (
                f"orthophoto {args.size} x {args.size} px RGB, deflate COG",
                ortho,
                "dom02",
                read_ortho,
            ),
            (
                f"point cloud {args.points:,} points, LAZ 1.4 format 6",
                cloud,
                "pointcloud",
                read_cloud,
            ),
        ):
            reads, checks, defects = [], [], None
            for _ in range(args.repeat):
                reads.append(measure(read, path))
                c0 = cpu()
                report = check_delivery([path], product)
                checks.append(cpu() - c0)
                defects = [d.check for d in report.defects]
            r, c = statistics.median(reads), statistics.median(checks)
            rows.append((label, r, c, c / r, reads, checks, defects, os.path.getsize(path)))
            print(
                f"{label}: read {r:.2f} CPU s, check {c:.2f} CPU s, ratio {c / r:.2f}; defects {defects}",
                file=sys.stderr,
            )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    lines = [
        "| data | bytes | read once, CPU s (median) | qc, CPU s (median) | ratio (target <= 3) | runs: read / qc | defects found |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for label, r, c, ratio, reads, checks, defects, size in rows:
        lines.append(
            f"| {label} | {size:,} | {r:.2f} | {c:.2f} | {ratio:.2f} | "
            f"{', '.join(f'{v:.2f}' for v in reads)} / {', '.join(f'{v:.2f}' for v in checks)} | "
            f"{', '.join(defects) or 'none'} |"
        )
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    body = "\n".join(
        [
            *lines,
            "",
            "- Read once: every block of the image (rasterio, `block_windows`) / every chunk of "
            "1 M points with x, y, z decoded (laspy + lazrs). qc: `check_delivery` with every "
            "check of the kind (imagery: CRS, resolution, bands, holes, blank/saturated "
            "patches, COG validation, metadata; point cloud: density, codes, ground, header, "
            "duplicates, scan angle).",
            "- CPU: user + system of the process (getrusage), both sides in the same process, "
            "alternating; median of the runs.",
            f"- Machine: {platform.machine()}, {os.cpu_count()} CPUs visible, load average "
            f"{load} at the end (shared with other sessions: compare CPU seconds, not wall).",
            f"- geobase at commit {commit}; run ended "
            f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.",
            f"- Command: `.venv/bin/python bench/bench_qc.py --size {args.size} --points "
            f"{args.points} --repeat {args.repeat} --write`",
        ]
    )
    print(body)
    if args.write:
        update_section("qc", "Acceptance checks (bench_qc.py)", body)


if __name__ == "__main__":
    main()
