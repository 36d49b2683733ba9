"""The state of the control network: overdue marks and per-district statistics.

A mark is overdue when its latest inspection (or, never inspected, its establishment) is
older than the workspace's inspection cycle (``[control] inspection_cycle_days``).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from geobase.control.inspections import cycle_days
from geobase.dates import parse_date
from geobase.errors import ValidationError
from geobase.store import Workspace


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
    day = parse_date(as_of, "as-of date", partial=True) if as_of is not None else dt.date.today()
    cycle = cycle if cycle is not None else cycle_days(ws)
    if cycle <= 0:
        raise ValidationError(f"inspection cycle {cycle} days: expected > 0")
    marks = _latest(ws, day)
    start = [
        parse_date(
            last if isinstance(last, str) else (est if isinstance(est, str) else created[:10]),
            partial=True,
        )
        for last, est, created in zip(
            marks["last_inspected"], marks["established"], marks["created_at"], strict=True
        )
    ]
    marks["due"] = [s + dt.timedelta(days=cycle) for s in start]
    marks["days_overdue"] = [(day - d).days for d in marks["due"]]
    exists = [
        not isinstance(est, str) or parse_date(est, partial=True) <= day
        for est in marks["established"]
    ]
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
    day = parse_date(as_of, "as-of date", partial=True) if as_of is not None else dt.date.today()
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
