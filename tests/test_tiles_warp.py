"""The fast warp against its reference (rasterio ``reproject``, ``Resampling.average``).

Both take the area-weighted average of the source pixels under each output pixel: the
fast path with footprints exact on its lattice nodes and bilinear between them (nodes 16
px apart), GDAL with its approximate transformer (error threshold 0.125 px, fitted per
chunk). On generated rasters with texture at the pixel scale they agree to 50 dB at least
(see BOUND); the real Landsat scene RGB.byte.tif to 40 dB (measured 44-53 dB at z6-9).
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geobase.errors import TileSettingsError
from geobase.tiles.render import TILE, close_sources, grid, source_ref, warp_block
from geobase.tiles.tms import TMS
from geobase.tiles.warp import warp_mode

#: PSNR (dB) the fast warp keeps against the reference on the pixels both call valid.
#: Measured on the generated rasters below over 40 examples (0.6-3.5 source pixels a base
#: pixel, the four CRSs, rotations 0, 0.4 and -1.5 degrees, half with a nodata cut):
#: 59.3 dB at the least, 60-103 dB; the gap is GDAL's approximate transformer (up to
#: 0.125 px of footprint) and uint8 rounding. 50 dB is an rms difference of 0.8 grey
#: levels: a wrong footprint (half a pixel off) or nearest sampling falls far below it.
BOUND = 50.0
#: share of the pixels either side calls valid that the other does not: only along the
#: data's edges (the fast warp asks half the footprint valid, GDAL any of it)
MASK_EDGE = 0.06
CRS = ["EPSG:4548", "EPSG:32650", "EPSG:3857", "EPSG:4326"]
CENTRE = (116.68, 23.35)


def psnr(a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> float:
    diff = a[:, valid].astype(np.float64) - b[:, valid].astype(np.float64)
    return float(10 * np.log10(255.0**2 / max(np.mean(diff**2), 1e-10)))


def make_source(path, crs: str, res_m: float, size: tuple[int, int], seed: int, *,
                dtype: str = "uint8", rotation: float = 0.0, nodata_cut: bool = False):  # fmt: skip
    """A raster around ``CENTRE`` in ``crs``: smooth scene plus pixel-scale texture."""
    from pyproj import Transformer

    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(*CENTRE)
    res = res_m if crs != "EPSG:4326" else res_m / 111_000.0
    h, w = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    planes = []
    for b in range(3 if dtype == "uint8" else 1):
        scene = 120 + 60 * np.sin(xx / (9 + 3 * b) + seed) * np.cos(yy / (13 + 2 * b))
        planes.append(scene + rng.normal(0, 6, size=(h, w)))
    data = np.stack(planes)
    if dtype == "uint8":
        data = np.clip(np.rint(data), 1, 254).astype(np.uint8)
    else:
        data = (data * 2.5 - 100).astype(np.float32)
    if nodata_cut:
        data[:, (xx + 0.7 * yy) < w / 3] = 0
    transform = (
        Affine.translation(x - w * res / 2, y + h * res / 2)
        @ Affine.rotation(rotation)
        @ Affine.scale(res, -res)
    )
    profile = dict(driver="GTiff", width=w, height=h, count=data.shape[0], dtype=dtype, crs=crs,
                   transform=transform, nodata=0)  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def both(path, zoom: int, mode: str = "rgb"):
    """The fast and the reference warp of every base tile of ``zoom`` the source meets."""
    tms = TMS.get("WebMercatorQuad")
    crs = tms.rasterio_crs
    ref = source_ref(str(path), crs)
    g = grid(tms, zoom)
    x0, y0, x1, y1 = g.tile_range(ref.bounds)
    x1, y1 = min(x1, x0 + 3), min(y1, y0 + 3)  # small: a few tiles are plenty
    args = ([ref], crs, g.transform(x0, y0), (x1 - x0) * TILE, (y1 - y0) * TILE, mode,
            3 if mode == "rgb" else 1)  # fmt: skip
    fast = warp_block(*args, anchor=(g.left, g.top), warp="fast")
    reference = warp_block(*args, anchor=(g.left, g.top), warp="reference")
    close_sources()
    return fast, reference


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    crs=st.sampled_from(CRS),
    scale=st.floats(0.6, 3.5),
    rotation=st.sampled_from([0.0, 0.0, 0.4, -1.5]),
    seed=st.integers(0, 10_000),
    nodata_cut=st.booleans(),
)
def test_fast_warp_agrees_with_reproject(tmp_path, crs, scale, rotation, seed, nodata_cut):
    """On generated rasters in several CRSs, scales and rotations, the fast warp is the
    reference to ``BOUND`` dB, and the two masks differ only along the data's edges."""
    zoom = 17
    base_res = 156543.03392804097 / 2**zoom * np.cos(np.radians(CENTRE[1]))  # ground m
    path = make_source(tmp_path / f"s{seed}.tif", crs, base_res / scale, (300, 260), seed,
                       rotation=rotation, nodata_cut=nodata_cut)  # fmt: skip
    (fd, fm), (rd, rm) = both(path, zoom)
    ok = fm & rm
    assert ok.sum() > 1000
    assert psnr(fd, rd, ok) >= BOUND
    assert (fm ^ rm).sum() <= MASK_EDGE * (fm | rm).sum()


