"""Tile builds on bounded disk and memory, on Dask, and incremental (issue 17 items 4, 5, 7).

On bench_city.py's seeded 0.05 m mosaic (4096 x 4096 px JPEG COGs, EPSG:4548), Web
Mercator z12-21, ``geobase tiles build`` of the product (the CLI, 2 processes):

- **cache**: the overview cache on disk (tiles/.cache) against the pyramid's bytes, JPEG
  and WebP (target <= 15%), with the peak RSS of the process tree;
- **memory**: peak RSS of the same build under ``--max-memory``;
- **update**: one of the files replaced by a new delivery (same place, new pixels), then
  ``--update``, against building that file alone (its tiles and their ancestors, a new
  pyramid, same settings) in the same run, alternating (target <= 1.3x CPU); the updated
  pyramid is compared tile by tile with a full rebuild (must be identical);
- **dask**: the same build with ``--dask`` on a local scheduler and two single-threaded
  worker processes (``dask scheduler``, ``dask worker --nthreads 1 --no-nanny``) against
  ``--workers 2``, alternating (target: Dask's throughput >= 0.9x the pool's);
- **pmtiles**: the PMTiles writer's directory memory (tracemalloc peak) for 1 M and 10 M
  generated entries (flat).

CPU is user + system of every process involved (the CLI and its workers through
getrusage; the Dask scheduler and workers through psutil). The machine is shared: compare
CPU seconds; wall times are noisy.

Run: ``.venv/bin/python bench/bench_tiles_disk.py [--files 16] [--repeat 3] [--write]``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import bench_city as city  # noqa: E402  (tilesperf's mosaic and measuring helpers)

OUT = city.OUT / "disk"
ZOOM = "12-21"
BLOCK: list[str] = []  # --block N for every build (default: geobase's)
DASK = shutil.which("dask") or str(Path(sys.executable).with_name("dask"))


def build_cmd(ws: Path, out: Path, fmt: str, *extra: str) -> list[str]:
    return [*city.GEOBASE, "-q", "tiles", "build", "dom005", "--zoom", ZOOM, "--format", fmt,
            "-o", str(out), "--workspace", str(ws), *BLOCK, *extra]  # fmt: skip


def fresh(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def cache_size(ws: Path) -> int:
    return city.folder_size(ws / "tiles" / ".cache")


def pyramid_tiles(path: Path) -> dict:
    from geobase.tiles.stores import open_pyramid

    with open_pyramid(path) as reader:
        return {key: reader.get_tile(*key) for key in reader.tiles()}


def add_version(ws: Path, original: Path, new: Path, version: int) -> None:
    import rasterio
    import shapely
    from rasterio.warp import transform_bounds

    from geobase.store import Workspace, utc_now

    with Workspace.open(ws) as w, w.store.transaction() as tx, rasterio.open(new) as src:
        geom = shapely.box(*transform_bounds(src.crs, "EPSG:4490", *src.bounds))
        tx.insert("datasets", {
            "dataset_id": original.stem, "version": version, "product": "dom005",
            "kind": "imagery", "acquired_end": f"2025-0{version}-01", "ingested_at": utc_now(),
            "classification": "public", "path": str(new), "checksum": f"{new.stem}-{version}",
            "geom": tx.geom(shapely.MultiPolygon([geom]), 4490)})  # fmt: skip


# --- cache and memory -----------------------------------------------------------------------


def bench_cache(ws: Path, env: dict, repeat: int) -> dict:
    out = {}
    for fmt in ("jpeg", "webp"):
        runs = []
        for _ in range(repeat):
            target = ws / "tiles" / f"full_{fmt}.pmtiles"
            fresh(target)
            shutil.rmtree(ws / "tiles" / ".cache", ignore_errors=True)
            m = city.run_measured([build_cmd(ws, target, fmt, "--workers", "2")], env)
            m["bytes"] = target.stat().st_size
            m["cache"] = cache_size(ws)
            runs.append(m)
            print(f"full {fmt}: {m['cpu']:.1f} s CPU, pyramid {m['bytes']:,} B, cache "
                  f"{m['cache']:,} B, RSS {m['rss'] / 2**20:.0f} MB", flush=True)  # fmt: skip
        out[fmt] = runs
    return out


def bench_memory(ws: Path, env: dict, limits: list[int]) -> dict:
    out = {}
    for limit in limits:
        target = ws / "tiles" / f"mem_{limit}.pmtiles"
        fresh(target)
        m = city.run_measured([build_cmd(ws, target, "jpeg", "--workers", "2", "--max-memory",
                                         str(limit))], env)  # fmt: skip
        out[limit] = m
        print(f"--max-memory {limit}: RSS {m['rss'] / 2**20:.0f} MB, {m['cpu']:.1f} s CPU",
              flush=True)  # fmt: skip
        fresh(target)
    return out


# --- incremental ------------------------------------------------------------------------


def bench_update(ws: Path, files: list[Path], env: dict, repeat: int) -> dict:
    """Replace the file at (1, 1) of the grid (inside the mosaic) repeatedly."""
    side = int(len(files) ** 0.5)
    row = col = 1 if side > 2 else 0
    original = files[row * side + col]
    target = ws / "tiles" / "inc.pmtiles"
    fresh(target)
    subprocess.run(build_cmd(ws, target, "jpeg", "--workers", "2"), env=env, check=True)
    runs: dict[str, list] = {"update": [], "alone": []}
    for k in range(repeat):
        version = k + 2
        new = OUT / "deliveries" / f"{original.stem}_v{version}.tif"
        city.make_file(new, col, row, seed=100 + version)
        add_version(ws, original, new, version)
        m = city.run_measured([[*city.GEOBASE, "-q", "tiles", "build", "dom005", "--update",
                                "--workers", "2", "-o", str(target), "--workspace", str(ws)]],
                              env)  # fmt: skip
        runs["update"].append(m)
        alone = ws / "tiles" / "alone.pmtiles"
        fresh(alone)
        # the new version by its dataset id: the same catalogue path and start-up as --update
        m2 = city.run_measured([[*city.GEOBASE, "-q", "tiles", "build", original.stem, "--zoom",
                                 ZOOM, "--format", "jpeg", "--workers", "2", "-o", str(alone),
                                 "--workspace", str(ws), *BLOCK]], env)  # fmt: skip
        m2["tiles"] = len(pyramid_tiles(alone))
        runs["alone"].append(m2)
        print(f"update v{version}: {m['cpu']:.1f} s CPU ({m['wall']:.1f} s wall); that file "
              f"alone: {m2['cpu']:.1f} s CPU, {m2['tiles']} tiles", flush=True)  # fmt: skip
    ref = ws / "tiles" / "ref.pmtiles"
    fresh(ref)
    subprocess.run(build_cmd(ws, ref, "jpeg", "--workers", "2"), env=env, check=True)
    updated, full = pyramid_tiles(target), pyramid_tiles(ref)
    same = updated == full
    from geobase.store import Workspace
    from geobase.tiles.build import last_pyramid

    with Workspace.open(ws) as w:
        written = last_pyramid(w, target)["written_tiles"]
    return {"runs": runs, "identical": same, "tiles": len(full), "written": written,
            "file": original.name}  # fmt: skip


# --- Dask -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def dask_cluster(env: dict):
    """A scheduler and two single-threaded worker processes on this machine."""
    import psutil

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    # as README.md's deployment: the workers' statistical profiler off (it samples every
    # worker's stack every 10 ms, holding the GIL the render needs)
    env = {**env, "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",
           "DASK_DISTRIBUTED__WORKER__PRELOAD": "['geobase.tiles.pyramid']"}  # fmt: skip
    log = open(OUT / "dask.log", "ab")  # noqa: SIM115 - closed below
    procs = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], env=env, stdout=log, stderr=log)]  # fmt: skip
    time.sleep(2)
    for _ in range(2):
        # preloaded: a cluster's workers import geobase once when they start, as the
        # pool's forked workers inherit it from the build's process
        procs.append(subprocess.Popen([DASK, "worker", address, "--nthreads", "1", "--no-nanny",
                                       "--no-dashboard", "--memory-limit", "0"], env=env,
                                      stdout=log, stderr=log))  # fmt: skip
    try:
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address, [psutil.Process(p.pid) for p in procs]
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(10)
        log.close()


def cluster_cpu(procs) -> float:
    total = 0.0
    for p in procs:
        t = p.cpu_times()
        total += t.user + t.system
    return total


def bench_dask(ws: Path, env: dict, repeat: int) -> dict:
    runs: dict[str, list] = {"pool": [], "dask": []}
    for _ in range(repeat):
        target = ws / "tiles" / "pool.pmtiles"
        fresh(target)
        runs["pool"].append(city.run_measured([build_cmd(ws, target, "jpeg", "--workers", "2")],
                                              env))  # fmt: skip
        with dask_cluster(env) as (address, procs):
            # a cluster serves many builds: its workers are warm (sources opened once,
            # PROJ's transformations made) as the pool's inherit the build's process
            warm = ws / "tiles" / "warm.pmtiles"
            fresh(warm)
            subprocess.run([*city.GEOBASE, "-q", "tiles", "build", "dom005", "--zoom", "21",
                            "--format", "jpeg", "--dask", address, "-o", str(warm),
                            "--workspace", str(ws)], env=env, check=True)  # fmt: skip
            target = ws / "tiles" / "dask.pmtiles"
            fresh(target)
            before = cluster_cpu(procs)
            before_scheduler = cluster_cpu(procs[:1])
            m = city.run_measured([build_cmd(ws, target, "jpeg", "--dask", address)], env)
            m["cluster_cpu"] = cluster_cpu(procs) - before
            m["scheduler_cpu"] = cluster_cpu(procs[:1]) - before_scheduler
            m["cpu"] += m["cluster_cpu"]
            runs["dask"].append(m)
        same = pyramid_tiles(ws / "tiles" / "pool.pmtiles") == pyramid_tiles(target)
        print(f"pool {runs['pool'][-1]['wall']:.1f} s wall {runs['pool'][-1]['cpu']:.1f} s CPU; "
              f"dask {m['wall']:.1f} s wall {m['cpu']:.1f} s CPU "
              f"(cluster {m['cluster_cpu']:.1f}, scheduler {m['scheduler_cpu']:.1f}); same tiles {same}", flush=True)  # fmt: skip
        if not same:
            raise SystemExit("Dask and the pool made different tiles")
    return runs


# --- PMTiles entries --------------------------------------------------------------------------


def bench_pmtiles(counts: list[int]) -> dict:
    sys.path.insert(0, str(ROOT))
    from tests.test_tiles_pmarchive import _directory_peak

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in counts:
            start = time.process_time()
            peak = _directory_peak(Path(tmp), n)
            out[n] = {"peak": peak, "cpu": time.process_time() - start}
            print(f"PMTiles directories of {n:,} entries: peak {peak / 2**20:.1f} MB traced, "
                  f"{out[n]['cpu']:.1f} s CPU", flush=True)  # fmt: skip
            for f in Path(tmp).iterdir():
                f.unlink()
    return out


# --- report -----------------------------------------------------------------------------------


def med(runs, key):
    return statistics.median(m[key] for m in runs)


def _list(runs, key) -> str:
    return ", ".join(f"{m[key]:.1f}" for m in runs)


def report(res: dict, args, command: str) -> str:
    lines = [f"{res['files']} files of bench_city.py's mosaic ({res['files']} x 4096 x 4096 px "
             f"at 0.05 m), z{ZOOM} Web Mercator, PMTiles, 2 processes, windows of "
             f"{args.block or 8} tiles; medians of {args.repeat} runs.", ""]  # fmt: skip
    ok = True
    if "cache" in res:
        lines += ["| build | pyramid bytes | overview cache on disk | cache / pyramid | "
                  "CPU s | peak RSS |", "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
        for fmt, runs in res["cache"].items():
            ratio = med(runs, "cache") / med(runs, "bytes")
            ok &= ratio <= 0.15
            lines.append(f"| {fmt} | {med(runs, 'bytes'):,.0f} | {med(runs, 'cache'):,.0f} | "
                         f"**{100 * ratio:.1f}%** | {med(runs, 'cpu'):.1f} | "
                         f"{med(runs, 'rss') / 2**20:,.0f} MB |")  # fmt: skip
        lines += ["", "Target: cache <= 15% of the pyramid.", ""]
    if "memory" in res:
        parts = [f"`--max-memory {k}`: {m['rss'] / 2**20:,.0f} MB peak RSS "
                 f"({m['cpu']:.1f} s CPU, {m['wall']:.1f} s wall)" for k, m in res["memory"].items()]  # fmt: skip
        lines += ["Peak RSS of the process tree under a limit (JPEG): " + "; ".join(parts) + ".",
                  ""]  # fmt: skip
        ok &= all(m["rss"] <= k * 2**20 for k, m in res["memory"].items())
    if "update" in res:
        u = res["update"]
        upd, alone = u["runs"]["update"], u["runs"]["alone"]
        ratio = med(upd, "cpu") / med(alone, "cpu")
        ok &= ratio <= 1.3 and u["identical"]
        lines += [f"1-of-{res['files']} update ({u['file']} replaced by a new delivery, JPEG): "
                  f"`--update` **{med(upd, 'cpu'):.1f} s CPU** ({med(upd, 'wall'):.1f} s wall, "
                  f"{u['written']} tiles written) against building that file alone "
                  f"**{med(alone, 'cpu'):.1f} s CPU** ({med(alone, 'wall'):.1f} s wall, "
                  f"{alone[0]['tiles']} tiles): **{ratio:.2f}x** (target <= 1.3x); "
                  f"identical to a full rebuild ({u['tiles']} tiles): **{u['identical']}**.",
                  f"CPU s per run, update: {_list(upd, 'cpu')}; alone: {_list(alone, 'cpu')}.", ""]  # fmt: skip
    if "dask" in res:
        pool, dk = res["dask"]["pool"], res["dask"]["dask"]
        wall_ratio = med(pool, "wall") / med(dk, "wall")
        cpu_ratio = med(pool, "cpu") / med(dk, "cpu")
        ok &= wall_ratio >= 0.9
        lines += [f"Dask (a scheduler and two single-threaded workers, same machine) against "
                  f"the process pool (`--workers 2`), JPEG: throughput by wall "
                  f"**{wall_ratio:.2f}x** (target >= 0.9x), by CPU {cpu_ratio:.2f}x; "
                  f"pool {med(pool, 'wall'):.1f} s wall / {med(pool, 'cpu'):.1f} s CPU, Dask "
                  f"{med(dk, 'wall'):.1f} s wall / {med(dk, 'cpu'):.1f} s CPU (of which the "
                  f"scheduler and workers {med(dk, 'cluster_cpu'):.1f}, the scheduler "
                  f"{med(dk, 'scheduler_cpu'):.1f}); same tiles.",
                  f"Wall s per run, pool: {_list(pool, 'wall')}; Dask: {_list(dk, 'wall')}.", ""]  # fmt: skip
    if "pmtiles" in res:
        parts = [f"{n:,} entries {v['peak'] / 2**20:.1f} MB ({v['cpu']:.1f} s CPU)"
                 for n, v in res["pmtiles"].items()]  # fmt: skip
        lines += ["PMTiles writer, entries spilled and directories built a leaf at a time, "
                  "tracemalloc peak: " + "; ".join(parts) + " (the pmtiles package's writer "
                  "holds ~250 MB a million).", ""]  # fmt: skip
    load = os.getloadavg()
    lines += [f"- Machine: {platform.machine()}, {os.cpu_count()} CPUs visible, load average "
              f"{load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f} at the end (shared with other "
              "sessions: wall times are noisy).",
              f"- Run ended {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.",
              f"- Command: `{command}`"]  # fmt: skip
    res["ok"] = ok
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--parts", nargs="+",
                        default=["cache", "memory", "update", "dask", "pmtiles"])  # fmt: skip
    parser.add_argument("--max-memory", type=int, nargs="+", default=[1024])
    parser.add_argument("--entries", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--block", type=int, default=None)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    if args.block:
        BLOCK.extend(["--block", str(args.block)])
    files = city.mosaic(args.files)
    OUT.mkdir(parents=True, exist_ok=True)
    ws = OUT / f"ws{args.files}{f'_b{args.block}' if args.block else ''}"
    shutil.rmtree(ws, ignore_errors=True)
    subprocess.run([*city.GEOBASE, "init", str(ws)], check=True, capture_output=True)
    city.insert_product(ws, files)
    env = {**os.environ, "GDAL_CACHEMAX": "256", "PYTHONPATH": str(ROOT)}
    res: dict = {"files": args.files}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    if "pmtiles" in args.parts:
        res["pmtiles"] = bench_pmtiles(args.entries)
    if "cache" in args.parts:
        res["cache"] = bench_cache(ws, env, args.repeat)
    if "memory" in args.parts:
        res["memory"] = bench_memory(ws, env, args.max_memory)
    if "dask" in args.parts:
        res["dask"] = bench_dask(ws, env, args.repeat)
    if "update" in args.parts:
        res["update"] = bench_update(ws, files, env, args.repeat)
    del before
    # parts not run now keep their last saved results (JSON keys are text)
    saved = OUT / f"results{args.files}{f'_b{args.block}' if args.block else ''}.json"
    if saved.exists():
        old = json.loads(saved.read_text(encoding="utf-8"))
        res = {**old, **res}
    saved.write_text(json.dumps(res), encoding="utf-8")
    for key in ("pmtiles", "memory"):
        if key in res:
            res[key] = {int(k): v for k, v in res[key].items()}
    argv = [a for a in sys.argv[1:] if a != "--write"]
    text = report(res, args, " ".join([".venv/bin/python bench/bench_tiles_disk.py", *argv,
                                       "--write"]))  # fmt: skip
    print(text)
    if args.write:
        from results import update_section

        name = "tiles-disk" if not args.block else f"tiles-disk-block{args.block}"
        update_section(name, f"tiles: bounded disk and memory, Dask, incremental"
                       f"{'' if not args.block else f' (--block {args.block})'}", text)  # fmt: skip
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
