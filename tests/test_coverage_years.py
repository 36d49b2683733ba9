"""Coverage per acquisition year (geobase.coverage.years), the service's coverage layer."""

from __future__ import annotations

import datetime as dt

import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geobase.catalog.records import DatasetRecord
from geobase.coverage import coverage_by_year


def _record(i: int, start: dt.date | None, end: dt.date | None, box=None) -> DatasetRecord:
    return DatasetRecord(
        dataset_id=f"d{i}",
        version=1,
        product="dom02",
        kind="imagery",
        classification="public",
        path=f"data/dom02/d{i}/1/d{i}.tif",
        acquired_start=start,
        acquired_end=end,
        footprint=None if box is None else shapely.box(*box),
    )


def test_groups_by_end_year_newest_first_with_areas_and_dates():
    records = [
        _record(1, dt.date(2021, 3, 1), dt.date(2021, 3, 9), (116.6, 23.3, 116.65, 23.4)),
        _record(2, dt.date(2023, 1, 5), dt.date(2023, 2, 1), (116.6, 23.3, 116.7, 23.4)),
        _record(3, dt.date(2022, 12, 20), dt.date(2023, 1, 10), (116.65, 23.3, 116.7, 23.4)),
        _record(4, dt.date(2019, 6, 1), None, (116.0, 23.0, 116.1, 23.1)),  # start only
        _record(5, None, None),  # undated, no footprint
    ]
    years = coverage_by_year(records)
    assert [y.label for y in years] == ["unknown", "2023", "2021", "2019"]
    unknown, y2023, y2021, y2019 = years
    assert unknown.area is None and unknown.datasets == 1
    assert y2023.datasets == 2
    assert y2023.area.bounds == (116.6, 23.3, 116.7, 23.4)  # the union of both
    assert (y2023.acquired_earliest, y2023.acquired_latest) == (
        dt.date(2023, 1, 10),
        dt.date(2023, 2, 1),
    )
    assert y2021.area.equals(shapely.box(116.6, 23.3, 116.65, 23.4))
    # a start-only dataset counts for its start's year; it has no end to report
    assert y2019.year == 2019 and y2019.acquired_latest is None


days = st.one_of(st.none(), st.dates(dt.date(1990, 1, 1), dt.date(2030, 12, 31)))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(days, days), max_size=30))
def test_every_dataset_counts_once_in_its_year(windows):
    records = [_record(i, s, e) for i, (s, e) in enumerate(windows)]
    years = coverage_by_year(records)
    assert sum(y.datasets for y in years) == len(records)
    labels = [y.year for y in years]
    dated = [y for y in labels if y is not None]
    assert dated == sorted(dated, reverse=True) and len(set(labels)) == len(labels)
    assert None not in labels[1:]  # undated first, as the service has always listed it
    for y in years:
        ends = [e for s, e in windows if (e or s) is not None and (e or s).year == y.year]
        ends = [e for e in ends if e is not None]
        if y.year is not None:
            assert y.acquired_latest == (max(ends) if ends else None)
