"""Tile builds: stores, readers, formats, seams, determinism, incremental updates, bad input."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from PIL import Image
from rasterio.warp import transform_bounds

from geobase.errors import (
    NotFoundError,
    OutputExistsError,
    SourceReadError,
    TileBuildError,
    TileSettingsError,
    TileStoreError,
)
from geobase.store import utc_now
from geobase.tiles.build import build_tiles, last_pyramid, list_pyramids
from geobase.tiles.render import TILE, decode_terrain_rgb, grid, source_ref, warp_block
from geobase.tiles.stores import open_pyramid
from geobase.tiles.tms import TMS
from tests.conftest import run_cli

# a patch of Shantou in CGCS2000 / 3-degree GK zone 39 without prefix (EPSG:4548)
E0, N0 = 468_000.0, 2_586_000.0


@pytest.fixture
def workspace(tmp_path):
    """A fresh workspace whose data root is ``tmp_path``: the pyramids these tests write
    beside their sources lie under it, as a recorded build's output must."""
    from geobase.store import Workspace

    ws = Workspace.init(tmp_path / "ws", name="test", data_root=tmp_path)
    yield ws
    ws.close()


def make_raster(path, *, size=(600, 500), res=2.0, origin=(E0, N0), bands=3, dtype="uint8",
                nodata=0, seed=0, crs="EPSG:4548", collar=True):  # fmt: skip
    """A smooth, textured raster with a nodata collar (like a tilted scene)."""
    h, w = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    planes = []
    for b in range(bands):
        base = 60 + 50 * np.sin(xx / (40 + 7 * b) + seed) + 40 * np.cos(yy / (55 + 5 * b))
        planes.append(base + rng.normal(0, 6, size=(h, w)))
    data = np.stack(planes)
    if dtype == "uint8":
        data = np.clip(data, 1, 254).astype(np.uint8)
    else:
        data = (data * 3.7 - 50).astype(dtype)
    if collar:
        cut = (xx + 0.4 * yy) < 60
        data[:, cut] = nodata
    profile = dict(driver="GTiff", width=w, height=h, count=bands, dtype=dtype, crs=crs,
                   transform=Affine(res, 0, origin[0], 0, -res, origin[1]), nodata=nodata, tiled=True,
                   blockxsize=256, blockysize=256)  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def footprint_4490(path):
    with rasterio.open(path) as src:
        return shapely.box(*transform_bounds(src.crs, "EPSG:4490", *src.bounds, densify_pts=21))


def add_dataset(ws, dataset_id, version, path, *, product="dom02", kind="imagery",
                acquired="2024-01-01", classification="public"):  # fmt: skip
    geom = footprint_4490(path)
    with ws.store.transaction() as tx:
        tx.insert(
            "datasets",
            {
                "dataset_id": dataset_id, "version": version, "product": product, "kind": kind,
                "acquired_end": acquired, "ingested_at": utc_now(),
                "classification": classification, "path": str(path),
                "checksum": f"{dataset_id}-{version}",
                "geom": tx.geom(shapely.MultiPolygon([geom]), 4490),
            },
        )  # fmt: skip


def remove_dataset(ws, dataset_id, version):
    with ws.store.transaction() as tx:
        tx.insert("dataset_events", {"dataset_id": dataset_id, "version": version,
                                     "event": "removed", "at": utc_now()})  # fmt: skip


def all_tiles(path):
    with open_pyramid(path) as reader:
        return {key: reader.get_tile(*key) for key in reader.tiles()}


def rgba(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))


@pytest.fixture
def ortho(tmp_path):
    return make_raster(tmp_path / "ortho.tif")


# --- stores and readers --------------------------------------------------------------


@pytest.mark.parametrize(
    ("out", "tms", "fmt"),
    [
        ("pyr", "WebMercatorQuad", "png"),
        ("pyr.mbtiles", "WebMercatorQuad", "jpeg"),
        ("pyr.pmtiles", "CGCS2000Quad", "webp"),
        ("pyr_c", "CGCS2000Quad", "png"),
    ],
)
def test_build_each_store(workspace, ortho, tmp_path, out, tms, fmt):
    target = tmp_path / out
    rec = build_tiles(workspace, str(ortho), target, tms=tms, fmt=fmt, workers=1)
    tiles = all_tiles(target)
    assert rec["tile_count"] == len(tiles) > 0
    assert rec["bytes"] == sum(len(v) for v in tiles.values())
    assert set(range(rec["minzoom"], rec["maxzoom"] + 1)) == {z for z, _, _ in tiles}
    # default zooms from the 2 m data: the base zoom's pixels are about 2 m
    t = TMS.get(tms)
    g = grid(t, rec["maxzoom"])
    metres = g.res * (111_320 if tms == "CGCS2000Quad" else 0.92)
    assert 0.7 < metres < 3.2
    with open_pyramid(target) as reader:
        assert reader.tms.id == tms and reader.format == fmt
        assert reader.tilejson["minzoom"] == rec["minzoom"]
        assert reader.tilejson["tilematrixset"] == tms
        w, s, e, n = reader.tilejson["bounds"]
        assert 116.6 < w < e < 116.8 and 23.3 < s < n < 23.5
        z, x, y = next(iter(tiles))
        assert reader.get_tile(z, x, y) == tiles[(z, x, y)]
        assert reader.get_tile(z, x + 50, y + 50) is None
    # every stored tile is where morecantile says the data is
    lon, lat = (w + e) / 2, (s + n) / 2
    centre = t.tile(lon, lat, rec["maxzoom"])
    assert (centre.z, centre.x, centre.y) in tiles
    # recorded in the workspace
    row = list_pyramids(workspace).set_index("path").loc[rec["path"]]
    assert row["tile_count"] == rec["tile_count"] and row["tms"] == tms
    assert row["classification"] == "internal"  # a bare file: not public by default
    assert not list(tmp_path.glob("*.partial-*"))


