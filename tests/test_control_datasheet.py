"""Datasheets (点之记) in HTML and PDF, and exports (full and public)."""

from __future__ import annotations

import codecs
import json
import shutil
import subprocess

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from geobase.control.datasheet import find_cjk_font, write_datasheet
from geobase.control.export import export_points
from geobase.control.importer import import_points
from geobase.control.inspections import record_inspection
from geobase.errors import FontNotFound, NotFoundError, OutputExistsError
from geobase.store.districts import load_districts
from geobase.tabular import read_csv
from tests.conftest import run_cli
from tests.control_helpers import DISTRICTS, good_row, write_csv


@pytest.fixture
def ws(workspace, tmp_path):
    load_districts(workspace.store, DISTRICTS)
    rows = [
        good_row("C001", 点名="礐石观测墩", 等级="C级;四等水准", 保管人="林先生"),
        good_row("B001", 点名="鮀江", 等级="B", 纬度="23.36", 经度="116.70", X="", Y=""),
        good_row("D001", 点名="岐山", 等级="D", 纬度="23.3654321", 经度="116.6912345", X="", Y=""),
        good_row("E001", 点名="月浦", 等级="E", 纬度="23.3712", 经度="116.6801", X="", Y=""),
    ]
    import_points(workspace, write_csv(tmp_path / "p.csv", rows))
    record_inspection(workspace, "C001", date="2024-01-05", inspector="陈晓东", condition="完好")
    return workspace


