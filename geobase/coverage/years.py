"""Coverage per acquisition year: the area a product's datasets cover, one piece per year.

What the service's ``/api/coverage/{product}`` draws (so that a viewer colours coverage by
currency, 现势性) and what a notebook can map. A dataset's year is that of the end of its
acquisition window, else of its start; undated datasets form their own group.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import shapely
from shapely.geometry.base import BaseGeometry

from geobase.catalog.records import DatasetRecord


@dataclass(frozen=True)
class YearCoverage:
    """The datasets acquired in one year and the area they cover (EPSG:4490)."""

    year: int | None  # None: no acquisition date recorded
    area: BaseGeometry | None  # the union of their footprints; None where there is none
    datasets: int
    acquired_earliest: dt.date | None  # the earliest and latest end of acquisition
    acquired_latest: dt.date | None

    @property
    def label(self) -> str:
        """``2023``, or ``unknown`` for undated datasets."""
        return "unknown" if self.year is None else str(self.year)


def acquisition_year(record: DatasetRecord) -> int | None:
    """The year a dataset counts for: its acquisition's end, else its start."""
    day = record.acquired_end or record.acquired_start
    return None if day is None else day.year


def coverage_by_year(records: Iterable[DatasetRecord]) -> list[YearCoverage]:
    """One :class:`YearCoverage` per acquisition year, newest first, undated first of all
    (the service's order since v1: years as text, descending).

    The caller chooses the records (one product's current datasets, filtered by what the
    reader may see): this only groups them.
    """
    groups: dict[int | None, list[DatasetRecord]] = {}
    for record in records:
        groups.setdefault(acquisition_year(record), []).append(record)
    out = []
    for year in sorted(groups, key=lambda y: (y is not None, -(y or 0))):
        group = groups[year]
        footprints = [r.footprint for r in group if r.footprint is not None]
        area = shapely.union_all(footprints) if footprints else None
        ends = sorted(r.acquired_end for r in group if r.acquired_end is not None)
        out.append(
            YearCoverage(
                year=year,
                area=None if area is None or area.is_empty else area,
                datasets=len(group),
                acquired_earliest=ends[0] if ends else None,
                acquired_latest=ends[-1] if ends else None,
            )
        )
    return out
