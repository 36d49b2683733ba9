"""Smoke test: every command line of README.md and of the commands' --help examples, run as
typed, in the default (table) output, on a copy of the demo workspace.

The demo workspace is built once per session (``demo_workspace`` in conftest.py) and copied
here to ``HOME/shantou`` (the lines change it). Every line is run in-process by click's
CliRunner exactly as written in README.md: split like a shell would (comments dropped,
``"$TOKEN"`` expanded, ``lidar/*.laz`` globbed in the working folder), the leading
``geobase`` (or ``.venv/bin/geobase``) dropped, ``cd DIR &&`` obeyed. Each test asserts a
zero exit (``publish check``: the documented 1, see below) and the rows or files the line
promises, not just the exit code. :data:`HOW` lists every line with how it is run;
:func:`test_every_documented_line_is_run` fails when README.md or a command's help gains
a ``geobase`` line missing from it (or loses one it names).

Where a line needs something the README assumes:

- input files (points.csv, common_points.csv, legacy.gpkg, ortho_x80.tif, ortho_2023.tif
  with its sidecar, lidar/*.laz, chaoyang.geojson, boundaries.shp, photo.jpg,
  flood_area.geojson, the help's districts.gpkg) are written by the ``inputs`` fixture into
  the working folder: realistic Shantou data (marks whose B/L and X/Y agree, an ortho and
  lidar tiles from the demo's own generator, Xian 1980 coordinates related to CGCS2000 by a
  known similarity, ...); ``points.csv`` gains one bad row before ``--skip-invalid``;
- ``"$TOKEN"`` is a token with restricted clearance the fixture creates;
- ``geobase serve`` and ``geobase serve --port 8000`` run the command with ``uvicorn.run``
  replaced: the app the command built is served by a real uvicorn server on a free port
  (8000 may be taken) and the URLs the README names are fetched; the port the command
  asked for is checked;
- PostgreSQL URLs (``postgresql://geobase@dbhost:5432/shantou``, the help's ``...@db...``)
  are replaced by the test cluster's database (``pg_url``; skipped where PostgreSQL is
  missing, as the store tests), and the help's ``/srv/shantou`` by ``HOME/srv/shantou``;
- ``--dask tcp://scheduler:8786`` is replaced by the address of a Dask LocalCluster with
  one worker process (``dask scheduler &`` itself is not a geobase line); workers with
  several threads crash (xfail, tiles area);
- ``xdg-open reports/coverage.html`` and ``jupyter lab`` are not geobase lines: the report
  is checked by test_demo.py and the notebooks by test_notebooks.py;
- ``publish check`` exits 1 by design when a release was missed: the demo holds one
  release (the README's ``publish record``), so the check must list the missed cadences.

Also here: the output rule every format shares (cell values with pd.NA, NaN, NaT, ...).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import re
import shlex
import shutil
import urllib.request
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import click
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from geobase.cli import cli
from tests.conftest import ROOT

pytestmark = pytest.mark.smoke

README = ROOT / "README.md"
PG_EXAMPLE = "postgresql://geobase@dbhost:5432/shantou"
PG_HELP_EXAMPLE = "postgresql://geobase@db:5432/shantou"
DASK_EXAMPLE = "tcp://scheduler:8786"

# Every documented line -> how the smoke test runs it (README.md first, then --help).
HOW: dict[str, str] = {
    # set up and first tour
    ".venv/bin/geobase demo shantou": "in HOME on the demo copy: a rerun, nothing re-ingested",
    "geobase demo shantou": "in HOME on the demo copy: a rerun, nothing re-ingested",
    "geobase status": "after 'cd shantou': the record counts",
    "geobase districts list": "the seven districts with their Chinese names",
    "geobase serve": "uvicorn.run replaced: the app served on a free port, URLs fetched",
    "geobase catalog list --product dom02": "the dom02 rows only",
    "geobase emergency 116.60,23.26 --radius 2000 -o chaoyang_pkg": "package folder and zip",
    # coordinates and map sheets
    "geobase crs zone 116.682 23.354": "zone 39, EPSG:4548 and EPSG:4527 rows",
    "geobase crs transform points.csv out.csv --from EPSG:4490 --to EPSG:4548": (
        "points.csv of new marks: east/north equal their X/Y"
    ),
    (
        "geobase crs fit common_points.csv --model 4p --from EPSG:2384 --to EPSG:4548 "
        "--check GZ14,GZ15 -o xian80.json"
    ): "Xian 1980 -> CGCS2000 common points of a known similarity: the parameters",
    "geobase crs apply xian80.json legacy.gpkg converted.gpkg": (
        "legacy.gpkg (Xian 1980 GK) -> converted.gpkg at the true positions"
    ),
    "geobase crs apply xian80.json ortho_x80.tif ortho_cgcs2000.tif --resampling bilinear": (
        "a generated ortho labelled Xian 1980 -> a COG in EPSG:4548 where it belongs"
    ),
    "geobase sheets code 116.682 23.354 --scale 1:10000": "F50G016043",
    "geobase sheets grid --scale 1:500 --kind rect --area chaoyang.geojson -o sheets.gpkg": (
        "the 1:500 sheets over a Chaoyang polygon"
    ),
    # ingest, catalogue, coverage and tiles
    "geobase ingest ortho_2023.tif --product dom02 --classification internal": (
        "a generated 0.2 m ortho with its sidecar: dated from it"
    ),
    "geobase ingest lidar/*.laz": "two generated LAZ tiles (globbed): dated from GPS time",
    "geobase qc ortho_2023.tif --product dom02 -o qc_report.html": (
        "the generated ortho checked in the demo workspace: passes, report and GeoPackage"
    ),
    "geobase catalog search --product dlg500 --format geojson": "dlg500 features only",
    "geobase coverage report --as-of 2020-12-31 -o baseline.html": "the 2020 baseline HTML",
    (
        "geobase tiles build dom02 --tms CGCS2000Quad --zoom 14-19 --format jpeg "
        "-o tiles/dom02_c.pmtiles"
    ): "a JPEG PMTiles pyramid in CGCS2000Quad",
    "geobase tiles build dom02 --update -o tiles/dom02_c.pmtiles": "nothing changed: up to date",
    # emergency packages
    "geobase emergency 116.55,23.22,116.65,23.30 -o pkg": "a bbox package",
    'geobase emergency flood_area.geojson -o flood_pkg --include-restricted --token "$TOKEN"': (
        "a polygon file and a restricted token: restricted data packed"
    ),
    # PostGIS and Dask
    "geobase store copy shantou postgresql://geobase@dbhost:5432/shantou": (
        "to the test cluster's database (pg_url)"
    ),
    "geobase init bureau --store postgresql://geobase@dbhost:5432/shantou": (
        "a workspace on that database (pg_url) finding the files"
    ),
    "geobase store copy postgresql://geobase@dbhost:5432/shantou laptop": (
        "back to a new GeoPackage workspace in HOME/laptop, files linked"
    ),
    (
        "geobase tiles build dom02 --tms WebMercatorQuad --zoom 14-20 -o tiles/dom02.pmtiles "
        "--dask tcp://scheduler:8786"
    ): "a Dask LocalCluster (threads) instead of the scheduler",
    # control network
    "geobase control import points.csv": "four new marks",
    "geobase control import points.csv --skip-invalid": (
        "points.csv with one bad row appended: the rest written, points.rejects.csv"
    ),
    "geobase control search --near 116.68,23.35 --radius 2000 --grade C --format geojson": (
        "C-grade marks within 2 km"
    ),
    "geobase control search --district 潮南区 --usability usable": "usable marks of 潮南区",
    "geobase control show STC001": "the record of STC001",
    (
        "geobase control inspect PCD008 --condition destroyed --date 2024-05-02 --inspector 林工 "
        "--evidence photo.jpg"
    ): "a destroyed mark with a photo",
    (
        "geobase control inspect STC001 --condition moved --date 2024-05-02 --inspector 林工 "
        "--new-id STC001A --new-position 116.6826,23.3541"
    ): "a moved mark and its replacement",
    "geobase control inspect --from inspections.jsonl": (
        "three JSON lines (Chinese keys and notes, a photo beside the file): three acks"
    ),
    "geobase control overdue --as-of 2025-03-01": "marks overdue then",
    "geobase control stats": "the per-district table",
    "geobase control datasheet STC001 -o STC001.pdf": "a PDF datasheet",
    "geobase control export public.geojson --public": "no restricted grades, 0.001° positions",
    # service
    "geobase serve --port 8000": "as 'geobase serve', port 8000 checked",
    "geobase token create planning-dept --max-classification internal": "a token printed once",
    "geobase token list": "planning-dept listed, no secret",
    "geobase token revoke planning-dept": "revoked",
    "geobase serve --emit-nginx geobase-nginx.conf": (
        "the nginx snippet: geobase at 127.0.0.1:8000, the demo's PMTiles through geobase"
    ),
    (
        "geobase publish record catalogue --kind catalogue --classification public "
        "--reviewer 李审 --review-date 2024-03-28 --by 王发"
    ): "one release recorded",
    "geobase publish log": "that release",
    "geobase publish check --as-of 2025-12-31": "exit 1 (documented): the missed cadences",
    # workspaces
    "geobase init my-bureau": "in HOME: a new workspace",
    "geobase districts load boundaries.shp --name-field XZQMC --workspace my-bureau": (
        "a shapefile of the districts with an XZQMC field"
    ),
    # --help examples
    "geobase store copy . postgresql://geobase@db:5432/shantou": (
        "help of 'store copy': the workspace folder to a fresh database (pg_url)"
    ),
    "geobase init /srv/shantou --store postgresql://geobase@db:5432/shantou": (
        "help of 'store copy': /srv/shantou replaced by HOME/srv/shantou"
    ),
    "geobase store copy postgresql://geobase@db:5432/shantou ./shantou-copy --files copy": (
        "help of 'store copy': in HOME, files copied"
    ),
    "geobase sheets grid --scale 1:500 --kind rect --area districts.gpkg -o sheets.gpkg": (
        "help of 'sheets grid', in HOME/help with the districts as districts.gpkg"
    ),
}


# --- the documented lines -------------------------------------------------------------


def _is_geobase(segment: str) -> bool:
    words = segment.split()
    return bool(words) and (words[0] == "geobase" or words[0].endswith("/geobase"))


def readme_lines(text: str | None = None) -> list[str]:
    """The geobase command lines of README.md's code blocks, comments and ``cd X &&`` cut."""
    text = README.read_text(encoding="utf-8") if text is None else text
    lines: list[str] = []
    for block in re.findall(r"^```[a-z]*\n(.*?)^```", text, flags=re.M | re.S):
        for raw in block.replace("\\\n", " ").splitlines():
            for segment in raw.split("&&"):
                command = " ".join(_strip_comment(segment).split())
                if _is_geobase(command) and command not in lines:
                    lines.append(command)
    return lines


