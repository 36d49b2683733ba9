"""Windowed change detection on a large imagery pair against the floor of reading it.

Generates a seeded pair of SIZE x SIZE px 3-band orthophotos at 0.5 m (textured ground,
buildings, roads; between epochs some buildings built and some demolished, another
per-band gain / offset / gamma, sensor noise and a sub-pixel shift), tiled GeoTIFFs.

- floor: read both epochs window by window (the same 1024 px windows) and take one
  numpy absolute difference per window: what any detector has to pay.
- geobase: ``geobase.change.detect_changes`` on the same files (one process: the CPU
  seconds compare like with like), and once with 2 processes for the wall time.

Each side runs in its own subprocess, alternating, ``--repeat`` times; CPU seconds are
user + sys of the subprocess tree, peak memory its max RSS. Target: geobase's CPU time
within 4x the floor's, peak memory bounded by the window (far below the image size).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WINDOW = 1024
TARGET = 4.0
CACHE_MB = 128  # GDAL's block cache, both sides (its default, 5% of RAM, would dominate RSS)


def make_pair(
    folder: Path, size: int, seed: int = 1, compress: str = "none"
) -> tuple[Path, Path, int]:
    """Write before.tif / after.tif (size x size, uint8 RGB, tiled); the planted count.

    A pair written before with the same settings (``planted.txt`` beside it) is reused."""
    marker = folder / "planted.txt"
    if marker.exists():
        return folder / "before.tif", folder / "after.tif", int(marker.read_text())
    import rasterio
    from affine import Affine
    from scipy import ndimage

    from tests.change_support import X0, Y0, _roof, scene

    rng = np.random.default_rng(seed)
    tile = scene(rng, (2048, 2048), 0.5)
    count = size * size // 50_000  # one building per 50,000 px (12,500 m²)
    rects = []
    for _ in range(count):
        h, w = rng.integers(10, 80, 2)
        rects.append((int(rng.integers(0, size - h)), int(rng.integers(0, size - w)), h, w))
    fate = rng.choice(["kept", "gone", "new"], count, p=[0.6, 0.2, 0.2])
    roofs = np.array([_roof(rng) for _ in range(count)], dtype=np.float32)
    profile = dict(driver="GTiff", width=size, height=size, count=3, dtype="uint8",
                   crs="EPSG:4548", transform=Affine(0.5, 0, X0, 0, -0.5, Y0), nodata=0,
                   tiled=True, blockxsize=256, blockysize=256, compress=compress)  # fmt: skip
    gains, offsets, gammas = (1.15, 0.9, 1.05), (10.0, -5.0, 8.0), (0.85, 1.1, 0.95)
    paths = folder / "before.tif", folder / "after.tif"
    cols = np.arange(size) % 2048
    strip = 512
    with rasterio.open(paths[0], "w", **profile) as b, rasterio.open(paths[1], "w", **profile) as a:
        for r0 in range(0, size, strip):
            h = min(strip, size - r0)
            lo, hi = max(r0 - 2, 0), min(r0 + h + 2, size)
            rows = np.arange(lo, hi) % 2048
            ground = tile[:, rows][:, :, cols]
            before, after = ground.copy(), ground.copy()
            for (r, c, rh, rw), f, roof in zip(rects, fate, roofs, strict=True):
                if r + rh <= lo or r >= hi:
                    continue
                sl = (slice(None), slice(max(r - lo, 0), r + rh - lo), slice(c, c + rw))
                if f in ("kept", "gone"):
                    before[sl] = roof[:, None, None]
                if f in ("kept", "new"):
                    after[sl] = roof[:, None, None]
            after = np.stack(
                [ndimage.shift(x, (-0.45, 0.35), order=1, mode="nearest") for x in after]
            )
            core = slice(r0 - lo, r0 - lo + h)
            dn_b = before[:, core] * 200 + 20 + rng.normal(0, 3, (3, h, size))
            dn_a = np.empty((3, h, size), dtype=np.float32)
            for i in range(3):
                base = np.clip(after[i, core] * 200 / 255 + 20 / 255, 0, 1) ** gammas[i]
                dn_a[i] = gains[i] * 255 * base + offsets[i]
            dn_a += rng.normal(0, 3, dn_a.shape)
            window = rasterio.windows.Window(0, r0, size, h)
            b.write(np.clip(dn_b, 1, 255).round().astype(np.uint8), window=window)
            a.write(np.clip(dn_a, 1, 255).round().astype(np.uint8), window=window)
    planted = int((fate != "kept").sum())
    marker.write_text(str(planted))
    return paths[0], paths[1], planted


def task_floor(before: str, after: str) -> dict:
    import rasterio
    from rasterio.windows import Window

    total = 0.0
    with rasterio.open(before) as b, rasterio.open(after) as a:
        for r in range(0, b.height, WINDOW):
            for c in range(0, b.width, WINDOW):
                w = Window(c, r, min(WINDOW, b.width - c), min(WINDOW, b.height - r))
                d = np.abs(a.read(window=w).astype(np.float32) - b.read(window=w))
                total += float(d[0, 0, 0])
    return {"checksum": total}


def task_detect(before: str, after: str, workers: int) -> dict:
    from geobase.change import detect_changes
    from geobase.change.epochs import resolve_epoch

    result = detect_changes(
        resolve_epoch(before, "before"),
        resolve_epoch(after, "after"),
        window=WINDOW,
        workers=workers,
    )
    return {"changes": len(result.changes), "summary": result.summary}


def _peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: getrusage's ru_maxrss keeps the parent's peak
    across fork and exec, so a child started by a big parent would report the parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(task: str, before: Path, after: Path, workers: int = 1) -> dict:
    """Run one task in a subprocess: wall, CPU (user + sys of its tree), max RSS."""
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    env = dict(os.environ, GDAL_CACHEMAX=str(CACHE_MB))
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--task",
            task,
            "--before",
            str(before),
            "--after",
            str(after),
            "--workers",
            str(workers),
        ],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    doc.update(wall=wall, cpu=cpu)
    return doc


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task")
    parser.add_argument("--before")
    parser.add_argument("--after")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--size", type=int, default=10000, help="image side in pixels")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--compress",
        choices=["none", "deflate"],
        default="none",
        help="storage of the pair (deflate: as the archive's lossless COGs)",
    )
    parser.add_argument("--folder", type=Path, default=ROOT / "bench" / "out" / "change")
    parser.add_argument("--write", action="store_true", help="record in bench/RESULTS.md")
    args = parser.parse_args()
    if args.task:
        t0 = time.process_time()
        doc = (
            task_floor(args.before, args.after)
            if args.task == "floor"
            else task_detect(args.before, args.after, args.workers)
        )
        doc["work_cpu"] = time.process_time() - t0
        doc["maxrss_mb"] = _peak_rss_mb()
        print(json.dumps(doc, default=str))
        return

    folder = args.folder / f"{args.size}-{args.compress}"
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    before, after, planted = make_pair(folder, args.size, compress=args.compress)
    print(f"generated {args.size}^2 pair ({planted} planted changes) in "
          f"{time.perf_counter() - t0:.0f} s", flush=True)  # fmt: skip
    _child("floor", before, after)  # warm-up: the page cache holds both files
    floors, detects = [], []
    for i in range(args.repeat):
        floors.append(_child("floor", before, after))
        detects.append(_child("detect", before, after))
        print(f"run {i + 1}: floor {floors[-1]['work_cpu']:.2f} CPU-s ({floors[-1]['cpu']:.2f} "
              f"with start-up), geobase {detects[-1]['work_cpu']:.2f} CPU-s "
              f"({detects[-1]['cpu']:.2f})", flush=True)  # fmt: skip
    parallel = _child("detect", before, after, workers=2)
    f_cpu = statistics.median(r["work_cpu"] for r in floors)
    d_cpu = statistics.median(r["work_cpu"] for r in detects)
    f_all = statistics.median(r["cpu"] for r in floors)
    d_all = statistics.median(r["cpu"] for r in detects)
    f_wall = statistics.median(r["wall"] for r in floors)
    d_wall = statistics.median(r["wall"] for r in detects)
    ratio = d_cpu / f_cpu
    image_mb = 2 * 3 * args.size**2 / 2**20
    summary = detects[-1]["summary"]
    reg = summary["evidence"]["imagery"]["registration"]
    load = os.getloadavg()[0]
    rss = {"floor": max(r["maxrss_mb"] for r in floors)}
    rss["detect"] = max(r["maxrss_mb"] for r in detects)
    flag = " --write" if args.write else ""
    body = f"""Command: `.venv/bin/python bench/bench_change.py --size {args.size} --compress {args.compress} --repeat {args.repeat}{flag}`

