"""``geobase control inspect --from FILE|-``: a stream of inspections, one JSON object a line,
each recorded in its own transaction and acknowledged on stdout (issue 17 item 8)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geobase.control.inspection_stream import (
    KEYS,
    InspectionEntry,
    parse_line,
)
from geobase.control.inspections import inspection_history
from geobase.control.registry import get_point
from geobase.errors import InspectionError
from tests.conftest import run_cli
from tests.control_helpers import three_marks

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def ws(workspace, tmp_path):
    return three_marks(workspace, tmp_path)


def rows(ws) -> list[tuple]:
    with ws.store.read() as tx:
        return [
            (r["point_id"], r["inspected_on"], r["inspector"], r["condition"], r["notes"])
            for r in tx.query(
                "SELECT point_id, inspected_on, inspector, condition, notes "
                "FROM control_inspections ORDER BY fid"
            )
        ]


def jsonl(*records: dict | str) -> str:
    return "".join(
        (r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records
    )


def stream(ws, text: str | bytes, *extra: str):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return run_cli(
        ["control", "inspect", "--from", "-", "--workspace", ws.root, *extra], input=data
    )


GOOD = [
    {"point_id": "C001", "condition": "完好", "date": "2024-05-01", "inspector": "林工"},
    {
        "点号": "C002",
        "状况": "damaged",
        "巡查日期": "2024-05-02",
        "巡查人": "陈志强",
        "可用性": "水准",
        "备注": "标石松动，北侧 1.2 m 处有施工",
    },
    {"point_id": "L001", "condition": "not found", "date": "2024-05-03", "inspector": "黄"},
]


def test_a_file_is_recorded_line_by_line_with_chinese_text_and_evidence(ws, tmp_path, monkeypatch):
    folder = tmp_path / "field"
    folder.mkdir()
    (folder / "p1.jpg").write_bytes(b"\xff\xd8\xff synthetic photo one")
    records = [
        *GOOD[:2],
        {
            "point_id": "L001",
            "condition": "destroyed",
            "date": "2024-05-03",
            "inspector": "黄",
            "evidence": ["p1.jpg"],  # relative to the file's folder
            "notes": "道路拓宽，标石已毁",
        },
    ]
    path = folder / "today.jsonl"
    path.write_text(jsonl(*records), encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = run_cli(["control", "inspect", "--from", path, "--workspace", ws.root])
    assert result.exit_code == 0, result.stderr
    acks = result.stdout.splitlines()
    assert len(acks) == 3 and acks[0].startswith("line 1: recorded C001 2024-05-01 intact")
    assert "line 3: recorded L001 2024-05-03 destroyed" in acks[2] and "1 evidence" in acks[2]
    assert "3 inspection(s) recorded" in result.stderr
    assert rows(ws) == [
        ("C001", "2024-05-01", "林工", "intact", None),
        ("C002", "2024-05-02", "陈志强", "damaged", "标石松动，北侧 1.2 m 处有施工"),
        ("L001", "2024-05-03", "黄", "destroyed", "道路拓宽，标石已毁"),
    ]
    [last] = inspection_history(ws, "L001")
    assert (
        last.evidence[0].original_name == "p1.jpg" and (ws.root / last.evidence[0].path).is_file()
    )
    assert inspection_history(ws, "C002")[0].usability == "levelling"


@pytest.mark.both_stores
def test_stdin_with_json_acknowledgements(ws):
    result = stream(ws, "\ufeff" + jsonl(*GOOD) + "\n  \n", "--format", "json")
    assert result.exit_code == 0, result.stderr
    acks = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(a["line"], a["point_id"], a["date"], a["condition"]) for a in acks] == [
        (1, "C001", "2024-05-01", "intact"),
        (2, "C002", "2024-05-02", "damaged"),
        (3, "L001", "2024-05-03", "not_found"),
    ]
    assert acks[1]["inspector"] == "陈志强" and acks[1]["usability"] == "levelling"
    assert [a["inspection"] for a in acks] == [r.fid for r in _history(ws)]


def _history(ws):
    return [i for p in ("C001", "C002", "L001") for i in inspection_history(ws, p)]


def test_an_empty_stream_records_nothing(ws):
    result = stream(ws, "")
    assert result.exit_code == 0 and result.stdout == ""
    assert "0 inspection(s) recorded from stdin" in result.stderr
    assert rows(ws) == []


@pytest.mark.both_stores
def test_a_bad_line_stops_the_stream_earlier_lines_stay(ws, tmp_path):
    photo = tmp_path / "p.jpg"
    photo.write_bytes(b"\xff\xd8\xff synthetic")
    bad = {
        "point_id": "C404",
        "condition": "destroyed",
        "date": "2024-05-04",
        "inspector": "林",
        "evidence": str(photo),
    }
    result = stream(ws, jsonl(GOOD[0], GOOD[1], bad, GOOD[2]))
    assert result.exit_code == 2
    assert len(result.stdout.splitlines()) == 2  # acknowledged: recorded
    assert "line 3: no control point 'C404'" in result.stderr
    assert "2 inspection(s) recorded from stdin (lines 1-2) before the stream stopped" in (
        result.stderr
    )
    assert [r[0] for r in rows(ws)] == ["C001", "C002"]
    assert not (ws.root / "evidence" / "control" / "C404").exists()


def test_evidence_of_a_refused_line_is_not_left_behind(ws, tmp_path):
    photo = tmp_path / "p.jpg"
    photo.write_bytes(b"\xff\xd8\xff synthetic")
    line = {"point_id": "C001", "condition": "intact", "date": "2024-05-01", "inspector": "林"}
    moved = {**line, "condition": "moved", "new_id": "C002", "new_position": [116.68, 23.35],
             "evidence": [str(photo)]}  # fmt: skip
    result = stream(ws, jsonl(line, moved))
    assert result.exit_code == 2 and "line 2: new id 'C002' is already in the registry" in (
        result.stderr
    )
    assert len(rows(ws)) == 1
    assert list((ws.root / "evidence").rglob("*.jpg")) == []


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"point_id": "C001", "condition": "intact"', "line 2: not JSON"),
        ('["C001", "intact"]', "line 2: a line must be one JSON object, not a list"),
        ('{"point_id": "C001", "condition": "intact", "date": "2024-01-01"}', "missing inspector"),
        (
            '{"point_id": "C001", "condition": "intact", "date": "2024-01-01", "inspector": "x", '
            '"usabilty": "gnss"}',
            "unknown key 'usabilty'",
        ),
        (
            '{"point_id": "C001", "condition": "intact", "date": "2024-01-01", "inspector": "x", '
            '"notes": "a", "备注": "b"}',
            "keys 'notes' and '备注' both give notes",
        ),
        (
            '{"point_id": 1001, "condition": "intact", "date": "2024-01-01", "inspector": "x"}',
            'point_id must be a string, not int 1001 (write "1001")',
        ),
        (
            '{"point_id": "C001", "condition": "fine", "date": "2024-01-01", "inspector": "x"}',
            "unknown condition 'fine'",
        ),
        (
            '{"point_id": "C001", "condition": "intact", "date": "2099-01-01", "inspector": "x"}',
            "in the future",
        ),
        (
            '{"point_id": "C001", "condition": "moved", "date": "2024-01-01", "inspector": "x"}',
            "a moved mark needs its new id and position",
        ),
        (
            '{"point_id": "C001", "condition": "intact", "date": "2024-01-01", "inspector": "x", '
            '"new_id": "C009"}',
            "is for a moved mark only",
        ),
        (
            '{"point_id": "C001", "condition": "moved", "date": "2024-01-01", "inspector": "x", '
            '"new_id": "C009", "new_position": "23.35,200"}',
            "outside the globe",
        ),
    ],
)
def test_bad_lines_are_named_and_record_nothing(ws, line, message):
    result = stream(ws, jsonl(GOOD[0], line, GOOD[1]))
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr and "line 2" in result.stderr, result.stderr
    assert [r[0] for r in rows(ws)] == ["C001"]


def test_a_gbk_line_is_refused_with_its_number(ws):
    line = jsonl({"point_id": "C001", "condition": "完好", "date": "2024-01-01", "inspector": "林"})
    result = stream(ws, jsonl(GOOD[1]).encode() + line.encode("gbk"))
    assert result.exit_code == 2 and "line 2: not UTF-8" in result.stderr
    assert len(rows(ws)) == 1


def test_a_moved_mark_in_a_stream(ws):
    moved = {"point_id": "C001", "condition": "移动", "date": "2024-06-01", "inspector": "林",
             "new_id": "C001A", "new_position": [116.6825, 23.3542]}  # fmt: skip
    result = stream(ws, jsonl(moved))
    assert result.exit_code == 0, result.stderr
    assert "new mark C001A" in result.stdout
    assert get_point(ws, "C001A").replaces == "C001"
    assert get_point(ws, "C001").replaced_by == "C001A"


@pytest.mark.parametrize(
    "args, message",
    [
        (["C001", "--from", "-"], "POINT_ID cannot be given"),
        (["--from", "-", "-c", "intact", "-i", "x"], "--condition, --inspector cannot be given"),
        (["--from", "-", "--source", "adjusted"], "--source cannot be given"),
        (["C001", "-c", "intact"], "missing --date, --inspector (or --from FILE"),
        ([], "missing POINT_ID, --condition, --date, --inspector"),
    ],
)
def test_from_and_the_single_record_options_exclude_each_other(ws, args, message):
    result = run_cli(["control", "inspect", *args, "--workspace", ws.root], input=jsonl(GOOD[0]))
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert rows(ws) == []


def test_two_stream_writers_at_once_on_one_geopackage(ws, tmp_path):
    ws.close()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = "from geobase.cli import main; main()"
    procs = []
    for w in range(2):
        lines = jsonl(
            *(
                {"point_id": ("C001", "C002", "L001")[k % 3], "condition": "intact",
                 "date": f"2024-{1 + k % 12:02d}-01", "inspector": f"写{w}", "notes": f"{w}-{k}"}
                for k in range(25)
            )
        )  # fmt: skip
        proc = subprocess.Popen(
            [sys.executable, "-c", code, "control", "inspect", "--from", "-", "--workspace",
             str(ws.root)], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        procs.append((proc, lines.encode()))
    for proc, data in procs:
        out, err = proc.communicate(data, timeout=300)
        assert proc.returncode == 0, err.decode()
        assert len(out.decode().splitlines()) == 25
    from geobase.store import Workspace

    with Workspace.open(ws.root) as again:
        notes = {r[4] for r in rows(again)}
    assert notes == {f"{w}-{k}" for w in range(2) for k in range(25)}


# --- the line parser ---------------------------------------------------------------------------

text = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=20).filter(
    lambda s: s.strip() == s and s.strip()
)
ALIASES = {
    "point_id": ["point_id", "点号", "编号", "id"],
    "condition": ["condition", "状况", "标志状况"],
    "date": ["date", "巡查日期", "inspected_on"],
    "inspector": ["inspector", "巡查人"],
    "usability": ["usability", "可用性"],
    "notes": ["notes", "备注"],
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.fixed_dictionaries(
        {k: text for k in ("point_id", "condition", "date", "inspector")},
        optional={"usability": text, "notes": text},
    ),
    spelling=st.data(),
    evidence=st.lists(text.filter(lambda s: ";" not in s and "；" not in s), max_size=3),
    ascii_only=st.booleans(),
)
def test_parse_line_round_trips_what_a_script_writes(values, spelling, evidence, ascii_only):
    record = {spelling.draw(st.sampled_from(ALIASES[k])): v for k, v in values.items()}
    if evidence:
        record["evidence"] = evidence
    entry = parse_line(json.dumps(record, ensure_ascii=ascii_only))
    assert entry == InspectionEntry(**values, evidence=tuple(evidence))


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=80), st.dictionaries(st.sampled_from([*KEYS, "x", "点号"]),
       st.one_of(st.none(), st.integers(), st.text(max_size=10), st.lists(st.floats()))).map(
       json.dumps)))  # fmt: skip
def test_parse_line_refuses_with_an_inspection_error_only(line):
    try:
        entry = parse_line(line)
    except InspectionError:
        return
    assert entry is None or isinstance(entry, InspectionEntry)
    if entry is not None:
        assert all(
            getattr(entry, k).strip() for k in ("point_id", "condition", "date", "inspector")
        )
