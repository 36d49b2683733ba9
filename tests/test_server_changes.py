"""Change results in the service: /api/changes lists what the caller may see, with the
pyramids of both epochs; /api/changes/{id} gives the polygons as GeoJSON."""

from __future__ import annotations

import shutil
from pathlib import Path

import geopandas as gpd
import httpx
import pytest
import shapely
from pyproj import Transformer

from tests.server_support import make_workspace, running

PUBLIC_PAIR = ("dom02-2021-longhu", "dom02-2023-jinping")  # both public in make_workspace
SECRET = "dom005-2024-secret"  # restricted


def write_result(path, before_ids: str, after_ids: str, boxes) -> gpd.GeoDataFrame:
    """A change result as ``geobase change detect`` writes it (its writer and its sheet
    ranking), with polygons ``boxes`` given in degrees (EPSG:4490)."""
    from geobase.change.detect import ChangeResult
    from geobase.change.output import write_geopackage
    from geobase.change.results import COLUMNS
    from geobase.change.sheets import sheet_priorities

    kinds = ["new/raised", "removed/lowered", "changed"]
    degrees = gpd.GeoSeries([shapely.box(*b) for b in boxes], crs=4490)
    changes = gpd.GeoDataFrame(
        {
            "change_id": [f"C{i + 1:05d}" for i in range(len(boxes))],
            "kind": [kinds[i % 3] for i in range(len(boxes))],
            "direction": ["+", "-", "±"][: len(boxes)],
            "evidence": ["imagery"] * len(boxes),
            "area_m2": 0.0,
            "score": [40.5 + i for i in range(len(boxes))],
            "height_m": float("nan"),
            "before_date": "2021-04-10",
            "after_date": "2023-11-02",
            "before_ids": before_ids,
            "after_ids": after_ids,
        },
        geometry=degrees.to_crs(4548).values,
        crs=4548,
    )[[*COLUMNS, "geometry"]]
    changes["area_m2"] = changes.area
    path.parent.mkdir(parents=True, exist_ok=True)
    write_geopackage(ChangeResult(changes, {}), sheet_priorities(changes, 500), path)
    return changes