{args.size} x {args.size} px RGB pair at 0.5 m ({image_mb:,.0f} MB of pixels in both epochs),
tiled GeoTIFFs, compression {args.compress}, {planted} planted changes, windows of {WINDOW}
px; median of {args.repeat} alternating runs, each side in its own process (load average
{load:.1f} at the end: other sessions shared the 2 cores, so wall times are noisy; CPU
seconds are the measure). GDAL's block cache is {CACHE_MB} MB on both sides.

| side | work CPU s | process CPU s (start-up, imports) | wall s | peak RSS MB |
|---|---|---|---|---|
| floor: read both epochs + one numpy abs difference per window | {f_cpu:.2f} | {f_all:.2f} | {f_wall:.1f} | {rss["floor"]:.0f} |
| geobase change detect, 1 process | {d_cpu:.2f} | {d_all:.2f} | {d_wall:.1f} | {rss["detect"]:.0f} |
| geobase change detect, 2 processes | - | - | {parallel["wall"]:.1f} | {parallel["maxrss_mb"]:.0f} (parent) |

Ratio geobase / floor on the work's CPU: **{ratio:.2f}x**, with start-up and imports
{d_all / f_all:.2f}x (target <= {TARGET:g}x: {"met" if ratio <= TARGET else "MISSED"}).
Changes found: {detects[-1]["changes"]}; measured shift {reg.get("shift_px")} px (planted
+0.35, -0.45). Peak memory is the libraries, GDAL's cache and a few {WINDOW} px windows,
not the {image_mb:,.0f} MB image.
"""
    print(body)
    if args.write:
        sys.path.insert(0, str(ROOT / "bench"))
        from results import update_section

        name = "change" if args.compress == "none" else f"change-{args.compress}"
        update_section(name, f"Change detection (bench_change.py, {args.compress})", body)
    sys.exit(0 if ratio <= TARGET else 1)


if __name__ == "__main__":
    main()
