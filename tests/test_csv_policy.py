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


# --- reading: detection, and --encoding to force it ------------------------------------------

# GBK bytes that are valid UTF-8 too: detection reads them as UTF-8 ("一平山" -> "һƽɽ")
AMBIGUOUS = "point_id,name,grade,lat,lon\nA1,一平山,D,23.354,116.682\n"


def test_read_detects_or_forces_the_encoding(tmp_path):
    from geobase.errors import InvalidOption, SourceReadError

    path = tmp_path / "gbk.csv"
    path.write_bytes(AMBIGUOUS.encode("gbk"))
    assert read_csv(path).loc[0, "name"] != "一平山"  # detection guesses UTF-8
    forced = read_csv(path, "gbk")
    assert forced.loc[0, "name"] == "一平山" and forced.attrs["encoding"] == "gbk"
    for encoding in ("utf-8", "utf-8-sig"):  # a BOM is accepted either way
        bom = tmp_path / f"{encoding}.csv"
        bom.write_bytes(codecs.BOM_UTF8 + "点号,点名\n007,礐石\n".encode())
        frame = read_csv(bom, encoding)
        assert list(frame.columns) == ["点号", "点名"] and frame.attrs["encoding"] == "utf-8"
    wrong = tmp_path / "wrong.csv"
    wrong.write_bytes("点号,点名\n007,礐石\n".encode("gbk"))
    with pytest.raises(SourceReadError, match=r"not UTF-8 text \(byte 0x"):
        read_csv(wrong, "utf-8")
    with pytest.raises(InvalidOption, match="latin-1"):
        read_csv(wrong, "latin-1")


@pytest.fixture
def control_ws(workspace):
    from geobase.store.districts import load_districts
    from tests.control_helpers import DISTRICTS

    load_districts(workspace.store, DISTRICTS)
    return workspace


def test_control_import_encoding(control_ws, tmp_path):
    from geobase.control.registry import get_point, search
    from tests.control_helpers import good_row

    ws = ["--workspace", control_ws.root]
    path = tmp_path / "gbk.csv"
    path.write_bytes(AMBIGUOUS.encode("gbk"))
    # forced UTF-8 on a file that is no UTF-8: one line, exit 2, nothing recorded
    bad = tmp_path / "bad.csv"
    bad.write_bytes("点号,点名,等级,纬度,经度\nB1,礐石,D,23.354,116.682\n".encode("gbk"))
    result = run_cli(["control", "import", bad, "--encoding", "utf-8", *ws])
    assert result.exit_code == 2 and "not UTF-8 text" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert search(control_ws).empty
    # an encoding for a file that carries its own is refused
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(list(good_row()))
    book.active.append(list(good_row().values()))
    book.save(tmp_path / "p.xlsx")
    result = run_cli(["control", "import", tmp_path / "p.xlsx", "--encoding", "gbk", *ws])
    assert result.exit_code == 2 and "CSV files only" in result.stderr
    # forced GBK reads the name right; detection would have guessed UTF-8
    result = run_cli(["control", "import", path, "--encoding", "gbk", *ws])
    assert result.exit_code == 0, result.stderr
    assert get_point(control_ws, "A1").name == "一平山"
    # inspections too
    visits = tmp_path / "visits.csv"
    visits.write_bytes("点号,巡查日期,巡查人,状况\nA1,2024-05-01,王工,完好\n".encode("gbk"))
    result = run_cli(["control", "import", visits, "--encoding", "gbk", *ws])
    assert result.exit_code == 0, result.stderr
    assert "1 rows: 1 inspections recorded" in result.stderr


def test_demo_control_csvs_follow_the_policy(tmp_path):
    from geobase.control.demo_data import generate
    from tests.control_helpers import DISTRICTS

    generate(tmp_path, DISTRICTS)
    for name in ("points.csv", "inspections.csv"):
        data = (tmp_path / name).read_bytes()
        assert data.startswith(codecs.BOM_UTF8 + "点号,".encode()), name
        assert read_csv(tmp_path / name).attrs["encoding"] == "utf-8"


# --- stdout: --format csv --encoding, offered by every command that writes CSV there --------

# every command whose --format offers csv (the walk below must find these at least)
STDOUT_CSV = {
    "catalog list", "catalog search", "catalog show", "coverage sheets", "coverage show",
    "coverage plan", "crs zone", "crs fit", "publish log", "publish check", "token list",
    "store copy", "control search", "control overdue", "control stats",
}  # fmt: skip


def _commands(group, prefix=()):
    import click

    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))
        else:
            yield " ".join((*prefix, name)), command


def test_every_stdout_csv_command_offers_encoding():
    import click

    from geobase.cli import cli

    found = set()
    for name, command in _commands(cli):
        params = {p.name: p for p in command.params}
        fmt = params.get("fmt")
        if fmt is None or "csv" not in getattr(fmt.type, "choices", ()):
            continue
        found.add(name)
        options = [p for p in command.params if "--encoding" in getattr(p, "opts", ())]
        assert len(options) == 1, name
        assert isinstance(options[0].type, click.Choice), name
        assert set(options[0].type.choices) == {"utf-8", "utf-8-sig", "gbk"}, name
    assert found >= STDOUT_CSV, STDOUT_CSV - found


def _control_ws_with(control_ws, tmp_path, name):
    from tests.control_helpers import good_row
    from tests.control_helpers import write_csv as write_rows

    path = write_rows(tmp_path / "points.csv", [good_row("C001", 点名=name)])
    result = run_cli(["control", "import", path, "--workspace", control_ws.root])
    assert result.exit_code == 0, result.stderr
    return ["--workspace", control_ws.root]


def test_gbk_round_trip_through_stdout(control_ws, tmp_path):
    ws = _control_ws_with(control_ws, tmp_path, "礐石观测墩")
    search = ["control", "search", "--format", "csv", *ws]
    result = run_cli([*search, "--encoding", "gbk"])
    assert result.exit_code == 0, result.stderr
    data = result.stdout_bytes
    assert "礐石观测墩".encode("gbk") in data and not data.startswith(codecs.BOM_UTF8)
    saved = tmp_path / "search.csv"
    saved.write_bytes(data)
    frame = read_csv(saved)
    assert frame.attrs["encoding"] == "gbk" and frame.loc[0, "name"] == "礐石观测墩"
    # the same records, byte for byte, as the default UTF-8 output re-encoded
    plain = run_cli(search).stdout_bytes
    assert data == plain.decode("utf-8").encode("gbk")
    # utf-8-sig adds the BOM Excel wants; crs zone takes the option too
    result = run_cli(
        ["crs", "zone", "116.682", "23.354", "--format", "csv", "--encoding", "utf-8-sig"]
    )
    assert result.exit_code == 0 and result.stdout_bytes.startswith(
        codecs.BOM_UTF8 + b"width,zone,"
    )


def test_stdout_encoding_refusals_are_one_line(control_ws, tmp_path):
    ws = _control_ws_with(control_ws, tmp_path, "汕头 €站")
    # a character GBK lacks: refused by row and column, nothing written to stdout
    result = run_cli(["control", "search", "--format", "csv", "--encoding", "gbk", *ws])
    assert result.exit_code == 2 and result.stdout_bytes == b""
    assert result.stderr.count("\n") == 1 and "'汕头 €站'" in result.stderr
    assert "GBK cannot encode" in result.stderr
    # --encoding with another format: a usage error before any work
    result = run_cli(["crs", "zone", "116.682", "23.354", "--encoding", "gbk"])
    assert result.exit_code == 2 and result.stdout_bytes == b""
    assert "--encoding gbk applies to --format csv only" in result.stderr