BOXES = [
    (116.650, 23.350, 116.655, 23.354),
    (116.660, 23.340, 116.663, 23.342),
    (116.640, 23.360, 116.641, 23.362),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from geobase.server import ServerSettings, create_app
    from geobase.store import Workspace

    root = tmp_path_factory.mktemp("changes") / "ws"
    info = make_workspace(root)
    with Workspace.open(root) as ws, ws.store.transaction() as tx:
        # the pyramids as built from the two public epochs' datasets
        for name, dataset in (("merc", PUBLIC_PAIR[0]), ("cgcs", PUBLIC_PAIR[1])):
            tx.execute(
                "UPDATE pyramids SET sources = :s WHERE name = :n",
                {"s": f'["{dataset}@1"]', "n": name},
            )
        tx.execute(
            "UPDATE pyramids SET sources = :s WHERE name = 'secret'", {"s": f'["{SECRET}@1"]'}
        )
    public = write_result(root / "changes" / "longhu-2021-2023.gpkg", *PUBLIC_PAIR, BOXES)
    write_result(root / "changes" / "secret-2024.gpkg", PUBLIC_PAIR[1], SECRET, BOXES[:1])
    (root / "changes" / "notes.gpkg").write_bytes(b"not a geopackage")
    outside = tmp_path_factory.mktemp("outside") / "from-files.gpkg"
    write_result(outside, "before.tif", "after.tif", BOXES[1:])
    settings = ServerSettings.for_workspace(root)
    settings = settings.model_copy(update={"changes": [*settings.changes, outside]})
    with running(create_app(settings)) as base:
        yield {**info, "base": base, "public": public, "root": root}


def get(served, path, level=None):
    headers = {"Authorization": f"Bearer {served['tokens'][level]}"} if level else {}
    return httpx.get(served["base"] + path, headers=headers, timeout=20)


def test_public_sees_public_results_with_both_epochs_pyramids(served):
    r = get(served, "/api/changes")
    assert r.status_code == 200 and "public" in r.headers["cache-control"]
    doc = r.json()
    assert [c["id"] for c in doc["changes"]] == ["longhu-2021-2023"]
    result = doc["changes"][0]
    assert result["pyramids"] == {"before": ["merc"], "after": ["cgcs"]}
    assert result["before_ids"] == [PUBLIC_PAIR[0]] and result["after_ids"] == [PUBLIC_PAIR[1]]
    assert result["before_dates"] == ["2021-04-10"] and result["after_dates"] == ["2023-11-02"]
    assert result["changes"] == 3 and result["classification"] == "public"
    assert result["by_kind"] == {"new/raised": 1, "removed/lowered": 1, "changed": 1}
    assert result["bounds"] == pytest.approx([116.64, 23.34, 116.663, 23.362], abs=1e-6)
    assert result["changed_m2"] == pytest.approx(served["public"]["area_m2"].sum(), abs=0.1)
    assert any(link["rel"] == "changes" for link in get(served, "/api").json()["links"])


def test_polygons_as_geojson_in_degrees(served):
    r = get(served, "/api/changes/longhu-2021-2023")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/geo+json")
    doc = r.json()
    assert doc["classification"] == "public"
    features = {f["id"]: f for f in doc["features"]}
    to_degrees = Transformer.from_crs(4548, 4490, always_xy=True)
    for row in served["public"].itertuples():
        feature = features[row.change_id]
        assert feature["properties"]["kind"] == row.kind
        assert feature["properties"]["area_m2"] == pytest.approx(row.area_m2)
        assert feature["properties"]["height_m"] is None  # NaN: no height evidence
        expected = shapely.transform(
            row.geometry, lambda xy: list(zip(*to_degrees.transform(*xy.T), strict=True))
        )
        got = shapely.geometry.shape(feature["geometry"])
        assert got.symmetric_difference(expected).area < 1e-6 * expected.area


def test_a_result_from_restricted_or_uncatalogued_sources_is_not_public(served):
    for path in ("/api/changes/secret-2024", "/api/changes/from-files", "/api/changes/nothing"):
        r = get(served, path)
        assert r.status_code == 404, path
        assert "secret-2024" not in r.text or path.endswith("secret-2024")
    assert [c["id"] for c in get(served, "/api/changes", "internal").json()["changes"]] == [
        "longhu-2021-2023"
    ]
    doc = get(served, "/api/changes", "restricted").json()
    found = {c["id"]: c for c in doc["changes"]}
    # the file that is not a GeoPackage is left out (and logged), the rest listed
    assert set(found) == {"longhu-2021-2023", "secret-2024", "from-files"}
    assert found["secret-2024"]["classification"] == "restricted"
    assert found["secret-2024"]["pyramids"] == {"before": ["cgcs"], "after": ["secret"]}
    assert found["from-files"]["classification"] == "restricted"  # files: no record says
    assert found["from-files"]["pyramids"] == {"before": [], "after": []}
    r = get(served, "/api/changes/secret-2024", "restricted")
    assert r.status_code == 200 and "private" in r.headers["cache-control"]
    assert [f["id"] for f in r.json()["features"]] == ["C00001"]
    assert get(served, "/api/changes/secret-2024", "revoked").status_code == 401
    assert get(served, "/api/changes/bad..name").status_code in (400, 404)


def test_a_result_written_while_serving_appears(served, tmp_path):
    target = served["root"] / "changes" / "added-later.gpkg"
    write_result(tmp_path / "added-later.gpkg", *PUBLIC_PAIR, BOXES[:2])
    shutil.move(tmp_path / "added-later.gpkg", target)
    try:
        ids = [c["id"] for c in get(served, "/api/changes").json()["changes"]]
        assert "added-later" in ids
        assert len(get(served, "/api/changes/added-later").json()["features"]) == 2
    finally:
        target.unlink()
    assert get(served, "/api/changes/added-later").status_code == 404


def test_serve_changes_option_adds_results(served, tmp_path, monkeypatch):
    import uvicorn

    from tests.conftest import run_cli

    extra = tmp_path / "by-option.gpkg"
    write_result(extra, *PUBLIC_PAIR, BOXES[:1])
    apps = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: apps.append(app))
    result = run_cli(["serve", "--workspace", str(served["root"]), "--changes", str(extra)])
    assert result.exit_code == 0, result.output
    with running(apps[0]) as base:
        ids = [c["id"] for c in httpx.get(base + "/api/changes", timeout=20).json()["changes"]]
    assert ids == ["longhu-2021-2023", "by-option"]
    missing = run_cli(["serve", "--workspace", str(served["root"]), "--changes", "nope.gpkg"])
    assert missing.exit_code == 2 and "nope.gpkg" in missing.output


