"""The one date parser: the spellings it accepts, what it refuses, and the future rule
at every command that takes an acquisition or as-of date."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from geobase import dates
from geobase.errors import FutureDate, InvalidDate
from tests.conftest import run_cli
from tests.control_helpers import DISTRICTS
from tests.ingest_factories import write_tif


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01", dt.date(2024, 5, 1)),
        (" 2024/5/1 ", dt.date(2024, 5, 1)),
        ("2024.05.01", dt.date(2024, 5, 1)),
        ("2024:05:01 10:11:12", dt.date(2024, 5, 1)),  # TIFF DateTime
        ("20240501", dt.date(2024, 5, 1)),
        ("2024-05-01T23:59:59.5+08:00", dt.date(2024, 5, 1)),
        ("2024-05-01T10:00Z", dt.date(2024, 5, 1)),
        ("2024年5月1日", dt.date(2024, 5, 1)),
        ("2024 年 05 月 01 日", dt.date(2024, 5, 1)),
    ],
)
def test_spellings_of_one_day(text, expected):
    assert dates.parse_date(text) == expected


def test_partial_dates_only_where_asked():
    assert dates.parse_date("2021", partial=True) == dt.date(2021, 1, 1)
    assert dates.parse_date("2021-07", partial=True) == dt.date(2021, 7, 1)
    assert dates.parse_date("2021年7月", partial=True) == dt.date(2021, 7, 1)
    for text in ("2021", "2021-07", "2021年7月"):
        with pytest.raises(InvalidDate, match="expected YYYY-MM-DD"):
            dates.parse_date(text, "as-of date")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2024-02-30", "no such day"),
        ("2023-02-29", "no such day"),
        ("0000-00-00", "no such day"),
        ("2024-13-01", "no such day"),
        ("2024-05-01/2024-05-02", "not a date"),
        ("24-05-01", "not a date"),
        ("2024-5-1x", "not a date"),
        ("", "not a date"),
        ("x" * 500, "not a date"),
    ],
)
def test_refused_with_one_line(text, message):
    with pytest.raises(InvalidDate, match=message) as info:
        dates.parse_date(text, "--acquired")
    assert str(info.value).startswith("--acquired ") and len(str(info.value)) < 200


def test_future_refused_unless_allowed():
    today = dates.today()  # the latest date anywhere (UTC+14), not this machine's
    tomorrow = today + dt.timedelta(days=1)
    assert dates.parse_date(today.isoformat(), allow_future=False) == today
    with pytest.raises(FutureDate, match=f"after today \\({today}\\).*--allow-future"):
        dates.parse_date(tomorrow.isoformat(), "--as-of", allow_future=False)
    assert dates.parse_date(tomorrow.isoformat()) == tomorrow
    assert dates.check_not_future(today, "x", reference=today) == today
    with pytest.raises(FutureDate):
        dates.check_not_future(today, "x", reference=today - dt.timedelta(days=1))


def test_allow_future_flag_at_the_command_line(tmp_path):
    ws = tmp_path / "ws"
    assert run_cli(["init", ws]).exit_code == 0
    assert run_cli(["districts", "load", DISTRICTS, "--workspace", ws]).exit_code == 0
    tif = write_tif(tmp_path / "ortho.tif", width=16, height=16)
    refused = run_cli(["ingest", tif, "--acquired", "2099-01-01", "--workspace", ws])
    assert refused.exit_code == 2 and "--acquired 2099-01-01 is after today" in refused.stderr
    accepted = run_cli(
        ["ingest", tif, "--acquired", "2099-01-01", "--allow-future", "--workspace", ws]
    )
    assert accepted.exit_code == 0, accepted.stderr
    listed = run_cli(["catalog", "list", "--format", "csv", "--workspace", ws])
    assert "2099-01-01" in listed.stdout
    for args in (["coverage", "show"], ["control", "overdue"], ["catalog", "list"]):
        refused = run_cli([*args, "--as-of", "2099-01-01", "--workspace", ws])
        assert refused.exit_code == 2 and "--as-of 2099-01-01 is after today" in refused.stderr
        projected = run_cli(
            [*args, "--as-of", "2099-01-01", "--allow-future", "--format", "csv", "--workspace", ws]
        )
        assert projected.exit_code == 0, projected.stderr


def test_data_dates_after_today_are_ignored(tmp_path, caplog):
    # a TIFF tag dated in the future (a camera clock gone wrong) dates nothing
    from geobase.ingest import raster

    tif = write_tif(
        tmp_path / "future.tif",
        width=16,
        height=16,
        tags={"ACQUISITIONDATETIME": "2099:01:01 00:00:00"},
    )
    info = raster.read_info(tif)
    assert info.acquired is not None and info.acquired.start == dt.date(2099, 1, 1)
    from geobase.ingest.metadata import choose_acquired

    with caplog.at_level("WARNING"):
        assert choose_acquired(None, [info.acquired], tif.name) is None
    assert "ignored as no acquisition date" in caplog.text
    garbled = write_tif(
        tmp_path / "zero.tif",
        width=16,
        height=16,
        tags={"ACQUISITIONDATETIME": "0000:00:00 00:00:00"},
    )
    assert raster.read_info(garbled).acquired is None


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("2024/05/01", ("2024-05-01", "2024-05-01")),
        ("2024年5月1日", ("2024-05-01", "2024-05-01")),
        ("2024-05-01/2024-05-03", ("2024-05-01", "2024-05-03")),
        ("2024/05/01/2024/05/03", ("2024-05-01", "2024-05-03")),
        ("20240501/2024年5月3日", ("2024-05-01", "2024-05-03")),
    ],
)
def test_acquisition_windows_take_every_date_spelling(text, window):
    """--acquired and sidecars read each date as the one date parser does (2024/05/01 too)."""
    from geobase.ingest.metadata import parse_window

    got = parse_window(text)
    assert (got.start.isoformat(), got.end.isoformat()) == window


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2024-05-01/2024-13-01", "'2024-13-01' is not a date"),
        ("2024/05/01/2024/05", "is not YYYY-MM-DD or YYYY-MM-DD/YYYY-MM-DD"),
        ("2024-05-03/2024-05-01", "ends before it starts"),
        ("soon", "'soon' is not a date"),
    ],
)
def test_acquisition_window_refusals(text, message):
    from geobase.errors import MissingAcquisitionDate
    from geobase.ingest.metadata import parse_window

    with pytest.raises(MissingAcquisitionDate, match=re.escape(message)):
        parse_window(text)
