"""Survey-mark inspections (测量标志巡查): an append-only history per mark.

Each inspection records a date, the inspector, the condition found (intact 完好, damaged
损坏, destroyed 毁坏, not found 未找到, moved 移动), what the mark is still usable for
(GNSS, levelling, both, none), notes and evidence files (photos), which are copied into
the workspace under ``evidence/control/<id>/`` with their SHA-256. A mark's current status
is its latest inspection; nothing is ever overwritten.

"Destroyed" needs evidence; without it the mark is recorded as "not found". A moved mark
is retired and a new mark, linked to the old one, takes its place (:func:`record_move`).

Example:
    >>> record_inspection(ws, "STC001", date="2024-05-01", inspector="林工",
    ...                   condition="intact")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from geobase.control.records import ControlPoint, parse_date
from geobase.control.settings import control_settings
from geobase.errors import (
    EvidenceRequired,
    GeobaseError,
    InspectionError,
    NotFoundError,
    SourceReadError,
    ValidationError,
)
from geobase.paths import atomic_output, inside
from geobase.store import Workspace, utc_now
from geobase.store.base import Transaction

logger = logging.getLogger(__name__)

CONDITIONS: tuple[str, ...] = ("intact", "damaged", "destroyed", "not_found", "moved")
USABILITY: tuple[str, ...] = ("gnss", "levelling", "both", "none")
EVIDENCE_DIR = ("evidence", "control")

CONDITION_LABELS = {
    "intact": "完好 intact",
    "damaged": "损坏 damaged",
    "destroyed": "毁坏 destroyed",
    "not_found": "未找到 not found",
    "moved": "移动 moved",
}
USABILITY_LABELS = {
    "gnss": "GNSS可用 GNSS",
    "levelling": "水准可用 levelling",
    "both": "GNSS及水准 both",
    "none": "不可用 none",
}

_CONDITION_ALIASES = {
    "intact": "intact",
    "good": "intact",
    "完好": "intact",
    "良好": "intact",
    "damaged": "damaged",
    "损坏": "damaged",
    "破损": "damaged",
    "destroyed": "destroyed",
    "毁坏": "destroyed",
    "已毁": "destroyed",
    "破坏": "destroyed",
    "notfound": "not_found",
    "missing": "not_found",
    "未找到": "not_found",
    "丢失": "not_found",
    "moved": "moved",
    "移动": "moved",
    "移位": "moved",
}
_USABILITY_ALIASES = {
    "gnss": "gnss",
    "gps": "gnss",
    "卫星定位": "gnss",
    "gnss可用": "gnss",
    "levelling": "levelling",
    "leveling": "levelling",
    "水准": "levelling",
    "水准可用": "levelling",
    "both": "both",
    "两者": "both",
    "均可": "both",
    "gnss及水准": "both",
    "none": "none",
    "不可用": "none",
    "无": "none",
}


def parse_condition(text: str) -> str:
    """A condition from its English or Chinese name (``'未找到'`` -> ``'not_found'``)."""
    key = re.sub(r"[\s_\-]", "", str(text)).lower()
    if key in _CONDITION_ALIASES:
        return _CONDITION_ALIASES[key]
    raise InspectionError(
        f"unknown condition {text!r}: expected intact (完好), damaged (损坏), destroyed (毁坏), "
        "not found (未找到) or moved (移动)"
    )


def parse_usability(text: str) -> str:
    """A usability from its English or Chinese name (``'水准'`` -> ``'levelling'``)."""
    key = re.sub(r"[\s_\-]", "", str(text)).lower()
    if key in _USABILITY_ALIASES:
        return _USABILITY_ALIASES[key]
    raise InspectionError(
        f"unknown usability {text!r}: expected gnss, levelling, both or none (不可用)"
    )


def cycle_days(ws: Workspace) -> int:
    """The inspection cycle of the workspace (``[control] inspection_cycle_days``, 365)."""
    return control_settings(ws.config.control).inspection_cycle_days


@dataclass(frozen=True)
class Evidence:
    """An evidence file stored in the workspace."""

    path: str  # relative to the workspace root
    original_name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Inspection:
    """One inspection of one mark, as recorded."""

    point_id: str
    inspected_on: dt.date
    inspector: str
    condition: str
    usability: str
    notes: str | None = None
    evidence: tuple[Evidence, ...] = ()
    new_point_id: str | None = None
    fid: int | None = None
    recorded_at: str | None = None

    def __post_init__(self) -> None:
        if self.condition not in CONDITIONS:
            raise InspectionError(f"unknown condition {self.condition!r}")
        if self.usability not in USABILITY:
            raise InspectionError(f"unknown usability {self.usability!r}")


def default_usability(point: ControlPoint | dict[str, Any]) -> str:
    """What an intact mark is usable for, from its grades."""
    get = point.get if isinstance(point, dict) else lambda k: getattr(point, k)
    gnss = bool(get("cors")) or get("gnss_grade") is not None or get("cjj_grade") is not None
    level = get("level_grade") is not None or get("kind") == "levelling"
    if gnss and level:
        return "both"
    return "levelling" if level else "gnss"


def _check(
    mark: dict[str, Any] | None,
    point_id: str,
    date: dt.date,
    inspector: str | None,
    condition: str,
    usability: str | None,
    evidence_count: int,
    today: dt.date,
) -> str:
    """Validate one inspection against its mark; returns the usability to record."""
    if mark is None:
        raise NotFoundError(
            f"no control point {point_id!r} in the registry; import it before inspecting it"
        )
    if not inspector or not str(inspector).strip():
        raise InspectionError(f"inspection of {point_id}: the inspector's name is missing")
    if date > today:
        raise InspectionError(
            f"inspection of {point_id} dated {date}, which is in the future (today is {today})"
        )
    if mark.get("established") and date < parse_date(mark["established"]):
        raise InspectionError(
            f"inspection of {point_id} dated {date}, before the mark was established "
            f"({mark['established']})"
        )
    if mark.get("retired_on"):
        raise InspectionError(
            f"{point_id} was retired on {mark['retired_on']} (moved; now "
            f"{mark.get('replaced_by')}); inspect {mark.get('replaced_by')} instead"
        )
    if condition == "destroyed" and evidence_count == 0:
        raise EvidenceRequired(
            f"{point_id} reported destroyed without evidence; attach a photo (--evidence FILE) "
            "or record it as 'not found'"
        )
    if condition in ("destroyed", "not_found", "moved"):
        if usability not in (None, "none"):
            raise InspectionError(
                f"{point_id} is {condition.replace('_', ' ')} but usability {usability!r} was "
                "given; such a mark is usable for nothing (none)"
            )
        return "none"
    if usability is None:
        if condition == "damaged":
            raise InspectionError(
                f"{point_id} is damaged: say what it is still usable for "
                "(usability gnss, levelling, both or none)"
            )
        return default_usability(mark)
    return usability


def _hash(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def _check_files(files: Sequence[str | Path]) -> list[Path]:
    out = []
    for f in files:
        path = Path(f)
        if not path.is_file():
            raise SourceReadError(f"evidence file {path}: no such file")
        if path.stat().st_size == 0:
            raise SourceReadError(f"evidence file {path} is empty")
        out.append(path)
    return out


def _store_evidence(
    ws: Workspace, point_id: str, date: dt.date, files: Sequence[Path], created: list[Path]
) -> list[Evidence]:
    """Copy evidence files into the workspace (content-addressed); note new files in ``created``."""
    folder = inside(
        ws.data_path(*EVIDENCE_DIR, _safe(point_id)), ws.data_path(*EVIDENCE_DIR), "evidence folder"
    )
    out = []
    for path in files:
        sha, size = _hash(path)
        target = folder / f"{date.isoformat()}_{sha[:16]}{path.suffix.lower()}"
        if not target.exists():
            folder.mkdir(parents=True, exist_ok=True)
            with atomic_output(target) as tmp:
                shutil.copyfile(path, tmp)
            created.append(target)
        out.append(Evidence(ws.stored_path(target), path.name, sha, size))
    return out


def _safe(point_id: str) -> str:
    return re.sub(r"[^\w.\-]", "_", point_id)


def _mark(tx: Transaction, point_id: str) -> dict[str, Any] | None:
    return tx.query_one(
        "SELECT point_id, kind, cors, gnss_grade, level_grade, cjj_grade, established, "
        "retired_on, replaced_by FROM control_points WHERE point_id = :id",
        {"id": point_id},
    )


def _insert(tx: Transaction, inspection: Inspection) -> Inspection:
    recorded_at = utc_now()
    fid = tx.insert(
        "control_inspections",
        {
            "point_id": inspection.point_id,
            "inspected_on": inspection.inspected_on.isoformat(),
            "inspector": inspection.inspector,
            "condition": inspection.condition,
            "usability": inspection.usability,
            "notes": inspection.notes,
            "new_point_id": inspection.new_point_id,
            "recorded_at": recorded_at,
        },
    )
    if inspection.evidence:
        tx.insert_many(
            "control_evidence",
            [
                {
                    "inspection_fid": fid,
                    "path": e.path,
                    "original_name": e.original_name,
                    "sha256": e.sha256,
                    "size": e.size,
                }
                for e in inspection.evidence
            ],
        )
    return dataclasses.replace(inspection, fid=fid, recorded_at=recorded_at)


def _cleanup(created: list[Path]) -> None:
    for path in created:
        path.unlink(missing_ok=True)


def record_inspection(
    ws: Workspace,
    point_id: str,
    *,
    date: str | dt.date,
    inspector: str,
    condition: str,
    usability: str | None = None,
    notes: str | None = None,
    evidence: Sequence[str | Path] = (),
    today: dt.date | None = None,
) -> Inspection:
    """Append one inspection to a mark's history (one transaction).

    Args:
        ws: the workspace.
        point_id: the mark.
        date: the day of the inspection (not in the future).
        inspector: who inspected.
        condition: intact, damaged, destroyed, not found (Chinese names accepted);
            a moved mark goes through :func:`record_move`.
        usability: gnss, levelling, both or none; default for an intact mark: what its
            grades make it usable for; none for destroyed / not found.
        notes: free text.
        evidence: files (photos) copied into the workspace with their SHA-256.
        today: the reference date for "future" (default: the system date).

    Raises:
        NotFoundError: unknown mark. EvidenceRequired: destroyed without evidence.
        InspectionError: future date, retired mark, inconsistent fields.
        SourceReadError: an evidence file is missing.
    """
    condition = parse_condition(condition)
    if condition == "moved":
        raise InspectionError(
            f"a moved mark is retired and replaced by a new one: record it with the new id "
            f"and position (geobase control inspect {point_id} --condition moved --new-id ID "
            "--new-position LON,LAT)"
        )
    usability = parse_usability(usability) if usability is not None else None
    day = parse_date(date, "inspection date")
    files = _check_files(evidence)
    today = today or dt.date.today()
    with ws.store.read() as tx:
        mark = _mark(tx, point_id)
    _check(mark, point_id, day, inspector, condition, usability, len(files), today)
    created: list[Path] = []
    try:
        stored = _store_evidence(ws, point_id, day, files, created)
        with ws.store.transaction() as tx:
            mark = _mark(tx, point_id)  # again, inside the write lock
            usable = _check(mark, point_id, day, inspector, condition, usability, len(files), today)
            return _insert(
                tx,
                Inspection(
                    point_id=point_id,
                    inspected_on=day,
                    inspector=inspector.strip(),
                    condition=condition,
                    usability=usable,
                    notes=notes,
                    evidence=tuple(stored),
                ),
            )
    except BaseException:
        _cleanup(created)
        raise


def record_move(
    ws: Workspace,
    point_id: str,
    new_id: str,
    *,
    date: str | dt.date,
    inspector: str,
    lon: float | None = None,
    lat: float | None = None,
    x_north: float | None = None,
    y_east: float | None = None,
    crs: str | None = None,
    source: str = "scaled",
    notes: str | None = None,
    evidence: Sequence[str | Path] = (),
    today: dt.date | None = None,
) -> tuple[Inspection, ControlPoint]:
    """A mark found moved: retire it and create a new mark, linked to the old one.

    The old mark gets a "moved" inspection and ``retired_on``/``replaced_by``; the new
    mark copies its name, kind, grades, mark type, custodian and descriptions, takes the
    new position (B/L or X/Y, provenance ``source``, default ``scaled`` until it is
    re-surveyed) and records ``replaces``. All in one transaction.

    Raises:
        NotFoundError, InspectionError: as for :func:`record_inspection`.
        ValidationError: the new id exists or the new position is invalid.
    """
    from geobase.control.importer import validate_rows, write_records
    from geobase.control.registry import get_point

    day = parse_date(date, "inspection date")
    files = _check_files(evidence)
    today = today or dt.date.today()
    with ws.store.read() as tx:
        mark = _mark(tx, point_id)
        taken = _mark(tx, new_id)
    _check(mark, point_id, day, inspector, "moved", None, len(files), today)
    if taken is not None:
        raise ValidationError(f"new id {new_id!r} is already in the registry; choose another")
    if new_id == point_id:
        raise ValidationError("a moved mark needs a new id, different from the old one")
    old = get_point(ws, point_id)
    if (lon is None) != (lat is None) or (x_north is None) != (y_east is None):
        raise ValidationError("give the new position as both lon and lat, or both x and y")
    if lon is None and x_north is None:
        raise ValidationError("a moved mark needs its new position (lon/lat or x/y)")
    row = {
        "point_id": new_id,
        "name": old.name,
        "kind": old.kind,
        "grade": ";".join(old.grades.values()),
        "lon": None if lon is None else repr(float(lon)),
        "lat": None if lat is None else repr(float(lat)),
        "x": None if x_north is None else repr(float(x_north)),
        "y": None if y_east is None else repr(float(y_east)),
        "crs": crs,
        "source": source,
        "mark_type": old.mark_type,
        "established": day.isoformat(),
        "custodian": old.custodian,
        "site": old.site,
        "route": old.route,
        "notes": f"replaces {point_id} (moved, found {day})",
    }
    frame = pd.DataFrame([row], dtype=object)
    records, _, problems = validate_rows(frame, ["new position"], ws)
    if problems:
        raise ValidationError(f"new mark {new_id}: {problems[0][1]}", problems)
    record = dataclasses.replace(records[0], replaces=point_id)
    created: list[Path] = []
    try:
        stored = _store_evidence(ws, point_id, day, files, created)
        with ws.store.transaction() as tx:
            mark = _mark(tx, point_id)
            _check(mark, point_id, day, inspector, "moved", None, len(files), today)
            if _mark(tx, new_id) is not None:
                raise ValidationError(f"new id {new_id!r} is already in the registry")
            inspection = _insert(
                tx,
                Inspection(
                    point_id=point_id,
                    inspected_on=day,
                    inspector=inspector.strip(),
                    condition="moved",
                    usability="none",
                    notes=notes,
                    evidence=tuple(stored),
                    new_point_id=new_id,
                ),
            )
            write_records(ws, [record], source_file=f"moved from {point_id}")
            tx.touch("control_points")
            tx.execute(
                "UPDATE control_points SET retired_on = :day, replaced_by = :new, "
                "updated_at = :now WHERE point_id = :id",
                {"day": day.isoformat(), "new": new_id, "now": utc_now(), "id": point_id},
            )
    except BaseException:
        _cleanup(created)
        raise
    return inspection, get_point(ws, new_id)


def inspection_history(ws: Workspace, point_id: str) -> list[Inspection]:
    """Every inspection of a mark, oldest first, with its evidence.

    Raises:
        NotFoundError: unknown mark.
    """
    with ws.store.read() as tx:
        if _mark(tx, point_id) is None:
            raise NotFoundError(f"no control point {point_id!r} in the registry")
        rows = tx.query(
            "SELECT * FROM control_inspections WHERE point_id = :id ORDER BY inspected_on, fid",
            {"id": point_id},
        )
        evidence = tx.query(
            "SELECT e.* FROM control_evidence e JOIN control_inspections i "
            "ON i.fid = e.inspection_fid WHERE i.point_id = :id ORDER BY e.fid",
            {"id": point_id},
        )
    by_fid: dict[int, list[Evidence]] = {}
    for e in evidence:
        by_fid.setdefault(e["inspection_fid"], []).append(
            Evidence(e["path"], e["original_name"], e["sha256"], e["size"])
        )
    return [
        Inspection(
            point_id=r["point_id"],
            inspected_on=parse_date(r["inspected_on"]),
            inspector=r["inspector"],
            condition=r["condition"],
            usability=r["usability"],
            notes=r["notes"],
            evidence=tuple(by_fid.get(r["fid"], ())),
            new_point_id=r["new_point_id"],
            fid=r["fid"],
            recorded_at=r["recorded_at"],
        )
        for r in rows
    ]


def current_status(ws: Workspace, point_id: str) -> dict[str, Any]:
    """The status derived from a mark's history: latest condition, usability and date."""
    history = inspection_history(ws, point_id)
    if not history:
        return {"condition": None, "usability": None, "last_inspected": None, "inspections": 0}
    last = history[-1]
    return {
        "condition": last.condition,
        "usability": last.usability,
        "last_inspected": last.inspected_on,
        "inspections": len(history),
    }


