"""Importing control points: formats, encodings, history, and the bad-input corpus."""

from __future__ import annotations

import codecs
import datetime as dt
import json
import re

import geopandas as gpd
import pytest
import shapely

from geobase.control.importer import import_points, rejects_path_for
from geobase.control.registry import coordinate_history, get_point
from geobase.errors import EmptyInputError, SourceReadError, ValidationError
from geobase.store.districts import load_districts
from tests.conftest import run_cli
from tests.control_helpers import DISTRICTS, LAT, LON, X, Y, good_row, write_csv


@pytest.fixture
def ws(workspace):
    load_districts(workspace.store, DISTRICTS)
    return workspace


def count(ws, table="control_points"):
    with ws.store.read() as tx:
        return tx.scalar(f"SELECT count(*) FROM {table}")


def test_import_chinese_headers_derives_everything(ws, tmp_path):
    path = write_csv(
        tmp_path / "p.csv", [good_row(), good_row("L001", 等级="三等水准", X="", Y="")]
    )
    result = import_points(ws, path)
    assert result.added == ["C001", "L001"]
    point = get_point(ws, "C001")
    assert (point.kind, point.gnss_grade, point.district) == ("gnss", "C", "金平区")
    assert (point.geo_source, point.grid_source, point.gk_epsg) == ("adjusted", "adjusted", 4548)
    assert point.normal_h == pytest.approx(3.215)
    assert point.sheet_10k == "F50G016043"  # DOMAIN.md worked example
    assert point.sheet_500 == "2583.75-467.25"
    assert point.mark_type == "pillar"
    benchmark = get_point(ws, "L001")
    assert benchmark.kind == "levelling" and benchmark.level_grade == "L3"
    assert benchmark.grid_source == "converted"  # x/y computed from B/L
    assert benchmark.x_north == pytest.approx(X, abs=1e-3)
    assert benchmark.y_east == pytest.approx(Y, abs=1e-3)


def test_grid_only_points_get_converted_geographic_coordinates(ws, tmp_path):
    row = good_row(纬度="", 经度="", 坐标来源="换算", 历元="2021.5")
    import_points(
        ws, write_csv(tmp_path / "p.csv", [{**row, "坐标来源": "换算", "历元": "2021.5"}])
    )
    point = get_point(ws, "C001")
    assert point.lon == pytest.approx(LON, abs=1e-8)
    assert point.lat == pytest.approx(LAT, abs=1e-8)
    assert point.geo_source == "converted" and point.grid_source == "converted"
    assert point.geo_epoch == point.grid_epoch == 2021.5


def test_prefixed_eastings_name_their_zone(ws, tmp_path):
    path = write_csv(tmp_path / "p.csv", [good_row(Y=f"{39_000_000 + Y}", 纬度="", 经度="")])
    import_points(ws, path)
    point = get_point(ws, "C001")
    assert point.gk_epsg == 4527
    assert point.sheet_500 == "2583.75-467.25"
    assert point.lon == pytest.approx(LON, abs=1e-8)


def test_gbk_csv_round_trips_chinese_without_mojibake(ws, tmp_path):
    path = write_csv(tmp_path / "gbk.csv", [good_row(点名="礐石观测墩")], encoding="gbk")
    result = import_points(ws, path)
    assert result.encoding == "gbk"
    assert get_point(ws, "C001").name == "礐石观测墩"
    out = tmp_path / "out.csv"
    assert run_cli(["control", "export", out, "--workspace", ws.root]).exit_code == 0
    text = out.read_bytes().decode("utf-8")
    assert "礐石观测墩" in text and "金平区" in text


def test_export_reimports_unchanged(ws, tmp_path):
    import_points(
        ws,
        write_csv(
            tmp_path / "p.csv",
            [good_row(), good_row("C002", 纬度="23.36", 经度="116.70", X="", Y="")],
        ),
    )
    for name in ("out.csv", "out.geojson", "out.gpkg"):
        out = tmp_path / name
        result = run_cli(["control", "export", out, "--workspace", ws.root])
        assert result.exit_code == 0, result.stderr
        again = import_points(ws, out)
        assert (again.added, again.moved, again.unchanged) == ([], [], 2), name


