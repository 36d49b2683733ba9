"""``geobase store copy``: GeoPackage -> PostGIS -> GeoPackage is lossless."""

from __future__ import annotations

import math
import sqlite3

import pytest
import shapely

from geobase.store import Workspace, open_store
from geobase.store.copy import CopyRefused, copy_store, next_fid, store_tables, table_rows
from geobase.store.workspace import DATA_ROOT_KEY
from tests.conftest import run_cli

pytestmark = pytest.mark.postgis

_GEOMS = {
    "POINT": lambda i: shapely.Point(116.6 + i * 1e-7, 23.3 - i / 3),
    "MULTIPOINT": lambda i: shapely.MultiPoint([(i, 0), (i + 0.5, 1)]),
    "LINESTRING": lambda i: shapely.LineString([(0, 0), (i + 0.1, 1 / 3)]),
    "MULTILINESTRING": lambda i: shapely.MultiLineString([[(0, 0), (i, 1)], [(2, 2), (3, i)]]),
    "POLYGON": lambda i: shapely.box(i, 0, i + 1 / 3, 1),
    "MULTIPOLYGON": lambda i: shapely.MultiPolygon(
        [shapely.box(i, 0, i + 1 / 3, 1), shapely.box(i + 2, 2, i + 3, 3)]
    ),
}


def _value(kind: str, column: str, i: int):
    kind = kind.upper()
    if kind in ("INTEGER", "INT", "BOOLEAN"):
        return 2**40 + i if i % 2 else i
    if kind in ("REAL", "DOUBLE", "FLOAT"):
        return math.pi * 10**i / 7 + 0.1
    if kind == "DATE":
        return f"2024-0{1 + i % 9}-1{i % 10}"
    if kind == "DATETIME":
        return f"2024-05-0{1 + i % 9}T08:1{i % 10}:00.12{i % 10}Z"
    if kind == "BLOB":
        return bytes([0, 255, i % 256]) + b"GP"
    return f"{column}-{i} 汕头 '引号' :x ?"


def fill_every_table(ws, rows_per_table: int = 5) -> None:
    """Put rows in every record table of a GeoPackage workspace, whatever its columns."""
    store = ws.store
    for table in store_tables(store):
        if table.name == "geobase_migrations":
            continue
        with store.transaction() as tx:
            for i in range(rows_per_table):
                row = {
                    c: _value(table.types[c], c, i)
                    for c in table.columns
                    if c not in ("fid", table.geometry_column)
                }
                if table.geometry_column:
                    make = _GEOMS.get(table.geometry_type, _GEOMS["POLYGON"])
                    geom = None if i == 2 else make(i)
                    row[table.geometry_column] = tx.geom(geom, table.srid)
                tx.insert(table.name, row)
            if table.geometry_column:
                tx.touch(table.name)
    with store.transaction() as tx:
        # a gap in the fids and a sequence ahead of max(fid): both must survive the copy
        tx.execute("DELETE FROM districts WHERE fid IN (2, 5)")


def snapshot(store) -> dict:
    """Every table's rows (geometries as WKB) and next fid: what 'equal stores' means.

    The one row a copy adds, ``geobase_meta`` key ``data_root`` (where the copy's files
    are), is left out, with that table's next fid.
    """
    out = {}
    with store.read() as tx:
        for table in store_tables(store, tx):
            rows = []
            for batch in table_rows(store, tx, table):
                for r in batch:
                    if table.name == "geobase_meta" and r["key"] == DATA_ROOT_KEY:
                        continue
                    g = table.geometry_column
                    if g and r[g] is not None:
                        r[g] = shapely.to_wkb(r[g], byte_order=1, output_dimension=3)
                    rows.append(r)
            out[table.name] = {
                "rows": rows,
                "next_fid": None if table.name == "geobase_meta" else next_fid(store, tx, table),
                "geometry": (table.geometry_column, table.geometry_type, table.srid),
            }
    return out


@pytest.fixture
def filled(tmp_path):
    ws = Workspace.init(tmp_path / "office", name="office")
    fill_every_table(ws)
    yield ws
    ws.close()


