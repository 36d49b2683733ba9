"""geobase sheets code|bounds|grid (CliRunner)."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner

from geobase.cli import cli
from geobase.sheets import rect_sheet_bounds, sheet_bounds


def run(*args: str):
    return CliRunner().invoke(cli, ["sheets", *args], obj={})


def assert_usage_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Error:"), result.output
    for fragment in fragments:
        assert fragment in last, result.output


# --- code ---------------------------------------------------------------------------


def test_code_national_json():
    result = run("code", "116.682", "23.354", "--scale", "1:10000", "--format", "json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["code"] == "F50G016043"
    assert record["south_dms"] == "23°20'00\""
    assert [record[k] for k in ("west", "south", "east", "north")] == list(
        sheet_bounds("F50G016043")
    )


def test_code_dms_and_table():
    result = run("code", "116°28'25\"", "39°54'30\"", "-s", "100k")
    assert result.exit_code == 0, result.output
    assert "J50D001005" in result.output


def test_code_rect_from_lonlat_and_xy():
    result = run("code", "116.682", "23.354", "-s", "500", "--kind", "rect", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["code"] == "2583.75-467.25"
    assert json.loads(result.stdout)["crs"] == "EPSG:4548"
    result = run(
        "code", "467483.3555", "2583777.6078", "-s", "1:1000", "--kind", "rect", "--xy",
        "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["code"] == "2583.5-467.0"


def test_code_rect_prefixed_crs():
    result = run(
        "code", "116.682", "23.354", "-s", "5000", "--kind", "rect", "--crs", "EPSG:4527",
        "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["code"] == "2582-39466"


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["116.682", "23.354", "--scale", "1:3000"], ["1:3000", "not a map-sheet scale"]),
        (["116.682", "23.354", "--scale", "big"], ["'big'"]),
        (["116.682", "23.354"], ["--scale"]),
        (["abc", "23.354", "-s", "10k"], ["'abc'", "not understood"]),
        (["116.682", "95", "-s", "10k"], ["swap"]),
        (["200", "23.354", "-s", "10k"], ["-180..180"]),
        (["-s", "10k", "--", "116.682", "-23.354"], ["northern hemisphere"]),
        (["116.682", "23.354", "-s", "10k", "--kind", "rect"], ["1:10000", "rectangular"]),
        (
            ["116.682", "23.354", "-s", "500", "--kind", "rect", "--crs", "EPSG:3857"],
            ["Gauss-Kruger"],
        ),
        (["116.682", "23.354", "-s", "500", "--kind", "rect", "--crs", "nonsense"], ["nonsense"]),
        (["2583777.6", "467483.4", "-s", "500", "--kind", "rect", "--xy"], ["swap"]),
        (["x", "467483.4", "-s", "500", "--kind", "rect", "--xy"], ["'x'"]),
        (["116.682", "23.354", "-s", "500", "--xy"], ["--xy"]),
        (["116.682", "23.354", "-s", "500", "--format", "csv"], ["csv"]),
    ],
)
def test_code_bad_input(args, fragments):
    assert_usage_error(run("code", *args), *fragments)


# --- bounds -------------------------------------------------------------------------


def test_bounds_national_lower_case():
    result = run("bounds", "j50k00530950", "--format", "json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["code"] == "J50K00530950" and record["scale"] == "1:500"
    assert (record["west"], record["south"]) == tuple(sheet_bounds("J50K00530950"))[:2]


def test_bounds_rect():
    result = run("bounds", "2583.25-467.50", "--format", "json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["scale"] == "1:500"
    assert [record[k] for k in ("west", "south", "east", "north")] == list(
        rect_sheet_bounds("2583.25-467.50")
    )
    result = run("bounds", "2583.5-467.0", "--scale", "1:2000", "--format", "json")
    assert_usage_error(result, "not a multiple of 1 km")  # 2583.5 km is off the 1:2000 grid
    result = run("bounds", "2583.5-467.0", "--scale", "1:1000", "--format", "json")
    assert json.loads(result.stdout)["east"] - json.loads(result.stdout)["west"] == 500


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["F50X"], ["malformed sheet code", "'F50X'"]),
        ([""], ["empty sheet code"]),
        (["F50G097001"], ["row 97"]),
        (["W50"], ["beyond V"]),
        (["F50G01604"], ["3+3 digits"]),
        (["2583.5-467.0"], ["cannot tell the scale"]),
        (["2583.30-467.50"], ["multiple of 0.25 km"]),
        (["2583.25-467.50", "--scale", "1:10000"], ["rectangular sheets exist"]),
        (["2583.25-467.50", "--crs", "EPSG:4326"], ["Gauss-Kruger"]),
        (["F50G016043", "--scale", "1:500"], ["1:10000 sheet"]),
    ],
)
def test_bounds_bad_codes(args, fragments):
    assert_usage_error(run("bounds", *args), *fragments)


# --- grid ---------------------------------------------------------------------------


def test_grid_bbox_gpkg(tmp_path):
    out = tmp_path / "sheets.gpkg"
    result = run("grid", "--scale", "1:10000", "--area", "116.6,23.3,116.7,23.4", "-o", str(out))
    assert result.exit_code == 0, result.output
    frame = gpd.read_file(out, layer="sheets")
    assert "F50G016043" in set(frame.code)
    assert len(frame) == 9 and frame.crs.to_epsg() == 4490
    # refuses to overwrite, then does with --overwrite
    again = run("grid", "--scale", "1:10000", "--area", "116.6,23.3,116.7,23.4", "-o", str(out))
    assert_usage_error(again, "exists", "--overwrite")
    again = run(
        "grid", "-s", "1:50000", "--area", "116.6,23.3,116.7,23.4", "-o", str(out), "--overwrite"
    )
    assert again.exit_code == 0, again.output
    assert len(gpd.read_file(out, layer="sheets")) == 2


def test_grid_rect_from_projected_file_to_geojson_and_csv(tmp_path):
    area = tmp_path / "area.gpkg"
    gpd.GeoDataFrame(
        {"name": ["金平区"]},
        geometry=[shapely.box(467100, 2583100, 467900, 2583600)],
        crs="EPSG:4548",
    ).to_file(area)
    out = tmp_path / "grid.geojson"
    result = run("grid", "-s", "500", "--kind", "rect", "--area", str(area), "-o", str(out))
    assert result.exit_code == 0, result.output
    frame = gpd.read_file(out)
    assert len(frame) == 4 * 3  # columns 467.00..467.75, rows 2583.00..2583.50
    assert "2583.25-467.50" in set(frame.code)
    csv_out = tmp_path / "grid.csv"
    result = run("grid", "-s", "2000", "--kind", "rect", "--area", str(area), "-o", str(csv_out))
    assert result.exit_code == 0, result.output
    table = pd.read_csv(csv_out, dtype={"code": str})
    assert table.to_dict("records") == [
        {"code": "2583.0-467.0", "scale": 2000, "west": 467000.0, "south": 2583000.0,
         "east": 468000.0, "north": 2584000.0},
    ]  # fmt: skip


def test_grid_national_from_lonlat_geojson_stdout(tmp_path):
    area = tmp_path / "area.geojson"
    gpd.GeoDataFrame(geometry=[shapely.Point(116.682, 23.354).buffer(0.01)], crs=4490).to_file(area)
    result = run("grid", "-s", "1:10000", "--area", str(area), "-o", "-")
    assert result.exit_code == 0, result.output
    codes = {f["properties"]["code"] for f in json.loads(result.stdout)["features"]}
    assert "F50G016043" in codes


@pytest.fixture
def bad_areas(tmp_path):
    empty = tmp_path / "empty.geojson"
    empty.write_text("")
    garbage = tmp_path / "garbage.gpkg"
    garbage.write_bytes(b"not a geopackage at all" * 10)
    no_features = tmp_path / "none.geojson"
    no_features.write_text('{"type": "FeatureCollection", "features": []}')
    no_crs = tmp_path / "nocrs.shp"
    with pytest.warns(UserWarning, match="'crs' was not provided"):
        gpd.GeoDataFrame(geometry=[shapely.box(116.6, 23.3, 116.7, 23.4)]).to_file(no_crs)
    return {"empty": empty, "garbage": garbage, "none": no_features, "nocrs": no_crs}


@pytest.mark.parametrize(
    ("area", "extra", "fragments"),
    [
        ("empty", [], ["empty"]),
        ("garbage", [], ["cannot be read"]),
        ("none", [], ["no geometries"]),
        ("nocrs", [], ["has no CRS"]),
        ("missing.gpkg", [], ["neither a W,S,E,N bbox nor an existing file"]),
        ("116.7,23.3,116.6,23.4", [], ["W < E"]),
        ("116,-1,117,1", [], ["northern hemisphere"]),
        ("73,18,135,54", ["-s", "500"], ["limit"]),
        ("116.6,23.3,116.7,23.4", ["-s", "1:3000"], ["1:3000"]),
        ("116.6,23.3,116.7,23.4", ["-s", "1:10000", "--kind", "rect"], ["rectangular"]),
    ],
)
def test_grid_bad_input_writes_nothing(tmp_path, bad_areas, area, extra, fragments):
    area_arg = str(bad_areas.get(area, area))
    out = tmp_path / "out.gpkg"
    args = ["grid", "--area", area_arg, "-o", str(out), *extra]
    if "-s" not in extra:
        args += ["-s", "1:10000"]
    assert_usage_error(run(*args), *fragments)
    assert not out.exists()
    assert not list(tmp_path.glob(".out.gpkg*"))


def test_grid_bad_output_type(tmp_path):
    out = tmp_path / "out.txt"
    result = run("grid", "-s", "10k", "--area", "116.6,23.3,116.7,23.4", "-o", str(out))
    assert_usage_error(result, "unknown output type .txt")
    assert not out.exists()


def test_code_rect_geobase_zone_names():
    result = run(
        "code", "116.682", "23.354", "-s", "1:2000", "--kind", "rect", "--crs", "gk3:39",
        "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["code"] == "2583.0-39467.0" and record["crs"] == "EPSG:4527"


@pytest.mark.parametrize(
    "code", ["F50", "F50B001002", "F50C002003", "F50D004005", "F50E010011", "F50F020021",
             "F50G016043", "F50H031085", "F50I095256", "F50J01900511", "F50K10120387"],
)  # fmt: skip
def test_printed_bounds_round_trip(code):
    # issue 16: `sheets bounds F50G016043` printed south 23.333333333333332 and
    # `sheets code 116.625 23.333333333333332` answered the sheet south of it
    result = run("bounds", code, "--format", "json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    scale = record["scale"]
    for west, south in (
        (record["west"], record["south"]),
        (record["west_dms"], record["south_dms"]),
    ):
        back = run("code", str(west), str(south), "--scale", scale, "--format", "json")
        assert back.exit_code == 0, back.output
        assert json.loads(back.stdout)["code"] == code
    table = run("bounds", code)
    assert table.exit_code == 0
    assert repr(record["south"]) in table.output
