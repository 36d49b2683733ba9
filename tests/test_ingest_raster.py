"""Raster ingest: metadata, footprints, COGs, dates, products, and the real sample files."""

from __future__ import annotations

import json
import shutil
import struct

import numpy as np
import pytest
import rasterio
import shapely
from pyproj import Transformer
from rasterio import features
from rasterio.transform import Affine
from rasterio.windows import Window
from rio_cogeo.cogeo import cog_validate

from geobase.catalog import current_datasets
from geobase.errors import (
    MissingCRS,
    ResolutionMismatch,
    SourceReadError,
    UnsupportedInput,
)
from geobase.ingest import ingest, raster
from tests.conftest import run_cli
from tests.ingest_factories import disc, write_tif

TO_4490 = Transformer.from_crs(4548, 4490, always_xy=True)


def full_mask_area_4490(path):
    """The reference: the full-resolution mask polygonised whole, in EPSG:4490."""
    with rasterio.open(path) as ds:
        mask = ds.dataset_mask()
        polys = [
            shapely.geometry.shape(g)
            for g, v in features.shapes(mask, mask=mask > 0, transform=ds.transform)
            if v
        ]
        crs = ds.crs
    geom = shapely.union_all(polys)
    t = Transformer.from_crs(crs, 4490, always_xy=True)
    coords = shapely.get_coordinates(shapely.segmentize(geom, 5))
    x, y = t.transform(coords[:, 0], coords[:, 1])
    return shapely.set_coordinates(shapely.segmentize(geom, 5), np.column_stack([x, y])).area


def n_records(ws) -> int:
    with ws.store.read() as tx:
        return tx.scalar("SELECT count(*) FROM datasets")


def stored_files(ws) -> list[str]:
    data = ws.path("data")
    if not data.exists():
        return []
    return sorted(
        p.relative_to(data).as_posix()
        for p in data.rglob("*")
        if p.is_file() and ".staging" not in p.parts
    )


def test_disc_footprint_area_matches_full_resolution_mask(tmp_path, workspace):
    path = write_tif(tmp_path / "ortho.tif", width=300, height=240, valid=disc(300, 240))
    [r] = ingest(workspace, [path], acquired="2023-03-01")
    frame = current_datasets(workspace.store)
    geom = frame.geometry.iloc[0]
    reference = full_mask_area_4490(path)
    assert abs(geom.area - reference) / reference < 0.01
    # far smaller than the raster's bounds: the disc covers 40% of them
    with rasterio.open(path) as ds:
        x, y = TO_4490.transform(*np.array(ds.bounds).reshape(2, 2).T)
    assert geom.area / shapely.box(x[0], y[0], x[1], y[1]).area == pytest.approx(0.402, abs=0.01)
    assert r.product == "dom05"  # 0.5 m imagery
    assert frame.resolution.iloc[0] == pytest.approx(0.5)
    assert frame.epsg.iloc[0] == 4548
    assert frame.bands.iloc[0] == 3 and frame.dtype.iloc[0] == "uint8"


def test_decimated_footprint_within_one_percent(tmp_path):
    # 1200 px read at 150 cells: the decimated read still lands within 1%
    path = write_tif(
        tmp_path / "big.tif", width=1200, height=1000, count=1, valid=disc(1200, 1000, 0.45)
    )
    info = raster.read_info(path)
    coarse = raster.footprint(info, max_cells=150)
    reference = full_mask_area_4490(path)
    assert abs(coarse.area - reference) / reference < 0.01
    assert coarse.geom_type == "MultiPolygon"


def test_cog_is_valid_and_lossless_for_rgb_and_dem(tmp_path, workspace):
    rgb = write_tif(tmp_path / "rgb.tif", valid=disc(200, 200))
    dem = write_tif(tmp_path / "dem.tif", count=1, dtype="float32", nodata=-9999, res=2.0)
    results = ingest(workspace, [rgb, dem], acquired="2022-01-01/2022-02-01")
    assert [r.kind for r in results] == ["imagery", "dem"]
    assert results[1].product == "dem"
    for r in results:
        stored = workspace.root / r.path
        valid, errors, _ = cog_validate(str(stored), quiet=True)
        assert valid, errors
    with rasterio.open(workspace.root / results[0].path) as ds, rasterio.open(rgb) as src:
        # a lossless delivery gets a lossless COG (lossy deliveries: test_ingest_archive)
        assert ds.compression.name.lower() == "deflate"
        np.testing.assert_array_equal(ds.read(), src.read())
    with rasterio.open(workspace.root / results[1].path) as ds, rasterio.open(dem) as src:
        assert ds.compression.name.lower() == "deflate"
        np.testing.assert_array_equal(ds.read(1), src.read(1))  # lossless


