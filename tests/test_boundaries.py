"""The two boundaries (CLI and server) and the one way outputs are written.

Every failure becomes one line and an exit code / HTTP status by one table; --debug and
--quiet work before or after the subcommand; an output is written under a temporary name
and renamed on success, so a file-size limit or a read-only folder leaves nothing behind.
"""

from __future__ import annotations

import errno
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from geobase.errors import (
    GeobaseError,
    OutputWriteError,
    SourceReadError,
    StoreError,
    TileBuildError,
    ValidationError,
    WorkspaceError,
)
from geobase.paths import atomic_folder, atomic_output, remove_abandoned_temporaries
from tests.conftest import run_cli

REPO = Path(__file__).resolve().parents[1]


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def write_points(path: Path, n: int = 3) -> Path:
    rows = ["id,lon,lat"] + [f"P{i},{116.5 + i * 1e-5:.5f},23.3" for i in range(n)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def hidden_leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# --- the CLI's table and flags ---------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (ValidationError("bad row"), 2),
        (SourceReadError("truncated"), 2),
        (WorkspaceError("geobase.toml: tiles.jpeg_fill: bad"), 2),
        (OutputWriteError("cannot write x"), 2),
        (StoreError("the store failed"), 1),
        (TileBuildError("tiles never got their children"), 1),
        (PermissionError(errno.EACCES, "Permission denied", "/x"), 2),
        (OSError(errno.ENOSPC, "No space left on device"), 2),
        (ValueError("a bug in geobase"), 1),
        (KeyError("a bug"), 1),
        (RuntimeError("a bug"), 1),
    ],
)
def test_exit_code_table(exc, code):
    from geobase.cli import exit_code_for

    assert exit_code_for(exc) == code


def test_store_errors_about_input_or_environment_exit_2():
    from geobase.cli import exit_code_for
    from geobase.store.copy import CopyRefused
    from geobase.store.postgis import StoreUnavailable, StoreURLError

    assert exit_code_for(CopyRefused("target not empty")) == 2
    assert exit_code_for(StoreUnavailable("cannot connect")) == 2
    assert exit_code_for(StoreURLError("bad url")) == 2


def _commands(group: click.Group, ctx: click.Context):
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield command
        if isinstance(command, click.Group):
            yield from _commands(command, ctx)


def test_no_subcommand_takes_a_global_flag():
    """The global flags are lifted out of any position; no subcommand may define one."""
    from geobase.cli import GLOBAL_FLAGS, cli

    ctx = click.Context(cli)
    for command in _commands(cli, ctx):
        for param in command.params:
            taken = set(getattr(param, "opts", [])) & set(GLOBAL_FLAGS)
            assert not taken, f"{command.name} defines {taken}"


def test_hoist_stops_at_double_dash():
    from geobase.cli import hoist_global_flags

    assert hoist_global_flags(["crs", "info", "X", "--debug", "--", "-q"]) == [
        "--debug",
        "crs",
        "info",
        "X",
        "--",
        "-q",
    ]


def test_quiet_after_the_subcommand(tmp_path):
    src = write_points(tmp_path / "in.csv")
    args = ["crs", "transform", src, tmp_path / "out.csv", "--from", "EPSG:4490"]
    loud = run_cli([*args, "--to", "EPSG:4548"])
    assert loud.exit_code == 0 and "3 points" in loud.stderr
    quiet = run_cli([*args, "--to", "EPSG:4548", "--overwrite", "--quiet"])
    assert quiet.exit_code == 0, quiet.stderr
    assert quiet.stderr == ""


@pytest.mark.parametrize("where", ["before", "after"])
def test_unexpected_failure_is_one_line_and_debug_shows_the_traceback(monkeypatch, where):
    import geobase.geodesy.describe as describe

    def broken(code):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(describe, "describe_crs", broken)
    plain = run_cli(["crs", "info", "EPSG:4548"])
    assert plain.exit_code == 1
    line = one_line(plain.stderr)
    assert "ZeroDivisionError" in line and "--debug" in line
    args = ["--debug", "crs", "info", "EPSG:4548"]
    if where == "after":
        args = ["crs", "info", "EPSG:4548", "--debug"]
    debug = run_cli(args)
    assert debug.exit_code == 1
    assert "Traceback" in debug.stderr and "in broken" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1] == line