def test_mbtiles_layout_follows_the_spec(workspace, ortho, tmp_path):
    out = tmp_path / "a.mbtiles"
    build_tiles(workspace, str(ortho), out, fmt="png", workers=1)
    db = sqlite3.connect(out)
    meta = dict(db.execute("SELECT name, value FROM metadata"))
    assert meta["format"] == "png" and len(meta["bounds"].split(",")) == 4
    z, col, row = db.execute("SELECT zoom_level, tile_column, tile_row FROM tiles").fetchone()
    db.close()
    with open_pyramid(out) as reader:  # TMS rows on disk, XYZ through the reader
        assert reader.get_tile(z, col, (1 << z) - 1 - row) is not None


def test_nodata_transparent_or_filled(workspace, ortho, tmp_path):
    build_tiles(workspace, str(ortho), tmp_path / "p", fmt="png", zoom=(17, 17), workers=1)
    build_tiles(workspace, str(ortho), tmp_path / "j", fmt="jpeg", zoom=(17, 17), workers=1)
    png, jpg = all_tiles(tmp_path / "p"), all_tiles(tmp_path / "j")
    assert png.keys() == jpg.keys()
    partial = [k for k, v in png.items() if (rgba(v)[..., 3] == 0).any()]
    assert partial
    a = rgba(png[partial[0]])
    b = rgba(jpg[partial[0]])
    hole = a[..., 3] == 0
    assert set(np.unique(a[..., 3])) <= {0, 255}
    assert (b[hole][:, :3] > 240).mean() > 0.97  # white fill (JPEG ringing at edges aside)


def test_blank_tiles_are_skipped(workspace, tmp_path):
    # a raster that is all nodata except one corner block
    path = make_raster(tmp_path / "sparse.tif", size=(1024, 1024), collar=False)
    with rasterio.open(path, "r+") as dst:
        data = dst.read()
        data[:, 100:, :] = 0
        data[:, :, 100:] = 0
        dst.write(data)
    rec = build_tiles(workspace, str(path), tmp_path / "s", zoom=(18, 18), workers=1)
    g = grid(TMS.get("WebMercatorQuad"), 18)
    with rasterio.open(path) as src:
        rng = g.tile_range(transform_bounds(src.crs, "EPSG:3857", *src.bounds))
    assert rec["tile_count"] < (rng[2] - rng[0]) * (rng[3] - rng[1]) / 4
    for data in all_tiles(tmp_path / "s").values():
        assert rgba(data)[..., 3].any()


# --- rendering ---------------------------------------------------------------------------


@pytest.mark.parametrize("tms", ["WebMercatorQuad", "CGCS2000Quad"])
def test_no_seams_mosaic_equals_single_warp(workspace, ortho, tmp_path, tms):
    """Neighbouring tiles from different windows, mosaicked, equal one warp of their area."""
    t = TMS.get(tms)
    z = 17 if tms == "WebMercatorQuad" else 18
    out = tmp_path / "seam"
    build_tiles(workspace, str(ortho), out, tms=tms, zoom=(z, z), fmt="png", block=2, workers=1)
    tiles = all_tiles(out)
    xs = sorted({x for _, x, _ in tiles})
    ys = sorted({y for _, _, y in tiles})
    # a 2 x 2 group straddling window edges (block=2: windows start at even tiles)
    x0 = next(x for x in xs if x % 2 == 1 and x + 1 in xs)
    y0 = next(y for y in ys if y % 2 == 1 and y + 1 in ys)
    mosaic = np.zeros((2 * TILE, 2 * TILE, 4), np.uint8)
    for dx in (0, 1):
        for dy in (0, 1):
            data = tiles.get((z, x0 + dx, y0 + dy))
            if data is not None:
                mosaic[dy * TILE : (dy + 1) * TILE, dx * TILE : (dx + 1) * TILE] = rgba(data)
    g = grid(t, z)
    # one warp of the 2 x 2 area, same method (k x k nearest samples, box mean), one request
    ref = source_ref(str(ortho), t.rasterio_crs)
    data, mask = warp_block([ref], t.rasterio_crs, g.transform(x0, y0), 2 * TILE, 2 * TILE,
                            "rgb", 3, anchor=(g.left, g.top))  # fmt: skip
    single = np.moveaxis(np.concatenate([data, mask[None].astype(np.uint8) * 255]), 0, -1)
    assert (mosaic[..., 3] > 0).sum() > 10_000
    # the warp's lattice is fixed to the zoom's pixel grid: no seam, not one byte differs
    assert np.array_equal(mosaic, single)


