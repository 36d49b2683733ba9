"""geobase crs info|zone|transform|fit|apply and geobase height (CliRunner)."""

from __future__ import annotations

import codecs
import json
import math
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from click.testing import CliRunner

from geobase.cli import cli
from geobase.geodesy import read_parameters, resolve_crs, transform

SHANTOU_LONLAT = (116.682, 23.354)
SHANTOU_EN = (467483.3555, 2583777.6078)


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], obj={}, input=input)


def assert_bad_input(result, *fragments: str) -> None:
    """Exit code 2 and a one-line reason on stderr."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def read_out(path, encoding="utf-8-sig"):
    return pd.read_csv(path, dtype=str, encoding=encoding, keep_default_na=False)


def write(path, text: str, encoding: str = "utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


# --- info and zone -----------------------------------------------------------------


def test_info_short_name_json():
    result = run("crs", "info", "gk3:39", "--format", "json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["epsg"] == 4527
    assert record["central_meridian"] == 117
    assert record["false_easting"] == 39_500_000
    assert record["zone_prefix"] is True
    assert record["counterpart"].startswith("EPSG:4548")


def test_info_table_and_geographic():
    result = run("crs", "info", "EPSG:4490")
    assert result.exit_code == 0, result.output
    assert "China 2000" in result.stdout and "lon, lat" in result.stdout


def test_info_unknown_crs():
    assert_bad_input(run("crs", "info", "gk3:99"), "zone 99 has no CGCS2000 system")
    assert_bad_input(run("crs", "info", "EPSG:123456"), "unknown CRS")


def test_zone_json_worked_values():
    result = run("crs", "zone", *SHANTOU_LONLAT, "--format", "json")
    assert result.exit_code == 0, result.output
    rows = {row["epsg"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {"EPSG:4527", "EPSG:4548", "EPSG:4498", "EPSG:4509"}
    assert rows["EPSG:4548"]["east"] == SHANTOU_EN[0]
    assert rows["EPSG:4548"]["north"] == SHANTOU_EN[1]
    assert rows["EPSG:4527"]["east"] == 39_467_483.3555
    assert rows["EPSG:4498"]["zone"] == 20


def test_zone_outside_china_and_swapped():
    assert_bad_input(run("crs", "zone", "10", "45"), "outside the CGCS2000 3-degree")
    assert_bad_input(run("crs", "zone", "23.354", "116.682"), "look swapped")


# --- transform: CSV ---------------------------------------------------------------------


def test_transform_lonlat_csv_keeps_every_column(tmp_path):
    src = write(
        tmp_path / "in.csv",
        "id,name,lon,lat,remark\n007,汕头站,116.682,23.354,屋顶\n008,b,116.7,23.4,\n",
    )
    out = tmp_path / "out.csv"
    result = run("crs", "transform", src, out, "--from", "EPSG:4490", "--to", "EPSG:4548")
    assert result.exit_code == 0, result.output
    frame = read_out(out)
    assert list(frame.columns) == ["id", "name", "lon", "lat", "remark", "east", "north"]
    assert frame.loc[0, "id"] == "007" and frame.loc[0, "name"] == "汕头站"
    assert frame.loc[0, "lon"] == "116.682"
    assert frame.loc[0, "east"] == "467483.3555" and frame.loc[0, "north"] == "2583777.6078"


def test_transform_survey_xy_and_back(tmp_path):
    # surveying convention: x = north, y = east
    src = write(tmp_path / "in.csv", f"id,x,y\nA,{SHANTOU_EN[1]},{SHANTOU_EN[0]}\n")
    out = tmp_path / "out.csv"
    result = run("crs", "transform", src, out, "--from", "gk3cm:117", "--to", "gk3:39")
    assert result.exit_code == 0, result.output
    frame = read_out(out)
    assert list(frame.columns) == ["id", "x", "y"]  # x,y in, x,y out
    assert frame.loc[0, "y"] == "39467483.3555" and frame.loc[0, "x"] == "2583777.6078"
    back = tmp_path / "back.csv"
    result = run("crs", "transform", out, back, "--from", "gk3:39", "--to", "4490")
    assert result.exit_code == 0, result.output
    frame = read_out(back)
    assert float(frame.loc[0, "lon"]) == pytest.approx(SHANTOU_LONLAT[0], abs=1e-9)
    assert float(frame.loc[0, "lat"]) == pytest.approx(SHANTOU_LONLAT[1], abs=1e-9)


def test_transform_swapped_xy_columns(tmp_path):
    # GIS-style x = east given to a Gauss-Kruger system, where x is read as north
    src = write(tmp_path / "in.csv", f"id,x,y\nA,{SHANTOU_EN[0]},{SHANTOU_EN[1]}\n")
    out = tmp_path / "out.csv"
    result = run("crs", "transform", src, out, "--from", "EPSG:4548", "--to", "EPSG:4490")
    assert_bad_input(result, "line 2:", "look swapped", "pass --xy gis")
    assert not out.exists()
    result = run(
        "crs", "transform", src, out, "--from", "EPSG:4548", "--to", "EPSG:4490", "--xy", "gis"
    )
    assert result.exit_code == 0, result.output
    assert float(read_out(out).loc[0, "lon"]) == pytest.approx(SHANTOU_LONLAT[0], abs=1e-9)


def test_transform_swapped_lonlat_values(tmp_path):
    src = write(tmp_path / "in.csv", "id,lon,lat\nA,23.354,116.682\n")
    result = run("crs", "transform", src, tmp_path / "o.csv", "--from", "4490", "--to", "4548")
    assert_bad_input(result, "line 2:", "look swapped")


def test_transform_prefixed_easting_in_unprefixed_crs(tmp_path):
    src = write(tmp_path / "in.csv", f"id,east,north\nA,39467483.3555,{SHANTOU_EN[1]}\n")
    out = tmp_path / "out.csv"
    result = run("crs", "transform", src, out, "--from", "EPSG:4548", "--to", "EPSG:4490")
    assert_bad_input(
        result, "easting 39467483 has a zone prefix but EPSG:4548 has none; did you mean EPSG:4527?"
    )
    assert not out.exists()


def test_transform_unknown_crs(tmp_path):
    src = write(tmp_path / "in.csv", "id,lon,lat\nA,116.682,23.354\n")
    assert_bad_input(
        run("crs", "transform", src, tmp_path / "o.csv", "--from", "4490", "--to", "EPSG:0"),
        "unknown CRS",
    )
    assert_bad_input(
        run("crs", "transform", src, tmp_path / "o.csv", "--from", "wgs99", "--to", "4548"),
        "unknown CRS 'wgs99'",
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "file is empty"), (b"\n \n", "file is empty"), (b"id,lon,lat\n", "header only")],
)
def test_transform_empty_file(tmp_path, content, message):
    src = tmp_path / "in.csv"
    src.write_bytes(content)
    out = tmp_path / "out.csv"
    assert_bad_input(run("crs", "transform", src, out, "--from", "4490", "--to", "4548"), message)
    assert not out.exists()


def test_transform_gbk_csv_with_chinese_headers(tmp_path):
    text = "点号,点名,经度,纬度,备注\nC001,汕头大学,116.682,23.354,楼顶GNSS点\nC002,南澳岛,117.02,23.42,\n"
    src = write(tmp_path / "gbk.csv", text, "gbk")
    out = tmp_path / "out.csv"
    result = run("crs", "transform", src, out, "--from", "EPSG:4490", "--to", "EPSG:4548")
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(codecs.BOM_UTF8)  # the default: UTF-8 with BOM
    frame = read_out(out)
    assert list(frame.columns) == ["点号", "点名", "经度", "纬度", "备注", "east", "north"]
    assert frame["点名"].tolist() == ["汕头大学", "南澳岛"]
    assert frame.loc[0, "备注"] == "楼顶GNSS点"
    assert frame.loc[0, "east"] == "467483.3555"
    utf8 = tmp_path / "utf8.csv"
    result = run(
        "crs", "transform", src, utf8, "--from", "4490", "--to", "4548", "--encoding", "utf-8"
    )
    assert result.exit_code == 0, result.output
    assert not utf8.read_bytes().startswith(codecs.BOM_UTF8)
    assert read_out(utf8)["点名"].tolist() == ["汕头大学", "南澳岛"]
    for choice in ("same", "gbk"):  # same: the input's GBK, kept on request
        back = tmp_path / f"out-{choice}.csv"
        args = ("--from", "4490", "--to", "4548", "--encoding", choice)
        result = run("crs", "transform", src, back, *args)
        assert result.exit_code == 0, result.output
        assert read_out(back, encoding="gbk")["点名"].tolist() == ["汕头大学", "南澳岛"]
        assert read_out(back, encoding="gbk").equals(frame)


def test_transform_gbk_output_refuses_characters_gbk_lacks(tmp_path):
    src = write(tmp_path / "in.csv", "id,name,lon,lat\nA,汕头 €,116.682,23.354\n")
    out = tmp_path / "out.csv"
    result = run(
        "crs", "transform", src, out, "--from", "4490", "--to", "4548", "--encoding", "gbk"
    )
    assert_bad_input(result, "row 1", "'name'", "汕头 €", "U+20AC", "GBK cannot encode")
    assert not out.exists()
    assert not list(tmp_path.glob(".*")), "no temporary file is left behind"


def test_transform_utf8_bom_and_stdin_stdout(tmp_path):
    src = write(tmp_path / "bom.csv", "\ufeffid,名称,lon,lat\nA,站,116.682,23.354\n")
    result = run("crs", "transform", src, "-", "--from", "4490", "--to", "4548")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "id,名称,lon,lat,east,north"
    assert "467483.3555,2583777.6078" in result.stdout
    piped = run("crs", "transform", "-", "-", "--from", "4490", "--to", "4548",
                input="id,lon,lat\nA,116.682,23.354\n")  # fmt: skip
    assert piped.exit_code == 0, piped.output
    assert "467483.3555" in piped.stdout


def test_transform_bad_values_and_columns(tmp_path):
    src = write(tmp_path / "in.csv", "id,lon,lat\nA,116.682,23.354\nB,abc,23.3\n")
    assert_bad_input(
        run("crs", "transform", src, tmp_path / "o.csv", "--from", "4490", "--to", "4548"),
        "line 3: column lon: 'abc' is not a number",
    )
    src = write(tmp_path / "in2.csv", "id,lon,lat\nA,116.682,\n")
    assert_bad_input(
        run("crs", "transform", src, tmp_path / "o.csv", "--from", "4490", "--to", "4548"),
        "line 2: column lat: no value",
    )
    src = write(tmp_path / "in3.csv", "id,a,b\nA,1,2\n")
    assert_bad_input(
        run("crs", "transform", src, tmp_path / "o.csv", "--from", "4490", "--to", "4548"),
        "no coordinate columns",
    )
    assert_bad_input(
        run("crs", "transform", src, tmp_path / "o.csv", "--to", "4548"), "pass --from"
    )
    assert_bad_input(
        run("crs", "transform", tmp_path / "nope.csv", tmp_path / "o.csv", "--from", "4490",
            "--to", "4548"),
        "no such file",
    )  # fmt: skip
    assert_bad_input(
        run("crs", "transform", src, tmp_path / "o.xyz", "--from", "4490", "--to", "4548"),
        "unsupported output format",
    )


def test_transform_refuses_to_overwrite(tmp_path):
    src = write(tmp_path / "in.csv", "id,lon,lat\nA,116.682,23.354\n")
    out = write(tmp_path / "out.csv", "keep me\n")
    result = run("crs", "transform", src, out, "--from", "4490", "--to", "4548")
    assert result.exit_code == 2 and "--overwrite" in result.output
    assert out.read_text() == "keep me\n"
    result = run("crs", "transform", src, out, "--from", "4490", "--to", "4548", "--overwrite")
    assert result.exit_code == 0 and "467483.3555" in out.read_text()


def test_transform_ballpark_is_refused(tmp_path):
    src = write(tmp_path / "in.csv", "id,lon,lat\nA,116.682,23.354\n")
    result = run("crs", "transform", src, tmp_path / "o.csv", "--from", "4214", "--to", "4548")
    assert_bad_input(result, "ballpark", "crs fit")
    result = run(
        "crs", "transform", src, tmp_path / "o.csv", "--from", "4214", "--to", "4548",
        "--allow-ballpark",
    )  # fmt: skip
    assert result.exit_code == 0, result.output


# --- transform: vector files ------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".gpkg", ".shp", ".geojson"])
def test_transform_vector_files(tmp_path, suffix):
    second = (
        shapely.Point(117.1, 23.45)  # a shapefile holds one geometry type
        if suffix == ".shp"
        else shapely.LineString([(117.0, 23.4), (117.1, 23.45)])
    )
    frame = gpd.GeoDataFrame(
        {"name": ["汕头", "南澳"], "n": [1, 2]},
        geometry=[shapely.Point(*SHANTOU_LONLAT), second],
        crs="EPSG:4490",
    )
    src = tmp_path / "in.geojson"
    frame.to_file(src, driver="GeoJSON")
    out = tmp_path / f"out{suffix}"
    result = run("crs", "transform", src, out, "--to", "EPSG:4548")
    assert result.exit_code == 0, result.output
    got = gpd.read_file(out)
    assert got.crs.to_epsg() == 4548
    assert got["name"].tolist() == ["汕头", "南澳"]
    x, y = got.geometry.iloc[0].x, got.geometry.iloc[0].y
    assert (round(x, 4), round(y, 4)) == SHANTOU_EN
    end = transform([117.1], [23.45], 4490, 4548)
    assert got.geometry.iloc[1].coords[-1] == pytest.approx((end[0][0], end[1][0]), abs=1e-6)


def test_transform_vector_errors(tmp_path):
    mixed = gpd.GeoDataFrame(
        geometry=[shapely.Point(116.6, 23.3), shapely.LineString([(116.6, 23.3), (116.7, 23.4)])],
        crs="EPSG:4490",
    )
    mixed_path = tmp_path / "mixed.geojson"
    mixed.to_file(mixed_path, driver="GeoJSON")
    assert_bad_input(
        run("crs", "transform", mixed_path, tmp_path / "o.shp", "--to", "4548"),
        "cannot be written as ESRI Shapefile",
    )
    assert not list(tmp_path.glob("o.*"))
    bad = write(tmp_path / "bad.geojson", "{not json")
    assert_bad_input(
        run("crs", "transform", bad, tmp_path / "o.gpkg", "--to", "4548"), "cannot be read"
    )
    frame = gpd.GeoDataFrame(geometry=[shapely.Point(*SHANTOU_EN)], crs="EPSG:4548")
    src = tmp_path / "en.gpkg"
    frame.to_file(src)
    result = run("crs", "transform", src, tmp_path / "o.csv", "--to", "4490")
    assert_bad_input(result, "CSV goes to CSV")
    prefixed = gpd.GeoDataFrame(
        geometry=[shapely.Point(39_467_483.3555, SHANTOU_EN[1])], crs="EPSG:4548"
    )
    src = tmp_path / "prefixed.gpkg"
    prefixed.to_file(src)
    assert_bad_input(
        run("crs", "transform", src, tmp_path / "o.gpkg", "--to", "4490"),
        "did you mean EPSG:4527?",
    )


# --- fit and apply -----------------------------------------------------------------------


def common_points_csv(path, src, dst, digits: int = 0):
    """A common-points CSV (id, src_east, src_north, dst_east, dst_north) of two arrays."""
    rows = ["id,src_east,src_north,dst_east,dst_north"] + [
        f"P{i:0{digits}d},{s[0]:.4f},{s[1]:.4f},{d[0]:.4f},{d[1]:.4f}"
        for i, (s, d) in enumerate(zip(src, dst, strict=True))
    ]
    return write(path, "\n".join(rows) + "\n")


def local_grid_points(n: int, seed: int):
    """A local city grid related to EPSG:4548 by a known similarity (position vector)."""
    rng = np.random.default_rng(seed)
    local = np.column_stack([rng.uniform(10_000, 40_000, n), rng.uniform(20_000, 50_000, n)])
    a = math.radians(0.8)
    k = 1 + 30e-6
    east = 450_000 + k * (local[:, 0] * math.cos(a) - local[:, 1] * math.sin(a))
    north = 2_550_000 + k * (local[:, 0] * math.sin(a) + local[:, 1] * math.cos(a))
    return local, np.column_stack([east, north])


def test_fit_and_apply_4p(tmp_path):
    local, gk = local_grid_points(12, 1)
    rng = np.random.default_rng(2)
    gk = gk + rng.normal(0, 0.005, gk.shape)
    gk[4] += (0.6, 0.8)  # 1 m blunder on P04
    rows = ["id,src_x,src_y,dst_x,dst_y"]
    for i, ((le, ln), (ge, gn)) in enumerate(zip(local, gk, strict=True)):
        rows.append(f"P{i:02d},{ln:.4f},{le:.4f},{gn:.4f},{ge:.4f}")  # survey: x = north
    common = write(tmp_path / "common.csv", "\n".join(rows) + "\n")
    params = tmp_path / "params.json"
    result = run(
        "crs", "fit", common, "--model", "4p", "--check", "P10,P11", "-o", params,
        "--from", "local", "--to", "EPSG:4548", "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert re.search(r"rejected as a blunder: P04: .*w = \d+\.\d\d > \d\.\d\d", result.stderr)
    report = json.loads(result.stdout)
    assert report["fit"]["rejected"] == ["P04"]
    assert report["fit"]["n_check"] == 2 and report["fit"]["check_rms"] < 0.02
    assert report["parameters"]["convention"] == "coordinate_frame"
    loaded = read_parameters(params)
    assert loaded.proj_pipeline.startswith("+proj=helmert")
    # apply to other points of the local grid
    other_local, other_gk = local_grid_points(5, 3)
    rows = ["id,name,x,y"] + [
        f"Q{i},点{i},{ln:.4f},{le:.4f}" for i, (le, ln) in enumerate(other_local)
    ]
    src = write(tmp_path / "local.csv", "\n".join(rows) + "\n")
    out = tmp_path / "out.csv"
    result = run("crs", "apply", params, src, out)
    assert result.exit_code == 0, result.output
    frame = read_out(out)
    assert list(frame.columns) == ["id", "name", "x", "y"]
    assert frame["name"].tolist() == [f"点{i}" for i in range(5)]
    east = frame["y"].astype(float).to_numpy()
    north = frame["x"].astype(float).to_numpy()
    assert np.abs(east - other_gk[:, 0]).max() < 0.02
    assert np.abs(north - other_gk[:, 1]).max() < 0.02


def test_fit_table_report(tmp_path):
    local, gk = local_grid_points(6, 4)
    common = common_points_csv(tmp_path / "c.csv", local, gk)
    local = ("--from", "local", "--to", "local")
    result = run("crs", "fit", common, "--model", "affine", "-o", tmp_path / "p.json", *local)
    assert result.exit_code == 0, result.output
    assert "s11" in result.stdout and "residual" in result.stdout and "P5" in result.stdout
    result = run("crs", "fit", common, "--model", "affine", "-o", tmp_path / "p.json", *local)
    assert result.exit_code == 2 and "--overwrite" in result.output


def test_fit_refusals(tmp_path):
    header = "id,src_east,src_north,dst_east,dst_north\n"
    one = write(tmp_path / "one.csv", header + "A,1000,2000,1001,2001\n")

    def run(*args):
        return globals()["run"](*args, "--from", "local", "--to", "local")

    assert_bad_input(
        run("crs", "fit", one, "--model", "4p", "-o", tmp_path / "p.json"),
        "needs at least 2 common points, got 1",
    )
    dup = write(tmp_path / "dup.csv", header + "A,1,2,1,2\nA,3,4,3,4\nB,5,9,5,9\n")
    assert_bad_input(
        run("crs", "fit", dup, "--model", "4p", "-o", tmp_path / "p.json"), "duplicate ids A"
    )
    line = write(
        tmp_path / "line.csv", header + "".join(f"P{i},{i}00,{i}00,{i}01,{i}02\n" for i in range(5))
    )
    assert_bad_input(
        run("crs", "fit", line, "--model", "affine", "-o", tmp_path / "p.json"), "collinear"
    )
    assert not (tmp_path / "p.json").exists()
    assert_bad_input(
        run("crs", "fit", line, "--model", "7p", "-o", tmp_path / "p.json"),
        "needs the source and target CRS",
    )
    empty = write(tmp_path / "empty.csv", "")
    assert_bad_input(
        run("crs", "fit", empty, "--model", "4p", "-o", tmp_path / "p.json"), "file is empty"
    )


def test_fit_7p_and_apply_with_heights(tmp_path):
    rng = np.random.default_rng(5)
    lon, lat, h = rng.uniform(116, 118, 10), rng.uniform(22.5, 24, 10), rng.uniform(0, 100, 10)
    from pyproj import Transformer

    shift = Transformer.from_pipeline(
        "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad "
        "+step +proj=cart +ellps=krass +step +proj=helmert +x=20 +y=-130 +z=-60 +rx=1 +ry=2 "
        "+rz=-3 +s=5 +convention=coordinate_frame +step +inv +proj=cart +ellps=GRS80 "
        "+step +proj=unitconvert +xy_in=rad +xy_out=deg"
    )
    dl, db, dh = shift.transform(lon, lat, h)
    rows = ["id,src_lon,src_lat,src_h,dst_lon,dst_lat,dst_h"] + [
        f"G{i},{lon[i]:.10f},{lat[i]:.10f},{h[i]:.4f},{dl[i]:.10f},{db[i]:.10f},{dh[i]:.4f}"
        for i in range(10)
    ]
    common = write(tmp_path / "c.csv", "\n".join(rows) + "\n")
    params = tmp_path / "p.json"
    result = run(
        "crs", "fit", common, "--model", "7p", "--from", "EPSG:4214", "--to", "EPSG:4490",
        "-o", params, "--format", "csv",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "id,role,de,dn,du,residual,redundancy,w"
    p = read_parameters(params).parameters
    assert (p.tx, p.rz, p.scale_ppm) == pytest.approx((20, -3, 5), abs=0.01)
    src = write(tmp_path / "pts.csv", f"id,lon,lat,h\nA,{lon[0]},{lat[0]},{h[0]}\n")
    out = tmp_path / "out.csv"
    result = run("crs", "apply", params, src, out)
    assert result.exit_code == 0, result.output
    frame = read_out(out)
    assert float(frame.loc[0, "lon"]) == pytest.approx(dl[0], abs=1e-7)
    assert float(frame.loc[0, "h"]) == pytest.approx(dh[0], abs=1e-3)


def test_apply_vector_and_errors(tmp_path):
    local, gk = local_grid_points(8, 6)
    common = common_points_csv(tmp_path / "c.csv", local, gk)
    params = tmp_path / "p.json"
    result = run(
        "crs", "fit", common, "--model", "poly2", "--from", "local", "--to", "4548", "-o", params
    )
    assert result.exit_code == 0, result.output
    # a local grid has no EPSG code: the input file carries no CRS
    frame = gpd.GeoDataFrame(
        {"id": ["a", "b"]},
        geometry=[shapely.Point(*local[0]), shapely.Point(*local[1], 12.5)],
        crs="+proj=eqc +units=m",
    )
    src = tmp_path / "local.gpkg"
    frame.to_file(src)
    out = tmp_path / "gk.gpkg"
    result = run("crs", "apply", params, src, out)
    assert result.exit_code == 0, result.output
    got = gpd.read_file(out)
    assert got.crs.to_epsg() == 4548
    assert got.geometry.iloc[0].x == pytest.approx(gk[0, 0], abs=1e-3)
    assert got.geometry.iloc[1].y == pytest.approx(gk[1, 1], abs=1e-3)
    assert got.geometry.iloc[1].z == 12.5  # heights pass through plane models
    # a broken parameter file
    broken = write(tmp_path / "broken.json", "{}")
    assert_bad_input(run("crs", "apply", broken, src, tmp_path / "x.gpkg"), "not a geobase")


def test_fit_requires_crss_and_apply_refuses_a_file_without_them(tmp_path):
    # issue 16: parameters fitted without --from/--to were applied and the output had no CRS
    local, gk = local_grid_points(8, 7)
    common = common_points_csv(tmp_path / "c.csv", local, gk)
    params = tmp_path / "p.json"
    result = run("crs", "fit", common, "--model", "4p", "--to", "4548", "-o", params)
    assert result.exit_code == 2 and "Missing option '--from'" in result.output
    assert not params.exists()
    result = run("crs", "fit", common, "--model", "4p", "--from", "local", "--to", "4548",
                 "-o", params)  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(params.read_text(encoding="utf-8"))
    assert (data["src_crs"], data["dst_crs"]) == ("local", "EPSG:4548")
    # a file written before the rule (no CRSs) is refused unless apply names them
    data["src_crs"] = data["dst_crs"] = None
    old = write(tmp_path / "old.json", json.dumps(data))
    src = write(tmp_path / "pts.csv", f"id,east,north\nA,{local[0, 0]},{local[0, 1]}\n")
    out = tmp_path / "o.csv"
    assert_bad_input(run("crs", "apply", old, src, out), "src_crs missing", "--from")
    assert_bad_input(run("crs", "apply", old, src, out, "--from", "local"), "dst_crs missing")
    assert not out.exists()
    result = run("crs", "apply", old, src, out, "--from", "local", "--to", "EPSG:4548")
    assert result.exit_code == 0, result.output
    assert float(read_out(out).loc[0, "east"]) == pytest.approx(gk[0, 0], abs=0.01)
    # --from/--to that contradict the file are refused
    assert_bad_input(
        run("crs", "apply", params, src, tmp_path / "o2.csv", "--to", "EPSG:4547"),
        "is for dst_crs",
        "--to EPSG:4547",
    )


def test_apply_handwritten_7p_file(tmp_path):
    text = (
        "# 广东省 西安80 -> CGCS2000\n"
        'model = "7p"\nfrom = "EPSG:4610"\nto = "EPSG:4490"\nconvention = "coordinate_frame"\n'
        "dx = -103.25\ndy = -110.84\ndz = 48.62\nrx = 1.213\nry = -2.041\nrz = 3.307\nds = 2.45\n"
    )
    params = write(tmp_path / "x80.toml", text, encoding="gbk")
    src = write(tmp_path / "pts.csv", "id,lon,lat,h\nA,116.682,23.354,12.5\n")
    out = tmp_path / "o.csv"
    result = run("crs", "apply", params, src, out)
    assert result.exit_code == 0, result.output
    units = "7p: shifts in metres, rotations in arc-seconds (coordinate_frame), scale in ppm"
    assert units in result.stderr
    from pyproj import Transformer

    want = Transformer.from_pipeline(
        "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad +step +proj=cart "
        "+a=6378140 +rf=298.257 +step +proj=helmert +x=-103.25 +y=-110.84 +z=48.62 "
        "+rx=1.213 +ry=-2.041 +rz=3.307 +s=2.45 +convention=coordinate_frame +step +inv "
        "+proj=cart +ellps=GRS80 +step +proj=unitconvert +xy_in=rad +xy_out=deg"
    ).transform(116.682, 23.354, 12.5)
    frame = read_out(out)
    assert float(frame.loc[0, "lon"]) == pytest.approx(want[0], abs=1e-9)
    assert float(frame.loc[0, "lat"]) == pytest.approx(want[1], abs=1e-9)
    bad = write(tmp_path / "bad.toml", text.replace('convention = "coordinate_frame"\n', ""))
    assert_bad_input(run("crs", "apply", bad, src, tmp_path / "o2.csv"), "convention: missing")
    ratio = write(tmp_path / "ratio.toml", text.replace("ds = 2.45", "ds = 1.00000245"))
    assert_bad_input(
        run("crs", "apply", ratio, src, tmp_path / "o3.csv"),
        "ds = 1.00000245 looks like a ratio; give ppm (ds = 2.45)",
    )
    assert not (tmp_path / "o3.csv").exists()


def test_apply_raster(tmp_path):
    _, gk = local_grid_points(10, 8)
    # a Xian 1980 GK grid related to CGCS2000 GK by a small similarity
    src_pts = gk - (30.0, -80.0)
    common = common_points_csv(tmp_path / "c.csv", src_pts, gk)
    params = tmp_path / "p.json"
    result = run("crs", "fit", common, "--model", "affine", "--from", "EPSG:2384", "--to",
                 "EPSG:4548", "-o", params)  # fmt: skip
    assert result.exit_code == 0, result.output
    west, north = src_pts[:, 0].mean(), src_pts[:, 1].mean()
    tif = tmp_path / "x80.tif"
    with rasterio.open(
        tif, "w", driver="GTiff", width=40, height=30, count=1, dtype="uint8", nodata=0,
        crs="EPSG:2384", transform=rasterio.Affine(5.0, 0, west, 0, -5.0, north),
    ) as dst:  # fmt: skip
        dst.write(np.full((30, 40), 200, dtype="uint8"), 1)
    out = tmp_path / "cgcs.tif"
    result = run("crs", "apply", params, tif, out, "--resampling", "nearest")
    assert result.exit_code == 0, result.output
    assert "(affine): 40 x 30 pixels of 5 in EPSG:4548, nearest" in result.stderr
    with rasterio.open(out) as got:
        assert got.crs.to_epsg() == 4548 and got.nodata == 0
        assert got.bounds.left == pytest.approx(west + 30.0, abs=0.5)
        assert got.bounds.top == pytest.approx(north - 80.0, abs=0.5)
        assert (got.read(1) == 200).sum() > 0.9 * 40 * 30
    assert_bad_input(run("crs", "apply", params, tif, out), "exists")
    result = run("crs", "apply", params, tif, tmp_path / "o.tif", "--resampling", "sinc")
    assert result.exit_code == 2 and "--resampling" in result.output
    src = write(tmp_path / "pts.csv", "id,east,north\nA,1,2\n")
    result = run("crs", "apply", params, src, tmp_path / "o.csv", "--resampling", "cubic")
    assert_bad_input(result, "applies to rasters")


# --- height --------------------------------------------------------------------------------


@pytest.fixture
def geoid(tmp_path):
    lon = 116.4 + 0.1 * (np.arange(10) + 0.5)
    lat = 23.6 - 0.1 * (np.arange(6) + 0.5)
    grid_lon, grid_lat = np.meshgrid(lon, lat)
    values = -2.0 + 0.5 * (grid_lon - 116.0) - 0.8 * (grid_lat - 23.0)
    path = tmp_path / "zeta.tif"
    with rasterio.open(
        path, "w", driver="GTiff", height=6, width=10, count=1, dtype="float64",
        crs="EPSG:4490", transform=rasterio.Affine(0.1, 0, 116.4, 0, -0.1, 23.6),
    ) as dst:  # fmt: skip
        dst.write(values, 1)
    return path


def zeta(lon, lat):
    return -2.0 + 0.5 * (lon - 116.0) - 0.8 * (lat - 23.0)


def test_height_to_normal_and_back(tmp_path, geoid):
    src = write(tmp_path / "in.csv", "id,name,lon,lat,h\nA,汕头,116.682,23.354,15.0000\n", "gbk")
    out = tmp_path / "out.csv"
    result = run("height", src, out, "--geoid", geoid)
    assert result.exit_code == 0, result.output
    frame = read_out(out)
    assert list(frame.columns) == ["id", "name", "lon", "lat", "h", "H"]
    assert frame.loc[0, "name"] == "汕头"
    expected = 15.0 - zeta(*SHANTOU_LONLAT)
    assert float(frame.loc[0, "H"]) == pytest.approx(expected, abs=1e-4)
    only_h = tmp_path / "only_normal.csv"
    frame.drop(columns="h").to_csv(only_h, index=False, encoding="utf-8")
    back = tmp_path / "back.csv"
    result = run("height", only_h, back, "--geoid", geoid, "--to", "ellipsoidal")
    assert result.exit_code == 0, result.output
    assert float(read_out(back).loc[0, "h"]) == pytest.approx(15.0, abs=1e-4)


def test_height_with_gauss_kruger_coordinates(tmp_path, geoid):
    src = write(tmp_path / "in.csv", f"id,x,y,h\nA,{SHANTOU_EN[1]},{SHANTOU_EN[0]},10\n")
    out = tmp_path / "out.csv"
    result = run("height", src, out, "--geoid", geoid, "--crs", "EPSG:4548")
    assert result.exit_code == 0, result.output
    expected = 10.0 - zeta(*SHANTOU_LONLAT)
    assert float(read_out(out).loc[0, "H"]) == pytest.approx(expected, abs=1e-4)


def test_height_errors(tmp_path, geoid, real_data):
    outside = write(tmp_path / "in.csv", "id,lon,lat,h\nA,116.682,23.354,1\nB,118.5,23.3,2\n")
    out = tmp_path / "out.csv"
    assert_bad_input(
        run("height", outside, out, "--geoid", geoid),
        "line 3: point (118.5, 23.3) lies outside the height-anomaly grid",
    )
    assert not out.exists()
    no_h = write(tmp_path / "noh.csv", "id,lon,lat\nA,116.682,23.354\n")
    assert_bad_input(run("height", no_h, out, "--geoid", geoid), "no height column 'h'")
    has_out = write(tmp_path / "hasH.csv", "id,lon,lat,h,H\nA,116.682,23.354,1,2\n")
    assert_bad_input(run("height", has_out, out, "--geoid", geoid), "already has a column 'H'")
    assert_bad_input(
        run("height", no_h, out, "--geoid", real_data / "corrupt.tif"), "cannot be read"
    )
    assert_bad_input(run("height", no_h, out, "--geoid", tmp_path / "missing.tif"), "no such file")
    empty = write(tmp_path / "empty.csv", "")
    assert_bad_input(run("height", empty, out, "--geoid", geoid), "file is empty")


def test_transform_vector_refuses_to_overwrite(tmp_path):
    frame = gpd.GeoDataFrame({"name": ["汕头"]}, geometry=[shapely.Point(*SHANTOU_LONLAT)],
                             crs="EPSG:4490")  # fmt: skip
    src = tmp_path / "in.gpkg"
    frame.to_file(src)
    out = write(tmp_path / "out.shp", "keep me\n")
    assert_bad_input(run("crs", "transform", src, out, "--to", "4548"), "pass --overwrite")
    assert out.read_text() == "keep me\n" and not (tmp_path / "out.dbf").exists()
    result = run("crs", "transform", src, out, "--to", "4548", "--overwrite")
    assert result.exit_code == 0, result.output
    assert gpd.read_file(out)["name"].tolist() == ["汕头"]


# --- Gauss-Kruger guards on every datum (issue 16) -----------------------------------------


def legacy_systems_at_shantou() -> list[tuple[int, float, float]]:
    """(EPSG code, east, north of Shantou) of every legacy Gauss-Kruger system holding it."""
    from pyproj import Transformer
    from pyproj.database import query_crs_info
    from pyproj.enums import PJType

    from geobase.geodesy import gk_system_of, resolve_crs

    out = []
    for info in query_crs_info(auth_name="EPSG", pj_types=PJType.PROJECTED_CRS):
        if info.projection_method_name != "Transverse Mercator":
            continue
        crs = resolve_crs(int(info.code))
        system = gk_system_of(crs)
        if system is None or system.datum == "China 2000":
            continue
        if system.west <= SHANTOU_LONLAT[0] < system.east:
            to_grid = Transformer.from_crs(crs.geodetic_crs, crs, always_xy=True)
            out.append((int(info.code), *to_grid.transform(*SHANTOU_LONLAT)))
    return out


def test_every_legacy_system_refuses_swapped_east_north(tmp_path):
    systems = legacy_systems_at_shantou()
    assert {code for code, _, _ in systems} >= {2436, 2384, 2415, 21460}
    assert len(systems) == 12
    out = tmp_path / "out.csv"
    for code, east, north in systems:
        good = write(tmp_path / "good.csv", f"id,east,north\nA,{east:.3f},{north:.3f}\n")
        geographic = resolve_crs(code).geodetic_crs.to_epsg()  # the same datum
        result = run(
            "crs", "transform", good, out, "--from", f"EPSG:{code}", "--to", geographic,
            "--overwrite",
        )  # fmt: skip
        assert result.exit_code == 0, (code, result.output)
        swapped = write(tmp_path / "bad.csv", f"id,east,north\nA,{north:.3f},{east:.3f}\n")
        result = run(
            "crs", "transform", swapped, out, "--from", f"EPSG:{code}", "--to", geographic,
            "--overwrite",
        )  # fmt: skip
        assert_bad_input(result, "line 2:", f"look swapped for EPSG:{code}")


def test_wrong_legacy_zone_names_the_right_one(tmp_path):
    systems = dict((code, (e, n)) for code, e, n in legacy_systems_at_shantou())
    east, north = systems[2415]  # Beijing 1954 3-degree zone 39, prefixed
    src = write(tmp_path / "in.csv", f"id,east,north\nA,{east:.3f},{north:.3f}\n")
    result = run("crs", "transform", src, tmp_path / "o.csv", "--from", "EPSG:2416", "--to", "4214")
    assert_bad_input(result, "zone prefix 39", "did you mean EPSG:2415?")
    lonlat = write(tmp_path / "ll.csv", f"id,lon,lat\nA,{SHANTOU_LONLAT[0]},{SHANTOU_LONLAT[1]}\n")
    result = run("crs", "transform", lonlat, tmp_path / "o.csv", "--from", "4214", "--to", "2437")
    assert_bad_input(result, "target EPSG:2437 (120E)", "zone holding it is EPSG:2436")


def xian_common_points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Xian 1980 (EPSG:2384) and CGCS2000 (EPSG:4548) grid coordinates around Shantou."""
    rng = np.random.default_rng(seed)
    src = np.column_stack([rng.uniform(455_000, 480_000, n), rng.uniform(2_570_000, 2_595_000, n)])
    a = math.radians(1.2 / 3600)
    k = 1 + 4.1e-6
    dst = np.column_stack(
        [
            -28.4 + k * (src[:, 0] * math.cos(a) - src[:, 1] * math.sin(a)),
            47.9 + k * (src[:, 0] * math.sin(a) + src[:, 1] * math.cos(a)),
        ]
    ) + rng.normal(0, 0.01, (n, 2))
    return src, dst


