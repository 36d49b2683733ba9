"""The PostGIS store: the store contract on both backends, SQL translation, PostGIS
specifics (types, GiST), concurrency (write lock, optimistic versioning), bad input."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time

import psycopg
import pytest
import shapely

from geobase.errors import ConflictError, NotFoundError, SchemaTooNew, StoreError
from geobase.store import Workspace, migrations, open_store, utc_now
from geobase.store.base import ROW_VERSION_COLUMN
from geobase.store.postgis import (
    StoreUnavailable,
    StoreURLError,
    column_ddl,
    convert,
    parse_url,
    redact,
)
from tests.conftest import STORE_BACKENDS, run_cli


def _district(tx, name, geom, **extra):
    return tx.insert(
        "districts",
        {
            "name": name,
            "loaded_at": utc_now(),
            "geom": tx.geom(shapely.MultiPolygon([geom]), 4490),
            **extra,
        },
    )


def _versioned_table(tx):
    tx.create_attribute_table(
        "edits", ["name TEXT NOT NULL UNIQUE", "value REAL", ROW_VERSION_COLUMN]
    )


# --- the store contract, on both backends ---------------------------------------------


def test_geometry_round_trip_and_bbox_filter(workspace_any):
    store = workspace_any.store
    shapes = {
        "a": shapely.box(116.60, 23.30, 116.70, 23.40),
        "b": shapely.box(116.70, 23.30, 116.80, 23.40),
        "c": shapely.Polygon([(0.1, 0.1), (0.2, 0.1), (0.15, 0.3)]),
    }
    with store.transaction() as tx:
        fids = [_district(tx, k, v, code="4405") for k, v in shapes.items()]
        tx.touch("districts")
    assert fids == [1, 2, 3]
    with store.read() as tx:
        cond, params = tx.bbox_filter("districts", (116.75, 23.35, 116.76, 23.36), alias="d")
        rows = tx.query(f"SELECT d.name, d.geom FROM districts d WHERE {cond}", params)
        assert [r["name"] for r in rows] == ["b"]
        assert store.read_geom(rows[0]["geom"]).equals(shapely.MultiPolygon([shapes["b"]]))
        cond, params = tx.bbox_filter("districts", (116.0, 23.0, 117.0, 24.0))
        n = tx.scalar(f"SELECT count(*) FROM districts WHERE {cond}", params)
        assert n == 2
    frame = store.read_frame("SELECT name, geom FROM districts ORDER BY fid")
    assert list(frame["name"]) == ["a", "b", "c"]
    for geom, name in zip(frame.geometry, frame["name"], strict=True):
        assert shapely.equals_exact(geom, shapely.MultiPolygon([shapes[name]]), tolerance=0)


def test_values_keep_their_type_and_precision(workspace_any):
    store = workspace_any.store
    tricky = 0.1 + 0.2  # needs all 53 bits: a float4 column would lose it
    with store.transaction() as tx:
        tx.create_attribute_table(
            "samples",
            [
                "label TEXT",
                "big INTEGER",
                "x REAL",
                "flag BOOLEAN",
                "raw BLOB",
                "day DATE",
                "at DATETIME",
            ],
        )
        tx.insert_many(
            "samples",
            [
                {
                    "label": "汕头 Shantou 'quoted' :notaparam ?",
                    "big": 2**40 + 1,
                    "x": tricky,
                    "flag": True,
                    "raw": b"\x00\xff GP",
                    "day": "2024-03-01",
                    "at": "2024-03-01T08:00:00.123Z",
                },
                {
                    "label": None,
                    "big": -3,
                    "x": 1e-300,
                    "flag": False,
                    "raw": None,
                    "day": "2023-12-31",
                    "at": None,
                },
            ],
        )
    with store.read() as tx:
        rows = tx.query("SELECT * FROM samples ORDER BY fid")
        assert rows[0]["label"] == "汕头 Shantou 'quoted' :notaparam ?"
        assert rows[0]["big"] == 2**40 + 1 and type(rows[0]["big"]) is int
        assert rows[0]["x"] == tricky
        assert rows[1]["x"] == 1e-300
        assert rows[0]["flag"] == 1 and rows[1]["flag"] == 0
        assert bytes(rows[0]["raw"]) == b"\x00\xff GP"
        assert rows[0]["at"] == "2024-03-01T08:00:00.123Z"
        # dates are ISO text: compared and cut as strings on both stores
        assert tx.query(
            "SELECT label FROM samples WHERE substr(at, 1, 10) <= :d AND day > '2024-01-01'",
            {"d": "2024-03-01"},
        ) == [{"label": rows[0]["label"]}]
        agg = tx.query_one(
            "SELECT sum(big) AS s, count(*) AS n, max(day) AS d, avg(x) AS a FROM samples"
        )
        assert agg["s"] == 2**40 - 2 and type(agg["s"]) is int
        assert agg["n"] == 2 and agg["d"] == "2024-03-01"
        assert agg["a"] == pytest.approx(tricky / 2)
        # one name used twice is one parameter: ":p IS NULL" works with None
        for value, expected in ((None, 2), (-3, 1), (99, 0)):
            got = tx.scalar(
                "SELECT count(*) FROM samples WHERE :b IS NULL OR big = :b", {"b": value}
            )
            assert got == expected
        assert tx.scalar("SELECT count(*) FROM samples WHERE big > ?", (0,)) == 1
        assert tx.query(
            "SELECT ifnull(label, 'none') AS l, instr('abcd', 'c') AS i, round(x, 2) AS r "
            "FROM samples ORDER BY fid DESC LIMIT 1"
        ) == [{"l": "none", "i": 3, "r": 0.0}]


def test_transaction_is_all_or_nothing_and_nests(workspace_any):
    store = workspace_any.store
    with pytest.raises(RuntimeError), store.transaction() as tx:
        _district(tx, "x", shapely.box(0, 0, 1, 1))
        raise RuntimeError("boom")
    with store.transaction() as tx:
        _district(tx, "outer", shapely.box(0, 0, 1, 1))
        with store.transaction() as inner:  # joins the outer transaction
            assert inner.scalar("SELECT count(*) FROM districts") == 1
            _district(inner, "inner", shapely.box(1, 1, 2, 2))
        with store.read() as inner:
            assert inner.scalar("SELECT count(*) FROM districts") == 2
    with store.read() as tx:
        names = [r["name"] for r in tx.query("SELECT name FROM districts ORDER BY fid")]
    assert names == ["outer", "inner"]


def test_update_versioned_detects_a_lost_update(workspace_any):
    store = workspace_any.store
    with store.transaction() as tx:
        _versioned_table(tx)
        fid = tx.insert("edits", {"name": "BM01", "value": 1.0})
    # two editors read version 1
    with store.read() as tx:
        seen_a = tx.scalar("SELECT row_version FROM edits WHERE fid = :f", {"f": fid})
        seen_b = seen_a
    with store.transaction() as tx:
        assert tx.update_versioned("edits", fid, seen_a, {"value": 2.0}) == 2
    conflict = r"changed by someone else.*version 2 now, 1"
    with pytest.raises(ConflictError, match=conflict), store.transaction() as tx:
        tx.update_versioned("edits", {"name": "BM01"}, seen_b, {"value": 3.0})
    with store.read() as tx:
        assert tx.query_one("SELECT value, row_version FROM edits") == {
            "value": 2.0,
            "row_version": 2,
        }
    with pytest.raises(NotFoundError, match="no record name='nope'"), store.transaction() as tx:
        tx.update_versioned("edits", {"name": "nope"}, 1, {"value": 0.0})
    with pytest.raises(StoreError, match="may not set"), store.transaction() as tx:
        tx.update_versioned("edits", fid, 2, {"row_version": 7})


def test_concurrent_versioned_edits_one_wins(workspace_any):
    """Many threads edit the same record from the same version: exactly one succeeds."""
    store = workspace_any.store
    with store.transaction() as tx:
        _versioned_table(tx)
        fid = tx.insert("edits", {"name": "GPS7", "value": 0.0})
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def editor(i):
        barrier.wait()
        try:
            with store.transaction() as tx:
                tx.update_versioned("edits", fid, 1, {"value": float(i)})
            outcomes.append("ok")
        except ConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=editor, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 5 + ["ok"]
    with store.read() as tx:
        assert tx.scalar("SELECT row_version FROM edits") == 2


def test_migrations_apply_once_and_reopen(workspace_any):
    version = workspace_any.store.schema_version
    assert version == max(m.version for m in migrations.available())
    assert migrations.apply(workspace_any.store) == []
    root = workspace_any.root
    workspace_any.close()
    with Workspace.open(root) as again:
        assert again.store.schema_version == version
        assert again.store.dialect == workspace_any.store.dialect


def test_opening_and_reading_never_wait_for_a_writer(workspace_any):
    """Opening an up-to-date store checks its migrations read-only: a reader (and its
    open) goes on while another connection holds the workspace's write transaction."""
    root = workspace_any.root
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with workspace_any.store.transaction() as tx:
            tx.insert("geobase_meta", {"key": "held", "value": "x"})
            holding.set()
            release.wait(30)

    held = threading.Thread(target=writer)
    held.start()
    assert holding.wait(10)
    seen: list = []

    def reader() -> None:
        with Workspace.open(root) as other, other.store.read() as tx:
            seen.append(tx.scalar("SELECT count(*) FROM geobase_meta WHERE key = 'held'"))

    started = time.monotonic()
    read = threading.Thread(target=reader)
    read.start()
    read.join(10)
    waited = time.monotonic() - started
    release.set()
    held.join(30)
    read.join(30)
    assert seen == [0]  # the writer's uncommitted row is not seen, and nothing waited
    assert waited < 5, f"opening and reading waited {waited:.1f} s for the writer"
    assert migrations.pending(workspace_any.store) == []


