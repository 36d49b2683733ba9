"""Benchmark: batch transform CGCS2000 geographic -> EPSG:4548, geobase vs bare pyproj.

Both sides transform the same seeded points in the same process, alternating, after a
warm-up: the anchor is a bare, reused ``pyproj.Transformer`` (``always_xy=True``), geobase
is :func:`geobase.geodesy.transform` with its default checks on. The result is the ratio of
throughputs (geobase / pyproj, best run of each; 1.0 = as fast as pyproj), and the outputs
are compared point by point.

Usage::

    .venv/bin/python bench/bench_transform.py                 # 10 million points
    .venv/bin/python bench/bench_transform.py --points 1e6 --repeat 3
    .venv/bin/python bench/bench_transform.py --write         # record in bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import shlex
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyproj
from pyproj import Transformer

from geobase.geodesy import transform

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import update_section

SECTION = "transform"
TITLE = "transform: CGCS2000 geographic -> EPSG:4548"
TARGET = 0.8


def points(count: int, seed: int = 20250101) -> tuple[np.ndarray, np.ndarray]:
    """Seeded points over 3-degree zone 39 (115.5E..118.5E), 20.5N..26.5N."""
    rng = np.random.default_rng(seed)
    return rng.uniform(115.5, 118.5, count), rng.uniform(20.5, 26.5, count)


def timed(fn) -> tuple[float, float, tuple[np.ndarray, np.ndarray]]:
    """(wall seconds, CPU seconds of this process, result)."""
    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - start, time.process_time() - cpu, out


def run(count: int, repeat: int) -> dict:
    lon, lat = points(count)
    bare = Transformer.from_crs("EPSG:4490", "EPSG:4548", always_xy=True)
    # warm-up: build transformers and caches on both sides
    bare.transform(lon[:1000], lat[:1000])
    transform(lon[:1000], lat[:1000], "EPSG:4490", "EPSG:4548")
    times_pyproj, times_geobase, cpu_pyproj, cpu_geobase = [], [], [], []
    max_diff = 0.0
    for _ in range(repeat):
        t_p, c_p, (pe, pn) = timed(lambda: bare.transform(lon, lat))
        t_g, c_g, (ge, gn) = timed(lambda: transform(lon, lat, "EPSG:4490", "EPSG:4548"))
        times_pyproj.append(t_p)
        times_geobase.append(t_g)
        cpu_pyproj.append(c_p)
        cpu_geobase.append(c_g)
        max_diff = max(max_diff, float(np.abs(pe - ge).max()), float(np.abs(pn - gn).max()))
        del pe, pn, ge, gn
    best_p, best_g = min(times_pyproj), min(times_geobase)
    return {
        "points": count,
        "repeat": repeat,
        "pyproj_s": times_pyproj,
        "geobase_s": times_geobase,
        "pyproj_rate": count / best_p,
        "geobase_rate": count / best_g,
        "ratio": best_p / best_g,
        "ratio_median": statistics.median(times_pyproj) / statistics.median(times_geobase),
        "ratio_cpu": min(cpu_pyproj) / min(cpu_geobase),
        "load": os.getloadavg(),
        "max_diff_m": max_diff,
    }


def report(result: dict, command: str) -> str:
    ok = "meets" if result["ratio"] >= TARGET else "MISSES"
    rows = [
        "| side | best time | throughput | all runs (s) |",
        "|---|---|---|---|",
        f"| bare pyproj Transformer (anchor) | {min(result['pyproj_s']):.3f} s | "
        f"{result['pyproj_rate'] / 1e6:.2f} M points/s | "
        f"{', '.join(f'{t:.3f}' for t in result['pyproj_s'])} |",
        f"| geobase.geodesy.transform (checks on) | {min(result['geobase_s']):.3f} s | "
        f"{result['geobase_rate'] / 1e6:.2f} M points/s | "
        f"{', '.join(f'{t:.3f}' for t in result['geobase_s'])} |",
    ]
    return "\n".join(
        [
            f"**Ratio geobase / pyproj throughput: {result['ratio']:.3f}** (best runs; "
            f"{result['ratio_median']:.3f} on medians, {result['ratio_cpu']:.3f} on process CPU "
            f"time). Target >= {TARGET}: {ok}.",
            "",
            *rows,
            "",
            f"- Points: {result['points']:,} seeded random points, 115.5E..118.5E, "
            f"20.5N..26.5N; {result['repeat']} alternating runs per side after a warm-up.",
            f"- Outputs agree: largest difference {result['max_diff_m']:.3g} m.",
            "- geobase makes the same PROJ call and adds a few reductions over the arrays "
            "(range checks, finiteness); a ratio above 1 is timing noise.",
            f"- Machine: {platform.machine()}, {os.cpu_count()} CPUs visible, "
            f"{platform.system()} {platform.release()}, load average "
            f"{', '.join(f'{v:.2f}' for v in result['load'])} at the end (shared machine); "
            f"Python {platform.python_version()}, "
            f"numpy {np.__version__}, pyproj {pyproj.__version__}, PROJ {pyproj.proj_version_str}.",
            f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
            f"- Command: `{command}`",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=float, default=10_000_000, help="number of points")
    parser.add_argument("--repeat", type=int, default=3, help="runs per side")
    parser.add_argument("--write", action="store_true", help="record in bench/RESULTS.md")
    args = parser.parse_args(argv)
    command = "python bench/bench_transform.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    result = run(int(args.points), args.repeat)
    text = report(result, command.strip())
    print(text)
    if args.write:
        path = update_section(SECTION, TITLE, text)
        print(f"\nrecorded in {path}")
    return 0 if result["ratio"] >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