def test_no_cog_keeps_the_delivered_file(tmp_path, workspace):
    path = write_tif(tmp_path / "orig.tif", count=1)
    [r] = ingest(workspace, [path], acquired="2021-05-05", cog=False)
    assert (workspace.root / r.path).read_bytes() == path.read_bytes()


def test_acquisition_from_tiff_tag_and_sidecar(tmp_path, workspace):
    tagged = write_tif(tmp_path / "tagged.tif", tags={"ACQUISITIONDATETIME": "2021:07:15 10:20:00"})
    side = write_tif(tmp_path / "side.tif")
    (tmp_path / "side.json").write_text(
        json.dumps({"acquired": "2020-10-01/2020-10-03", "owner": "汕头市测绘院"}), encoding="utf-8"
    )
    ingest(workspace, [tagged, side])
    frame = current_datasets(workspace.store).set_index("dataset_id")
    assert frame.loc["tagged", "acquired_start"] == "2021-07-15"
    assert (frame.loc["side", "acquired_start"], frame.loc["side", "acquired_end"]) == (
        "2020-10-01",
        "2020-10-03",
    )
    assert frame.loc["side", "owner"] == "汕头市测绘院"
    meta = json.loads(frame.loc["tagged", "metadata"])
    assert meta["acquired_source"] == "TIFF tag ACQUISITIONDATETIME"


def test_gbk_sidecar_is_read_exactly_and_another_encoding_refused(tmp_path, workspace):
    gbk = write_tif(tmp_path / "gbk.tif")
    text = json.dumps({"acquired": "2020-10-01", "owner": "汕头市测绘院"}, ensure_ascii=False)
    (tmp_path / "gbk.json").write_bytes(text.encode("gbk"))
    [r] = ingest(workspace, [gbk])
    assert (r.record["acquired_start"], r.record["owner"]) == ("2020-10-01", "汕头市测绘院")
    # UTF-16 (Notepad's "Unicode"): refused by name, never read with replaced characters
    wide = write_tif(tmp_path / "wide.tif")
    (tmp_path / "wide.txt").write_bytes(("采集日期 2021-03-04 " + text).encode("utf-16"))
    result = run_cli(["ingest", wide, "--workspace", workspace.root])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "wide.txt" in result.stderr
    assert "neither UTF-8 nor GBK" in result.stderr
    assert list(current_datasets(workspace.store)["dataset_id"]) == ["gbk"]


def test_tiff_datetime_is_the_file_date_never_the_acquisition(tmp_path, workspace):
    # DateTime is when the file was written: a 2019 flight exported in 2023 says 2023
    exported = write_tif(
        tmp_path / "exported.tif", tags={"TIFFTAG_DATETIME": "2023:03:01 09:00:00"}
    )
    [r] = ingest(workspace, [exported])
    assert r.record["acquired_start"] is None and r.record["acquired_end"] is None
    meta = json.loads(r.record["metadata"])
    assert meta["acquired_source"].startswith("unknown")
    assert meta["file_date"] == "2023-03-01"
    # a sidecar (or --acquired) dates it; the file date stays a record beside it
    again = write_tif(tmp_path / "again.tif", tags={"TIFFTAG_DATETIME": "2023:03:01 09:00:00"})
    (tmp_path / "again.json").write_text(json.dumps({"acquired": "2019-11-02"}), encoding="utf-8")
    [r] = ingest(workspace, [again])
    assert r.record["acquired_start"] == "2019-11-02"
    assert json.loads(r.record["metadata"])["file_date"] == "2023-03-01"


def test_cli_says_a_raster_with_only_a_file_date_is_undated(tmp_path, workspace):
    path = write_tif(tmp_path / "export.tif", tags={"TIFFTAG_DATETIME": "2023:03:01 09:00:00"})
    result = run_cli(["ingest", path, "--workspace", workspace.root])
    assert result.exit_code == 0, result.stderr
    assert "acquisition date unknown: re-ingest with --acquired" in result.output


def test_no_date_is_recorded_unknown_never_mtime(tmp_path, workspace):
    path = write_tif(tmp_path / "undated.tif")
    [r] = ingest(workspace, [path])
    assert r.record["acquired_start"] is None and r.record["acquired_end"] is None
    assert json.loads(r.record["metadata"])["acquired_source"].startswith("unknown")
    # dating it later is a new delivery of the same file: same checksum, so unchanged...
    [again] = ingest(workspace, [path], acquired="2022-05-01")
    assert again.status == "unchanged"
    # ...and an undated dataset never enters an as-of view, and sorts after dated ones
    assert current_datasets(workspace.store, as_of="2100-01-01").empty
    dated = write_tif(tmp_path / "dated.tif", tags={"ACQUISITIONDATETIME": "2021:07:15 10:00:00"})
    ingest(workspace, [dated])
    assert list(current_datasets(workspace.store)["dataset_id"]) == ["dated", "undated"]