@pytest.mark.parametrize(
    ("which", "z", "mode"),
    [("ortho", 17, "rgb"), ("ortho", 17, "terrain-rgb"), ("landsat", 5, "rgb"),
     ("landsat", 6, "terrain-rgb")],
)  # fmt: skip
def test_tile_warped_alone_equals_the_tile_cut_from_a_large_warp(
    workspace, ortho, real_data, which, z, mode
):
    """Any request (a lone tile, an odd pixel window, a big block) gives the same bytes;
    landsat at z5/z6 takes the reduced-source path (> 4 source px per base px)."""
    t = TMS.get("WebMercatorQuad")
    g = grid(t, z)
    crs = t.rasterio_crs
    path = str(ortho) if which == "ortho" else str(real_data / "RGB.byte.tif")
    ref = source_ref(path, crs)
    x0, y0, _, _ = g.tile_range(ref.bounds)
    ch = 3 if mode == "rgb" else 1
    anchor = (g.left, g.top)
    n = 3
    big, big_mask = warp_block([ref], crs, g.transform(x0, y0), n * TILE, n * TILE, mode, ch,
                               anchor=anchor)  # fmt: skip
    assert big_mask.sum() > 1000
    for i, j in ((0, 0), (1, 0), (0, 1), (2, 2)):
        one, one_mask = warp_block([ref], crs, g.transform(x0 + i, y0 + j), TILE, TILE, mode, ch,
                                   anchor=anchor)  # fmt: skip
        cut = (slice(j * TILE, (j + 1) * TILE), slice(i * TILE, (i + 1) * TILE))
        assert np.array_equal(one_mask, big_mask[cut])
        assert np.array_equal(one, big[(slice(None), *cut)])
    # a window that starts off the lattice and off the tiles (37 px in, 333 x 301 px)
    odd, odd_mask = warp_block([ref], crs, g.transform(x0, y0) @ Affine.translation(37, 45),
                               333, 301, mode, ch, anchor=anchor)  # fmt: skip
    cut = (slice(45, 45 + 301), slice(37, 37 + 333))
    assert odd_mask.any()
    assert np.array_equal(odd_mask, big_mask[cut])
    assert np.array_equal(odd, big[(slice(None), *cut)])


def test_elevations_keep_every_pixel_at_the_most_samples(tmp_path):
    """At k = 16 (256 samples a pixel) the float path counts its valid samples without
    overflowing: a DEM keeps the same valid pixels as imagery from the same raster."""
    from geobase.tiles.render import oversample

    src = make_raster(tmp_path / "dem.tif", size=(600, 600), res=0.565, dtype="float32",
                      bands=1, nodata=-9999)  # fmt: skip
    t = TMS.get("WebMercatorQuad")
    g = grid(t, 14)
    crs = t.rasterio_crs
    ref = source_ref(str(src), crs)
    assert oversample(ref, 600, 600, g.res) == (16, 1)
    x0, y0, x1, y1 = g.tile_range(ref.bounds)
    args = ([ref], crs, g.transform(x0, y0), (x1 - x0) * TILE, (y1 - y0) * TILE)
    _, dem_mask = warp_block(*args, "terrain-rgb", 1, anchor=(g.left, g.top))
    _, rgb_mask = warp_block(*args, "rgb", 3, anchor=(g.left, g.top))
    assert rgb_mask.sum() > 200
    assert np.array_equal(dem_mask, rgb_mask)


@pytest.mark.parametrize(("z", "mode"), [(12, "rgb"), (14, "rgb"), (12, "terrain-rgb")])
def test_bounded_reads_and_gathers_give_the_same_pixels(tmp_path, monkeypatch, z, mode):
    """Far below the data's resolution the source is read in pieces and the request warped
    in bands of rows; the pixels are those of one read and one gather, and the memory the
    warp allocates follows the output, not the source."""
    import tracemalloc

    import geobase.tiles.gather as gather
    import geobase.tiles.sources as sources

    dtype = "uint8" if mode == "rgb" else "float32"
    src = make_raster(tmp_path / "big.tif", size=(2048, 2048), res=0.5, dtype=dtype)
    t = TMS.get("WebMercatorQuad")
    g = grid(t, z)  # z12: ~76 source px per base px (f = 5); z14: ~19 (f = 2)
    crs = t.rasterio_crs
    ref = source_ref(str(src), crs)
    x0, y0, x1, y1 = g.tile_range(ref.bounds)
    args = ([ref], crs, g.transform(x0, y0), (x1 - x0) * TILE, (y1 - y0) * TILE, mode,
            3 if mode == "rgb" else 1)  # fmt: skip
    whole, whole_mask = warp_block(*args, anchor=(g.left, g.top))
    assert whole_mask.sum() > 500
    sources.close_sources()  # a cold block cache: GDAL's own memory is not traced anyway
    monkeypatch.setattr(sources, "READ_PIXELS", 1 << 16)
    monkeypatch.setattr(gather, "GATHER_SAMPLES", 1 << 12)
    tracemalloc.start()
    try:
        parts, parts_mask = warp_block(*args, anchor=(g.left, g.top))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        sources.close_sources()
    assert np.array_equal(parts_mask, whole_mask)
    assert np.array_equal(parts, whole)
    # the source is 2048 x 2048 px (12 MB of RGB, 16 MB of float32): one read of it, and
    # its block sums, would show here several times over; the output is 0.3-1 MB
    assert peak < 6_000_000, peak


def test_output_does_not_depend_on_workers_or_windows(workspace, ortho, tmp_path, monkeypatch):
    import uuid

    # every build has its own id (in the archive's metadata): one id for all three here,
    # so that the archives themselves can be compared byte for byte
    same = uuid.uuid4()
    monkeypatch.setattr("geobase.tiles.build.uuid.uuid4", lambda: same)
    build_tiles(
        workspace, str(ortho), tmp_path / "a.pmtiles", fmt="webp", workers=1, block=16, name="n"
    )
    build_tiles(
        workspace, str(ortho), tmp_path / "b.pmtiles", fmt="webp", workers=2, block=2, name="n"
    )
    # windows of one tile: their parents are made from quadrants in the main process
    build_tiles(
        workspace, str(ortho), tmp_path / "c.pmtiles", fmt="webp", workers=2, block=1, name="n"
    )
    assert all_tiles(tmp_path / "a.pmtiles") == all_tiles(tmp_path / "b.pmtiles")
    assert (tmp_path / "a.pmtiles").read_bytes() == (tmp_path / "b.pmtiles").read_bytes()
    assert (tmp_path / "a.pmtiles").read_bytes() == (tmp_path / "c.pmtiles").read_bytes()


