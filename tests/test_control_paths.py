"""One control-row validator for every import path.

The same generated rows, written as a UTF-8 CSV (with BOM), a GBK CSV, an Excel sheet, a
GeoJSON file and a GeoPackage, must give the same records or the same one-line refusal
per row. And the column-wise validator decides each row alone: a row validated among
others gets what it gets by itself (no neighbour changes a row's outcome).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import re
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from geobase.control.importer import read_source, validate_rows
from geobase.errors import GeobaseError
from tests.control_helpers import DISTRICTS, LAT, LON, X, Y, good_row

SETTINGS = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
COLUMNS = ["点号", "点名", "等级", "纬度", "经度", "X", "Y", "H", "坐标系", "区县", "埋设日期"]
# what people type; every character GBK can write, none a spreadsheet takes for a formula
ALPHABET = list("0123456789-/.:,，; eE+TZnaif年月日°'\"NSEWx金平区级等水准一二三")
TEXT = st.text(alphabet=st.sampled_from(ALPHABET), max_size=20)
CELL = st.one_of(
    st.none(),
    st.sampled_from(
        ["", "nan", "inf", "1e999", "0", "1e300", "39", "3", "EPSG:4548", "EPSG:4326", "1e9"]
    ),
    st.sampled_from(["2015-06-01 10:00", "2015/06/01", "2099-01-01", "D", "L3", "三等"]),
    st.sampled_from([f"{LAT}", f"{LON}", f"{X}", f"{Y}", f"{Y + 39e6}", "23°21'14.4\""]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(min_value=-200, max_value=3e7).map(repr),
    TEXT,
)
ROWS = st.lists(
    st.tuples(st.dictionaries(st.sampled_from(COLUMNS[1:]), CELL, max_size=4), CELL),
    min_size=1,
    max_size=4,
)


@pytest.fixture(scope="module")
def control_ws():
    from geobase.store import Workspace
    from geobase.store.districts import load_districts

    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.init(Path(tmp) / "ws", name="paths")
        load_districts(ws.store, DISTRICTS)
        yield ws
        ws.close()


def _rows(generated) -> list[dict]:
    rows = []
    for k, (changes, point_id) in enumerate(generated):
        # a row always holds a cell (blank rows are skipped by CSV and Excel readers)
        row = good_row(f"P{k}" if point_id is None else point_id, **changes)
        rows.append({c: row.get(c) for c in COLUMNS})
    return rows


def _write_csv(path: Path, rows: list[dict], encoding: str) -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows([{c: v or "" for c, v in r.items()} for r in rows])
    return path


def _write_xlsx(path: Path, rows: list[dict]) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(COLUMNS)
    for row in rows:
        sheet.append([row[c] for c in COLUMNS])
    book.save(path)
    return path


def _write_geojson(path: Path, rows: list[dict]) -> Path:
    features = [{"type": "Feature", "geometry": None, "properties": row} for row in rows]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def _write_gpkg(path: Path, rows: list[dict], geometry: bool) -> Path:
    """A GeoPackage of text attributes; with ``geometry``, B/L that are plain finite
    numbers become the point geometry (EPSG:4490) instead of attributes."""
    import geopandas as gpd
    import shapely

    frame = pd.DataFrame(rows, columns=COLUMNS, dtype=object)
    points = []
    for k, row in enumerate(rows):
        point = None
        if geometry:
            try:
                lon, lat = float(row["经度"]), float(row["纬度"])
            except (TypeError, ValueError):
                lon = lat = None
            if lon is not None and math.isfinite(lon) and math.isfinite(lat):
                point = shapely.Point(lon, lat)
                frame.loc[k, ["纬度", "经度"]] = None
        points.append(point)
    for column in COLUMNS:  # text fields, also where every value is blank
        frame[column] = frame[column].astype("string")
    gpd.GeoDataFrame(frame, geometry=points, crs="EPSG:4490").to_file(path, driver="GPKG")
    return path


def _outcome(path: Path, ws) -> tuple:
    """(records as dicts, [(row, problem)]) or the file's one-line refusal."""
    try:
        frame, labels, _ = read_source(path)
        records, _, problems = validate_rows(frame, labels, ws)
    except GeobaseError as exc:
        assert "\n" not in str(exc)
        return ("refused", type(exc).__name__)
    # a duplicate names the first row by its label (line 2, row 2, feature 1)
    problems = [(i, re.sub(r" \(first on [^)]*\)$", "", m)) for i, m in problems]
    for _, message in problems:
        assert "\n" not in message
    return [dataclasses.asdict(r) for r in records], problems


@SETTINGS
@given(generated=ROWS)
@example(generated=[({"坐标系": "39", "Y": "2000000000.0"}, None)])
@example(generated=[({"埋设日期": "2015-06-01 10:00"}, None)])
@example(generated=[({"纬度": None, "经度": None, "X": None}, None)])
@example(generated=[({}, "P1"), ({}, "P1")])
@example(generated=[({"纬度": "NaN"}, None)])
def test_every_file_kind_gives_the_same_outcome(control_ws, tmp_path_factory, generated):
    rows = _rows(generated)
    folder = tmp_path_factory.mktemp("paths")
    paths = {
        "utf-8-sig csv": _write_csv(folder / "bom.csv", rows, "utf-8-sig"),
        "gbk csv": _write_csv(folder / "gbk.csv", rows, "gbk"),
        "xlsx": _write_xlsx(folder / "points.xlsx", rows),
        "geojson": _write_geojson(folder / "points.geojson", rows),
        "gpkg": _write_gpkg(folder / "points.gpkg", rows, geometry=False),
        "gpkg points": _write_gpkg(folder / "geom.gpkg", rows, geometry=True),
    }
    outcomes = {kind: _outcome(path, control_ws) for kind, path in paths.items()}
    reference = outcomes.pop("utf-8-sig csv")
    for kind, outcome in outcomes.items():
        assert outcome == reference, kind


@SETTINGS
@given(generated=ROWS)
@example(generated=[({"H": "abc"}, None), ({}, None)])
@example(generated=[({"纬度": "23°21'14.4\""}, None), ({"纬度": "1e999"}, None)])
def test_a_row_gets_the_same_outcome_alone_or_among_others(control_ws, generated):
    rows = _rows(generated)
    ids = [r["点号"] for r in rows]
    frame = pd.DataFrame(rows, columns=COLUMNS, dtype=object)
    labels = [f"line {k + 2}" for k in range(len(rows))]
    records, indexes, problems = validate_rows(frame, labels, control_ws)
    together = {i: dataclasses.asdict(r) for i, r in zip(indexes, records, strict=True)}
    together.update(dict(problems))
    for k in range(len(rows)):
        if ids[k] is not None and ids.index(ids[k]) != k:
            continue  # a duplicate is refused only among others
        alone_records, _, alone_problems = validate_rows(frame.iloc[[k]], [labels[k]], control_ws)
        alone = dataclasses.asdict(alone_records[0]) if alone_records else alone_problems[0][1]
        assert together[k] == alone