def test_os_error_anywhere_is_exit_2_one_line(monkeypatch):
    import geobase.geodesy.describe as describe

    def denied(code):
        raise PermissionError(errno.EACCES, "Permission denied", "/srv/proj/proj.db")

    monkeypatch.setattr(describe, "describe_crs", denied)
    result = run_cli(["crs", "info", "EPSG:4548"])
    assert result.exit_code == 2
    line = one_line(result.stderr)
    assert line.startswith("Error: /srv/proj/proj.db: permission denied")


def test_usage_errors_stay_exit_2():
    result = run_cli(["crs", "transform", "only-one-argument"])
    assert result.exit_code == 2
    assert "Usage" in result.stderr


def test_missing_output_folder_exit_2(tmp_path):
    src = write_points(tmp_path / "in.csv")
    out = tmp_path / "no" / "such" / "out.csv"
    result = run_cli(["crs", "transform", src, out, "--from", "EPSG:4490", "--to", "EPSG:4548"])
    assert result.exit_code == 2
    line = one_line(result.stderr)
    assert f"cannot write {out}: no such file or folder" in line
    assert not (tmp_path / "no").exists()


# --- the CLI in a process: file-size limit and read-only folder --------------------------


def _cli(args, cwd: Path, *, fsize: int | None = None):
    def limit():
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    env = {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(cwd)}
    return subprocess.run(
        [sys.executable, "-c", "from geobase.cli import main; main()", *map(str, args)],
        cwd=cwd,
        env=env,
        preexec_fn=limit,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_file_size_limit_leaves_no_partial_csv(tmp_path):
    """Past ``ulimit -f`` the write fails (SIGXFSZ is ignored by the CLI): exit 2, one
    line, no partial output, and the file it was to replace is unchanged."""
    src = write_points(tmp_path / "in.csv", n=2000)  # about 60 kB in, 110 kB out
    out = tmp_path / "out.csv"
    out.write_text("the previous output\n", encoding="utf-8")
    args = ["crs", "transform", "in.csv", "out.csv", "--from", "EPSG:4490", "--to", "EPSG:4548"]
    result = _cli([*args, "--overwrite"], tmp_path, fsize=64 * 1024)
    assert result.returncode == 2, result.stderr
    line = one_line(result.stderr)
    assert "cannot write out.csv: file too large" in line
    assert out.read_text(encoding="utf-8") == "the previous output\n"
    assert hidden_leftovers(tmp_path) == []
    assert src.stat().st_size > 0


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder nobody may create files in: mode 555, or immutable when running as root
    (root ignores the mode bits)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() == 0:
        if shutil.which("chattr") is None:
            pytest.skip("running as root without chattr: no way to make a read-only folder")
        done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"running as root and chattr +i failed: {done.stderr.decode()[:100]}")
        yield folder
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)


@pytest.mark.parametrize(
    "command",
    [
        ["crs", "transform", "in.csv", "ro/out.csv", "--from", "EPSG:4490", "--to", "EPSG:4548"],
        [
            "sheets",
            "grid",
            "--scale",
            "1:10000",
            "--area",
            "116.5,23.3,116.55,23.35",
            "-o",
            "ro/grid.gpkg",
        ],
    ],
    ids=["csv", "gpkg"],
)
def test_read_only_output_folder(tmp_path, read_only_folder, command):
    write_points(tmp_path / "in.csv")
    result = _cli(command, tmp_path)
    assert result.returncode == 2, result.stderr
    line = one_line(result.stderr)
    target = next(arg for arg in command if arg.startswith("ro/"))
    assert f"cannot write {target}: " in line
    assert "permission denied" in line or "operation not permitted" in line
    assert list(read_only_folder.iterdir()) == []


# --- the writers ---------------------------------------------------------------------------


def test_atomic_output_keeps_the_old_file_on_failure(tmp_path):
    out = tmp_path / "x.csv"
    out.write_text("old\n")
    with pytest.raises(ValueError, match="half way"), atomic_output(out) as tmp:
        tmp.write_text("new, half")
        raise ValueError("half way")
    assert out.read_text() == "old\n"
    no_space = pytest.raises(OutputWriteError, match=r"cannot write .*x.csv: no space left")
    with no_space, atomic_output(out) as tmp:
        tmp.write_text("new, half")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert out.read_text() == "old\n"
    assert hidden_leftovers(tmp_path) == []
    with atomic_output(out) as tmp:
        tmp.write_text("new\n")
    assert out.read_text() == "new\n"
    assert hidden_leftovers(tmp_path) == []