def test_fit_xian_1980_x_y_in_the_wrong_order_is_refused(tmp_path):
    """The issue's case: it reported scale -624,745 ppm and RMS 26 km with exit 0."""
    src, dst = xian_common_points(10, 7)
    rows = ["id,src_x,src_y,dst_x,dst_y"] + [
        f"P{i},{s[1]:.4f},{s[0]:.4f},{d[1]:.4f},{d[0]:.4f}"
        for i, (s, d) in enumerate(zip(src, dst, strict=True))
    ]
    common = write(tmp_path / "c.csv", "\n".join(rows) + "\n")
    params = tmp_path / "p.json"
    args = ("crs", "fit", common, "--model", "4p", "--from", "EPSG:2384", "--to", "EPSG:4548")
    result = run(*args, "-o", params)  # survey order is the default for every GK system
    assert result.exit_code == 0, result.output
    result = run(*args, "-o", params, "--overwrite", "--xy", "gis")
    assert_bad_input(result, "look swapped for EPSG:2384")
    # one side read in the wrong order but in range: a mirror image, refused by its figures
    mirrored = dst.copy()
    mirrored[:, 0] = 2 * 500_000 - dst[:, 0]
    common = common_points_csv(tmp_path / "m.csv", src, mirrored)
    result = run(
        "crs", "fit", common, "--model", "affine", "--from", "2384", "--to", "4548",
        "-o", tmp_path / "m.json",
    )  # fmt: skip
    assert_bad_input(result, "mirrors the plane", "swapped east/north")
    assert not (tmp_path / "m.json").exists()