def test_overviews_are_the_mean_of_children(workspace, ortho, tmp_path):
    rec = build_tiles(workspace, str(ortho), tmp_path / "o", fmt="png", workers=1)
    tiles = all_tiles(tmp_path / "o")
    z = rec["maxzoom"] - 1
    parent = next(k for k in tiles if k[0] == z)
    kids = np.zeros((2 * TILE, 2 * TILE, 4), np.float64)
    for dx in (0, 1):
        for dy in (0, 1):
            data = tiles.get((z + 1, 2 * parent[1] + dx, 2 * parent[2] + dy))
            if data is not None:
                kids[dy * TILE : (dy + 1) * TILE, dx * TILE : (dx + 1) * TILE] = rgba(data)
    valid = kids[..., 3] > 0
    blocks = valid.reshape(TILE, 2, TILE, 2).sum(axis=(1, 3))
    sums = (kids[..., :3] * valid[..., None]).reshape(TILE, 2, TILE, 2, 3).sum(axis=(1, 3))
    mean = np.floor(sums / np.maximum(blocks, 1)[..., None] + 0.5)
    got = rgba(tiles[parent]).astype(np.float64)
    has = blocks > 0
    np.testing.assert_array_equal(got[..., 3] > 0, has)
    np.testing.assert_array_equal(got[..., :3][has], mean[has])


def test_dem_terrain_rgb_and_hillshade(workspace, tmp_path):
    dem = make_raster(tmp_path / "dem.tif", bands=1, dtype="float32", nodata=-9999)
    rec = build_tiles(workspace, str(dem), tmp_path / "t.pmtiles", workers=1)
    assert rec["mode"] == "terrain-rgb" and rec["format"] == "png"
    tiles = all_tiles(tmp_path / "t.pmtiles")
    with rasterio.open(dem) as src:
        data = src.read(1, masked=True)
    lo, hi = float(data.min()), float(data.max())
    for key in list(tiles)[:6]:
        px = rgba(tiles[key])
        heights = decode_terrain_rgb(np.moveaxis(px[..., :3], -1, 0))[px[..., 3] > 0]
        assert heights.size and lo - 0.1 <= heights.min() and heights.max() <= hi + 0.1
    # parents hold the decoded mean of their children's heights (never averaged RGB)
    z = rec["maxzoom"] - 1
    parent = next(k for k in tiles if k[0] == z)
    ph = decode_terrain_rgb(np.moveaxis(rgba(tiles[parent])[..., :3], -1, 0))
    child = tiles[(z + 1, 2 * parent[1], 2 * parent[2])]
    ch = decode_terrain_rgb(np.moveaxis(rgba(child)[..., :3], -1, 0))
    cv = rgba(child)[..., 3] > 0
    quad = cv[:2, :2]
    if quad.all():
        assert abs(ph[0, 0] - ch[:2, :2].mean()) <= 0.06
    with pytest.raises(TileSettingsError, match="lossless"):
        build_tiles(workspace, str(dem), tmp_path / "t2", fmt="jpeg", workers=1)
    rec = build_tiles(workspace, str(dem), tmp_path / "h", mode="hillshade", fmt="png", workers=1)
    shade = all_tiles(tmp_path / "h")
    values = np.concatenate([rgba(v)[..., 0][rgba(v)[..., 3] > 0] for v in shade.values()])
    assert values.std() > 5 and rec["mode"] == "hillshade"


# --- catalogue sources and incremental updates ------------------------------------------


@pytest.fixture
def catalogue(workspace, tmp_path):
    """A product mosaic of a large scene and a small patch touching about 1% of it."""
    big = make_raster(tmp_path / "big.tif", size=(700, 700), res=2.0, seed=1, collar=False)
    patch = make_raster(tmp_path / "patch1.tif", size=(140, 140), res=1.0, seed=2,
                        origin=(E0 + 600, N0 - 600), collar=False)  # fmt: skip
    add_dataset(workspace, "big", 1, big, acquired="2023-05-01")
    add_dataset(workspace, "patch", 1, patch, acquired="2024-05-01", classification="internal")
    return tmp_path


def test_product_mosaic_newest_on_top(workspace, catalogue, tmp_path):
    out = tmp_path / "dom.pmtiles"
    rec = build_tiles(workspace, "dom02", out, fmt="png", zoom=(17, 17), workers=1)
    assert json.loads(rec["sources"]) == ["big@1", "patch@1"]  # painting order
    assert rec["classification"] == "internal"
    t = TMS.get("WebMercatorQuad")
    with rasterio.open(catalogue / "patch1.tif") as src:
        lon, lat = rasterio.warp.transform(src.crs, "EPSG:4326", [E0 + 670], [N0 - 670])
        value = next(src.sample([(E0 + 670, N0 - 670)]))
    tile = t.tile(lon[0], lat[0], 17)
    b = t.xy_bounds(tile)
    px = rgba(all_tiles(out)[(17, tile.x, tile.y)])
    x, y = rasterio.warp.transform("EPSG:4326", "EPSG:3857", lon, lat)
    col = int((x[0] - b.left) / (b.right - b.left) * TILE)
    row = int((b.top - y[0]) / (b.top - b.bottom) * TILE)
    assert np.abs(px[row, col, :3].astype(int) - value.astype(int)).max() <= 12
    ds = build_tiles(workspace, "big", tmp_path / "big", zoom=(16, 17), workers=1)
    assert json.loads(ds["sources"]) == ["big@1"]


