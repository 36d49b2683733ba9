"""The publication log (发布记录): what was released, when, by whom, after which review.

The plan (DOMAIN.md section 8) sets a cadence for the public service platform: the
resource catalogue at least quarterly, imagery at least yearly, geographic entities and
place names at least twice in the plan period, 3D data at least once. Each release is
one append-only row of ``publications`` with its classification review (分类分级审查);
:func:`check_cadence` shows, from the log alone, whether the cadence was kept.

Example:
    >>> record_publication(ws.store, subject="catalogue", kind="catalogue",  # doctest: +SKIP
    ...     classification="public", reviewer="李审", review_decision="approved",
    ...     review_date="2024-03-28", released_by="王发")
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from geobase import dates
from geobase.classification import check_classification, visible_levels
from geobase.errors import StoreError, ValidationError
from geobase.store import Store, utc_now

PLAN_PERIOD: tuple[dt.date, dt.date] = (dt.date(2021, 1, 1), dt.date(2025, 12, 31))


@dataclass(frozen=True)
class Cadence:
    """How often a kind of release is due.

    Attributes:
        kind: the publication kind.
        name_zh, name_en: labels.
        every_months: at least one release in every such calendar interval (3: every
            quarter, 12: every year); None for count rules.
        min_in_period: at least this many releases in the plan period; None for
            interval rules.
    """

    kind: str
    name_zh: str
    name_en: str
    every_months: int | None = None
    min_in_period: int | None = None

    @property
    def rule(self) -> str:
        if self.every_months == 3:
            return "every quarter / 每季度"
        if self.every_months == 12:
            return "every year / 每年"
        if self.every_months:
            return f"every {self.every_months} months"
        return f"at least {self.min_in_period} in the period / 期内至少{self.min_in_period}次"


CADENCES: tuple[Cadence, ...] = (
    Cadence("catalogue", "资源目录", "resource catalogue", every_months=3),
    Cadence("imagery", "影像", "imagery", every_months=12),
    Cadence("entities", "地理实体", "geographic entities", min_in_period=2),
    Cadence("placenames", "地名", "place names", min_in_period=2),
    Cadence("model3d", "三维数据", "3D data", min_in_period=1),
)
# kinds without a cadence of their own
OTHER_KINDS: tuple[str, ...] = ("dem", "pointcloud", "vector", "tiles", "control", "other")
KINDS: tuple[str, ...] = tuple(c.kind for c in CADENCES) + OTHER_KINDS
DECISIONS: tuple[str, ...] = ("approved",)

_COLUMNS = (
    "fid, subject, kind, classification, reviewer, review_decision, review_date, "
    "released_by, released_at, notes"
)


@dataclass(frozen=True)
class Publication:
    """One release in the publication log (a row of ``publications``)."""

    fid: int
    subject: str  # catalogue, pyramid:<name>, dataset:<id>, or a short label
    kind: str  # one of KINDS
    classification: str  # the level the review assigned
    reviewer: str
    review_decision: str  # approved
    review_date: dt.date
    released_by: str
    released_at: str  # UTC, ISO 8601 with milliseconds, as stored
    notes: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Publication:
        """The record of a row of ``publications``."""
        try:
            return cls(
                fid=int(row["fid"]),
                subject=str(row["subject"]),
                kind=str(row["kind"]),
                classification=str(row["classification"]),
                reviewer=str(row["reviewer"]),
                review_decision=str(row["review_decision"]),
                review_date=dt.date.fromisoformat(str(row["review_date"])[:10]),
                released_by=str(row["released_by"]),
                released_at=str(row["released_at"]),
                notes=row.get("notes"),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise StoreError(
                f"publication #{row.get('fid')}: {err!r} is not what the log records; "
                "the workspace's store is damaged"
            ) from err


def _as_date(value: dt.date | str, what: str) -> dt.date:
    return dates.parse_date(value, what)


def _as_datetime(value: dt.datetime | dt.date | str) -> str:
    """A release time as a store DATETIME (UTC, ISO 8601, milliseconds)."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(
                f"release time {text!r} is not an ISO date or date-time (YYYY-MM-DD[THH:MM])"
            ) from None
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def record_publication(
    store: Store,
    *,
    subject: str,
    kind: str,
    classification: str,
    reviewer: str,
    review_decision: str,
    review_date: dt.date | str,
    released_by: str,
    released_at: dt.datetime | dt.date | str | None = None,
    notes: str | None = None,
) -> Publication:
    """Record one release in the publication log; returns the stored record.

    Args:
        subject: what was released: ``catalogue``, ``pyramid:<name>``,
            ``dataset:<id>``, or any short label.
        kind: one of :data:`KINDS` (the cadence it counts towards).
        classification: the level the review assigned (public, internal, restricted).
        reviewer: who carried out the classification review.
        review_decision: the review's decision; only ``approved`` releases are recorded.
        review_date: when the review was made (not after the release).
        released_by: who released it.
        released_at: when (default: now); a date or ISO date-time, UTC unless it says.
        notes: free text.

    Raises:
        ValidationError: a field is missing or malformed, the review did not approve the
            release, or the review is dated after the release.
        UnknownClassification: the classification is not a known level.
    """
    for field, value in (
        ("subject", subject),
        ("reviewer", reviewer),
        ("released_by", released_by),
    ):
        if not value or not str(value).strip():
            raise ValidationError(f"{field} is empty; a release must name it")
    if kind not in KINDS:
        raise ValidationError(f"publication kind {kind!r} is not one of {', '.join(KINDS)}")
    check_classification(classification)
    if review_decision not in DECISIONS:
        raise ValidationError(
            f"review decision {review_decision!r} does not allow a release "
            f"(expected {', '.join(DECISIONS)}); nothing was recorded"
        )
    review_day = _as_date(review_date, "review date")
    released = _as_datetime(released_at) if released_at is not None else utc_now()
    if review_day > dt.date.fromisoformat(released[:10]):
        raise ValidationError(
            f"review date {review_day} is after the release ({released[:10]}); "
            "the classification review must come first"
        )
    row = {
        "subject": subject.strip(),
        "kind": kind,
        "classification": classification,
        "reviewer": reviewer.strip(),
        "review_decision": review_decision,
        "review_date": review_day.isoformat(),
        "released_by": released_by.strip(),
        "released_at": released,
        "notes": notes,
    }
    with store.transaction() as tx:
        fid = tx.insert("publications", row)
    return Publication.from_row({"fid": fid, **row})


