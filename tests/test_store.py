"""The workspace store: GeoPackage conformance, migrations, transactions, concurrency."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3

import geopandas as gpd
import pyogrio
import pytest
import shapely

from geobase.errors import WorkspaceError, WorkspaceNotFound
from geobase.store import Workspace, gpkg, migrations, utc_now


def _insert_district(ws, name, geom):
    with ws.store.transaction() as tx:
        tx.insert(
            "districts",
            {
                "name": name,
                "loaded_at": utc_now(),
                "geom": tx.geom(shapely.MultiPolygon([geom]), 4490),
            },
        )
        tx.touch("districts")


def test_init_writes_config_and_geopackage(workspace):
    assert (workspace.root / "geobase.toml").is_file()
    gpkg_path = workspace.root / "workspace.gpkg"
    raw = sqlite3.connect(gpkg_path)
    assert raw.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 10300
    srs = {r[0] for r in raw.execute("SELECT srs_id FROM gpkg_spatial_ref_sys")}
    assert {-1, 0, 4326, 4490, 4548} <= srs
    ext = raw.execute("SELECT table_name, extension_name FROM gpkg_extensions").fetchall()
    assert ("districts", "gpkg_rtree_index") in ext
    raw.close()


def test_gdal_reads_back_crs_geometry_and_uses_spatial_index(workspace):
    jinping = shapely.box(116.60, 23.30, 116.70, 23.40)
    longhu = shapely.box(116.70, 23.30, 116.80, 23.40)
    _insert_district(workspace, "金平区", jinping)
    _insert_district(workspace, "龙湖区", longhu)
    path = workspace.root / "workspace.gpkg"
    info = pyogrio.read_info(path, layer="districts")
    assert info["crs"] == "EPSG:4490"
    assert info["geometry_type"] == "MultiPolygon"
    assert info["capabilities"]["fast_spatial_filter"]
    frame = gpd.read_file(path, layer="districts")
    assert list(frame["name"]) == ["金平区", "龙湖区"]
    assert frame.geometry.iloc[0].equals(shapely.MultiPolygon([jinping]))
    hit = gpd.read_file(path, layer="districts", bbox=(116.75, 23.35, 116.76, 23.36))
    assert list(hit["name"]) == ["龙湖区"]
    # our own index query agrees
    with workspace.store.read() as tx:
        cond, params = tx.bbox_filter("districts", (116.75, 23.35, 116.76, 23.36))
        names = [r["name"] for r in tx.query(f"SELECT name FROM districts WHERE {cond}", params)]
    assert names == ["龙湖区"]
    # gpkg_contents extent follows the data
    extent = (
        sqlite3.connect(path)
        .execute(
            "SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name='districts'"
        )
        .fetchone()
    )
    assert extent == pytest.approx((116.6, 23.3, 116.8, 23.4), abs=1e-5)


def test_rtree_follows_updates_and_deletes(workspace):
    _insert_district(workspace, "a", shapely.box(0, 0, 1, 1))
    with workspace.store.transaction() as tx:
        tx.execute(
            "UPDATE districts SET geom = :g WHERE name = 'a'",
            {"g": tx.geom(shapely.MultiPolygon([shapely.box(10, 10, 11, 11)]), 4490)},
        )
    with workspace.store.read() as tx:
        cond, params = tx.bbox_filter("districts", (10.5, 10.5, 10.6, 10.6))
        assert tx.scalar(f"SELECT count(*) FROM districts WHERE {cond}", params) == 1
        cond, params = tx.bbox_filter("districts", (0.5, 0.5, 0.6, 0.6))
        assert tx.scalar(f"SELECT count(*) FROM districts WHERE {cond}", params) == 0
    with workspace.store.transaction() as tx:
        tx.execute("DELETE FROM districts")
        assert tx.scalar("SELECT count(*) FROM rtree_districts_geom") == 0


def test_geometry_blob_round_trip():
    for geom in [
        shapely.Point(116.682, 23.354),
        shapely.Point(1, 2, 3),
        shapely.LineString([(0, 0), (1, 1)]),
        shapely.box(0, 0, 1, 1),
        shapely.Polygon(),
    ]:
        blob = gpkg.encode(geom, 4490)
        assert blob[:2] == b"GP"
        assert gpkg.srs_id_of(blob) == 4490
        assert gpkg.decode(blob).equals(geom) or (geom.is_empty and gpkg.decode(blob).is_empty)
    many = gpkg.encode_many([shapely.Point(1, 2), shapely.box(0, 0, 2, 2)], 4548)
    assert [g.wkt for g in gpkg.decode_many(many)] == [
        "POINT (1 2)",
        "POLYGON ((2 0, 2 2, 0 2, 0 0, 2 0))",
    ]


def test_transaction_is_all_or_nothing(workspace):
    with pytest.raises(RuntimeError), workspace.store.transaction() as tx:
        tx.insert("districts", {"name": "x", "loaded_at": utc_now(), "geom": None})
        raise RuntimeError("boom")
    with workspace.store.read() as tx:
        assert tx.scalar("SELECT count(*) FROM districts") == 0


def test_migrations_apply_once_and_reopen(workspace):
    version = workspace.store.schema_version
    assert version == max(m.version for m in migrations.available())
    assert migrations.apply(workspace.store) == []
    root = workspace.root
    workspace.close()
    with Workspace.open(root) as again:
        assert again.store.schema_version == version
        assert again.config.crs == "EPSG:4548"


def test_find_walks_up(workspace):
    sub = workspace.root / "a" / "b"
    sub.mkdir(parents=True)
    with Workspace.find(sub) as found:
        assert found.root == workspace.root


def _writer(args):
    root, worker, count = args
    with Workspace.open(root) as ws:
        for i in range(count):
            with ws.store.transaction() as tx:
                tx.insert("geobase_meta", {"key": f"w{worker}-{i}", "value": str(i)})
    return count


def test_concurrent_writers_all_land(workspace):
    ctx = mp.get_context("spawn")
    with ctx.Pool(4) as pool:
        done = pool.map(_writer, [(workspace.root, w, 50) for w in range(4)])
    assert sum(done) == 200
    with workspace.store.read() as tx:
        assert tx.scalar("SELECT count(*) FROM geobase_meta") == 200


# --- bad input -----------------------------------------------------------------------


def test_open_missing_workspace(tmp_path):
    with pytest.raises(WorkspaceNotFound, match="not a geobase workspace"):
        Workspace.open(tmp_path)
    with pytest.raises(WorkspaceNotFound, match="--workspace"):
        Workspace.find(tmp_path)


def test_init_twice_refused(workspace):
    with pytest.raises(WorkspaceError, match="already holds a workspace"):
        Workspace.init(workspace.root)
    with Workspace.init(workspace.root, exist_ok=True) as again:
        assert again.root == workspace.root


def test_bad_config_and_store(tmp_path):
    (tmp_path / "geobase.toml").write_text("name = \n", encoding="utf-8")
    with pytest.raises(WorkspaceError, match="not valid TOML"):
        Workspace.open(tmp_path)
    (tmp_path / "geobase.toml").write_text('name = "x"\nbogus = 1\n', encoding="utf-8")
    with pytest.raises(WorkspaceError, match="bogus"):
        Workspace.open(tmp_path)
    (tmp_path / "geobase.toml").write_text('name = "x"\n', encoding="utf-8")
    with pytest.raises(WorkspaceError, match="does not exist"):
        Workspace.open(tmp_path)
    (tmp_path / "workspace.gpkg").write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(WorkspaceError, match=r"cannot be opened|not a GeoPackage"):
        Workspace.open(tmp_path)


def test_file_transfer_refuses_a_record_leading_out_of_the_data_root(workspace, tmp_path):
    """A stored path is data: ``../`` in it must not make a store copy write elsewhere."""
    from geobase.errors import StoreError
    from geobase.store.files import FileTransferRefused, plan_transfer

    source = workspace.data_root
    (source.parent / "outside.txt").write_text("not the workspace's", encoding="utf-8")
    (source / "evidence").mkdir()
    (source / "evidence" / "photo.jpg").write_bytes(b"jpeg")
    with workspace.store.transaction() as tx:
        for path in ("evidence/photo.jpg", "../outside.txt"):
            tx.insert(
                "control_evidence",
                {
                    "inspection_fid": 1,
                    "path": path,
                    "original_name": "x",
                    "sha256": "0" * 64,
                    "size": 4,
                },
            )
    target = tmp_path / "copy" / "ws"
    with pytest.raises(FileTransferRefused, match=r"'../outside.txt'.*out of the data root"):
        plan_transfer(workspace.store, source, target)
    assert issubclass(FileTransferRefused, StoreError)
    assert not (tmp_path / "copy").exists()
