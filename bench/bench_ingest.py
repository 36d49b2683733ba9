"""Ingest benchmarks against their anchors, side by side in one run.

1. Footprint: geobase's decimated-mask footprint vs the full-resolution mask polygonised
   whole (time, peak memory, area).
2. COG conversion: geobase's ``write_cog`` vs ``rio cogeo create`` (same profile), and the
   peak memory of a whole ``geobase ingest`` of the same orthophoto (target < 1 GB).
3. Point clouds: geobase's chunked statistics + occupancy footprint vs a bare chunked
   laspy read of the same LAZ file (throughput).

Every measured step runs in its own child process; its peak resident memory is the
child's ``ru_maxrss`` (from ``os.wait4``).

Usage:
    .venv/bin/python bench/bench_ingest.py [--size 20000] [--points 5000000] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
VENV_BIN = Path(sys.executable).parent


def measure(args: list[str], env: dict | None = None) -> dict:
    """Run a child process; its wall time, peak RSS (MB) and JSON on stdout."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, env=env)
    out = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{args[:4]} failed with status {status}")
    result = {"process_seconds": elapsed, "seconds": elapsed, "peak_mb": usage.ru_maxrss / 1024}
    text = out.decode().strip()
    if text:
        result.update(json.loads(text.splitlines()[-1]))  # "seconds": the timed work alone
    return result


def shapely_coords(geom):
    import shapely

    return shapely.get_coordinates(geom)


def task(name: str, *argv: str) -> list[str]:
    return [sys.executable, str(HERE), "--task", name, *argv]


# --- synthetic inputs --------------------------------------------------------------------


