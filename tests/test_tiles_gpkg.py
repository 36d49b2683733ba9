"""GeoPackage tile stores: what GDAL reads (CRS, bounds, pixels) equals the PMTiles of the
same build, on CGCS2000Quad and WebMercatorQuad, and the server serves them."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import subprocess

import httpx
import morecantile
import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.windows import from_bounds

from geobase.errors import TileStoreError
from geobase.tiles.build import build_tiles
from geobase.tiles.stores import gpkg_matrices, open_pyramid
from geobase.tiles.tms import TMS
from tests.test_tiles_build import make_raster

GDALINFO = shutil.which("gdalinfo")


@pytest.fixture
def workspace(tmp_path):
    from geobase.store import Workspace

    ws = Workspace.init(tmp_path / "ws", name="test", data_root=tmp_path)
    yield ws
    ws.close()


def build_pair(ws, tmp_path, tms, fmt):
    """The same build written to a GeoPackage and to a PMTiles archive."""
    src = make_raster(tmp_path / "ortho.tif")
    rec = build_tiles(ws, str(src), tmp_path / "pyr.gpkg", tms=tms, fmt=fmt, workers=1)
    build_tiles(ws, str(src), tmp_path / "pyr.pmtiles", tms=tms, fmt=fmt, workers=1)
    return rec, tmp_path / "pyr.gpkg", tmp_path / "pyr.pmtiles"


def rgba(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))


def test_tile_matrices_follow_the_tms():
    epsg, extent, rows = gpkg_matrices(TMS.get("CGCS2000Quad"))
    assert epsg == 4490 and extent == (-180.0, -90.0, 180.0, 90.0)
    assert rows[0] == (1, 2, 1, 256, 256, 0.703125, 0.703125)  # two tiles at level 1
    assert rows[-1][:3] == (24, 2**24, 2**23)
    epsg, extent, rows = gpkg_matrices(TMS.get("WebMercatorQuad"))
    assert epsg == 3857 and extent[2] == pytest.approx(20037508.342789244)
    assert rows[0][:3] == (0, 1, 1) and rows[18][5] == pytest.approx(0.5971642834779395)
    # levels on different extents (variable widths) have no GeoPackage form
    with pytest.raises(TileStoreError, match="GNOSISGlobalGrid"):
        gpkg_matrices(morecantile.tms.get("GNOSISGlobalGrid"))


def gdal_tile(path, table, tms, z, x, y):
    """Tile (z, x, y) as GDAL reads it from the GeoPackage (RGBA)."""
    with rasterio.open(path, TABLE=table, ZOOM_LEVEL=str(z)) as src:
        assert src.crs.to_epsg() == tms.crs.to_epsg()
        window = from_bounds(*tms.xy_bounds(morecantile.Tile(x, y, z)), src.transform)
        offsets = np.array([window.col_off, window.row_off, window.width, window.height])
        assert np.allclose(offsets, np.round(offsets), atol=1e-6)  # on the pixel grid
        return np.moveaxis(src.read(window=window.round_offsets().round_lengths()), 0, -1)


@pytest.mark.gdal
@pytest.mark.skipif(GDALINFO is None, reason="Debian's gdal-bin is not installed")
def test_cgcs2000_geopackage_gdal_reads_crs_bounds_and_pixels(workspace, tmp_path):
    tms = TMS.get("CGCS2000Quad")
    rec, gpkg, pmtiles = build_pair(workspace, tmp_path, "CGCS2000Quad", "png")
    info = json.loads(subprocess.run([GDALINFO, "-json", str(gpkg)], capture_output=True,
                                     check=True, text=True).stdout)  # fmt: skip
    assert info["driverShortName"] == "GPKG"
    assert 'ID["EPSG",4490]' in info["coordinateSystem"]["wkt"]
    with open_pyramid(gpkg) as reader:
        w, s, e, n = reader.tilejson["bounds"]
    res = info["geoTransform"][1]
    (x0, y1), (x1, y0) = (
        info["cornerCoordinates"]["upperLeft"],
        info["cornerCoordinates"]["lowerRight"],
    )
    assert max(abs(x0 - w), abs(y0 - s), abs(x1 - e), abs(y1 - n)) <= res
    with sqlite3.connect(gpkg) as db:
        assert db.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47
        assert db.execute("SELECT min_x, min_y, max_x, max_y FROM gpkg_tile_matrix_set").fetchone() == (
            -180.0, -90.0, 180.0, 90.0)  # fmt: skip
        rows = db.execute("SELECT zoom_level, matrix_width, matrix_height FROM gpkg_tile_matrix")
        assert {z: (mw, mh) for z, mw, mh in rows} == {
            z: (2**z, 2 ** (z - 1)) for z in range(rec["minzoom"], rec["maxzoom"] + 1)
        }
    with open_pyramid(gpkg) as g, open_pyramid(pmtiles) as p:
        assert g.kind == "geopackage" and g.tms.id == "CGCS2000Quad" and g.format == "png"
        assert g.build_id == rec["build_id"] and g.build_id != p.build_id
        keys = list(g.tiles())
        assert keys == sorted(p.tiles())
        assert all(g.get_tile(*k) == p.get_tile(*k) for k in keys)
        # a tile wholly inside the data, read by GDAL through the GeoPackage driver
        z = rec["maxzoom"]
        centre = tms.tile((w + e) / 2, (s + n) / 2, z)
        key = (z, centre.x, centre.y)
        assert key in keys
        assert np.array_equal(gdal_tile(gpkg, "pyr", tms, *key), rgba(p.get_tile(*key)))


@pytest.mark.gdal
@pytest.mark.skipif(GDALINFO is None, reason="Debian's gdal-bin is not installed")
def test_web_mercator_jpeg_geopackage(workspace, tmp_path):
    tms = TMS.get("WebMercatorQuad")
    rec, gpkg, pmtiles = build_pair(workspace, tmp_path, "WebMercatorQuad", "jpeg")
    info = subprocess.run([GDALINFO, str(gpkg)], capture_output=True, check=True, text=True)
    assert 'ID["EPSG",3857]' in info.stdout
    with sqlite3.connect(gpkg) as db, open_pyramid(pmtiles) as p:
        stored = {
            (z, x, y): bytes(data)
            for z, x, y, data in db.execute(
                "SELECT zoom_level, tile_column, tile_row, tile_data FROM pyr"
            )
        }
        assert stored == {k: p.get_tile(*k) for k in p.tiles()}  # rows from the top
    # GDAL decodes the stored JPEG at the place morecantile puts the tile
    with open_pyramid(gpkg) as reader:
        w, s, e, n = reader.tilejson["bounds"]
    centre = tms.tile((w + e) / 2, (s + n) / 2, rec["maxzoom"])
    key = (centre.z, centre.x, centre.y)
    got = gdal_tile(gpkg, "pyr", tms, *key)[..., :3].astype(int)
    want = rgba(stored[key])[..., :3].astype(int)
    diff = np.abs(got - want)
    shifted = np.abs(got[1:, 1:] - want[:-1, :-1])  # one pixel off
    # two JPEG decoders (GDAL's, Pillow's) round a few values apart (measured: at most 4,
    # 0.27 on average); one pixel off differs by far more on this texture
    assert diff.max() <= 6 and diff.mean() < 0.5
    assert shifted.mean() > 5 * diff.mean()


def test_server_serves_a_geopackage_pyramid(tmp_path):
    from geobase.server import ServerSettings, create_app
    from geobase.store import Workspace
    from tests.server_support import running, sample_raster

    ws = Workspace.init(tmp_path / "ws", name="served")
    try:
        sample_raster(ws.root / "src.tif")
        build_tiles(ws, "src.tif", ws.root / "tiles/g.gpkg", tms="CGCS2000Quad", zoom=(10, 11),
                    fmt="png", workers=1)  # fmt: skip
        with ws.store.transaction() as tx:
            tx.execute("UPDATE pyramids SET classification = 'public' WHERE name = 'g'")
    finally:
        ws.close()
    with open_pyramid(ws.root / "tiles/g.gpkg") as reader:
        key = max(reader.tiles())
        want = reader.get_tile(*key)
    app = create_app(ServerSettings.for_workspace(ws.root))
    with running(app) as base, httpx.Client(base_url=base, timeout=20) as client:
        z, x, y = key
        r = client.get(f"/tiles/g/{z}/{x}/{y}.png")
        assert r.status_code == 200 and r.content == want
        assert client.get(f"/tiles/g/{z}/{x + 9}/{y}.png").status_code == 404
        doc = client.get("/tiles/g/tilejson.json").json()
        assert doc["tileMatrixSet"] == "CGCS2000Quad" and (doc["minzoom"], doc["maxzoom"]) == (
            10,
            11,
        )
