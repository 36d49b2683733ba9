"""Districts: loading from any vector file and CRS, lookup, bad input."""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
import shapely

from geobase.errors import NotFoundError, SourceReadError, ValidationError
from geobase.store.districts import district_geometry, district_of, list_districts, load_districts
from tests.conftest import ROOT, run_cli

SHANTOU = ROOT / "datasets" / "districts" / "shantou_districts.geojson"


def test_load_shantou_demo_districts(workspace):
    frame = load_districts(workspace.store, SHANTOU)
    assert len(frame) == 7
    loaded = list_districts(workspace.store)
    assert set(loaded["name"]) == {
        "金平区",
        "龙湖区",
        "澄海区",
        "濠江区",
        "潮阳区",
        "潮南区",
        "南澳县",
    }
    assert (loaded.geom_type == "MultiPolygon").all()
    names = district_of(workspace.store, [116.66, 117.04, 100.0], [23.40, 23.44, 10.0])
    assert list(names) == ["金平区", "南澳县", None]
    assert district_geometry(workspace.store, "南澳县").area > 0


def test_load_reprojects_from_gauss_kruger(workspace, tmp_path):
    src = gpd.GeoDataFrame(
        {"区县": ["甲区", "甲区", "乙区"]},
        geometry=[
            shapely.box(460000, 2580000, 470000, 2590000),
            shapely.box(480000, 2580000, 481000, 2581000),
            shapely.box(470000, 2580000, 475000, 2590000),
        ],
        crs=4548,
    )
    path = tmp_path / "b.gpkg"
    src.to_file(path)
    load_districts(workspace.store, path)
    loaded = list_districts(workspace.store)
    assert list(loaded["name"]) == ["甲区", "乙区"]
    assert len(loaded.geometry.iloc[0].geoms) == 2  # the two parts became one multipolygon
    area = loaded.to_crs(4548).area.iloc[0]
    assert area == pytest.approx(100e6 + 1e6, abs=1.0)  # densified: within 1 m2


def test_bad_district_files(workspace, tmp_path):
    with pytest.raises(SourceReadError, match="no such file"):
        load_districts(workspace.store, tmp_path / "missing.geojson")
    empty = tmp_path / "empty.geojson"
    empty.write_text("")
    with pytest.raises(SourceReadError):
        load_districts(workspace.store, empty)
    nocrs = tmp_path / "nocrs.shp"
    with pytest.warns(UserWarning, match="crs"):  # writing a file without CRS on purpose
        gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.box(0, 0, 1, 1)]).to_file(nocrs)
    with pytest.raises(ValidationError, match="no CRS"):
        load_districts(workspace.store, nocrs)
    noname = tmp_path / "noname.geojson"
    gpd.GeoDataFrame({"foo": ["a"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4490).to_file(noname)
    with pytest.raises(ValidationError, match="--name-field"):
        load_districts(workspace.store, noname)
    points = tmp_path / "points.geojson"
    gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.Point(0, 0)], crs=4490).to_file(points)
    with pytest.raises(ValidationError, match="polygons"):
        load_districts(workspace.store, points)
    with pytest.raises(NotFoundError, match="no district"):
        district_geometry(workspace.store, "nowhere")
    assert list_districts(workspace.store).empty  # nothing was written by the failures


def test_cli_init_districts_status(tmp_path):
    ws = tmp_path / "w"
    result = run_cli(["init", ws])
    assert result.exit_code == 0, result.output
    again = run_cli(["init", ws])
    assert again.exit_code == 2 and "already holds a workspace" in again.stderr
    result = run_cli(["districts", "load", SHANTOU, "--workspace", ws])
    assert result.exit_code == 0, result.stderr
    result = run_cli(["districts", "list", "--workspace", ws, "--format", "json"])
    rows = json.loads(result.stdout)
    assert {r["name"] for r in rows} >= {"南澳县"} and all(r["area_km2"] > 50 for r in rows)
    result = run_cli(["status", "--workspace", ws, "--format", "json"])
    assert json.loads(result.stdout)["records"]["districts"] == 7
    bad = run_cli(["districts", "load", tmp_path / "nope.shp", "--workspace", ws])
    assert bad.exit_code == 2 and bad.stderr.count("\n") == 1 and "no such file" in bad.stderr
    missing = run_cli(["status", "--workspace", tmp_path / "elsewhere"])
    assert missing.exit_code == 2 and "not a geobase workspace" in missing.stderr