def test_geojson_and_geopackage_inputs(ws, tmp_path):
    features = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"点号": "G1", "点名": "龙湖", "等级": "D级"},
                "geometry": {"type": "Point", "coordinates": [116.73, 23.39]},
            }
        ],
    }
    (tmp_path / "p.geojson").write_text(json.dumps(features, ensure_ascii=False), encoding="utf-8")
    import_points(ws, tmp_path / "p.geojson")
    assert get_point(ws, "G1").district == "龙湖区"
    # a GeoPackage in EPSG:4548: the geometry gives X/Y
    frame = gpd.GeoDataFrame(
        {"point_id": ["G2"], "name": ["金平"], "grade": ["E"]},
        geometry=[shapely.Point(Y, X)],
        crs=4548,
    )
    frame.to_file(tmp_path / "p.gpkg", driver="GPKG")
    import_points(ws, tmp_path / "p.gpkg")
    point = get_point(ws, "G2")
    assert point.lon == pytest.approx(LON, abs=1e-8) and point.gk_epsg == 4548


def test_reimport_with_changed_coordinates_keeps_history(ws, tmp_path):
    import_points(ws, write_csv(tmp_path / "a.csv", [good_row()]))
    moved = good_row(纬度="23.3541", X="", Y="", H="3.300")
    result = import_points(ws, write_csv(tmp_path / "b.csv", [moved]))
    assert result.moved == ["C001"]
    point = get_point(ws, "C001")
    assert point.version == 2 and point.lat == pytest.approx(23.3541)
    history = coordinate_history(ws, "C001")
    assert len(history) == 1
    assert history[0]["lat"] == pytest.approx(LAT) and history[0]["x_north"] == pytest.approx(X)
    assert history[0]["version"] == 1
    # the same file again changes nothing
    assert import_points(ws, tmp_path / "b.csv").unchanged == 1
    assert len(coordinate_history(ws, "C001")) == 1


# --- the bad-input corpus: each refused with its line and reason, nothing written --------

