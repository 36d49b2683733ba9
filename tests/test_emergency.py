"""geobase emergency: the package for a point in Chaoyang, its COGs, viewer and bad inputs."""

from __future__ import annotations

import codecs
import json
import re
import shutil
import subprocess
import zipfile

import geopandas as gpd
import pytest
import rasterio
import shapely
from rio_cogeo.cogeo import cog_validate

from geobase.catalog.access import create_token
from geobase.emergency import parse_aoi, viewer_html
from geobase.emergency.viewer import asset
from geobase.errors import AreaOfInterestError
from geobase.store import Workspace
from geobase.tabular import read_csv
from geobase.tiles.stores import open_pyramid
from tests.conftest import run_cli

CHAOYANG = "116.60,23.26"  # Chaoyang town centre (潮阳区棉城)


@pytest.fixture(scope="module")
def package(demo_workspace, tmp_path_factory):
    out = tmp_path_factory.mktemp("emergency") / "chaoyang"
    result = run_cli(
        ["emergency", CHAOYANG, "--radius", 2000, "-o", out, "--workspace", demo_workspace]
    )
    assert result.exit_code == 0, result.stderr
    return out


def test_package_holds_the_best_data(package):
    manifest = json.loads((package / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["area"]["districts"] == ["潮阳区"]
    assert manifest["area"]["area_km2"] == pytest.approx(3.14159 * 4, rel=0.01)
    sources = {s["dataset_id"]: s for s in manifest["sources"]}
    # finest (0.2 m, newest first) and newest (2024 satellite) imagery, the finest DEM
    imagery = [s for s in manifest["sources"] if s["kind"] == "imagery"]
    assert imagery[0]["dataset_id"] == "chaoyang_dom02_2023"
    assert "chaoyang_sat_2m_2024" in sources
    assert "shantou_overview_30m_2020" not in sources  # finer data cover the area
    dems = [s for s in manifest["sources"] if s["kind"] == "dem"]
    assert [d["dataset_id"] for d in dems] == ["chaoyang_dem_5m_2020"]
    for s in manifest["sources"]:
        assert s["acquired_end"] and s["classification"] in ("public", "internal")
        assert (package / s["file"]).is_file()
    # restricted 1:500 maps stay out without a token, but the sheet index is there
    assert manifest["withheld"]["count"] > 0
    assert not any(s["product"] == "dlg500" for s in manifest["sources"])
    sheets = json.loads((package / "topographic" / "sheets.geojson").read_text("utf-8"))
    codes = [f["properties"]["code"] for f in sheets["features"]]
    assert any(re.fullmatch(r"\d{4}\.\d{2}-\d{3}\.\d{2}", c) for c in codes)  # 1:500
    assert any(c.startswith("F50G") for c in codes)  # 1:10,000
    assert manifest["sheets"]["count_1_500"] > 200
    # control points: usable, within the distance; CORS: the nearest three
    control = json.loads((package / "control" / "control_points.geojson").read_text("utf-8"))
    assert control["features"]
    for f in control["features"]:
        assert f["properties"]["usability"] in ("gnss", "levelling", "both")
        assert f["properties"]["distance_to_area_m"] <= 3000
    table = read_csv(package / "control" / "control_points.csv")  # UTF-8 with BOM, for Excel
    assert (package / "control" / "control_points.csv").read_bytes()[:3] == codecs.BOM_UTF8
    assert len(table) == len(control["features"])
    cors = json.loads((package / "control" / "cors_stations.geojson").read_text("utf-8"))
    distances = [f["properties"]["distance_m"] for f in cors["features"]]
    assert len(distances) == 3 and distances == sorted(distances)
    # offline tiles
    with open_pyramid(package / "tiles" / "area.pmtiles") as reader:
        assert reader.tms.id == "WebMercatorQuad"
        assert sum(1 for _ in reader.tiles()) == manifest["tiles"]["tiles"] > 0
    # the zip holds the same files under the package's name
    with zipfile.ZipFile(package.with_name(package.name + ".zip")) as z:
        names = set(z.namelist())
    assert f"{package.name}/manifest.json" in names
    assert f"{package.name}/{imagery[0]['file']}" in names
    assert not list(package.parent.glob(".*"))  # no temporary folder or zip left


def test_cogs_validate(package):
    cogs = sorted(package.glob("imagery/*.tif")) + sorted(package.glob("dem/*.tif"))
    assert len(cogs) >= 3
    for path in cogs:
        valid, errors, _ = cog_validate(str(path), quiet=True)
        assert valid, (path.name, errors)
        with rasterio.open(path) as src:
            assert src.crs.to_epsg() == 4548
            assert src.overviews(1)


@pytest.mark.browser
def test_viewer_opens_offline_in_headless_chromium(package, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (scripts/install-system-deps.sh test)")
    html = (package / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    cmd = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={tmp_path / 'profile'}",
        # nothing may leave the machine: every host resolves nowhere, a dead proxy
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=127.0.0.1:9",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1200,900",
        "--virtual-time-budget=8000",
        "--dump-dom",
        (package / "index.html").as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert 'data-ready="1"' in dom  # the script ran to its end
    tiles = re.search(r'<div id="tiles">(.*?)</div>', dom, re.S).group(1)
    assert tiles.count("<img") >= 4  # loaded tiles stay; missing ones remove themselves
    assert "<circle" in dom and "<polygon" in dom  # control points, area, sheets
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    assert not [line for line in console if re.search(r"error|Uncaught", line, re.I)], console


def test_restricted_data_need_a_cleared_token(demo_workspace, tmp_path):
    out = tmp_path / "pkg"
    base = ["emergency", CHAOYANG, "--radius", 500, "-o", out, "--workspace", demo_workspace]
    refused = run_cli([*base, "--include-restricted"])
    assert refused.exit_code == 2
    assert "token" in refused.stderr and not out.exists()
    bad = run_cli([*base, "--include-restricted", "--token", "gbt_" + "x" * 43])
    assert bad.exit_code == 2 and not out.exists()
    with Workspace.open(demo_workspace) as ws:
        _, internal = create_token(ws.store, "emergency-test-internal", "internal")
        _, secret = create_token(ws.store, "emergency-test-restricted", "restricted")
    low = run_cli([*base, "--include-restricted", "--token", internal])
    assert low.exit_code == 2 and "restricted" in low.stderr and not out.exists()
    ok = run_cli([*base, "--include-restricted", "--token", secret, "--max-zoom", 15])
    assert ok.exit_code == 0, ok.stderr
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["package"]["classification"] == "restricted"
    maps = [s for s in manifest["sources"] if s["product"] == "dlg500"]
    assert maps and all((out / s["file"]).is_file() for s in maps)
    assert manifest["withheld"]["count"] == 0
    # existing output without --overwrite: refused, untouched
    again = run_cli(base)
    assert again.exit_code == 2 and "--overwrite" in again.stderr
    assert json.loads((out / "manifest.json").read_text("utf-8")) == manifest


@pytest.mark.parametrize(
    ("aoi", "extra", "message"),
    [
        ("113.26,23.13", ["--radius", 2000], "outside"),  # Guangzhou, not Shantou
        ("23.26,116.60", ["--radius", 2000], "lon,lat"),  # swapped
        (CHAOYANG, [], "radius"),
        (CHAOYANG, ["--radius", 0], "radius"),
        (CHAOYANG, ["--radius", -50], "radius"),
        (CHAOYANG, ["--radius", 1e6], "radius"),
        ("116.7,23.4,116.6,23.3", [], "W < E"),
        ("116.6,23.3,116.7", [], "numbers"),
        ("chaoyang", [], "no such file"),
    ],
)
def test_bad_areas_exit_2_and_write_nothing(demo_workspace, tmp_path, aoi, extra, message):
    out = tmp_path / "pkg"
    result = run_cli(["emergency", aoi, *extra, "-o", out, "--workspace", demo_workspace])
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_unreadable_and_empty_polygon_files(tmp_path):
    garbage = tmp_path / "area.geojson"
    garbage.write_text("{ not json", encoding="utf-8")
    with pytest.raises(AreaOfInterestError, match="cannot be read"):
        parse_aoi(garbage)
    points = tmp_path / "points.geojson"
    points.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {},
                        "geometry": {"type": "Point", "coordinates": [116.6, 23.26]},
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    with pytest.raises(AreaOfInterestError, match="no polygon"):
        parse_aoi(points)


def test_polygon_file_in_gauss_kruger_is_reprojected(tmp_path):
    import geopandas as gpd
    import shapely

    path = tmp_path / "area.gpkg"
    gpd.GeoDataFrame(
        {"name": ["江湾"]}, geometry=[shapely.box(460000, 2573000, 462000, 2575000)], crs=4548
    ).to_file(path)
    aoi = parse_aoi(path)
    assert aoi.area_km2() == pytest.approx(4.0, rel=0.01)
    w, s, e, n = aoi.bounds
    assert 116.5 < w < e < 116.7 and 23.2 < s < n < 23.3


def test_viewer_page_is_filled_from_its_asset_files(package):
    """index.html is assets/viewer.html with viewer.css and viewer.js inlined (no file is
    fetched), every text from the data escaped, and the JSON unable to end its element."""
    html = (package / "index.html").read_text(encoding="utf-8")
    for name in ("viewer.css", "viewer.js"):
        assert asset(name).strip() in html, name
    assert "{{" not in html and "{%" not in html
    assert 'src="viewer/tiles/' not in html  # tiles are loaded by the script, not by tags
    manifest = json.loads((package / "manifest.json").read_text(encoding="utf-8"))
    for s in manifest["sources"]:
        assert f"<td>{s['dataset_id']}</td>" in html
    manifest["area"]["description"] = "洪水区 </title><script>alert(1)</script>"
    frame = gpd.GeoDataFrame(
        {"code": ["</script><b>"], "scale": [500]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4490
    )
    empty = gpd.GeoDataFrame({"point_id": []}, geometry=[], crs=4490)
    page = viewer_html(manifest, frame, empty, empty)
    assert "<script>alert" not in page and "洪水区 &lt;/title&gt;&lt;script&gt;" in page
    assert page.count("</script>") == 2  # the data's and the viewer's, nothing from the data
    payload = re.search(r'<script id="data" type="application/json">(.*?)</script>', page, re.S)
    assert json.loads(payload.group(1))["sheets"][0]["properties"]["code"] == "</script><b>"
