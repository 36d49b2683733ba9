"""Typed catalogue records: DatasetRecord converted once from the store's rows."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from geobase.catalog.records import (
    DatasetRecord,
    current_datasets,
    current_records,
    dataset_records,
)
from geobase.errors import StoreError
from geobase.ingest import ingest
from tests.ingest_factories import disc, write_las, write_tif

JUNE_2023 = 1369612818.0 - 1e9  # adjusted GPS time on 2023-06-01


@pytest.fixture
def filled(tmp_path, workspace):
    """2020 public imagery (a disc of data), 2022 internal imagery, 2023 restricted lidar."""
    a = write_tif(tmp_path / "a.tif", valid=disc(200, 200))
    b = write_tif(tmp_path / "b.tif", width=100, height=100, res=2.0)
    c = write_las(tmp_path / "c.las", gps=(JUNE_2023, JUNE_2023 + 100))
    ingest(workspace, [a], acquired="2020-03-01", classification="public", owner="市测绘院")
    ingest(workspace, [b], acquired="2022-05-01/2022-05-20")
    ingest(workspace, [c], classification="restricted")
    return workspace


def test_records_match_the_frame_row_for_row(filled):
    frame = current_datasets(filled.store)
    records = current_records(filled.store)
    assert [r.dataset_id for r in records] == list(frame["dataset_id"])  # newest first
    by_id = {r.dataset_id: r for r in records}
    a, b, c = by_id["a"], by_id["b"], by_id["c"]
    assert (a.acquired_start, a.acquired_end) == (dt.date(2020, 3, 1), dt.date(2020, 3, 1))
    assert (b.acquired_start, b.acquired_end) == (dt.date(2022, 5, 1), dt.date(2022, 5, 20))
    assert c.acquired_end == dt.date(2023, 6, 1)  # from the GPS times
    assert (a.classification, b.classification, c.classification) == (
        "public",
        "internal",
        "restricted",
    )
    assert a.owner == "市测绘院" and b.owner is None
    assert a.key == "a@1" and isinstance(a.version, int)
    # whole-number columns come back as int even where the column has gaps (floats in
    # pandas): epsg is recorded for every dataset here, point_count only for the lidar
    assert isinstance(c.point_count, int) and c.point_count > 0
    assert a.point_count is None and isinstance(a.epsg, int)
    assert isinstance(a.bands, int) and isinstance(a.resolution, float)
    # JSON columns decoded once
    row = frame.set_index("dataset_id").loc["a"]
    assert dict(a.metadata) == json.loads(row["metadata"])
    # the footprint is the frame's geometry
    assert a.footprint is not None and a.footprint.equals(row["geometry"])
    assert a.footprint.area < by_id["b"].footprint.area  # a disc in a smaller square


def test_from_row_reads_store_rows_and_frame_rows_alike(filled):
    with filled.store.read() as tx:
        raw = tx.query_one("SELECT * FROM datasets WHERE dataset_id = 'b'")
    assert raw is not None
    from_store = DatasetRecord.from_row(raw)
    [from_frame] = [r for r in dataset_records(current_datasets(filled.store)) if r.key == "b@1"]
    # the store's row has the footprint as a blob (not a geometry): compare the rest
    assert from_store.acquired_end == from_frame.acquired_end == dt.date(2022, 5, 20)
    assert from_store == from_frame  # footprint is not compared


def test_a_damaged_row_is_refused_not_half_read():
    row = {"dataset_id": "x", "version": 1.0, "product": "dom05", "kind": "imagery"}
    with pytest.raises(StoreError, match="no classification, path"):
        DatasetRecord.from_row(row)
    good = {**row, "classification": "public", "path": "data/x.tif"}
    record = DatasetRecord.from_row({**good, "epsg": np.float64(4548.0), "bands": np.nan})
    assert record.version == 1 and record.epsg == 4548 and record.bands is None
    with pytest.raises(StoreError, match="x@1"):
        DatasetRecord.from_row({**good, "acquired_end": "2023-13-45"})
    with pytest.raises(StoreError, match="x@1"):
        DatasetRecord.from_row({**good, "metadata": "{not json"})