@pytest.mark.browser
def test_viewer_shows_both_epochs_side_by_side_with_the_polygons(served, tmp_path):
    from tests.test_server_browser import CHROMIUM, FLAGS, not_blank

    sync_api = pytest.importorskip("playwright.sync_api")
    if shutil.which(CHROMIUM) is None:
        pytest.skip("Debian's chromium is not installed")
    problems: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1400})
            page.on(
                "console",
                lambda m: m.type in ("error", "warning") and problems.append(m.text),
            )
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on(
                "response", lambda r: r.status >= 400 and problems.append(f"{r.status} {r.url}")
            )
            page.goto(served["base"] + "/", wait_until="load")
            try:
                page.wait_for_function(
                    "() => window.geobaseViewer && window.geobaseViewer.changes.features > 0"
                    " && window.geobaseViewer.tilesLoaded.before > 0"
                    " && window.geobaseViewer.tilesLoaded.after > 0",
                    timeout=30_000,
                )
            except sync_api.TimeoutError:
                seen = page.evaluate(
                    "() => [window.geobaseViewer.changes, window.geobaseViewer.tilesLoaded,"
                    " window.geobaseViewer.tileErrors]"
                )
                raise AssertionError(f"viewer state {seen}; problems {problems}") from None
            page.wait_for_load_state("networkidle")
            state = page.evaluate("() => window.geobaseViewer.changes")
            info = page.locator("#change-info").inner_text()
            shots = {
                side: page.locator(f"#map-{side}").screenshot() for side in ("before", "after")
            }
            # each map shows the polygons drawn in the kinds' colours
            red = {}
            for side, png in shots.items():
                import io

                import numpy as np
                from PIL import Image

                pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
                red[side] = int((np.abs(pixels - [0xC9, 0x2A, 0x2A]).sum(axis=2) < 40).sum())
        finally:
            browser.close()
    assert not problems, problems
    # the after epoch's pyramid is on the CGCS2000 grid, reprojected into the Web Mercator view
    assert state == {"result": "longhu-2021-2023", "features": 3, "before": "merc", "after": "cgcs"}
    assert "3 处变化 changes" in info
    for side, png in shots.items():
        colours, share = not_blank(png)
        assert colours > 50 and share > 0.05, (side, colours, share)
    assert all(n > 0 for n in red.values()), red


def test_several_workers_get_the_changes_option_through_the_environment(served, monkeypatch):
    from geobase.server.app import CHANGES_ENV, WORKSPACE_ENV, app_from_env

    extra = served["root"] / "elsewhere.gpkg"
    monkeypatch.setenv(WORKSPACE_ENV, str(served["root"]))
    monkeypatch.setenv(CHANGES_ENV, str(extra))
    app = app_from_env()
    try:
        # relative entries are taken from the workspace (geobase.server.changes.registry_of)
        assert app.state.settings.changes == [Path("changes"), extra]
    finally:
        app.state.service.close()
