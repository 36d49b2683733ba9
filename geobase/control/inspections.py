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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geobase.control.records import ControlPoint
from geobase.dates import parse_date
from geobase.errors import (
    EvidenceRequired,
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
    from geobase.control.settings import control_settings  # pydantic: not for one record

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
    if mark.get("established") and date < parse_date(mark["established"], partial=True):
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
    day = parse_date(date, "inspection date", partial=True)
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

    day = parse_date(date, "inspection date", partial=True)
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
    import pandas as pd  # only a move makes a table: one inspection imports none

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
            inspected_on=parse_date(r["inspected_on"], partial=True),
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