# --- bulk import ---------------------------------------------------------------------------

INSPECTION_COLUMNS: dict[str, tuple[str, ...]] = {
    "point_id": ("point_id", "id", "点号", "编号"),
    "date": ("date", "inspected_on", "日期", "巡查日期", "检查日期"),
    "inspector": ("inspector", "巡查人", "检查人", "巡查员"),
    "condition": ("condition", "状况", "完好情况", "标志状况"),
    "usability": ("usability", "可用性", "用途"),
    "notes": ("notes", "remarks", "备注", "说明"),
    "evidence": ("evidence", "photo", "photos", "照片", "证据"),
}


@dataclass
class InspectionImport:
    """What a bulk inspection import did."""

    source: Path
    rows: int = 0
    recorded: int = 0
    already: int = 0
    rejected: list[tuple[int | None, str]] = field(default_factory=list)
    rejects_path: Path | None = None

    def summary(self) -> str:
        text = (
            f"{self.source.name}: {self.rows} rows: {self.recorded} inspections recorded, "
            f"{self.already} already recorded"
        )
        if self.rejected:
            text += f", {len(self.rejected)} rejected (saved to {self.rejects_path})"
        return text


def is_inspection_table(columns: Iterable[Any]) -> bool:
    """Whether a CSV's columns look like inspections (a condition column and a date)."""
    keys = {re.sub(r"[\s_]", "", str(c)).lower() for c in columns}
    cond = {re.sub(r"[\s_]", "", a).lower() for a in INSPECTION_COLUMNS["condition"]}
    return bool(keys & cond)


