"""Property-based tests of the input validators: whatever they are given, they return a
valid value or raise a GeobaseError, never another exception, and never hang.

Covered: dates, coordinate text, sheet codes and scales and angles, control rows (every
column as text, as a CSV, GeoJSON or Excel sheet would give it), LAS headers (bytes
mutated at random, then the header read and the points scanned), geobase.toml tables.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import struct
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from geobase import dates
from geobase.errors import FutureDate, GeobaseError, InvalidCoordinates, InvalidDate
from geobase.geodesy.lonlat import parse_bbox, parse_lonlat, parse_numbers
from tests.control_helpers import DISTRICTS, good_row
from tests.ingest_factories import write_las

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# text that looks like what people type: digits, separators, signs, letters, CJK
TYPED = st.text(
    alphabet=st.sampled_from(list("0123456789-/.:,，; eE+TZnaif年月日°'\"NSEW元x ")), max_size=30
)
ANY_TEXT = st.one_of(TYPED, st.text(max_size=30))


# --- dates -------------------------------------------------------------------------------


@SETTINGS
@given(text=ANY_TEXT, partial=st.booleans(), allow_future=st.booleans())
@example(text="0000-00-00", partial=False, allow_future=True)
@example(text="9999-12-31T23:59:59Z", partial=False, allow_future=False)
@example(text="2024:02:30 10:00:00", partial=False, allow_future=True)
def test_any_date_text_is_a_date_or_refused(text, partial, allow_future):
    try:
        day = dates.parse_date(text, "date", partial=partial, allow_future=allow_future)
    except InvalidDate as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(day, dt.date)
    if not allow_future:
        assert day <= dates.today()


@SETTINGS
@given(day=st.dates(min_value=dt.date(1000, 1, 1)))
def test_dates_round_trip_and_the_future_is_refused(day):
    assert dates.parse_date(day.isoformat()) == day
    assert dates.parse_date(day.strftime("%Y年%m月%d日")) == day
    assert dates.parse_date(day.strftime("%Y:%m:%d 12:00:00")) == day
    if day > dates.today():
        with pytest.raises(FutureDate):
            dates.parse_date(day.isoformat(), allow_future=False)


# --- coordinate text -----------------------------------------------------------------------


@SETTINGS
@given(text=ANY_TEXT)
@example(text="nan,1")
@example(text="1e999,0")
@example(text="，".join(["1"] * 2))
def test_any_coordinate_text_is_a_point_or_refused(text):
    for parse in (parse_lonlat, parse_bbox, lambda t: parse_numbers(t, "x", (2, 4))):
        try:
            values = parse(text)
        except InvalidCoordinates as exc:
            assert "\n" not in str(exc)
            continue
        assert all(math.isfinite(v) for v in values)
    try:
        lon, lat = parse_lonlat(text)
    except InvalidCoordinates:
        return
    assert -180 <= lon <= 180 and -90 <= lat <= 90


@SETTINGS
@given(
    lon=st.floats(allow_nan=True, allow_infinity=True),
    lat=st.floats(allow_nan=True, allow_infinity=True),
)
def test_formatted_points_parse_back(lon, lat):
    text = f"{lon!r},{lat!r}"
    valid = math.isfinite(lon) and math.isfinite(lat) and abs(lon) <= 180 and abs(lat) <= 90
    try:
        assert parse_lonlat(text) == (lon, lat)
    except InvalidCoordinates:
        assert not valid


# --- sheet text ----------------------------------------------------------------------------


@SETTINGS
@given(text=ANY_TEXT, code=st.from_regex(r"[A-V][0-9]{2}[A-H]?[0-9]{0,6}", fullmatch=True))
def test_sheet_text_is_parsed_or_refused(text, code):
    from geobase import sheets

    for parse in (
        sheets.parse_angle,
        sheets.parse_scale,
        sheets.parse_sheet_code,
        sheets.sheet_bounds,
    ):
        for value in (text, code):
            with contextlib.suppress(GeobaseError):
                parse(value)


# --- control rows ----------------------------------------------------------------------------

CELL = st.one_of(
    st.none(),
    st.sampled_from(["nan", "inf", "-inf", "NaN", "1e999", "", " ", "0", "-0", "1e300"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(min_value=-200, max_value=3e7).map(repr),
    TYPED,
)
COLUMNS = ["点号", "点名", "等级", "纬度", "经度", "X", "Y", "H", "区县", "埋设日期"]


@pytest.fixture(scope="module")
def control_ws():
    from geobase.store import Workspace
    from geobase.store.districts import load_districts

    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.init(Path(tmp) / "ws", name="properties")
        load_districts(ws.store, DISTRICTS)
        yield ws
        ws.close()


@SETTINGS
@given(
    changes=st.lists(
        st.dictionaries(st.sampled_from(COLUMNS), CELL, max_size=4), min_size=1, max_size=4
    )
)
@example(changes=[{"纬度": "nan", "X": None, "Y": None}])
@example(changes=[{"Y": "inf", "纬度": None, "经度": None}])
@example(changes=[{"Y": "1e300", "纬度": None, "经度": None}])
@example(changes=[{"纬度": "nan", "经度": "nan"}])
def test_any_control_row_is_a_record_or_a_problem(control_ws, changes):
    from geobase.control.importer import validate_rows

    rows = [good_row(f"P{i}", **change) for i, change in enumerate(changes)]
    frame = pd.DataFrame(rows, dtype=object).replace({"": None})
    labels = [f"line {i + 2}" for i in range(len(rows))]
    assert_records_or_problems(validate_rows(frame, labels, control_ws), len(rows))


def assert_records_or_problems(outcome, count: int) -> None:
    """Every row is a record or a problem, never both or neither; records are finite."""
    records, indexes, problems = outcome
    assert sorted(indexes + [i for i, _ in problems]) == list(range(count))
    for r in records:
        assert math.isfinite(r.lon) and math.isfinite(r.lat)
        assert -180 <= r.lon <= 180 and -90 <= r.lat <= 90
        assert math.isfinite(r.x_north) and math.isfinite(r.y_east)
        assert r.normal_h is None or math.isfinite(r.normal_h)
        assert r.point_id


CSV_TEXT = st.lists(
    st.lists(
        st.one_of(CELL.map(lambda c: c or ""), st.sampled_from(['"', '""', ",", "\r"])),
        max_size=len(COLUMNS) + 2,
    ),
    min_size=1,
    max_size=6,
).map(lambda rows: "\n".join(",".join(r) for r in rows))


@SETTINGS
@given(
    body=st.one_of(
        st.binary(max_size=200),
        CSV_TEXT.map(lambda t: ",".join(COLUMNS) + "\n" + t),
        CSV_TEXT,
    ),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "gbk"]),
)
@example(body=",".join(COLUMNS) + '\nB1,"x', encoding="utf-8")
def test_any_csv_file_is_rows_or_refused(control_ws, tmp_path_factory, body, encoding):
    from geobase.control.importer import read_source, validate_rows

    path = tmp_path_factory.mktemp("csv") / "points.csv"
    if isinstance(body, str):
        body = body.encode(encoding, errors="replace")
    path.write_bytes(body)
    try:
        frame, labels, _ = read_source(path)
        outcome = validate_rows(frame, labels, control_ws)  # or a file-level refusal
    except GeobaseError as exc:
        assert "\n" not in str(exc)
        return
    assert len(labels) == len(frame)
    assert_records_or_problems(outcome, len(frame))


@SETTINGS
@given(
    rows=st.lists(
        st.lists(
            st.one_of(
                CELL,
                st.floats(allow_nan=False, allow_infinity=False),
                st.integers(-(10**12), 10**12),
                st.booleans(),
                st.datetimes(min_value=dt.datetime(1900, 1, 1)),
            ),
            max_size=len(COLUMNS) + 1,
        ),
        max_size=4,
    )
)
def test_any_excel_sheet_is_rows_or_refused(control_ws, tmp_path_factory, rows):
    from openpyxl import Workbook

    from geobase.control.importer import read_source, validate_rows

    book = Workbook()
    sheet = book.active
    sheet.append(COLUMNS)
    for row in rows:
        sheet.append(row)
    path = tmp_path_factory.mktemp("xlsx") / "points.xlsx"
    book.save(path)
    try:
        frame, labels, _ = read_source(path)
        outcome = validate_rows(frame, labels, control_ws)  # or a file-level refusal
    except GeobaseError as exc:
        assert "\n" not in str(exc)
        return
    assert len(labels) == len(frame)
    assert_records_or_problems(outcome, len(frame))


# --- LAS headers -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def las_bytes():
    with tempfile.TemporaryDirectory() as tmp:
        versions = {}
        for version, fmt in (("1.2", 1), ("1.4", 6)):
            path = write_las(
                Path(tmp) / f"v{version}.las",
                n=50,
                version=version,
                point_format=fmt,
                gps=(3e8, 3e8 + 100),
            )
            versions[version] = path.read_bytes()
        yield versions


HEADER_FIELDS = st.sampled_from(
    [
        (6, "<H"),  # global encoding
        (24, "<B"),  # version major
        (25, "<B"),  # version minor
        (90, "<H"),  # creation day
        (92, "<H"),  # creation year
        (94, "<H"),  # header size
        (96, "<I"),  # offset to points
        (100, "<I"),  # number of VLRs
        (104, "<B"),  # point format
        (105, "<H"),  # record length
        (107, "<I"),  # legacy point count
        (131, "<d"),  # x scale
        (155, "<d"),  # x offset
        (179, "<d"),  # max x
        (187, "<d"),  # min x
        (235, "<Q"),  # start of first EVLR (1.4)
        (243, "<I"),  # number of EVLRs (1.4)
        (247, "<Q"),  # point count (1.4)
    ]
)


def _value(fmt: str):
    if fmt == "<d":
        return st.floats(allow_nan=True, allow_infinity=True, width=64)
    bits = struct.calcsize(fmt) * 8
    return st.integers(min_value=0, max_value=2**bits - 1)


@st.composite
def mutations(draw):
    out = []
    for _ in range(draw(st.integers(1, 3))):
        offset, fmt = draw(HEADER_FIELDS)
        out.append((offset, fmt, draw(_value(fmt))))
    return out


@SETTINGS
@given(
    version=st.sampled_from(["1.2", "1.4"]),
    patches=mutations(),
    cut=st.one_of(st.none(), st.integers(0, 2000)),
)
@example(version="1.2", patches=[(100, "<I", 4_000_000_000)], cut=None)
@example(version="1.4", patches=[(24, "<B", 9)], cut=None)
@example(version="1.4", patches=[(92, "<H", 1), (90, "<H", 1), (6, "<H", 0)], cut=None)
def test_any_las_header_is_read_or_refused_quickly(
    las_bytes, tmp_path_factory, version, patches, cut
):
    from geobase.ingest import pointcloud

    data = bytearray(las_bytes[version])
    for offset, fmt, value in patches:
        if offset + struct.calcsize(fmt) <= len(data):
            struct.pack_into(fmt, data, offset, value)
    if cut is not None:
        data = data[:cut]
    path = tmp_path_factory.mktemp("las") / "cloud.las"
    path.write_bytes(bytes(data))
    try:
        info = pointcloud.read_header(path)
        stats = pointcloud.scan(info)
        pointcloud.acquired_from(info, stats)
    except GeobaseError as exc:
        assert "\n" not in str(exc)


# --- geobase.toml ----------------------------------------------------------------------------

TOML_VALUE = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**40), 2**40),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=10),
        st.dates(),
    ),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
KEYS = st.sampled_from(
    [
        "plan",
        "age_bins",
        "sheet_tolerance",
        "densify_deg",
        "jpeg_fill",
        "block",
        "inspection_cycle_days",
        "restricted_grades",
        "cjk_font",
        "resolution",
        "kind",
        "name_zh",
        "name_en",
        "scale",
        "update_cycle_years",
        "tile_max_age",
        "title",
        "cors_origins",
        "bogus",
    ]
)
TABLE = st.dictionaries(KEYS, TOML_VALUE, max_size=4)


@SETTINGS
@given(table=TABLE, code=st.sampled_from(["dom02", "dom9", "x"]))
@example(table={"jpeg_fill": "red"}, code="dom02")
@example(table={"resolution": -1}, code="dom02")
def test_any_config_table_is_settings_or_a_config_error(table, code):
    from geobase.catalog.products import products_for
    from geobase.control.settings import control_settings
    from geobase.coverage.settings import coverage_settings
    from geobase.errors import ConfigError
    from geobase.tiles.settings import tiles_settings

    for parse in (
        tiles_settings,
        control_settings,
        coverage_settings,
        lambda t: products_for({code: t}),
    ):
        try:
            parse(table)
        except ConfigError as exc:
            assert "\n" not in str(exc) and "geobase.toml" in str(exc)


@SETTINGS
@given(doc=st.dictionaries(st.sampled_from(["name", "crs", "store", "control", "x"]), TOML_VALUE))
def test_any_geobase_toml_is_read_or_refused(tmp_path_factory, doc):
    import tomli_w

    from geobase.errors import ConfigError
    from geobase.server.settings import ServerSettings
    from geobase.store.config import WorkspaceConfig

    folder = tmp_path_factory.mktemp("cfg")
    try:
        text = tomli_w.dumps({k: v for k, v in doc.items() if v is not None})
    except (TypeError, ValueError):
        return  # not representable in TOML
    (folder / "geobase.toml").write_text(text, encoding="utf-8")
    try:
        WorkspaceConfig.read(folder / "geobase.toml")
        ServerSettings.for_workspace(folder)
    except ConfigError as exc:
        assert "\n" not in str(exc)


def test_excel_cells_read_as_csv_text(tmp_path):
    from openpyxl import Workbook

    from geobase.tabular import read_xlsx

    book = Workbook()
    sheet = book.active
    sheet.append(["点号", "纬度", "日期", "数"])
    sheet.append(["007", 23.354, dt.datetime(2015, 6, 1), 3.0])
    sheet.append([None, None, None, None])
    sheet.append(["C2", "nan", dt.date(2016, 1, 2), np.float64(2.5).item()])
    book.save(tmp_path / "p.xlsx")
    frame = read_xlsx(tmp_path / "p.xlsx")
    assert frame.values.tolist() == [
        ["007", "23.354", "2015-06-01", "3"],
        ["C2", "nan", "2016-01-02", "2.5"],
    ]
    assert frame.attrs["lines"] == [2, 4]
