"""Validating control-point rows: parse, refuse duplicates, reconcile, assign districts.

:func:`validate_frame` is the one path from a frame of text cells (any input file, see
:mod:`geobase.control.sources`) to records: :func:`geobase.control.rows.parse_rows`
decides each row's cells, :mod:`geobase.control.reconcile` its coordinates and district,
and :class:`~geobase.control.records.ControlPoint` the finished record.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from geobase.control.columns import map_columns
from geobase.control.reconcile import assign_districts, invalid_records, reconcile, zone_attrs
from geobase.control.records import ControlPoint
from geobase.control.rows import COLUMNS, FLOAT_FIELDS, Context, parse_rows
from geobase.errors import GeobaseError, ValidationError
from geobase.geodesy.zones import resolve_crs
from geobase.sheets import rect_sheet_codes, sheet_codes
from geobase.store import Workspace

RECORD_FIELDS = (*(f for f in COLUMNS if f != "zone"), "sheet_10k", "sheet_500")


def record_dict(c: dict[str, np.ndarray], i: int) -> dict[str, Any]:
    """Row ``i`` of the columns as ControlPoint keyword arguments."""
    out = {}
    for name in RECORD_FIELDS:
        value = c[name][i]
        if name in FLOAT_FIELDS:
            value = None if np.isnan(value) else float(value)
        elif name == "gk_epsg":
            value = int(value)
        elif name == "cors":
            value = bool(value)
        out[name] = value
    return out


def context(ws: Workspace) -> Context:
    """What rows of ``ws`` are checked against: its CRS, its districts, today."""
    from geobase.store.districts import list_districts

    districts = list_districts(ws.store)
    return Context(
        default_crs=resolve_crs(ws.config.crs),
        districts=None if districts.empty else districts,
        today=dt.date.today(),
    )


def _without(rows: np.ndarray, problems: dict[int, str]) -> np.ndarray:
    return np.array([i for i in rows.tolist() if i not in problems], dtype=np.int64)


def validate_frame(
    frame: pd.DataFrame, labels: list[str], ws: Workspace
) -> tuple[dict[str, np.ndarray], np.ndarray, list[tuple[int, str]]]:
    """Validate an input frame of text cells, column by column.

    Returns:
        (record columns, each indexed by input row; the good rows; [(row index, reason)]).

    Raises:
        ValidationError: the frame has no point-id column, or two columns give one field.
    """
    fields_ = map_columns(frame.columns)
    if "point_id" not in fields_:
        raise ValidationError(
            f"no point-id column among {list(frame.columns)}: expected 点号 or point_id"
        )
    ctx = context(ws)
    cols, problems = parse_rows(frame, fields_, ctx)
    # duplicate ids among the parsed rows: each after the first is refused
    idx = _without(np.arange(len(frame)), problems)
    codes, _ = pd.factorize(pd.Series(cols["point_id"][idx], dtype=object))
    _, first = np.unique(codes, return_index=True)
    first_of = idx[first][codes]
    for i, f in zip(idx[first_of != idx].tolist(), first_of[first_of != idx].tolist(), strict=True):
        problems[i] = f"duplicate point id {cols['point_id'][i]!r} (first on {labels[f]})"
    good = _without(idx, problems)
    sub = {name: values[good] for name, values in cols.items()}
    for j, msg in reconcile(sub, ctx).items():
        problems[int(good[j])] = msg
    for name, values in sub.items():
        cols[name][good] = values
    good = _without(good, problems)
    problems.update(assign_districts(cols, good, ctx))
    good = _without(good, problems)
    cols["sheet_10k"] = np.full(len(frame), None, dtype=object)
    cols["sheet_500"] = np.full(len(frame), None, dtype=object)
    if len(good):
        lon, lat = cols["lon"][good], cols["lat"][good]
        cols["sheet_10k"][good] = sheet_codes(lon, lat, 10_000).astype(str).astype(object)
        z = zone_attrs(cols["zone"][good])
        y_plain = cols["y_east"][good] - np.where(z["prefixed"] == 1.0, z["number"] * 1_000_000, 0)
        s500 = rect_sheet_codes(y_plain, cols["x_north"][good], 500)
        cols["sheet_500"][good] = s500.astype(str).astype(object)
        for i in invalid_records(cols, good).tolist():
            try:
                ControlPoint(**record_dict(cols, i))
            except GeobaseError as exc:
                problems[i] = str(exc)
        good = _without(good, problems)
    return cols, good, sorted(problems.items())


def validate_rows(
    frame: pd.DataFrame, labels: list[str], ws: Workspace
) -> tuple[list[ControlPoint], list[int], list[tuple[int, str]]]:
    """Validate an input frame of text cells.

    Returns:
        (records, the row index of each record, [(row index, reason)] for bad rows).

    Raises:
        ValidationError: the frame has no point-id column, or two columns give one field.
    """
    cols, good, problems = validate_frame(frame, labels, ws)
    rows = good.tolist()
    return [ControlPoint(**record_dict(cols, i)) for i in rows], rows, problems
