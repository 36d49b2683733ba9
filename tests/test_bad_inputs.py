"""The bad-input corpus: every input path of the CLI, fed what contractors really send.

Each case runs the command line (CliRunner) on one shared workspace and checks the
contract of ARCHITECTURE.md: exit 2 (or the documented exit), one line on stderr naming
the problem (click's usage preamble aside), no traceback, nothing recorded in the store,
no file written in the workspace, the inputs' folder or the output folder, within 5 s.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import resource
import shutil
import sqlite3
import struct
import time
import tomllib
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import tomli_w
from click.testing import CliRunner

from geobase.cli import cli
from tests.control_helpers import DISTRICTS, HEADER, LAT, LON, X, Y, good_row
from tests.ingest_factories import EAST0, NORTH0, write_las, write_tif

MAX_SECONDS = 5.0
MAX_RSS_GROWTH_MB = 500
LOG_LINE = re.compile(r"^(DEBUG|INFO|WARNING) ")


# --- the shared workspace ---------------------------------------------------------------


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A workspace with the Shantou districts and one control point, and folders for the
    cases' inputs and outputs."""
    root = tmp_path_factory.mktemp("bad_inputs")
    ws = root / "ws"
    runner = CliRunner()
    for args in (
        ["init", ws],
        ["districts", "load", DISTRICTS, "--workspace", ws],
    ):
        result = runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    good = _write_csv(root / "good.csv", [good_row("C001")])
    result = runner.invoke(cli, ["control", "import", str(good), "--workspace", str(ws)])
    assert result.exit_code == 0, result.output
    (root / "in").mkdir()
    (root / "out").mkdir()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"root": root, "ws": ws, "rss_mb": rss}


