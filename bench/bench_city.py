"""City-scale tile publishing: geobase against gdal2tiles and libvips on a 0.05 m mosaic.

Source: a seeded, synthetic 0.05 m orthophoto mosaic in EPSG:4548 around Shantou
(116.68E 23.35N): a grid of 4096 x 4096 px RGB files (204.8 m a side), each a JPEG-compressed
(quality 90, YCbCr) tiled COG with average overviews, as deliveries come. The scene is drawn
in map coordinates, so it runs on across file edges: a street grid (asphalt, lane marks),
blocks of buildings (roofs of several materials, texture, shadows), parks and trees,
fractal value noise at several scales and sensor noise. Made once under bench/out/city/.

Sides, at each size, Web Mercator, the same zooms and 2 processes each, in one run:

- geobase ``tiles build`` (the CLI) of the product that holds the files, JPEG (q75) and
  WebP (q60, gdal2tiles' bytes);
- gdal2tiles 3.6 (``-r average --xyz -x --processes=2``, WebP; 3.6 cannot write JPEG) on a
  gdalbuildvrt of the same files;
- libvips (pyvips, the ``pyvips-binary`` wheel): ``gdalwarp -r average`` of the VRT to
  EPSG:3857 at the base zoom's resolution on the tile grid (2 threads), then
  ``dzsave(layout="google")`` (2 threads), JPEG and WebP; both steps are counted.

Reported per side: tiles, tiles per CPU-second (CPU of the whole process tree,
``getrusage(RUSAGE_CHILDREN)``), wall, bytes, peak RSS of the process tree (psutil, sampled
every 50 ms), disk left by caches or intermediates, PSNR against ``gdalwarp -r average``
of the same tile's area (a seeded sample of tiles per zoom), and the city's time on two
cores extrapolated from tiles per CPU-second (16.7 M tiles: 12.5 M at z21 and the pyramid
above, the urban area of issue 17).

Also a lossless geobase side (PNG): the PSNR of the warp and pyramid before encoding.

Run: ``.venv/bin/python bench/bench_city.py [--files 4 16] [--repeat 3] [--write]``
(``--skip-lossless``, ``--merge`` to add sizes run separately, ``--from-json`` to report
the last run again).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "city"
PY = ROOT / ".venv" / "bin" / "python"
PY = PY if PY.exists() else Path(sys.executable)
GEOBASE = [str(PY), "-c", "import sys; from geobase.cli import main; sys.exit(main())"]
GDAL2TILES = shutil.which("gdal2tiles") or shutil.which("gdal2tiles.py")
SIDE_PX = 4096
RES = 0.05
LON, LAT = 116.68, 23.35
ZMIN, ZMAX = 12, 21
VIPS_ALIGN = 16  # the warped image is padded to z16 tile edges: dzsave's grid is the XYZ grid
CITY_TILES = 16.7e6
CITY_Z21 = 12.5e6
HALF = 20037508.342789244
PSNR_SAMPLES = 3
#: geobase's tiles before lossy encoding: the warp's quality (PSNR), run once per size
LOSSLESS = "geobase PNG (lossless: the warp)"


# --- the mosaic ------------------------------------------------------------------------


def _hash(ix: np.ndarray, iy: np.ndarray, salt: int) -> np.ndarray:
    """A uniform value in [0, 1) for each integer lattice point (deterministic)."""
    h = ix.astype(np.uint32) * np.uint32(374761393) + iy.astype(np.uint32) * np.uint32(668265263)
    h = (h + np.uint32(salt * 2654435761 % 2**32)) & np.uint32(0xFFFFFFFF)
    h = (h ^ (h >> np.uint32(13))) * np.uint32(1274126177)
    h = h ^ (h >> np.uint32(16))
    return (h & np.uint32(0xFFFFFF)).astype(np.float32) / np.float32(2**24)


def _value_noise(x: np.ndarray, y: np.ndarray, scale: float, salt: int) -> np.ndarray:
    gx, gy = x / scale, y / scale
    ix, iy = np.floor(gx), np.floor(gy)
    fx, fy = (gx - ix).astype(np.float32), (gy - iy).astype(np.float32)
    fx, fy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)
    ix, iy = ix.astype(np.int64), iy.astype(np.int64)
    a, b = _hash(ix, iy, salt), _hash(ix + 1, iy, salt)
    c, d = _hash(ix, iy + 1, salt), _hash(ix + 1, iy + 1, salt)
    return (a + (b - a) * fx) * (1 - fy) + (c + (d - c) * fx) * fy


def _fractal(x, y, scales, salt) -> np.ndarray:
    total, weight = 0.0, 0.0
    for k, s in enumerate(scales):
        w = 0.6**k
        total = total + w * _value_noise(x, y, s, salt + 17 * k)
        weight += w
    return total / weight - 0.5  # about -0.5..0.5


BX, BY, ROAD = 96.0, 72.0, 6.0  # block pitch (m) and road half-width (m)
ROOFS = np.array([[150, 72, 58], [128, 128, 124], [92, 118, 150], [205, 203, 196],
                  [176, 150, 112], [110, 98, 90]], np.float32)  # fmt: skip


def _buildings(x, y):
    """Building id (-1 outside any building) at map coordinates x, y."""
    bi, bj = np.floor(x / BX), np.floor(y / BY)
    lx, ly = x - bi * BX, y - bj * BY
    h0 = _hash(bi, bj, 1)
    h1 = _hash(bi, bj, 2)
    inset = ROAD + 2 + 8 * h1
    built = h0 < 0.72
    nx = 1 + np.floor(_hash(bi, bj, 3) * 3)  # 1..3 buildings across, 1..2 down
    ny = 1 + np.floor(_hash(bi, bj, 4) * 2)
    w, h = (BX - 2 * inset) / nx, (BY - 2 * inset) / ny
    u, v = (lx - inset) / w, (ly - inset) / h
    cu, cv = np.floor(u), np.floor(v)
    fu, fv = (u - cu) * w, (v - cv) * h
    inside = built & (u >= 0) & (v >= 0) & (cu < nx) & (cv < ny) & (fu > 1.5) & (fv > 1.5)
    ident = (bi * 7 + bj * 13 + cu * 3 + cv) % 1000003
    return np.where(inside, ident, -1.0), h0


def _scene(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """RGB (3, rows, cols) uint8 of the scene at map coordinates x, y (metres)."""
    ground = _fractal(x, y, (60, 23, 9, 3.1, 1.1), 11)
    fine = _fractal(x, y, (0.9, 0.37, 0.16, 0.09), 23)  # clutter, gravel, roof detail
    bid, h0 = _buildings(x, y)
    shade, _ = _buildings(x + 1.6, y - 1.2)  # sun from the south-west: shadows to the north-east
    park = (h0 >= 0.72) & (h0 < 0.9)
    img = np.empty((3, *x.shape), np.float32)
    # soil / pavement baseline
    base = np.array([138, 130, 116], np.float32)[:, None, None]
    img[:] = base + 50 * ground + 45 * fine
    # parks: grass and tree crowns
    crowns = _fractal(x, y, (4.0, 1.7, 0.7), 31)
    tree = park & (crowns > 0.05)
    grass = np.array([88, 118, 62], np.float32)[:, None, None] + 30 * ground + 40 * fine
    trees = np.array([46, 78, 40], np.float32)[:, None, None] + 60 * crowns + 20 * fine
    img = np.where(park, np.where(tree, trees, grass), img)
    # roofs
    roof_idx = (_hash(bid, bid * 3, 5) * len(ROOFS)).astype(int) % len(ROOFS)
    roof = ROOFS[roof_idx].transpose(2, 0, 1) + 40 * fine + 10 * ground
    ridge = np.sin(x * 2.1 + _hash(bid, bid, 6) * 6) * 6  # corrugation / tiles
    img = np.where(bid >= 0, roof + ridge, img)
    img = np.where((bid < 0) & (shade >= 0), img * 0.45, img)  # shadows
    # roads and marks
    lx, ly = x - np.floor(x / BX) * BX, y - np.floor(y / BY) * BY
    dx, dy = np.minimum(lx, BX - lx), np.minimum(ly, BY - ly)
    road = (dx < ROAD) | (dy < ROAD)
    asphalt = np.float32(88) + 22 * ground + 30 * fine
    img = np.where(road, asphalt, img)
    dash_x = (dx < 0.08) & (np.mod(y, 9.0) < 3.0) & (dy >= ROAD)
    dash_y = (dy < 0.08) & (np.mod(x, 9.0) < 3.0) & (dx >= ROAD)
    img = np.where(dash_x | dash_y, np.float32(226), img)
    img += rng.normal(0, 5.0, size=img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def origin() -> tuple[float, float]:
    from pyproj import Transformer

    e, n = Transformer.from_crs("EPSG:4490", "EPSG:4548", always_xy=True).transform(LON, LAT)
    return round(e, -2), round(n, -2)


def make_file(path: Path, col: int, row: int, seed: int) -> Path:
    """One 4096 x 4096 px delivery: JPEG q90 YCbCr tiled COG with average overviews."""
    import rasterio
    import rasterio.shutil
    from affine import Affine
    from rasterio.io import MemoryFile
    from rasterio.windows import Window

    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    e0, n0 = origin()
    left, top = e0 + col * SIDE_PX * RES, n0 - row * SIDE_PX * RES
    transform = Affine(RES, 0, left, 0, -RES, top)
    rng = np.random.default_rng([seed, col, row])
    strip = 512
    with MemoryFile() as mem:
        with mem.open(driver="GTiff", width=SIDE_PX, height=SIDE_PX, count=3, dtype="uint8",
                      crs="EPSG:4548", transform=transform, tiled=True, blockxsize=512,
                      blockysize=512) as dst:  # fmt: skip
            cols = left + (np.arange(SIDE_PX) + 0.5) * RES
            for r0 in range(0, SIDE_PX, strip):
                rows = top - (np.arange(r0, r0 + strip) + 0.5) * RES
                x, y = np.meshgrid(cols, rows)
                dst.write(_scene(x, y, rng), window=Window(0, r0, SIDE_PX, strip))
        with mem.open() as src:
            tmp = path.with_suffix(".partial.tif")
            rasterio.shutil.copy(src, tmp, driver="COG", COMPRESS="JPEG", QUALITY="90",
                                 BLOCKSIZE="512", OVERVIEW_RESAMPLING="AVERAGE",
                                 NUM_THREADS="1")  # fmt: skip
            tmp.rename(path)
    return path


def mosaic(n_files: int, seed: int = 0) -> list[Path]:
    """The first n_files of the city grid (a square of ceil(sqrt(n)) files a side)."""
    side = math.isqrt(n_files)
    if side * side != n_files:
        raise SystemExit(f"--files {n_files}: use a square number (4, 9, 16, ...)")
    folder = OUT / "src"
    folder.mkdir(parents=True, exist_ok=True)
    return [make_file(folder / f"dom005_{r:02d}_{c:02d}.tif", c, r, seed)
            for r in range(side) for c in range(side)]  # fmt: skip


# --- running and measuring ---------------------------------------------------------------


def run_measured(cmds: list[list[str]], env=None) -> dict:
    """Run commands in turn; wall, CPU of the children, peak RSS of the process tree."""
    import psutil

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    peak = 0
    for cmd in cmds:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        done = threading.Event()
        stderr: list[bytes] = []
        reader = threading.Thread(target=lambda p=proc, e=stderr: e.append(p.stderr.read()))
        reader.start()
        root = psutil.Process(proc.pid)
        while not done.is_set():
            total = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                procs = []
            for p in procs:
                with contextlib.suppress(psutil.Error):  # a child that just ended
                    total += p.memory_info().rss
            peak = max(peak, total)
            if proc.poll() is not None:
                done.set()
            else:
                time.sleep(0.05)
        reader.join()
        if proc.returncode:
            raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): "
                             f"{b''.join(stderr).decode(errors='replace')[-2000:]}")  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "rss": peak}


def tile_files(folder: Path, ext: str, layout: str = "zxy") -> dict[tuple[int, int, int], Path]:
    out = {}
    for f in folder.glob(f"*/*/*.{ext}"):
        a, b, c = int(f.parent.parent.name), int(f.parent.name), int(f.stem)
        out[(a, b, c) if layout == "zxy" else (a, c, b)] = f
    return out


def folder_size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if folder.exists() else 0


def merc_bounds(vrt: Path) -> tuple[float, float, float, float]:
    import rasterio
    from rasterio.warp import transform_bounds

    with rasterio.open(vrt) as src:
        return transform_bounds(src.crs, "EPSG:3857", *src.bounds, densify_pts=21)


def tile_span(z: int) -> float:
    return 2 * HALF / 2**z


def tile_bounds(z, x, y):
    s = tile_span(z)
    return -HALF + x * s, HALF - (y + 1) * s, -HALF + (x + 1) * s, HALF - y * s


def vips_commands(vrt: Path, work: Path, fmt: str) -> tuple[list[list[str]], Path, Path]:
    """gdalwarp to the z21 grid (padded to z16 tile edges), then pyvips dzsave."""
    west, b, r, t = merc_bounds(vrt)
    span, res = tile_span(VIPS_ALIGN), tile_span(ZMAX) / 256
    x0, y0 = math.floor((west + HALF) / span), math.floor((HALF - t) / span)
    x1, y1 = math.ceil((r + HALF) / span), math.ceil((HALF - b) / span)
    te = (-HALF + x0 * span, HALF - y1 * span, -HALF + x1 * span, HALF - y0 * span)
    warped = work / "warped_3857.tif"
    out = work / f"vips_{fmt}"
    warp = ["gdalwarp", "-q", "-overwrite", "-t_srs", "EPSG:3857", "-r", "average",
            "-tr", repr(res), repr(res), "-te", *map(repr, te), "-dstalpha", "-multi",
            "-wo", "NUM_THREADS=2", "-co", "TILED=YES", "-co", "BIGTIFF=IF_SAFER",
            str(vrt), str(warped)]  # fmt: skip
    suffix = ".jpg[Q=75]" if fmt == "jpeg" else ".webp[Q=75]"
    bands = "im = im.extract_band(0, n=3)\n" if fmt == "jpeg" else ""
    code = (f"import pyvips\nim = pyvips.Image.new_from_file({str(warped)!r}, access='sequential')\n"
            f"{bands}im.dzsave({str(out)!r}, layout='google', tile_size=256, overlap=0, "
            f"suffix={suffix!r}, skip_blanks=0, background=0, depth='onetile')\n")  # fmt: skip
    # the grid of vips' deepest level starts at z21 tile (x0, y0) * 2**(21 - 16)
    meta = {"x0": x0, "y0": y0}
    vips_commands.meta = meta  # type: ignore[attr-defined]
    return [warp, [str(PY), "-c", code]], warped, out


def vips_tiles(out: Path, ext: str) -> dict[tuple[int, int, int], Path]:
    """dzsave's google layout z/y/x -> XYZ keys for the levels on the XYZ grid (>= z16)."""
    meta = vips_commands.meta  # type: ignore[attr-defined]
    raw = tile_files(out, ext, layout="zyx")
    deepest = max(k[0] for k in raw)
    result = {}
    for (lz, x, y), f in raw.items():
        z = ZMAX - (deepest - lz)
        if z < VIPS_ALIGN:
            continue
        d = z - VIPS_ALIGN
        result[(z, meta["x0"] * 2**d + x, meta["y0"] * 2**d + y)] = f
    return result


