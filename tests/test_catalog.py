"""The catalogue: versions and history, search, removal, STAC export, CLI."""

from __future__ import annotations

import json

import pystac
import pytest
from pystac.extensions.file import FileExtension
from pystac.extensions.projection import ProjectionExtension

from geobase.catalog import current_datasets
from geobase.catalog.search import history, remove, search, show
from geobase.catalog.stac import export, validate
from geobase.errors import NotFoundError, StoreError, UnsupportedInput
from geobase.ingest import ingest
from tests.conftest import run_cli
from tests.ingest_factories import EAST0, NORTH0, disc, write_las, write_tif

JUNE_2023 = 1369612818.0 - 1e9  # adjusted GPS time on 2023-06-01


@pytest.fixture
def filled(tmp_path, workspace):
    """Three datasets: 2020 public imagery, 2022 internal imagery, 2023 restricted lidar."""
    a = write_tif(tmp_path / "a.tif", valid=disc(200, 200))
    b = write_tif(tmp_path / "b.tif", width=100, height=100, res=2.0)
    c = write_las(tmp_path / "c.las", gps=(JUNE_2023, JUNE_2023 + 100))
    ingest(workspace, [a], acquired="2020-03-01", classification="public", owner="市测绘院")
    ingest(workspace, [b], acquired="2022-05-01/2022-05-20")
    ingest(workspace, [c], classification="restricted")
    return workspace


def test_supersede_keeps_history_and_unchanged_changes_nothing(tmp_path, workspace):
    path = write_tif(tmp_path / "site.tif", count=1)
    [r1] = ingest(workspace, [path], acquired="2020-01-01")
    [again] = ingest(workspace, [path], acquired="2020-01-01")
    assert again.status == "unchanged" and again.version == 1
    with workspace.store.read() as tx:
        assert tx.scalar("SELECT count(*) FROM datasets") == 1
    write_tif(path, count=1, nodata=None)  # a new delivery of the same dataset
    [r2] = ingest(workspace, [path], acquired="2021-01-01")
    assert (r2.status, r2.version) == ("superseded", 2)
    assert (workspace.root / r1.path).is_file() and (workspace.root / r2.path).is_file()
    frame = current_datasets(workspace.store)
    assert list(frame.version) == [2] and frame.acquired_start.iloc[0] == "2021-01-01"
    h = history(workspace.store, "site")
    assert list(h.status) == ["superseded", "current"]
    # the catalogue as it stood before the new delivery
    old = current_datasets(workspace.store, as_of="2020-06-01")
    assert list(old.version) == [1]


def test_search_by_bbox_product_dates_classification(filled):
    assert len(search(filled.store)) == 3
    assert set(search(filled.store, product="dom05").dataset_id) == {"a"}
    assert set(search(filled.store, product=["dom2", "pointcloud"]).dataset_id) == {"b", "c"}
    assert set(search(filled.store, start="2022-05-10", end="2022-12-31").dataset_id) == {"b"}
    assert set(search(filled.store, start="2023-01-01").dataset_id) == {"c"}
    assert set(search(filled.store, end="2020-12-31").dataset_id) == {"a"}
    assert set(search(filled.store, classification="public").dataset_id) == {"a"}
    assert set(search(filled.store, classification=["internal", "restricted"]).dataset_id) == {
        "b",
        "c",
    }
    # a: a disc in a 100 m square at the origin; b: 200 m; c: 100 m
    a = search(filled.store, product="dom05").geometry.iloc[0]
    corner = a.bounds  # the disc's box: its corner holds no data
    tiny = (corner[0], corner[1], corner[0] + 1e-6, corner[1] + 1e-6)
    assert "a" not in set(search(filled.store, bbox=tiny).dataset_id)  # bbox meets envelope only
    centre = a.centroid
    box = (centre.x - 1e-5, centre.y - 1e-5, centre.x + 1e-5, centre.y + 1e-5)
    assert set(search(filled.store, bbox=box).dataset_id) == {"a", "b", "c"}
    assert search(filled.store, bbox=(0, 0, 1, 1)).empty
    with pytest.raises(UnsupportedInput):
        search(filled.store, start="2023-01-01", end="2022-01-01")
    with pytest.raises(UnsupportedInput):
        search(filled.store, classification="secret")