def make_orthophoto(path: Path, size: int) -> None:
    """An RGB uint8 GeoTIFF (EPSG:4548, 0.2 m) with a nodata collar around a tilted,
    ragged scene, written in windows (never whole in memory)."""
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 3,
        "dtype": "uint8",
        "crs": "EPSG:4548",
        "transform": Affine(0.2, 0, 467000, 0, -0.2, 2584000 + size * 0.2),
        "nodata": 0,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
    }
    rng = np.random.default_rng(1)
    c = size / 2
    angle = np.radians(12)
    rows = 1024
    with rasterio.open(path, "w", **profile) as dst:
        for r0 in range(0, size, rows):
            h = min(rows, size - r0)
            yy, xx = np.mgrid[r0 : r0 + h, 0:size].astype(np.float32)
            u = (xx - c) * np.cos(angle) + (yy - c) * np.sin(angle)
            v = -(xx - c) * np.sin(angle) + (yy - c) * np.cos(angle)
            edge = 0.38 * size + 0.01 * size * np.sin(u / size * 40)
            inside = (np.abs(u) < edge) & (np.abs(v) < 0.33 * size)
            base = ((xx + yy) % 200).astype(np.uint8) + 20
            data = np.stack([base, base // 2 + 60, 255 - base]) + rng.integers(
                0, 20, (3, h, size), dtype=np.uint8
            )
            data[:, ~inside] = 0
            data[:, inside & (data[0] == 0)] = 1
            dst.write(data, window=Window(0, r0, size, h))


def make_laz(path: Path, points: int) -> None:
    """A LAZ (format 6, adjusted GPS time) written in chunks."""
    import laspy
    from pyproj import CRS

    header = laspy.LasHeader(point_format=6, version="1.4")
    header.scales = np.array([0.01, 0.01, 0.01])
    header.offsets = np.array([467000.0, 2584000.0, 0.0])
    header.add_crs(CRS.from_epsg(4548))
    header.global_encoding.gps_time_type = laspy.header.GpsTimeType.STANDARD
    rng = np.random.default_rng(2)
    chunk = 1_000_000
    with laspy.open(path, mode="w", header=header) as writer:
        for start in range(0, points, chunk):
            n = min(chunk, points - start)
            rec = laspy.ScaleAwarePointRecord.zeros(n, header=header)
            rec.x = 467000 + rng.uniform(0, 1000, n)
            rec.y = 2584000 + rng.uniform(0, 1000, n)
            rec.z = rng.uniform(0, 30, n)
            rec.classification = rng.choice(np.array([1, 2, 6], dtype=np.uint8), n)
            rec.gps_time = 3.7e8 + np.sort(rng.uniform(0, 3600, n))
            writer.write_points(rec)


# --- child tasks -------------------------------------------------------------------------


def run_task(name: str, argv: list[str]) -> None:
    # the geobase modules are imported before timing, as in a running service
    import laspy  # noqa: F401
    import rasterio
    import shapely  # noqa: F401

    from geobase.ingest import pointcloud, raster  # noqa: F401
    from geobase.ingest.footprint import to_cgcs2000  # noqa: F401

    if name.startswith("footprint-"):  # PROJ set up for this CRS, as in a running service
        from pyproj import Transformer

        from geobase.ingest.footprint import CGCS2000, _transformer

        with rasterio.open(argv[0]) as ds:
            Transformer.from_crs(ds.crs, 4490, always_xy=True)
            _transformer(CGCS2000.from_user_input(ds.crs.to_wkt()))
    t0 = time.perf_counter()
    _run(name, argv, t0)


def _emit(t0: float, **values) -> None:
    print(json.dumps({"seconds": time.perf_counter() - t0, **values}))


def _run(name: str, argv: list[str], t0: float) -> None:
    if name == "make-ortho":
        make_orthophoto(Path(argv[0]), int(argv[1]))
    elif name == "add-overviews":
        import shutil

        import rasterio
        from rasterio.enums import Resampling

        shutil.copyfile(argv[0], argv[1])
        with rasterio.Env(GDAL_CACHEMAX=256), rasterio.open(argv[1], "r+") as ds:
            ds.build_overviews([2, 4, 8, 16, 32], Resampling.nearest)
    elif name == "make-laz":
        make_laz(Path(argv[0]), int(argv[1]))
    elif name == "footprint-geobase":
        from geobase.ingest import raster

        info = raster.read_info(Path(argv[0]))
        geom = raster.footprint(info)
        _emit(t0, area=geom.area, vertices=len(shapely_coords(geom)))
    elif name == "footprint-full":
        import rasterio
        import shapely
        from pyproj import Transformer
        from rasterio import features

        with rasterio.open(argv[0]) as ds:
            mask = ds.dataset_mask()
            polys = [
                shapely.geometry.shape(g)
                for g, v in features.shapes(mask, mask=mask > 0, transform=ds.transform)
                if v
            ]
            crs = ds.crs
        geom = shapely.segmentize(shapely.union_all(polys), 50)
        t = Transformer.from_crs(crs, 4490, always_xy=True)
        xy = shapely.get_coordinates(geom)
        x, y = t.transform(xy[:, 0], xy[:, 1])
        geom = shapely.set_coordinates(geom, np.column_stack([x, y]))
        _emit(t0, area=geom.area, vertices=len(xy))
    elif name == "cog-geobase":
        from geobase.ingest import raster

        info = raster.read_info(Path(argv[0]))
        raster.write_cog(info, Path(argv[1]), "imagery")
    elif name == "ingest-geobase":
        from geobase.ingest import ingest
        from geobase.store import Workspace

        ws = Workspace.init(argv[1], name="bench")
        [r] = ingest(ws, [argv[0]], acquired="2024-01-01")
        print(json.dumps({"status": r.status}))
    elif name == "pc-geobase":
        from geobase.ingest import pointcloud

        info = pointcloud.read_header(Path(argv[0]))
        stats = pointcloud.scan(info)
        pointcloud.footprint(info, stats)
        _emit(t0, points=stats.point_count)
    elif name == "pc-laspy":
        import laspy

        n = 0
        with laspy.open(argv[0]) as reader:
            for chunk in reader.chunk_iterator(1_000_000):
                n += len(chunk.X)
        _emit(t0, points=n)
    else:
        raise SystemExit(f"unknown task {name}")


# --- the benchmark -----------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task")
    parser.add_argument("--size", type=int, default=20000, help="orthophoto side in pixels")
    parser.add_argument(
        "--footprint-size", type=int, default=10000, help="image side for the footprint bench"
    )
    parser.add_argument("--points", type=int, default=5_000_000)
    parser.add_argument(
        "--parts", default="footprint,cog,pointcloud", help="comma-separated parts to run"
    )
    parser.add_argument("--write", action="store_true", help="record in bench/RESULTS.md")
    parser.add_argument("--out", type=Path, default=None, help="work folder (default: a temp dir)")
    args, rest = parser.parse_known_args()
    if args.task:
        run_task(args.task, rest)
        return
    work = args.out or Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {
        "size": args.size,
        "footprint_size": args.footprint_size,
        "points": args.points,
    }

    parts = set(args.parts.split(","))
    if "footprint" in parts:
        footprint_bench(args, work, results)
    if "cog" in parts:
        cog_bench(args, work, results)
    if "pointcloud" in parts:
        pointcloud_bench(args, work, results)
    print(json.dumps(results, indent=1))
    body, ok = report(results, sys.argv[1:])
    print(body, file=sys.stderr)
    if args.write:
        sys.path.insert(0, str(HERE.parent))
        from results import update_section

        update_section("ingest", "ingest: footprint, COG, point clouds", body)
    if not ok:
        raise SystemExit(1)


TARGETS = {
    "footprint": "speedup >= 5, memory ratio <= 0.25, area error <= 1%",
    "cog": "time ratio <= 1.2; whole-ingest peak RSS < 1024 MB",
    "pointcloud": "throughput ratio >= 0.7",
}


def report(results: dict, argv: list[str]) -> tuple[str, bool]:
    """A RESULTS.md section and whether every measured target is met."""
    import platform

    ok = True
    lines = []
    for key in ("footprint_no_overviews", "footprint_overviews"):
        if key in results:
            f = results[key]
            met = f["speedup"] >= 5 and f["memory_ratio"] <= 0.25 and f["area_error"] <= 0.01
            ok &= met
            lines.append(
                f"| footprint, {results['footprint_size']}^2 RGB, {key.split('_', 1)[1].replace('_', ' ')} "
                f"| {f['geobase']['seconds']:.2f} s, {f['geobase']['peak_mb']:.0f} MB "
                f"| full mask polygonised: {f['full_mask']['seconds']:.2f} s, {f['full_mask']['peak_mb']:.0f} MB "
                f"| {f['speedup']:.1f}x faster, memory x{f['memory_ratio']:.2f}, area error {f['area_error']:.1e} "
                f"| {'meets' if met else 'misses'} |"
            )
    if "cog" in results:
        c = results["cog"]
        met = c["time_ratio"] <= 1.2
        ok &= met
        lines.append(
            f"| COG, {results['size']}^2 RGB JPEG | {c['geobase']['process_seconds']:.1f} s, "
            f"{c['geobase']['peak_mb']:.0f} MB | rio cogeo create: {c['rio_cogeo']['process_seconds']:.1f} s, "
            f"{c['rio_cogeo']['peak_mb']:.0f} MB | time x{c['time_ratio']:.2f} | {'meets' if met else 'misses'} |"
        )
        i = results["ingest"]
        met = i["peak_mb"] < 1024
        ok &= met
        lines.append(
            f"| whole `ingest` of that image | {i['process_seconds']:.1f} s, {i['peak_mb']:.0f} MB peak | - "
            f"| peak < 1 GB | {'meets' if met else 'misses'} |"
        )
    if "pointcloud" in results:
        p = results["pointcloud"]
        met = p["throughput_ratio"] >= 0.7
        ok &= met
        lines.append(
            f"| point cloud, {results['points']:,} points LAZ | {p['geobase']['seconds']:.2f} s "
            f"| bare chunked laspy read: {p['laspy']['seconds']:.2f} s "
            f"| throughput x{p['throughput_ratio']:.2f} | {'meets' if met else 'misses'} |"
        )
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    body = "\n".join(
        [
            "| what | geobase | anchor | ratio | target |",
            "|---|---|---|---|---|",
            *lines,
            "",
            "- Targets: " + "; ".join(f"{k}: {v}" for k, v in TARGETS.items()) + ".",
            "- Each side runs in its own process; peak memory is the process's ru_maxrss. "
            "Footprint and point-cloud times are the timed work inside the process (imports "
            "excluded); COG times are whole processes (the rio CLI cannot be timed inside).",
            f"- Machine: {platform.machine()}, {os.cpu_count()} CPUs visible, load average {load} "
            "at the end (shared machine: wall times are noisy).",
            f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
            f"- Command: `python bench/bench_ingest.py {' '.join(argv)}`",
        ]
    )
    return body, ok


def footprint_bench(args, work: Path, results: dict) -> None:
    """On the plain image (every block decoded once) and on a copy with overviews."""
    plain = work / f"ortho_{args.footprint_size}.tif"
    if not plain.exists():
        measure(task("make-ortho", str(plain), str(args.footprint_size)))
    with_ovr = work / f"ortho_{args.footprint_size}_ovr.tif"
    if not with_ovr.exists():
        measure(task("add-overviews", str(plain), str(with_ovr)))
    for label, src in (("no_overviews", plain), ("overviews", with_ovr)):
        ours = measure(task("footprint-geobase", str(src)))
        full = measure(task("footprint-full", str(src)))
        results[f"footprint_{label}"] = {
            "geobase": ours,
            "full_mask": full,
            "speedup": full["seconds"] / ours["seconds"],
            "memory_ratio": ours["peak_mb"] / full["peak_mb"],
            "area_error": abs(ours["area"] - full["area"]) / full["area"],
        }
        print(json.dumps({label: results[f"footprint_{label}"]}, indent=1), file=sys.stderr)


def cog_bench(args, work: Path, results: dict) -> None:
    src = work / f"ortho_{args.size}.tif"
    if not src.exists():
        measure(task("make-ortho", str(src), str(args.size)))
    for f in ("cog_geobase.tif", "cog_rio.tif"):
        (work / f).unlink(missing_ok=True)
    anchor = measure(
        [
            str(VENV_BIN / "rio"),
            "cogeo",
            "create",
            str(src),
            str(work / "cog_rio.tif"),
            "-p",
            "jpeg",
            "--add-mask",
            "--overview-resampling",
            "average",
            "-q",
        ]
    )
    ours = measure(task("cog-geobase", str(src), str(work / "cog_geobase.tif")))
    results["cog"] = {
        "geobase": ours,
        "rio_cogeo": anchor,
        "time_ratio": ours["seconds"] / anchor["seconds"],
    }
    print(json.dumps({"cog": results["cog"]}, indent=1), file=sys.stderr)
    ws = work / "ws"
    if ws.exists():
        import shutil

        shutil.rmtree(ws)
    results["ingest"] = measure(task("ingest-geobase", str(src), str(ws)))
    print(json.dumps({"ingest": results["ingest"]}, indent=1), file=sys.stderr)


def pointcloud_bench(args, work: Path, results: dict) -> None:
    laz = work / f"cloud_{args.points}.laz"
    if not laz.exists():
        measure(task("make-laz", str(laz), str(args.points)))
    anchor = measure(task("pc-laspy", str(laz)))
    ours = measure(task("pc-geobase", str(laz)))
    results["pointcloud"] = {
        "geobase": ours,
        "laspy": anchor,
        "throughput_ratio": anchor["seconds"] / ours["seconds"],
    }


if __name__ == "__main__":
    main()