@pytest.mark.parametrize("out_name", ["inc.pmtiles", "inc_dir", "inc.mbtiles", "inc.gpkg"])
def test_update_equals_full_rebuild(workspace, catalogue, tmp_path, out_name):
    out = tmp_path / out_name
    full = build_tiles(workspace, "dom02", out, fmt="webp", zoom=(12, 18), workers=1, block=4)
    before = all_tiles(out)
    # supersede the patch with a new delivery (new pixels, same place)
    patch2 = make_raster(tmp_path / "patch2.tif", size=(140, 140), res=1.0, seed=7,
                         origin=(E0 + 600, N0 - 600), collar=False)  # fmt: skip
    add_dataset(workspace, "patch", 2, patch2, acquired="2025-05-01")
    upd = build_tiles(workspace, "dom02", out, update=True, workers=1)
    assert upd["build"] == "update" and json.loads(upd["sources"]) == ["big@1", "patch@2"]
    assert 0 < upd["written_tiles"] < full["tile_count"] * 0.3
    ref = tmp_path / ("ref_" + out_name)
    build_tiles(workspace, "dom02", ref, fmt="webp", zoom=(12, 18), workers=2, block=4)
    after = all_tiles(out)
    assert after == all_tiles(ref)
    assert after != before
    # nothing changed since: nothing to do
    again = build_tiles(workspace, "dom02", out, update=True, workers=1)
    assert again["up_to_date"] and all_tiles(out) == after
    # removal of the patch: its tiles go back to the big scene, as a full build would make
    remove_dataset(workspace, "patch", 2)
    build_tiles(workspace, "dom02", out, update=True, workers=1)
    shutil.rmtree(ref) if ref.is_dir() else ref.unlink()
    build_tiles(workspace, "dom02", ref, fmt="webp", zoom=(12, 18), workers=1, block=4)
    assert all_tiles(out) == all_tiles(ref)
    assert last_pyramid(workspace, out)["source_footprints"].keys() == {"big@1"}


@pytest.mark.parametrize("cache", ["lost", "older warp"])
def test_update_without_a_usable_cache_rebuilds_whole(workspace, catalogue, tmp_path, cache):
    """A cache made by another warp (or lost) cannot feed an update: the pyramid is built
    whole again (not by listing all the world's 2^36 base tiles of z18 as changed)."""
    import sqlite3

    out = tmp_path / "dom.pmtiles"
    build_tiles(workspace, "dom02", out, fmt="webp", zoom=(16, 18), workers=1)
    path = workspace.file(last_pyramid(workspace, out)["cache"])
    if cache == "lost":
        path.unlink()
    else:
        from geobase.tiles.warp import WARP_VERSION

        with sqlite3.connect(path) as db:
            db.execute("UPDATE meta SET value = replace(value, ?, 'older')", (WARP_VERSION,))
    patch2 = make_raster(tmp_path / "patch2.tif", size=(140, 140), res=1.0, seed=7,
                         origin=(E0 + 600, N0 - 600), collar=False)  # fmt: skip
    add_dataset(workspace, "patch", 2, patch2, acquired="2025-05-01")
    rec = build_tiles(workspace, "dom02", out, update=True, workers=1)
    assert rec["build"] == "full" and rec["written_tiles"] == rec["tile_count"]
    ref = tmp_path / "ref.pmtiles"
    build_tiles(workspace, "dom02", ref, fmt="webp", zoom=(16, 18), workers=1)
    assert all_tiles(out) == all_tiles(ref)
    # and the new cache serves the next update
    add_dataset(workspace, "patch", 3, tmp_path / "patch1.tif", acquired="2026-05-01")
    assert build_tiles(workspace, "dom02", out, update=True, workers=1)["build"] == "update"


@pytest.mark.parametrize("zoom", [(14, 18), (18, 18)])
def test_update_renders_only_changed_windows(workspace, catalogue, tmp_path, monkeypatch, zoom):
    """An update re-renders the full build's windows that hold changed base tiles, whole
    (the cache holds no zoom of the windows), and writes only the changed tiles and their
    ancestors; the parents above the windows take the other windows' quadrants from the
    parents the last build made, right where those are non-blank and differ, where that
    parent was blank (a dataset in a new place) and where a window is blank now (its
    dataset removed)."""
    from geobase.tiles import pyramid

    out, ref = tmp_path / "u.pmtiles", tmp_path / "ref.pmtiles"
    full = build_tiles(workspace, "dom02", out, fmt="png", zoom=zoom, workers=1, block=4)
    before = all_tiles(out)
    patch2 = make_raster(tmp_path / "patch2.tif", size=(140, 140), res=1.0, seed=7,
                         origin=(E0 + 600, N0 - 600), collar=False)  # fmt: skip
    add_dataset(workspace, "patch", 2, patch2, acquired="2025-05-01")
    far = make_raster(tmp_path / "far.tif", size=(90, 90), res=1.0, seed=3,
                      origin=(E0 + 3000, N0 - 3000), collar=False)  # fmt: skip
    add_dataset(workspace, "far", 1, far, acquired="2025-06-01")
    windows = []
    render_block = pyramid.render_block

    def spy(settings, job):
        windows.append((job.x0, job.y0, job.x1, job.y1, job.levels))
        return render_block(settings, job)

    monkeypatch.setattr(pyramid, "render_block", spy)
    upd = build_tiles(workspace, "dom02", out, update=True, workers=1)  # the build's block
    levels = min(2, zoom[1] - zoom[0])
    assert windows and all(
        x0 % 4 == 0 and y0 % 4 == 0 and x1 - x0 == 4 and y1 - y0 == 4 and lv == levels
        for x0, y0, x1, y1, lv in windows
    )
    assert upd["base_tiles_rendered"] == 16 * len(windows)
    base_in_windows = 16 * len(windows)
    written_base = upd["written_tiles"] - sum(1 for k in all_tiles(out) if k[0] < zoom[1]
                                              and k not in before)  # fmt: skip
    assert upd["written_tiles"] < full["tile_count"] and written_base < base_in_windows
    after = all_tiles(out)
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed and changed <= {k for k in after if k[0] <= zoom[1]}
    build_tiles(workspace, "dom02", ref, fmt="png", zoom=zoom, workers=1, block=4)
    assert after == all_tiles(ref)
    remove_dataset(workspace, "far", 1)
    build_tiles(workspace, "dom02", out, update=True, workers=1)
    build_tiles(workspace, "dom02", ref, fmt="png", zoom=zoom, workers=1, block=4, overwrite=True)
    assert all_tiles(out) == all_tiles(ref) != after


