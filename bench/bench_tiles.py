"""Tile pyramids: ``geobase tiles build`` against gdal2tiles, side by side in one run.

Source: a synthetic 8192 x 8192 px RGB orthophoto COG in EPSG:4548 (0.2 m, JPEG-compressed,
smooth gradients plus texture), made once under bench/out/. Both sides make Web Mercator
tiles z12-19 with average resampling and 2 processes; PNG at zlib level 6 (both) and WebP
(quality 75; libwebp method 0 for geobase, 4 for gdal2tiles); gdal2tiles 3.6 cannot write JPEG, so JPEG is measured against its
encode-only floor. Floors: Pillow encoding the same number of 256 x 256 tiles (decoded from
gdal2tiles' own output) in one process, nothing else.

Incremental: the image as a catalogue dataset of product dom02, plus a patch over about
1% of its area; the patch is superseded and ``tiles build --update`` runs against a full
build of the same product (both WebP, PMTiles), both as in-process ``build_tiles`` calls
(2 workers) so that neither pays the CLI's start-up. The update's tiles are checked equal
to a fresh full build's.

Run: ``.venv/bin/python bench/bench_tiles.py [--write]``. CPU time is the whole process
tree (resource.getrusage of the children), start-up included.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "tiles"
SIZE = 8192
RES = 0.2
E0, N0 = 466_000.0, 2_586_000.0
ZOOM = "12-19"
GEOBASE = [str(ROOT / ".venv" / "bin" / "geobase")]
GDAL2TILES = shutil.which("gdal2tiles") or shutil.which("gdal2tiles.py")


def make_cog(path: Path, *, size=SIZE, origin=(E0, N0), seed=0) -> Path:
    import rasterio
    from affine import Affine
    from rasterio.windows import Window
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    if path.exists():
        return path
    raw = path.with_suffix(".raw.tif")
    profile = dict(driver="GTiff", width=size, height=size, count=3, dtype="uint8",
                   crs="EPSG:4548", transform=Affine(RES, 0, origin[0], 0, -RES, origin[1]),
                   tiled=True, blockxsize=512, blockysize=512, compress="deflate")  # fmt: skip
    rng = np.random.default_rng(seed)
    with rasterio.open(raw, "w", **profile) as dst:
        for row in range(0, size, 512):
            yy, xx = np.mgrid[row : row + 512, 0:size].astype(np.float32)
            planes = []
            for b in range(3):
                v = 110 + 60 * np.sin(xx / (700 + 90 * b) + seed) * np.cos(yy / (900 - 70 * b))
                v += 25 * np.sin((xx + yy) / (37 + 5 * b))  # fields / roofs
                v += rng.normal(0, 9, size=v.shape).astype(np.float32)  # texture
                planes.append(np.clip(v, 1, 255))
            dst.write(np.stack(planes).astype(np.uint8), window=Window(0, row, size, 512))
    cog_translate(str(raw), str(path), cog_profiles.get("jpeg"), quiet=True,
                  config={"GDAL_NUM_THREADS": "1"})  # fmt: skip
    raw.unlink()
    return path


def timed(cmd: list[str], env=None) -> tuple[float, float]:
    """Wall and CPU (children, user + sys) seconds of a command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def tree_stats(folder: Path, ext: str) -> tuple[int, int]:
    files = list(folder.glob(f"*/*/*.{ext}"))
    return len(files), sum(f.stat().st_size for f in files)


