"""A real browser: Debian's headless Chromium (driven by Playwright) loads the viewer.

Tiles must appear in both grids (the map images are not blank), the console must stay
free of errors, and no request may leave the service.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from tests.server_support import make_workspace, running

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from geobase.server import ServerSettings, create_app

    info = make_workspace(tmp_path_factory.mktemp("browser") / "ws")
    app = create_app(ServerSettings.for_workspace(info["ws_root"]))
    with running(app) as base:
        yield {**info, "base": base}


def not_blank(png: bytes) -> tuple[int, float]:
    """(number of distinct colours, share of pixels that differ from the background)."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3)
    colours = len(np.unique(pixels, axis=0))
    background = np.array([0xF4, 0xF4, 0xF4])  # .map background in viewer.css
    return colours, float((np.abs(pixels.astype(int) - background).sum(axis=1) > 30).mean())


def test_viewer_shows_tiles_in_both_grids(served, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    base = served["base"]
    requests: list[str] = []
    problems: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.on(
                "console",
                lambda m: (
                    problems.append(f"console {m.type}: {m.text}")
                    if m.type in ("error", "warning")
                    else None
                ),
            )
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
            page.goto(base + "/", wait_until="load")
            page.wait_for_function(
                "() => window.geobaseViewer && window.geobaseViewer.ready"
                " && window.geobaseViewer.tilesLoaded.WebMercatorQuad > 0"
                " && window.geobaseViewer.tilesLoaded.CGCS2000Quad > 0",
                timeout=30_000,
            )
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(300)
            shots = {}
            for grid in ("WebMercatorQuad", "CGCS2000Quad"):
                shots[grid] = page.locator(f"#map-{grid}").screenshot()
                (tmp_path / f"{grid}.png").write_bytes(shots[grid])
            status = page.locator("#status").inner_text()
            switches = page.locator(".layers label").all_inner_texts()
            errors = page.evaluate("() => window.geobaseViewer.tileErrors")
        finally:
            browser.close()
    assert not problems, problems
    assert errors == {}, errors
    outside = [u for u in requests if not u.startswith(base) and not u.startswith("data:")]
    assert not outside, outside
    assert any("/tiles/merc/" in u for u in requests)
    assert any("/tiles/cgcs/" in u for u in requests)
    assert not any("/tiles/secret/" in u or "/tiles/inner/" in u for u in requests)
    for grid, png in shots.items():
        colours, share = not_blank(png)
        assert colours > 100 and share > 0.05, (grid, colours, share)
    assert "2 个瓦片金字塔 pyramids" in status
    assert any("控制点" in s and "Control points" in s for s in switches)


HIGH_BOUNDS = (116.390, 39.900, 116.400, 39.908)  # a few streets of Beijing, far from Shantou


@pytest.fixture(scope="module")
def high_pyramid(tmp_path_factory):
    """A workspace named 北京示例 with two Web Mercator pyramids starting at zoom 15 (far
    above the view a viewer would open with), 1,900 km apart: in Beijing and in Shantou."""
    import warnings

    from geobase.server import ServerSettings, create_app
    from geobase.store import Workspace
    from geobase.tiles.build import build_tiles
    from tests.server_support import sample_raster

    root = tmp_path_factory.mktemp("high") / "ws"
    with Workspace.init(root, name="北京示例") as ws:
        sample_raster(ws.root / "beijing.tif", bounds=HIGH_BOUNDS)
        sample_raster(ws.root / "shantou.tif", bounds=(116.68, 23.35, 116.69, 23.36))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Use `@` matmul", PendingDeprecationWarning)
            for name in ("beijing", "shantou"):
                build_tiles(ws, f"{name}.tif", ws.root / f"tiles/{name}", zoom=(15, 16), workers=1)
        with ws.store.transaction() as tx:
            tx.execute("UPDATE pyramids SET classification = 'public'")
    app = create_app(ServerSettings.for_workspace(root))
    with running(app) as base:
        yield base


def test_viewer_starts_where_a_high_pyramid_is(high_pyramid):
    sync_api = pytest.importorskip("playwright.sync_api")
    problems: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.goto(high_pyramid + "/", wait_until="load")
            page.wait_for_function(
                "() => window.geobaseViewer && window.geobaseViewer.ready", timeout=30_000
            )
            page.wait_for_function(
                "() => window.geobaseViewer.tilesLoaded.WebMercatorQuad > 0", timeout=15_000
            )
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(300)
            shot = page.locator("#map-WebMercatorQuad").screenshot()
            title = page.title()
            heading = page.locator("h1").inner_text()
            zoom, centre = page.evaluate(
                "() => { var v = window.geobaseViewer.maps.WebMercatorQuad.getView();"
                " return [v.getZoom(), ol.proj.toLonLat(v.getCenter())]; }"
            )
        finally:
            browser.close()
    assert not problems, problems
    assert title == heading == "北京示例 — 地理信息服务 Geographic information service"
    assert "汕头" not in title and "Shantou" not in heading
    # the first pyramid (by name) at its bounds, not the middle of both (nothing there)
    assert zoom >= 15 - 1e-9, zoom
    west, south, east, north = HIGH_BOUNDS
    assert west <= centre[0] <= east and south <= centre[1] <= north, centre
    colours, share = not_blank(shot)
    assert colours > 100 and share > 0.3, (colours, share)