# --- quality -----------------------------------------------------------------------------


def reference(vrt: Path, key, work: Path) -> tuple[np.ndarray, np.ndarray]:
    """gdalwarp -r average of the tile's area: RGB (256, 256, 3) and full-coverage mask."""
    import rasterio

    ref = work / "ref.tif"
    # -ovr NONE: the area average of the full-resolution pixels (by default gdalwarp reads
    # the sources' JPEG overviews below full resolution, a reference of its own making)
    subprocess.run(["gdalwarp", "-q", "-overwrite", "-t_srs", "EPSG:3857", "-r", "average",
                    "-ovr", "NONE", "-te", *map(repr, tile_bounds(*key)), "-ts", "256", "256",
                    "-dstalpha", str(vrt), str(ref)], check=True)  # fmt: skip
    with rasterio.open(ref) as src:
        data = src.read()
    mask = data[3] == 255
    # one pixel in from the data's edge: partly covered pixels are weighted differently
    mask[1:-1, 1:-1] &= mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]
    return np.moveaxis(data[:3], 0, -1).astype(np.float64), mask


def psnr(tile: Path, ref: np.ndarray, mask: np.ndarray) -> float:
    from PIL import Image

    img = np.asarray(Image.open(tile).convert("RGB"), np.float64)
    mse = float(((img - ref) ** 2)[mask].mean())
    return 10 * math.log10(255**2 / mse) if mse > 0 else math.inf


