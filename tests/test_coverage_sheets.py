"""Sheet statuses: covered / partial / missing, newest date and age, district cuts, --as-of."""

from __future__ import annotations

import datetime as dt
import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from geobase.coverage import product_sheets, sheet_statuses, sheet_summary
from geobase.coverage.sheets import cell_coverage
from geobase.errors import NotFoundError, SheetCodeError, ValidationError
from geobase.sheets import sheet_code, sheet_polygon, sheets_covering
from tests import coverage_support as cs
from tests.conftest import run_cli


@pytest.fixture
def city(workspace, tmp_path):
    cs.build(workspace, tmp_path)
    return workspace


def by_code(frame):
    return {r["code"]: r for r in frame.drop(columns="geometry").to_dict("records")}


def test_city_sheets_mid_2024(city):
    sheets = product_sheets(city, "dlg500", "1:500", as_of="2024-06-30")
    assert sheets.crs.to_epsg() == 4548
    # 16 columns (x 500000-504000) x 8 rows of 250 m sheets
    assert len(sheets) == 128 and sheets["code"].is_unique
    assert sheet_summary(sheets) == {
        "sheets": 128,
        "covered": 40,  # f1 v2: 4 x 8; f2 east of f1: 2 x 4
        "partial": 2,
        "missing": 86,
        "area_km2": pytest.approx(8.0, rel=1e-6),
        "covered_km2": pytest.approx(2.55625, rel=1e-6),
    }
    s = by_code(sheets)
    corner = s["2580.00-500.00"]
    assert (corner["status"], corner["newest"], corner["datasets"]) == ("covered", "2024-03-01", 1)
    assert corner["age_years"] == pytest.approx(121 / 365.25)
    assert corner["share"] == pytest.approx(1.0, abs=1e-6)
    # inside f2 and f1 v2: newest is f1 v2
    both = s["2580.50-500.50"]
    assert (both["status"], both["newest"], both["datasets"]) == ("covered", "2024-03-01", 2)
    # f2 only (the f1 v2 edge at x = 501000 only touches it)
    east = s["2580.50-501.00"]
    assert (east["status"], east["newest"], east["datasets"]) == ("covered", "2023-12-31", 1)
    # the sheet cut by the A/B boundary: f3 covers the 100 m in A, 40% of the sheet
    cut = s["2581.00-502.00"]
    assert cut["status"] == "partial"
    assert cut["share"] == pytest.approx(0.4, rel=1e-6)
    assert cut["district"] == "B区" and cut["districts"] == "A区;B区"
    assert cut["newest"] == "2022-01-01"
    half = s["2580.00-503.00"]
    assert (half["status"], half["share"]) == ("partial", pytest.approx(0.5, rel=1e-6))
    # f5 was removed in January 2024
    gone = s["2581.75-503.75"]
    assert (gone["status"], gone["datasets"]) == ("missing", 0)
    assert pd.isna(gone["newest"])
    assert np.isnan(gone["age_years"])


def test_sheets_cut_by_a_district_boundary_are_judged_per_part(city):
    sheets = product_sheets(city, "dlg500", 500, as_of="2024-06-30", by_district=True)
    assert len(sheets) == 136  # the 8 sheets of column x 502000 appear in A and in B
    cut = sheets[sheets["code"] == "2581.00-502.00"].set_index("district")
    assert cut.loc["A区", "status"] == "covered"
    assert cut.loc["A区", "area_km2"] == pytest.approx(0.025, rel=1e-6)
    assert cut.loc["B区", "status"] == "missing"
    assert cut.loc["B区", "area_km2"] == pytest.approx(0.0375, rel=1e-6)
    only_a = product_sheets(city, "dlg500", 500, as_of="2024-06-30", district="A区")
    assert len(only_a) == 72 and set(only_a["district"]) == {"A区"}
    assert by_code(only_a)["2581.00-502.00"]["status"] == "covered"
    assert only_a["covered_km2"].sum() == pytest.approx(2.525, rel=1e-6)


def test_sheets_as_of_end_of_2023(city):
    s = by_code(product_sheets(city, "dlg500", 500, as_of="2023-12-31"))
    assert s["2581.75-503.75"]["status"] == "covered"  # f5 not yet removed
    assert s["2581.75-503.75"]["newest"] == "2019-01-01"
    assert s["2581.75-500.00"]["status"] == "missing"  # f1 v2 not yet acquired
    assert s["2580.00-500.00"]["newest"] == "2018-06-30"  # f1 v1
    assert s["2580.00-500.00"]["age_years"] == pytest.approx(
        (dt.date(2023, 12, 31) - dt.date(2018, 6, 30)).days / 365.25
    )


