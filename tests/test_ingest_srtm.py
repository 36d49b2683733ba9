"""SRTM ``.hgt`` / ``.hgt.zip`` tiles ingested as DEM deliveries.

The tiles are synthetic but laid out as NASA delivers them: SRTM3 (1201 x 1201) big-endian
int16 heights, rows from the north, a void patch of -32768, named by the south-west
corner of their 1° tile (N23E116 holds Shantou), zipped with one member of that name.
"""

from __future__ import annotations

import hashlib
import zipfile

import numpy as np
import pytest
import rasterio
import shapely
from rio_cogeo.cogeo import cog_validate

from geobase.catalog import current_datasets
from geobase.catalog.search import show
from geobase.errors import SourceReadError, UnsupportedInput
from geobase.ingest import detect, ingest, srtm
from tests.conftest import run_cli

N = 1201  # SRTM3: 3 arc-seconds, 1° + one row and column of overlap
CELL = 1 / 1200
VOID = (slice(300, 360), slice(500, 580))  # 60 x 80 void samples (radar shadow)


def heights(n: int = N) -> np.ndarray:
    """Terrain: sea (0) in the south-east, two hills up to about 700 m, a void patch."""
    rng = np.random.default_rng(23116)
    rows, cols = np.mgrid[0:n, 0:n] / (n - 1)
    hills = 700 * np.exp(-((rows - 0.3) ** 2 + (cols - 0.4) ** 2) / 0.02)
    hills += 450 * np.exp(-((rows - 0.6) ** 2 + (cols - 0.2) ** 2) / 0.01)
    z = hills + rng.normal(0, 3, (n, n)) + 5
    z[rows + cols > 1.5] = 0  # the sea: SRTM gives 0 there
    z = np.round(z).astype(np.int16)
    z[VOID] = -32768
    return z


def write_hgt(path, z: np.ndarray | None = None):
    z = heights() if z is None else z
    path.write_bytes(z.astype(">i2").tobytes())
    return path


def write_zip(path, member: str, data: bytes):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, data)
    return path


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files_of(ws, result) -> dict[str, dict]:
    return {f["role"]: f for f in show(ws.store, result.dataset_id)["files"]}


def test_hgt_ingested_as_a_dem_archived_and_converted_losslessly(tmp_path, workspace):
    z = heights()
    hgt = write_hgt(tmp_path / "N23E116.hgt", z)
    [r] = ingest(workspace, [hgt], acquired="2000-02-11/2000-02-22")
    assert (r.dataset_id, r.kind, r.product) == ("n23e116", "dem", "dem")
    record = show(workspace.store, r.dataset_id)
    assert record["epsg"] == 4326  # as the data state it (WGS 84)
    assert (record["bands"], record["dtype"], record["nodata"]) == (1, "int16", -32768)
    assert record["vertical_datum"] == "EGM96 height"
    # 3" of latitude is 92.6 m; of longitude at 23.5°N 84.9 m: the coarser side counts
    assert record["resolution"] == pytest.approx(92.6, abs=0.2)
    meta = record["metadata"]
    assert meta["srtm"]["tile"] == "N23E116" and meta["srtm"]["samples"] == [N, N]
    assert "CGCS2000" in meta["srtm"]["datum"]
    # the delivery byte for byte, the COG beside it
    files = files_of(workspace, r)
    delivered = workspace.file(files["delivery"]["path"])
    assert delivered.name == "N23E116.hgt"
    assert delivered.read_bytes() == hgt.read_bytes()
    assert files["delivery"]["sha256"] == sha(hgt) == record["checksum"]
    cog = workspace.file(files["derived"]["path"])
    assert cog.name == "N23E116.cog.tif" and r.path.endswith("N23E116.cog.tif")
    valid, errors, _ = cog_validate(str(cog), quiet=True)
    assert valid, errors
    with rasterio.open(cog) as ds:
        assert ds.crs.to_epsg() == 4326 and ds.nodata == -32768
        np.testing.assert_array_equal(ds.read(1), z)  # every height kept, voids too
        west, south, east, north = ds.bounds
    # cell centres on the whole degrees: the grid reaches half a cell beyond the tile
    assert (west, south, east, north) == pytest.approx(
        (116 - CELL / 2, 23 - CELL / 2, 117 + CELL / 2, 24 + CELL / 2), abs=1e-9
    )
    # the footprint (EPSG:4490) is the tile less the void, within a cell
    [geom] = current_datasets(workspace.store).geometry
    tile = shapely.box(west, south, east, north)
    void = 60 * 80 * CELL * CELL
    assert geom.area == pytest.approx(tile.area - void, rel=2e-3)
    void_centre = shapely.Point(116 + 540 * CELL, 24 - 330 * CELL)
    assert not geom.contains(void_centre)
    assert geom.contains(shapely.Point(116.682, 23.354))  # Shantou