@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(crs=st.sampled_from(CRS), scale=st.floats(0.6, 3.5), seed=st.integers(0, 10_000))
def test_fast_warp_agrees_with_reproject_on_elevations(tmp_path, crs, scale, seed):
    """Elevations (float32) likewise, to 0.5 % of their range rms."""
    zoom = 17
    base_res = 156543.03392804097 / 2**zoom * np.cos(np.radians(CENTRE[1]))
    path = make_source(tmp_path / f"d{seed}.tif", crs, base_res / scale, (300, 260), seed,
                       dtype="float32")  # fmt: skip
    (fd, fm), (rd, rm) = both(path, zoom, "terrain-rgb")
    ok = fm & rm
    assert ok.sum() > 1000
    rms = float(np.sqrt(np.mean((fd[:, ok].astype(float) - rd[:, ok]) ** 2)))
    span = float(rd[:, ok].max() - rd[:, ok].min())
    assert rms <= 0.005 * span, (rms, span)


@pytest.mark.parametrize("zoom", [7, 8, 9])
def test_fast_warp_agrees_with_reproject_on_landsat(real_data, zoom):
    """RGB.byte.tif (UTM, 300 m, texture at the pixel scale): 40 dB at every zoom from its
    native zoom 9 to two below it (measured 44-53 dB)."""
    (fd, fm), (rd, rm) = both(real_data / "RGB.byte.tif", zoom)
    ok = fm & rm
    assert psnr(fd, rd, ok) >= 40.0
    assert (fm ^ rm).sum() <= MASK_EDGE * (fm | rm).sum()


def test_the_switch(monkeypatch):
    monkeypatch.delenv("GEOBASE_WARP", raising=False)
    assert warp_mode() == "fast"
    monkeypatch.setenv("GEOBASE_WARP", "reference")
    assert warp_mode() == "reference"
    assert warp_mode("fast") == "fast"
    monkeypatch.setenv("GEOBASE_WARP", "gdal")
    with pytest.raises(TileSettingsError, match="GEOBASE_WARP='gdal' is not a warp"):
        warp_mode()