def test_coarser_scales(city):
    s = by_code(product_sheets(city, "dlg500", "1:2000", as_of="2024-06-30"))
    assert len(s) == 8  # 4 x 2 sheets of 1 km
    assert s["2580.0-500.0"]["status"] == "covered"
    # f2 in x 501000-501500, y 2580500-2581000
    assert s["2580.0-501.0"]["share"] == pytest.approx(0.25, rel=1e-6)
    assert s["2581.0-503.0"]["status"] == "missing"


def test_no_footprints_means_every_sheet_missing(city):
    sheets = product_sheets(city, "dom02", 1000, as_of="2024-06-30")
    assert set(sheets["status"]) == {"missing"} and len(sheets) == 32


def test_cell_coverage_unions_overlaps_and_ignores_slivers():
    cells = np.array([shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)], dtype=object)
    footprints = np.array(
        [shapely.box(0, 0, 6, 10), shapely.box(4, 0, 10, 10), shapely.box(10 - 1e-9, 0, 11, 1)],
        dtype=object,
    )
    days = np.array([100, 200, 300])
    covered, newest, count = cell_coverage(cells, np.array([True, True]), footprints, days)
    assert covered[0] == pytest.approx(100.0)  # two overlapping halves, not 120
    assert (newest[0], count[0]) == (200, 2)  # the sliver of the third does not count
    assert covered[1] == pytest.approx(1.0)
    assert (newest[1], count[1]) == (300, 1)


def test_sheet_statuses_agree_with_an_overlay():
    """Random footprints: the vectorised statuses match geopandas.overlay of the dissolve."""
    rng = np.random.default_rng(5)
    x = rng.uniform(500000, 503500, 60)
    y = rng.uniform(2580000, 2581500, 60)
    w = rng.uniform(50, 900, 60)
    footprints = gpd.GeoDataFrame(
        {"acquired_end": ["2020-01-01"] * 60},
        geometry=shapely.box(x, y, x + w, y + w * 0.7),
        crs=cs.GK,
    )
    districts = gpd.GeoDataFrame({"name": ["A", "B"]}, geometry=[cs.A, cs.B], crs=cs.GK)
    ours = sheet_statuses(footprints, districts, 500, as_of=dt.date(2024, 1, 1))
    grid = ours[["code", "geometry"]].copy()
    grid["geometry"] = grid.geometry.intersection(districts.union_all())
    grid["land"] = grid.area
    inter = gpd.overlay(grid, footprints.dissolve()[["geometry"]], how="intersection")
    covered = inter.assign(a=inter.area).groupby("code")["a"].sum()
    share = (covered.reindex(grid["code"]).fillna(0).to_numpy() / grid["land"].to_numpy()).clip(
        0, 1
    )
    expected = np.where(share >= 1 - 1e-4, "covered", np.where(share <= 1e-4, "missing", "partial"))
    assert list(ours["status"]) == list(expected)
    np.testing.assert_allclose(ours["share"], share, atol=1e-9)
    assert {"covered", "partial", "missing"} == set(expected)


@pytest.mark.parametrize("scale", ["1:3000", "1:20000", "abc", 0])
def test_bad_scale(city, scale):
    with pytest.raises(SheetCodeError):
        product_sheets(city, "dlg500", scale)


def test_no_rectangular_sheets_at_national_scales(city):
    with pytest.raises(SheetCodeError, match="rectangular sheets exist at"):
        product_sheets(city, "dlg500", "1:10000", kind="rect")
    with pytest.raises(SheetCodeError, match="sheet grid"):
        product_sheets(city, "dlg500", "1:10000", kind="hex")


# --- national sheets (GB/T 13989) -------------------------------------------------------