def _strip_comment(line: str) -> str:
    """The line up to a shell comment (`` # ...``; README lines quote no ``#``)."""
    return re.split(r"(?:^|\s)#", line, maxsplit=1)[0]


def help_lines() -> list[str]:
    """The ``geobase ...`` example lines in every command's help and epilog text."""
    found: list[str] = []

    def walk(command: click.Command, ctx: click.Context) -> None:
        for text in (command.help, command.epilog):
            for raw in (text or "").splitlines():
                line = " ".join(raw.split())
                if _is_geobase(line) and line not in found:
                    found.append(line)
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                walk(sub, click.Context(sub, info_name=name, parent=ctx))

    walk(cli, click.Context(cli, info_name="geobase"))
    return found


def documented_lines() -> list[str]:
    return readme_lines() + [line for line in help_lines() if line not in readme_lines()]


def test_every_documented_line_is_run():
    documented = documented_lines()
    assert len(documented) >= 40
    missing = [line for line in documented if line not in HOW]
    assert not missing, f"documented lines the smoke test does not run: {missing}"
    stale = [line for line in HOW if line not in documented]
    assert not stale, f"lines the smoke test runs that are no longer documented: {stale}"


def test_parser_finds_lines_after_cd_continuations_and_comments():
    text = (
        "```bash\ncd shantou && geobase status   # what\n"
        'geobase publish record x --kind a \\\n    --by "王 发"   # who\n'
        "dask scheduler &\n```\nprose geobase status\n"
    )
    assert readme_lines(text) == [
        "geobase status",
        'geobase publish record x --kind a --by "王 发"',
    ]


# --- running a line ---------------------------------------------------------------------


class Smoke:
    """Runs documented lines in a folder tree holding the demo copy (``HOME/shantou``)."""

    def __init__(self, home: Path):
        self.home = home
        self.ws = home / "shantou"
        self.env: dict[str, str] = {}
        self.replace: dict[str, str] = {}

    def args(self, line: str, cwd: Path) -> list[str]:
        assert line in HOW, f"not a documented line: {line}"
        assert line in documented_lines(), f"no longer in README.md or --help: {line}"
        for old, new in self.replace.items():
            line = line.replace(old, new)
        words = shlex.split(line, comments=True)
        out: list[str] = []
        for word in words[1:]:
            word = re.sub(r"\$(\w+)", lambda m: self.env[m[1]], word)
            if "*" in word:
                matches = sorted(str(p.relative_to(cwd)) for p in cwd.glob(word))
                assert matches, f"{word} matches nothing in {cwd}"
                out += matches
            else:
                out.append(word)
        return out

    def run(self, line: str, cwd: Path | None = None, *, code: int = 0):
        """Run one documented line in ``cwd`` (default: the workspace); check its exit."""
        cwd = cwd or self.ws
        return self.invoke(self.args(line, cwd), cwd, code=code, what=line)

    def invoke(self, args: list[str], cwd: Path, *, code: int = 0, what: str = ""):
        env = {"GEOBASE_WORKSPACE": None, "COLUMNS": None, "GEOBASE_TOKEN": None}
        with contextlib.chdir(cwd):
            result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
        what = what or " ".join(args)
        assert result.exit_code == code, f"{what}\n{result.stderr}\n{result.stdout[-3000:]}"
        return result