# Dask's LocalCluster here runs its workers as threads of this process. rasterio silences
# NotGeoreferencedWarning for its in-memory warp datasets with warnings.catch_warnings(),
# which is not thread-safe: two workers warping at once can restore each other's filters
# and let the warning escape into pytest's "error" filter. Ignore that one warning here.
@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_dask_local_cluster(workspace, ortho, tmp_path):
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, processes=False, threads_per_worker=1, dashboard_address=":0"
        ) as cluster,
    ):
        rec = build_tiles(workspace, str(ortho), tmp_path / "d.pmtiles", fmt="png",
                          dask=cluster.scheduler_address, block=2)  # fmt: skip
        # a directory: the workers write the tiles into its staging folder themselves
        folder = build_tiles(workspace, str(ortho), tmp_path / "d_dir", fmt="png",
                             dask=cluster.scheduler_address, block=2)  # fmt: skip
    build_tiles(workspace, str(ortho), tmp_path / "p.pmtiles", fmt="png", workers=1, block=2)
    pool = build_tiles(workspace, str(ortho), tmp_path / "p_dir", fmt="png", workers=2, block=2)
    assert rec["tile_count"] > 0
    assert all_tiles(tmp_path / "d.pmtiles") == all_tiles(tmp_path / "p.pmtiles")
    assert all_tiles(tmp_path / "d_dir") == all_tiles(tmp_path / "p.pmtiles")
    assert all_tiles(tmp_path / "p_dir") == all_tiles(tmp_path / "p.pmtiles")
    assert folder["written_bytes"] == pool["written_bytes"] == folder["bytes"] > 0
    with pytest.raises(TileBuildError, match="cannot reach the Dask scheduler"):
        build_tiles(workspace, str(ortho), tmp_path / "x.pmtiles", dask="tcp://127.0.0.1:9")
    assert not (tmp_path / "x.pmtiles").exists()


# --- bad input -------------------------------------------------------------------------


def test_bad_inputs_library(workspace, ortho, real_data, tmp_path):
    out = tmp_path / "x.pmtiles"
    with pytest.raises(TileSettingsError, match="not within"):
        build_tiles(workspace, str(ortho), out, tms="CGCS2000Quad", zoom=(0, 3))
    with pytest.raises(NotFoundError, match="unknown tile matrix set"):
        build_tiles(workspace, str(ortho), out, tms="GoogleCRS84Quad")
    with pytest.raises(TileStoreError, match="MBTiles"):
        build_tiles(workspace, str(ortho), tmp_path / "x.mbtiles", tms="CGCS2000Quad")
    with pytest.raises(SourceReadError, match=r"corrupt\.tif"):
        build_tiles(workspace, str(real_data / "corrupt.tif"), out, zoom=(10, 12), workers=1)
    with pytest.raises(NotFoundError, match="not a raster file, a product code"):
        build_tiles(workspace, "no-such-dataset", out)
    with pytest.raises(NotFoundError, match="no current datasets"):
        build_tiles(workspace, "dom05", out)
    with pytest.raises(NotFoundError, match="without --update first"):
        build_tiles(workspace, str(ortho), out, update=True)
    assert not list(tmp_path.glob("x.*")) and not list(tmp_path.glob("*.partial-*"))
    assert list_pyramids(workspace).empty
    build_tiles(workspace, str(ortho), out, zoom=(15, 16), workers=1)
    before = out.read_bytes()
    with pytest.raises(OutputExistsError, match="--overwrite"):
        build_tiles(workspace, str(ortho), out, zoom=(15, 16))
    with pytest.raises(TileSettingsError, match="differs"):
        build_tiles(workspace, str(ortho), out, zoom=(14, 16), update=True)
    assert out.read_bytes() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--zoom", "9-3"], "first zoom is above"),
        (["--zoom", "x"], "expected A-B"),
        (["--zoom", "0-3", "--tms", "CGCS2000Quad"], "not within"),
        (["--tms", "Google"], "Invalid value for '--tms'"),
        (["--format", "gif"], "Invalid value for '--format'"),
        (["-o", "{tmp}/x.mbtiles", "--tms", "CGCS2000Quad"], "MBTiles"),
        (["--source", "{corrupt}"], "corrupt.tif"),
        (["--source", "nothing-here"], "not a raster file"),
        (["-o", "{tmp}/exists"], "exists; pass --overwrite"),
    ],
)
def test_bad_inputs_cli(workspace, ortho, real_data, tmp_path, args, message):
    (tmp_path / "exists").mkdir()
    args = [a.format(tmp=tmp_path, corrupt=real_data / "corrupt.tif") for a in args]
    source = str(ortho)
    if "--source" in args:
        i = args.index("--source")
        source = args[i + 1]
        del args[i : i + 2]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "out.pmtiles")]
    result = run_cli(["tiles", "build", source, "--workspace", workspace.root, "--workers",
                      "1", *args])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "out.pmtiles").exists() and not list(tmp_path.glob("*.partial-*"))