def test_fit_reports_sigma_tests_redundancy_and_reasons(tmp_path):
    src, dst = xian_common_points(14, 8)
    dst[[3, 4]] += (0.5, 0.55)  # two same-direction blunders on two points
    common = common_points_csv(tmp_path / "c.csv", src, dst, digits=2)
    params = tmp_path / "p.json"
    result = run(
        "crs", "fit", common, "--model", "4p", "--from", "2384", "--to", "4548",
        "--sigma", "0.01", "-o", params, "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["fit"]
    assert sorted(report["rejected"]) == ["P03", "P04"]
    assert report["sigma_apriori"] == 0.01 and report["global_test"]["passed"]
    for rejection in report["rejections"]:
        assert rejection["w"] > rejection["critical"] > 3
        assert f"w = {rejection['w']:.2f} > {rejection['critical']:.2f}" in rejection["reason"]
        assert f"rejected as a blunder: {rejection['id']}: " in result.stderr
    fit_rows = [r for r in report["residuals"] if r["role"] == "fit"]
    assert sum(r["redundancy"] for r in fit_rows) == pytest.approx(report["redundancy"])
    assert all(r["w"] is not None and r["w"] < report["critical_w"] for r in fit_rows)
    # the default table shows them too
    result = run(
        "crs", "fit", common, "--model", "4p", "--from", "2384", "--to", "4548",
        "-o", params, "--overwrite",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "redundancy" in result.stdout and "critical_w" in result.stdout
    assert "each point judged by the fit without it" in result.stdout  # no --sigma


def test_fit_too_small_sigma_fails_the_global_test(tmp_path):
    src, dst = xian_common_points(12, 9)
    common = common_points_csv(tmp_path / "c.csv", src, dst, digits=2)
    result = run(
        "crs", "fit", common, "--model", "4p", "--sigma", "0.002", "-o", tmp_path / "p.json",
        "--no-reject", "--from", "2384", "--to", "4548",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "warning: global test fails: sigma0 0.0" in result.stderr
    assert "less precise than --sigma says" in result.stderr


# --- geometry (issue 16 item 3) --------------------------------------------------------------


def test_fit_near_collinear_points_refused_for_affine_and_poly2(tmp_path):
    rng = np.random.default_rng(10)
    t = rng.uniform(0, 1, 12)
    src = np.column_stack(
        [460_000 + 20_000 * t, 2_570_000 + 10_000 * t + rng.uniform(-3, 3, 12)]
    )  # within 3 m of a 22 km line
    dst = src + np.array([12.5, -30.25]) + rng.normal(0, 0.01, src.shape)
    common = common_points_csv(tmp_path / "c.csv", src, dst, digits=2)
    for model in ("affine", "poly2"):
        params = tmp_path / f"{model}.json"
        result = run(
            "crs", "fit", common, "--model", model, "-o", params, "--from", "local", "--to",
            "local",
        )  # fmt: skip
        assert_bad_input(result, "lie close to a line", "ratio 0.000", "add points off the line")
        assert not params.exists()  # poly2 never writes parameters silently
    result = run(
        "crs", "fit", common, "--model", "4p", "-o", tmp_path / "4p.json", "--from", "local",
        "--to", "local",
    )  # fmt: skip
    assert result.exit_code == 0, result.output  # a similarity is fixed by a line


def test_apply_warns_about_points_outside_the_hull(tmp_path):
    local, gk = local_grid_points(10, 11)
    common = common_points_csv(tmp_path / "c.csv", local, gk)
    params = tmp_path / "p.json"
    args = ("--from", "local", "--to", "EPSG:4548")
    assert run("crs", "fit", common, "--model", "affine", "-o", params, *args).exit_code == 0
    assert read_parameters(params).hull is not None
    inside = local.mean(axis=0)
    points = write(
        tmp_path / "pts.csv",
        f"id,east,north\nA,{inside[0]:.3f},{inside[1]:.3f}\nB,{inside[0] + 60_000:.3f},"
        f"{inside[1]:.3f}\n",
    )
    result = run("crs", "apply", params, points, tmp_path / "out.csv")
    assert result.exit_code == 0, result.output
    assert re.search(
        r"1 of 2 points lie outside the common points' hull .* up to [\d,]+ m \(line 3\)",
        result.stderr,
    )


def test_apply_vector_goes_through_the_checks_of_apply(tmp_path):
    # vectors get what CSV points get: the hull note (one for the file, over every batch)
    # and the target-zone check, naming the feature
    from geobase.geodesy import apply_vector_file

    local_crs = "+proj=eqc +units=m"  # a local grid has no EPSG code
    local, gk = local_grid_points(10, 11)
    common = common_points_csv(tmp_path / "c.csv", local, gk)
    params = tmp_path / "p.json"
    args = ("--from", "local", "--to", "EPSG:4548")
    assert run("crs", "fit", common, "--model", "affine", "-o", params, *args).exit_code == 0
    centre = local.mean(axis=0)
    far = [
        shapely.Point(*centre),
        shapely.LineString([centre, centre + np.array([60_000, 0])]),
        shapely.Point(*(centre + np.array([0, 30_000]))),
    ]
    src = tmp_path / "far.gpkg"
    gpd.GeoDataFrame({"id": ["a", "b", "c"]}, geometry=far, crs=local_crs).to_file(src)
    out = tmp_path / "out.gpkg"
    result = run("crs", "apply", params, src, out)
    assert result.exit_code == 0, result.output
    assert re.search(
        r"far\.gpkg: 2 of 4 points lie outside the common points' hull .* up to [\d,]+ m "
        r"\(feature 2\)",
        result.stderr,
    ), result.stderr
    notes: list[str] = []
    count = apply_vector_file(
        read_parameters(params), src, tmp_path / "b.gpkg", batch_size=1, notify=notes.append
    )
    assert count == 3 and len(notes) == 1 and "2 of 4 points" in notes[0]
    # a vertex landing 4 degrees east of the target zone's meridian is refused, nothing written
    beyond = [shapely.Point(*centre), shapely.LineString([centre, centre + np.array([400_000, 0])])]
    src = tmp_path / "beyond.gpkg"
    gpd.GeoDataFrame({"id": ["a", "b"]}, geometry=beyond, crs=local_crs).to_file(src)
    result = run("crs", "apply", params, src, tmp_path / "beyond_out.gpkg")
    assert_bad_input(result, "feature 2: the point at 1")
    assert "outside 3-degree zone 39" in result.stderr
    assert not (tmp_path / "beyond_out.gpkg").exists()
    assert run("crs", "apply", params, src, tmp_path / "x.gpkg", "--no-check").exit_code == 0