def table_rows(text: str) -> list[list[str]]:
    """The cells of each data row of a rich table (rows after the header rule)."""
    lines = text.splitlines()
    rules = [i for i, line in enumerate(lines) if line.strip() and set(line.strip()) <= set("━╇")]
    if not rules:
        return []  # "(no records)" goes to stderr
    start = rules[0]
    rows = []
    for line in lines[start + 1 :]:
        if "│" in line:
            rows.append([cell.strip() for cell in line.split("│")])
    return rows


@pytest.fixture(scope="module")
def smoke(demo_workspace, tmp_path_factory) -> Smoke:
    home = tmp_path_factory.mktemp("smoke")
    shutil.copytree(demo_workspace, home / "shantou", symlinks=True)
    return Smoke(home)


# --- the README's assumed inputs --------------------------------------------------------

NEW_MARKS = [  # (id, name, lon, lat, H): new D-grade marks of a 2024 survey in 金平区/龙湖区
    ("JPD101", "金平一号", 116.6712, 23.3712, 4.512),
    ("JPD102", "金砂公园", 116.6895, 23.3698, 3.874),
    ("LHD103", "龙湖二号", 116.7105, 23.3775, 2.961),
    ("LHD104", "龙湖三号", 116.7240, 23.3690, 3.307),
]


def write_points(path: Path) -> None:
    from geobase.geodesy.transform import transform

    lon = np.array([m[2] for m in NEW_MARKS])
    lat = np.array([m[3] for m in NEW_MARKS])
    east, north = transform(lon, lat, "EPSG:4490", "EPSG:4548")
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["点号", "点名", "等级", "纬度", "经度", "X", "Y", "H", "标石类型"])
        for (pid, name, lo, la, h), e, n in zip(NEW_MARKS, east, north, strict=True):
            writer.writerow([pid, name, "D级", f"{la:.9f}", f"{lo:.9f}", f"{n:.4f}", f"{e:.4f}",
                             f"{h:.3f}", "普通标石"])  # fmt: skip


# Xian 1980 / 3-degree GK CM 117E -> CGCS2000 (EPSG:4548): a similarity of the size the
# two frames differ by in Guangdong (tens of metres, a few ppm, a fraction of a second)
XIAN_SHIFT = (-41.37, 108.52)  # (east, north) m
XIAN_ROT = 1.8 / 206265  # rad
XIAN_SCALE = 1 + 4.2e-6


def xian_to_cgcs(east: np.ndarray, north: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c, s = XIAN_SCALE * np.cos(XIAN_ROT), XIAN_SCALE * np.sin(XIAN_ROT)
    return c * east - s * north + XIAN_SHIFT[0], s * east + c * north + XIAN_SHIFT[1]


def write_common_points(path: Path) -> None:
    rng = np.random.default_rng(1980)
    east = 455_000 + rng.uniform(0, 30_000, 10)
    north = 2_570_000 + rng.uniform(0, 30_000, 10)
    de, dn = xian_to_cgcs(east, north)
    de, dn = de + rng.normal(0, 0.004, 10), dn + rng.normal(0, 0.004, 10)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["id", "src_x", "src_y", "dst_x", "dst_y"])  # surveying: x = north
        for i in range(10):
            writer.writerow([f"GZ{10 + i}", f"{north[i]:.4f}", f"{east[i]:.4f}",
                             f"{dn[i]:.4f}", f"{de[i]:.4f}"])  # fmt: skip


LEGACY = [(461_250.0, 2_575_500.0), (468_800.0, 2_581_350.0), (472_120.5, 2_590_010.25)]


def write_legacy(path: Path) -> None:
    import geopandas as gpd
    import shapely

    gpd.GeoDataFrame(
        {"点号": ["I-101", "I-102", "I-103"], "点名": ["旧城一号", "旧城二号", "旧城三号"]},
        geometry=[shapely.Point(e, n) for e, n in LEGACY],
        crs="EPSG:2384",  # Xian 1980 / 3-degree Gauss-Kruger CM 117E
    ).to_file(path, layer="control_1990", driver="GPKG")


def write_generated(home: Path, ws: Path) -> None:
    """ortho_2023.tif (+ sidecar) and lidar/*.laz from the demo's own generator."""
    import rasterio

    from geobase.demo import _load_generator
    from geobase.geodesy.transform import transform

    gen = _load_generator(ROOT)
    city = gen.City(2023)
    e, n = transform(np.array([116.612]), np.array([23.268]), "EPSG:4490", "EPSG:4548")
    with warnings.catch_warnings():  # as the generator itself: rasterio's Affine `*`
        warnings.filterwarnings("ignore", "Use `@` matmul", PendingDeprecationWarning)
        gen._write_ortho(city, ws / "ortho_2023.tif", (float(e[0]), float(n[0])), 1024, 0.2, 7)
    sidecar = {
        "acquired": "2023-11-05/2023-11-12",
        "title": "潮阳棉城0.2米航空影像（合成） Chaoyang aerial orthophoto 0.2 m (synthetic)",
        "owner": "汕头市自然资源局 Shantou Natural Resources Bureau",
    }
    (ws / "ortho_2023.json").write_text(json.dumps(sidecar, ensure_ascii=False), "utf-8")
    with rasterio.open(ws / "ortho_2023.tif") as src:
        window = rasterio.windows.Window(0, 0, 400, 400)
        profile = {**src.profile, "width": 400, "height": 400, "crs": "EPSG:2384",
                   "blockxsize": 256, "blockysize": 256}  # fmt: skip
        left, top = src.transform.c, src.transform.f
        # the same ground in Xian 1980 coordinates (the similarity inverted near the corner)
        de, dn = xian_to_cgcs(np.array([left]), np.array([top]))
        profile["transform"] = rasterio.Affine(0.2, 0, 2 * left - de[0], 0, -0.2, 2 * top - dn[0])
        with rasterio.open(ws / "ortho_x80.tif", "w", **profile) as dst:
            dst.write(src.read(window=window))
    (ws / "lidar").mkdir()
    for k, lon in enumerate((116.585, 116.588)):
        e, n = transform(np.array([lon]), np.array([23.252]), "EPSG:4490", "EPSG:4548")
        gen._write_pointcloud(city, ws / "lidar" / f"chaoyang_{k + 1}.laz", (e[0], n[0]), 200.0)


