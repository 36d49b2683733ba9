"""Tiles against Debian's gdal2tiles (``-r average``, same grid and zooms): PSNR >= 35 dB.

gdal2tiles numbering: ``--xyz`` gives top-left rows in both profiles. Its geodetic profile
with ``--tmscompatible`` is the same 0.703125° grid as CGCS2000Quad but counts zooms from
0, so its zoom ``z`` is Tianditu level ``z + 1`` (WGS 84 and CGCS2000 differ by
centimetres, far below a pixel at these zooms).

Every tile both sides made is compared, at every zoom where the criterion can hold.
RGB.byte.tif (Landsat, UTM, 300 m) is built from its native zoom 9 and held to 35 dB at
zooms 3-5; at zooms 6-9 the difference is measured and explained, not waved through
(:func:`test_rgb_byte_native_zooms_gdal2tiles_is_shifted`):

- ours agrees with ``gdalwarp -r average`` onto the exact tile grid with no shift (phase
  correlation: |shift| < 0.1 px) — there is no half- or one-pixel offset in our
  geo-transform;
- gdal2tiles warps a reprojected source with nearest neighbour into a warped VRT at about
  the source resolution, then reads each tile's window from it with the window's origin
  *truncated* to a whole VRT pixel (``geo_query``: ``int((ulx - gt[0]) / gt[1] + 0.001)``)
  and the size rounded, on a 4x finer grid with nearest neighbour, and averages 4 x 4. Its
  tiles are therefore shifted by the fractional VRT-pixel offset of the tile origin: up to
  one source pixel, ~1.1 base pixels at zoom 9 (measured, per tile: the predicted row
  shift of 0.82-0.92 px is found by phase correlation within 0.1 px), halving with each
  zoom above. On Landsat texture that alone puts gdal2tiles 17-29 dB from any correct
  warp at zooms 7-9 and ~33-35 dB at zoom 6; from zoom 5 up the shift is below 0.15 px
  and both agree to 38-51 dB;
- an emulation of gdal2tiles' pipeline with rasterio (WarpedVRT, nearest; the truncated
  window; nearest read at 1024 px; 4 x 4 mean) reproduces gdal2tiles' zoom-9 tiles:
  most pixels identical (the rest differ where the nearest warp of GDAL 3.6 and of
  rasterio's GDAL pick a different neighbour), far closer than ours or gdalwarp's.

shade.tif (already in EPSG:3857, no pre-warp, VRT pixels = tile pixels) matches over its
whole pyramid down to the native zoom.
"""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from geobase.tiles.build import build_tiles
from geobase.tiles.stores import open_pyramid
from geobase.tiles.tms import TMS

pytestmark = pytest.mark.gdal

GDAL2TILES = shutil.which("gdal2tiles") or shutil.which("gdal2tiles.py")
needs_gdal = pytest.mark.skipif(GDAL2TILES is None, reason="Debian's gdal-bin is not installed")


@pytest.fixture
def workspace(tmp_path):
    """A fresh workspace whose data root is ``tmp_path``, where these tests' pyramids lie
    (a recorded build's output must lie in the workspace or its data root)."""
    from geobase.store import Workspace

    ws = Workspace.init(tmp_path / "ws", name="test", data_root=tmp_path)
    yield ws
    ws.close()


def gdal2tiles(src, out, zoom, tms):
    lo, hi = zoom
    args = [GDAL2TILES, "-q", "-r", "average", "--xyz", "-w", "none", "--processes=1"]
    if tms == "CGCS2000Quad":
        args += ["-p", "geodetic", "--tmscompatible", "-z", f"{lo - 1}-{hi - 1}"]
    else:
        args += ["-z", f"{lo}-{hi}"]
    subprocess.run([*args, str(src), str(out)], check=True, capture_output=True)