def test_atomic_output_moves_a_shapefile_whole(tmp_path):
    import geopandas as gpd
    import shapely

    frame = gpd.GeoDataFrame({"名称": ["甲"]}, geometry=[shapely.Point(1, 2)], crs=4490)
    out = tmp_path / "pts.shp"
    out.with_suffix(".qix").write_bytes(b"stale index of an older file")
    with atomic_output(out) as tmp:
        frame.to_file(tmp, engine="pyogrio", encoding="utf-8")
    assert {".shp", ".shx", ".dbf", ".prj"} <= {p.suffix for p in tmp_path.iterdir()}
    assert not out.with_suffix(".qix").exists()  # not part of the new file
    assert gpd.read_file(out)["名称"].tolist() == ["甲"]
    assert hidden_leftovers(tmp_path) == []


@pytest.mark.parametrize("atomic_exchange", [True, False])
def test_atomic_folder_replaces_only_on_success(tmp_path, monkeypatch, atomic_exchange):
    """With renameat2's exchange, and with the two-rename fallback of systems without."""
    if not atomic_exchange:
        monkeypatch.setattr("geobase.paths.exchange", lambda a, b: False)
    out = tmp_path / "export"
    out.mkdir()
    (out / "catalog.json").write_text("old")
    with pytest.raises(RuntimeError), atomic_folder(out) as stage:
        (stage / "catalog.json").write_text("new, half")
        raise RuntimeError("failed")
    assert (out / "catalog.json").read_text() == "old"
    full = pytest.raises(OutputWriteError, match=r"cannot write .*export: no space left")
    with full, atomic_folder(out) as stage:
        (stage / "items").mkdir()
        raise OSError(errno.ENOSPC, "No space left on device", str(stage / "items" / "a.json"))
    assert (out / "catalog.json").read_text() == "old"
    with atomic_folder(out) as stage:
        (stage / "catalog.json").write_text("new")
    assert (out / "catalog.json").read_text() == "new"
    assert hidden_leftovers(tmp_path) == []


def _dead_pid() -> int:
    """The id of a process that has ended (and was waited for)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temporaries_of_killed_processes_are_removed_when_next_written(tmp_path):
    """What a killed writer left under an output's temporary names (files, a shapefile's
    parts, a staging or moved-aside folder) is removed when that output is next written;
    a live process's, this process's, another output's and foreign names stay."""
    dead, live = _dead_pid(), os.getppid()
    left = {
        f".out.csv.tmp-{dead}-0123abcd.csv": "dead",
        f".map.shp.tmp-{dead}-0123abcd.shp": "dead",
        f".map.shp.tmp-{dead}-0123abcd.dbf": "dead",
        f".out.csv.tmp-{live}-0123abcd.csv": "live",
        f".out.csv.tmp-{os.getpid()}-0123abcd.csv": "mine",
        f".other.csv.tmp-{dead}-0123abcd.csv": "another output's",
        f".out.csv.tmp-{dead}-notgeobase.csv": "foreign",
        "out.csv.tmp": "foreign",
    }
    for name, text in left.items():
        (tmp_path / name).write_text(text)
    for name in (f".export.tmp-{dead}-89abcdef", f".export.old-{dead}-89abcdef"):
        (tmp_path / name / "items").mkdir(parents=True)
        (tmp_path / name / "items" / "a.json").write_text("{}")
    with atomic_output(tmp_path / "out.csv") as tmp:
        tmp.write_text("a\n")
    with atomic_output(tmp_path / "map.shp") as tmp:  # a shapefile's parts move together
        tmp.write_bytes(b"shp")
        tmp.with_suffix(".dbf").write_bytes(b"dbf")
    with atomic_folder(tmp_path / "export") as stage:
        (stage / "catalog.json").write_text("new")
    kept = {k for k, v in left.items() if v != "dead"}
    assert hidden_leftovers(tmp_path) == sorted(n for n in kept if n.startswith("."))
    assert (tmp_path / "out.csv.tmp").exists() and (tmp_path / "export/catalog.json").exists()
    assert (tmp_path / "map.dbf").read_bytes() == b"dbf"
    assert remove_abandoned_temporaries(tmp_path / "missing" / "x.csv") == []