def write_polygons(ws: Path) -> None:
    import geopandas as gpd
    import shapely

    chaoyang = shapely.Polygon(  # 棉城 old town, about 1.2 km2
        [(116.5950, 23.2550), (116.6060, 23.2545), (116.6070, 23.2650), (116.5960, 23.2660)]
    )
    gpd.GeoDataFrame({"name": ["棉城"]}, geometry=[chaoyang], crs=4490).to_file(
        ws / "chaoyang.geojson", driver="GeoJSON"
    )
    flood = shapely.Polygon(  # along the 练江 downstream of Chaoyang town
        [(116.5800, 23.2480), (116.6150, 23.2470), (116.6180, 23.2600), (116.5850, 23.2620)]
    )
    gpd.GeoDataFrame({"event": ["2024 练江洪水"]}, geometry=[flood], crs=4490).to_file(
        ws / "flood_area.geojson", driver="GeoJSON"
    )


def write_boundaries(path: Path) -> None:
    import geopandas as gpd

    frame = gpd.read_file(ROOT / "datasets" / "districts" / "shantou_districts.geojson")
    frame = frame.rename(columns={"name": "XZQMC", "code": "XZQDM"})[["XZQMC", "XZQDM", "geometry"]]
    frame.to_crs(4548).to_file(path, encoding="UTF-8")