def test_remove_show_and_history(filled):
    record = show(filled.store, "a")
    assert (
        record["owner"] == "市测绘院" and record["metadata"]["bands"]
        if "bands" in record["metadata"]
        else True
    )
    assert record["versions"] == [1]
    event = remove(filled, "a", reason="wrong area", by_user="li")
    assert event["version"] == 1
    assert "a" not in set(search(filled.store).dataset_id)
    h = history(filled.store, "a")
    assert list(h.status) == ["removed"] and h.removed_reason.iloc[0] == "wrong area"
    with pytest.raises(NotFoundError, match="already removed"):
        remove(filled, "a")
    with pytest.raises(NotFoundError, match="no dataset"):
        remove(filled, "nope")
    with pytest.raises(NotFoundError, match="no version 7"):
        show(filled.store, "b", version=7)
    # purge deletes the files of the removed version
    path = filled.root / show(filled.store, "b")["path"]
    remove(filled, "b", purge=True)
    assert not path.exists()


def test_stac_export_validates(filled, tmp_path):
    root = export(filled, tmp_path / "stac")
    report = validate(root)
    assert report["objects"] == 1 + 3 + 3  # catalogue, 3 collections, 3 items
    cat = pystac.read_file(str(root))
    collections = {c.id: c for c in cat.get_children()}
    assert set(collections) == {"dom05", "dom2", "pointcloud"}
    item = next(collections["dom05"].get_items())
    assert item.id == "a"
    assert item.properties["start_datetime"].startswith("2020-03-01")
    assert item.properties["geobase:classification"] == "public"
    proj = ProjectionExtension.ext(item)
    assert proj.code == "EPSG:4548" and proj.shape == [200, 200]
    asset = item.assets["data"]
    file_ext = FileExtension.ext(asset)
    assert file_ext.checksum.startswith("1220") and len(file_ext.checksum) == 68
    assert file_ext.size == (filled.root / show(filled.store, "a")["path"]).stat().st_size
    # the delivery as delivered beside it (the data asset is the COG derived from it)
    delivery = item.assets["delivery"]
    assert delivery.roles == ["source"]
    assert FileExtension.ext(delivery).checksum == "1220" + show(filled.store, "a")["checksum"]
    lidar = next(collections["pointcloud"].get_items())
    assert lidar.assets["data"].media_type == "application/vnd.las"
    # a broken item fails validation
    data = json.loads((tmp_path / "stac" / "dom05" / "a" / "a.json").read_text())
    data["geometry"]["type"] = "Circle"  # not a GeoJSON geometry type
    (tmp_path / "stac" / "dom05" / "a" / "a.json").write_text(json.dumps(data))
    with pytest.raises(StoreError, match="does not validate"):
        validate(root)


def test_cli_catalog(filled, tmp_path):
    ws = ["--workspace", filled.root]
    result = run_cli(["catalog", "list", "--format", "json", *ws])
    assert result.exit_code == 0, result.stderr
    assert {r["dataset_id"] for r in json.loads(result.stdout)} == {"a", "b", "c"}
    result = run_cli(["catalog", "search", "--classification", "public", "--format", "csv", *ws])
    assert result.stdout.splitlines()[1].split(",")[1] == "a"
    result = run_cli(["catalog", "search", "--bbox", "1,2,3", *ws])
    assert result.exit_code == 2
    result = run_cli(["catalog", "search", "--from", "2023-13-01", *ws])
    assert result.exit_code == 2 and "not a date" in result.stderr
    result = run_cli(["catalog", "search", "--product", "dom2", "--format", "geojson", *ws])
    assert json.loads(result.stdout)["features"][0]["properties"]["dataset_id"] == "b"
    result = run_cli(["catalog", "show", "c", *ws])
    assert json.loads(result.stdout)["point_count"] == 4000
    result = run_cli(["catalog", "show", "zzz", *ws])
    assert result.exit_code == 2 and "no dataset" in result.stderr
    result = run_cli(["catalog", "remove", "b", "--reason", "test", *ws])
    assert result.exit_code == 0
    result = run_cli(["catalog", "show", "b", "--history", "--format", "json", *ws])
    assert json.loads(result.stdout)[0]["status"] == "removed"
    out = tmp_path / "stac"
    result = run_cli(["catalog", "stac", out, *ws])
    assert result.exit_code == 0, result.stderr
    assert (out / "catalog.json").is_file()
    result = run_cli(["catalog", "stac", out, *ws])
    assert result.exit_code == 2 and "--overwrite" in result.stderr
    assert EAST0 and NORTH0