def encode_floor(tiles: list[np.ndarray], fmt: str) -> float:
    from geobase.tiles.encode import encode_tile

    mask = np.ones((256, 256), bool)
    start = time.process_time()
    for t in tiles:
        encode_tile(t, mask, fmt)
    return time.process_time() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    if GDAL2TILES is None:
        print("gdal2tiles not found (Debian gdal-bin)", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    cog = make_cog(OUT / "ortho_4548.tif")
    env = {**os.environ, "GDAL_CACHEMAX": "256"}
    ws_dir = OUT / "ws"
    shutil.rmtree(ws_dir, ignore_errors=True)
    subprocess.run([*GEOBASE, "init", str(ws_dir)], check=True, capture_output=True)
    rows = {}
    # --- gdal2tiles ---------------------------------------------------------------
    for fmt, driver in (("png", "PNG"), ("webp", "WEBP")):
        out = OUT / f"g2t_{fmt}"
        shutil.rmtree(out, ignore_errors=True)
        wall, cpu = timed([GDAL2TILES, "-q", "-r", "average", "--xyz", "-z", ZOOM, "-w", "none",
                           "-x", "--processes=2", f"--tiledriver={driver}", str(cog), str(out)],
                          env)  # fmt: skip
        n, size = tree_stats(out, fmt)
        rows[("gdal2tiles", fmt)] = (wall, cpu, n, size)
        print("gdal2tiles", fmt, rows[("gdal2tiles", fmt)], flush=True)
    # --- geobase ------------------------------------------------------------------
    for fmt in ("png", "webp", "jpeg"):
        out = OUT / f"gb_{fmt}"
        shutil.rmtree(out, ignore_errors=True)
        wall, cpu = timed([*GEOBASE, "-q", "tiles", "build", str(cog), "--zoom", ZOOM,
                           "--format", fmt, "--workers", "2", "-o", str(out),
                           "--workspace", str(ws_dir)], env)  # fmt: skip
        n, size = tree_stats(out, {"jpeg": "jpg"}.get(fmt, fmt))
        rows[("geobase", fmt)] = (wall, cpu, n, size)
        print("geobase", fmt, rows[("geobase", fmt)], flush=True)
    # --- encode-only floors on gdal2tiles' own tiles ------------------------------------
    from PIL import Image

    pngs = sorted((OUT / "g2t_png").glob("*/*/*.png"))
    tiles = [np.moveaxis(np.asarray(Image.open(p).convert("RGB")), -1, 0) for p in pngs]
    n_floor = rows[("geobase", "png")][2]
    tiles = (tiles * (n_floor // max(len(tiles), 1) + 1))[:n_floor]
    floors = {fmt: encode_floor(tiles, fmt) for fmt in ("png", "webp", "jpeg")}
    # --- incremental ----------------------------------------------------------------
    inc = incremental(cog, ws_dir, env)
    # --- report -----------------------------------------------------------------------
    text = report(rows, floors, n_floor, inc)
    print(text)
    if args.write:
        sys.path.insert(0, str(ROOT / "bench"))
        from results import update_section

        update_section("tiles", "tiles: pyramid build vs gdal2tiles", text)
    return 0


def incremental(cog: Path, ws_dir: Path, env) -> dict:
    import rasterio
    import shapely
    from rasterio.warp import transform_bounds
    from rasterio.windows import Window

    from geobase.store import Workspace, utc_now
    from geobase.tiles.stores import open_pyramid

    # a patch over ~1% of the area (820 x 820 px of 8192 x 8192), delivered twice
    patches = []
    for version, seed in ((1, 5), (2, 9)):
        path = OUT / f"patch_v{version}.tif"
        with rasterio.open(cog) as src:
            prof = src.profile | dict(driver="GTiff", width=820, height=820, compress="deflate")
            prof.pop("photometric", None)
            win = Window(3000, 3000, 820, 820)
            prof["transform"] = src.window_transform(win)
            data = src.read(window=win)
        rng = np.random.default_rng(seed)
        data = np.clip(data.astype(int) + rng.integers(-40, 40, size=(3, 1, 1)), 1, 255)
        with rasterio.open(path, "w", **prof) as dst:
            dst.write(data.astype(np.uint8))
        patches.append(path)

    def add(ws, did, version, path, acquired):
        with rasterio.open(path) as src:
            geom = shapely.box(*transform_bounds(src.crs, "EPSG:4490", *src.bounds))
        with ws.store.transaction() as tx:
            tx.insert("datasets", {
                "dataset_id": did, "version": version, "product": "dom02", "kind": "imagery",
                "acquired_end": acquired, "ingested_at": utc_now(), "classification": "public",
                "path": str(path), "checksum": f"{did}{version}",
                "geom": tx.geom(shapely.MultiPolygon([geom]), 4490)})  # fmt: skip

    with Workspace.open(ws_dir) as ws:
        add(ws, "ortho", 1, cog, "2024-01-01")
        add(ws, "patch", 1, patches[0], "2024-06-01")
    from geobase.tiles.build import build_tiles

    target = ws_dir / "tiles" / "dom02.pmtiles"  # recorded builds lie in the workspace
    ref = ws_dir / "tiles" / "dom02_ref.pmtiles"

    def lib(**kw):  # in-process library calls for both the full build and the update
        with Workspace.open(ws_dir) as ws:
            return timed_call(lambda: build_tiles(ws, "dom02", workers=2, **kw))

    full, _ = lib(out=target, zoom=(12, 19), fmt="webp", overwrite=True)
    with Workspace.open(ws_dir) as ws:
        add(ws, "patch", 2, patches[1], "2025-06-01")
    upd, rec = lib(out=target, update=True)
    lib(out=ref, zoom=(12, 19), fmt="webp", overwrite=True)
    with open_pyramid(target) as a, open_pyramid(ref) as b:
        ta = {k: a.get_tile(*k) for k in a.tiles()}
        tb = {k: b.get_tile(*k) for k in b.tiles()}
    return {
        "full": full, "update": upd, "equal": ta == tb, "written": rec["written_tiles"],
        "tiles": rec["tile_count"], "archive": target.stat().st_size,
        "written_bytes": rec["written_bytes"],
    }  # fmt: skip


def timed_call(fn):
    """Wall and CPU (this process and its children) seconds of a call, and its result."""

    def cpu():
        a = resource.getrusage(resource.RUSAGE_SELF)
        b = resource.getrusage(resource.RUSAGE_CHILDREN)
        return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime

    c0, start = cpu(), time.perf_counter()
    result = fn()
    return (time.perf_counter() - start, cpu() - c0), result


def report(rows, floors, n_floor, inc) -> str:
    def r(side, fmt):
        return rows[(side, fmt)]

    lines = []
    b_png, b_jpg = r("geobase", "png"), r("geobase", "jpeg")
    tput = {k: v[2] / v[0] for k, v in rows.items()}
    webp_x = tput[("geobase", "webp")] / tput[("gdal2tiles", "webp")]
    png_x = tput[("geobase", "png")] / tput[("gdal2tiles", "png")]
    png_floor = b_png[1] / floors["png"]
    jpg_floor = b_jpg[1] / floors["jpeg"]
    upd_ratio = inc["update"][0] / inc["full"][0]

    def verdict(ok):
        return "meets" if ok else "MISSES"

    lines.append(f"- WebP throughput geobase / gdal2tiles: **{webp_x:.2f}x** (target >= 5x: "
                 f"{verdict(webp_x >= 5)})")  # fmt: skip
    lines.append(f"- PNG throughput geobase / gdal2tiles: **{png_x:.2f}x** (target >= 2x: "
                 f"{verdict(png_x >= 2)}); PNG CPU / encode-only floor: **{png_floor:.2f}x** "
                 f"(target <= 1.5x: {verdict(png_floor <= 1.5)})")  # fmt: skip
    lines.append(f"- JPEG CPU / encode-only floor: **{jpg_floor:.2f}x** (target <= 5x: "
                 f"{verdict(jpg_floor <= 5)}); {b_jpg[2] / b_jpg[1]:.0f} tiles per CPU second")  # fmt: skip
    lines.append(f"- 1% update / full build (WebP, PMTiles, wall, both in-process `build_tiles` calls): **{upd_ratio:.3f}** (target "
                 f"<= 0.05: {verdict(upd_ratio <= 0.05)}); update tiles equal a fresh full "
                 f"build's: {inc['equal']}")  # fmt: skip
    lines.append("")
    lines.append("| side | format | tiles | bytes | wall s | CPU s | tiles/s (wall) |")
    lines.append("|---|---|---|---|---|---|---|")
    for (side, fmt), (wall, cpu, n, size) in rows.items():
        lines.append(f"| {side} | {fmt} | {n} | {size:,} | {wall:.1f} | {cpu:.1f} | "
                     f"{n / wall:.1f} |")  # fmt: skip
    fw, fc = inc["full"]
    uw, uc = inc["update"]
    lines.append(f"| geobase full (product dom02, PMTiles) | webp | {inc['tiles']} | "
                 f"{inc['archive']:,} | {fw:.1f} | {fc:.1f} | {inc['tiles'] / fw:.1f} |")  # fmt: skip
    lines.append(f"| geobase --update (patch superseded) | webp | {inc['written']} rewritten | "
                 f"{inc['written_bytes']:,} (archive rewritten) | {uw:.1f} | {uc:.1f} | |")  # fmt: skip
    lines.append("")
    lines.append(f"Encode-only floors for {n_floor} tiles (Pillow, one process): PNG level 6 "
                 f"{floors['png']:.1f} s, WebP q75 {floors['webp']:.1f} s, JPEG q75 "
                 f"{floors['jpeg']:.2f} s CPU.")  # fmt: skip
    load = os.getloadavg()
    lines.append("")
    lines.append(f"- Source: synthetic {SIZE} x {SIZE} px RGB COG (JPEG), EPSG:4548, {RES} m; "
                 f"Web Mercator z{ZOOM}, average resampling, 2 processes each; gdal2tiles with "
                 "`-x` (skip blank tiles) and `--xyz`.")  # fmt: skip
    lines.append(f"- Machine: {platform.machine()}, {os.cpu_count()} CPUs visible, load average "
                 f"{load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} at the end (shared machine: "
                 "other engineers' jobs ran at the same time, so wall times are noisy); "
                 f"{subprocess.run([GDAL2TILES, '--version'], capture_output=True, text=True).stdout.strip()}.")  # fmt: skip
    lines.append("- Command: `.venv/bin/python bench/bench_tiles.py --write`")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