def import_inspections(
    ws: Workspace,
    path: str | Path,
    *,
    skip_invalid: bool = False,
    today: dt.date | None = None,
    encoding: str | None = None,
) -> InspectionImport:
    """Record the inspections in a CSV file (UTF-8 or GBK), all in one transaction.

    ``encoding`` forces the CSV's encoding (``utf-8``, ``utf-8-sig`` or ``gbk``); None
    detects UTF-8 (with or without BOM) or GBK.

    Evidence paths (``;``-separated) are relative to the CSV's folder. A row identical to
    an inspection already recorded (same mark, date, inspector, condition, usability and
    notes) is skipped, so re-importing a file changes nothing. Moved marks cannot be bulk
    imported (each needs a new id and position: :func:`record_move`).

    Raises:
        ValidationError: bad rows (with their lines) and not ``skip_invalid``.
        SourceReadError / EmptyInputError: unreadable, truncated or empty file.
    """
    from geobase.control.importer import write_rejects
    from geobase.tabular import read_csv

    path = Path(path)
    frame = read_csv(path, encoding)
    labels = [f"line {n}" for n in frame.attrs["lines"]]
    keys = {re.sub(r"[\s_]", "", str(c)).lower(): c for c in frame.columns}
    columns: dict[str, str] = {}
    for name, aliases in INSPECTION_COLUMNS.items():
        for alias in aliases:
            column = keys.get(re.sub(r"[\s_]", "", alias).lower())
            if column is not None:
                columns[name] = column
                break
    missing = [n for n in ("point_id", "date", "inspector", "condition") if n not in columns]
    if missing:
        raise ValidationError(
            f"{path.name}: no column for {', '.join(missing)}; expected e.g. 点号, 巡查日期, "
            "巡查人, 状况"
        )
    today = today or dt.date.today()
    result = InspectionImport(source=path, rows=len(frame))
    with ws.store.read() as tx:
        marks = {
            r["point_id"]: r
            for r in tx.query(
                "SELECT point_id, kind, cors, gnss_grade, level_grade, cjj_grade, "
                "established, retired_on, replaced_by FROM control_points"
            )
        }
        existing = {
            (
                r["point_id"],
                r["inspected_on"],
                r["inspector"],
                r["condition"],
                r["usability"],
                r["notes"],
            )
            for r in tx.query(
                "SELECT point_id, inspected_on, inspector, condition, usability, notes "
                "FROM control_inspections"
            )
        }
    problems: list[tuple[int, str]] = []
    pending: list[tuple[int, Inspection, list[Path]]] = []
    seen: set[tuple] = set()
    for i, row in enumerate(frame.to_dict("records")):
        get = lambda name, row=row: row.get(columns[name]) if name in columns else None  # noqa: E731
        try:
            point_id = get("point_id")
            if not point_id:
                raise InspectionError("missing point id (点号)")
            date_text = get("date")
            if not date_text:
                raise InspectionError("missing inspection date")
            day = parse_date(date_text, "inspection date")
            condition = parse_condition(get("condition") or "")
            if condition == "moved":
                raise InspectionError(
                    f"{point_id} moved: record it with 'geobase control inspect {point_id} "
                    "--condition moved --new-id ID --new-position LON,LAT'"
                )
            usability = get("usability")
            usability = parse_usability(usability) if usability else None
            files = []
            evidence = get("evidence")
            if evidence:
                files = _check_files(
                    [path.parent / p.strip() for p in re.split(r"[;；]", evidence) if p.strip()]
                )
            usable = _check(
                marks.get(point_id),
                point_id,
                day,
                get("inspector"),
                condition,
                usability,
                len(files),
                today,
            )
        except (GeobaseError, OSError) as exc:
            problems.append((i, str(exc)))
            continue
        inspection = Inspection(
            point_id=point_id,
            inspected_on=day,
            inspector=str(get("inspector")).strip(),
            condition=condition,
            usability=usable,
            notes=get("notes"),
        )
        key = (point_id, day.isoformat(), inspection.inspector, condition, usable, inspection.notes)
        if key in existing or key in seen:
            result.already += 1
            continue
        seen.add(key)
        pending.append((i, inspection, files))
    reported: list[tuple[int | None, str]] = [
        (int(labels[i].split()[-1]), f"{labels[i]}: {msg}") for i, msg in problems
    ]
    if problems and not skip_invalid:
        raise ValidationError(
            f"{path.name}: {len(problems)} of {len(frame)} rows are invalid, nothing recorded "
            f"(first: {reported[0][1]}); fix them or pass --skip-invalid",
            reported,
        )
    if problems:
        result.rejected = reported
        result.rejects_path = write_rejects(path, frame, labels, problems)
    created: list[Path] = []
    try:
        with ws.store.transaction() as tx:
            for _, inspection, files in pending:
                stored = _store_evidence(
                    ws, inspection.point_id, inspection.inspected_on, files, created
                )
                _insert(tx, dataclasses.replace(inspection, evidence=tuple(stored)))
    except BaseException:
        _cleanup(created)
        raise
    result.recorded = len(pending)
    return result


