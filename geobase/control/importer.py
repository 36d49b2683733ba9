"""Importing control points from CSV, Excel (.xlsx), GeoPackage and GeoJSON into the registry.

Every row is validated by one validator whatever its file (:mod:`geobase.control.sources`
reads, :mod:`geobase.control.validate` decides, :mod:`geobase.control.writer` writes); a
file with any bad row writes nothing (the whole import is one transaction) unless
``skip_invalid`` is set, in which case the good rows are written and the bad ones saved
beside the input as ``<name>.rejects.csv`` with their line and reason.

Columns are recognised by their English or Chinese names
(:data:`geobase.control.columns.COLUMN_ALIASES`). ``H`` is the 1985 normal height (高程)
and ``h`` the ellipsoidal height (大地高), as surveyors write them; ``X`` is the northing
and ``Y`` the easting (surveying order).

Re-importing a point whose coordinates changed keeps the replaced values in
``control_point_history`` and bumps the record's version; re-importing an unchanged point
changes nothing, so an import can be repeated safely.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from geobase.control.columns import COLUMN_ALIASES, map_columns
from geobase.control.sources import read_source
from geobase.control.validate import validate_frame, validate_rows
from geobase.control.writer import db_columns, write_records, write_values
from geobase.errors import ValidationError
from geobase.paths import atomic_output
from geobase.store import Workspace
from geobase.tabular import FILE_ENCODING, encode_csv

__all__ = [
    "COLUMN_ALIASES",
    "ImportResult",
    "import_points",
    "map_columns",
    "read_source",
    "rejects_path_for",
    "validate_rows",
    "write_records",
]

logger = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]


@dataclass
class ImportResult:
    """What an import did."""

    source: Path
    rows: int = 0
    added: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)  # coordinates changed; history kept
    changed: list[str] = field(default_factory=list)  # other fields changed
    unchanged: int = 0
    rejected: list[tuple[int | None, str]] = field(default_factory=list)
    rejects_path: Path | None = None
    encoding: str | None = None

    def summary(self) -> str:
        parts = [
            f"{len(self.added)} added",
            f"{len(self.moved)} with new coordinates (old values kept as history)",
            f"{len(self.changed)} updated",
            f"{self.unchanged} unchanged",
        ]
        if self.rejected:
            parts.append(f"{len(self.rejected)} rejected (saved to {self.rejects_path})")
        return f"{self.source.name}: {self.rows} rows: " + ", ".join(parts)


def import_points(
    ws: Workspace,
    path: str | Path,
    *,
    skip_invalid: bool = False,
    progress: Progress | None = None,
    encoding: str | None = None,
) -> ImportResult:
    """Import control points from a CSV (UTF-8 or GBK), Excel (.xlsx), GeoPackage or GeoJSON file.

    Args:
        ws: the workspace.
        path: the input file.
        skip_invalid: write the good rows and save the bad ones to ``<name>.rejects.csv``
            beside the input; by default any bad row makes the import write nothing.
        progress: called with (rows done, total).
        encoding: a CSV's encoding (``utf-8``, ``utf-8-sig`` or ``gbk``); None detects
            UTF-8 (with or without BOM) or GBK.

    Raises:
        ValidationError: bad rows (``problems`` lists each row's line and reason) and not
            ``skip_invalid``.
        SourceReadError / EmptyInputError: unreadable, truncated or empty file.

    Example:
        >>> import_points(ws, "control_points/points.csv").summary()  # doctest: +SKIP
        'points.csv: 396 rows: 396 added, ...'
    """
    path = Path(path)
    frame, labels, found = read_source(path, encoding)
    result = ImportResult(source=path, rows=len(frame), encoding=found)
    cols, good, problems = validate_frame(frame, labels, ws)
    if progress:
        progress(len(frame) // 2, len(frame))
    reported = [(_line(labels[i]), f"{labels[i]}: {msg}") for i, msg in problems]
    if problems and not skip_invalid:
        raise ValidationError(
            f"{path.name}: {len(problems)} of {len(frame)} rows are invalid, nothing imported "
            f"(first: {reported[0][1]}); fix them or pass --skip-invalid",
            reported,
        )
    if problems:
        result.rejected = reported
        result.rejects_path = write_rejects(path, frame, labels, problems)
    if len(good):
        result.added, result.moved, result.changed, result.unchanged = write_values(
            ws, db_columns(cols, good), path.name
        )
    if progress:
        progress(len(frame), len(frame))
    logger.info(result.summary())
    return result


def _line(label: str) -> int | None:
    match = re.search(r"(\d+)$", label)
    return int(match.group(1)) if match else None


def rejects_path_for(path: Path) -> Path:
    """Where ``--skip-invalid`` saves the rejected rows of ``path``."""
    return path.with_name(f"{path.stem}.rejects.csv")


def write_rejects(
    path: Path, frame: pd.DataFrame, labels: list[str], problems: list[tuple[int, str]]
) -> Path:
    out = rejects_path_for(path)
    index = [i for i, _ in problems]
    rejects = frame.iloc[index].copy()
    rejects = rejects[[c for c in rejects.columns if not str(c).startswith("__")]]
    rejects.insert(0, "reason", [msg for _, msg in problems])
    rejects.insert(0, "where", [labels[i] for i in index])
    with atomic_output(out) as tmp:  # OutputWriteError names ``out`` if it cannot be written
        Path(tmp).write_bytes(encode_csv(rejects, FILE_ENCODING, str(out)))
    return out