BAD_ROWS = {
    "duplicate id": (
        good_row("C001", 点名="again"),
        r"duplicate point id 'C001' \(first on line 2\)",
    ),
    "missing grade": (good_row("C002", 等级=""), r"missing grade"),
    "unknown grade": (good_row("C002", 等级="F级"), r"unknown grade 'F级'"),
    "outside the zone": (
        good_row("C002", 纬度="", 经度="", X="2583777.6", Y="150000.0"),
        r"outside 3-degree zone 39",
    ),
    "swapped x/y": (good_row("C002", 纬度="", 经度="", X=f"{Y}", Y=f"{X}"), r"look swapped"),
    "x/y disagree with B/L": (
        good_row("C002", Y=f"{Y + 0.5:.4f}"),
        r"X/Y disagree with B/L by 0\.500 m \(allowed 1 mm\)",
    ),
    "non-numeric": (good_row("C002", X="2583777,6O"), r"X '2583777,6O' is not a number"),
    "unknown district": (good_row("C002", 区县="西湖区"), r"unknown district '西湖区'"),
    "wrong district": (good_row("C002", 区县="龙湖区"), r"lie in 金平区, not in 龙湖区"),
    "future establishment": (good_row("C002", 埋设日期="2999-01-01"), r"in the future"),
    "no coordinates": (good_row("C002", 纬度="", 经度="", X="", Y=""), r"no coordinates"),
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_bad_rows_are_refused_with_line_and_reason(ws, tmp_path, case):
    bad, reason = BAD_ROWS[case]
    path = write_csv(tmp_path / "in.csv", [good_row("C001"), bad])
    with pytest.raises(ValidationError, match="nothing imported") as info:
        import_points(ws, path)
    assert info.value.problems[0][0] == 3
    assert re.search(reason, info.value.problems[0][1]), info.value.problems
    assert count(ws) == 0
    result = run_cli(["control", "import", path, "--workspace", ws.root])
    assert result.exit_code == 2
    assert "line 3: " in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("Error: in.csv: 1 of 2 rows")
    assert count(ws) == 0
    assert not rejects_path_for(path).exists()


def test_empty_truncated_and_header_only_files_are_refused(ws, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    header_only = write_csv(tmp_path / "header.csv", [], header=["点号", "点名"])
    truncated = write_csv(tmp_path / "trunc.csv", [good_row(), good_row("C002")])
    data = truncated.read_bytes()
    truncated.write_bytes(data[: data.rindex(b",23.354")])
    geojson = tmp_path / "trunc.geojson"
    geojson.write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feat', encoding="utf-8"
    )
    for path, error, message in (
        (empty, EmptyInputError, "empty"),
        (header_only, EmptyInputError, "no records"),
        (truncated, SourceReadError, "truncated"),
        (geojson, SourceReadError, "cannot be read"),
        (tmp_path / "missing.csv", SourceReadError, "no such file"),
    ):
        with pytest.raises(error, match=message):
            import_points(ws, path)
        result = run_cli(["control", "import", path, "--workspace", ws.root])
        assert result.exit_code == 2, path
        assert result.stderr.startswith("Error: ") and message in result.stderr
    assert count(ws) == 0


def test_skip_invalid_writes_good_rows_and_saves_rejects(ws, tmp_path):
    path = write_csv(
        tmp_path / "in.csv",
        [
            good_row("C001"),
            good_row("C002", 等级="Q"),
            good_row("C003", 纬度="23.36", 经度="116.70", X="", Y=""),
        ],
    )
    result = run_cli(["control", "import", path, "--skip-invalid", "--workspace", ws.root])
    assert result.exit_code == 0, result.stderr
    assert "rejected line 3: unknown grade 'Q'" in result.stderr
    assert count(ws) == 2
    rejects = rejects_path_for(path)
    assert rejects.read_bytes().startswith(codecs.BOM_UTF8)  # the CSV policy: BOM for Excel
    text = rejects.read_text(encoding="utf-8-sig")
    assert text.splitlines()[0].startswith("where,reason,点号")
    assert "line 3" in text and "C002" in text and "C001" not in text


def test_bad_rows_among_many_are_each_reported_with_their_line(ws, tmp_path):
    # the column-by-column validation must name every bad row, in file order, as the
    # row-by-row one did; good rows around them are not affected
    rows = [good_row(f"G{k:03d}", X="", Y="") for k in range(40)]
    bad = {
        5: good_row("B1", 等级="Q"),
        9: good_row("G000", X="", Y=""),  # duplicate of line 2
        14: good_row("B2", 纬度="", 经度="", X=f"{Y}", Y=f"{X}"),
        22: good_row("B3", 区县="西湖区"),
        23: good_row("B4", 埋设日期="2999-01-01"),
        31: good_row("B5", Y=f"{Y + 0.5:.4f}"),
        40: good_row("B6", 点名=""),
    }
    for line, row in bad.items():
        rows[line - 2] = row
    path = write_csv(tmp_path / "many.csv", rows)
    with pytest.raises(ValidationError, match="7 of 40 rows") as info:
        import_points(ws, path)
    assert [line for line, _ in info.value.problems] == sorted(bad)
    reasons = [msg for _, msg in info.value.problems]
    assert reasons[0].startswith("line 5: unknown grade 'Q'")
    assert reasons[1] == "line 9: duplicate point id 'G000' (first on line 2)"
    assert "look swapped" in reasons[2] and reasons[2].startswith("line 14: ")
    assert reasons[3].startswith("line 22: unknown district '西湖区'")
    assert reasons[4] == "line 23: date established 2999-01-01 is in the future"
    assert reasons[5].startswith("line 31: X/Y disagree with B/L by 0.500 m")
    assert reasons[6] == "line 40: point B6: missing name (点名)"
    assert count(ws) == 0
    result = import_points(ws, path, skip_invalid=True)
    assert len(result.added) == 33 and [line for line, _ in result.rejected] == sorted(bad)


def test_excel_sheet_imports_like_its_csv(ws, tmp_path):
    from openpyxl import Workbook

    rows = [
        good_row(点名="金平一号（墩）", 备注="楼顶东侧"),
        good_row("L001", 等级="三等水准", X="", Y=""),
    ]
    header = list(rows[0])
    book = Workbook()
    sheet = book.active
    sheet.append(header)
    sheet.append([])  # a blank row between records, as people leave them
    for row in rows:
        # numbers as numbers and the date as a date cell, as Excel stores them
        cells = [row.get(h) or None for h in header]
        for name in ("纬度", "经度", "X", "Y", "H"):
            k = header.index(name)
            cells[k] = float(cells[k]) if cells[k] else None
        k = header.index("埋设日期")
        cells[k] = dt.datetime.fromisoformat(cells[k])
        sheet.append(cells)
    book.save(tmp_path / "points.xlsx")
    result = import_points(ws, tmp_path / "points.xlsx")
    assert result.added == ["C001", "L001"]
    from_excel = [get_point(ws, pid) for pid in ("C001", "L001")]
    assert from_excel[0].name == "金平一号（墩）" and from_excel[0].notes == "楼顶东侧"
    assert from_excel[0].established == dt.date(2015, 6, 1)
    # the same rows from a CSV change nothing: one parser, one result
    again = import_points(ws, write_csv(tmp_path / "points.csv", rows))
    assert (again.added, again.moved, again.changed, again.unchanged) == ([], [], [], 2)
    # a bad cell is reported with its spreadsheet row (the blank row 2 counted)
    sheet.append([*["C009", "x", "C级", "nan"], *[None] * (len(header) - 4)])
    book.save(tmp_path / "bad.xlsx")
    result = run_cli(["control", "import", tmp_path / "bad.xlsx", "--workspace", ws.root])
    assert result.exit_code == 2
    assert "row 5: 纬度 'nan' is not a finite number" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_zone_overlap_is_the_shared_guards(workspace, tmp_path):
    # one rule for every zone check: a point may lie up to ZONE_OVERLAP degrees beyond its
    # zone's edge (zone 39 of EPSG:4548 ends at 118.5E), whether given by X/Y or by B/L
    from geobase.geodesy.transform import ZONE_OVERLAP, transform

    assert ZONE_OVERLAP == 0.5
    rows = []
    for k, lon in enumerate((118.8, 119.2)):
        e, n = transform([lon], [23.4], 4490, 4548, check=False)
        rows.append(
            good_row(f"G{k}", 纬度="", 经度="", X=f"{n[0]:.4f}", Y=f"{e[0]:.4f}", 区县="", crs="")
        )
        rows.append(good_row(f"B{k}", 纬度="23.4", 经度=f"{lon}", X="", Y="", 区县="", crs="4548"))
    path = write_csv(tmp_path / "overlap.csv", rows)
    with pytest.raises(ValidationError, match="nothing imported") as info:
        import_points(workspace, path)
    problems = dict(info.value.problems)
    assert sorted(problems) == [4, 5], problems  # the two rows 0.7 degrees beyond the edge
    assert re.search(
        r"lies at 119\.2000E.*outside 3-degree zone 39 .*zone holding it is EPSG:4549", problems[4]
    )
    assert re.search(
        r"L 119\.200000 is outside 3-degree zone 39 .*0\.5 degrees of overlap", problems[5]
    )
    result = import_points(workspace, write_csv(tmp_path / "inside.csv", rows[:2]))
    assert result.added == ["G0", "B0"]
    g0, b0 = get_point(workspace, "G0"), get_point(workspace, "B0")
    assert g0.lon == pytest.approx(118.8, abs=1e-9) and g0.gk_epsg == 4548
    assert b0.gk_epsg == 4548 and b0.y_east == pytest.approx(g0.y_east, abs=1e-3)
