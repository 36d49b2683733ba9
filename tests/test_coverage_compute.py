"""Coverage per product and district: areas, shares, ages and --as-of, known by construction."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import pytest
import shapely

from geobase.coverage import (
    age_classes,
    age_pieces,
    coverage_layers,
    coverage_table,
    district_coverage,
    load_footprints,
    parse_as_of,
)
from geobase.errors import NotFoundError, ValidationError
from tests import coverage_support as cs

REL = 1e-6  # reprojection round trips (GK -> 4490 -> GK) keep areas to this


@pytest.fixture
def city(workspace, tmp_path):
    cs.build(workspace, tmp_path)
    return workspace


def rows(frame):
    return {r["district"]: r for r in frame.drop(columns="geometry").to_dict("records")}


def test_areas_shares_and_ages_as_of_mid_2024(city):
    frame = district_coverage(city, "dlg500", as_of="2024-06-30")
    assert frame.crs.to_epsg() == 4490
    r = rows(frame)
    assert set(r) == {"A区", "B区", "全市"}
    a, b, whole = r["A区"], r["B区"], r["全市"]
    assert a["area_km2"] == pytest.approx(4.2, rel=REL)
    assert b["area_km2"] == pytest.approx(3.8, rel=REL)
    # A: f1 v2 (2 km2) + the part of f2 east of it (0.5) + f3 (0.025)
    assert a["covered_km2"] == pytest.approx(2.525, rel=REL)
    assert a["covered_share"] == pytest.approx(2.525 / 4.2, rel=REL)
    # B: f4 only; f5 was removed on 2024-01-15
    assert b["covered_km2"] == pytest.approx(0.03125, rel=REL)
    assert whole["covered_km2"] == pytest.approx(2.55625, rel=REL)
    assert whole["covered_share"] == pytest.approx(2.55625 / 8.0, rel=REL)
    # dlg500 is updated yearly: f1 v2 (0.33 y) and f2 (0.5 y) are current
    assert a["update_cycle_years"] == 1
    assert a["current_km2"] == pytest.approx(2.5, rel=REL)
    assert b["current_km2"] == pytest.approx(0.0, abs=1e-9)
    assert a["age_0-1y_km2"] == pytest.approx(2.5, rel=REL)
    assert a["age_2-3y_km2"] == pytest.approx(0.025, rel=REL)
    assert a["age_5-8y_km2"] == pytest.approx(0.0, abs=1e-9)
    assert b["age_3-5y_km2"] == pytest.approx(0.03125, rel=REL)
    assert (a["newest"], a["oldest"], a["datasets"]) == ("2024-03-01", "2022-01-01", 3)
    assert (whole["newest"], whole["datasets"]) == ("2024-03-01", 4)
    # the age classes add up to the covered area
    for row in r.values():
        total = sum(row[f"age_{c.key}_km2"] for c in age_classes([1, 2, 3, 5, 8]))
        assert total == pytest.approx(row["covered_km2"], rel=1e-9, abs=1e-12)


def test_as_of_end_of_2023_uses_old_version_and_keeps_later_removal(city):
    r = rows(district_coverage(city, "dlg500", as_of=dt.date(2023, 12, 31)))
    a, b = r["A区"], r["B区"]
    # f1 v1 (1 km2, 5.5 y) + f2 (1 km2, new) overlap 0.25; f3 (1.996 y)
    assert a["covered_km2"] == pytest.approx(1.775, rel=REL)
    assert a["age_0-1y_km2"] == pytest.approx(1.0, rel=REL)
    assert a["age_5-8y_km2"] == pytest.approx(0.75, rel=REL)
    assert a["age_1-2y_km2"] == pytest.approx(0.025, rel=REL)
    assert a["newest"] == "2023-12-31"
    # f5 is still there (removed only in 2024): 0.25 km2 aged 4.99 y; f4 aged 2.997 y
    assert b["covered_km2"] == pytest.approx(0.28125, rel=REL)
    assert b["age_3-5y_km2"] == pytest.approx(0.25, rel=REL)
    assert b["age_2-3y_km2"] == pytest.approx(0.03125, rel=REL)


def test_as_of_includes_data_acquired_on_the_date(city):
    r = rows(district_coverage(city, "dlg500", as_of="2019-01-01"))
    assert r["A区"]["covered_km2"] == pytest.approx(1.0, rel=REL)  # f1 v1
    assert r["B区"]["covered_km2"] == pytest.approx(0.25, rel=REL)  # f5, acquired that day
    assert r["B区"]["age_0-1y_km2"] == pytest.approx(0.25, rel=REL)
    before = rows(district_coverage(city, "dlg500", as_of="2018-06-29"))
    assert before["全市"]["covered_km2"] == 0
    assert before["全市"]["newest"] is None


def test_products_default_to_those_with_data_and_other_products_are_empty(city, tmp_path):
    cs.add_dataset(city, "img", cs.A, "2024-01-01", product="dom02", kind="imagery")
    frame = district_coverage(city, as_of="2024-06-30")
    assert list(dict.fromkeys(frame["product"])) == ["dom02", "dlg500"]  # registry order
    dom = rows(frame[frame["product"] == "dom02"])
    assert dom["A区"]["covered_share"] == pytest.approx(1.0, rel=REL)
    assert dom["B区"]["covered_share"] == pytest.approx(0.0, abs=1e-6)
    assert dom["A区"]["update_cycle_years"] == 5
    empty = rows(district_coverage(city, "dom05", as_of="2024-06-30"))
    assert empty["全市"]["covered_km2"] == 0 and empty["全市"]["datasets"] == 0


def test_update_cycle_is_configurable_per_workspace(city):
    city.config.products = {"dlg500": {"update_cycle_years": 3}}
    r = rows(district_coverage(city, "dlg500", as_of="2024-06-30"))
    assert r["A区"]["update_cycle_years"] == 3
    assert r["A区"]["current_km2"] == pytest.approx(2.525, rel=REL)  # f3 (2.5 y) is current now


def test_unknown_acquisition_date_counts_as_covered_of_unknown_age(city):
    cs.add_dataset(city, "nodate", shapely.box(503500, 2580000, 504000, 2580500), None)
    r = rows(district_coverage(city, "dlg500"))  # today's state keeps undated data
    assert r["B区"]["age_unknown_km2"] == pytest.approx(0.25, rel=REL)
    dated = rows(district_coverage(city, "dlg500", as_of=dt.date.today()))
    assert dated["B区"]["age_unknown_km2"] == 0  # an as-of date needs an acquisition date


def test_age_pieces_partition_the_coverage(city):
    footprints = load_footprints(city, "dlg500", as_of="2023-12-31")
    assert footprints.crs.to_epsg() == 4548
    pieces = age_pieces(footprints)
    assert list(pieces["key"]) == ["0-1y", "1-2y", "2-3y", "3-5y", "5-8y"]
    union = shapely.union_all(footprints.geometry.values)
    assert pieces.geometry.area.sum() == pytest.approx(union.area, rel=1e-9)
    assert shapely.union_all(pieces.geometry.values).area == pytest.approx(union.area, rel=1e-9)
    layers = coverage_layers(city, "dlg500", as_of="2023-12-31")
    assert layers.crs.to_epsg() == 4490 and len(layers) == 5


def test_coverage_table_on_plain_data():
    districts = gpd.GeoDataFrame({"name": ["d"]}, geometry=[shapely.box(0, 0, 100, 100)], crs=3857)
    footprints = gpd.GeoDataFrame(
        {"acquired_end": ["2020-01-01", "2024-01-01"], "age_years": [4.0, 0.5]},
        geometry=[shapely.box(-50, 0, 50, 100), shapely.box(25, 0, 75, 100)],
        crs=3857,
    )
    table = coverage_table(footprints, districts, update_cycle_years=1, bins=[1, 5])
    d = table.iloc[0]
    assert d["covered_km2"] * 1e6 == pytest.approx(7500)
    assert d["current_km2"] * 1e6 == pytest.approx(5000)
    assert d["age_0-1y_km2"] * 1e6 == pytest.approx(5000)
    assert d["age_1-5y_km2"] * 1e6 == pytest.approx(2500)
    assert d["age_5y+_km2"] == 0


@pytest.mark.parametrize("bad", ["2024-13-01", "yesterday", "2024-02-30", "2024", ""])
def test_bad_as_of_dates(city, bad):
    with pytest.raises(ValidationError, match="YYYY-MM-DD"):
        parse_as_of(bad)
    with pytest.raises(ValidationError):
        district_coverage(city, "dlg500", as_of=bad)


def test_unknown_product(city):
    with pytest.raises(NotFoundError, match="unknown product 'dlg9'"):
        district_coverage(city, "dlg9")


def test_no_districts_loaded(workspace):
    with pytest.raises(NotFoundError, match="no districts loaded"):
        district_coverage(workspace, "dlg500")