def test_gpkg_to_postgis_and_back_is_equal(filled, pg_cluster, tmp_path):
    url = pg_cluster.create_database(empty=True)  # nothing but PostGIS: copy sets it up
    try:
        original = snapshot(filled.store)
        assert len(original) >= 4
        assert original["districts"]["next_fid"] == 6
        result = run_cli(["store", "copy", filled.root, url])
        assert result.exit_code == 0, result.output
        assert "districts" in result.stdout
        with open_store(url) as pg:
            assert pg.dialect == "postgis"
            assert snapshot(pg) == original
            with pg.read() as tx:  # the spatial index answers on PostGIS too
                cond, params = tx.bbox_filter("districts", (5.5, 2.5, 5.6, 2.6))
                assert tx.scalar(f"SELECT fid FROM districts WHERE {cond}", params) == 4
        back = tmp_path / "back.gpkg"
        result = run_cli(["store", "copy", url, back])
        assert result.exit_code == 0, result.output
        with open_store(str(back)) as again:
            assert snapshot(again) == original
        # QGIS/GDAL see a proper GeoPackage with extents and the R-tree
        raw = sqlite3.connect(back)
        extent = raw.execute(
            "SELECT min_x, max_x FROM gpkg_contents WHERE table_name = 'districts'"
        ).fetchone()
        assert extent[0] == pytest.approx(0) and extent[1] > 3
        assert raw.execute("SELECT count(*) FROM rtree_districts_geom").fetchone()[0] == 2
        raw.close()
    finally:
        pg_cluster.drop_database(url)


def test_refuses_non_empty_destination_without_overwrite(filled, pg_url, tmp_path):
    result = run_cli(["store", "copy", filled.root, pg_url])
    assert result.exit_code == 0, result.output
    with open_store(pg_url) as pg, pg.transaction() as tx:
        tx.execute("DELETE FROM districts WHERE fid = 1")
    result = run_cli(["store", "copy", filled.root, pg_url])
    assert result.exit_code == 2
    assert "already holds records" in result.output and "--overwrite" in result.output
    with open_store(pg_url) as pg, pg.read() as tx:
        assert tx.scalar("SELECT count(*) FROM districts") == 2  # untouched
    result = run_cli(["store", "copy", filled.root, pg_url, "--overwrite"])
    assert result.exit_code == 0, result.output
    with open_store(pg_url) as pg:
        assert snapshot(pg) == snapshot(filled.store)


def test_tables_outside_the_migrations_travel_too(filled, pg_url, tmp_path):
    with open_store(pg_url) as pg:
        with pg.transaction() as tx:
            tx.create_feature_table("survey_notes", ["note TEXT NOT NULL", "h REAL"], "POINT", 4490)
            tx.insert(
                "survey_notes",
                {"note": "新建", "h": 1.25, "geom": tx.geom(shapely.Point(116.7, 23.4), 4490)},
            )
        target = tmp_path / "copy.gpkg"
        copied = _copy(pg, target)
        assert copied["survey_notes"] == 1
        with open_store(str(target)) as gp:
            assert snapshot(gp)["survey_notes"] == snapshot(pg)["survey_notes"]
        # a table whose geometry column is not 'geom' cannot be recreated: nothing written
        with pg.transaction() as tx:
            tx.execute("CREATE TABLE odd (fid BIGSERIAL PRIMARY KEY, shape geometry(Point, 4490))")
        result = run_cli(["store", "copy", pg_url, tmp_path / "fails.gpkg"])
        assert result.exit_code == 2
        assert "'shape'" in result.output
        assert not (tmp_path / "fails.gpkg").exists()


def _copy(src, target):
    with open_store(str(target), create=True) as dst:
        return copy_store(src, dst)


def test_bad_locations(filled, tmp_path):
    cases = [
        ([tmp_path / "nowhere.gpkg", tmp_path / "x.gpkg"], "no such GeoPackage"),
        ([tmp_path, tmp_path / "x.gpkg"], "not a geobase workspace"),
        ([filled.root, tmp_path / "notes.txt"], "expected a workspace folder"),
        ([filled.root, tmp_path / "no" / "x.gpkg"], "does not exist"),
        ([filled.root, filled.root / "workspace.gpkg"], "same store"),
        ([filled.root, "postgresql://u:hidden@127.0.0.1:1/db"], "cannot connect"),
    ]
    (tmp_path / "notes.txt").write_text("not a store")
    for args, message in cases:
        result = run_cli(["store", "copy", *args])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
        assert "hidden" not in result.output
        assert not (tmp_path / "x.gpkg").exists()
    with pytest.raises(CopyRefused, match="same store"):
        copy_store(filled.store, filled.store)