def psnr_per_tile(workspace, tmp_path, src, zoom, tms, compare):
    build_tiles(workspace, str(src), tmp_path / "ours", tms=tms, zoom=zoom, fmt="png", workers=1)
    gdal2tiles(src, tmp_path / "g2t", zoom, tms)
    offset = 1 if tms == "CGCS2000Quad" else 0
    results = {}
    with open_pyramid(tmp_path / "ours") as ours:
        for z in compare:
            for path in sorted((tmp_path / "g2t" / str(z - offset)).glob("*/*.png")):
                key = (z, int(path.parent.name), int(path.stem))
                theirs = np.asarray(Image.open(path).convert("RGBA")).astype(float)
                mine = ours.get_tile(*key)
                if mine is None:  # ours skipped a blank tile; theirs must be blank there
                    assert not theirs[..., 3].any(), key
                    continue
                mine = np.asarray(Image.open(io.BytesIO(mine)).convert("RGBA")).astype(float)
                # valid in both: fully opaque (gdal2tiles blends nodata into edge pixels)
                valid = (theirs[..., 3] == 255) & (mine[..., 3] == 255)
                if valid.sum() < 16:
                    continue
                mse = np.mean((theirs[..., :3][valid] - mine[..., :3][valid]) ** 2)
                results[key] = 10 * np.log10(255**2 / max(mse, 1e-10))
    return results


@needs_gdal
@pytest.mark.parametrize("tms", ["WebMercatorQuad", "CGCS2000Quad"])
def test_rgb_byte_matches_gdal2tiles(workspace, real_data, tmp_path, tms):
    # native 300 m is zoom 9 in both grids (the default base)
    results = psnr_per_tile(workspace, tmp_path, real_data / "RGB.byte.tif", (3, 9), tms,
                            range(3, 6))  # fmt: skip
    assert {z for z, _, _ in results} == {3, 4, 5}
    assert min(results.values()) >= 35, results


@needs_gdal
@pytest.mark.parametrize("tms", ["WebMercatorQuad", "CGCS2000Quad"])
def test_shade_matches_gdal2tiles(workspace, real_data, tmp_path, tms):
    zoom = (10, 14) if tms == "WebMercatorQuad" else (11, 14)
    results = psnr_per_tile(workspace, tmp_path, real_data / "shade.tif", zoom, tms,
                            range(zoom[0], zoom[1] + 1))  # fmt: skip
    assert len(results) >= 10
    assert {z for z, _, _ in results} == set(range(zoom[0], zoom[1] + 1))
    assert min(results.values()) >= 35, results


@needs_gdal
@pytest.mark.parametrize(("name", "zoom"), [("RGB.byte.tif", (5, 9)), ("shade.tif", (10, 14))])
def test_every_zoom_is_gdalwarp_average_to_38_db(workspace, real_data, tmp_path, name, zoom):
    """Every tile of every zoom, the base zoom (the data's native one) included, is at least
    38 dB from ``gdalwarp -r average`` of the same tile's area (issue 17): the base zoom is
    the exact area average, the zooms above 2 x 2 means of it. Measured, the worst tile
    per zoom: RGB.byte.tif (Landsat, UTM) 40.8-46.5 dB (it was 30-31 dB at the base zoom
    with 2 x 2 nearest samples); shade.tif (already on the tile grid) identical."""
    src = real_data / name
    build_tiles(workspace, str(src), tmp_path / "o", zoom=zoom, fmt="png", workers=1)
    tms = TMS.get("WebMercatorQuad")
    worst: dict[int, float] = {}
    with open_pyramid(tmp_path / "o") as ours:
        for z, x, y in ours.tiles():
            theirs = _gdalwarp_tile(src, tms.xy_bounds(x, y, z), tmp_path / f"{z}_{x}_{y}.tif")
            if theirs.shape[-1] == 2:  # grey and alpha
                theirs = theirs[..., [0, 0, 0, 1]]
            mine = _rgba(ours.get_tile(z, x, y))
            valid = (theirs[..., 3] == 255) & (mine[..., 3] == 255)
            if valid.sum() < 100:
                continue
            worst[z] = min(worst.get(z, 99.0), _psnr(mine, theirs, valid))
    assert set(worst) == set(range(zoom[0], zoom[1] + 1)), worst
    assert min(worst.values()) >= 38, worst


