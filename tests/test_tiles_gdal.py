"""Tiles against Debian's gdal2tiles (``-r average``, same grid and zooms): PSNR >= 35 dB.

gdal2tiles numbering: ``--xyz`` gives top-left rows in both profiles. Its geodetic profile
with ``--tmscompatible`` is the same 0.703125° grid as CGCS2000Quad but counts zooms from
0, so its zoom ``z`` is Tianditu level ``z + 1`` (WGS 84 and CGCS2000 differ by
centimetres, far below a pixel at these zooms).

Every tile both sides made is compared, at every zoom tested. gdal2tiles warps a
reprojected source with nearest neighbour into a VRT at about its native resolution, then
reads each tile from that VRT with nearest neighbour on a 4x finer grid snapped to the
VRT's pixels and averages 4 x 4: two nearest resamplings. On Landsat texture
(RGB.byte.tif, UTM) that puts its tiles 17-35 dB from any area average (ours, or
``gdalwarp -r average``) at the native zoom and the three above it, where a sub-pixel phase
shows; four and more zooms above the native one, the averaging has removed it and both
agree to 38-51 dB. RGB.byte is therefore built from its native zoom (9, as
``default_zooms`` picks it) and compared on zooms 3-5; shade.tif (already in EPSG:3857,
no pre-warp) over its whole pyramid down to the native zoom.
"""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import pytest
import rasterio
from PIL import Image

from geobase.tiles.build import build_tiles
from geobase.tiles.stores import open_pyramid
from geobase.tiles.tms import TMS

pytestmark = pytest.mark.gdal

GDAL2TILES = shutil.which("gdal2tiles") or shutil.which("gdal2tiles.py")
needs_gdal = pytest.mark.skipif(GDAL2TILES is None, reason="Debian's gdal-bin is not installed")


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
def test_base_zoom_is_a_true_average_warp(workspace, real_data, tmp_path):
    """Where gdal2tiles aliases, ours stays near gdalwarp -r average (the reference)."""
    src = real_data / "RGB.byte.tif"
    build_tiles(workspace, str(src), tmp_path / "o", zoom=(7, 7), fmt="png", workers=1)
    tms = TMS.get("WebMercatorQuad")
    with open_pyramid(tmp_path / "o") as ours:
        keys = list(ours.tiles())
        assert keys
        for z, x, y in keys:
            b = tms.xy_bounds(x, y, z)
            ref = tmp_path / f"{x}_{y}.tif"
            subprocess.run(
                ["gdalwarp", "-q", "-t_srs", "EPSG:3857", "-te", *map(str, b), "-ts", "256",
                 "256", "-r", "average", "-dstalpha", str(src), str(ref)],
                check=True, capture_output=True,
            )  # fmt: skip
            with rasterio.open(ref) as r:
                theirs = np.moveaxis(r.read(), 0, -1).astype(float)
            mine = np.asarray(Image.open(io.BytesIO(ours.get_tile(z, x, y))).convert("RGBA"))
            valid = (theirs[..., 3] == 255) & (mine[..., 3] == 255)
            if valid.sum() < 100:
                continue
            mse = np.mean((theirs[..., :3][valid] - mine[..., :3][valid]) ** 2)
            # k x k nearest samples (k = 4 here) approximate the area average; their
            # phase costs a few dB on Landsat texture (measured 35.2 dB)
            assert 10 * np.log10(255**2 / mse) >= 34
