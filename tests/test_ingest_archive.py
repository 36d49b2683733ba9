"""Nothing lost: deliveries archived byte for byte, derived COGs beside them, both listed.

Runs on both stores (a ``test_ingest_*`` module).
"""

from __future__ import annotations

import hashlib
import json

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from rio_cogeo.cogeo import cog_validate

from geobase.errors import SourceReadError
from geobase.ingest import ingest, prepare
from geobase.tiles.build import resolve_sources
from tests.conftest import INTEGRITY_ERRORS, run_cli
from tests.ingest_factories import EAST0, NORTH0, disc, write_las, write_tif


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files_of(ws, dataset_id: str) -> dict[str, dict]:
    with ws.store.read() as tx:
        rows = tx.query(
            "SELECT role, path, size, sha256, description FROM dataset_files "
            "WHERE dataset_id = :id ORDER BY fid",
            {"id": dataset_id},
        )
    return {r["role"]: dict(r) for r in rows}


def recompress(src, dst, **options):
    with rasterio.open(src) as s:
        profile = {**s.profile, "blockxsize": 256, "blockysize": 256, **options}
        with rasterio.open(dst, "w", **profile) as d:
            d.write(s.read())
    return dst


@pytest.mark.parametrize("compress", [None, "lzw"])
def test_lossless_delivery_kept_byte_for_byte_with_a_lossless_cog(tmp_path, workspace, compress):
    path = write_tif(tmp_path / "src.tif", width=300, height=260, valid=disc(300, 260))
    if compress:
        path = recompress(path, tmp_path / "ortho.tif", compress=compress, tiled=True)
    [r] = ingest(workspace, [path], acquired="2024-02-02", classification="public")
    files = files_of(workspace, r.dataset_id)
    assert set(files) == {"delivery", "derived"}
    delivery, cog = files["delivery"], files["derived"]
    kept = workspace.file(delivery["path"])
    assert kept.read_bytes() == path.read_bytes()
    assert delivery["sha256"] == sha256(path) == r.record["checksum"]
    assert delivery["size"] == path.stat().st_size == r.record["size"]
    # the COG lies beside it, is what the record names (tiles, packages read it) and is
    # lossless: pixel-identical, the same mask
    assert r.path == cog["path"] and cog["path"].endswith(".cog.tif")
    derived = workspace.file(cog["path"])
    assert derived.parent == kept.parent
    assert cog["sha256"] == sha256(derived) and cog["size"] == derived.stat().st_size
    assert cog_validate(str(derived), quiet=True)[0]
    assert "lossless" in cog["description"]
    with rasterio.open(derived) as d, rasterio.open(path) as s:
        assert d.compression.name.lower() == "deflate"
        assert (d.transform, d.crs, d.count) == (s.transform, s.crs, s.count)
        np.testing.assert_array_equal(d.read(), s.read())
        np.testing.assert_array_equal(d.dataset_mask(), s.dataset_mask())
    meta = json.loads(r.record["metadata"])
    assert meta["stored"]["lossless"] is True
    # tile builds read the derived COG, not the delivery
    [source] = resolve_sources(workspace, r.dataset_id)
    assert source.path == derived


def test_jpeg_delivery_keeps_a_jpeg_cog(tmp_path, workspace):
    path = recompress(
        write_tif(tmp_path / "src.tif"),
        tmp_path / "jpeg_ortho.tif",
        compress="jpeg",
        photometric="ycbcr",
        tiled=True,
        nodata=None,
    )
    [r] = ingest(workspace, [path], acquired="2024-02-02")
    files = files_of(workspace, r.dataset_id)
    assert workspace.file(files["delivery"]["path"]).read_bytes() == path.read_bytes()
    with rasterio.open(workspace.file(r.path)) as d:
        assert d.compression.name.lower() == "jpeg"
    assert "lossy" in files["derived"]["description"]


def test_product_config_chooses_the_cog_compression(tmp_path, workspace):
    workspace.config.products["dom05"] = {"cog_compression": "jpeg"}
    workspace.config.products["dem"] = {"cog_compression": "jpeg"}  # not for a DEM
    rgb = write_tif(tmp_path / "rgb.tif")
    dem = write_tif(tmp_path / "dem.tif", count=1, dtype="float32", nodata=-9999, res=2.0)
    r1, r2 = ingest(workspace, [rgb, dem], acquired="2024-02-02")
    with rasterio.open(workspace.file(r1.path)) as d:
        assert d.compression.name.lower() == "jpeg"
    with rasterio.open(workspace.file(r2.path)) as d, rasterio.open(dem) as s:
        assert d.compression.name.lower() == "deflate"
        np.testing.assert_array_equal(d.read(), s.read())
    assert workspace.file(files_of(workspace, "rgb")["delivery"]["path"]).read_bytes() == (
        rgb.read_bytes()
    )


