"""Writing validated control points to the registry: insert, update, keep history.

Re-importing a point whose coordinates changed keeps the replaced values in
``control_point_history`` and bumps the record's version; re-importing an unchanged point
changes nothing, so an import can be repeated safely.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely

from geobase.control.records import ControlPoint
from geobase.control.rows import FLOAT_FIELDS
from geobase.errors import ValidationError
from geobase.store import Workspace, utc_now

_COORD_FIELDS = (
    "lon",
    "lat",
    "ellh",
    "geo_source",
    "geo_epoch",
    "x_north",
    "y_east",
    "gk_epsg",
    "grid_source",
    "grid_epoch",
    "normal_h",
    "height_source",
    "height_epoch",
)
_ATTR_FIELDS = (
    "name",
    "kind",
    "cors",
    "gnss_grade",
    "level_grade",
    "cjj_grade",
    "district",
    "mark_type",
    "established",
    "custodian",
    "site",
    "route",
    "notes",
    "sheet_10k",
    "sheet_500",
)


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return abs(float(a) - float(b)) <= 1e-10 * max(1.0, abs(float(a)))
    return str(a) == str(b)


def _db_value(name: str, value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if name == "cors":
        return int(bool(value))
    return value


def write_records(
    ws: Workspace, records: Sequence[ControlPoint], source_file: str | None = None
) -> tuple[list[str], list[str], list[str], int]:
    """Insert new points and update changed ones, in one transaction.

    Returns:
        (added ids, ids with changed coordinates, ids with other changes, unchanged count).

    Raises:
        ValidationError: a point was retired (moved) and cannot take new coordinates.
    """
    values = {
        f: [_db_value(f, getattr(r, f)) for r in records]
        for f in ("point_id", *_ATTR_FIELDS, *_COORD_FIELDS, "replaces")
    }
    return write_values(ws, values, source_file)


def db_columns(cols: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, list]:
    """The database values of the validated rows ``rows``, one list per field."""
    out: dict[str, list] = {}
    for f in ("point_id", *_ATTR_FIELDS, *_COORD_FIELDS):
        v = cols[f][rows]
        if f in FLOAT_FIELDS:
            values = v.astype(object)
            values[np.isnan(v)] = None
            out[f] = values.tolist()
        elif f in ("gk_epsg", "cors"):
            out[f] = v.astype(np.int64).tolist()
        elif f == "established":
            out[f] = [None if d is None else d.isoformat() for d in v.tolist()]
        else:
            out[f] = v.tolist()
    out["replaces"] = [None] * len(rows)
    return out


def write_values(
    ws: Workspace, values: dict[str, list], source_file: str | None
) -> tuple[list[str], list[str], list[str], int]:
    """:func:`write_records` for database values given as one list per field."""
    now = utc_now()
    moved: list[str] = []
    changed: list[str] = []
    unchanged = 0
    ids = values["point_id"]
    with ws.store.transaction() as tx:
        existing: dict[str, dict] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            params = {f"p{k}": v for k, v in enumerate(chunk)}
            marks = ", ".join(f":{k}" for k in params)
            for row in tx.query(
                f"SELECT * FROM control_points WHERE point_id IN ({marks})", params
            ):
                existing[row["point_id"]] = row
        fields_ = list(values)
        new = [k for k, pid in enumerate(ids) if pid not in existing]
        added = [ids[k] for k in new]
        if new:
            pick = np.asarray(new)
            lon = np.asarray(values["lon"], dtype=float)[pick]
            lat = np.asarray(values["lat"], dtype=float)[pick]
            geoms = tx.geoms(shapely.points(lon, lat), 4490)
            names = [*fields_, "geom", "version", "source_file", "created_at", "updated_at"]
            columns = [[values[f][k] for k in new] for f in fields_]
            tail = (1, source_file, now, now)
            tx.insert_many(
                "control_points",
                [
                    dict(zip(names, (*row, g, *tail), strict=True))
                    for row, g in zip(zip(*columns, strict=True), geoms, strict=True)
                ],
            )
        problems = []
        for k, pid in enumerate(ids):
            old = existing.get(pid)
            if old is None:
                continue
            coords_changed = any(not _same(old[f], values[f][k]) for f in _COORD_FIELDS)
            attrs_changed = any(not _same(old[f], values[f][k]) for f in _ATTR_FIELDS)
            if not coords_changed and not attrs_changed:
                unchanged += 1
                continue
            if old["retired_on"] is not None and coords_changed:
                problems.append(
                    (
                        None,
                        f"point {pid} was retired on {old['retired_on']} (moved, "
                        f"replaced by {old['replaced_by']}); a moved mark gets a new id",
                    )
                )
                continue
            update = {f: values[f][k] for f in _ATTR_FIELDS}
            version = old["version"]
            if coords_changed:
                history = {f: old[f] for f in _COORD_FIELDS}
                history.update(
                    point_id=pid,
                    version=version,
                    source_file=old["source_file"],
                    valid_from=old["updated_at"],
                    superseded_at=now,
                )
                tx.insert("control_point_history", history)
                update.update({f: values[f][k] for f in _COORD_FIELDS})
                update["geom"] = tx.geom(shapely.Point(values["lon"][k], values["lat"][k]), 4490)
                version += 1
                moved.append(pid)
            else:
                changed.append(pid)
            update.update(version=version, updated_at=now, source_file=source_file, pid=pid)
            sets = ", ".join(f"{key} = :{key}" for key in update if key != "pid")
            tx.execute(f"UPDATE control_points SET {sets} WHERE point_id = :pid", update)
        if problems:
            raise ValidationError(problems[0][1], problems)
        tx.touch("control_points")
    return added, moved, changed, unchanged