@needs_gdal
def test_base_zoom_is_a_true_average_warp(workspace, real_data, tmp_path):
    """Where gdal2tiles aliases, ours stays near gdalwarp -r average (the reference)."""
    src = real_data / "RGB.byte.tif"
    build_tiles(workspace, str(src), tmp_path / "o", zoom=(7, 7), fmt="png", workers=1)
    tms = TMS.get("WebMercatorQuad")
    with open_pyramid(tmp_path / "o") as ours:
        keys = list(ours.tiles())
        assert keys
        for z, x, y in keys:
            theirs = _gdalwarp_tile(src, tms.xy_bounds(x, y, z), tmp_path / f"{x}_{y}.tif")
            mine = np.asarray(Image.open(io.BytesIO(ours.get_tile(z, x, y))).convert("RGBA"))
            valid = (theirs[..., 3] == 255) & (mine[..., 3] == 255)
            if valid.sum() < 100:
                continue
            mse = np.mean((theirs[..., :3][valid] - mine[..., :3][valid]) ** 2)
            # the exact area average: 45-50 dB here (k x k nearest samples gave 35.2 dB)
            assert 10 * np.log10(255**2 / mse) >= 40


def _gdalwarp_tile(src, bounds, path) -> np.ndarray:
    """The reference: ``gdalwarp -r average`` of ``src`` onto one 256 px Web Mercator
    tile, as float RGBA."""
    subprocess.run(
        ["gdalwarp", "-q", "-t_srs", "EPSG:3857", "-te", *map(str, bounds), "-ts", "256", "256",
         "-r", "average", "-dstalpha", str(src), str(path)],
        check=True, capture_output=True,
    )  # fmt: skip
    with rasterio.open(path) as r:
        return np.moveaxis(r.read(), 0, -1).astype(float)


def _rgba(blob_or_path) -> np.ndarray:
    src = io.BytesIO(blob_or_path) if isinstance(blob_or_path, bytes) else blob_or_path
    return np.asarray(Image.open(src).convert("RGBA")).astype(float)


def _psnr(a, b, valid) -> float:
    mse = np.mean((a[..., :3][valid] - b[..., :3][valid]) ** 2)
    return float(10 * np.log10(255**2 / max(mse, 1e-10)))