def publication_log(
    store: Store,
    *,
    kind: str | None = None,
    since: dt.date | str | None = None,
    until: dt.date | str | None = None,
    clearance: str = "restricted",
) -> list[Publication]:
    """The publication log, newest first.

    Args:
        kind: only releases of this kind.
        since, until: only releases on or after / on or before these dates.
        clearance: only releases whose classification this clearance may see (the
            service passes the caller's clearance, so that a public caller never learns
            of a restricted release).
    """
    where = []
    params: dict = {}
    if kind is not None:
        if kind not in KINDS:
            raise ValidationError(f"publication kind {kind!r} is not one of {', '.join(KINDS)}")
        where.append("kind = :kind")
        params["kind"] = kind
    if since is not None:
        where.append("substr(released_at, 1, 10) >= :since")
        params["since"] = _as_date(since, "since").isoformat()
    if until is not None:
        where.append("substr(released_at, 1, 10) <= :until")
        params["until"] = _as_date(until, "until").isoformat()
    levels = visible_levels(clearance)
    names = [f":c{i}" for i in range(len(levels))]
    where.append(f"classification IN ({', '.join(names)})")
    params.update({f"c{i}": level for i, level in enumerate(levels)})
    with store.read() as tx:
        rows = tx.query(
            f"SELECT {_COLUMNS} FROM publications WHERE {' AND '.join(where)} "
            "ORDER BY released_at DESC, fid DESC",
            params,
        )
    return [Publication.from_row(row) for row in rows]


