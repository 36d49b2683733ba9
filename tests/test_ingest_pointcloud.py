"""Point-cloud ingest: chunked statistics, occupancy footprint, GPS-time dates, DEMs."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil

import numpy as np
import pytest
import rasterio
import shapely
from pyproj import Transformer
from rio_cogeo.cogeo import cog_validate

from geobase.catalog import current_datasets
from geobase.errors import MissingCRS, SourceReadError, UnsupportedInput
from geobase.ingest import ingest, pointcloud
from geobase.ingest.metadata import gps_to_utc, gps_window
from tests.conftest import run_cli
from tests.ingest_factories import EAST0, NORTH0, write_las

TO_4548 = Transformer.from_crs(4490, 4548, always_xy=True)

# adjusted standard GPS time of 2023-06-01T00:00:00 UTC (18 leap seconds) minus 1e9
JUNE_2023 = (
    (
        dt.datetime(2023, 6, 1, tzinfo=dt.UTC) - dt.datetime(1980, 1, 6, tzinfo=dt.UTC)
    ).total_seconds()
    + 18
    - 1e9
)


def n_records(ws) -> int:
    with ws.store.read() as tx:
        return tx.scalar("SELECT count(*) FROM datasets")


def test_gps_time_conversions():
    assert gps_to_utc(0) == dt.datetime(1980, 1, 6, tzinfo=dt.UTC)
    # 2017-01-01: GPS - UTC = 18 s
    t = (
        dt.datetime(2017, 1, 1, 0, 0, 18, tzinfo=dt.UTC) - dt.datetime(1980, 1, 6, tzinfo=dt.UTC)
    ).total_seconds()
    assert gps_to_utc(t) == dt.datetime(2017, 1, 1, tzinfo=dt.UTC)
    w = gps_window(JUNE_2023 + 3600, JUNE_2023 + 2 * 86400, adjusted=True, reference=None)
    assert (w.start, w.end) == (dt.date(2023, 6, 1), dt.date(2023, 6, 3))
    # week time: placed in the last week that ends the flight before the reference date
    w = gps_window(86400 * 2 + 100, 86400 * 2 + 200, adjusted=False, reference=dt.date(2015, 9, 10))
    assert w.start == dt.date(2015, 9, 8)  # Tuesday of the week starting Sunday 2015-09-06
    w = gps_window(86400 * 5 + 100, 86400 * 5 + 200, adjusted=False, reference=dt.date(2015, 9, 10))
    assert w.start == dt.date(2015, 9, 4)  # Friday: the week before
    assert gps_window(100, 200, adjusted=False, reference=None) is None


def test_synthetic_cloud_footprint_stats_and_dates(tmp_path, workspace):
    path = write_las(
        tmp_path / "block_a.laz", n=20000, size=100, gps=(JUNE_2023 + 10, JUNE_2023 + 90000)
    )
    [r] = ingest(workspace, [path])
    frame = current_datasets(workspace.store)
    row = frame.iloc[0]
    assert (row.acquired_start, row.acquired_end) == ("2023-06-01", "2023-06-02")
    assert row.point_count == 20000 and row.epsg == 4548
    meta = json.loads(row.metadata)
    assert sum(meta["classes"].values()) == 20000 and set(meta["classes"]) == {"1", "2"}
    assert meta["gps_time_type"] == "adjusted standard"
    # the 100 m x 100 m square, within the occupancy cell size at the edges
    coords = shapely.get_coordinates(row.geometry)
    x, y = TO_4548.transform(coords[:, 0], coords[:, 1])
    local = shapely.set_coordinates(row.geometry, np.column_stack([x, y]))
    assert local.area == pytest.approx(100 * 100, rel=0.1)
    assert local.contains(shapely.box(EAST0 + 5, NORTH0 + 5, EAST0 + 95, NORTH0 + 95))
    assert meta["density_per_m2"] == pytest.approx(2.0, rel=0.1)
    assert r.product == "pointcloud"


def test_l_shaped_cloud_footprint_is_not_its_bounds(tmp_path):
    a = write_las(tmp_path / "a.las", n=6000, size=100, seed=1)
    info = pointcloud.read_header(a)
    stats = pointcloud.scan(info, chunk_points=1000)  # many chunks
    assert stats.point_count == 6000
    import laspy

    las = laspy.read(a)
    keep = ~((las.x > EAST0 + 50) & (las.y > NORTH0 + 50))  # an L: one quadrant empty
    las.points = las.points[keep]
    las.write(tmp_path / "l.las")
    info = pointcloud.read_header(tmp_path / "l.las")
    stats = pointcloud.scan(info, chunk_points=1000)
    _geom, local = pointcloud.footprint(info, stats)
    assert local.area == pytest.approx(7500, rel=0.12)


def test_week_time_without_reference_is_undated(tmp_path, workspace):
    path = write_las(tmp_path / "weekly.las", gps=(1000, 5000), adjusted=False, creation_date=None)
    [undated] = ingest(workspace, [path], dataset_id="weekly-undated")
    assert undated.record["acquired_start"] is None  # GPS week seconds alone name no date
    # with the header's creation date, the week is placed before it
    dated = write_las(tmp_path / "dated.las", gps=(1.5 * 86400, 1.5 * 86400 + 20), adjusted=False)
    [d] = ingest(workspace, [dated])
    assert d.record["acquired_start"] == "2024-01-08"  # Monday before Wednesday 2024-01-10
    [r] = ingest(workspace, [path], acquired="2024-02-01")
    assert r.record["acquired_start"] == "2024-02-01"


def test_dem_from_ground_points(tmp_path, workspace):
    path = write_las(tmp_path / "dem_src.las", n=30000, size=60, gps=(JUNE_2023, JUNE_2023 + 10))
    results = ingest(workspace, [path], dem_resolution=2.0)
    assert [r.kind for r in results] == ["pointcloud", "dem"]
    dem = results[1]
    assert dem.product == "dem" and dem.dataset_id == "dem_src-dem"
    stored = workspace.root / dem.path
    assert cog_validate(str(stored), quiet=True)[0]
    with rasterio.open(stored) as ds:
        assert ds.res == (2.0, 2.0) and ds.crs.to_epsg() == 4548
        band = ds.read(1, masked=True)
        # z = 10 + 0.05 * (x - x0): the cell centres' heights
        cols = np.arange(ds.width) * 2 + 1 + (ds.bounds.left - EAST0)
        expected = 10 + 0.05 * cols
        assert np.abs(band.mean(axis=0) - expected).max() < 0.1
    record = current_datasets(workspace.store).set_index("dataset_id").loc["dem_src-dem"]
    assert json.loads(record.derived_from) == ["dem_src@1"]
    assert record.acquired_start == "2023-06-01"


def test_dem_needs_ground_points(tmp_path, workspace):
    path = write_las(tmp_path / "noground.las", ground_fraction=0.0, gps=(JUNE_2023, JUNE_2023 + 1))
    with pytest.raises(UnsupportedInput, match="no ground points"):
        ingest(workspace, [path], dem_resolution=1.0)
    assert n_records(workspace) == 0


def test_truncated_and_empty_las_refused(tmp_path, workspace, real_data):
    trunc = tmp_path / "trunc.las"
    shutil.copy(real_data / "simple.las", trunc)
    os.truncate(trunc, 20000)
    with pytest.raises(SourceReadError, match=r"trunc\.las"):
        ingest(workspace, [trunc], crs="EPSG:2992", acquired="2020-01-01")
    # cut at a whole record: fewer points than the header says
    exact = tmp_path / "exact.las"
    shutil.copy(real_data / "simple.las", exact)
    with open(exact, "rb") as f:
        f.seek(96)
        offset = int.from_bytes(f.read(4), "little")
    os.truncate(exact, offset + 34 * 500)
    with pytest.raises(SourceReadError, match="truncated"):
        ingest(workspace, [exact], crs="EPSG:2992", acquired="2020-01-01")
    laz = tmp_path / "trunc.laz"
    shutil.copy(real_data / "autzen_trim.laz", laz)
    os.truncate(laz, 300_000)
    with pytest.raises(SourceReadError, match=r"trunc\.laz"):
        ingest(workspace, [laz])
    empty = tmp_path / "zero.las"
    empty.write_bytes(b"")
    with pytest.raises(SourceReadError, match="empty file"):
        ingest(workspace, [empty], crs="EPSG:2992", acquired="2020-01-01")
    assert n_records(workspace) == 0


def test_real_simple_las_needs_crs(real_data, workspace):
    with pytest.raises(MissingCRS, match="--crs"):
        ingest(workspace, [real_data / "simple.las"], acquired="2020-01-01")
    assert n_records(workspace) == 0
    # with --crs alone it ingests; its GPS week seconds name no date, so none is invented
    [r] = ingest(workspace, [real_data / "simple.las"], crs="EPSG:2992")
    row = current_datasets(workspace.store).iloc[0]
    assert row.point_count == 1065 and row.epsg == 2992
    assert row.acquired_start is None
    # the same points, LAZ-compressed (lazrs): same statistics
    [z] = ingest(
        workspace,
        [real_data / "simple.laz"],
        crs="EPSG:2992",
        acquired="2020-01-01",
        dataset_id="simple-laz",
    )
    assert z.record["point_count"] == 1065
    assert (
        json.loads(z.record["metadata"])["classes"] == json.loads(r.record["metadata"])["classes"]
    )


def test_real_autzen_feet_crs_and_gps_window(real_data, workspace):
    ingest(workspace, [real_data / "autzen_trim.laz"])
    row = current_datasets(workspace.store).iloc[0]
    assert row.point_count == 110000
    assert row.epsg == 2994  # NAD83(HARN) / Oregon GIC Lambert (ft), identified from ESRI WKT
    meta = json.loads(row.metadata)
    assert meta["horizontal_unit_m"] == pytest.approx(0.3048)
    # the footprint lies at Autzen stadium, Eugene, Oregon
    assert row.geometry.bounds[0] == pytest.approx(-123.07, abs=0.01)
    assert row.geometry.bounds[1] == pytest.approx(44.05, abs=0.01)
    # the area in m2, not ft2: 1,177 ft x 563 ft is about 61,500 m2 at most
    assert 30_000 < meta["footprint_area_m2"] < 62_000
    assert (row.acquired_start, row.acquired_end) == ("2015-09-08", "2015-09-08")
    assert "GPS week time" in meta["acquired_source"]


def test_cli_point_clouds(real_data, workspace):
    ws = ["--workspace", workspace.root]
    result = run_cli(["ingest", real_data / "simple.las", *ws])
    assert result.exit_code == 2 and "--crs" in result.stderr
    result = run_cli(
        ["ingest", real_data / "simple.las", "--crs", "EPSG:99999", "--acquired", "2020-01-01", *ws]
    )
    assert result.exit_code == 2 and result.stderr.startswith("Error:")
    result = run_cli(["ingest", real_data / "simple.las", "--crs", "EPSG:2992", *ws])
    assert result.exit_code == 0, result.stderr
    assert "acquisition date unknown" in result.stderr
    result = run_cli(
        ["ingest", real_data / "autzen_trim.laz", "--dem", "2", "--format", "json", *ws]
    )
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert [o["kind"] for o in out] == ["pointcloud", "dem"]
    assert n_records(workspace) == 3