# --- overdue marks and statistics -----------------------------------------------------------


def _latest(ws: Workspace, as_of: dt.date) -> pd.DataFrame:
    """Active marks with their latest inspection up to ``as_of``."""
    with ws.store.read() as tx:
        marks = pd.DataFrame(
            tx.query(
                "SELECT point_id, name, kind, gnss_grade, level_grade, cjj_grade, district, "
                "established, created_at FROM control_points "
                "WHERE retired_on IS NULL OR retired_on > :d",
                {"d": as_of.isoformat()},
            ),
            columns=[
                "point_id",
                "name",
                "kind",
                "gnss_grade",
                "level_grade",
                "cjj_grade",
                "district",
                "established",
                "created_at",
            ],
        )
        inspections = pd.DataFrame(
            tx.query(
                "SELECT fid, point_id, inspected_on, condition, usability FROM control_inspections "
                "WHERE inspected_on <= :d ORDER BY point_id, inspected_on, fid",
                {"d": as_of.isoformat()},
            ),
            columns=["fid", "point_id", "inspected_on", "condition", "usability"],
        )
    latest = inspections.groupby("point_id").tail(1).set_index("point_id")
    counts = inspections.groupby("point_id").size()
    marks = marks.join(latest[["inspected_on", "condition", "usability"]], on="point_id")
    marks["inspections"] = marks["point_id"].map(counts).fillna(0).astype(int)
    return marks.rename(columns={"inspected_on": "last_inspected"})


