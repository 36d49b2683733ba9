"""Plan targets, the JSON/HTML report, the CLI and bad inputs; the report in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from geobase.coverage import build_report, district_coverage, load_plan, report_json, write_html
from geobase.coverage.plan import acquired_since
from geobase.errors import PlanError
from tests import coverage_support as cs
from tests.conftest import ROOT, run_cli

SHANTOU_PLAN = ROOT / "datasets" / "plan" / "shantou_2021_2025.toml"


@pytest.fixture
def city(workspace, tmp_path):
    cs.build(workspace, tmp_path)
    return workspace


@pytest.fixture
def plan_file(tmp_path):
    return cs.write_plan(tmp_path / "plan.toml")


def progress_rows(report):
    return {(r["product"], r["scope"]): r for r in report.progress.to_dict("records")}


def test_progress_against_this_years_target(city, plan_file):
    report = build_report(city, as_of="2024-06-30", plan=plan_file)
    rows = progress_rows(report)
    whole = rows[("dlg500", "全市")]
    assert whole["target_year"] == 2024 and whole["target_share"] == 0.5
    assert whole["measured_km2"] == pytest.approx(2.55625, rel=1e-6)
    assert whole["target_km2"] == pytest.approx(4.0, rel=1e-6)
    assert whole["remaining_km2"] == pytest.approx(4.0 - 2.55625, rel=1e-6)
    # 1.44375 km2 to go: 24 of the 86 missing 0.0625 km2 sheets (largest gaps first)
    assert whole["remaining_sheets"] == 24
    assert (whole["sheets"], whole["sheets_open"], whole["met"]) == (128, 88, False)
    assert whole["baseline_km2"] == 1.0
    a = rows[("dlg500", "A区")]
    assert a["target_share"] == 0.75 and a["area_km2"] == pytest.approx(4.2, rel=1e-6)
    assert a["remaining_km2"] == pytest.approx(0.75 * 4.2 - 2.525, rel=1e-6)
    assert a["remaining_sheets"] == 10  # 0.625 km2 = exactly 10 whole missing sheets
    assert report.sheets["dlg500"]["scale"] == 500


def test_progress_in_an_earlier_year_and_before_the_first_target(city, plan_file):
    rows = progress_rows(build_report(city, as_of="2023-12-31", plan=plan_file))
    whole = rows[("dlg500", "全市")]
    assert (whole["target_year"], whole["target_share"]) == (2023, 0.25)
    assert whole["measured_km2"] == pytest.approx(2.05625, rel=1e-6)  # 1.775 + 0.28125
    assert whole["remaining_km2"] == 0 and whole["met"] is True
    assert whole["remaining_sheets"] == 0
    early = progress_rows(build_report(city, as_of="2022-06-30", plan=plan_file))
    assert early[("dlg500", "全市")]["target_share"] is None
    assert early[("dlg500", "A区")]["met"] is None


def test_measures_current_and_in_period(city, tmp_path):
    body = cs.write_plan(tmp_path / "p.toml").read_text(encoding="utf-8")
    body = body.replace('measure = "covered"', 'measure = "current"')
    rows = progress_rows(
        build_report(city, as_of="2024-06-30", plan=cs.write_plan(tmp_path / "c.toml", body))
    )
    assert rows[("dlg500", "全市")]["measured_km2"] == pytest.approx(2.5, rel=1e-6)
    body = body.replace('measure = "current"', 'measure = "in_period"')
    rows = progress_rows(
        build_report(city, as_of="2024-06-30", plan=cs.write_plan(tmp_path / "i.toml", body))
    )
    # acquired since 2021-01-01: f1 v2, f2, f3, f4 (acquired on 2021-01-01)
    assert rows[("dlg500", "全市")]["measured_km2"] == pytest.approx(2.55625, rel=1e-6)


def test_current_cutoff_matches_the_age_rule():
    plan = load_plan(SHANTOU_PLAN)
    import datetime as dt

    since = acquired_since(plan, "current", 1, dt.date(2024, 6, 30))
    assert since == dt.date(2023, 7, 1)  # 365 days: age 0.9993 y; a day earlier is 1.002 y


def test_shantou_plan_file():
    plan = load_plan(SHANTOU_PLAN)
    assert (plan.start, plan.end) == (2021, 2025)
    dlg = plan.products["dlg500"]
    assert dlg.baseline.km2 == 360.1 and dlg.baseline.share == 0.16
    assert dlg.targets[2025] == 1.0 and dlg.sheet_scale == 500
    assert plan.products["dom005"].districts["澄海区"].baseline.km2 == 81.5
    assert plan.products["model3d"].baseline.km2 == pytest.approx(15.2 + 4)
    assert {plan.products[c].measure for c in ("dom05", "dom1", "dom2")} == {"current"}
    assert plan.target("dlg500", 2030) == (2025, 1.0)


BAD_PLANS = [
    ("", "name: Field required"),
    ("name = 'x'\nstart = 2021\nend = 2025\nfoo = 1", "foo: Extra inputs"),
    ("name = 'x'\nstart = 2025\nend = 2021", "end 2021 is before start 2025"),
    (
        "name = 'x'\nstart = 2021\nend = 2025\n[products.dlg500]\ntargets = { 2024 = 1.5 }",
        "shares from 0 to 1",
    ),
    (
        "name = 'x'\nstart = 2021\nend = 2025\n[products.dlg500]\ntargets = { 2030 = 1.0 }",
        "outside the plan period",
    ),
    ("name = 'x'\nstart = 2021\nend = 2025\n[products.dlg500]\nmeasure = 'area'", "measure"),
    (
        "name = 'x'\nstart = 2021\nend = 2025\n[products.dlg500]\nsheet_scale = 10000",
        "no rectangular sheets",
    ),
    ("name = 'x'\nstart = 2021\nend = [", "not valid TOML"),
]


@pytest.mark.parametrize(("body", "message"), BAD_PLANS)
def test_bad_plan_files(tmp_path, body, message):
    with pytest.raises(PlanError, match=re.escape(message)):
        load_plan(cs.write_plan(tmp_path / "bad.toml", body))


def test_plan_naming_unknown_products_or_districts(city, tmp_path):
    base = "name = 'x'\nstart = 2021\nend = 2025\n"
    with pytest.raises(PlanError, match="unknown product 'dlg300'"):
        build_report(city, plan=cs.write_plan(tmp_path / "a.toml", base + "[products.dlg300]\n"))
    body = base + '[products.dlg500.districts."C区"]\ntargets = { 2025 = 1.0 }\n'
    with pytest.raises(PlanError, match="unknown district 'C区'"):
        build_report(city, plan=cs.write_plan(tmp_path / "b.toml", body))
    with pytest.raises(PlanError, match="no such file"):
        build_report(city, plan=tmp_path / "missing.toml")
    gbk = tmp_path / "gbk.toml"
    gbk.write_bytes("name = '规划'\nstart = 2021\nend = 2025\n".encode("gbk"))
    with pytest.raises(PlanError, match="cannot be read"):
        load_plan(gbk)


def test_json_has_the_same_numbers(city, plan_file):
    report = build_report(city, as_of="2024-06-30", plan=plan_file)
    data = json.loads(json.dumps(report_json(report)))
    assert data["as_of"] == "2024-06-30" and data["crs"] == "EPSG:4548"
    dlg = next(p for p in data["products"] if p["code"] == "dlg500")
    frame = district_coverage(city, "dlg500", as_of="2024-06-30")
    for row, expected in zip(dlg["districts"], frame.to_dict("records"), strict=True):
        assert row["district"] == expected["district"]
        assert row["covered_km2"] == pytest.approx(expected["covered_km2"], rel=1e-12)
        assert row["age_0-1y_km2"] == pytest.approx(expected["age_0-1y_km2"], rel=1e-12)
    whole = next(r for r in data["plan"]["progress"] if r["scope"] == "全市")
    assert whole["remaining_sheets"] == 24 and whole["target_year"] == 2024


def test_html_is_self_contained(city, plan_file, tmp_path):
    path = write_html(build_report(city, as_of="2024-06-30", plan=plan_file), tmp_path / "r.html")
    text = path.read_text(encoding="utf-8")
    assert "覆盖率 coverage" in text and "A区" in text
    assert not re.search(r"<(script|link)[^>]*(src|href)=\"(https?:)?//", text)
    for host in ("cdn.jsdelivr.net", "cdnjs.cloudflare.com", "code.jquery.com", "bootstrapcdn"):
        assert host not in text
    assert text.count('class="folium-map"') == 1  # one product with data
    assert text.count("data:image/png;base64,") >= 2  # progress and age charts


def test_report_with_an_empty_catalogue(workspace, tmp_path):
    cs.load_test_districts(workspace, tmp_path)
    report = build_report(workspace, plan=SHANTOU_PLAN.read_text(encoding="utf-8") and None)
    assert report.products == [] and report.plan is None
    text = write_html(report, tmp_path / "empty.html").read_text(encoding="utf-8")
    assert "No plan file" in text


# --- the command line ------------------------------------------------------------------


def test_cli_report_html_and_json(city, plan_file, tmp_path):
    out = tmp_path / "r.html"
    result = run_cli(
        [
            "coverage",
            "report",
            "--workspace",
            city.root,
            "--as-of",
            "2024-06-30",
            "--plan",
            plan_file,
            "-o",
            out,
        ]
    )
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 100_000  # Leaflet inlined
    result = run_cli(
        [
            "coverage",
            "report",
            "--workspace",
            city.root,
            "--as-of",
            "2024-06-30",
            "--plan",
            plan_file,
            "--format",
            "json",
        ]
    )
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["plan"]["progress"][0]["remaining_sheets"] == 24
    # the workspace's own plan setting
    city.config.coverage = {"plan": str(plan_file)}
    city.save_config()
    result = run_cli(
        ["coverage", "plan", "--workspace", city.root, "--as-of", "2024-06-30", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["target_share"] == 0.5


def test_cli_sheets_list_and_geopackage(city, tmp_path):
    import geopandas as gpd

    result = run_cli(
        [
            "coverage",
            "sheets",
            "--workspace",
            city.root,
            "--scale",
            "1:500",
            "--product",
            "dlg500",
            "--as-of",
            "2024-06-30",
            "--status",
            "partial",
            "--format",
            "json",
        ]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert sorted(r["code"] for r in rows) == ["2580.00-503.00", "2581.00-502.00"]
    assert "128 sheets" not in result.stderr and "2 sheets" in result.stderr
    out = tmp_path / "sheets.gpkg"
    result = run_cli(
        [
            "coverage",
            "sheets",
            "--workspace",
            city.root,
            "--scale",
            "500",
            "--product",
            "dlg500",
            "--as-of",
            "2024-06-30",
            "-o",
            out,
        ]
    )
    assert result.exit_code == 0, result.output
    layer = gpd.read_file(out, layer="sheets_dlg500_500")
    assert len(layer) == 128 and layer.crs.to_epsg() == 4548
    assert set(layer["status"]) == {"covered", "partial", "missing"}
    import sqlite3

    with sqlite3.connect(out) as con:  # QGIS applies this style when it opens the layer
        style = con.execute(
            "SELECT styleQML, useAsDefault FROM layer_styles WHERE f_table_name = 'sheets_dlg500_500'"
        ).fetchone()
    assert 'attr="status"' in style[0] and style[1] == 1
    result = run_cli(
        ["coverage", "show", "--workspace", city.root, "--as-of", "2024-06-30", "--format", "csv"]
    )
    assert result.exit_code == 0 and "A区" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["coverage", "report", "--as-of", "2024-02-30"], "not a date"),
        (["coverage", "report", "--product", "dlg9"], "unknown product"),
        (["coverage", "report", "--plan", "{tmp}/missing.toml"], "no such file"),
        (["coverage", "report", "--plan", "{tmp}/bad.toml"], "outside the plan period"),
        (["coverage", "report", "-o", "{tmp}/exists.html"], "--overwrite"),
        (
            [
                "coverage",
                "sheets",
                "--scale",
                "1:10000",
                "--product",
                "dlg500",
                "-o",
                "{tmp}/s.gpkg",
            ],
            "rectangular sheets",
        ),
        (
            ["coverage", "sheets", "--scale", "500", "--product", "xx", "-o", "{tmp}/s.gpkg"],
            "unknown product",
        ),
        (
            [
                "coverage",
                "sheets",
                "--scale",
                "500",
                "--product",
                "dlg500",
                "--as-of",
                "2024",
                "-o",
                "{tmp}/s.gpkg",
            ],
            "not a date",
        ),
        (
            [
                "coverage",
                "sheets",
                "--scale",
                "500",
                "--product",
                "dlg500",
                "-o",
                "{tmp}/exists.html",
            ],
            "--overwrite",
        ),
        (
            ["coverage", "sheets", "--scale", "500", "--product", "dlg500", "-o", "{tmp}/s.shp"],
            ".gpkg or .geojson",
        ),
        (["coverage", "show", "--product", "dlg9"], "unknown product"),
    ],
)
def test_cli_bad_input_exits_2_and_writes_nothing(city, tmp_path, args, message):
    cs.write_plan(
        tmp_path / "bad.toml",
        "name = 'x'\nstart = 2021\nend = 2025\n[products.dlg500]\ntargets = { 2030 = 1.0 }",
    )
    (tmp_path / "exists.html").write_text("keep", encoding="utf-8")
    before = sorted(p.name for p in tmp_path.iterdir())
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = run_cli([*args, "--workspace", city.root])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len([line for line in result.stderr.splitlines() if line.startswith("Error")]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "exists.html").read_text(encoding="utf-8") == "keep"


def test_cli_without_districts_exits_2(workspace, tmp_path):
    result = run_cli(
        ["coverage", "report", "--workspace", workspace.root, "-o", tmp_path / "r.html"]
    )
    assert result.exit_code == 2 and "no districts loaded" in result.stderr
    assert not (tmp_path / "r.html").exists()


# --- the report in a real browser ---------------------------------------------------------


@pytest.mark.browser
def test_report_opens_in_headless_chromium_offline(city, plan_file, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    cs.add_dataset(city, "img", cs.B, "2022-05-01", product="dom02", kind="imagery")
    path = write_html(build_report(city, as_of="2024-06-30", plan=plan_file), tmp_path / "r.html")
    problems, requests = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page()
            page.on(
                "console",
                lambda m: m.type in ("error", "warning") and problems.append(f"{m.type}: {m.text}"),
            )
            page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"failed: {r.url[:80]}"))

            def route(r):
                requests.append(r.request.url)
                local = r.request.url.startswith(("file:", "data:", "about:", "blob:"))
                r.continue_() if local else r.abort()

            page.route("**/*", route)
            page.goto(path.as_uri(), wait_until="load")
            page.wait_for_timeout(500)
            maps = page.evaluate("document.querySelectorAll('.leaflet-container').length")
            shapes = page.evaluate("document.querySelectorAll('.leaflet-overlay-pane path').length")
            broken = page.evaluate(
                "[...document.images].filter(i => !i.complete || i.naturalWidth === 0).length"
            )
        finally:
            browser.close()
    leaving = [u for u in requests if not u.startswith(("file:", "data:", "about:", "blob:"))]
    assert leaving == [], leaving
    assert problems == [], problems
    assert maps == 2  # dom02 and dlg500
    assert shapes > 4
    assert broken == 0
