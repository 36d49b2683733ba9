"""Searching the registry: radius (against brute force), name, district, polygon, grades."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from pyproj import Geod

from geobase.control.importer import import_points
from geobase.control.inspections import record_inspection
from geobase.control.registry import radius_bbox, search, within_radius
from geobase.errors import NotFoundError, UnknownGrade, ValidationError
from geobase.store.districts import district_geometry, load_districts
from tests.conftest import run_cli
from tests.control_helpers import (
    DISTRICTS,
    bulk_rows,
    good_row,
    random_points_in_districts,
    write_csv,
)

CGCS2000 = Geod(a=6378137.0, f=1 / 298.257222101)


@pytest.fixture
def ws(workspace):
    load_districts(workspace.store, DISTRICTS)
    return workspace


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A workspace with 10,000 random marks inside the districts."""
    from geobase.store import Workspace

    root = tmp_path_factory.mktemp("big")
    ws = Workspace.init(root / "ws", name="big")
    load_districts(ws.store, DISTRICTS)
    lons, lats = random_points_in_districts(ws, 10_000, seed=11)
    path = write_csv(root / "many.csv", bulk_rows(lons, lats, with_grid=False))
    assert len(import_points(ws, path).added) == 10_000
    yield ws, lons, lats
    ws.close()


def test_radius_search_matches_brute_force_geodesic(big):
    ws, lons, lats = big
    ids = np.array([f"R{k:06d}" for k in range(len(lons))])
    rng = np.random.default_rng(3)
    checked = 0
    for _ in range(40):
        lon, lat = rng.uniform(116.3, 117.1), rng.uniform(23.05, 23.6)
        radius = float(rng.choice([50.0, 500.0, 2_000.0, 8_000.0, 30_000.0, 60_000.0]))
        _, _, dist = CGCS2000.inv(np.full(len(lons), lon), np.full(len(lons), lat), lons, lats)
        expected = set(ids[dist <= radius])
        with ws.store.read() as tx:
            found, distances = within_radius(tx, lon, lat, radius)
        assert set(found) == expected
        assert np.all(distances <= radius)
        checked += len(expected)
    assert checked > 2_000  # the cases are not all empty
    # the search API agrees, sorted by distance; and a radius exactly at a mark's distance
    # includes that mark
    lon, lat = 116.7, 23.4
    _, _, dist = CGCS2000.inv(np.full(len(lons), lon), np.full(len(lons), lat), lons, lats)
    radius = float(np.sort(dist)[25])
    frame = search(ws, near=(lon, lat), radius=radius)
    assert list(frame["point_id"]) == list(ids[np.argsort(dist, kind="stable")][:26])
    assert frame["distance_m"].is_monotonic_increasing


def test_fast_path_approximation_stays_inside_its_band():
    from geobase.control.registry import _FAST_REL_BAND, _local_d2

    rng = np.random.default_rng(9)
    n = 20_000
    lon, lat = rng.uniform(73, 135, n), rng.uniform(-60, 60, n)
    az, dist = rng.uniform(0, 360, n), rng.uniform(1, 50_000, n)
    lon2, lat2, _ = CGCS2000.fwd(lon, lat, az, dist)
    approx = np.sqrt(
        [
            _local_d2(a, b, np.array([c]), np.array([d]))[0]
            for a, b, c, d in zip(lon, lat, lon2, lat2, strict=True)
        ]
    )
    assert np.max(np.abs(approx - dist) / dist) < _FAST_REL_BAND / 2


def test_radius_bbox_holds_the_circle():
    rng = np.random.default_rng(5)
    for _ in range(200):
        lon, lat, radius = rng.uniform(73, 135), rng.uniform(0, 60), rng.uniform(1, 200_000)
        minx, miny, maxx, maxy = radius_bbox(lon, lat, radius)
        az = np.linspace(0, 360, 721)
        x, y, _ = CGCS2000.fwd(np.full(721, lon), np.full(721, lat), az, np.full(721, radius))
        assert np.all((x >= minx) & (x <= maxx) & (y >= miny) & (y <= maxy))


def test_district_and_polygon_searches_use_the_polygons(big):
    ws, lons, lats = big
    area = district_geometry(ws.store, "南澳县")
    expected = int(shapely.contains_xy(area, lons, lats).sum())
    frame = search(ws, district="南澳县")
    assert len(frame) == expected > 0
    assert set(frame["district"]) == {"南澳县"}
    box = shapely.box(116.6, 23.3, 116.7, 23.4)
    inside = shapely.contains_xy(box, lons, lats)
    assert len(search(ws, polygon=box)) == int(inside.sum())
    # criteria combine: radius within a district, by grade
    both = search(ws, district="金平区", near=(116.68, 23.36), radius=3_000, grade="D级")
    assert len(both) and set(both["gnss_grade"]) == {"D"} and set(both["district"]) == {"金平区"}
    assert (both["distance_m"] <= 3_000).all()


