"""Inspections: append-only history, evidence, moved marks, overdue, stats, concurrency."""

from __future__ import annotations

import datetime as dt
import hashlib
import multiprocessing

import pytest

from geobase.control.health import district_stats, overdue
from geobase.control.inspection_import import import_inspections
from geobase.control.inspections import (
    current_status,
    inspection_history,
    record_inspection,
    record_move,
)
from geobase.control.registry import get_point, search
from geobase.errors import (
    EvidenceRequired,
    InspectionError,
    NotFoundError,
    SourceReadError,
    ValidationError,
)
from tests.conftest import INTEGRITY_ERRORS, run_cli
from tests.control_helpers import three_marks, write_csv

WORKERS = 8
PER_WORKER = 200


@pytest.fixture
def ws(workspace, tmp_path):
    return three_marks(workspace, tmp_path)


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"\xff\xd8\xff synthetic jpeg bytes")
    return path


def inspections_count(ws):
    with ws.store.read() as tx:
        return tx.scalar("SELECT count(*) FROM control_inspections")


def test_history_is_append_only_and_status_is_derived(ws):
    record_inspection(ws, "C001", date="2023-05-01", inspector="林", condition="完好")
    record_inspection(
        ws, "C001", date="2024-05-01", inspector="陈", condition="damaged", usability="gnss"
    )
    # an inspection recorded later but dated earlier does not become the current status
    record_inspection(ws, "C001", date="2022-05-01", inspector="黄", condition="intact")
    history = inspection_history(ws, "C001")
    assert [i.inspected_on.year for i in history] == [2022, 2023, 2024]
    assert history[1].usability == "gnss"  # intact C-grade point without a levelling grade
    assert current_status(ws, "C001") == {
        "condition": "damaged",
        "usability": "gnss",
        "last_inspected": dt.date(2024, 5, 1),
        "inspections": 3,
    }
    assert (
        record_inspection(
            ws, "L001", date="2024-01-01", inspector="x", condition="intact"
        ).usability
        == "levelling"
    )
    with ws.store.transaction() as tx, pytest.raises(INTEGRITY_ERRORS, match="append-only"):
        tx.execute("UPDATE control_inspections SET condition = 'intact'")
    with ws.store.transaction() as tx, pytest.raises(INTEGRITY_ERRORS, match="append-only"):
        tx.execute("DELETE FROM control_inspections")


def test_evidence_is_copied_with_its_checksum(ws, photo):
    inspection = record_inspection(
        ws, "C002", date="2024-03-01", inspector="林", condition="毁坏", evidence=[photo]
    )
    (evidence,) = inspection.evidence
    stored = ws.root / evidence.path
    assert stored.read_bytes() == photo.read_bytes()
    assert evidence.sha256 == hashlib.sha256(photo.read_bytes()).hexdigest()
    assert evidence.original_name == "photo.jpg" and inspection.usability == "none"
    assert inspection_history(ws, "C002")[0].evidence == (evidence,)
    assert list(search(ws, usability="unusable")["point_id"]) == ["C002"]


# --- the bad-input corpus for inspections: each refused, nothing written ----------------


@pytest.mark.parametrize(
    ("point_id", "changes", "error", "message"),
    [
        ("C001", {"condition": "destroyed"}, EvidenceRequired, "record it as 'not found'"),
        ("C001", {"date": "2999-01-01"}, InspectionError, "in the future"),
        ("NOPE", {}, NotFoundError, "no control point 'NOPE'"),
        ("C001", {"date": "2010-01-01"}, InspectionError, "before the mark was established"),
        ("C001", {"condition": "damaged"}, InspectionError, "usable for"),
        (
            "C001",
            {"condition": "not found", "usability": "gnss"},
            InspectionError,
            "usable for nothing",
        ),
        ("C001", {"condition": "sunk"}, InspectionError, "unknown condition"),
        ("C001", {"inspector": " "}, InspectionError, "inspector"),
        ("C001", {"date": "2024-13-01"}, ValidationError, "no such day"),
        ("C001", {"evidence": ["/no/such/photo.jpg"]}, SourceReadError, "no such file"),
    ],
)
def test_bad_inspections_are_refused(ws, point_id, changes, error, message):
    args = {"date": "2024-01-01", "inspector": "林", "condition": "intact", **changes}
    with pytest.raises(error, match=message):
        record_inspection(ws, point_id, **args)
    assert inspections_count(ws) == 0
    cli = ["control", "inspect", point_id, "--workspace", ws.root]
    cli += [
        "--date",
        args["date"],
        "--inspector",
        args["inspector"],
        "--condition",
        args["condition"],
    ]
    if "usability" in changes:
        cli += ["--usability", changes["usability"]]
    for evidence in changes.get("evidence", []):
        cli += ["--evidence", evidence]
    result = run_cli(cli)
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert inspections_count(ws) == 0
    assert not (ws.root / "evidence").exists()