def sample_keys(tiles: dict, vrt: Path, work: Path, seed: int) -> dict:
    """Per zoom, up to PSNR_SAMPLES tiles (all sides have them) with their references."""
    rng = np.random.default_rng(seed)
    by_zoom: dict[int, list] = {}
    for key in sorted(tiles):
        by_zoom.setdefault(key[0], []).append(key)
    chosen = {}
    for keys in by_zoom.values():
        picked = 0
        for i in rng.permutation(len(keys)):
            ref, mask = reference(vrt, keys[i], work)
            if mask.mean() < 0.25:
                continue
            chosen[keys[i]] = (ref, mask)
            picked += 1
            if picked == PSNR_SAMPLES:
                break
    return chosen


# --- one size ------------------------------------------------------------------------------


def insert_product(ws_dir: Path, files: list[Path]) -> None:
    import rasterio
    import shapely
    from rasterio.warp import transform_bounds

    from geobase.store import Workspace, utc_now

    with Workspace.open(ws_dir) as ws, ws.store.transaction() as tx:
        for path in files:
            with rasterio.open(path) as src:
                geom = shapely.box(*transform_bounds(src.crs, "EPSG:4490", *src.bounds))
            tx.insert("datasets", {
                "dataset_id": path.stem, "version": 1, "product": "dom005",
                "kind": "imagery", "acquired_end": "2025-01-01", "ingested_at": utc_now(),
                "classification": "public", "path": str(path), "checksum": path.stem,
                "geom": tx.geom(shapely.MultiPolygon([geom]), 4490)})  # fmt: skip


