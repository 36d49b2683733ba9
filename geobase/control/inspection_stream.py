"""Inspections streamed one a line (JSON Lines), each recorded as it arrives.

A field team's script or logger pipes records into one long-running
``geobase control inspect --from -``: the workspace is opened once and each line is its
own short write transaction, acknowledged once it is committed. A line is a JSON object
with the keys of the command's options::

    {"point_id": "STC001", "condition": "完好", "date": "2024-05-02", "inspector": "林工"}

Keys: ``point_id``, ``condition``, ``date``, ``inspector`` (required); ``usability``,
``notes``, ``evidence`` (a path or a list of paths; a string may hold several separated by
``;``); for a moved mark ``new_id``, ``new_position`` (``"LON,LAT"`` or ``[lon, lat]``),
``new_xy`` (``"X,Y"`` or ``[x, y]``), ``crs`` and ``source``. The Chinese column names of
the inspection import (点号, 巡查日期, 巡查人, 状况, 可用性, 备注, 照片, ...) are accepted too.
Values are strings (positions may be numbers); an optional value may be null or empty.
An unknown key, a repeated field or a value of the wrong type is refused, never ignored.

Every record goes through :func:`record_entry`, the one path the single-record command
takes too (:func:`~geobase.control.inspections.record_inspection` or
:func:`~geobase.control.inspections.record_move` and their checks).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geobase.control.inspection_import import INSPECTION_COLUMNS
from geobase.control.inspections import (
    Inspection,
    parse_condition,
    parse_usability,
    record_inspection,
    record_move,
)
from geobase.control.records import ControlPoint
from geobase.errors import (
    GeobaseError,
    InspectionError,
    InspectionLineError,
    InvalidCoordinates,
    StoreError,
)
from geobase.store import Workspace

SOURCES: tuple[str, ...] = ("adjusted", "converted", "scaled")
REQUIRED: tuple[str, ...] = ("point_id", "condition", "date", "inspector")
MOVE_KEYS: tuple[str, ...] = ("new_id", "new_position", "new_xy", "crs", "source")
KEYS: tuple[str, ...] = (*INSPECTION_COLUMNS, *MOVE_KEYS)
MAX_LINE = 1 << 20  # a line longer than 1 MiB is no inspection (a file piped by mistake)


def _key(text: str) -> str:
    return re.sub(r"[\s_]", "", text).lower()


_ALIASES: dict[str, str] = {
    **{_key(a): name for name, aliases in INSPECTION_COLUMNS.items() for a in aliases},
    **{_key(k): k for k in MOVE_KEYS},
}


@dataclass(frozen=True)
class InspectionEntry:
    """One inspection as given (a command's options or a stream's line), not yet checked
    against the registry."""

    point_id: str
    condition: str
    date: str
    inspector: str
    usability: str | None = None
    notes: str | None = None
    evidence: tuple[str, ...] = ()
    new_id: str | None = None
    new_position: tuple[float, float] | None = None
    new_xy: tuple[float, float] | None = None
    crs: str | None = None
    source: str = "scaled"


def _refuse_constant(name: str) -> Any:
    raise InspectionError(f"{name} is not a JSON number (finite numbers only)")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise InspectionError(f"key {key!r} appears twice")
        out[key] = value
    return out


def _text(field: str, value: Any, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InspectionError(f"{field} is missing or empty")
        return None
    if not isinstance(value, str):
        raise InspectionError(
            f"{field} must be a string, not {type(value).__name__} {json.dumps(value)[:40]} "
            f'(write "{value}")'
        )
    return value.strip() if field != "notes" else value


def _pair(field: str, value: Any) -> tuple[float, float] | None:
    """A position given as ``"A,B"`` or ``[a, b]`` (finite numbers)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        from geobase.geodesy.lonlat import parse_lonlat, parse_numbers

        try:
            if field == "new_position":
                return parse_lonlat(value, field)
            a, b = parse_numbers(value, field, 2)
        except InvalidCoordinates as exc:
            raise InspectionError(str(exc)) from exc
        return a, b
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        raise InspectionError(f'{field} must be "A,B" or a list of two numbers, not {value!r}')
    a, b = float(value[0]), float(value[1])
    if not (math.isfinite(a) and math.isfinite(b)):
        raise InspectionError(f"{field} {value!r}: not finite numbers")
    if field == "new_position":
        from geobase.geodesy.lonlat import check_lonlat

        try:
            return check_lonlat(a, b, field)
        except InvalidCoordinates as exc:
            raise InspectionError(str(exc)) from exc
    return a, b


