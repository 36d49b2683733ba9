"""The one CSV policy (geobase.tabular): UTF-8 with BOM for files, plain UTF-8 for stdout,
``--encoding utf-8|utf-8-sig|gbk`` with GBK strict, and reads in UTF-8, UTF-8-BOM and GBK."""

from __future__ import annotations

import codecs
import io

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from geobase.errors import UnencodableText
from geobase.tabular import read_csv, write_csv
from tests.conftest import run_cli

FRAME = pd.DataFrame(
    {"点号": ["007", "C002"], "点名": ["礐石观测墩", "汕头大学"], "备注": ["楼顶, GNSS", None]},
    dtype=object,
)


def same(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == list(FRAME.columns)
    assert frame.to_dict("records") == FRAME.to_dict("records")


def test_file_default_is_utf8_with_bom_and_round_trips(tmp_path):
    out = tmp_path / "out.csv"
    write_csv(FRAME, out)
    assert out.read_bytes().startswith(codecs.BOM_UTF8 + "点号".encode())
    frame = read_csv(out)
    same(frame)
    assert frame.attrs["encoding"] == "utf-8"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_each_encoding_round_trips_and_is_read_back_undeclared(tmp_path, encoding):
    out = tmp_path / "out.csv"
    write_csv(FRAME, out, encoding)
    data = out.read_bytes()
    assert data.startswith(codecs.BOM_UTF8) == (encoding == "utf-8-sig")
    assert data.decode(encoding).startswith("点号,点名,备注\n007,礐石观测墩,")
    same(read_csv(out))
    assert read_csv(out).attrs["encoding"] == ("gbk" if encoding == "gbk" else "utf-8")


def test_stream_default_is_plain_utf8():
    out = io.StringIO()
    write_csv(FRAME, out)
    assert out.getvalue().startswith("点号,点名,备注\n")  # no BOM in a pipe


@pytest.mark.parametrize("bad", ["汕头 €", "測站🙂"])
def test_gbk_refuses_a_character_it_lacks_and_writes_nothing(tmp_path, bad):
    frame = FRAME.copy()
    frame.loc[1, "备注"] = bad
    out = tmp_path / "out.csv"
    with pytest.raises(UnencodableText, match=r"row 2, column '备注'") as info:
        write_csv(frame, out, "gbk")
    assert bad in str(info.value) and "GBK cannot encode" in str(info.value)
    assert "\n" not in str(info.value)
    assert not list(tmp_path.iterdir())  # no file, no temporary left
    write_csv(frame, out)  # the default (UTF-8 with BOM) writes every character
    assert read_csv(out).loc[1, "备注"] == bad


def test_gbk_refusal_names_a_header(tmp_path):
    with pytest.raises(UnencodableText, match=r"the header: value '€ 价'"):
        write_csv(pd.DataFrame({"€ 价": ["1"]}), tmp_path / "out.csv", "gbk")


def test_cli_csv_format_on_stdout_has_no_bom():
    result = run_cli(["crs", "zone", "116.682", "23.354", "--format", "csv"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes.startswith(b"width,zone,")


def test_emit_csv_keeps_chinese_and_blanks():
    from geobase.cli.options import emit

    out = io.StringIO()
    emit(FRAME, "csv", out)
    assert out.getvalue() == '点号,点名,备注\n007,礐石观测墩,"楼顶, GNSS"\nC002,汕头大学,\n'


def _area(tmp_path):
    area = tmp_path / "area.geojson"
    gdf = gpd.GeoDataFrame(geometry=[shapely.box(467100, 2583100, 467900, 2583600)], crs=4548)
    gdf.to_file(area)
    return area


@pytest.mark.parametrize("encoding", [None, "utf-8", "gbk"])
def test_sheets_grid_csv_encoding(tmp_path, encoding):
    out = tmp_path / "grid.csv"
    args = ["sheets", "grid", "-s", "2000", "--kind", "rect", "--area", _area(tmp_path), "-o", out]
    result = run_cli(args + (["--encoding", encoding] if encoding else []))
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes().startswith(codecs.BOM_UTF8) == (encoding is None)
    assert read_csv(out).loc[0, "code"] == "2583.0-467.0"


def test_encoding_option_is_offered_and_explained():
    commands = (["sheets", "grid"], ["control", "export"], ["emergency"])
    for command in (*commands, ["crs", "transform"], ["crs", "apply"], ["height"]):
        result = run_cli([*command, "--help"])
        assert result.exit_code == 0
        assert "--encoding" in result.stdout and "utf-8-sig" in result.stdout, command


@pytest.mark.parametrize("encoding", [None, "gbk"])
def test_emergency_control_tables_follow_the_policy(tmp_path, encoding):
    from geobase.emergency.tables import write_points

    frame = gpd.GeoDataFrame(
        {"point_id": ["C001"], "name": ["礐石观测墩"], "condition": ["完好"]},
        geometry=[shapely.Point(116.682, 23.354)],
        crs=4490,
    )
    write_points(frame, tmp_path, "control_points", encoding)
    data = (tmp_path / "control_points.csv").read_bytes()
    assert data.startswith(codecs.BOM_UTF8) == (encoding is None)
    assert data.decode(encoding or "utf-8-sig") == "point_id,name,condition\nC001,礐石观测墩,完好\n"