@dataclass(frozen=True)
class CadenceStatus:
    """How one kind of release stands against its cadence.

    ``status`` is ``ok`` (kept so far), ``due`` (the current interval or the period
    still needs a release), ``missed`` (an interval passed, or the period ended, short of
    releases).
    """

    kind: str
    name_zh: str
    name_en: str
    rule: str
    releases_in_period: int
    last_release: str | None
    missed: tuple[str, ...]
    due_by: str | None
    status: str


def _intervals(start: dt.date, end: dt.date, months: int) -> list[tuple[dt.date, dt.date]]:
    """Calendar intervals of ``months`` (aligned to January) that overlap [start, end]."""
    out: list[tuple[dt.date, dt.date]] = []
    year, month = start.year, ((start.month - 1) // months) * months + 1
    while True:
        first = dt.date(year, month, 1)
        if first > end:
            return out
        nm = month + months
        ny = year + (nm - 1) // 12
        nm = (nm - 1) % 12 + 1
        last = dt.date(ny, nm, 1) - dt.timedelta(days=1)
        out.append((max(first, start), min(last, end)))
        year, month = ny, nm


def _label(first: dt.date, months: int) -> str:
    if months == 12:
        return f"{first.year}"
    if months == 3:
        return f"{first.year}-Q{(first.month - 1) // 3 + 1}"
    return f"{first.isoformat()}"


def check_cadence(
    store: Store,
    *,
    as_of: dt.date | str | None = None,
    period: tuple[dt.date | str, dt.date | str] = PLAN_PERIOD,
    clearance: str = "restricted",
) -> list[CadenceStatus]:
    """Check the publication log against the plan's cadence, as of a date.

    Interval rules (catalogue quarterly, imagery yearly) need a release in every
    calendar quarter / year of the period; intervals that ended by ``as_of`` without
    one are ``missed``, the current one is ``due`` until it has one. Count rules
    (entities, place names, 3D) need that many releases within the period.

    Args:
        as_of: the date to judge at (default: today).
        period: the plan period (default 2021-2025).
        clearance: count only releases this clearance may see.
    """
    start, end = (_as_date(p, "period") for p in period)
    if start > end:
        raise ValidationError(f"plan period starts ({start}) after it ends ({end})")
    today = _as_date(as_of, "as_of") if as_of is not None else dt.date.today()
    levels = visible_levels(clearance)
    params: dict = {"start": start.isoformat(), "end": min(end, today).isoformat()}
    params.update({f"c{i}": level for i, level in enumerate(levels)})
    names = ", ".join(f":c{i}" for i in range(len(levels)))
    with store.read() as tx:
        rows = tx.query(
            "SELECT kind, substr(released_at, 1, 10) AS day FROM publications "
            "WHERE substr(released_at, 1, 10) BETWEEN :start AND :end "
            f"AND classification IN ({names}) ORDER BY released_at",
            params,
        )
    days: dict[str, list[dt.date]] = {}
    for r in rows:
        days.setdefault(r["kind"], []).append(dt.date.fromisoformat(r["day"]))
    out = []
    for cadence in CADENCES:
        released = days.get(cadence.kind, [])
        missed: list[str] = []
        due_by = None
        if cadence.every_months:
            for first, last in _intervals(start, min(end, today), cadence.every_months):
                if any(first <= d <= last for d in released):
                    continue
                if last < today:
                    missed.append(_label(first, cadence.every_months))
                else:  # the interval in progress
                    full_last = _intervals(first, end, cadence.every_months)[0][1]
                    due_by = full_last.isoformat()
            status = "missed" if missed else ("due" if due_by else "ok")
        else:
            need = cadence.min_in_period or 0
            if len(released) >= need:
                status = "ok"
            elif today >= end:
                status = "missed"
                missed.append(f"{len(released)} of {need}")
            else:
                status = "due"
                due_by = end.isoformat()
        out.append(
            CadenceStatus(
                kind=cadence.kind,
                name_zh=cadence.name_zh,
                name_en=cadence.name_en,
                rule=cadence.rule,
                releases_in_period=len(released),
                last_release=released[-1].isoformat() if released else None,
                missed=tuple(missed),
                due_by=due_by,
                status=status,
            )
        )
    return out