@pytest.mark.parametrize("backend", STORE_BACKENDS)
def test_a_migration_numbered_below_the_applied_ones_still_runs(
    backend, request, tmp_path, monkeypatch
):
    """A store migrated before a lower-numbered migration was merged gets it later.

    Two branches may add migrations 6 and 7 and be merged in either order: a store that
    has 1-5 and 7 must get 6 when next opened, though its highest version is already 7.
    Simulated with the shipped migrations minus one in the middle, on both backends.
    """
    shipped = migrations.available()
    # the real case: m0006 (pyramid builds) landed after m0007 (dataset files); it alters
    # a table an earlier migration made, so it is one a store can miss and get later
    late = next(m for m in shipped if m.version == 6)
    assert late.version < shipped[-1].version
    with monkeypatch.context() as patch:
        patch.setattr(migrations, "available", lambda: [m for m in shipped if m is not late])
        url = None
        if backend == "postgis":  # a database without the geobase schema
            cluster = request.getfixturevalue("pg_cluster")
            url = cluster.create_database(empty=True)
            request.addfinalizer(lambda: cluster.drop_database(url))
        ws = Workspace.init(tmp_path / "ws", name="gap", store=url)
        request.addfinalizer(ws.close)
        with ws.store.read() as tx:
            before = {r["version"] for r in tx.query("SELECT version FROM geobase_migrations")}
        assert late.version not in before
        assert ws.store.schema_version == shipped[-1].version
    applied = migrations.apply(ws.store)
    assert [m.version for m in applied] == [late.version]
    with ws.store.read() as tx:
        after = {r["version"] for r in tx.query("SELECT version FROM geobase_migrations")}
    assert after == {m.version for m in shipped}
    assert migrations.apply(ws.store) == []