def test_stac_export_does_not_delete_a_foreign_folder(workspace, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    result = run_cli(["catalog", "stac", folder, "--overwrite", "--workspace", workspace.root])
    assert result.exit_code == 2
    assert "not an earlier STAC export" in one_line(result.stderr)
    assert (folder / "notes.txt").read_text() == "keep me"


# --- the server's one boundary -------------------------------------------------------------


@pytest.fixture
def served(workspace):
    from geobase.server import ServerSettings, create_app
    from tests.server_support import running

    with running(create_app(ServerSettings.for_workspace(workspace.root))) as base:
        yield base


@pytest.mark.parametrize(
    ("exc", "status", "fragment"),
    [
        (RuntimeError("secret internals at /srv/x"), 500, "incident"),
        (
            PermissionError(errno.EACCES, "Permission denied", "/srv/ws/data/x.tif"),
            503,
            "permission denied",
        ),
        (FileNotFoundError(errno.ENOENT, "No such file", "/srv/ws/tiles/x.pmtiles"), 404, "gone"),
        (ValidationError("bbox '1,2' must be 4 numbers"), 400, "bbox '1,2' must be 4 numbers"),
        (GeobaseError("library failure at /srv/x"), 500, "failed to answer"),
    ],
)
def test_server_maps_every_failure_to_one_line(served, monkeypatch, exc, status, fragment):
    import json

    import geobase.server.api as api
    from tests.server_support import raw_get

    def broken(text):
        raise exc

    monkeypatch.setattr(api, "parse_bbox", broken)
    got, body = raw_get(served, "/api/catalog/search?bbox=1,2,3,4")
    assert got == status
    problem = json.loads(body)
    assert problem["status"] == status
    assert fragment in problem["detail"] and "\n" not in problem["detail"]
    assert b"/srv" not in body and b"Traceback" not in body


def test_a_missing_optional_package_is_the_environment(monkeypatch):
    import geobase.geodesy.describe as describe

    def needs_dask(code):
        raise ModuleNotFoundError("No module named 'distributed'", name="distributed")

    monkeypatch.setattr(describe, "describe_crs", needs_dask)
    result = run_cli(["crs", "info", "EPSG:4548"])
    assert result.exit_code == 2
    assert "pip install 'geobase[dask]'" in one_line(result.stderr)


def test_every_registered_command_is_importable():
    from geobase.cli import COMMANDS, cli, load_command

    for name in COMMANDS:
        assert isinstance(load_command(name), click.Command), name
    assert cli.list_commands(click.Context(cli)) == sorted(COMMANDS)
    assert load_command("no-such-command") is None  # click's "No such command" follows


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        (("no_such_module", "ghost"), "module geobase.cli.no_such_module is missing"),
        (("crs", "no_such_command"), "defines no click command 'no_such_command'"),
    ],
)
def test_a_missing_command_module_fails_loudly(monkeypatch, entry, fragment):
    """A registered command whose module or attribute is missing is a broken installation:
    using it or listing the commands fails; it does not quietly vanish from --help."""
    from click.testing import CliRunner

    from geobase import cli as cli_module

    monkeypatch.setitem(cli_module.COMMANDS, "ghost", entry)
    with pytest.raises(ImportError, match=fragment):
        cli_module.load_command("ghost")
    listing = CliRunner().invoke(cli_module.cli, ["--help"])
    assert listing.exit_code != 0 and isinstance(listing.exception, ImportError)
    used = run_cli(["ghost"])
    assert used.exit_code == 1 and fragment in one_line(used.stderr)


def test_a_failing_fast_path_falls_back_to_the_application(workspace, monkeypatch):
    """The tile fast path runs before the framework: its failure must not escape the
    boundary (an answer through the application instead)."""
    from geobase.server import ServerSettings, create_app
    from geobase.server.fastpath import TileFastPath
    from tests.server_support import raw_get, running

    async def broken(self, scope, send):
        raise RuntimeError("fast path bug")

    monkeypatch.setattr(TileFastPath, "__call__", broken)
    with running(create_app(ServerSettings.for_workspace(workspace.root))) as base:
        status, body = raw_get(base, "/health")
    assert status == 200 and b'"ok"' in body