def run_size(n_files: int, repeat: int, zoom: str, lossless: bool = True) -> dict:
    files = mosaic(n_files)
    work = OUT / f"run{n_files}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    vrt = work / "mosaic.vrt"
    subprocess.run(["gdalbuildvrt", "-q", str(vrt), *map(str, files)], check=True)
    ws_dir = work / "ws"
    subprocess.run([*GEOBASE, "init", str(ws_dir)], check=True, capture_output=True)
    insert_product(ws_dir, files)
    env = {**os.environ, "GDAL_CACHEMAX": "256", "VIPS_CONCURRENCY": "2"}
    z0, z1 = zoom.split("-")

    def geobase(fmt):
        out = ws_dir / "tiles" / f"gb_{fmt}"  # a recorded build's output lies in the workspace
        cache = ws_dir / "tiles" / ".cache"
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)
        cmd = [*GEOBASE, "-q", "tiles", "build", "dom005", "--zoom", zoom, "--format", fmt,
               "--workers", "2", "-o", str(out), "--workspace", str(ws_dir)]  # fmt: skip
        m = run_measured([cmd], env)
        m["cache"] = folder_size(cache)
        return m, tile_files(out, {"jpeg": "jpg"}.get(fmt, fmt))

    def gdal2tiles(fmt):
        out = work / f"g2t_{fmt}"
        shutil.rmtree(out, ignore_errors=True)
        cmd = [GDAL2TILES, "-q", "-r", "average", "--xyz", "-z", f"{z0}-{z1}", "-w", "none",
               "-x", "--processes=2", "--tiledriver=WEBP", str(vrt), str(out)]  # fmt: skip
        m = run_measured([cmd], env)
        m["cache"] = 0
        return m, tile_files(out, "webp")

    def vips(fmt):
        cmds, warped, out = vips_commands(vrt, work, fmt)
        shutil.rmtree(out, ignore_errors=True)
        m = run_measured(cmds, env)
        m["cache"] = warped.stat().st_size  # the warped intermediate
        warped.unlink()
        return m, vips_tiles(out, "jpg" if fmt == "jpeg" else "webp")

    sides = {
        LOSSLESS: lambda: geobase("png"),
        "geobase JPEG (q75)": lambda: geobase("jpeg"),
        "geobase WebP (q60, equal bytes)": lambda: geobase("webp"),
        "gdal2tiles WebP (q75)": lambda: gdal2tiles("webp"),
        "libvips JPEG (gdalwarp + dzsave, Q75)": lambda: vips("jpeg"),
        "libvips WebP (gdalwarp + dzsave, Q75)": lambda: vips("webp"),
    }
    runs: dict[str, list] = {k: [] for k in sides}
    tiles: dict[str, dict] = {}
    for i in range(repeat):  # sides alternate; every run is timed
        for name, fn in sides.items():
            if name == LOSSLESS and (i > 0 or not lossless):
                continue  # the warp's own quality: once is enough
            m, t = fn()
            if name.startswith("libvips"):
                # dzsave's levels above z16 are off the XYZ grid (not kept): counted as the
                # tiles above z16 that gdal2tiles made, the work those levels stand for
                t_g2t = tiles["gdal2tiles WebP (q75)"]
                m["tiles"] = len(t) + sum(1 for k in t_g2t if k[0] < VIPS_ALIGN)
            else:
                m["tiles"] = len(t)
            m["bytes"] = sum(f.stat().st_size for f in t.values())
            runs[name].append(m)
            tiles[name] = t
            print(f"{n_files} files  {name}: {m['tiles']} tiles, {m['wall']:.1f} s wall, "
                  f"{m['cpu']:.1f} s CPU, {m['rss'] / 2**20:.0f} MB", flush=True)  # fmt: skip
    runs = {k: v for k, v in runs.items() if v}
    common = set.intersection(*(set(t) for t in tiles.values()))
    refs = sample_keys({k: None for k in common}, vrt, work, seed=n_files)
    quality = {}
    for name, t in tiles.items():
        per_zoom: dict[int, list[float]] = {}
        for key, (ref, mask) in refs.items():
            per_zoom.setdefault(key[0], []).append(psnr(t[key], ref, mask))
        quality[name] = {z: min(v) for z, v in per_zoom.items()}
    z21 = {name: sum(1 for k in t if k[0] == ZMAX) for name, t in tiles.items()}
    return {"files": n_files, "runs": runs, "quality": quality, "z21": z21,
            "samples": len(refs)}  # fmt: skip