def test_a_store_from_a_newer_geobase_is_refused(workspace_any, monkeypatch):
    """A store recording a migration this geobase lacks is not written with an older schema."""
    shipped = migrations.available()
    newest = shipped[-1]
    monkeypatch.setattr(migrations, "available", lambda: shipped[:-1])
    with pytest.raises(SchemaTooNew, match=rf"schema version\(s\) {newest.version} unknown"):
        migrations.apply(workspace_any.store)
    root = workspace_any.root
    workspace_any.close()
    with pytest.raises(SchemaTooNew, match="upgrade geobase"):
        Workspace.open(root)


# --- PostGIS specifics ------------------------------------------------------------------


def test_postgis_schema_types_and_gist_index(pg_url):
    with open_store(pg_url) as store, store.transaction() as tx:
        cols = {
            r["column_name"]: r["data_type"]
            for r in tx.query(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'datasets'"
            )
        }
        assert cols["fid"] == "bigint"
        assert cols["resolution"] == "double precision"
        assert cols["acquired_end"] == "text"
        assert cols["geom"] == "USER-DEFINED"
        geometry = tx.query_one(
            "SELECT type, srid FROM geometry_columns WHERE f_table_name = 'districts'"
        )
        assert geometry == {"type": "MULTIPOLYGON", "srid": 4490}
        index = tx.scalar(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'districts' "
            "AND indexdef LIKE '%gist%'"
        )
        assert "USING gist (geom)" in index
        tx.insert_many(
            "districts",
            [
                {
                    "name": f"d{i}",
                    "loaded_at": utc_now(),
                    "geom": tx.geom(shapely.MultiPolygon([shapely.box(i, 0, i + 0.5, 1)]), 4490),
                }
                for i in range(2000)
            ],
        )
        tx.execute("ANALYZE districts")
        cond, params = tx.bbox_filter("districts", (10.1, 0.1, 10.2, 0.2))
        plan = "\n".join(
            r[0] for r in tx.execute(f"EXPLAIN SELECT name FROM districts WHERE {cond}", params)
        )
        assert "districts_geom_gist" in plan
        assert tx.scalar(f"SELECT name FROM districts WHERE {cond}", params) == "d10"
        # a geometry of the wrong type is refused, as GeoPackage's spec requires
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            tx.insert(
                "districts",
                {"name": "pt", "loaded_at": "x", "geom": tx.geom(shapely.Point(1, 2), 4490)},
            )