def test_destroyed_with_evidence_at_the_cli(ws, photo):
    result = run_cli(
        [
            "control",
            "inspect",
            "C001",
            "--workspace",
            ws.root,
            "-c",
            "destroyed",
            "-d",
            "2024-02-02",
            "-i",
            "林",
            "-e",
            photo,
            "-n",
            "施工破坏",
        ]
    )
    assert result.exit_code == 0, result.stderr
    assert "1 evidence file" in result.stderr
    shown = run_cli(["control", "show", "C001", "--workspace", ws.root, "--format", "json"])
    data = __import__("json").loads(shown.stdout)
    assert data["status"]["condition"] == "destroyed"
    assert data["inspections"][0]["evidence"][0]["original_name"] == "photo.jpg"


def test_a_moved_mark_is_retired_and_replaced(ws):
    inspection, new = record_move(
        ws, "C001", "C001A", date="2024-06-01", inspector="林", lon=116.6825, lat=23.3542
    )
    assert inspection.condition == "moved" and inspection.new_point_id == "C001A"
    old = get_point(ws, "C001")
    assert old.retired_on == dt.date(2024, 6, 1) and old.replaced_by == "C001A"
    assert new.replaces == "C001" and new.name == old.name and new.gnss_grade == "C"
    assert new.geo_source == "scaled" and new.district == "金平区"
    assert "C001" not in set(search(ws)["point_id"])
    assert "C001" in set(search(ws, include_retired=True)["point_id"])
    with pytest.raises(InspectionError, match="retired"):
        record_inspection(ws, "C001", date="2024-07-01", inspector="林", condition="intact")
    with pytest.raises(InspectionError, match="retired"):
        record_move(ws, "C001", "C001B", date="2024-07-01", inspector="林", lon=116.68, lat=23.35)
    with pytest.raises(ValidationError, match="already in the registry"):
        record_move(ws, "C002", "C001A", date="2024-07-01", inspector="林", lon=116.7, lat=23.36)
    # CLI: moved needs the new id and position
    result = run_cli(
        [
            "control",
            "inspect",
            "C002",
            "--workspace",
            ws.root,
            "-c",
            "moved",
            "-d",
            "2024-07-01",
            "-i",
            "林",
        ]
    )
    assert result.exit_code == 2 and "--new-id" in result.stderr
    result = run_cli(
        [
            "control",
            "inspect",
            "C002",
            "--workspace",
            ws.root,
            "-c",
            "移动",
            "-d",
            "2024-07-01",
            "-i",
            "林",
            "--new-id",
            "C002A",
            "--new-position",
            "116.7005,23.3601",
        ]
    )
    assert result.exit_code == 0, result.stderr
    assert get_point(ws, "C002A").replaces == "C002"