def test_hgt_zip_read_through_the_archive(tmp_path, workspace):
    z = heights()
    zipped = write_zip(tmp_path / "N23E116.hgt.zip", "N23E116.hgt", z.astype(">i2").tobytes())
    [r] = ingest(workspace, [zipped])
    assert r.dataset_id == "n23e116" and r.kind == "dem"
    record = show(workspace.store, r.dataset_id)
    assert record["acquired_start"] is None  # no date in an .hgt: recorded unknown
    assert "2000-02-11/2000-02-22" in record["metadata"]["acquired_source"]
    assert "--acquired" in record["metadata"]["acquired_source"]
    assert record["metadata"]["srtm"]["member"] == "N23E116.hgt"
    files = files_of(workspace, r)
    assert workspace.file(files["delivery"]["path"]).read_bytes() == zipped.read_bytes()
    with rasterio.open(workspace.file(files["derived"]["path"])) as ds:
        np.testing.assert_array_equal(ds.read(1), z)


def test_nasa_name_and_no_cog_keeps_a_file_gdal_opens(tmp_path, workspace):
    z = heights()
    zipped = write_zip(
        tmp_path / "N23E116.SRTMGL3.hgt.zip", "N23E116.hgt", z.astype(">i2").tobytes()
    )
    [r] = ingest(workspace, [zipped], cog=False)
    assert r.dataset_id == "n23e116-srtmgl3"
    stored = workspace.file(r.path)
    assert stored.read_bytes() == zipped.read_bytes()
    with rasterio.open(stored) as ds:  # what tiles and packages open
        assert ds.driver == "SRTMHGT"
        np.testing.assert_array_equal(ds.read(1), z)


def test_srtm1_size_is_known(tmp_path):
    path = tmp_path / "S01W080.hgt"
    path.write_bytes(np.zeros((3601, 3601), dtype=">i2").tobytes())
    tile = srtm.check(path)
    assert (tile.name, tile.south, tile.west, tile.rows) == ("S01W080", -1, -80, 3601)
    assert "SRTM1" in tile.grid


@pytest.mark.parametrize(
    ("name", "make", "error", "words"),
    [
        ("dem.hgt", lambda p: write_hgt(p), UnsupportedInput, "named by its tile"),
        ("N95E116.hgt", lambda p: write_hgt(p), UnsupportedInput, "outside"),
        (
            "N23E116.hgt",
            lambda p: p.write_bytes(heights().astype(">i2").tobytes()[:-4000]),
            SourceReadError,
            "no SRTM grid",
        ),
        ("N23E116.hgt.zip", lambda p: write_hgt(p), SourceReadError, "not a zip archive"),
        (
            "N24E116.hgt.zip",
            lambda p: write_zip(p, "N23E116.hgt", heights().astype(">i2").tobytes()),
            SourceReadError,
            "exactly N24E116.hgt",
        ),
        (
            "N23E116.hgt.zip",
            lambda p: write_zip(p, "N23E116.HGT", heights().astype(">i2").tobytes()),
            SourceReadError,
            "exactly N23E116.hgt",  # GDAL would not find it
        ),
        (
            "N23E116.hgt.zip",
            lambda p: write_zip(p, "N23E116.hgt", b"\0" * 1000),
            SourceReadError,
            "no SRTM grid",
        ),
        (
            "N23E116.hgt.zip",
            lambda p: p.write_bytes(
                write_zip(p, "N23E116.hgt", heights().astype(">i2").tobytes()).read_bytes()[:900]
            ),
            SourceReadError,
            "cannot be read",
        ),
    ],
)
def test_tiles_whose_name_or_size_lie_are_refused(tmp_path, workspace, name, make, error, words):
    path = tmp_path / name
    make(path)
    with pytest.raises(error, match=words):
        detect.detect_format(path)
    with pytest.raises(error):
        ingest(workspace, [path])
    assert current_datasets(workspace.store).empty