def _write_csv(path: Path, rows: list[dict], header=None, encoding="utf-8") -> Path:
    header = header or list(rows[0])
    with path.open("w", encoding=encoding, newline="") as f:
        writer = csv.DictWriter(f, header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _snapshot(*folders: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder (size, mtime) but the store's and ingest's staging area (the
    workspace's own, created on first use and emptied by every ingest)."""
    out = {}
    for folder in folders:
        for p in folder.rglob("*"):
            if p.name.startswith("workspace.gpkg") or p.name in ("data", ".staging"):
                continue
            st = p.lstat()
            out[str(p)] = (st.st_size, st.st_mtime_ns) if p.is_file() else (-1, 0)
    return out


def _row_counts(ws: Path) -> dict[str, int]:
    con = sqlite3.connect(f"file:{ws / 'workspace.gpkg'}?mode=ro", uri=True)
    try:
        names = [
            r[0]
            for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {n: con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
    finally:
        con.close()


def _error_lines(stderr: str) -> list[str]:
    """stderr's lines less click's usage preamble and log records."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    if lines and lines[0].startswith("Usage:"):
        lines = [line for line in lines[1:] if not line.startswith("Try '")]
    return [line for line in lines if not LOG_LINE.match(line)]


# --- building bad inputs -------------------------------------------------------------------


@dataclass
class Case:
    """One bad input: ``make(folder)`` writes the input files and returns the command line
    (``{ws}``, ``{out}`` filled in); ``config`` replaces tables of geobase.toml for the
    run (a dict merged into it) or, as text, the whole file."""

    id: str
    make: Callable[[Path], list]
    code: int = 2
    expect: str | None = None  # a phrase the one error line must hold
    config: dict | str | bytes | None = None
    xfail: str | None = None
    marks: list = field(default_factory=list)


CASES: list[Case] = []


def case(id_: str, make, **kw) -> None:
    CASES.append(Case(id_, make, **kw))


def control_csv(rows_or_changes, header=None, encoding="utf-8"):
    """A control-point CSV of good rows changed as given (a dict, or a list of dicts)."""

    def make(folder: Path) -> list:
        changes = rows_or_changes if isinstance(rows_or_changes, list) else [rows_or_changes]
        rows = [good_row(c.pop("点号", "B001"), **c) for c in (dict(x) for x in changes)]
        path = _write_csv(folder / "points.csv", rows, header, encoding)
        return ["control", "import", path, "--workspace", "{ws}"]

    return make


def control_file(name: str, content: bytes | str | Callable[[Path], None]):
    def make(folder: Path) -> list:
        path = folder / name
        if callable(content):
            content(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return ["control", "import", path, "--workspace", "{ws}"]

    return make


GEO_ONLY = {"X": "", "Y": ""}
GRID_ONLY = {"纬度": "", "经度": ""}

# control rows (CSV)
for cid, changes, expect in [
    ("lat-nan", {"纬度": "nan", **GEO_ONLY}, "not a finite number"),
    ("lat-inf", {"纬度": "inf", **GEO_ONLY}, "not a finite number"),
    ("lon-minus-inf", {"经度": "-inf", **GEO_ONLY}, "not a finite number"),
    ("lat-NaN-with-xy", {"纬度": "NaN"}, "not a finite number"),
    ("lon-overflow", {"经度": "1e999", **GEO_ONLY}, "not a finite number"),
    ("x-nan", {"X": "nan", **GRID_ONLY}, "not a finite number"),
    ("y-inf", {"Y": "inf", **GRID_ONLY}, "not a finite number"),
    ("y-minus-inf", {"Y": "-inf", **GRID_ONLY}, "not a finite number"),
    ("y-huge", {"Y": "1e300", **GRID_ONLY}, "easting"),
    ("h-nan", {"H": "nan"}, "not a finite number"),
    ("h-inf", {"H": "Infinity"}, "not a finite number"),
    ("lat-text", {"纬度": "abc", **GEO_ONLY}, "not a number"),
    ("x-text", {"X": "2583777,6", **GRID_ONLY}, "not a number"),
    ("blank-id", {"点号": ""}, "missing point id"),
    ("blank-name", {"点名": "  "}, "missing name"),
    ("id-with-blank", {"点号": "B 01"}, "blanks"),
    ("id-too-long", {"点号": "B" * 70}, "longer than"),
    ("lat-95", {"纬度": "95", **GEO_ONLY}, None),
    ("lon-200", {"经度": "200", **GEO_ONLY}, None),
    ("bl-swapped", {"纬度": str(LON), "经度": str(LAT), **GEO_ONLY}, None),
    ("xy-swapped", {"X": str(Y), "Y": str(X), **GRID_ONLY}, None),
    ("zone-prefix-wrong", {"Y": f"40{Y:.4f}", **GRID_ONLY}, None),
    ("no-grade", {"等级": ""}, "missing grade"),
    ("unknown-grade", {"等级": "Q"}, "grade"),
    ("xy-disagree-bl", {"X": f"{X + 5:.4f}"}, "disagree"),
    ("outside-districts", {"纬度": "39.9", "经度": "116.4", "区县": "", **GEO_ONLY}, "district"),
    ("unknown-district", {"区县": "西湖区"}, "unknown district"),
    ("wrong-district", {"区县": "潮阳区"}, "not in 潮阳区"),
    ("b-without-l", {"经度": "", **GEO_ONLY}, "both latitude"),
    ("x-without-y", {"Y": "", **GRID_ONLY}, "both X"),
    ("no-coordinates", {**GEO_ONLY, **GRID_ONLY}, "no coordinates"),
    ("established-future", {"埋设日期": "2099-01-01"}, "future"),
    ("established-no-day", {"埋设日期": "2021-02-30"}, "no such day"),
    ("established-text", {"埋设日期": "last spring"}, "not a date"),
    ("unknown-mark-type", {"标石类型": "铁塔"}, "mark type"),
    ("duplicate-ids", [{"点号": "B001"}, {"点号": "B001"}], "duplicate point id"),
    ("duplicate-of-first-line", [{"点号": "B002"}, {"点号": "B003"}, {"点号": "B002"}], "line 2"),
]:
    case(f"control-csv-{cid}", control_csv(changes), expect=expect)

case(
    "control-csv-gbk-nan",
    control_csv({"纬度": "nan", **GEO_ONLY}, encoding="gbk"),
    expect="not a finite number",
)
case("control-csv-epoch-3000", control_csv({"历元": "3000"}, header=[*HEADER, "历元"]))
case("control-csv-unknown-source", control_csv({"来源": "guess"}, header=[*HEADER, "来源"]))
case(
    "control-csv-unknown-crs",
    control_csv({"坐标系": "EPSG:999999", **GRID_ONLY}, header=[*HEADER, "坐标系"]),
)
case(
    "control-csv-zone-99",
    control_csv({"带号": "99", **GRID_ONLY}, header=[*HEADER, "带号"]),
    expect="zone 99",
)
case(
    "control-csv-no-id-column",
    control_file("points.csv", "名称,纬度,经度\n金平,23.35,116.68\n"),
    expect="no point-id column",
)
case(
    "control-csv-duplicate-columns",
    control_file("points.csv", "点号,点号,点名\nB1,B2,x\n"),
    expect="duplicate column",
)
case(
    "control-csv-two-id-columns",
    control_file("points.csv", "点号,id,点名\nB1,B2,x\n"),
    expect="both give",
)
case("control-csv-empty", control_file("points.csv", b""), expect="empty")
case("control-csv-blank", control_file("points.csv", b"\n\n  \n"), expect="empty")
case("control-csv-header-only", control_file("points.csv", ",".join(HEADER) + "\n"))
case("control-csv-binary", control_file("points.csv", b"\x80\x80\xff\x00\x81" * 50))
case(
    "control-csv-short-row",
    control_file("points.csv", ",".join(HEADER) + "\nB1,x,C级\n"),
    expect="fields",
)
case(
    "control-csv-open-quote",
    control_file("points.csv", ",".join(HEADER) + '\nB1,"x,C级,23.35,116.68,,,,,,\n'),
)
case("control-unsupported-suffix", control_file("points.dat", "点号\nB1\n"), expect=".csv")
case(
    "control-missing-file",
    lambda folder: ["control", "import", folder / "nope.csv", "--workspace", "{ws}"],
)
case(
    "control-folder-as-file",
    lambda folder: ["control", "import", folder, "--workspace", "{ws}"],
)


# inspections (a CSV with a condition column)
def inspections_csv(**changes):
    def make(folder: Path) -> list:
        row = {"点号": "C001", "巡查日期": "2024-01-01", "巡查人": "林", "状况": "完好", **changes}
        path = _write_csv(folder / "inspections.csv", [row])
        return ["control", "import", path, "--workspace", "{ws}"]

    return make


for cid, changes, expect in [
    ("future", {"巡查日期": "2099-01-01"}, "future"),
    ("no-such-day", {"巡查日期": "2023-02-29"}, "no such day"),
    ("unknown-point", {"点号": "NOPE"}, "NOPE"),
    ("unknown-condition", {"状况": "sunk"}, "condition"),
    ("no-inspector", {"巡查人": ""}, "inspector"),
]:
    case(f"inspections-csv-{cid}", inspections_csv(**changes), expect=expect)


# control rows (Excel)
def xlsx(rows: list[list], name: str = "points.xlsx"):
    def write(path: Path) -> None:
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        for row in rows:
            sheet.append(row)
        book.save(path)

    return control_file(name, write)


GOOD_XLSX = [HEADER, list(good_row("B001").values())]


def _xlsx_row(**changes) -> list:
    return list(good_row("B001", **changes).values())


for cid, rows, expect in [
    ("lat-nan", [HEADER, _xlsx_row(纬度="nan", X=None, Y=None)], "not a finite number"),
    ("lat-inf", [HEADER, _xlsx_row(纬度="inf", X=None, Y=None)], "not a finite number"),
    ("lat-95", [HEADER, _xlsx_row(纬度=95.0, X=None, Y=None)], None),
    ("blank-id", [HEADER, _xlsx_row(点号=None)], "missing point id"),
    ("duplicate-ids", [HEADER, _xlsx_row(), _xlsx_row()], "(first on row 2)"),
    (
        "future-date-cell",
        [HEADER, _xlsx_row(埋设日期=dt.datetime(2099, 1, 1))],
        "future",
    ),
    ("header-only", [HEADER], "no records"),
    ("duplicate-headers", [["点号", "点号"], ["B1", "B2"]], "duplicate column"),
    ("beyond-columns", [["点号", "点名"], ["B1", "x", "stray"]], "beyond"),
    ("empty-sheet", [], "empty"),
]:
    case(f"control-xlsx-{cid}", xlsx(rows), expect=expect)
case("control-xlsx-zero-bytes", control_file("points.xlsx", b""), expect="empty")
case("control-xlsx-garbage", control_file("points.xlsx", b"PK\x03\x04garbage" * 20))
case("control-xlsx-csv-inside", control_file("points.xlsx", "点号,点名\nB1,x\n"))


# control rows (GeoJSON)
def _point_feature(coords: str, **props) -> str:
    props = {"点号": "B001", "点名": "x", "等级": "C级", **props}
    return (
        '{"type":"Feature","properties":'
        + json.dumps(props, ensure_ascii=False)
        + ',"geometry":{"type":"Point","coordinates":'
        + coords
        + "}}"
    )


def geojson_text(*features: str) -> str:
    return '{"type":"FeatureCollection","features":[' + ",".join(features) + "]}"


for cid, text, expect in [
    ("nan", geojson_text(_point_feature("[NaN, 23.35]")), None),
    ("infinity", geojson_text(_point_feature("[116.68, Infinity]")), None),
    ("out-of-range", geojson_text(_point_feature("[216.68, 23.35]")), None),
    (
        "polygon",
        geojson_text(
            '{"type":"Feature","properties":{"点号":"B1"},"geometry":{"type":"Polygon",'
            '"coordinates":[[[116.6,23.3],[116.7,23.3],[116.7,23.4],[116.6,23.3]]]}}'
        ),
        "point features",
    ),
    ("empty-collection", geojson_text(), None),
    ("broken-json", '{"type":"FeatureCollection","features":[{"type":', None),
    ("no-id", geojson_text(_point_feature("[116.68, 23.35]", 点号=None)), "missing point id"),
    (
        "duplicate-ids",
        geojson_text(_point_feature("[116.68, 23.35]"), _point_feature("[116.68, 23.35]")),
        "duplicate point id",
    ),
]:
    case(f"control-geojson-{cid}", control_file("points.geojson", text), expect=expect)
case("control-geojson-zero-bytes", control_file("points.geojson", b""), expect="empty")


# control rows (GeoPackage)
def gpkg(geometries, ids):
    def write(path: Path) -> None:
        import geopandas as gpd

        frame = gpd.GeoDataFrame(
            {"点号": ids, "点名": ["x"] * len(ids), "等级": ["C级"] * len(ids)},
            geometry=geometries,
            crs=4490,
        )
        frame.to_file(path, driver="GPKG")

    return control_file("points.gpkg", write)


def _points(*coords):
    import shapely

    return [shapely.Point(c) for c in coords]


case(
    "control-gpkg-duplicate-ids",
    gpkg(_points((LON, LAT), (LON, LAT)), ["B1", "B1"]),
    expect="duplicate point id 'B1' (first on feature 1)",
)
case("control-gpkg-no-id", gpkg(_points((LON, LAT)), [None]), expect="missing point id")
case(
    "control-gpkg-outside-globe",
    gpkg(_points((LAT, LON)), ["B1"]),
)
case(
    "control-gpkg-lines",
    lambda folder: control_file(
        "points.gpkg",
        lambda path: (
            __import__("geopandas")
            .GeoDataFrame(
                {"点号": ["B1"]},
                geometry=[__import__("shapely").LineString([(LON, LAT), (LON + 0.1, LAT)])],
                crs=4490,
            )
            .to_file(path, driver="GPKG")
        ),
    )(folder),
    expect="point features",
)
case("control-gpkg-garbage", control_file("points.gpkg", b"SQLite format 3\x00" + b"\x01" * 300))


# coordinate text
def cli_args(*args):
    return lambda folder: [*args]


for cid, text in [
    ("letters", "abc"),
    ("one-number", "116.6"),
    ("three-numbers", "116.6,23.3,1"),
    ("nan", "nan,23.3"),
    ("inf", "116.6,inf"),
    ("lon-200", "200,23.3"),
    ("lat-first", "23.3,116.6"),
    ("metres", "467000,2584000"),
    ("empty", ""),
    ("long", "1," * 500),
]:
    case(
        f"near-{cid}",
        cli_args("control", "search", "--near", text, "--radius", "100", "--workspace", "{ws}"),
    )
case(
    "near-negative-radius",
    cli_args("control", "search", "--near", "116.6,23.3", "--radius", "-5", "--workspace", "{ws}"),
)
for cid, option, text in [
    ("nan", "--new-position", "nan,23.3"),
    ("out-of-range", "--new-position", "200,23.3"),
    ("letters", "--new-position", "east,north"),
    ("xy-inf", "--new-xy", "2583777,inf"),
]:
    case(
        f"new-position-{cid}",
        cli_args(
            "control",
            "inspect",
            "C001",
            "-c",
            "moved",
            "-d",
            "2024-01-01",
            "-i",
            "tester",
            "--new-id",
            "C009",
            option,
            text,
            "--workspace",
            "{ws}",
        ),
    )
for cid, aoi, extra in [
    ("nan-point", "nan,nan", ["--radius", "100"]),
    ("three-numbers", "116.6,23.3,1", []),
    ("bbox-outside-globe", "200,100,201,101", []),
    ("bbox-west-east-swapped", "116.7,23.3,116.6,23.4", []),
    ("point-without-radius", "116.6,23.3", []),
    ("bbox-with-radius", "116.6,23.3,116.7,23.4", ["--radius", "5"]),
    ("radius-negative", "116.6,23.3", ["--radius", "-1"]),
    ("radius-huge", "116.6,23.3", ["--radius", "1e9"]),
    ("radius-nan", "116.6,23.3", ["--radius", "nan"]),
    ("letters", "abc,def", []),
    ("point-lat-first", "23.3,116.6", ["--radius", "100"]),
    ("missing-file", "{in}/nowhere.geojson", []),
]:
    case(
        f"emergency-{cid}",
        lambda folder, aoi=aoi, extra=extra: [
            "emergency",
            aoi.replace("{in}", str(folder)),
            *extra,
            "-o",
            "{out}/package",
            "--workspace",
            "{ws}",
        ],
    )
for cid, text in [
    ("three", "116.6,23.3,116.7"),
    ("nan", "nan,23.3,116.7,23.4"),
    ("outside", "116.6,23.3,516.7,23.4"),
    ("swapped", "116.7,23.3,116.6,23.4"),
]:
    case(
        f"catalog-bbox-{cid}",
        cli_args("catalog", "search", "--bbox", text, "--workspace", "{ws}"),
    )
    case(
        f"sheets-area-bbox-{cid}",
        cli_args("sheets", "grid", "-s", "1:10000", "--area", text, "-o", "{out}/g.gpkg"),
    )
case("crs-zone-nan", cli_args("crs", "zone", "nan", "23"))
case("crs-zone-inf", cli_args("crs", "zone", "116", "inf"))
case("sheets-code-nan", cli_args("sheets", "code", "nan", "23", "-s", "1:10000"))
case("sheets-code-lon-200", cli_args("sheets", "code", "200", "23", "-s", "1:10000"))
case("sheets-code-bad-scale", cli_args("sheets", "code", "116.6", "23.3", "-s", "1:3"))
case("sheets-bounds-bad-code", cli_args("sheets", "bounds", "Z99"))


# dates
def tif_ingest(*extra, sidecar: str | None = None):
    def make(folder: Path) -> list:
        tif = write_tif(folder / "ortho.tif", width=16, height=16)
        if sidecar is not None:
            (folder / "ortho.json").write_text(sidecar, encoding="utf-8")
        return ["ingest", tif, *extra, "--workspace", "{ws}"]

    return make


for cid, value, expect in [
    ("future", "2099-01-01", "after today"),
    ("window-into-future", "2024-01-01/2099-01-01", "after today"),
    ("no-such-day", "2024-02-30", "no such day"),
    ("words", "yesterday", "not a date"),
    ("ends-before-start", "2024-01-05/2024-01-01", "ends before"),
    ("three-parts", "2024-01-01/2024-01-02/2024-01-03", None),
    ("empty", "", None),
]:
    case(f"acquired-{cid}", tif_ingest("--acquired", value), expect=expect)
case(
    "sidecar-broken-json",
    tif_ingest(sidecar='{"acquired": "2024-01-01"'),
    expect="not valid JSON",
)
case("sidecar-no-such-day", tif_ingest(sidecar='{"acquired": "2024-02-30"}'))
for cid, args, expect in [
    ("coverage-report-future", ["coverage", "report", "-o", "{out}/r.html"], "after today"),
    ("coverage-show-future", ["coverage", "show"], "after today"),
    ("coverage-plan-future", ["coverage", "plan"], "after today"),
    (
        "coverage-sheets-future",
        ["coverage", "sheets", "--scale", "1:2000", "--product", "dlg500", "-o", "{out}/s.gpkg"],
        "after today",
    ),
    ("control-overdue-future", ["control", "overdue"], "after today"),
    ("control-stats-future", ["control", "stats"], "after today"),
    ("catalog-list-future", ["catalog", "list"], "after today"),
]:
    case(
        f"as-of-{cid}",
        cli_args(*args, "--as-of", "2099-01-01", "--workspace", "{ws}"),
        expect=expect,
    )
for cid, args, value in [
    ("coverage-month-13", ["coverage", "show"], "2024-13-01"),
    ("coverage-words", ["coverage", "report", "-o", "{out}/r.html"], "June"),
    ("overdue-words", ["control", "overdue"], "June"),
    ("catalog-garbage", ["catalog", "list"], "20xx-01-01"),
]:
    case(f"as-of-{cid}", cli_args(*args, "--as-of", value, "--workspace", "{ws}"))
for cid, day, expect in [
    ("future", "2099-01-01", "future"),
    ("words", "tomorrow", "not a date"),
    ("no-such-day", "2023-02-29", "no such day"),
]:
    case(
        f"inspection-date-{cid}",
        cli_args(
            "control",
            "inspect",
            "C001",
            "-c",
            "intact",
            "-d",
            day,
            "-i",
            "t",
            "--workspace",
            "{ws}",
        ),
        expect=expect,
    )


# inspection streams (control inspect --from): the first line bad, so nothing is recorded
def inspect_stream(content: bytes | str, name: str = "today.jsonl"):
    def make(folder: Path) -> list:
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return ["control", "inspect", "--from", path, "--workspace", "{ws}"]

    return make


def _line(**changes) -> str:
    record = {"point_id": "C001", "condition": "intact", "date": "2024-05-01", "inspector": "林"}
    record.update(changes)
    return json.dumps({k: v for k, v in record.items() if v is not None}, ensure_ascii=False)


for cid, content, expect in [
    ("truncated-json", '{"point_id": "C001", "condition": "int', "line 1: not JSON"),
    ("csv-line", "C001,intact,2024-05-01,林\n", "line 1: not JSON"),
    ("array", '["C001", "intact"]\n', "not a list"),
    ("gbk", _line(inspector="林工").encode("gbk") + b"\n", "line 1: not UTF-8"),
    ("binary", b"\x00\xff\xfe" * 50, "line 1:"),
    ("nested", "[" * 100_000, "line 1:"),
    ("unknown-key", _line(usabilty="gnss"), "unknown key 'usabilty'"),
    ("number-id", _line(point_id=1001), "point_id must be a string"),
    ("no-inspector", _line(inspector=None), "missing inspector"),
    ("unknown-mark", _line(point_id="C404"), "no control point 'C404'"),
    ("future", _line(date="2099-01-01"), "in the future"),
    ("destroyed-no-photo", _line(condition="毁坏"), "without evidence"),
    ("missing-photo", _line(condition="毁坏", evidence="p.jpg"), "no such file"),
    ("moved-no-new-id", _line(condition="moved"), "needs its new id and position"),
    ("moved-position-nan", _line(condition="moved", new_id="C009", new_position="nan,23.3"),
     "new_position"),
    ("new-id-not-moved", _line(new_id="C009"), "for a moved mark only"),
    ("nan-constant", '{"point_id": "C001", "new_xy": [NaN, 1]}', "not a JSON number"),
    ("huge-line", '{"notes": "' + "x" * (2 << 20) + '"}', "is no inspection record"),
]:  # fmt: skip
    case(f"inspect-stream-{cid}", inspect_stream(content), expect=expect)
case(
    "inspect-stream-folder",
    lambda folder: ["control", "inspect", "--from", folder, "--workspace", "{ws}"],
    expect="is a folder",
)
case(
    "inspect-stream-missing-file",
    lambda folder: ["control", "inspect", "--from", folder / "none.jsonl", "--workspace", "{ws}"],
)
case(
    "inspect-stream-and-point-id",
    lambda folder: ["control", "inspect", "C001", "--from", "-", "--workspace", "{ws}"],
    expect="POINT_ID cannot be given",
)


# geobase.toml
def config_run(*args):
    return cli_args(*args, "--workspace", "{ws}")


INGEST = config_run("ingest", "{in}/ortho.tif", "--acquired", "2024-01-01")


def config_case(cid: str, config, args=None, expect: str | None = None) -> None:
    def make(folder: Path) -> list:
        write_tif(folder / "ortho.tif", width=16, height=16)
        out = (args or INGEST)(folder)
        return [str(a).replace("{in}", str(folder)) for a in out]

    case(f"config-{cid}", make, config=config, expect=expect)


for cid, table, expect in [
    ("resolution-negative", {"resolution": -1}, "resolution = -1"),
    ("resolution-text", {"resolution": "fine"}, "resolution"),
    ("resolution-nan", {"resolution": float("nan")}, "resolution"),
    ("unknown-key", {"resolutoin": 0.2}, "unknown key"),
    ("kind-unknown", {"kind": "lidar"}, "kind"),
    ("cycle-zero", {"update_cycle_years": 0}, "update_cycle_years"),
    ("scale-negative", {"scale": -500}, "scale"),
    ("name-empty", {"name_zh": ""}, "name_zh"),
    ("table-is-number", 5, "products.dom02"),
]:
    config_case(f"products-{cid}", {"products": {"dom02": table}}, expect=expect)
config_case(
    "products-new-without-kind",
    {"products": {"dom9": {"name_zh": "x", "name_en": "x"}}},
    expect="a new product needs",
)
TILES = config_run("tiles", "build", "{in}/ortho.tif", "-o", "{ws}/tiles/t.pmtiles")
for cid, table, expect in [
    ("fill-red", {"jpeg_fill": "red"}, "jpeg_fill"),
    ("fill-two", {"jpeg_fill": [1, 2]}, "jpeg_fill"),
    ("fill-300", {"jpeg_fill": [1, 2, 300]}, "jpeg_fill"),
    ("fill-floats", {"jpeg_fill": [1.5, 2, 3]}, "jpeg_fill"),
    ("block-3", {"block": 3}, "power of two"),
    ("block-0", {"block": 0}, "block"),
    ("block-text", {"block": "8"}, "block"),
    ("max-memory-small", {"max_memory_mb": 64}, "max_memory_mb"),
    ("max-memory-text", {"max_memory_mb": "2GB"}, "max_memory_mb"),
    ("unknown-key", {"jpg_fill": [0, 0, 0]}, "unknown key"),
]:
    config_case(f"tiles-{cid}", {"tiles": table}, TILES, expect=expect)
OVERDUE = config_run("control", "overdue")
EXPORT = config_run("control", "export", "{out}/public.csv", "--public")
for cid, table, args, expect in [
    ("cycle-text", {"inspection_cycle_days": "365"}, OVERDUE, "inspection_cycle_days"),
    ("cycle-zero", {"inspection_cycle_days": 0}, OVERDUE, "inspection_cycle_days"),
    ("cycle-float", {"inspection_cycle_days": 365.5}, OVERDUE, "inspection_cycle_days"),
    ("cycle-bool", {"inspection_cycle_days": True}, OVERDUE, "inspection_cycle_days"),
    ("unknown-key", {"inspection_cycle": 90}, OVERDUE, "unknown key"),
    ("grades-text", {"restricted_grades": "A"}, EXPORT, "restricted_grades"),
    ("grades-unknown", {"restricted_grades": ["Q"]}, EXPORT, "unknown grade codes"),
]:
    config_case(f"control-{cid}", {"control": table}, args, expect=expect)
SHOW = config_run("coverage", "show")
for cid, table, expect in [
    ("bins-descending", {"age_bins": [3, 1]}, "age_bins"),
    ("bins-empty", {"age_bins": []}, "age_bins"),
    ("plan-number", {"plan": 5}, "plan"),
    ("tolerance-high", {"sheet_tolerance": 0.9}, "sheet_tolerance"),
    ("unknown-key", {"plan_file": "x.toml"}, "unknown key"),
]:
    config_case(f"coverage-{cid}", {"coverage": table}, SHOW, expect=expect)
LIST = config_run("catalog", "list")
config_case("top-unknown-key", {"bogus": 1}, LIST, expect="unknown key")
config_case("top-name-empty", {"name": ""}, LIST, expect="name")
config_case("top-crs-number", {"crs": 4548}, LIST, expect="crs")
config_case("top-control-number", {"control": 5}, LIST, expect="control")
config_case("toml-syntax", 'name = "x"\n[products\n', LIST, expect="not valid TOML")
config_case("toml-binary", "\x00\x01name", LIST)
config_case("toml-gbk", "name = '汕头'".encode("gbk"), LIST, expect="not UTF-8")


# point clouds: headers that lie
def las_case(patches: list[tuple[int, str, object]] = (), *, source=None, cut=None, **las_kw):
    def make(folder: Path) -> list:
        if source is not None:
            data = bytearray(source.read_bytes())
            path = folder / source.name
        else:
            kw = {"n": 5, "version": "1.2", "point_format": 1, "gps": (1e8, 1e8 + 10), **las_kw}
            data = bytearray(write_las(folder / "base.las", **kw).read_bytes())
            (folder / "base.las").unlink()
            path = folder / "cloud.las"
        for offset, fmt, value in patches:
            at = offset(data) if callable(offset) else offset
            struct.pack_into(fmt, data, at, value)
        if cut is not None:
            data = data[:cut]
        path.write_bytes(bytes(data))
        return ["ingest", path, "--workspace", "{ws}"]

    return make


for cid, patches, kw, expect in [
    ("version-1.9", [(25, "<B", 9)], {}, "version 1.9"),
    ("version-2.0", [(24, "<B", 2), (25, "<B", 0)], {}, "version 2.0"),
    ("points-4e9", [(107, "<I", 4_000_000_000)], {}, "4,000,000,000 points"),
    ("vlrs-4e9", [(100, "<I", 4_000_000_000)], {}, "variable-length records"),
    ("vlrs-40", [(100, "<I", 40)], {}, "variable-length record"),
    ("record-length-65535", [(105, "<H", 65535)], {}, "bytes"),
    ("record-length-short", [(105, "<H", 10)], {}, "at least 28"),
    ("points-offset-beyond", [(96, "<I", 4_000_000_000)], {}, "puts the points"),
    ("points-offset-inside-header", [(96, "<I", 100)], {}, "puts the points"),
    ("header-size-60000", [(94, "<H", 60000)], {}, "header size"),
    ("header-size-small", [(94, "<H", 100)], {}, "header size"),
    ("point-format-99", [(104, "<B", 99)], {}, "point format"),
    ("signature", [(0, "<4s", b"LASX")], {}, "not a LAS"),
    ("scale-zero", [(131, "<d", 0.0)], {}, "scale"),
    ("scale-nan", [(131, "<d", float("nan"))], {}, "finite"),
    ("offset-inf", [(155, "<d", float("inf"))], {}, "finite"),
    ("bounds-nan", [(179, "<d", float("nan"))], {}, "finite"),
    ("bounds-min-above-max", [(187, "<d", 1e12)], {}, "above maximum"),
    (
        "las14-counts-differ",
        [(107, "<I", 7)],
        {"version": "1.4", "point_format": 1},
        "two point counts",
    ),
    (
        "las14-evlrs-4e9",
        [(243, "<I", 4_000_000_000)],
        {"version": "1.4", "point_format": 6},
        "extended VLRs",
    ),
    (
        "las14-points-2e19",
        [(247, "<Q", 2**63)],
        {"version": "1.4", "point_format": 6},
        "points",
    ),
]:
    case(f"las-{cid}", las_case(patches, **kw), expect=expect)
case("las-cut-in-header", las_case(cut=200), expect="cut short")
case("las-cut-in-points", las_case(cut=-20), expect="follow the header")
case("las-zero-bytes", lambda folder: ["ingest", _touch(folder / "e.las"), "--workspace", "{ws}"])
case(
    "las-text",
    lambda folder: [
        "ingest",
        _text(folder / "notes.las", "x,y,z\n1,2,3\n"),
        "--workspace",
        "{ws}",
    ],
)


def _touch(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def _text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def real_las(name: str, patches=(), cut=None):
    def make(folder: Path) -> list:
        from tests.conftest import REAL_DATA

        return las_case(list(patches), source=REAL_DATA / name, cut=cut)(folder)

    return make


case("laz-real-points-4e12", real_las("simple.laz", [(107, "<I", 4_000_000_000)]))


def _points_at(data: bytearray) -> int:
    return struct.unpack_from("<I", data, 96)[0]


def _first_vlr_length_at(data: bytearray) -> int:
    return struct.unpack_from("<H", data, 94)[0] + 20


case("laz-real-chunk-table-beyond", real_las("simple.laz", [(_points_at, "<q", 1 << 40)]))
case("laz-real-truncated", real_las("simple.laz", cut=4000))
case("las-real-truncated", real_las("simple.las", cut=9000))
case("laz-real-vlr-length", real_las("simple.laz", [(_first_vlr_length_at, "<H", 65535)]))


# rasters
def raster_file(name: str, content: Callable[[Path], None] | bytes):
    def make(folder: Path) -> list:
        path = folder / name
        if callable(content):
            content(path)
        else:
            path.write_bytes(content)
        return ["ingest", path, "--acquired", "2024-01-01", "--workspace", "{ws}"]

    return make


def _copy_real(name: str, cut: int | None = None):
    def write(path: Path) -> None:
        from tests.conftest import REAL_DATA

        data = (REAL_DATA / name).read_bytes()
        path.write_bytes(data[:cut] if cut else data)

    return write


def _huge_header(path: Path) -> None:
    # a valid TIFF header and IFD stating a 100000 x 100000 image, without its pixels
    entries = [
        (256, 4, 1, 100_000),  # width
        (257, 4, 1, 100_000),  # height
        (258, 3, 1, 8),  # bits per sample
        (259, 3, 1, 8),  # deflate
        (262, 3, 1, 1),  # black is zero
        (273, 4, 1, 0),  # strip offset 0: sparse
        (277, 3, 1, 1),
        (278, 4, 1, 100_000),
        (279, 4, 1, 0),
    ]
    body = struct.pack("<2sHI", b"II", 42, 8) + struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        body += struct.pack("<HHII", tag, typ, count, value)
    path.write_bytes(body + struct.pack("<I", 0))


case("tif-zero-bytes", raster_file("ortho.tif", b""))
case("tif-text", raster_file("ortho.tif", b"this is no image\n" * 10))
case("tif-wrong-magic", raster_file("ortho.tif", b"MM\x00\x2b" + b"\x00" * 400))
case("tif-real-corrupt", raster_file("corrupt.tif", _copy_real("corrupt.tif")))
case("tif-real-truncated", raster_file("rgb.tif", _copy_real("RGB.byte.tif", cut=400_000)))
case("tif-header-lies", raster_file("huge.tif", _huge_header))
case(
    "tif-no-crs",
    raster_file("nocrs.tif", lambda p: write_tif(p, width=16, height=16, crs=None)),
    expect="--crs",
)
case(
    "tif-no-georeference",
    raster_file("plain.tif", lambda p: write_tif(p, width=16, height=16, georeferenced=False)),
    expect="georeferencing",
)
case(
    "ingest-missing-path",
    lambda folder: ["ingest", folder / "nothing.tif", "--workspace", "{ws}"],
)
case("ingest-unknown-product", tif_ingest("--product", "dom9", "--acquired", "2024-01-01"))
case("ingest-unknown-crs", tif_ingest("--crs", "EPSG:0", "--acquired", "2024-01-01"))


# SRTM tiles: the name gives the extent, the size the grid (SRTM3: 1201 x 1201 int16)
SRTM3 = b"\x00\x64" * (1201 * 1201)


def srtm_file(name: str, data: bytes, member: str | None = None, cut: int | None = None):
    def make(folder: Path) -> list:
        path = folder / name
        if member is None:
            path.write_bytes(data)
        else:
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(member, data)
        if cut is not None:
            path.write_bytes(path.read_bytes()[:cut])
        return ["ingest", path, "--workspace", "{ws}"]

    return make


case("srtm-renamed", srtm_file("shantou_dem.hgt", SRTM3), expect="named by its tile")
case("srtm-truncated", srtm_file("N23E116.hgt", SRTM3[:-4096]), expect="no SRTM grid")
case("srtm-zip-not-zip", srtm_file("N23E116.hgt.zip", SRTM3), expect="not a zip archive")
case(
    "srtm-zip-other-tile",
    srtm_file("N24E116.hgt.zip", SRTM3, member="N23E116.hgt"),
    expect="N24E116.hgt",
)
case(
    "srtm-zip-cut",
    srtm_file("N23E116.hgt.zip", SRTM3, member="N23E116.hgt", cut=2000),
    expect="cannot be read",
)


# 3D tiles and other deliveries
def tileset(text: str):
    def make(folder: Path) -> list:
        (folder / "model").mkdir()
        (folder / "model" / "tileset.json").write_text(text, encoding="utf-8")
        return ["ingest", folder / "model", "--acquired", "2024-01-01", "--workspace", "{ws}"]

    return make


case("tileset-broken-json", tileset('{"asset":'), expect="not valid JSON")
case(
    "tileset-nan-region",
    tileset(
        '{"asset":{"version":"1.0"},"geometricError":1,"root":{"geometricError":1,'
        '"boundingVolume":{"region":[NaN,0.4,2.0,0.41,0,10]}}}'
    ),
)
case("tileset-empty-object", tileset("{}"))
case(
    "crs-transform-nan-csv",
    lambda folder: [
        "crs",
        "transform",
        _text(folder / "pts.csv", "id,lon,lat\n1,nan,23.3\n2,116.6,inf\n"),
        "{out}/o.csv",
        "--from",
        "EPSG:4490",
        "--to",
        "EPSG:4548",
    ],
)


case(
    "crs-transform-nan-geojson",
    lambda folder: [
        "crs",
        "transform",
        _text(
            folder / "marks.geojson",
            geojson_text(_point_feature("[116.6, 23.3]"), _point_feature("[NaN, 23.3]")),
        ),
        "{out}/marks.geojson",
        "--to",
        "EPSG:4548",
    ],
    expect="feature 2 has coordinates that are not finite",
)


# vector deliveries
def vector_file(name: str, text: str, *extra):
    def make(folder: Path) -> list:
        path = folder / name
        path.write_text(text, encoding="utf-8")
        return ["ingest", path, "--acquired", "2024-01-01", *extra, "--workspace", "{ws}"]

    return make


def _polygon_geojson(ring: str, crs: str = "EPSG::4548") -> str:
    return (
        '{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:'
        + crs
        + '"}},"features":[{"type":"Feature","properties":{"a":1},"geometry":'
        + '{"type":"Polygon","coordinates":[['
        + ring
        + "]]}}]}"
    )


E, N = EAST0, NORTH0
SQUARE = f"[{E},{N}],[{E + 50},{N}],[{E + 50},{N + 50}],[{E},{N + 50}],[{E},{N}]"
BOWTIE = f"[{E},{N}],[{E + 50},{N + 50}],[{E + 50},{N}],[{E},{N + 50}],[{E},{N}]"
for cid, text, expect in [
    ("nan", _polygon_geojson(SQUARE.replace(f"[{E + 50},{N}]", "[NaN,2584000]", 1)), None),
    ("infinity", _polygon_geojson(SQUARE.replace(f"[{E + 50},{N}]", "[Infinity,1]", 1)), None),
    ("self-intersecting", _polygon_geojson(BOWTIE), "invalid geometry"),
    ("broken-json", '{"type":"FeatureCollection","features":[', None),
    ("empty-collection", '{"type":"FeatureCollection","features":[]}', None),
    (
        "two-point-ring",
        _polygon_geojson(f"[{E},{N}],[{E + 5},{N}],[{E},{N}]"),
        "invalid geometry",
    ),
]:
    case(f"vector-{cid}", vector_file("map.geojson", text), expect=expect)
case("vector-zero-bytes", vector_file("map.geojson", ""))


# districts, --polygon, --area and emergency area files
def area_case(command: Callable[[Path], list], text: str):
    def make(folder: Path) -> list:
        path = folder / "area.geojson"
        path.write_text(text, encoding="utf-8")
        return [str(a).replace("{file}", str(path)) for a in command(folder)]

    return make


LONLAT_SQUARE = "[116.6,23.3],[116.7,23.3],[116.7,23.4],[116.6,23.4],[116.6,23.3]"
LONLAT_BOWTIE = "[116.6,23.3],[116.7,23.4],[116.7,23.3],[116.6,23.4],[116.6,23.3]"
AREA_FILES = [
    ("nan", _polygon_geojson(LONLAT_SQUARE.replace("[116.7,23.3]", "[NaN,23.3]", 1), "EPSG::4490")),
    (
        "infinity",
        _polygon_geojson(LONLAT_SQUARE.replace("[116.7,23.4]", "[116.7,Infinity]"), "EPSG::4490"),
    ),
    ("bowtie", _polygon_geojson(LONLAT_BOWTIE, "EPSG::4490")),
]
for who, command in [
    ("districts", cli_args("districts", "load", "{file}", "--workspace", "{ws}")),
    ("polygon", cli_args("control", "search", "--polygon", "{file}", "--workspace", "{ws}")),
    (
        "sheets-area",
        cli_args("sheets", "grid", "-s", "1:10000", "--area", "{file}", "-o", "{out}/g.gpkg"),
    ),
    ("emergency", cli_args("emergency", "{file}", "-o", "{out}/package", "--workspace", "{ws}")),
]:
    for cid, text in AREA_FILES:
        case(f"area-{who}-{cid}", area_case(command, text))
case(
    "area-districts-zero-bytes",
    area_case(cli_args("districts", "load", "{file}", "--workspace", "{ws}"), ""),
)
case(
    "area-districts-null-geometry",
    area_case(
        cli_args("districts", "load", "{file}", "--workspace", "{ws}"),
        '{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":'
        '"urn:ogc:def:crs:EPSG::4490"}},"features":[{"type":"Feature","properties":'
        '{"name":"A区"},"geometry":null},{"type":"Feature","properties":{"name":"B区"},'
        '"geometry":{"type":"Polygon","coordinates":[[' + LONLAT_SQUARE + "]]}}]}",
    ),
)


# other input paths: CRS names, parameter files, zooms, plans, ids, workspaces
for cid, make in [
    ("crs-info-epsg-0", cli_args("crs", "info", "EPSG:0")),
    ("crs-info-zone-99", cli_args("crs", "info", "gk3:99")),
    (
        "crs-fit-no-columns",
        lambda folder: [
            "crs",
            "fit",
            _text(folder / "common.csv", "id,x1,y1\n1,1,2\n"),
            "--model",
            "7p",
            "--from",
            "EPSG:4490",
            "--to",
            "EPSG:4548",
            "-o",
            "{out}/p.json",
        ],
    ),
    (
        "crs-apply-broken-parameters",
        lambda folder: [
            "crs",
            "apply",
            _text(folder / "p.json", '{"model": "7p", "parameters": ['),
            _text(folder / "pts.csv", "id,lon,lat\n1,116.6,23.3\n"),
            "{out}/o.csv",
        ],
    ),
    (
        "height-missing-grid",
        lambda folder: [
            "height",
            _text(folder / "pts.csv", "id,lon,lat,h\n1,116.6,23.3,10\n"),
            "{out}/h.csv",
            "--geoid",
            folder / "nope.gtx",
        ],
    ),
    (
        "coverage-plan-broken",
        lambda folder: [
            "coverage",
            "report",
            "--plan",
            _text(folder / "plan.toml", "[targets\n"),
            "-o",
            "{out}/r.html",
            "--workspace",
            "{ws}",
        ],
    ),
    ("control-show-unknown", cli_args("control", "show", "NOPE", "--workspace", "{ws}")),
    (
        "control-datasheet-unknown",
        cli_args("control", "datasheet", "NOPE", "-o", "{out}/x.html", "--workspace", "{ws}"),
    ),
    ("control-export-suffix", cli_args("control", "export", "{out}/x.dat", "--workspace", "{ws}")),
    ("catalog-show-unknown", cli_args("catalog", "show", "nope", "--workspace", "{ws}")),
    ("store-copy-from-nowhere", cli_args("store", "copy", "{out}/nowhere", "{out}/x")),
    ("workspace-missing", cli_args("catalog", "list", "--workspace", "{out}/no-workspace")),
]:
    case(cid, make)
for cid, limit in [("below-one-worker", "300"), ("tiny", "10")]:
    case(
        f"tiles-max-memory-{cid}",
        lambda folder, limit=limit: [
            "tiles",
            "build",
            write_tif(folder / "t.tif", width=16, height=16),
            "--max-memory",
            limit,
            "-o",
            "{ws}/tiles/m.pmtiles",
            "--workspace",
            "{ws}",
        ],
    )
for cid, zoom in [("reversed", "5-2"), ("letters", "abc"), ("beyond", "0-40")]:
    case(
        f"tiles-zoom-{cid}",
        lambda folder, zoom=zoom: [
            "tiles",
            "build",
            write_tif(folder / "t.tif", width=16, height=16),
            "--zoom",
            zoom,
            "-o",
            "{ws}/tiles/z.pmtiles",
            "--workspace",
            "{ws}",
        ],
    )


# names and paths
case(
    "path-dataset-id-escapes",
    tif_ingest("--acquired", "2024-01-01", "--dataset-id", "../../../escaped"),
)
case(
    "path-pyramid-name-escapes",
    lambda folder: [
        "tiles",
        "build",
        write_tif(folder / "t.tif", width=16, height=16),
        "-o",
        "{ws}/tiles/p.pmtiles",
        "--name",
        "../../evil",
        "--workspace",
        "{ws}",
    ],
)
case(
    "path-remove-escapes",
    cli_args("catalog", "remove", "../../../x", "--purge", "--workspace", "{ws}"),
)
case(
    "path-output-folder-missing",
    cli_args(
        "sheets", "grid", "-s", "1:10000", "--area", str(DISTRICTS), "-o", "{out}/no/such/g.gpkg"
    ),
)


# --- acceptance checks (geobase qc, ingest --qc) -----------------------------------------


def qc_run(name: str, content, *extra, product: str = "dom02"):
    """``geobase qc FILE --product P`` on a file written by ``content`` (a writer or bytes)."""

    def make(folder: Path) -> list:
        path = folder / name
        if callable(content):
            content(path)
        else:
            path.write_bytes(content)
        return ["qc", path, "--product", product, *extra, "--workspace", "{ws}"]

    return make


def _small_tif(path: Path) -> None:
    write_tif(path, width=16, height=16)


case("qc-missing-file", lambda folder: ["qc", folder / "none.tif", "--product", "dom02"])
case("qc-unknown-product", qc_run("o.tif", _small_tif, product="dom9"), expect="unknown product")
case(
    "qc-product-of-another-kind",
    qc_run("p.las", lambda p: write_las(p), product="dom02"),
    expect="product dom02 is imagery",
)
case(
    "qc-product-without-checks",
    qc_run("o.tif", _small_tif, product="model3d"),
    expect="no acceptance checks",
)
case(
    "qc-report-suffix",
    qc_run("o.tif", _small_tif, "-o", "{out}/report.txt"),
    expect="expected a .html report",
)
case("qc-unknown-crs", qc_run("o.tif", _small_tif, "--crs", "EPSG:0"))
case("qc-bad-acquired", qc_run("p.las", lambda p: write_las(p), "--acquired", "2024-13-01"))
case("qc-real-corrupt", qc_run("corrupt.tif", _copy_real("corrupt.tif")))
case("qc-truncated-las", qc_run("t.laz", _copy_real("simple.laz", cut=2000), product="pointcloud"))
case("qc-empty-vector", qc_run("v.gpkg", b"", product="dlg500"), expect="empty")
case(
    "qc-config-unknown-key",
    qc_run("o.tif", _small_tif),
    config={"qc": {"dom02": {"hole_area": 10}}},
    expect="[qc.dom02] hole_area: unknown key",
)
case(
    "qc-config-bad-value",
    qc_run("o.tif", _small_tif),
    config={"qc": {"dom02": {"hole_min_area_m2": -1}}},
    expect="[qc.dom02] hole_min_area_m2",
)
case(
    "qc-config-missing-schema",
    qc_run("v.gpkg", lambda p: _vector(p), product="dlg500"),
    config={"qc": {"dlg500": {"schema": "no_such_codes.json"}}},
    expect="code-list schema",
)
case(
    "ingest-qc-without-product",
    tif_ingest("--qc", "--acquired", "2024-01-01"),
    expect="--qc needs --product",
)
case(
    "ingest-accept-defects-without-qc",
    tif_ingest("--accept-defects", "ok", "--acquired", "2024-01-01"),
    expect="--accept-defects goes with --qc",
)
case(
    "ingest-accept-defects-empty-reason",
    tif_ingest("--qc", "--product", "dom05", "--accept-defects", " "),
    expect="reason",
)


def _serve_changes(content) -> Callable[[Path], list]:
    """``geobase serve --changes FILE`` with FILE written by ``content`` (bytes or a
    function of the path)."""

    def make(folder: Path) -> list:
        path = folder / "changes.gpkg"
        content(path) if callable(content) else path.write_bytes(content)
        return ["serve", "--workspace", "{ws}", "--changes", path]

    return make


case("serve-changes-not-a-geopackage", _serve_changes(b"GIF89a"), expect="not a readable")
case(
    "serve-changes-no-changes-layer",
    _serve_changes(lambda p: _vector(p)),
    expect="no 'changes' layer",
)


def _vector(path: Path) -> None:
    import geopandas as gpd
    import shapely

    gpd.GeoDataFrame(
        {"GB": ["310301"]},
        geometry=[shapely.box(EAST0, NORTH0, EAST0 + 10, NORTH0 + 10)],
        crs="EPSG:4548",
    ).to_file(path, layer="RESA", driver="GPKG")


def test_corpus_size():
    assert len(CASES) >= 150, len(CASES)
    assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"


def _params():
    for c in CASES:
        marks = list(c.marks)
        if c.xfail:
            marks.append(pytest.mark.xfail(strict=False, reason=c.xfail))
        yield pytest.param(c, id=c.id, marks=marks)


def _write_config(ws: Path, original: str, config) -> None:
    if isinstance(config, bytes):
        (ws / "geobase.toml").write_bytes(config)
        return
    if isinstance(config, str):
        (ws / "geobase.toml").write_text(config, encoding="utf-8")
        return
    data = tomllib.loads(original)
    for key, value in config.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    (ws / "geobase.toml").write_text(tomli_w.dumps(data), encoding="utf-8")


@pytest.mark.parametrize("bad", list(_params()))
def test_bad_input(env, bad: Case):
    ws, root = env["ws"], env["root"]
    folder = root / "in" / bad.id
    folder.mkdir()
    out = root / "out"
    original = (ws / "geobase.toml").read_text(encoding="utf-8")
    args = [str(a).replace("{ws}", str(ws)).replace("{out}", str(out)) for a in bad.make(folder)]
    try:
        if bad.config is not None:
            _write_config(ws, original, bad.config)
        before = _snapshot(ws, folder, out)
        counts = _row_counts(ws)
        start = time.perf_counter()
        result = CliRunner().invoke(cli, args)
        elapsed = time.perf_counter() - start
        after = _snapshot(ws, folder, out)
    finally:
        (ws / "geobase.toml").write_text(original, encoding="utf-8")
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
    text = result.stdout + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{type(result.exception).__name__}: {result.exception}"
    )
    assert "Traceback" not in text
    assert result.exit_code == bad.code, result.stderr
    lines = _error_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.stderr
    if bad.expect is not None:
        assert bad.expect in lines[0], lines[0]
    assert after == before, "files written or changed"
    assert _row_counts(ws) == counts, "something was recorded"
    assert elapsed < MAX_SECONDS, f"{elapsed:.1f} s"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert rss - env["rss_mb"] < MAX_RSS_GROWTH_MB, f"peak memory grew {rss - env['rss_mb']:.0f} MB"
