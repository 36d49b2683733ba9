"""LAS/LAZ/COPC headers that lie: checked against the file before any read, refused fast
and in bounded memory; implausible header dates and mislabelled GPS time types."""

from __future__ import annotations

import datetime as dt
import logging
import struct
import time
import tracemalloc

import laspy
import pytest

from geobase.errors import SourceReadError, UnsupportedInput
from geobase.ingest import ingest, pointcloud
from geobase.ingest.lasheader import check_header
from tests.ingest_factories import write_las

# adjusted standard GPS time of 2023-06-01T00:00:00Z (18 leap seconds)
JUNE_2023 = (
    (
        dt.datetime(2023, 6, 1, tzinfo=dt.UTC) - dt.datetime(1980, 1, 6, tzinfo=dt.UTC)
    ).total_seconds()
    + 18
    - 1e9
)


@pytest.mark.parametrize("name", ["simple.las", "simple.laz", "autzen_trim.laz"])
def test_real_files_pass_and_agree_with_laspy(real_data, name):
    path = real_data / name
    header = check_header(path)
    with laspy.open(path) as reader:
        h = reader.header
        assert header.point_count == h.point_count
        assert header.version == (h.version.major, h.version.minor)
        assert header.point_format == h.point_format.id
        assert header.compressed == (path.suffix == ".laz")
        assert header.mins == pytest.approx(tuple(h.mins))
        assert header.maxs == pytest.approx(tuple(h.maxs))


def _patched(tmp_path, patches, **kw):
    base = write_las(tmp_path / "base.las", n=20, version="1.2", point_format=1, **kw)
    data = bytearray(base.read_bytes())
    for offset, fmt, value in patches:
        struct.pack_into(fmt, data, offset, value)
    path = tmp_path / "lying.las"
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    ("patches", "error", "message"),
    [
        ([(100, "<I", 4_000_000_000)], SourceReadError, "4,000,000,000 variable-length"),
        ([(107, "<I", 4_000_000_000)], SourceReadError, "4,000,000,000 points"),
        ([(96, "<I", 4_000_000_000)], SourceReadError, "puts the points at byte"),
        ([(25, "<B", 9)], UnsupportedInput, "version 1.9"),
        ([(104, "<B", 0x80 | 1), (107, "<I", 4_000_000_000)], SourceReadError, "compressed"),
    ],
)
def test_lying_headers_are_refused_fast_in_bounded_memory(tmp_path, patches, error, message):
    path = _patched(tmp_path, patches)
    assert path.stat().st_size < 2000
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(error, match=message):
            pointcloud.read_header(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 1.0
    assert peak < 1_000_000  # bytes: nothing sized by the header's claims


def test_points_outside_the_header_bounds_land_in_edge_cells(tmp_path):
    # a header whose bounds are too small for its points (a writer that never updated
    # them): the occupancy grid clips, it does not overflow
    path = write_las(tmp_path / "a.las", n=500, size=100)
    data = bytearray(path.read_bytes())
    _maxx, minx = struct.unpack_from("<2d", data, 179)
    struct.pack_into("<d", data, 179, minx + 1.0)  # max x just above min x
    path.write_bytes(bytes(data))
    info = pointcloud.read_header(path)
    stats = pointcloud.scan(info)
    assert stats.point_count == 500 and stats.occupancy.any()


def test_copc_style_zero_date_is_ignored_not_used(tmp_path, workspace, caplog):
    # a writer's 0001-01-01 header date placed week times in year 1 (0001-01-02)
    path = write_las(
        tmp_path / "copc.las",
        gps=(1000, 5000),
        adjusted=False,
        creation_date=dt.date(1, 1, 1),
    )
    info = pointcloud.read_header(path)
    assert info.creation_date is None
    with caplog.at_level(logging.WARNING):
        [r] = ingest(workspace, [path])
    assert r.record["acquired_start"] is None  # undated, never year 1
    assert "header creation date 0001-01-01 is outside 1990-01-01" in caplog.text
    future = write_las(tmp_path / "future.las", creation_date=dt.date(2099, 1, 1))
    assert pointcloud.read_header(future).creation_date is None


def test_adjusted_times_under_the_week_flag_are_recognised(tmp_path, workspace, caplog):
    # the 1 s GPS-week flag, but times far beyond a week: adjusted standard GPS time
    path = write_las(
        tmp_path / "mislabelled.las", gps=(JUNE_2023 + 10, JUNE_2023 + 90000), adjusted=False
    )
    with caplog.at_level(logging.WARNING):
        [r] = ingest(workspace, [path])
    assert (r.record["acquired_start"], r.record["acquired_end"]) == ("2023-06-01", "2023-06-02")
    assert "read as adjusted standard GPS time despite the header flag" in caplog.text


def test_gps_times_that_name_no_plausible_date_leave_the_data_undated(tmp_path, workspace):
    # adjusted times of 2040 and the week flag with negative times: neither is a date
    later = write_las(tmp_path / "later.las", gps=(9e8, 9e8 + 5))
    negative = write_las(tmp_path / "negative.las", gps=(-5e9, -4e9), adjusted=False)
    for path in (later, negative):
        [r] = ingest(workspace, [path])
        assert r.record["acquired_start"] is None


def test_seconds_of_a_week_follow_the_flag_both_ways(tmp_path, workspace, caplog):
    # 1.5 days of seconds fit both readings: the adjusted flag means 2011-09-15
    # (1e9 s after the GPS epoch + 129600 s), the week flag the week before creation
    times = (1.5 * 86400, 1.5 * 86400 + 20)
    flagged = write_las(
        tmp_path / "flagged.las", gps=times, adjusted=True, creation_date=dt.date(2011, 10, 3)
    )
    info = pointcloud.read_header(flagged)
    stats = pointcloud.scan(info)
    assert info.adjusted_gps and pointcloud.gps_time_type(info, stats) == "adjusted standard"
    with caplog.at_level(logging.WARNING):
        window = pointcloud.acquired_from(info, stats)
    assert (window.start, window.end) == (dt.date(2011, 9, 15), dt.date(2011, 9, 15))
    assert caplog.text == ""  # created 18 days later: nothing contradicts the flag
    weekly = write_las(
        tmp_path / "weekly.las", gps=times, adjusted=False, creation_date=dt.date(2024, 1, 10)
    )
    info = pointcloud.read_header(weekly)
    stats = pointcloud.scan(info)
    assert pointcloud.gps_time_type(info, stats) == "week"
    with caplog.at_level(logging.WARNING):
        window = pointcloud.acquired_from(info, stats)
    assert window.start == dt.date(2024, 1, 8)  # the Monday before the header's 2024-01-10
    assert caplog.text == ""


def test_adjusted_flag_contradicted_by_the_creation_date_is_followed_with_a_warning(
    tmp_path, workspace, caplog
):
    # flagged adjusted, created 2024: the flag still decides (2011-09-15), and the
    # warning names the week reading (2024-01-08) so that the user can set --acquired
    path = write_las(tmp_path / "doubt.las", gps=(1.5 * 86400, 1.5 * 86400 + 20), adjusted=True)
    with caplog.at_level(logging.WARNING):
        [r] = ingest(workspace, [path])
    assert (r.record["acquired_start"], r.record["acquired_end"]) == ("2011-09-15", "2011-09-15")
    assert "date the data 2011-09-15, but the header was created 2024-01-10" in caplog.text
    assert "(GPS week time) they date 2024-01-08" in caplog.text