def test_srtm_is_no_imagery(tmp_path, workspace):
    hgt = write_hgt(tmp_path / "N23E116.hgt")
    with pytest.raises(UnsupportedInput, match="holds heights"):
        ingest(workspace, [hgt], product="dom05")
    assert current_datasets(workspace.store).empty


def test_cli_ingests_and_refuses_in_one_line(tmp_path, workspace):
    hgt = write_hgt(tmp_path / "N23E116.hgt")
    result = run_cli(["ingest", hgt, "--workspace", workspace.root, "--classification", "public"])
    assert result.exit_code == 0, result.output
    bad = write_hgt(tmp_path / "srtm_shantou.hgt")
    result = run_cli(["ingest", bad, "--workspace", workspace.root])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "N23E116.hgt" in lines[0], result.stderr


def test_srtm_dataset_becomes_terrain_rgb_tiles(tmp_path, workspace):
    """The tile pipeline reads the ingested tile like any DEM: terrain-RGB heights."""
    import io
    import warnings

    from PIL import Image

    from geobase.tiles.build import build_tiles
    from geobase.tiles.render import decode_terrain_rgb
    from geobase.tiles.stores import open_pyramid

    z = heights()
    ingest(workspace, [write_hgt(tmp_path / "N23E116.hgt", z)], acquired="2000-02-11/2000-02-22")
    out = workspace.root / "tiles" / "srtm"
    with warnings.catch_warnings():
        # geobase.tiles.render multiplies Affine with `*` (affine >= 3.1 warns)
        warnings.filterwarnings("ignore", "Use `@` matmul", PendingDeprecationWarning)
        build_tiles(workspace, "n23e116", out, zoom=(8, 9), workers=1)
    found = []
    with open_pyramid(out) as reader:
        for tz, tx, ty in reader.tiles():
            if tz != 9:
                continue
            rgba = np.asarray(Image.open(io.BytesIO(reader.get_tile(tz, tx, ty))).convert("RGBA"))
            pixels = rgba.transpose(2, 0, 1)
            found.append(decode_terrain_rgb(pixels[:3])[pixels[3] > 0])
    decoded = np.concatenate(found)
    valid = z[z != -32768]
    assert decoded.size > 0
    # averaged into coarser cells: within the source's range, the hill top within 30 m
    assert decoded.min() >= valid.min() - 0.1 and abs(decoded.max() - valid.max()) < 30


def test_srtm_dataset_in_a_stac_catalogue(tmp_path, workspace):
    """The exported Item names the COG as data and the zip, as delivered, as its source."""
    import json

    from geobase.catalog.stac import export
    from geobase.catalog.stac_validation import validate

    z = heights()
    zipped = write_zip(tmp_path / "N23E116.hgt.zip", "N23E116.hgt", z.astype(">i2").tobytes())
    ingest(workspace, [zipped], acquired="2000-02-11/2000-02-22")
    root, withheld = export(workspace, tmp_path / "stac")
    assert withheld == 0 and validate(root)["objects"] >= 3
    [item_path] = [p for p in (tmp_path / "stac").rglob("*.json") if "n23e116" in p.name]
    item = json.loads(item_path.read_text(encoding="utf-8"))
    assert item["properties"]["proj:code"] == "EPSG:4326"
    assert item["assets"]["data"]["href"].endswith("N23E116.cog.tif")
    delivery = item["assets"]["delivery"]
    assert delivery["type"] == "application/zip" and delivery["href"].endswith(".hgt.zip")
    assert (item_path.parent / delivery["href"]).resolve().read_bytes() == zipped.read_bytes()