def test_cli_build_list_info(workspace, ortho, tmp_path):
    out = tmp_path / "c.pmtiles"
    r = run_cli(["tiles", "build", ortho, "--workspace", workspace.root, "--zoom", "15-17",
                 "--format", "webp", "-o", out, "--workers", "1"])  # fmt: skip
    assert r.exit_code == 0, r.output
    r = run_cli(["tiles", "list", "--workspace", workspace.root, "--format", "json"])
    rows = json.loads(r.stdout)
    assert [row["format"] for row in rows] == ["webp"] and rows[0]["minzoom"] == 15
    r = run_cli(["tiles", "info", out])
    assert json.loads(r.stdout)["tilematrixset"] == "WebMercatorQuad"
    r = run_cli(["tiles", "info", tmp_path / "missing.pmtiles"])
    assert r.exit_code == 2


def _cache_tiles(path):
    db = sqlite3.connect(path)
    try:
        return dict(((z, x, y), d) for z, x, y, d in db.execute("SELECT z, x, y, data FROM raw"))
    finally:
        db.close()


@pytest.mark.parametrize("kill_at", ["render", "between_commits"])
def test_failed_or_killed_update_keeps_pyramid_and_cache(workspace, catalogue, tmp_path, kill_at):
    """An update that fails, or whose process dies, leaves a pyramid and overview cache that
    a later update brings to exactly a full rebuild's tiles."""
    import os

    from geobase.store import Workspace
    from geobase.tiles import pyramid
    from geobase.tiles.cache import RawCache

    out = tmp_path / "k.pmtiles"
    build_tiles(workspace, "dom02", out, fmt="webp", zoom=(13, 18), workers=1, block=4)
    before = all_tiles(out)
    cache = workspace.file(last_pyramid(workspace, out)["cache"])
    cache_before = _cache_tiles(cache)
    patch2 = make_raster(tmp_path / "patch2.tif", size=(140, 140), res=1.0, seed=7,
                         origin=(E0 + 600, N0 - 600), collar=False)  # fmt: skip
    add_dataset(workspace, "patch", 2, patch2, acquired="2025-05-01")

    # an exception after every tile was rendered and staged: nothing changes
    original = pyramid._UpperZooms.finish

    def failing(self):
        original(self)
        raise RuntimeError("disk full")

    pyramid._UpperZooms.finish = failing
    try:
        with pytest.raises(RuntimeError, match="disk full"):
            build_tiles(workspace, "dom02", out, update=True, workers=1)
    finally:
        pyramid._UpperZooms.finish = original
    assert all_tiles(out) == before and _cache_tiles(cache) == cache_before
    assert not [p for p in out.parent.iterdir() if ".partial-" in p.name]
    assert not [p for p in cache.parent.iterdir() if p.name != cache.name]

    # the process dies: mid-update, or after the pyramid's rename but before the cache's
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns
        try:
            if kill_at == "render":
                pyramid._UpperZooms.finish = lambda self: (original(self), os._exit(3))
            else:
                RawCache.commit = lambda self: os._exit(3)
            with Workspace.open(workspace.root) as ws:
                build_tiles(ws, "dom02", out, update=True, workers=1)
        finally:
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 3
    if kill_at == "render":
        assert all_tiles(out) == before
    fingerprint = json.loads(json.dumps(_fingerprint(out, workspace)))
    assert RawCache.matches(cache, fingerprint, last_pyramid(workspace, out)["build_id"])
    assert _cache_tiles(cache) == cache_before  # rolled back (hot journal, if any)
    build_tiles(workspace, "dom02", out, update=True, workers=1)
    ref = tmp_path / "ref.pmtiles"
    build_tiles(workspace, "dom02", ref, fmt="webp", zoom=(13, 18), workers=1, block=4)
    assert all_tiles(out) == all_tiles(ref)


def _fingerprint(out, ws):
    rec = last_pyramid(ws, out)
    from geobase.tiles.cache import CODEC
    from geobase.tiles.render import WARP_CHUNK, warp_version

    return {"tms": rec["tms"], "minzoom": rec["minzoom"], "maxzoom": rec["maxzoom"],
            "mode": rec["mode"], "channels": 3, "fill": [255, 255, 255],
            "chunk": WARP_CHUNK, "warp": warp_version("fast"), "block": 4, "levels": 2,
            "codec": CODEC}  # fmt: skip


# --- gdal2tiles-style use: no workspace, output folders created -------------------------