def test_read_transaction_is_read_only(pg_url):
    with open_store(pg_url) as store:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction), store.read() as tx:
            tx.execute("DELETE FROM districts")
        with (
            pytest.raises(StoreError, match="nested inside a read-only"),
            store.read(),
            store.transaction(),
        ):
            pass


def test_sql_translation():
    assert convert("SELECT a FROM t WHERE b = :x OR c::text = ':y' -- :z\n AND d = :x") == (
        "SELECT a FROM t WHERE b = $1 OR c::text = ':y' -- :z\n AND d = $1",
        ("x",),
    )
    assert convert("UPDATE t SET a = ? WHERE b = ?") == ("UPDATE t SET a = $1 WHERE b = $2", 2)
    assert convert("SELECT 1 WHERE :a IS NOT NULL") == ("SELECT 1 WHERE (1 = $1)", ("!a",))
    assert convert("INSERT OR IGNORE INTO t (a) VALUES (:a)")[0] == (
        "INSERT INTO t (a) VALUES ($1) ON CONFLICT DO NOTHING"
    )
    with pytest.raises(StoreError, match="sqlite-only"):
        convert("INSERT OR REPLACE INTO t (a) VALUES (:a)")
    with pytest.raises(StoreError, match="mixes"):
        convert("SELECT :a, ?")
    assert column_ddl("size INTEGER NOT NULL") == "size BIGINT NOT NULL"
    assert column_ddl("x REAL") == "x DOUBLE PRECISION"
    assert column_ddl("at DATETIME NOT NULL DEFAULT ''") == "at TEXT NOT NULL DEFAULT ''"
    assert column_ddl("UNIQUE (dataset_id, version)") == "UNIQUE (dataset_id, version)"
    assert convert("CREATE TABLE t (fid INTEGER PRIMARY KEY AUTOINCREMENT, v REAL)")[0] == (
        "CREATE TABLE t (fid BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
        "v DOUBLE PRECISION)"
    )
    assert convert("ALTER TABLE t ADD COLUMN w REAL")[0] == (
        "ALTER TABLE t ADD COLUMN w DOUBLE PRECISION"
    )


def test_schema_parameter_keeps_workspaces_apart(pg_url, tmp_path):
    with (
        Workspace.init(tmp_path / "a", store=pg_url + "?schema=bureau_a") as a,
        Workspace.init(tmp_path / "b", store=pg_url + "?schema=bureau_b") as b,
    ):
        with a.store.transaction() as tx:
            _district(tx, "only-in-a", shapely.box(0, 0, 1, 1))
        with b.store.read() as tx:
            assert tx.scalar("SELECT count(*) FROM districts") == 0
        with a.store.read() as tx:
            assert tx.scalar("SELECT current_schema()") == "bureau_a"
            assert tx.scalar("SELECT count(*) FROM districts") == 1