def test_search_by_id_name_kind_grade_and_usability(ws, tmp_path):
    rows = [
        good_row("C001", 点名="金平一号"),
        good_row("L001", 点名="鮀江水准", 等级="三等水准", 纬度="23.36", 经度="116.70", X="", Y=""),
        good_row(
            "D001", 点名="金平二号", 等级="D级;一级", 纬度="23.365", 经度="116.69", X="", Y=""
        ),
    ]
    import_points(ws, write_csv(tmp_path / "p.csv", rows))
    record_inspection(ws, "C001", date="2024-01-02", inspector="林", condition="完好")
    record_inspection(ws, "L001", date="2024-01-02", inspector="林", condition="未找到")
    assert list(search(ws, point_id="L001")["point_id"]) == ["L001"]
    assert list(search(ws, name="金平")["point_id"]) == ["C001", "D001"]
    assert list(search(ws, name="%")["point_id"]) == []  # wildcards are literal
    assert list(search(ws, kind="水准点")["point_id"]) == ["L001"]
    assert list(search(ws, grade="三等")["point_id"]) == []  # CJJ 三等: none
    assert list(search(ws, grade="三等水准")["point_id"]) == ["L001"]
    assert list(search(ws, grade="三等", kind="levelling")["point_id"]) == ["L001"]
    assert list(search(ws, grade="一级")["point_id"]) == ["D001"]
    assert list(search(ws, usability="usable")["point_id"]) == ["C001"]
    assert list(search(ws, usability="unusable")["point_id"]) == ["L001"]
    assert list(search(ws, usability="uninspected")["point_id"]) == ["D001"]
    near = search(ws, near_id="C001", radius=5_000)
    assert near["point_id"].iloc[0] == "C001" and near["distance_m"].iloc[0] == 0
    frame = search(ws)
    assert frame.crs.to_epsg() == 4490 and frame.geometry.iloc[0].x == pytest.approx(116.682)
    with pytest.raises(UnknownGrade):
        search(ws, grade="Z")
    with pytest.raises(NotFoundError, match="no district"):
        search(ws, district="西湖区")
    with pytest.raises(NotFoundError, match="no control point"):
        search(ws, near_id="NOPE", radius=10)
    with pytest.raises(ValidationError, match="needs a radius"):
        search(ws, near=(116.7, 23.4))


def test_search_cli_formats(ws, tmp_path):
    import_points(ws, write_csv(tmp_path / "p.csv", [good_row()]))
    base = [
        "control",
        "search",
        "--workspace",
        ws.root,
        "--near",
        "116.68,23.35",
        "--radius",
        "2000",
    ]
    table = run_cli(base)
    assert table.exit_code == 0 and "金平一号" in table.stdout and "C级" in table.stdout
    rows = json.loads(run_cli([*base, "--format", "json"]).stdout)
    assert rows[0]["point_id"] == "C001" and rows[0]["distance_m"] > 0
    geojson = json.loads(run_cli([*base, "--format", "geojson"]).stdout)
    assert geojson["features"][0]["geometry"]["coordinates"] == pytest.approx([116.682, 23.354])
    csv_out = run_cli([*base, "--format", "csv"]).stdout
    assert csv_out.splitlines()[0].startswith("point_id,name") and "金平一号" in csv_out
    polygon = tmp_path / "area.geojson"
    polygon.write_text(
        json.dumps(
            {
                "type": "Polygon",
                "coordinates": [[[116.6, 23.3], [116.7, 23.3], [116.7, 23.4], [116.6, 23.3]]],
            }
        ),
        encoding="utf-8",
    )
    inside = run_cli(
        ["control", "search", "--workspace", ws.root, "--polygon", polygon, "--format", "json"]
    )
    assert inside.exit_code == 0 and [r["point_id"] for r in json.loads(inside.stdout)] == ["C001"]
    for bad, message in (
        (["--near", "23.35"], "expected LON,LAT"),
        (["--near", "116.68,23.35"], "needs a radius"),
        (["--grade", "Z"], "unknown grade"),
        (["--district", "西湖区"], "no district"),
    ):
        result = run_cli(["control", "search", "--workspace", ws.root, *bad])
        assert result.exit_code == 2 and message in result.stderr, (bad, result.stderr)