@settings(max_examples=60, deadline=None)
@given(
    ratio=st.floats(0.5, 16.0),
    rotation=st.floats(-2.0, 2.0),
    cut=st.sampled_from([None, None, 0.3, 0.5, 0.8]),
    offset=st.tuples(st.floats(-6.0, 6.0), st.floats(-6.0, 6.0)),
    px0=st.integers(0, 40),
    seed=st.integers(0, 2**32 - 1),
)
def test_packed_kernel_is_the_exact_area_average(ratio, rotation, cut, offset, px0, seed):
    """Imagery's integer kernel (footprint edges on 1/64 source pixel) against the float
    kernel's exact area average of the same footprints, on the worst texture (independent
    uniform noise, 0-255 between neighbours): within the bound that moving each edge by
    1/128 pixel allows, 45 dB at least from one source pixel a base pixel up, 40 below
    (measured over 2000 cases: 49.4 and 42.4 dB at the least; on the city mosaic's
    imagery 67 dB, one grey level at most), and the same validity but
    where the valid share under a footprint is about a half; any scale from 0.5 to 16
    source pixels a base pixel (footprints of 1 to 17 columns), rotated, partly outside
    the table, with nodata beyond a slanted line, the lattice's cells not aligned to the
    request."""
    from geobase.tiles.kernels import area_warp, area_warp_packed

    rng = np.random.default_rng(seed)
    th, tw = 40 + int(24 * ratio), 36 + int(24 * ratio)
    # invalid pixels beyond a slanted line (nodata along a delivery's edge), or none
    yy, xx = np.mgrid[0 : th - 2, 0 : tw - 2]
    ok_src = (xx + 0.37 * yy < cut * (tw - 2)) if cut else np.ones((th - 2, tw - 2), bool)
    pix = rng.integers(0, 256, (3, th - 2, tw - 2), dtype=np.uint16) * ok_src
    lanes = np.zeros((th, tw, 4), np.uint16)
    lanes[1:-1, 1:-1, :3] = np.moveaxis(pix, 0, -1)
    lanes[1:-1, 1:-1, 3] = ok_src
    step, h, w = 16, 20, 24
    nx0, ny0 = px0 // step, 0
    ny, nx = np.mgrid[0:3, nx0 : -(-(px0 + w) // step) + 1].astype(np.float64)
    t = np.radians(rotation)
    gx, gy = nx * step, ny * step
    col = offset[0] + 1 + ratio * (np.cos(t) * (gx - px0) - np.sin(t) * gy)
    row = offset[1] + 1 + ratio * (np.sin(t) * (gx - px0) + np.cos(t) * gy)
    finite = np.ones(col.shape, bool)
    want = np.zeros((3, h, w), np.uint8)
    want_ok = np.zeros((h, w), bool)
    area_warp(col, row, finite, nx0, ny0, step, px0, 0, lanes.astype(np.float64), want, want_ok,
              True)  # fmt: skip
    got = np.zeros((3, h, w), np.uint8)
    got_ok = np.zeros((h, w), bool)
    packed = lanes.view(np.int64).reshape(th, tw)
    area_warp_packed(col, row, finite, nx0, ny0, step, px0, 0, packed, got, got_ok)
    both_ok = got_ok & want_ok
    assert not got[:, ~got_ok].any()
    if both_ok.any():
        diff = np.abs(got.astype(int) - want.astype(int))[:, both_ok]
        # each of the footprint's four edges moves by 1/128 pixel at most: its weights by
        # 2 / (128 * extent) an axis, extents at least the scale; one more for rounding
        assert diff.max() <= 1 + 255 * 2 * (2 / 128) / min(ratio, 1.0)
        assert psnr(got, want, both_ok) >= (45.0 if ratio >= 1.0 else 40.0)
    # validity differs only at ties: a footprint about half on nodata (along the cut or
    # the table's border) whose 1/128-pixel edge move tips it; a straight edge crosses
    # one row or column of the request at most (measured over 1500 cases: 0.61 of this)
    assert (got_ok ^ want_ok).sum() <= max(2, 0.05 * (got_ok | want_ok).sum()) + h + w


def _lattice_args(ratio: float, th: int, tw: int, h: int, w: int):
    """Nodes of an axis-aligned lattice, ``ratio`` source pixels a base pixel."""
    step = 16
    ny, nx = np.mgrid[0 : -(-h // step) + 1, 0 : -(-w // step) + 1].astype(np.float64)
    col, row = 1.5 + ratio * nx * step, 1.5 + ratio * ny * step
    return col, row, np.ones(col.shape, bool), 0, 0, step, 0, 0


@pytest.mark.parametrize("ratio", [24.0, 60.0])
def test_packed_kernel_is_exact_for_wide_footprints(ratio):
    """Footprints wider than the fast warp's usual (a distorted source: 24 and 60 source
    pixels a side) sum without overflow: within one grey level of the float kernel."""
    from geobase.tiles.kernels import area_warp, area_warp_packed

    h = w = 4
    th = tw = int(ratio * 5) + 4
    rng = np.random.default_rng(7)
    lanes = np.zeros((th, tw, 4), np.uint16)
    lanes[1:-1, 1:-1, :3] = rng.integers(200, 256, (th - 2, tw - 2, 3))
    lanes[1:-1, 1:-1, 3] = 1
    args = _lattice_args(ratio, th, tw, h, w)
    want, want_ok = np.zeros((3, h, w), np.uint8), np.zeros((h, w), bool)
    area_warp(*args, lanes.astype(np.float64), want, want_ok, True)
    got, got_ok = np.zeros((3, h, w), np.uint8), np.zeros((h, w), bool)
    area_warp_packed(*args, lanes.view(np.int64).reshape(th, tw), got, got_ok)
    assert want_ok.all() and np.array_equal(got_ok, want_ok)
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


def test_two_band_outputs_stay_in_their_array():
    """A source whose third band is its alpha warps two bands: neither kernel writes a
    third plane past the output array."""
    from geobase.tiles.kernels import area_warp, area_warp_packed

    h = w = 8
    th = tw = 20
    lanes = np.zeros((th, tw, 4), np.uint16)
    lanes[1:-1, 1:-1, :2] = 100
    lanes[1:-1, 1:-1, 3] = 1
    args = _lattice_args(1.3, th, tw, h, w)
    for kernel, table in (
        (area_warp_packed, lanes.view(np.int64).reshape(th, tw)),
        (area_warp, lanes.astype(np.float64)),
    ):
        block = np.full((3, h, w), 77, np.uint8)
        out, ok = block[:2], np.zeros((h, w), bool)
        if kernel is area_warp:
            kernel(*args, table, out, ok, True)
        else:
            kernel(*args, table, out, ok)
        assert ok.all() and (out == 100).all()
        assert (block[2] == 77).all()


@settings(max_examples=30, deadline=None)
@given(
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    bands=st.sampled_from([1, 3]),
    share=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_compiled_downsample_is_the_numpy_one(h, w, bands, share, seed):
    """The compiled 2 x 2 mean gives the numpy reference's bytes and mask, any mask."""
    from geobase.tiles.render import downsample, downsample_reference

    rng = np.random.default_rng(seed)
    mask = rng.random((2 * h, 2 * w)) < share
    data = rng.integers(0, 256, (bands, 2 * h, 2 * w), dtype=np.uint8) * mask
    got, got_mask = downsample(data, mask)
    want, want_mask = downsample_reference(data, mask)
    assert np.array_equal(got_mask, want_mask)
    assert np.array_equal(got, want)


def test_a_build_with_the_reference_warp(tmp_path, real_data, monkeypatch):
    """``GEOBASE_WARP=reference`` builds the same pyramid through rasterio's reproject:
    the same tiles, within 38 dB of the fast build's at every zoom (away from the data's
    edge); a bad name is refused before anything is written."""
    import io

    from PIL import Image

    from geobase.store import Workspace
    from geobase.tiles.build import build_tiles
    from geobase.tiles.stores import open_pyramid

    ws = Workspace.init(tmp_path / "ws", name="test", data_root=tmp_path)
    src = str(real_data / "RGB.byte.tif")
    try:
        build_tiles(ws, src, tmp_path / "fast", zoom=(7, 9), fmt="png", workers=1)
        monkeypatch.setenv("GEOBASE_WARP", "reference")
        build_tiles(ws, src, tmp_path / "ref", zoom=(7, 9), fmt="png", workers=1)
        monkeypatch.setenv("GEOBASE_WARP", "nearest")
        with pytest.raises(TileSettingsError, match="GEOBASE_WARP"):
            build_tiles(ws, src, tmp_path / "bad", zoom=(7, 9), fmt="png", workers=1)
    finally:
        ws.close()
    assert not (tmp_path / "bad").exists()
    with open_pyramid(tmp_path / "fast") as fast, open_pyramid(tmp_path / "ref") as ref:
        keys = sorted(fast.tiles())
        assert keys == sorted(ref.tiles())
        for key in keys:
            a, b = (
                np.asarray(Image.open(io.BytesIO(p.get_tile(*key))).convert("RGBA"))
                for p in (fast, ref)
            )
            ok = (a[..., 3] == 255) & (b[..., 3] == 255)
            # one pixel in from the data's edge: the two weigh partly covered pixels apart
            ok[1:-1, 1:-1] &= ok[:-2, 1:-1] & ok[2:, 1:-1] & ok[1:-1, :-2] & ok[1:-1, 2:]
            if ok.sum() < 100:
                continue
            value = psnr(a[..., :3].transpose(2, 0, 1), b[..., :3].transpose(2, 0, 1), ok)
            assert value >= 38, key  # measured 39.3-64.6 dB a tile (the least at z9)