def test_national_sheets_over_the_city(city):
    """The city (117.000-117.039E, 23.320-23.338N) lies in two 1:10,000 sheets, split at
    23°20'N; its west edge is the sheets' edge at 117°E (the central meridian)."""
    rect = product_sheets(city, "dlg500", 500, as_of="2024-06-30")
    sheets = product_sheets(city, "dlg500", "1:10000", as_of="2024-06-30")
    assert sheets.crs.to_epsg() == 4548
    assert (
        list(sheets["code"])
        == [
            sheet_code(117.02, 23.337, 10000),  # north of 23°20' (rows count from the north)
            sheet_code(117.02, 23.33, 10000),
        ]
        == ["F50G016049", "F50G017049"]
    )
    assert set(sheets["scale"]) == {10000}
    assert set(sheets["status"]) == {"partial"}
    # the same land and the same footprints, whatever the grid they are counted in
    assert sheets["area_km2"].sum() == pytest.approx(8.0, rel=1e-6)
    assert sheets["covered_km2"].sum() == pytest.approx(rect["covered_km2"].sum(), rel=1e-6)
    assert sheets["newest"].max() == "2024-03-01"
    # 1:5,000 has both grids: rectangular by default, national when asked
    assert product_sheets(city, "dlg500", 5000)["code"].iloc[0] == "2580-500"
    national = product_sheets(city, "dlg500", 5000, kind="national", as_of="2024-06-30")
    assert all(code.startswith("F50H") for code in national["code"])
    assert national["covered_km2"].sum() == pytest.approx(rect["covered_km2"].sum(), rel=1e-6)


@pytest.mark.parametrize(("scale", "by_district"), [(10000, False), (5000, False), (5000, True)])
def test_national_statuses_agree_with_an_overlay(scale, by_district):
    """Random footprints: each national sheet's share is that of its own polygon, drawn
    independently (sheet_polygon, densified to 1e-4°, projected point by point)."""
    rng = np.random.default_rng(7)
    x = rng.uniform(500000, 503500, 60)
    y = rng.uniform(2580000, 2581500, 60)
    w = rng.uniform(50, 900, 60)
    footprints = gpd.GeoDataFrame(
        {"acquired_end": ["2020-01-01"] * 60},
        geometry=shapely.box(x, y, x + w, y + w * 0.7),
        crs=cs.GK,
    )
    districts = gpd.GeoDataFrame({"name": ["A", "B"]}, geometry=[cs.A, cs.B], crs=cs.GK)
    ours = sheet_statuses(
        footprints, districts, scale, kind="national", by_district=by_district,
        as_of=dt.date(2024, 1, 1),
    )  # fmt: skip
    to_gk = Transformer.from_crs(4490, cs.GK, always_xy=True)
    covered_area = footprints.union_all()
    expected_codes = set()
    for code in sheets_covering(districts.to_crs(4490), scale)["code"]:
        polygon = shapely.segmentize(sheet_polygon(code), 1e-4)
        sheet = shapely.transform(polygon, lambda xy: np.column_stack(to_gk.transform(*xy.T)))
        for name, district in zip(districts["name"], districts.geometry, strict=True):
            land = sheet.intersection(district if by_district else districts.union_all())
            if land.area <= 1e-4 * sheet.area:
                continue
            expected_codes.add(code)
            row = ours[(ours["code"] == code) & ((ours["district"] == name) | (not by_district))]
            assert len(row) == 1, (code, name)
            share = land.intersection(covered_area).area / land.area
            assert row["share"].iloc[0] == pytest.approx(share, abs=1e-6), code
            assert row["area_km2"].iloc[0] == pytest.approx(land.area / 1e6, rel=1e-5)
            if not by_district:
                break
    assert set(ours["code"]) == expected_codes and len(expected_codes) > 1
    assert ours["status"].isin(["covered", "partial", "missing"]).all()


def test_cli_national_sheets(city):
    ws = str(city.root)
    result = run_cli(
        ["coverage", "sheets", "--scale", "1:10000", "--product", "dlg500", "--as-of",
         "2024-06-30", "--format", "json", "--workspace", ws]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["code"] for r in rows] == ["F50G016049", "F50G017049"]
    assert "2 sheets at 1:10000 (national)" in result.stderr
    refused = run_cli(
        ["coverage", "sheets", "--scale", "1:10000", "--kind", "rect", "--product", "dlg500",
         "--workspace", ws]
    )  # fmt: skip
    assert refused.exit_code == 2
    assert "rectangular sheets exist at" in refused.stderr


def test_bad_inputs(city):
    with pytest.raises(NotFoundError, match="unknown product"):
        product_sheets(city, "nope", 500)
    with pytest.raises(NotFoundError, match="no district 'C区'"):
        product_sheets(city, "dlg500", 500, district="C区")
    with pytest.raises(ValidationError):
        product_sheets(city, "dlg500", 500, as_of="31.12.2023")