def test_resolution_checked_against_product(tmp_path, workspace):
    path = write_tif(tmp_path / "coarse.tif", res=0.2)
    with pytest.raises(ResolutionMismatch, match="dom005"):
        ingest(workspace, [path], product="dom005", acquired="2023-01-01")
    [r] = ingest(workspace, [path], product="dom02", acquired="2023-01-01")
    assert r.product == "dom02"
    fine = write_tif(tmp_path / "fine.tif", res=0.05)
    [r] = ingest(workspace, [fine], acquired="2023-01-01")
    assert r.product == "dom005"


def test_workspace_product_registry_extends_defaults(tmp_path, workspace):
    workspace.config.products["dom03"] = {
        "name_zh": "0.3米影像",
        "name_en": "imagery 0.3 m",
        "kind": "imagery",
        "resolution": 0.3,
    }
    path = write_tif(tmp_path / "x.tif", res=0.3)
    [r] = ingest(workspace, [path], acquired="2023-01-01")
    assert r.product == "dom03"


def test_missing_crs_refused_unless_given(tmp_path, workspace):
    path = write_tif(tmp_path / "nocrs.tif", crs=None, count=1)
    with pytest.raises(MissingCRS, match="--crs"):
        ingest(workspace, [path], acquired="2023-01-01")
    assert n_records(workspace) == 0
    [r] = ingest(workspace, [path], acquired="2023-01-01", crs="EPSG:4548")
    frame = current_datasets(workspace.store)
    assert frame.epsg.iloc[0] == 4548
    with rasterio.open(workspace.root / r.path) as ds:
        assert ds.crs.to_epsg() == 4548


def test_tiff_without_georeferencing_refused(tmp_path, workspace):
    path = write_tif(tmp_path / "plain.tif", georeferenced=False)
    with pytest.raises(UnsupportedInput, match="without georeferencing"):
        ingest(workspace, [path], acquired="2023-01-01", crs="EPSG:4548")
    assert n_records(workspace) == 0 and stored_files(workspace) == []


def test_zero_byte_and_garbage_tif_refused(tmp_path, workspace):
    empty = tmp_path / "empty.tif"
    empty.write_bytes(b"")
    with pytest.raises(SourceReadError, match="empty file"):
        ingest(workspace, [empty], acquired="2023-01-01")
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"not a tiff at all" * 10)
    with pytest.raises(SourceReadError, match="cannot be opened"):
        ingest(workspace, [junk], acquired="2023-01-01")
    assert n_records(workspace) == 0 and stored_files(workspace) == []


def test_all_nodata_refused(tmp_path, workspace):
    path = write_tif(tmp_path / "blank.tif", valid=np.zeros((200, 200), bool))
    with pytest.raises(UnsupportedInput, match="no valid pixel"):
        ingest(workspace, [path], acquired="2023-01-01")


# --- the real sample files ------------------------------------------------------------


def test_real_rgb_byte_footprint_smaller_than_bounds(real_data, workspace):
    [r] = ingest(workspace, [real_data / "RGB.byte.tif"], acquired="2013-05-01")
    frame = current_datasets(workspace.store)
    geom = frame.geometry.iloc[0]
    with rasterio.open(real_data / "RGB.byte.tif") as ds:
        bounds = shapely.box(*ds.bounds)
        t = Transformer.from_crs(ds.crs, 4490, always_xy=True)
    bx = shapely.get_coordinates(shapely.segmentize(bounds, 1000))
    bounds_4490 = shapely.Polygon(np.column_stack(t.transform(bx[:, 0], bx[:, 1])))
    assert geom.area < 0.8 * bounds_4490.area  # the tilted scene in its nodata collar
    reference = full_mask_area_4490(real_data / "RGB.byte.tif")
    assert abs(geom.area - reference) / reference < 0.01
    assert frame.epsg.iloc[0] == 32618
    assert r.product == "imagery"  # 300 m fits no plan product
    assert frame.nodata.iloc[0] == 0


def test_real_shade_nodata_255(real_data, workspace):
    ingest(workspace, [real_data / "shade.tif"], acquired="2013-05-01")
    frame = current_datasets(workspace.store)
    geom = frame.geometry.iloc[0]
    assert frame.nodata.iloc[0] == 255 and frame.bands.iloc[0] == 1
    assert geom.area < 0.5 * shapely.box(*geom.bounds).area
    reference = full_mask_area_4490(real_data / "shade.tif")
    assert abs(geom.area - reference) / reference < 0.01


