"""A real WMTS client: GDAL's WMTS driver (Debian's gdal-bin) against the running service.

It opens the capabilities document, lists the layers, and reads a tile's area whose
pixels must equal the pyramid's tile, for both grids (WebMercatorQuad, CGCS2000Quad).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from tests.server_support import PYRAMIDS, make_workspace, running

pytestmark = [
    pytest.mark.gdal,
    pytest.mark.skipif(
        shutil.which("gdalinfo") is None or shutil.which("gdal_translate") is None,
        reason="Debian's gdal-bin is not installed",
    ),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from geobase.server import ServerSettings, create_app

    info = make_workspace(tmp_path_factory.mktemp("gdal") / "ws")
    app = create_app(ServerSettings.for_workspace(info["ws_root"]))
    with running(app) as base:
        yield {**info, "base": base}


def gdal(*args: str, tmp_path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "GDAL_ENABLE_WMS_CACHE": "NO",
        "GDAL_HTTP_TIMEOUT": "20",
        "CPL_CURL_VERBOSE": "NO",
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "HOME": str(tmp_path),  # no user GDAL configuration
    }
    env.pop("http_proxy", None)
    env.pop("HTTP_PROXY", None)
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=120, check=False)


def test_gdal_lists_the_public_layers(served, tmp_path):
    url = f"WMTS:{served['base']}/wmts/1.0.0/WMTSCapabilities.xml"
    result = gdal("gdalinfo", "-json", url, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    subdatasets = json.loads(result.stdout)["metadata"]["SUBDATASETS"]
    names = sorted(v.rsplit("layer=", 1)[1] for k, v in subdatasets.items() if k.endswith("_NAME"))
    assert names == ["cgcs", "merc"]  # the restricted and internal pyramids are not listed


@pytest.mark.parametrize("name", ["merc", "cgcs"])
def test_gdal_reads_tiles_whose_pixels_match_the_pyramid(served, name, tmp_path):
    import morecantile
    import rasterio
    from PIL import Image

    from geobase.tiles.stores import open_pyramid
    from geobase.tiles.tms import TMS

    url = f"WMTS:{served['base']}/wmts/1.0.0/WMTSCapabilities.xml,layer={name}"
    info = gdal("gdalinfo", "-json", url, tmp_path=tmp_path)
    assert info.returncode == 0, info.stderr
    doc = json.loads(info.stdout)
    gt = doc["geoTransform"]
    tms = TMS.get(PYRAMIDS[name][1])
    maxzoom = PYRAMIDS[name][2][1]
    assert gt[1] == pytest.approx(tms.matrix(maxzoom).cellSize, rel=1e-9)  # full resolution
    # GDAL placed the layer on the tile matrix's pixel grid
    width, height = doc["size"]
    with open_pyramid(served["ws_root"] / PYRAMIDS[name][0]) as reader:
        tiles = [t for t in reader.tiles() if t[0] == maxzoom]
        assert tiles
        compared = 0
        for z, x, y in tiles:
            left, _, _, top = tms.xy_bounds(morecantile.Tile(x, y, z))
            col = round((left - gt[0]) / gt[1])
            row = round((gt[3] - top) / -gt[5])
            assert (left - gt[0]) / gt[1] == pytest.approx(col, abs=1e-6)
            # the part of the tile inside GDAL's raster
            c0, r0 = max(col, 0), max(row, 0)
            c1, r1 = min(col + 256, width), min(row + 256, height)
            if c1 <= c0 or r1 <= r0:
                continue
            out = tmp_path / f"{name}-{z}-{x}-{y}.tif"
            result = gdal(
                "gdal_translate", "-q", "-of", "GTiff", "-srcwin",
                str(c0), str(r0), str(c1 - c0), str(r1 - r0), url, str(out),
                tmp_path=tmp_path,
            )  # fmt: skip
            assert result.returncode == 0, result.stderr
            with rasterio.open(out) as ds:
                got = ds.read()  # bands, rows, cols (RGBA)
            tile = np.asarray(Image.open(io.BytesIO(reader.get_tile(z, x, y))).convert("RGBA"))
            want = tile[r0 - row : r1 - row, c0 - col : c1 - col].transpose(2, 0, 1)
            assert got.shape[0] == 4
            valid = (want[3] == 255) & (got[3] == 255)
            assert valid.sum() > 0.2 * valid.size
            np.testing.assert_array_equal(got[:3][:, valid], want[:3][:, valid])
            compared += 1
        assert compared >= 1