def _evidence(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(p.strip() for p in re.split(r"[;；]", value) if p.strip())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(v.strip() for v in value if v.strip())
    raise InspectionError(f"evidence must be a path or a list of paths, not {value!r}")


def parse_line(text: str) -> InspectionEntry | None:
    """One line of an inspection stream; None for a blank line.

    Only the line's form is checked here (a JSON object, known keys, value types,
    positions); what the registry decides (the mark exists, the date, the condition's
    rules) is checked when it is recorded (:func:`record_entry`).

    Raises:
        InspectionError: not a JSON object, an unknown or repeated key, a missing field or
            a value of the wrong type.
    """
    if not text.strip():
        return None
    if len(text) > MAX_LINE:
        raise InspectionError(f"a line of {len(text):,} characters is no inspection record")
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_refuse_constant)
    except RecursionError:
        raise InspectionError("JSON nested too deeply; a line must be one flat object") from None
    except json.JSONDecodeError as exc:
        raise InspectionError(
            f"not JSON ({exc.msg} at column {exc.colno}); each line must be one JSON object "
            'such as {"point_id": "STC001", "condition": "intact", "date": "2024-05-02", '
            '"inspector": "林工"}'
        ) from None
    if not isinstance(data, dict):
        raise InspectionError(f"a line must be one JSON object, not a {type(data).__name__}")
    fields: dict[str, Any] = {}
    given: dict[str, str] = {}
    for key, value in data.items():
        name = _ALIASES.get(_key(key))
        if name is None:
            raise InspectionError(
                f"unknown key {key[:40]!r}; expected {', '.join(KEYS)} "
                "(or the Chinese column names of 'control import')"
            )
        if name in given:
            raise InspectionError(f"keys {given[name]!r} and {key!r} both give {name}")
        given[name] = key
        fields[name] = value
    missing = [k for k in REQUIRED if _text(k, fields.get(k), False) is None]
    if missing:
        raise InspectionError(f"missing {', '.join(missing)}")
    source = _text("source", fields.get("source"), False) or "scaled"
    if source not in SOURCES:
        raise InspectionError(f"source {source!r}: expected {', '.join(SOURCES)}")
    return InspectionEntry(
        point_id=str(_text("point_id", fields["point_id"], True)),
        condition=str(_text("condition", fields["condition"], True)),
        date=str(_text("date", fields["date"], True)),
        inspector=str(_text("inspector", fields["inspector"], True)),
        usability=_text("usability", fields.get("usability"), False),
        notes=_text("notes", fields.get("notes"), False),
        evidence=_evidence(fields.get("evidence")),
        new_id=_text("new_id", fields.get("new_id"), False),
        new_position=_pair("new_position", fields.get("new_position")),
        new_xy=_pair("new_xy", fields.get("new_xy")),
        crs=_text("crs", fields.get("crs"), False),
        source=source,
    )


def record_entry(
    ws: Workspace, entry: InspectionEntry, *, base: Path | None = None
) -> tuple[Inspection, ControlPoint | None]:
    """Record one inspection: a moved mark through :func:`record_move` (its replacement
    returned too), any other through :func:`record_inspection`.

    ``base`` is the folder relative evidence paths are taken from (default: the current
    folder).

    Raises:
        InspectionError: a moved mark without its new id and position, or move fields
            given for another condition; and whatever the recording functions raise.
    """
    evidence = tuple((base / p) if base is not None else Path(p) for p in entry.evidence)
    moved_fields = entry.new_id or entry.new_position or entry.new_xy or entry.crs
    if parse_condition(entry.condition) != "moved":
        if moved_fields:
            raise InspectionError(
                f"{entry.point_id}: a new id, position or CRS (--new-id, --new-position, "
                "--new-xy, --crs) is for a moved mark only"
            )
        inspection = record_inspection(
            ws,
            entry.point_id,
            date=entry.date,
            inspector=entry.inspector,
            condition=entry.condition,
            usability=entry.usability,
            notes=entry.notes,
            evidence=evidence,
        )
        return inspection, None
    if entry.new_id is None or (entry.new_position is None and entry.new_xy is None):
        raise InspectionError(
            f"{entry.point_id} moved: a moved mark needs its new id and position "
            "(--new-id and --new-position or --new-xy; new_id and new_position or new_xy "
            "in a stream)"
        )
    if entry.usability is not None and parse_usability(entry.usability) != "none":
        raise InspectionError(
            f"{entry.point_id} is moved but usability {entry.usability!r} was given; the "
            "retired mark is usable for nothing (none)"
        )
    lon, lat = entry.new_position or (None, None)
    x, y = entry.new_xy or (None, None)
    return record_move(
        ws,
        entry.point_id,
        entry.new_id,
        date=entry.date,
        inspector=entry.inspector,
        lon=lon,
        lat=lat,
        x_north=x,
        y_east=y,
        crs=entry.crs,
        source=entry.source,
        notes=entry.notes,
        evidence=evidence,
    )


def record_stream(
    ws: Workspace,
    lines: Iterable[bytes],
    *,
    base: Path | None = None,
    on_recorded: Callable[[int, Inspection, ControlPoint | None], None] | None = None,
) -> int:
    """Record a stream of inspections (UTF-8 JSON Lines), each line as it arrives.

    Each line is its own transaction, committed before ``on_recorded(line_number,
    inspection, new_mark)`` is called (the caller's acknowledgement). The first bad line
    stops the stream: it records nothing (its evidence files are removed), and the lines
    before it stay recorded. Blank lines are skipped. Returns the number recorded.

    Raises:
        InspectionLineError: a bad line (malformed, not UTF-8, or refused by the
            registry's checks), named by its number. A failure of the store itself
            (:class:`~geobase.errors.StoreError`) propagates as it is.
    """
    count = 0
    for number, raw in enumerate(lines, start=1):
        try:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InspectionError(
                    f"not UTF-8 (byte {raw[exc.start]:#04x} at {exc.start + 1}); JSON Lines "
                    "are UTF-8 (a GBK file? convert it, or use 'geobase control import' "
                    "for a CSV)"
                ) from None
            if number == 1:
                text = text.removeprefix("\ufeff")
            entry = parse_line(text)
            if entry is None:
                continue
            inspection, new = record_entry(ws, entry, base=base)
        except StoreError:
            raise
        except GeobaseError as exc:
            raise InspectionLineError(f"line {number}: {exc}") from exc
        count += 1
        if on_recorded is not None:
            on_recorded(number, inspection, new)
    return count