def test_html_datasheet_has_every_field_history_and_sketch(ws, tmp_path):
    out = write_datasheet(ws, "C001", tmp_path / "c001.html")
    text = out.read_text(encoding="utf-8")
    for expected in (
        "点之记",
        "礐石观测墩",
        "C级; 四等水准",
        "金平区",
        "F50G016043",
        "2583.75-467.25",
        "2583777.6078",
        "观测墩 pillar",
        "林先生",
        "陈晓东",
        "完好 intact",
        "data:image/png;base64,",
        "B001",  # a tie to a neighbouring mark
    ):
        assert expected in text, expected
    with pytest.raises(OutputExistsError):
        write_datasheet(ws, "C001", out)
    with pytest.raises(NotFoundError):
        write_datasheet(ws, "NOPE", tmp_path / "x.html")


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs poppler-utils (pdftoppm)")
def test_pdf_datasheet_renders_and_shows_the_chinese_name(ws, tmp_path):
    try:
        find_cjk_font(ws)
    except FontNotFound:
        pytest.fail("no CJK font installed: run scripts/install-system-deps.sh (fonts-wqy-zenhei)")
    out = tmp_path / "c001.pdf"
    result = run_cli(["control", "datasheet", "C001", "-o", out, "--workspace", ws.root])
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes().startswith(b"%PDF")
    subprocess.run(["pdftoppm", "-r", "72", "-png", str(out), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page*.png"))
    assert pages
    from PIL import Image

    image = np.asarray(Image.open(pages[0]).convert("L"))
    assert (image < 200).mean() > 0.01  # text, tables and the sketch are drawn
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", str(out), "-"], check=True, capture_output=True, text=True
        ).stdout
        assert "礐石观测墩" in text and "点之记" in text


def test_datasheet_bad_inputs(ws, tmp_path):
    for args, message in (
        (["NOPE", "-o", tmp_path / "x.html"], "no control point 'NOPE'"),
        (["C001", "-o", tmp_path / "x.docx"], "expected a .html or .pdf"),
    ):
        result = run_cli(["control", "datasheet", *args, "--workspace", ws.root])
        assert result.exit_code == 2 and message in result.stderr
    (tmp_path / "exists.html").write_text("keep", encoding="utf-8")
    result = run_cli(
        ["control", "datasheet", "C001", "-o", tmp_path / "exists.html", "--workspace", ws.root]
    )
    assert result.exit_code == 2 and "--overwrite" in result.stderr
    assert (tmp_path / "exists.html").read_text(encoding="utf-8") == "keep"
    ws.config.control["cjk_font"] = str(tmp_path / "missing.ttc")
    with pytest.raises(FontNotFound, match="no such file"):
        write_datasheet(ws, "C001", tmp_path / "y.pdf")
    assert not (tmp_path / "y.pdf").exists()


def test_full_export_keeps_precise_values(ws, tmp_path):
    assert export_points(ws, tmp_path / "all.gpkg") == 4
    frame = gpd.read_file(tmp_path / "all.gpkg")
    assert frame.crs.to_epsg() == 4490
    row = frame.set_index("point_id").loc["C001"]
    assert row["x_north"] == pytest.approx(2583777.6078) and row["name"] == "礐石观测墩"


def test_public_export_drops_restricted_grades_and_generalises(ws, tmp_path):
    for suffix in ("csv", "geojson", "gpkg"):
        out = tmp_path / f"public.{suffix}"
        result = run_cli(["control", "export", out, "--public", "--workspace", ws.root])
        assert result.exit_code == 0, result.stderr
    assert (tmp_path / "public.csv").read_bytes().startswith(codecs.BOM_UTF8)  # for Excel
    frame = pd.read_csv(tmp_path / "public.csv", encoding="utf-8-sig")
    assert sorted(frame["point_id"]) == ["D001", "E001"]  # B and C grades are restricted
    for column in ("x_north", "y_east", "ellh", "custodian", "site", "route", "sheet_500"):
        assert column not in frame.columns
    for value in np.concatenate([frame["lon"].to_numpy(), frame["lat"].to_numpy()]):
        assert abs(value * 1000 - round(value * 1000)) < 1e-6  # no finer than 0.001 degree
    geojson = json.loads((tmp_path / "public.geojson").read_text(encoding="utf-8"))
    for feature in geojson["features"]:
        for value in feature["geometry"]["coordinates"]:
            assert abs(value * 1000 - round(value * 1000)) < 1e-6
        assert set(feature["properties"]) <= {
            "point_id", "name", "kind", "grade", "district", "lon", "lat", "normal_h",
            "sheet_10k", "condition", "usability", "last_inspected",
        }  # fmt: skip
    gpkg = gpd.read_file(tmp_path / "public.gpkg")
    assert sorted(gpkg["point_id"]) == ["D001", "E001"]
    d001 = gpkg.set_index("point_id").loc["D001"]
    assert d001.geometry.x == pytest.approx(116.691) and d001.geometry.y == pytest.approx(23.365)
    result = run_cli(
        ["control", "export", tmp_path / "public.csv", "--public", "--workspace", ws.root]
    )
    assert result.exit_code == 2 and "--overwrite" in result.stderr
    result = run_cli(["control", "export", tmp_path / "x.shp", "--workspace", ws.root])
    assert result.exit_code == 2 and ".csv, .geojson or .gpkg" in result.stderr


def test_csv_export_encodings_round_trip_chinese(ws, tmp_path):
    for encoding in ("utf-8-sig", "utf-8", "gbk"):
        out = tmp_path / f"{encoding}.csv"
        args = ["control", "export", out, "--encoding", encoding, "--workspace", ws.root]
        result = run_cli(args)
        assert result.exit_code == 0, result.stderr
        assert out.read_bytes().startswith(codecs.BOM_UTF8) == (encoding == "utf-8-sig")
        frame = pd.read_csv(out, encoding=encoding, dtype=str).set_index("point_id")
        assert frame.loc["C001", "name"] == "礐石观测墩" and frame.loc["B001", "name"] == "鮀江"
        assert read_csv(out).set_index("point_id").loc["C001", "name"] == "礐石观测墩"


def test_gbk_export_refuses_a_name_gbk_cannot_hold(ws, tmp_path):
    import_points(ws, write_csv(tmp_path / "q.csv", [good_row("F001", 点名="€站", 等级="E")]))
    out = tmp_path / "gbk.csv"
    result = run_cli(["control", "export", out, "--encoding", "gbk", "--workspace", ws.root])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "column 'name'" in lines[0] and "'€站'" in lines[0], lines
    assert not out.exists()


def test_datasheet_and_show_round_dms_correctly(ws, tmp_path):
    # issue 16: 23.36 printed as 23°21'35." (the float's binary value truncated, a stray
    # dot); the one DMS formatter rounds at 0.00001" and carries
    text = write_datasheet(ws, "B001", tmp_path / "b001.html").read_text(encoding="utf-8")
    assert "23°21&#x27;36.00000&quot;" in text or "23°21'36.00000\"" in text
    assert "116°42&#x27;00.00000&quot;" in text or "116°42'00.00000\"" in text
    assert '35."' not in text and "35.&quot;" not in text
    shown = run_cli(["control", "show", "B001", "--workspace", ws.root])
    assert shown.exit_code == 0, shown.output
    assert "23°21'36.00000\"" in shown.output
    assert "116°42'00.00000\"" in shown.output