def _shift(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Sub-pixel (row, col) shift of ``a`` relative to ``b`` by phase correlation."""
    fa, fb = np.fft.fft2(a - a.mean()), np.fft.fft2(b - b.mean())
    cross = fa * np.conj(fb)
    r = np.real(np.fft.ifft2(cross / (np.abs(cross) + 1e-9)))
    i, j = np.unravel_index(np.argmax(r), r.shape)
    n = r.shape[0]

    def peak(m, c, p, k):  # parabolic sub-pixel peak, wrapped to (-n/2, n/2]
        den = m - 2 * c + p
        k = k + ((m - p) / (2 * den) if den else 0.0)
        return k - n if k > n / 2 else k

    c = r[i, j]
    return (peak(r[(i - 1) % n, j], c, r[(i + 1) % n, j], i),
            peak(r[i, (j - 1) % n], c, r[i, (j + 1) % n], j))  # fmt: skip


def _gdal2tiles_base_tile(vrt, bounds, query=1024) -> np.ndarray:
    """gdal2tiles 3.6's base tile (``-r average``) from its warped VRT: ``geo_query``
    (origin truncated to a VRT pixel, size rounded), a nearest read at ``query`` px, a
    4 x 4 mean of every band (alpha included). Returns (256, 256, 4)."""
    gt = vrt.transform
    ulx, lry, lrx, uly = bounds
    rx = int((ulx - gt.c) / gt.a + 0.001)
    ry = int((uly - gt.f) / gt.e + 0.001)
    rxs = max(1, int((lrx - ulx) / gt.a + 0.5))
    rys = max(1, int((lry - uly) / gt.e + 0.5))
    wxs = wys = query
    wx = wy = 0
    if rx < 0:
        wx = int(wxs * (-rx / rxs))
        wxs -= wx
        rxs -= int(rxs * (-rx / rxs))
        rx = 0
    if rx + rxs > vrt.width:
        wxs = int(wxs * ((vrt.width - rx) / rxs))
        rxs = vrt.width - rx
    if ry < 0:
        wy = int(wys * (-ry / rys))
        wys -= wy
        rys -= int(rys * (-ry / rys))
        ry = 0
    if ry + rys > vrt.height:
        wys = int(wys * ((vrt.height - ry) / rys))
        rys = vrt.height - ry
    buf = np.zeros((4, query, query), np.uint16)
    buf[:, wy : wy + wys, wx : wx + wxs] = vrt.read(
        window=Window(rx, ry, rxs, rys), out_shape=(4, wys, wxs), resampling=Resampling.nearest
    )
    total = buf.reshape(4, 256, query // 256, 256, query // 256).sum(axis=(2, 4))
    n = (query // 256) ** 2
    return np.moveaxis((total + n // 2) // n, 0, -1).astype(float)


@needs_gdal
def test_rgb_byte_native_zooms_gdal2tiles_is_shifted(workspace, real_data, tmp_path):
    """Zoom 9 (native) of RGB.byte: ours = gdalwarp -r average (no offset); gdal2tiles is
    shifted by its VRT-pixel snapping, and an emulation of its pipeline reproduces it."""
    src = real_data / "RGB.byte.tif"
    tms = TMS.get("WebMercatorQuad")
    build_tiles(workspace, str(src), tmp_path / "ours", zoom=(9, 9), fmt="png", workers=1)
    gdal2tiles(src, tmp_path / "g2t", (9, 9), "WebMercatorQuad")
    measured = {}
    with (
        open_pyramid(tmp_path / "ours") as ours,
        rasterio.open(src) as ds,
        WarpedVRT(ds, crs="EPSG:3857", resampling=Resampling.nearest, add_alpha=True) as vrt,
    ):
        gt = vrt.transform
        for path in sorted((tmp_path / "g2t" / "9").glob("*/*.png")):
            x, y = int(path.parent.name), int(path.stem)
            blob = ours.get_tile(9, x, y)
            theirs = _rgba(path)
            if blob is None:
                assert not theirs[..., 3].any(), (x, y)
                continue
            mine = _rgba(blob)
            b = tms.xy_bounds(x, y, 9)
            warp = _gdalwarp_tile(src, b, tmp_path / f"{x}_{y}.tif")
            emu = _gdal2tiles_base_tile(vrt, b)
            ok = (theirs[..., 3] == 255) & (mine[..., 3] == 255)
            ok_w = (warp[..., 3] == 255) & (mine[..., 3] == 255)
            ok_e = (theirs[..., 3] == 255) & (emu[..., 3] == 255)
            if ok.sum() < 1000:
                continue
            row = {
                "ours_g2t": _psnr(mine, theirs, ok),
                "ours_gdalwarp": _psnr(mine, warp, ok_w),
                "emu_g2t": _psnr(emu, theirs, ok_e),
                "emu_identical": float((emu[..., :3] == theirs[..., :3]).all(-1)[ok_e].mean()),
            }
            if ok.mean() > 0.99 and ok_w.mean() > 0.99:  # (nearly) full: shifts by phase corr.
                row["shift_ours_gdalwarp"] = _shift(mine[..., 0], warp[..., 0])
                row["shift_ours_g2t"] = _shift(mine[..., 0], theirs[..., 0])
                # gdal2tiles' window starts this many base px above-left of the tile
                frac = (((gt.f - b.top) / -gt.e) % 1) * -gt.e / (b.top - b.bottom) * 256
                row["predicted_row_shift"] = -frac
            measured[(x, y)] = row
    assert len(measured) >= 8
    full = [r for r in measured.values() if "shift_ours_g2t" in r]
    assert len(full) >= 2
    for r in full:
        # no offset between ours and gdalwarp onto the exact tile grid ...
        assert max(map(abs, r["shift_ours_gdalwarp"])) < 0.1, r
        # ... while gdal2tiles is shifted by its window truncation, as predicted
        assert abs(r["shift_ours_g2t"][0] - r["predicted_row_shift"]) < 0.1, r
        assert abs(r["shift_ours_g2t"][0]) > 0.5, r
    for r in measured.values():
        # the emulation reproduces gdal2tiles far better than any correct warp does
        assert r["emu_identical"] >= 0.9, r
        assert r["emu_g2t"] > r["ours_g2t"] + 5, r
        # ours stays close to the area average (upsampling here: ~0.8 source px per
        # base px, where k x k nearest samples approximate GDAL's fractional weights)
        assert r["ours_gdalwarp"] >= 30, r
        assert r["ours_g2t"] < 35, r  # the criterion cannot hold at the native zoom