def overdue(
    ws: Workspace, as_of: str | dt.date | None = None, cycle: int | None = None
) -> pd.DataFrame:
    """Marks whose last inspection is older than the cycle on ``as_of``.

    A mark never inspected is due one cycle after it was established (or registered).
    Marks whose latest inspection found them destroyed, and marks established after
    ``as_of``, are left out.

    Args:
        ws: the workspace.
        as_of: the reference date (default today).
        cycle: days (default ``[control] inspection_cycle_days`` or 365).

    Returns:
        point_id, name, kind, grade columns, district, last_inspected, condition,
        due (date), days_overdue; most overdue first.
    """
    day = parse_date(as_of, "as-of date") if as_of is not None else dt.date.today()
    cycle = cycle if cycle is not None else cycle_days(ws)
    if cycle <= 0:
        raise ValidationError(f"inspection cycle {cycle} days: expected > 0")
    marks = _latest(ws, day)
    start = [
        parse_date(
            last if isinstance(last, str) else (est if isinstance(est, str) else created[:10])
        )
        for last, est, created in zip(
            marks["last_inspected"], marks["established"], marks["created_at"], strict=True
        )
    ]
    marks["due"] = [s + dt.timedelta(days=cycle) for s in start]
    marks["days_overdue"] = [(day - d).days for d in marks["due"]]
    exists = [not isinstance(est, str) or parse_date(est) <= day for est in marks["established"]]
    keep = (marks["days_overdue"] > 0) & (marks["condition"] != "destroyed") & pd.Series(exists)
    out = marks[keep].drop(columns=["created_at", "established"])
    out = out.sort_values(["days_overdue", "point_id"], ascending=[False, True])
    out["due"] = [d.isoformat() for d in out["due"]]
    return out.reset_index(drop=True)