def test_overdue_and_district_statistics(ws):
    record_inspection(ws, "C001", date="2023-01-10", inspector="林", condition="intact")
    record_inspection(ws, "C002", date="2024-03-01", inspector="林", condition="not found")
    # L001 never inspected: due one cycle after it was established (2015-06-01)
    frame = overdue(ws, as_of="2024-06-01")
    assert list(frame["point_id"]) == ["L001", "C001"]
    assert frame.set_index("point_id").loc["C001", "due"] == "2024-01-10"
    assert list(overdue(ws, as_of="2024-06-01", cycle=600)["point_id"]) == ["L001"]
    # inspections after as_of do not count
    assert "C002" in set(overdue(ws, as_of="2024-02-01", cycle=30)["point_id"])
    stats = district_stats(ws, as_of="2024-06-01").set_index("district")
    assert stats.loc["金平区", "marks"] == 3
    assert stats.loc["金平区", "inspected_this_cycle"] == 1
    assert stats.loc["金平区", "inspected_ever"] == 2
    assert stats.loc["金平区", "usable"] == 1
    assert stats.loc["金平区", "usable_rate"] == 0.5
    ws.config.control["inspection_cycle_days"] = 90
    assert len(overdue(ws, as_of="2024-06-01")) == 3
    result = run_cli(
        ["control", "overdue", "--workspace", ws.root, "--as-of", "2024-06-01", "--format", "csv"]
    )
    assert result.exit_code == 0 and result.stdout.splitlines()[1].startswith("L001,")
    result = run_cli(["control", "overdue", "--workspace", ws.root, "--as-of", "June"])
    assert result.exit_code == 2 and "not a date" in result.stderr


def test_bulk_inspection_import_is_atomic_and_idempotent(ws, tmp_path, photo):
    header = ["点号", "巡查日期", "巡查人", "状况", "可用性", "备注", "照片"]
    good = [
        {
            "点号": "C001",
            "巡查日期": "2024-01-01",
            "巡查人": "林",
            "状况": "完好",
            "可用性": "",
            "备注": "",
            "照片": "",
        },
        {
            "点号": "C002",
            "巡查日期": "2024-01-02",
            "巡查人": "林",
            "状况": "毁坏",
            "可用性": "",
            "备注": "",
            "照片": photo.name,
        },
    ]
    bad = [
        {**good[0], "点号": "NOPE"},
        {**good[0], "状况": "毁坏"},
        {**good[0], "巡查日期": "2999-01-01"},
    ]
    path = write_csv(tmp_path / "insp.csv", good + bad, header=header)
    with pytest.raises(ValidationError, match="3 of 5 rows are invalid") as info:
        import_inspections(ws, path)
    reasons = [p[1] for p in info.value.problems]
    assert reasons[0].startswith("line 4: no control point 'NOPE'")
    assert reasons[1].startswith("line 5: C001 reported destroyed without evidence")
    assert reasons[2].startswith("line 6: inspection of C001 dated 2999-01-01")
    assert inspections_count(ws) == 0
    result = run_cli(["control", "import", path, "--workspace", ws.root])
    assert result.exit_code == 2 and "line 4: no control point 'NOPE'" in result.stderr
    path = write_csv(tmp_path / "insp.csv", good, header=header)
    assert import_inspections(ws, path).recorded == 2
    again = run_cli(["control", "import", path, "--workspace", ws.root])
    assert again.exit_code == 0 and "0 inspections recorded, 2 already recorded" in again.stderr
    assert inspections_count(ws) == 2
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    result = run_cli(["control", "import", empty, "--what", "inspections", "--workspace", ws.root])
    assert result.exit_code == 2 and "empty" in result.stderr


def _worker(root: str, worker: int, count: int) -> int:
    from geobase.control.inspections import record_inspection
    from geobase.store import Workspace

    with Workspace.open(root) as ws:
        for k in range(count):
            record_inspection(
                ws,
                ("C001", "C002", "L001")[k % 3],
                date=dt.date(2020, 1, 1) + dt.timedelta(days=k),
                inspector=f"worker{worker}",
                condition="intact",
                notes=f"{worker}-{k}",
            )
    return count


def test_concurrent_inspections_from_eight_processes_are_all_recorded(ws):
    ws.close()
    context = multiprocessing.get_context("spawn")
    with context.Pool(WORKERS) as pool:
        done = pool.starmap(_worker, [(str(ws.root), w, PER_WORKER) for w in range(WORKERS)])
    assert done == [PER_WORKER] * WORKERS
    from geobase.store import Workspace

    with Workspace.open(ws.root) as again, again.store.read() as tx:
        assert tx.scalar("SELECT count(*) FROM control_inspections") == WORKERS * PER_WORKER
        assert (
            tx.scalar("SELECT count(DISTINCT notes) FROM control_inspections")
            == WORKERS * PER_WORKER
        )