def write_photo(path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(5)
    pixels = rng.integers(60, 200, size=(240, 320, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format="JPEG", quality=80)


def write_inspections(path: Path) -> None:
    """A field team's stream of inspections (JSON Lines), the way a script writes them."""
    lines = [
        {"point_id": "STC002", "condition": "完好", "date": "2024-05-02", "inspector": "林工"},
        {"point_id": "STC003", "condition": "damaged", "date": "2024-05-02", "inspector": "林工",
         "usability": "水准", "notes": "观测墩顶面开裂", "evidence": ["photo.jpg"]},
        {"点号": "STC004", "状况": "未找到", "巡查日期": "2024-05-03", "巡查人": "陈工"},
    ]  # fmt: skip
    path.write_text(
        "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8"
    )


@pytest.fixture(scope="module")
def inputs(smoke) -> Smoke:
    """The files the README's lines assume, in the workspace folder (their working folder)."""
    ws = smoke.ws
    write_points(ws / "points.csv")
    write_common_points(ws / "common_points.csv")
    write_legacy(ws / "legacy.gpkg")
    write_generated(smoke.home, ws)
    write_polygons(ws)
    write_boundaries(smoke.home / "boundaries.shp")
    write_photo(ws / "photo.jpg")
    write_inspections(ws / "inspections.jsonl")
    return smoke


# --- set up and the first tour ----------------------------------------------------------


def test_setup_and_first_tour(smoke):
    for line in (".venv/bin/geobase demo shantou", "geobase demo shantou"):
        result = smoke.run(line, smoke.home)
        assert re.search(r"ingest \(\d+ s\): deliveries: \d+ unchanged", result.stderr)
        assert "ingested" not in result.stderr.split("ingest (")[1].split("\n")[0]
    status = smoke.run("geobase status", smoke.ws)
    counts = {row[0]: int(row[1]) for row in table_rows(status.stdout)}
    assert counts["districts"] == 7 and counts["control_points"] == 460
    # records per table: a pyramid's builds are appended (publishing, then published)
    assert counts["datasets"] >= 90 and counts["pyramids"] >= 4
    from geobase.store import Workspace

    with Workspace.open(smoke.ws) as ws, ws.store.read() as tx:
        assert tx.scalar("SELECT count(DISTINCT name) FROM pyramids") == 4
    listed = smoke.run("geobase districts list")
    rows = table_rows(listed.stdout)
    assert [r[0] for r in rows] == [
        "金平区",
        "龙湖区",
        "澄海区",
        "濠江区",
        "潮阳区",
        "潮南区",
        "南澳县",
    ]
    assert {r[2] for r in rows} == {"440511", "440507", "440515", "440512", "440513", "440514",
                                    "440523"}  # fmt: skip
    assert sum(float(r[4]) for r in rows) == pytest.approx(2041.4, abs=1)


def test_catalog_list_in_a_table(smoke):
    result = smoke.run("geobase catalog list --product dom02")
    rows = [r for r in table_rows(result.stdout) if r[0]]
    assert len(rows) == 2 and {r[2] for r in rows} == {"dom02"}
    assert sorted(r[4] for r in rows) == ["2020-01-06", "2023-10-21"]
    assert {r[9] for r in rows} == {"0.2"}  # resolution
    assert all(r[10] == "" for r in rows)  # point_count: missing (pd.NA) shown empty
    # what the issue saw crash in table format (NA in nullable columns); the demo's
    # closing message names 'geobase catalog list'
    listed = [r for r in table_rows(smoke.invoke(["catalog", "list"], smoke.ws).stdout) if r[0]]
    assert len(listed) >= 90 and {"dom02", "dlg500", "pointcloud"} <= {r[2] for r in listed}
    plan = [r for r in table_rows(smoke.invoke(["coverage", "plan"], smoke.ws).stdout) if r[0]]
    assert ["dlg500", "全市", "covered", "2025"] in [r[:4] for r in plan]
    assert any(r[3] == "" for r in plan)  # a product without a target this year: empty


def test_emergency_package_for_a_point(smoke):
    smoke.run("geobase emergency 116.60,23.26 --radius 2000 -o chaoyang_pkg")
    manifest = json.loads((smoke.ws / "chaoyang_pkg" / "manifest.json").read_text("utf-8"))
    assert manifest["area"]["districts"] == ["潮阳区"]
    assert {s["dataset_id"] for s in manifest["sources"]} >= {"chaoyang_dom02_2023"}
    assert (smoke.ws / "chaoyang_pkg" / "index.html").is_file()
    with zipfile.ZipFile(smoke.ws / "chaoyang_pkg.zip") as z:
        assert "manifest.json" in {Path(n).name for n in z.namelist()}


# --- the service (geobase serve: the built app on a real server, free port) ----------------


@contextlib.contextmanager
def serving(monkeypatch) -> Iterator[dict]:
    """Replace uvicorn.run: serve the command's app on a free port and fetch the URLs."""
    import uvicorn

    from tests.server_support import running

    seen: dict = {}

    def fetch(base: str, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(base + path, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def fake_run(app, **options):
        seen["options"] = options
        with running(app) as base:
            tilejson = json.loads(fetch(base, "/tiles/overview_webmercator/tilejson.json")[1])
            seen["tilejson"] = tilejson
            lon, lat, z = tilejson["center"]
            x = int((lon + 180) / 360 * 2**z)
            y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * 2**z)
            url = tilejson["tiles"][0].format(z=z, x=x, y=y)
            seen["tile"] = fetch("", url)
            seen["internal"] = fetch(base, "/tiles/dom02_webmercator/tilejson.json")
            for path in ("/", "/health", "/api/openapi.json", "/wmts/1.0.0/WMTSCapabilities.xml",
                         "/wmts?SERVICE=WMTS&REQUEST=GetCapabilities", "/api/catalog/search",
                         "/api/control/public", "/api/coverage/dom2",
                         "/tiles/overview_cgcs2000/tilejson.json"):  # fmt: skip
                seen[path] = fetch(base, path)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    yield seen


def check_served(seen: dict) -> None:
    assert seen["options"]["host"] == "127.0.0.1"
    for path in ("/", "/health", "/api/openapi.json", "/wmts/1.0.0/WMTSCapabilities.xml"):
        assert seen[path][0] == 200, (path, seen[path])
    assert b"<html" in seen["/"][1].lower()
    assert seen["/api/openapi.json"][1].startswith(b"{")
    capabilities = seen["/wmts/1.0.0/WMTSCapabilities.xml"][1].decode()
    assert "overview_webmercator" in capabilities and "CGCS2000" in capabilities
    assert seen["/wmts?SERVICE=WMTS&REQUEST=GetCapabilities"][0] == 200
    assert seen["tilejson"]["tilejson"].startswith("3.")
    assert seen["tilejson"]["tiles"][0].endswith("/tiles/overview_webmercator/{z}/{x}/{y}.jpg")
    assert seen["tile"][0] == 200 and seen["tile"][1].startswith(b"\xff\xd8")  # a JPEG tile
    assert seen["internal"][0] in (401, 403, 404)  # dom02 is internal: no token, no layer
    assert "dom02" not in capabilities
    assert seen["/tiles/overview_cgcs2000/tilejson.json"][0] == 200
    # the APIs under /api/: without a token, public records only
    catalogue = json.loads(seen["/api/catalog/search"][1])["datasets"]
    assert catalogue and {d["classification"] for d in catalogue} == {"public"}
    marks = json.loads(seen["/api/control/public"][1])["features"]
    assert len(marks) > 200 and all(len(str(m["geometry"]["coordinates"][0])) <= 7 for m in marks)
    coverage = json.loads(seen["/api/coverage/dom2"][1])
    assert coverage["type"] == "FeatureCollection" and coverage["features"]


def test_serve(smoke, monkeypatch):
    with serving(monkeypatch) as seen:
        smoke.run("geobase serve")
    assert seen["options"]["port"] == 8000
    check_served(seen)


# --- coordinates and map sheets -----------------------------------------------------------


def test_coordinates_and_sheets(inputs):
    smoke = inputs
    zone = table_rows(smoke.run("geobase crs zone 116.682 23.354").stdout)
    by_epsg = {r[4]: r for r in zone}
    assert by_epsg["EPSG:4548"][1] == "39" and by_epsg["EPSG:4548"][3] == "no"
    assert by_epsg["EPSG:4527"][1] == "39" and by_epsg["EPSG:4527"][3] == "yes"
    assert by_epsg["EPSG:4548"][6] == "467483.3555" and by_epsg["EPSG:4548"][7] == "2583777.6078"

    smoke.run("geobase crs transform points.csv out.csv --from EPSG:4490 --to EPSG:4548")
    out = pd.read_csv(smoke.ws / "out.csv", dtype=str)
    assert list(out["点号"]) == [m[0] for m in NEW_MARKS]
    assert np.abs(out["east"].astype(float) - out["Y"].astype(float)).max() < 1e-3
    assert np.abs(out["north"].astype(float) - out["X"].astype(float)).max() < 1e-3

    fit = smoke.run(
        "geobase crs fit common_points.csv --model 4p --from EPSG:2384 --to EPSG:4548 "
        "--check GZ14,GZ15 -o xian80.json"
    )
    assert "GZ14" in fit.stdout and "GZ15" in fit.stdout and "check" in fit.stdout
    assert (smoke.ws / "xian80.json").is_file()
    smoke.run("geobase crs apply xian80.json legacy.gpkg converted.gpkg")
    import geopandas as gpd

    converted = gpd.read_file(smoke.ws / "converted.gpkg")
    assert list(converted["点名"]) == ["旧城一号", "旧城二号", "旧城三号"]
    east, north = xian_to_cgcs(np.array([p[0] for p in LEGACY]), np.array([p[1] for p in LEGACY]))
    assert np.abs(converted.geometry.x.to_numpy() - east).max() < 0.02
    assert np.abs(converted.geometry.y.to_numpy() - north).max() < 0.02
    assert converted.crs.to_epsg() == 4548

    smoke.run(
        "geobase crs apply xian80.json ortho_x80.tif ortho_cgcs2000.tif --resampling bilinear"
    )
    import rasterio
    from rio_cogeo.cogeo import cog_validate

    with (
        rasterio.open(smoke.ws / "ortho_cgcs2000.tif") as out,
        rasterio.open(smoke.ws / "ortho_x80.tif") as src,
    ):
        assert out.crs.to_epsg() == 4548 and out.count == 4  # RGB and alpha (the edges)
        west, south = xian_to_cgcs(np.array([src.bounds.left]), np.array([src.bounds.bottom]))
        assert out.bounds.left == pytest.approx(west[0], abs=0.5)  # a pixel or two
        assert out.bounds.bottom == pytest.approx(south[0], abs=0.5)
    assert cog_validate(smoke.ws / "ortho_cgcs2000.tif")[0]

    code = table_rows(smoke.run("geobase sheets code 116.682 23.354 --scale 1:10000").stdout)
    assert code[0][:2] == ["F50G016043", "1:10000"]

    smoke.run(
        "geobase sheets grid --scale 1:500 --kind rect --area chaoyang.geojson -o sheets.gpkg"
    )
    sheets = gpd.read_file(smoke.ws / "sheets.gpkg")
    assert 20 <= len(sheets) <= 40  # ~1.2 km2 of 0.0625 km2 sheets, edges included
    assert sheets.iloc[:, 0].astype(str).str.fullmatch(r"\d{4}\.\d{2}-\d{3}\.\d{2}").all()


def test_help_example_sheets_grid(smoke):
    import geopandas as gpd

    folder = smoke.home / "help"
    folder.mkdir()
    frame = gpd.read_file(ROOT / "datasets" / "districts" / "shantou_districts.geojson")
    frame[frame["name"] == "南澳县"].to_file(folder / "districts.gpkg", driver="GPKG")
    line = "geobase sheets grid --scale 1:500 --kind rect --area districts.gpkg -o sheets.gpkg"
    smoke.run(line, folder)
    sheets = gpd.read_file(folder / "sheets.gpkg")
    assert len(sheets) > 177.75 / 0.0625  # every sheet sharing area with 南澳县


# --- ingest, catalogue, coverage and tiles ---------------------------------------------------


def test_ingest_catalogue_coverage_and_tiles(inputs):
    smoke = inputs
    result = smoke.run("geobase ingest ortho_2023.tif --product dom02 --classification internal")
    [row] = table_rows(result.stdout)
    assert row[0] == "ortho_2023" and "dom02" in row
    result = smoke.run("geobase ingest lidar/*.laz")
    rows = table_rows(result.stdout)
    assert [r[0] for r in rows] == ["chaoyang_1", "chaoyang_2"]
    assert all("pointcloud" in r for r in rows)
    from geobase.catalog import current_datasets
    from geobase.store import Workspace

    with Workspace.open(smoke.ws) as ws:
        datasets = current_datasets(ws.store).set_index("dataset_id")
    assert datasets.loc["ortho_2023", "acquired_start"] == "2023-11-05"  # the sidecar's
    assert datasets.loc["ortho_2023", "classification"] == "internal"
    assert datasets.loc["chaoyang_1", "acquired_start"] == "2020-11-12"  # LAS GPS time

    found = json.loads(smoke.run("geobase catalog search --product dlg500 --format geojson").stdout)
    products = {f["properties"]["product"] for f in found["features"]}
    assert products == {"dlg500"} and len(found["features"]) >= 50

    result = smoke.run("geobase coverage report --as-of 2020-12-31 -o baseline.html")
    html = (smoke.ws / "baseline.html").read_text(encoding="utf-8")
    assert "2020-12-31" in html and "潮阳区" in html

    line = (
        "geobase tiles build dom02 --tms CGCS2000Quad --zoom 14-19 --format jpeg "
        "-o tiles/dom02_c.pmtiles"
    )
    result = smoke.run(line)
    assert "z14-19 CGCS2000Quad jpeg" in result.stderr
    from geobase.tiles.stores import open_pyramid

    with open_pyramid(smoke.ws / "tiles" / "dom02_c.pmtiles") as reader:
        assert reader.tms.id == "CGCS2000Quad"
        tiles = sum(1 for _ in reader.tiles())
    assert tiles > 100
    result = smoke.run("geobase tiles build dom02 --update -o tiles/dom02_c.pmtiles")
    assert "tiles/dom02_c.pmtiles: up to date" in result.stderr


def test_qc_report(inputs):
    smoke = inputs
    result = smoke.run("geobase qc ortho_2023.tif --product dom02 -o qc_report.html")
    assert "passed: 0 blocking" in result.stderr
    page = (smoke.ws / "qc_report.html").read_text(encoding="utf-8")
    assert "成果质检报告" in page and "dom02" in page
    import geopandas as gpd

    layer = gpd.read_file(smoke.ws / "qc_report.gpkg", layer="qc_defects")
    assert set(layer["severity"]) <= {"minor"}  # metadata: no sensor stated
    (smoke.ws / "qc_report.html").unlink()
    (smoke.ws / "qc_report.gpkg").unlink()


# --- emergency packages -----------------------------------------------------------------------


def test_emergency_bbox_and_restricted_polygon(inputs):
    smoke = inputs
    from geobase.catalog.access import create_token
    from geobase.store import Workspace

    result = smoke.run("geobase emergency 116.55,23.22,116.65,23.30 -o pkg")
    assert "restricted datasets withheld" in result.stderr
    manifest = json.loads((smoke.ws / "pkg" / "manifest.json").read_text("utf-8"))
    assert manifest["package"]["classification"] != "restricted"
    with Workspace.open(smoke.ws) as ws:
        _, smoke.env["TOKEN"] = create_token(ws.store, "emergency-office", "restricted")
    line = 'geobase emergency flood_area.geojson -o flood_pkg --include-restricted --token "$TOKEN"'
    smoke.run(line)
    manifest = json.loads((smoke.ws / "flood_pkg" / "manifest.json").read_text("utf-8"))
    assert manifest["package"]["classification"] == "restricted"
    assert manifest["area"]["districts"] == ["潮阳区"]
    assert "restricted" in {s["classification"] for s in manifest["sources"]}


# --- PostGIS for many editors, Dask for big tile builds ------------------------------------


def status_counts(smoke, folder: Path) -> dict[str, int]:
    rows = table_rows(smoke.invoke(["status"], folder).stdout)
    return {row[0]: int(row[1]) for row in rows}


@pytest.mark.postgis
def test_store_copy_and_init_on_postgis(smoke, pg_url):
    smoke.replace[PG_EXAMPLE] = pg_url
    try:
        copied = smoke.run(
            "geobase store copy shantou postgresql://geobase@dbhost:5432/shantou", smoke.home
        )
        rows = {r[0]: r[1] for r in table_rows(copied.stdout)}
        assert rows["control_points"] == "460" and rows["districts"] == "7"
        smoke.run(
            "geobase init bureau --store postgresql://geobase@dbhost:5432/shantou", smoke.home
        )
        counts = status_counts(smoke, smoke.home / "bureau")
        assert counts["districts"] == 7 and counts["control_points"] == 460
        smoke.run("geobase store copy postgresql://geobase@dbhost:5432/shantou laptop", smoke.home)
        assert status_counts(smoke, smoke.home / "laptop") == counts
    finally:
        smoke.replace.pop(PG_EXAMPLE)
    # both find the delivery files: the catalogue's paths resolve in each
    from geobase.store import Workspace

    for folder in (smoke.home / "bureau", smoke.home / "laptop"):
        shown = json.loads(smoke.invoke(["catalog", "show", "chaoyang_dom02_2023"], folder).stdout)
        with Workspace.open(folder) as ws:
            assert ws.file(shown["path"], must_exist=True).is_file()


@pytest.mark.postgis
def test_help_examples_of_store_copy(smoke, pg_url):
    smoke.replace[PG_HELP_EXAMPLE] = pg_url
    srv = smoke.home / "srv" / "shantou"
    smoke.replace["/srv/shantou"] = str(srv)
    try:
        smoke.run("geobase store copy . postgresql://geobase@db:5432/shantou", smoke.ws)
        smoke.run(
            "geobase init /srv/shantou --store postgresql://geobase@db:5432/shantou", smoke.home
        )
        counts = status_counts(smoke, srv)
        assert counts["districts"] == 7 and counts["datasets"] >= 90
        line = "geobase store copy postgresql://geobase@db:5432/shantou ./shantou-copy --files copy"
        result = smoke.run(line, smoke.home)
        assert re.search(r"\d+ copied", result.stderr)
    finally:
        smoke.replace.pop(PG_HELP_EXAMPLE)
        smoke.replace.pop("/srv/shantou")
    assert status_counts(smoke, smoke.home / "shantou-copy") == counts
    copied = sorted((smoke.home / "shantou-copy" / "data").rglob("*.tif"))
    assert copied and all(p.stat().st_nlink == 1 for p in copied)  # copies, not links


DASK_LINE = (
    "geobase tiles build dom02 --tms WebMercatorQuad --zoom 14-20 -o tiles/dom02.pmtiles "
    "--dask tcp://scheduler:8786"
)


def test_tiles_build_on_dask(smoke):
    """Workers in processes of their own (as on a cluster), one thread each."""
    distributed = pytest.importorskip("distributed")
    line = DASK_LINE
    with distributed.LocalCluster(
        n_workers=1, processes=True, threads_per_worker=1, dashboard_address=":0"
    ) as cluster:
        smoke.replace[DASK_EXAMPLE] = cluster.scheduler_address
        try:
            result = smoke.run(line)
        finally:
            smoke.replace.pop(DASK_EXAMPLE)
    assert "z14-20 WebMercatorQuad" in result.stderr
    from geobase.tiles.stores import open_pyramid

    with open_pyramid(smoke.ws / "tiles" / "dom02.pmtiles") as reader:
        zooms = {z for z, _, _ in reader.tiles()}
    assert zooms == set(range(14, 21))


def test_tiles_build_on_dask_workers_with_threads(smoke, tmp_path):
    """dask worker's default is a thread per core: warps run in threads of one process,
    each with its own GDAL handles (shared handles segfaulted the worker)."""
    distributed = pytest.importorskip("distributed")
    import dask

    out = "tiles/dom02_threads.pmtiles"
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        distributed.LocalCluster(
            n_workers=1, processes=True, threads_per_worker=4, dashboard_address=":0"
        ) as cluster,
    ):
        smoke.replace[DASK_EXAMPLE] = cluster.scheduler_address
        smoke.replace["tiles/dom02.pmtiles"] = out
        try:
            result = smoke.run(DASK_LINE)
        finally:
            smoke.replace.pop(DASK_EXAMPLE)
            smoke.replace.pop("tiles/dom02.pmtiles")
    assert result.exit_code == 0, result.stderr
    from geobase.tiles.stores import open_pyramid

    with open_pyramid(smoke.ws / out) as reader:
        assert {z for z, _, _ in reader.tiles()} == set(range(14, 21))


# --- control network ------------------------------------------------------------------------


def registry(smoke, **criteria) -> pd.DataFrame:
    from geobase.control.registry import search
    from geobase.store import Workspace

    with Workspace.open(smoke.ws) as ws:
        return pd.DataFrame(search(ws, **criteria).drop(columns="geometry"))


def test_control_network(inputs):
    smoke = inputs
    smoke.run("geobase control import points.csv")
    added = registry(smoke, name="")
    added = added[added["point_id"].isin([m[0] for m in NEW_MARKS])]
    assert sorted(added["point_id"]) == [m[0] for m in NEW_MARKS]
    assert set(added["district"]) == {"金平区", "龙湖区"} and set(added["gnss_grade"]) == {"D"}
    with (smoke.ws / "points.csv").open("a", encoding="utf-8", newline="") as handle:
        # B/L in 龙湖区 but X/Y 1 km away: refused, kept in points.rejects.csv
        handle.write("LHD105,龙湖四号,D级,23.380000000,116.730000000,2586500.0000,"
                     "475000.0000,3.100,普通标石\n")  # fmt: skip
    smoke.run("geobase control import points.csv --skip-invalid")
    rejects = (smoke.ws / "points.rejects.csv").read_text(encoding="utf-8")
    assert "LHD105" in rejects and "JPD101" not in rejects
    assert registry(smoke, point_id="LHD105").empty
    assert len(registry(smoke, point_id="JPD101")) == 1

    line = "geobase control search --near 116.68,23.35 --radius 2000 --grade C --format geojson"
    near = json.loads(smoke.run(line).stdout)["features"]
    assert near and {f["properties"]["gnss_grade"] for f in near} == {"C"}
    line = "geobase control search --district 潮南区 --usability usable"
    usable = [r for r in table_rows(smoke.run(line).stdout) if r[0]]
    assert len(usable) > 20 and {r[4] for r in usable} == {"潮南区"}
    assert {r[9] for r in usable} <= {"gnss", "levelling", "both"}

    shown = smoke.run("geobase control show STC001").stdout
    assert "云澳祠堂" in shown and "2591378.4352" in shown and "F50G014048" in shown
    smoke.run(
        "geobase control inspect PCD008 --condition destroyed --date 2024-05-02 --inspector 林工 "
        "--evidence photo.jpg"
    )
    [pcd] = registry(smoke, point_id="PCD008").to_dict("records")
    assert (pcd["condition"], pcd["usability"]) == ("destroyed", "none")
    smoke.run(
        "geobase control inspect STC001 --condition moved --date 2024-05-02 --inspector 林工 "
        "--new-id STC001A --new-position 116.6826,23.3541"
    )
    [new] = registry(smoke, point_id="STC001A").to_dict("records")
    assert (round(new["lon"], 6), round(new["lat"], 6)) == (116.6826, 23.3541)
    assert registry(smoke, point_id="STC001").empty  # retired
    acks = smoke.run("geobase control inspect --from inspections.jsonl").stdout.splitlines()
    assert [a.split(":")[0] for a in acks] == ["line 1", "line 2", "line 3"]
    assert "STC003 2024-05-02 damaged, usable for levelling, 1 evidence file(s)" in acks[1]
    from geobase.control.inspections import inspection_history
    from geobase.store import Workspace

    with Workspace.open(smoke.ws) as ws:
        streamed = [
            max(inspection_history(ws, p), key=lambda i: i.fid or 0)
            for p in ("STC002", "STC003", "STC004")
        ]
    assert [(i.condition, i.inspector, i.notes) for i in streamed] == [
        ("intact", "林工", None),
        ("damaged", "林工", "观测墩顶面开裂"),
        ("not_found", "陈工", None),
    ]
    overdue = smoke.run("geobase control overdue --as-of 2025-03-01")
    count = int(re.search(r"(\d+) marks overdue for inspection", overdue.stderr)[1])
    assert count > 100 and len({r[0] for r in table_rows(overdue.stdout) if r[0]}) == count
    stats = table_rows(smoke.run("geobase control stats").stdout)
    assert len(stats) == 8 and stats[-1][0] == "全市 total"
    assert int(stats[-1][1]) == 460 + 4 + 1 - 1  # + the new marks and STC001A, - STC001
    smoke.run("geobase control datasheet STC001 -o STC001.pdf")
    assert (smoke.ws / "STC001.pdf").read_bytes().startswith(b"%PDF")
    smoke.run("geobase control export public.geojson --public")
    public = json.loads((smoke.ws / "public.geojson").read_text(encoding="utf-8"))["features"]
    assert len(public) > 200
    for feature in public:
        lon, lat = feature["geometry"]["coordinates"][:2]
        assert round(lon, 3) == pytest.approx(lon, abs=1e-9)
        assert round(lat, 3) == pytest.approx(lat, abs=1e-9)


# --- spatial information service ----------------------------------------------------------


def test_service_tokens_and_publication_log(smoke, monkeypatch):
    with serving(monkeypatch) as seen:
        smoke.run("geobase serve --port 8000")
    assert seen["options"]["port"] == 8000
    check_served(seen)

    created = smoke.run("geobase token create planning-dept --max-classification internal")
    secret = created.stdout.strip()
    assert re.fullmatch(r"gbt_\S{20,}", secret), created.stdout
    listed = smoke.run("geobase token list").stdout
    rows = [r for r in table_rows(listed) if r[1] == "planning-dept"]
    assert len(rows) == 1 and rows[0][2] == "internal" and rows[0][5] == ""
    assert secret not in listed
    smoke.run("geobase token revoke planning-dept")
    listed = smoke.run("geobase token list").stdout
    assert not [r for r in table_rows(listed) if r[1] == "planning-dept"]

    recorded = smoke.run(
        "geobase publish record catalogue --kind catalogue --classification public "
        "--reviewer 李审 --review-date 2024-03-28 --by 王发"
    )
    assert "catalogue" in recorded.stdout
    log = [r for r in table_rows(smoke.run("geobase publish log").stdout) if r[0]]
    assert [r[1:8] for r in log] == [
        ["catalogue", "catalogue", "public", "李审", "approved", "2024-03-28", "王发"]
    ]
    check = smoke.run("geobase publish check --as-of 2025-12-31", code=1)
    assert "cadence missed for" in check.stderr
    status = {r[0]: r[-1] for r in table_rows(check.stdout) if r[0]}
    assert status["catalogue"] == "missed" and status["imagery"] == "missed"


def test_serve_emit_nginx(smoke):
    result = smoke.run("geobase serve --emit-nginx geobase-nginx.conf")
    text = (smoke.ws / "geobase-nginx.conf").read_text(encoding="utf-8")
    assert "server 127.0.0.1:8000;" in text and "listen 80;" in text
    assert "location / {" in text and "proxy_pass http://geobase_upstream;" in text
    # the demo's pyramids are PMTiles: nginx passes their tiles to geobase, and says so
    assert "location ~" not in text
    assert "nginx sends 0 pyramid(s) from disk" in result.stderr
    assert "go through geobase" in result.stderr and ".pmtiles" not in result.stderr


# --- workspaces -----------------------------------------------------------------------------


def test_new_workspace_and_district_boundaries(inputs):
    smoke = inputs
    smoke.run("geobase init my-bureau", smoke.home)
    assert (smoke.home / "my-bureau" / "geobase.toml").is_file()
    line = "geobase districts load boundaries.shp --name-field XZQMC --workspace my-bureau"
    smoke.run(line, smoke.home)
    listed = smoke.run("geobase districts list", smoke.home / "my-bureau")
    assert sorted(r[0] for r in table_rows(listed.stdout)) == sorted(
        ["金平区", "龙湖区", "澄海区", "濠江区", "潮阳区", "潮南区", "南澳县"]
    )


# --- the output rule every format shares ----------------------------------------------------


MISSING = [None, pd.NA, np.nan, pd.NaT, np.float64("nan"), np.datetime64("NaT")]


@pytest.mark.parametrize("value", MISSING, ids=repr)
def test_missing_cells_are_empty_in_every_format(value):
    from geobase.cli.options import cell_text
    from geobase.values import plain

    assert plain(value) is None and cell_text(value) == ""


def test_cells_of_a_nullable_frame_in_every_format():
    from geobase.cli.options import emit

    frame = pd.DataFrame(
        {
            "id": ["a", "b"],
            "count": pd.array([3, None], dtype="Int64"),
            "res": pd.array([0.2, None], dtype="Float64"),
            "name": pd.array(["潮阳", None], dtype="string"),
            "when": pd.to_datetime(["2023-10-21", None]),
            "n": np.array([1, 2], dtype=np.int64),
            "meta": [{"k": np.int64(1)}, None],
        }
    )
    out = {}
    for fmt in ("table", "csv", "json"):
        buffer = io.StringIO()
        emit(frame, fmt, buffer)
        out[fmt] = buffer.getvalue()
    rows = table_rows(out["table"])
    assert rows[0][:6] == ["a", "3", "0.2", "潮阳", "2023-10-21T00:00:00", "1"]
    assert rows[1][:6] == ["b", "", "", "", "", "2"]
    assert list(csv.reader(io.StringIO(out["csv"])))[1:] == [
        ["a", "3", "0.2", "潮阳", "2023-10-21T00:00:00", "1", '{"k": 1}'],
        ["b", "", "", "", "", "2", ""],
    ]
    assert json.loads(out["json"]) == [
        {"id": "a", "count": 3, "res": 0.2, "name": "潮阳", "when": "2023-10-21T00:00:00",
         "n": 1, "meta": {"k": 1}},
        {"id": "b", "count": None, "res": None, "name": None, "when": None, "n": 2, "meta": None},
    ]  # fmt: skip
    one = io.StringIO()
    emit({"a": pd.NA, "b": np.float64("nan"), "c": [np.int64(2)]}, "json", one)
    assert json.loads(one.getvalue()) == {"a": None, "b": None, "c": [2]}


def test_cells_of_a_nullable_frame_in_geojson():
    import geopandas as gpd
    import shapely

    from geobase.cli.options import emit

    frame = gpd.GeoDataFrame(
        {
            "id": ["a", "b"],
            "count": pd.array([3, None], dtype="Int64"),
            "when": pd.to_datetime(["2023-10-21", None]),
        },
        geometry=[shapely.Point(116.6, 23.2), shapely.Point(116.7, 23.3)],
        crs=4490,
    )
    buffer = io.StringIO()
    emit(frame, "geojson", buffer)
    properties = [f["properties"] for f in json.loads(buffer.getvalue())["features"]]
    assert properties == [
        {"id": "a", "count": 3, "when": "2023-10-21T00:00:00"},
        {"id": "b", "count": None, "when": None},
    ]