def test_real_corrupt_refused_catalogue_unchanged(real_data, workspace, tmp_path):
    ok = write_tif(tmp_path / "ok.tif")
    with pytest.raises(SourceReadError, match=r"corrupt\.tif: pixel data cannot be decoded"):
        ingest(workspace, [ok, real_data / "corrupt.tif"], acquired="2020-01-01")
    assert n_records(workspace) == 0 and stored_files(workspace) == []
    assert not any(workspace.path("data", ".staging").iterdir())


def test_cli_real_files(real_data, workspace, tmp_path):
    ws = ["--workspace", workspace.root]
    corrupt = tmp_path / "corrupt.tif"
    shutil.copy(real_data / "corrupt.tif", corrupt)
    result = run_cli(["ingest", corrupt, "--acquired", "2020-01-01", *ws])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "corrupt.tif" in result.stderr
    result = run_cli(
        ["ingest", real_data / "RGB.byte.tif", "--acquired", "2013-05-01", "--format", "json", *ws]
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)[0]["status"] == "ingested"
    result = run_cli(
        ["ingest", real_data / "RGB.byte.tif", "--acquired", "2013-05-01", "--format", "json", *ws]
    )
    assert json.loads(result.stdout)[0]["status"] == "unchanged"
    result = run_cli(["ingest", real_data / "shade.tif", "--acquired", "2013-13-01", *ws])
    assert result.exit_code == 2 and "no such day" in result.stderr
    result = run_cli(
        ["ingest", real_data / "shade.tif", "--acquired", "2013-01-01", "--product", "nope", *ws]
    )
    assert result.exit_code == 2 and "unknown product" in result.stderr
    result = run_cli(["ingest", real_data / "shade.tif", *ws])  # no date anywhere: unknown
    assert result.exit_code == 0 and "acquisition date unknown" in result.stderr


@pytest.mark.parametrize("bigtiff", ["NO", "YES"])
def test_sparse_tiled_geotiff_is_accepted(tmp_path, bigtiff):
    # 100000 x 100000 RGB in 512-pixel tiles, two tiles written, the rest empty (GDAL's
    # SPARSE_OK): 30 GB of pixels in a 2 MB file, 15,000x the whole file, yet each
    # stored tile holds its pixels at about 1:1
    path = tmp_path / "sparse.tif"
    profile = dict(driver="GTiff", width=100_000, height=100_000, count=3, dtype="uint8",
                   crs="EPSG:4548", transform=Affine(0.5, 0, 466_300, 0, -0.5, 2_584_900),
                   tiled=True, blockxsize=512, blockysize=512, compress="deflate",
                   sparse_ok=True, nodata=0, BIGTIFF=bigtiff)  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        pixels = np.random.default_rng(1).integers(1, 255, (3, 512, 1024), dtype="uint8")
        dst.write(pixels, window=Window(0, 0, 1024, 512))
    size = path.stat().st_size
    assert path.read_bytes()[2] == (43 if bigtiff == "YES" else 42)
    assert size * raster.MAX_COMPRESSION_RATIO < 100_000 * 100_000 * 3
    info = raster.read_info(path)
    assert (info.width, info.height, info.count) == (100_000, 100_000, 3)


def _one_strip_tiff(path, *, strip_bytes: int) -> None:
    """A TIFF header stating 100000 x 100000 deflate pixels in one strip of strip_bytes."""
    data_at = 8 + 2 + 9 * 12 + 4
    entries = [
        (256, 4, 1, 100_000),  # width
        (257, 4, 1, 100_000),  # height
        (258, 3, 1, 8),  # bits per sample
        (259, 3, 1, 8),  # deflate
        (262, 3, 1, 1),  # black is zero
        (273, 4, 1, data_at if strip_bytes else 0),  # strip offset
        (277, 3, 1, 1),  # one sample per pixel
        (278, 4, 1, 100_000),  # rows per strip
        (279, 4, 1, strip_bytes),  # strip byte count
    ]
    body = struct.pack("<2sHI", b"II", 42, 8) + struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        body += struct.pack("<HHII", tag, typ, count, value)
    path.write_bytes(body + struct.pack("<I", 0) + bytes(strip_bytes))


@pytest.mark.parametrize(
    ("strip_bytes", "message"),
    [
        (0, "none of its 1 blocks holds any bytes"),
        (200, "its 1 stored blocks hold 10,000,000,000 bytes of pixels in 200 bytes"),
    ],
)
def test_header_stating_pixels_its_blocks_cannot_hold_is_refused(tmp_path, strip_bytes, message):
    path = tmp_path / "huge.tif"
    _one_strip_tiff(path, strip_bytes=strip_bytes)
    with pytest.raises(SourceReadError, match=message):
        raster.read_info(path)
