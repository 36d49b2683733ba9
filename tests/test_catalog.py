"""The catalogue: versions and history, search, removal, STAC export, CLI."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
from datetime import date as dt_date
from pathlib import Path

import laspy
import pyogrio
import pystac
import pytest
import rasterio
from pystac.extensions.file import FileExtension
from pystac.extensions.projection import ProjectionExtension

from geobase.catalog import current_datasets
from geobase.catalog.search import history, remove, search, show
from geobase.catalog.stac import ArchiveChanged, export
from geobase.catalog.stac_validation import SchemaNotShipped, StacInvalid, validate
from geobase.errors import NotFoundError, UnknownClassification, UnsupportedInput
from geobase.ingest import ingest
from tests.conftest import run_cli
from tests.ingest_factories import (
    EAST0,
    NORTH0,
    disc,
    square_feature,
    write_geojson,
    write_las,
    write_tif,
)

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
    with pytest.raises(UnknownClassification):
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


def test_stac_export_withholds_restricted_unless_asked(filled, tmp_path):
    root, withheld = export(filled, tmp_path / "stac")  # default: up to internal
    assert withheld == 1
    ids = {item.id for item in pystac.read_file(str(root)).get_items(recursive=True)}
    assert ids == {"a", "b"}  # c (restricted lidar) is not in the folder
    assert not list((tmp_path / "stac").rglob("c.las"))
    _, withheld = export(filled, tmp_path / "public", max_classification="public")
    assert withheld == 2


def test_stac_export_validates(filled, tmp_path):
    root, withheld = export(filled, tmp_path / "stac", max_classification="restricted")
    assert withheld == 0
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
    with pytest.raises(StacInvalid, match="does not validate"):
        validate(root)


EXTENSIONS = [
    f"https://stac-extensions.github.io/{name}/schema.json"
    for name in (
        "eo/v1.1.0",
        "file/v2.1.0",
        "pointcloud/v1.0.0",
        "projection/v2.0.0",
        "raster/v1.1.0",
    )
]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_stac_catalogue_moved_validates_offline_and_every_asset_opens(
    filled, tmp_path, monkeypatch
):
    dem = write_tif(tmp_path / "dem.tif", count=1, dtype="float32", nodata=-9999.0)
    ingest(filled, [dem], acquired="2021-04-01")
    roads = [square_feature(EAST0, NORTH0, 50, name="中山路"), square_feature(EAST0, NORTH0, 20)]
    ingest(filled, [write_geojson(tmp_path / "roads.geojson", roads)], acquired="2021-04-01")
    export(filled, tmp_path / "stac", max_classification="restricted")
    moved = tmp_path / "elsewhere" / "published stac"
    moved.parent.mkdir()
    shutil.move(tmp_path / "stac", moved)
    for text in (p.read_text(encoding="utf-8") for p in moved.rglob("*.json")):
        assert str(tmp_path) not in text and str(filled.root) not in text  # nothing absolute

    def no_network(*args, **kwargs):
        raise AssertionError(f"validation tried the network: {args}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    report = validate(moved / "catalog.json")
    collections = {p.parent.name for p in moved.glob("*/collection.json")}
    assert report == {"objects": 1 + len(collections) + 5, "extensions": EXTENSIONS}

    cat = pystac.read_file(str(moved / "catalog.json"))
    items = {i.id: i for i in cat.get_items(recursive=True)}
    assert set(items) == {"a", "b", "c", "dem", "roads"}
    for item in items.values():
        for asset in item.assets.values():
            assert asset.href.startswith("./"), asset.href
            path = Path(asset.get_absolute_href())
            assert path.is_relative_to(moved) and path.is_file()
            f = FileExtension.ext(asset)
            assert f.checksum == "1220" + _sha256(path) and f.size == path.stat().st_size
            kind = item.properties["geobase:kind"]
            if kind in ("imagery", "dem"):
                with rasterio.open(path) as ds:
                    assert ds.read(1, window=((0, 8), (0, 8))).shape == (8, 8)
            elif kind == "pointcloud":
                assert len(laspy.read(path).points) == 4000
            else:
                assert pyogrio.read_dataframe(path)["name"].iloc[0] == "中山路"

    a = items["a"]
    proj = ProjectionExtension.ext(a)
    assert proj.code == "EPSG:4548" and proj.shape == [200, 200]
    assert proj.bbox == pytest.approx([EAST0, NORTH0, EAST0 + 100, NORTH0 + 100])
    bands = a.assets["data"].extra_fields["raster:bands"]
    assert [b["data_type"] for b in bands] == ["uint8"] * 3
    assert all(b["spatial_resolution"] == 0.5 for b in bands)
    with rasterio.open(a.assets["data"].get_absolute_href()) as cog:
        assert [b.get("nodata") for b in bands] == list(cog.nodatavals)
    # the delivery as delivered, beside the COG derived from it, with its own bands
    delivery = a.assets["delivery"]
    assert delivery.roles == ["source"] and delivery.href == "./v1/a.tif"
    assert [b["nodata"] for b in delivery.extra_fields["raster:bands"]] == [0, 0, 0]
    assert FileExtension.ext(delivery).checksum == "1220" + show(filled.store, "a")["checksum"]
    eo = a.assets["data"].extra_fields["eo:bands"]
    assert [b.get("common_name") for b in eo] == ["red", "green", "blue"]
    dem_bands = items["dem"].assets["data"].extra_fields["raster:bands"]
    assert dem_bands == [
        {"data_type": "float32", "nodata": -9999, "sampling": "area", "spatial_resolution": 0.5}
    ]
    assert "eo:bands" not in items["dem"].assets["data"].extra_fields  # a DEM is not optical
    lidar = items["c"].properties
    assert lidar["pc:count"] == 4000 and lidar["pc:encoding"] == "binary"
    assert lidar["pc:type"] == "other"  # single returns: lidar or photogrammetry, unknown
    schemas = {s["name"]: s for s in lidar["pc:schemas"]}
    assert schemas["X"] == {"name": "X", "size": 8, "type": "floating"}
    assert schemas["classification"] == {"name": "classification", "size": 1, "type": "unsigned"}
    assert schemas["gps_time"]["type"] == "floating"
    las = laspy.read(Path(items["c"].assets["data"].get_absolute_href()))
    assert lidar["proj:bbox"] == pytest.approx([*las.header.mins, *las.header.maxs])
    z = next(s for s in lidar["pc:statistics"] if s["name"] == "Z")
    assert z["minimum"] == pytest.approx(las.z.min()) and z["maximum"] == pytest.approx(las.z.max())
    assert lidar["pc:density"] == pytest.approx(0.4, rel=0.2)  # 4000 points on 100 m x 100 m

    # an extension field of the wrong kind fails against the shipped extension schema
    path = moved / "dom05" / "a" / "a.json"
    original = path.read_text()
    data = json.loads(original)
    data["assets"]["data"]["raster:bands"][0]["data_type"] = "byte"
    path.write_text(json.dumps(data))
    with pytest.raises(StacInvalid, match=r"item a does not validate against .*raster/v1\.1\.0"):
        validate(moved / "catalog.json")
    # an object naming a schema geobase does not ship is refused, without fetching it
    data = json.loads(original)
    data["stac_extensions"].append("https://stac-extensions.github.io/sat/v1.0.0/schema.json")
    path.write_text(json.dumps(data))
    with pytest.raises(SchemaNotShipped, match=r"sat/v1\.0\.0"):
        validate(moved / "catalog.json")


def test_stac_export_links_or_replaces_whole(filled, tmp_path):
    out = tmp_path / "stac.v1"  # a dot in the name: still a folder
    export(filled, out, link=True)
    item = pystac.read_file(str(out / "dom05" / "a" / "a.json"))
    exported = Path(item.assets["data"].get_absolute_href())
    archived = filled.root / show(filled.store, "a")["path"]
    assert os.path.samefile(exported, archived)  # a hard link: no second copy
    remove(filled, "b")
    export(filled, out)  # replaced: b is gone, nothing partial is left beside it
    assert not (out / "dom2").exists() and not os.path.samefile(
        out / "dom05" / "a" / exported.relative_to(out / "dom05" / "a"), archived
    )
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    # an archive changed after ingest is refused; the previous export stays as it was
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    with archived.open("ab") as f:
        f.write(b"\0")
    with pytest.raises(ArchiveChanged, match="no longer matches"):
        export(filled, out)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


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
    assert "withheld 1 dataset(s) above internal" in result.stderr
    result = run_cli(["catalog", "stac", out, *ws])
    assert result.exit_code == 2 and "--overwrite" in result.stderr
    assert EAST0 and NORTH0


# --- the paged search against its reference ------------------------------------------


@pytest.fixture(scope="module")
def generated_catalogue(tmp_path_factory):
    """80 datasets over Shantou, 1-3 versions each, some undated, some removed."""
    import random

    import shapely

    from geobase.store import Workspace, utc_now

    rng = random.Random(21)
    ws = Workspace.init(tmp_path_factory.mktemp("catalogue") / "ws", name="generated")
    with ws.store.transaction() as tx:
        for i in range(80):
            for version in range(1, rng.randint(1, 3) + 1):
                w, s = rng.uniform(116.4, 116.9), rng.uniform(23.1, 23.5)
                size = rng.uniform(0.01, 0.15)
                year = rng.randint(2015, 2025)
                start = None if rng.random() < 0.1 else f"{year}-{rng.randint(1, 12):02d}-01"
                end = None if rng.random() < 0.1 else f"{year}-{rng.randint(1, 12):02d}-15"
                shape = shapely.box(w, s, w + size, s + size * rng.uniform(0.3, 1.0))
                if rng.random() < 0.2:  # not a box: the exact test matters near corners
                    shape = shape.buffer(-size / 4).union(shapely.Point(w, s).buffer(size / 6))
                geom = shapely.MultiPolygon(
                    [shape] if shape.geom_type == "Polygon" else shape.geoms
                )
                tx.insert(
                    "datasets",
                    {
                        "dataset_id": f"ds{i:03d}",
                        "version": version,
                        "product": rng.choice(["dom02", "dom005", "dem"]),
                        "kind": "imagery",
                        "title": f"ds{i}",
                        "acquired_start": start,
                        "acquired_end": end,
                        "ingested_at": utc_now(),
                        "classification": rng.choice(["public", "internal", "restricted"]),
                        "path": f"data/ds{i}.tif",
                        "checksum": f"{i:064d}",
                        "geom": tx.geom(geom, 4490),
                    },
                )
                if rng.random() < 0.15:
                    tx.insert(
                        "dataset_events",
                        {
                            "dataset_id": f"ds{i:03d}",
                            "version": version,
                            "event": "removed",
                            "at": f"20{rng.randint(18, 25)}-06-01T00:00:00.000Z",
                        },
                    )
        tx.touch("datasets")
    yield ws
    ws.close()


def test_paged_search_agrees_with_the_reference_search(generated_catalogue):
    """``search_page`` (SQL conditions, indexes, one page read) gives the records, order
    and count of ``search`` (every current record read, filtered in pandas)."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from geobase.catalog.search import search_page

    store = generated_catalogue.store
    dates = st.one_of(
        st.none(), st.dates(min_value=dt_date(2014, 1, 1), max_value=dt_date(2026, 1, 1))
    )
    boxes = st.one_of(
        st.none(),
        st.tuples(st.floats(116.3, 116.95), st.floats(23.0, 23.55), st.floats(0.001, 0.5)).map(
            lambda t: (t[0], t[1], t[0] + t[2], t[1] + t[2] * 0.8)
        ),
    )
    levels = st.one_of(
        st.none(), st.lists(st.sampled_from(["public", "internal", "restricted"]), unique=True)
    )

    @settings(max_examples=60, deadline=None)
    @given(
        bbox=boxes,
        product=st.one_of(st.none(), st.sampled_from(["dom02", "dem", "nosuch"])),
        start=dates,
        end=dates,
        classification=levels,
        as_of=st.one_of(st.none(), st.sampled_from(["2019-12-31", "2023-06-30"])),
        limit=st.one_of(st.none(), st.integers(1, 30)),
        offset=st.integers(0, 40),
        dataset_id=st.one_of(st.none(), st.sampled_from(["ds000", "ds013", "ds079", "nosuch"])),
    )
    def agree(bbox, product, start, end, classification, as_of, limit, offset, dataset_id):
        if start and end and end < start:
            start, end = end, start
        query = {"bbox": bbox, "product": product, "start": start, "end": end,
                 "classification": classification, "as_of": as_of}  # fmt: skip
        reference = search(store, **query)
        if dataset_id is not None:
            reference = reference[reference["dataset_id"] == dataset_id].reset_index(drop=True)
        matched, page = search_page(
            store, limit=limit, offset=offset, dataset_id=dataset_id, **query
        )
        assert matched == len(reference)
        stop = None if limit is None else offset + limit
        expected = reference.iloc[offset:stop]
        assert [r["fid"] for r in page] == [int(f) for f in expected["fid"]]
        for record, geometry in zip(page, expected.geometry, strict=True):
            assert record["geometry"].equals(geometry)

    agree()
