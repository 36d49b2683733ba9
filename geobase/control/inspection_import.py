"""Bulk import of inspections from a CSV file (UTF-8 or GBK), all in one transaction.

Columns are recognised by their English or Chinese names (:data:`INSPECTION_COLUMNS`);
each row is checked like one ``geobase control inspect`` (:mod:`geobase.control.inspections`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geobase.control.inspections import (
    Inspection,
    _check,
    _check_files,
    _cleanup,
    _insert,
    _store_evidence,
    parse_condition,
    parse_usability,
)
from geobase.dates import parse_date
from geobase.errors import GeobaseError, InspectionError, ValidationError
from geobase.store import Workspace

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
            day = parse_date(date_text, "inspection date", partial=True)
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