def test_point_clouds_and_vectors_keep_their_originals(tmp_path, workspace):
    las = write_las(tmp_path / "scan.las")
    shp = tmp_path / "dlg" / "roads.shp"
    shp.parent.mkdir()
    gpd.GeoDataFrame(
        {"name": ["路一", "路二"]},
        geometry=[shapely.box(EAST0, NORTH0, EAST0 + 50, NORTH0 + 40),
                  shapely.box(EAST0 + 60, NORTH0, EAST0 + 90, NORTH0 + 30)],
        crs="EPSG:4548",
    ).to_file(shp, engine="pyogrio")  # fmt: skip
    results = ingest(workspace, [las, shp], acquired="2024-02-02", dem_resolution=5.0)
    assert [r.kind for r in results] == ["pointcloud", "dem", "vector"]
    cloud = files_of(workspace, "scan")
    assert set(cloud) == {"delivery"}
    assert workspace.file(cloud["delivery"]["path"]).read_bytes() == las.read_bytes()
    assert cloud["delivery"]["sha256"] == sha256(las) == results[0].record["checksum"]
    dem = files_of(workspace, "scan-dem")
    assert set(dem) == {"derived"} and dem["derived"]["path"] == results[1].path
    with workspace.store.read() as tx:
        rows = tx.query(
            "SELECT path, sha256 FROM dataset_files WHERE dataset_id = 'roads' ORDER BY path"
        )
    kept = {workspace.file(r["path"]).name: r["sha256"] for r in rows}
    delivered = sorted(p for p in shp.parent.iterdir())
    assert sorted(kept) == [p.name for p in delivered]  # .shp, .shx, .dbf, .prj, .cpg
    for p in delivered:
        assert kept[p.name] == sha256(p)


def test_catalog_show_lists_delivery_and_derived(tmp_path, workspace):
    path = write_tif(tmp_path / "ortho.tif")
    ingest(workspace, [path], acquired="2024-02-02")
    result = run_cli(["catalog", "show", "ortho", "--workspace", workspace.root])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    roles = {f["role"]: f for f in record["files"]}
    assert roles["delivery"]["sha256"] == record["checksum"] == sha256(path)
    assert roles["delivery"]["path"].endswith("/ortho.tif")
    assert roles["derived"]["path"] == record["path"]
    assert roles["derived"]["size"] == workspace.file(record["path"]).stat().st_size
    result = run_cli(["catalog", "show", "ortho", "--format", "table",
                      "--workspace", workspace.root])  # fmt: skip
    assert result.exit_code == 0, result.output
    for f in record["files"]:
        assert f["path"] in result.stdout and f["sha256"] in result.stdout
    assert "delivery" in result.stdout and "derived" in result.stdout


def test_files_are_append_only(tmp_path, workspace):
    ingest(workspace, [write_tif(tmp_path / "ortho.tif")], acquired="2024-02-02")
    for sql in ("UPDATE dataset_files SET sha256 = 'x'", "DELETE FROM dataset_files"):
        with (
            pytest.raises(INTEGRITY_ERRORS, match="append-only"),
            workspace.store.transaction() as tx,
        ):
            tx.execute(sql)


def test_delivery_changed_while_ingested_is_refused(tmp_path, workspace, monkeypatch):
    path = write_tif(tmp_path / "ortho.tif")
    read_sidecar = prepare.read_sidecar

    def still_uploading(p):
        with open(path, "ab") as f:  # more bytes arrive after the checksum was taken
            f.write(b"\0" * 16)
        return read_sidecar(p)

    monkeypatch.setattr(prepare, "read_sidecar", still_uploading)
    with pytest.raises(SourceReadError, match="changed while being ingested"):
        ingest(workspace, [path], acquired="2024-02-02")
    with workspace.store.read() as tx:
        assert tx.scalar("SELECT count(*) FROM datasets") == 0
        assert tx.scalar("SELECT count(*) FROM dataset_files") == 0
    assert not [p for p in workspace.data_path("data").rglob("*") if p.is_file()]