def test_cli_init_and_status_on_postgis(pg_url, tmp_path):
    url = pg_url + "?schema=cli_ws"
    result = run_cli(["init", tmp_path / "ws", "--store", url])
    assert result.exit_code == 0, result.output
    result = run_cli(["status", "--workspace", tmp_path / "ws", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert '"districts": 0' in result.stdout


# --- bad input -------------------------------------------------------------------------


def test_url_parsing_and_redaction():
    url = "postgresql://editor:s3cret@db.example:5433/geobase?schema=shantou&pool_max=4"
    libpq, schema, pool_min, pool_max = parse_url(url)
    assert schema == "shantou" and (pool_min, pool_max) == (1, 4)
    assert "schema" not in libpq and "s3cret" in libpq and "connect_timeout=" in libpq
    assert (
        redact(url) == "postgresql://editor:***@db.example:5433/geobase?schema=shantou&pool_max=4"
    )
    for bad, match in [
        ("postgresql://host:5432/", "names no database"),
        ("postgresql://u:pw@host:notaport/db", "malformed"),
        ("postgresql://host/db?schema=a;drop", "not a plain SQL name"),
        ("postgresql://host/db?pool_max=0", "not a pool size"),
        ("mysql://host/db", "not a postgresql"),
    ]:
        with pytest.raises(StoreURLError, match=match) as info:
            parse_url(bad)
        assert "pw" not in str(info.value)


def test_unreachable_server_is_one_clear_line(tmp_path):
    from tests.postgis_cluster import free_port

    url = f"postgresql://editor:topsecret@127.0.0.1:{free_port()}/geobase"
    with pytest.raises(StoreUnavailable, match="cannot connect to") as info:
        open_store(url)
    message = str(info.value)
    assert "topsecret" not in message and "\n" not in message
    result = run_cli(["init", tmp_path / "ws", "--store", url])
    assert result.exit_code == 2
    assert "topsecret" not in result.output
    assert not (tmp_path / "ws" / "geobase.toml").exists()


def test_database_without_workspace_or_postgis(pg_cluster, pg_url):
    empty = pg_cluster.create_database(empty=True)
    try:
        with pytest.raises(StoreUnavailable, match="holds no geobase workspace"):
            open_store(empty)
        # a user who may not enable PostGIS in a database that lacks it
        with pg_cluster.admin() as conn:
            conn.execute("CREATE ROLE clerk LOGIN")
            conn.execute("CREATE DATABASE nopostgis OWNER clerk TEMPLATE template0")
        url = pg_cluster.url("nopostgis").replace("postgres@", "clerk@")
        with pytest.raises(StoreUnavailable, match="lacks the PostGIS extension"):
            open_store(url, create=True)
    finally:
        pg_cluster.drop_database(empty)
        pg_cluster.drop_database(pg_cluster.url("nopostgis"))
        with pg_cluster.admin() as conn:
            conn.execute("DROP ROLE IF EXISTS clerk")
    with pytest.raises(StoreUnavailable, match="no_such_database"):
        open_store(pg_url.rsplit("/", 1)[0] + "/no_such_database")


# --- many writers ----------------------------------------------------------------------


def _next_version_writer(args):
    """Read the highest version, then insert the next: safe only if writers serialise."""
    url, worker, count = args
    with open_store(url) as store:
        for _ in range(count):
            with store.transaction() as tx:
                last = tx.scalar("SELECT max(version) FROM geobase_meta_versions") or 0
                tx.insert("geobase_meta_versions", {"version": last + 1, "worker": worker})
    return count


def test_read_modify_write_from_many_processes_loses_nothing(pg_url):
    with open_store(pg_url) as store, store.transaction() as tx:
        tx.create_attribute_table(
            "geobase_meta_versions", ["version INTEGER NOT NULL UNIQUE", "worker INTEGER"]
        )
    ctx = mp.get_context("spawn")
    with ctx.Pool(4) as pool:
        done = pool.map(_next_version_writer, [(pg_url, w, 25) for w in range(4)])
    assert sum(done) == 100
    with open_store(pg_url) as store, store.read() as tx:
        versions = [r["version"] for r in tx.query("SELECT version FROM geobase_meta_versions")]
    assert sorted(versions) == list(range(1, 101))


# --- sixteen editors at once ----------------------------------------------------------

EDITORS = 16
MARKS = ("C001", "C002", "L001")


def _editor(args) -> int:
    """One editor: inspections, one small delivery, and increments of a shared record.

    Returns the number of conflicts the editor was told about (and redid).
    """
    import datetime as dt

    from geobase.control.inspections import record_inspection
    from geobase.ingest.pipeline import ingest

    root, worker, tif = args
    conflicts = 0
    with Workspace.open(root) as ws:
        for k in range(6):
            record_inspection(
                ws,
                MARKS[(worker + k) % 3],
                date=dt.date(2021, 1, 1) + dt.timedelta(days=worker * 10 + k),
                inspector=f"editor{worker}",
                condition="intact",
                notes=f"{worker}-{k}",
            )
        ingest(ws, [tif], acquired="2023-03-01", dataset_id=f"block-{worker % 4}")
        while True:  # the client's side of optimistic versioning: reload and redo
            with ws.store.read() as tx:
                row = tx.query_one("SELECT value, row_version FROM edits WHERE name = 'count'")
            try:
                with ws.store.transaction() as tx:
                    tx.update_versioned(
                        "edits", {"name": "count"}, row["row_version"], {"value": row["value"] + 1}
                    )
                break
            except ConflictError:
                conflicts += 1
    return conflicts


def _editors_workspace(root, url):
    from geobase.control.importer import import_points
    from geobase.store.districts import load_districts
    from tests.control_helpers import DISTRICTS, good_row, write_csv

    ws = Workspace.init(root, store=url)
    load_districts(ws.store, DISTRICTS)
    rows = [
        good_row("C001"),
        good_row("C002", 纬度="23.36", 经度="116.70", X="", Y="", 区县=""),
        good_row("L001", 等级="三等水准", 纬度="23.365", 经度="116.69", X="", Y="", 区县=""),
    ]
    import_points(ws, write_csv(root.parent / f"{root.name}.csv", rows))
    with ws.store.transaction() as tx:
        _versioned_table(tx)
        tx.insert("edits", {"name": "count", "value": 0.0})
    return ws


def _final_state(ws) -> dict:
    with ws.store.read() as tx:
        inspections = sorted(
            tuple(r.values())
            for r in tx.query(
                "SELECT point_id, inspected_on, inspector, condition, usability, notes "
                "FROM control_inspections"
            )
        )
        datasets = tx.query(
            "SELECT dataset_id, version, checksum FROM datasets ORDER BY dataset_id, version"
        )
        edit = tx.query_one("SELECT value, row_version FROM edits")
    by_id: dict[str, dict] = {}
    for d in datasets:
        entry = by_id.setdefault(d["dataset_id"], {"versions": [], "checksums": []})
        entry["versions"].append(d["version"])
        entry["checksums"].append(d["checksum"])
    for entry in by_id.values():  # which delivery got which version depends on arrival
        entry["checksums"].sort()
    return {"inspections": inspections, "datasets": by_id, "edit": edit}


@pytest.mark.slow
def test_sixteen_editors_at_once_equal_one_by_one(pg_cluster, tmp_path):
    import numpy as np

    from tests.ingest_factories import write_tif

    tifs = []
    for w in range(EDITORS):
        valid = np.zeros((40, 40), dtype=bool)
        valid[: 10 + w, :] = True  # a different delivery (checksum, footprint) per editor
        tifs.append(write_tif(tmp_path / f"d{w}.tif", width=40, height=40, valid=valid))
    urls = [pg_cluster.create_database(), pg_cluster.create_database()]
    try:
        together = _editors_workspace(tmp_path / "together", urls[0])
        together.close()
        ctx = mp.get_context("spawn")
        with ctx.Pool(EDITORS) as pool:
            conflicts = pool.map(_editor, [(together.root, w, tifs[w]) for w in range(EDITORS)])
        with _editors_workspace(tmp_path / "serial", urls[1]) as serial:
            for w in range(EDITORS):
                assert _editor((serial.root, w, tifs[w])) == 0
            expected = _final_state(serial)
        with Workspace.open(together.root) as again:
            got = _final_state(again)
        assert len(got["inspections"]) == EDITORS * 6
        assert got["edit"] == {"value": float(EDITORS), "row_version": EDITORS + 1}
        assert got == expected
        assert all(v["versions"] == [1, 2, 3, 4] for v in got["datasets"].values())
        # every increment landed: conflicts (sum(conflicts) of them) were reported and
        # redone by the editor, never silently overwritten
        assert len(conflicts) == EDITORS
    finally:
        for url in urls:
            pg_cluster.drop_database(url)