@pytest.mark.parametrize("out", ["new/a/pyr.pmtiles", "new/b/pyr.mbtiles", "new/c/pyr"])
def test_build_a_file_with_no_workspace(workspace, ortho, tmp_path, monkeypatch, out):
    """``tiles build ortho.tif -o OUT`` outside any workspace writes OUT (its folders
    created), records nothing, says which zooms and grid it chose, and its tiles are
    those a workspace build with the same settings makes."""
    free = tmp_path / "free"
    free.mkdir()
    monkeypatch.chdir(free)
    monkeypatch.delenv("GEOBASE_WORKSPACE", raising=False)
    r = run_cli(["tiles", "build", ortho, "-o", out, "--workers", "1"])
    assert r.exit_code == 0, r.output
    assert "nothing recorded" in r.stderr
    assert "derived from the data" in r.stderr and "WebMercatorQuad (the default)" in r.stderr
    made = all_tiles(free / out)
    assert made
    assert sorted(p.relative_to(free).as_posix() for p in free.iterdir()) == ["new"]
    assert not [p for p in free.rglob("*") if ".partial-" in p.name or p.suffix == ".sqlite"]
    rec = build_tiles(workspace, str(ortho), tmp_path / ("ref" + "".join(Path(out).suffixes)),
                      workers=1)  # fmt: skip
    ref = all_tiles(tmp_path / ("ref" + "".join(Path(out).suffixes)))
    assert made == ref
    meta = json.loads(run_cli(["tiles", "info", free / out]).stdout)
    assert (meta["minzoom"], meta["maxzoom"]) == (rec["minzoom"], rec["maxzoom"])
    # again: refused without --overwrite, replaced with it
    r = run_cli(["tiles", "build", ortho, "-o", out, "--workers", "1"])
    assert r.exit_code == 2 and "--overwrite" in r.stderr
    r = run_cli(["tiles", "build", ortho, "-o", out, "--workers", "1", "--zoom", "15",
                 "--overwrite"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "derived" not in r.stderr and {z for z, _, _ in all_tiles(free / out)} == {15}


def test_no_workspace_refuses_what_needs_one(ortho, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GEOBASE_WORKSPACE", raising=False)
    r = run_cli(["tiles", "build", "dom02", "-o", "x.pmtiles"])
    assert r.exit_code == 2 and "geobase.toml" in r.stderr
    r = run_cli(["tiles", "build", ortho, "-o", "x.pmtiles", "--update"])
    assert r.exit_code == 2 and "--update needs a workspace" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ortho.tif"]


@pytest.mark.parametrize("out", ["tiles/o.mbtiles", "tiles/o.pmtiles", "tiles/sub/o"])
def test_fresh_workspace_creates_its_tiles_folder(ortho, tmp_path, monkeypatch, out):
    """A fresh ``init`` has no ``tiles/``: building into it creates it (and is recorded)."""
    r = run_cli(["init", tmp_path / "ws"])
    assert r.exit_code == 0, r.output
    assert not (tmp_path / "ws" / "tiles").exists()
    monkeypatch.chdir(tmp_path / "ws")
    r = run_cli(["tiles", "build", ortho, "-o", out, "--workers", "1", "--zoom", "15-16"])
    assert r.exit_code == 0, r.output
    assert all_tiles(tmp_path / "ws" / out)
    r = run_cli(["tiles", "list", "--format", "json"])
    rows = json.loads(r.stdout)
    assert [(row["path"], row["state"]) for row in rows] == [(out, "published")]


# --- outputs outside the workspace, pyramid names ---------------------------------------


def _tree(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() if p.is_file() else None
            for p in sorted(folder.rglob("*"))}  # fmt: skip


@pytest.mark.parametrize("via_link", [False, True])
def test_output_outside_the_workspace_is_not_recorded(ortho, tmp_path, via_link):
    """``-o`` outside the workspace and its data root (a symbolic link leading out counts):
    a raster file is built like with no workspace and nothing is recorded; a product code
    and ``--update`` are refused with one line naming the path; siblings stay as they were."""
    from geobase.errors import OutsideWorkspace
    from geobase.store import Workspace

    assert run_cli(["init", tmp_path / "ws"]).exit_code == 0
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "keep").mkdir(parents=True)
    (elsewhere / "keep" / "a.txt").write_text("mine")
    (elsewhere / "x.pmtiles.tmp-1-ab").write_text("not geobase's")
    before = _tree(elsewhere)
    if via_link:
        (tmp_path / "ws" / "tiles").mkdir()
        (tmp_path / "ws" / "tiles" / "out").symlink_to(elsewhere)
        out = tmp_path / "ws" / "tiles" / "out" / "o.pmtiles"
    else:
        out = elsewhere / "o.pmtiles"
    ws_args = ["--workspace", tmp_path / "ws", "--workers", "1", "--zoom", "15-16"]
    for source, extra in (("dom02", []), (ortho, ["--update"])):
        r = run_cli(["tiles", "build", source, "-o", out, *ws_args, *extra])
        assert r.exit_code == 2, r.output
        assert len(r.stderr.strip().splitlines()) == 1
        assert str(elsewhere.resolve()) in r.stderr and "outside the workspace" in r.stderr
        assert "tiles/ or use a raster file as SOURCE" in r.stderr
        assert _tree(elsewhere) == before
    r = run_cli(["tiles", "build", ortho, "-o", out, *ws_args])
    assert r.exit_code == 0, r.output
    assert "outside the workspace" in r.stderr and "nothing recorded" in r.stderr
    assert all_tiles(out)
    assert {k: v for k, v in _tree(elsewhere).items() if k != "o.pmtiles"} == before
    r = run_cli(["tiles", "list", "--workspace", tmp_path / "ws", "--format", "json"])
    assert json.loads(r.stdout) == []
    with Workspace.open(tmp_path / "ws") as ws, pytest.raises(OutsideWorkspace, match="SOURCE"):
        build_tiles(ws, str(ortho), tmp_path / "elsewhere" / "p.pmtiles", zoom=(15, 15))
    assert not (elsewhere / "p.pmtiles").exists()


def test_pyramid_name_follows_the_name_rule(workspace, ortho, tmp_path):
    """The default name (the output's stem) is checked like ``--name``; the message says
    to pass ``--name``, and with one the same output builds."""
    from geobase.errors import InvalidName

    out = tmp_path / "城市 影像.pmtiles"
    with pytest.raises(InvalidName, match=r"output's stem.*--name"):
        build_tiles(workspace, str(ortho), out, zoom=(15, 15), workers=1)
    r = run_cli(["tiles", "build", ortho, "-o", out, "--workspace", workspace.root, "--zoom",
                 "15", "--workers", "1"])  # fmt: skip
    assert r.exit_code == 2 and "--name" in r.stderr and "pyramid name" in r.stderr
    assert not out.exists() and list_pyramids(workspace).empty
    rec = build_tiles(workspace, str(ortho), out, zoom=(15, 15), workers=1, name="city")
    assert rec["name"] == "city" and all_tiles(out)