# --- report ---------------------------------------------------------------------------------


def median_run(runs: list[dict]) -> dict:
    """The run of median CPU time (the lower middle one of an even count)."""
    ordered = sorted(runs, key=lambda m: m["cpu"])
    return ordered[(len(ordered) - 1) // 2]


def ratios(res: dict) -> str:
    """The issue's targets, from the median runs: tiles per CPU-second and bytes."""

    def side(prefix: str) -> dict | None:
        name = next((n for n in res["runs"] if n.startswith(prefix)), None)
        return median_run(res["runs"][name]) if name else None

    def tput(m: dict) -> float:
        return m["tiles"] / m["cpu"]

    gj, gw = side("geobase JPEG"), side("geobase WebP")
    g2t, vj, vw = side("gdal2tiles WebP"), side("libvips JPEG"), side("libvips WebP")
    parts = []
    if gj:
        parts.append(f"geobase JPEG {tput(gj):.0f} tiles per CPU-s (target 300)")
    if gw and g2t:
        parts.append(f"geobase WebP / gdal2tiles WebP {tput(gw) / tput(g2t):.2f}x tiles per "
                     f"CPU-s (target 5x at equal bytes) at {gw['bytes'] / g2t['bytes']:.2f}x "
                     "the bytes")  # fmt: skip
    if gj and vj:
        parts.append(f"geobase JPEG / libvips JPEG {tput(gj) / tput(vj):.2f}x")
    if gw and vw:
        parts.append(f"geobase WebP / libvips WebP {tput(gw) / tput(vw):.2f}x")
    return "Ratios: " + "; ".join(parts) + "."


def report(results: list[dict], repeat: int, zoom: str, command: str, commit: str,
           date: str, load: list[float]) -> str:  # fmt: skip
    lines = []
    for res in results:
        n = res["files"]
        lines.append(f"**{n} files** ({n} x 4096 x 4096 px, {n * 4096**2 * RES**2 / 1e4:.1f} ha; "
                     f"z{zoom}; the median of {repeat} runs by CPU time, all runs' CPU s "
                     "listed; the lossless side once):")  # fmt: skip
        lines.append("")
        lines.append("| side | tiles | tiles per CPU-s | CPU s (runs) | wall s | bytes | "
                     "bytes/tile | PSNR dB min per zoom (z→dB) | peak RSS | cache on disk | "
                     "city on 2 cores |")  # fmt: skip
        lines.append("|---|---:|---:|---|---:|---:|---:|---|---:|---:|---:|")
        for name, runs in res["runs"].items():
            best = median_run(runs)
            tput = best["tiles"] / best["cpu"]
            city_h = CITY_TILES / tput / 2 / 3600
            q = res["quality"][name]
            qtext = ", ".join(f"{z}: {v:.1f}" for z, v in sorted(q.items()))
            cpus = ", ".join(f"{m['cpu']:.1f}" for m in runs)
            lines.append(f"| {name} | {best['tiles']:,} | {tput:.1f} | {cpus} | "
                         f"{best['wall']:.1f} | {best['bytes']:,} | "
                         f"{best['bytes'] / best['tiles'] / 1024:.1f} KB | {qtext} | "
                         f"{best['rss'] / 2**20:,.0f} MB | {best['cache'] / 2**20:,.1f} MB | "
                         f"{city_h:.1f} h |")  # fmt: skip
        lines.append("")
        lines.append(ratios(res))
        lines.append("")
        z21 = ", ".join(f"{k.split(' (')[0]} {v:,}" for k, v in res["z21"].items())
        lines.append(f"z21 tiles per side: {z21}; PSNR on {res['samples']} sampled tiles "
                     f"(up to {PSNR_SAMPLES} a zoom, among those every side made).")  # fmt: skip
        lines.append("")
    if len(results) > 1:
        small, large = results[0], results[-1]

        def per_tile(res, name):
            best = median_run(res["runs"][name])
            return best["cpu"] / best["tiles"]

        growth = ", ".join(f"{name.split(' (')[0]} {per_tile(large, name) / per_tile(small, name):.2f}"
                           for name in large["runs"] if name in small["runs"])  # fmt: skip
        lines.append(f"CPU per tile, {large['files']} files / {small['files']} files "
                     f"(1.00: cost grows with the tiles only): {growth}.")  # fmt: skip
        lines.append("")
    g2t = subprocess.run([GDAL2TILES, "--version"], capture_output=True, text=True).stdout.strip()
    import pyvips

    lines += [
        "- Source: seeded synthetic 0.05 m mosaic (bench_city.py: streets, buildings with "
        "shadows, parks, fractal texture, sensor noise), 4096 x 4096 px RGB files, JPEG q90 "
        f"YCbCr tiled COGs with overviews, EPSG:4548 at {LON}E {LAT}N.",
        f"- Zooms z{zoom} Web Mercator on every side, 2 processes (or threads) each. "
        "gdal2tiles: `-r average --xyz -x --processes=2 --tiledriver=WEBP` on a gdalbuildvrt. "
        "libvips: `gdalwarp -r average -multi -wo NUM_THREADS=2` to EPSG:3857 on the z21 grid "
        f"(padded to z{VIPS_ALIGN} tile edges), then pyvips `dzsave(layout='google')` with "
        f"VIPS_CONCURRENCY=2, blank tiles skipped; its levels above z{VIPS_ALIGN} are off "
        "the XYZ grid: its tile count takes gdal2tiles' count there; cache = the warped "
        "intermediate (deleted after each run). geobase: cache = tiles/.cache after the build.",
        "- CPU: user + system of the whole process tree (getrusage RUSAGE_CHILDREN), "
        "start-up included; peak RSS: sum over the process tree, sampled every 50 ms. "
        f"City: {CITY_TILES / 1e6:.1f} M tiles ({CITY_Z21 / 1e6:.1f} M at z21) / "
        "(tiles per CPU-s x 2 cores), a lower bound (perfect use of both cores).",
        "- PSNR: each sampled tile against `gdalwarp -r average -ovr NONE -ts 256 256` of "
        "the tile's area from the VRT (the area average of the full-resolution pixels; "
        "without -ovr NONE gdalwarp reads the sources' JPEG q90 overviews, which cost every "
        "side 3-6 dB at z16-18 in earlier runs), over the pixels fully covered by data; "
        "tiles less than a quarter covered are not sampled (here all of z12-15). The "
        f"lossless side ({LOSSLESS}) measures the warp and pyramid alone; the JPEG and "
        "WebP sides add their encoding's loss, which at z16-18 (texture finer than q75 "
        "JPEG or q60 WebP keep) caps every side, libvips' gdalwarp average included, "
        "below 38 dB.",
        "- geobase's warp: the area-weighted average of the source pixels under each base "
        "pixel, footprint edges on 1/64 source pixel, summed in integers (a numba kernel, "
        "tiles/kernels.py; within one grey level of the exact float average); "
        "`GEOBASE_WARP=reference` makes the same pyramid with rasterio's reproject (not "
        "benched here). The sources' JPEG tiles are decoded by libjpeg-turbo (Pillow; "
        "tiles/jpegtiles.py), GDAL's libjpeg 9 with `GEOBASE_JPEG_DECODER=gdal`; gdalwarp, "
        "the PSNR reference, decodes with GDAL's.",
        f"- Machine: {platform.machine()}, {os.cpu_count()} CPUs visible, load average "
        f"{load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} at the end (shared with other "
        "sessions' jobs: wall times are noisy, compare CPU seconds); "
        f"{g2t}; libvips {pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}.",
        f"- geobase at commit {commit}; run ended {date} UTC.",
        f"- Command: `{command}`",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--zoom", default=f"{ZMIN}-{ZMAX}")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--skip-lossless", action="store_true",
                        help=f"no {LOSSLESS!r} side (its PNG encoding costs more than the "
                        "other sides together)")  # fmt: skip
    parser.add_argument("--merge", action="store_true",
                        help="keep the saved results of the sizes not run now (each size's "
                        "sides still run together)")  # fmt: skip
    parser.add_argument("--from-json", action="store_true",
                        help="report the last run's saved bench/out/city/results.json")  # fmt: skip
    args = parser.parse_args()
    if GDAL2TILES is None:
        print("gdal2tiles not found (Debian gdal-bin)", file=sys.stderr)
        return 2
    if not args.zoom.endswith(f"-{ZMAX}"):
        print(f"--zoom must end at the native z{ZMAX}", file=sys.stderr)
        return 2
    saved = OUT / "results.json"
    if args.from_json:
        state = json.loads(saved.read_text(encoding="utf-8"))
    else:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()  # fmt: skip
        argv = [a for a in sys.argv[1:] if a not in ("--write", "--merge")]
        results = [run_size(n, args.repeat, args.zoom, not args.skip_lossless) for n in args.files]
        command = " ".join(["bench/bench_city.py", *argv, "--write"])
        if args.merge and saved.exists():
            before = json.loads(saved.read_text(encoding="utf-8"))
            results += [r for r in before["results"] if r["files"] not in args.files]
            results.sort(key=lambda r: r["files"])
            command = f"{before['command']}` then `.venv/bin/python {command} --merge"
        state = {"results": results,
                 "command": command,
                 "repeat": args.repeat, "zoom": args.zoom, "commit": commit,
                 "date": f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M}", "load": os.getloadavg()}  # fmt: skip
        saved.write_text(json.dumps(state), encoding="utf-8")
    for res in state["results"]:  # JSON keys are text
        res["quality"] = {k: {int(z): v for z, v in q.items()} for k, q in res["quality"].items()}
    text = report(state["results"], state["repeat"], state["zoom"],
                  f".venv/bin/python {state['command']}", state["commit"], state["date"], state["load"])  # fmt: skip
    print(text)
    if args.write:
        sys.path.insert(0, str(ROOT / "bench"))
        from results import update_section

        update_section("city", "city: 0.05 m mosaic, geobase vs gdal2tiles and libvips", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