def district_stats(
    ws: Workspace, as_of: str | dt.date | None = None, cycle: int | None = None
) -> pd.DataFrame:
    """Per district: marks, inspected this cycle, inspected ever, usable, usable rate.

    The usable rate is usable marks over marks inspected at least once (so a census of
    120 marks with 21 usable gives 17.5%). The last row (``district`` = 全市 total) sums
    the city.
    """
    day = parse_date(as_of, "as-of date") if as_of is not None else dt.date.today()
    cycle = cycle if cycle is not None else cycle_days(ws)
    marks = _latest(ws, day)
    since = (day - dt.timedelta(days=cycle)).isoformat()
    marks["district"] = marks["district"].fillna("(none)")
    marks["in_cycle"] = marks["last_inspected"].notna() & (marks["last_inspected"] > since)
    marks["inspected"] = marks["last_inspected"].notna()
    marks["usable"] = marks["usability"].isin(["gnss", "levelling", "both"])
    grouped = marks.groupby("district", sort=True).agg(
        marks=("point_id", "size"),
        inspected_this_cycle=("in_cycle", "sum"),
        inspected_ever=("inspected", "sum"),
        usable=("usable", "sum"),
    )
    total = grouped.sum(numeric_only=True)
    total.name = "全市 total"
    grouped = pd.concat([grouped, total.to_frame().T])
    grouped = grouped.astype(int)
    grouped["usable_rate"] = (
        grouped["usable"] / grouped["inspected_ever"].where(grouped["inspected_ever"] > 0)
    ).round(3)
    return grouped.reset_index(names="district")
