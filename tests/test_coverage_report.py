"""Plan targets, the JSON/HTML report, the CLI and bad inputs; the report in headless Chromium."""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pytest
import shapely
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font
from matplotlib.text import Text

from geobase import fonts
from geobase.coverage import (
    build_report,
    coverage_layers,
    district_coverage,
    load_plan,
    render_html,
    report_json,
    write_html,
)
from geobase.coverage.compute import to_geographic
from geobase.coverage.figures import age_figure, progress_figure
from geobase.coverage.plan import acquired_since
from geobase.errors import PlanError
from tests import coverage_support as cs
from tests.browser_support import open_offline
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


def test_html_page_escapes_the_data_it_shows(city, plan_file):
    """The page is the report.html template, autoescaped: names from a plan file or the
    catalogue are text, never markup."""
    report = build_report(city, as_of="2024-06-30", plan=plan_file)
    report.plan = report.plan.model_copy(update={"name": "规划 <script>alert(1)</script>"})
    report.plan_source = "plans/a&b.toml"
    text = render_html(report)
    assert "规划 &lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<script>alert" not in text and "plans/a&amp;b.toml" in text
    assert "{{" not in text.split("<script", 1)[0] and "{%" not in text
    assert '<tr class=city><td class="t">dlg500</td><td class="t">全市</td>' in text


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
                "--kind",
                "rect",
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


# --- chart fonts and legends -------------------------------------------------------------

CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")


@pytest.fixture
def stale_font_cache(monkeypatch):
    """matplotlib's font list as a cache built before the CJK font was installed has it."""
    cjk = str(fonts.find_cjk_font())
    monkeypatch.setattr(
        font_manager.fontManager,
        "ttflist",
        [f for f in font_manager.fontManager.ttflist if f.fname != cjk],
    )
    # findfont memoises its answers (matplotlib internals): forget them both ways
    font_manager.FontManager._findfont_cached.cache_clear()
    fonts.register_font.cache_clear()
    yield
    font_manager.FontManager._findfont_cached.cache_clear()
    fonts.register_font.cache_clear()


def _pixels(text: str, family: str | None) -> np.ndarray:
    with mpl.rc_context(fonts.chart_rc(family)):
        fig = Figure(figsize=(1, 0.5), dpi=80)
        fig.text(0.1, 0.2, text, fontsize=20)
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        return np.asarray(canvas.buffer_rgba()).copy()


def test_report_charts_render_chinese_with_a_stale_font_cache(city, plan_file, stale_font_cache):
    family = fonts.cjk_family()
    assert family == "WenQuanYi Zen Hei"  # registered from its file, unknown to the cache
    report = build_report(city, as_of="2024-06-30", plan=plan_file)
    font_file = Path(fonts.find_cjk_font())
    charset = FT2Font(str(font_file)).get_charmap()
    for fig_of in (
        lambda: progress_figure(report, family),
        lambda: age_figure(report.products[0], report.age_bins, family),
    ):
        with mpl.rc_context(fonts.chart_rc(family)):
            fig = fig_of()
            # a glyph missing from every font would warn here, and warnings are errors
            FigureCanvasAgg(fig).draw()
            chinese = [t for t in fig.findobj(Text) if CJK.search(t.get_text())]
            assert chinese, "the chart has no Chinese label"
            for text in chinese:
                used = font_manager.findfont(text.get_fontproperties(), fallback_to_default=False)
                assert Path(used) == font_file, text.get_text()
                assert all(ord(ch) in charset for ch in CJK.findall(text.get_text()))
    # what a box looks like: without the CJK font every ideograph is the same box; with it
    # two different ideographs draw differently (and nothing is missing)
    with pytest.warns(UserWarning, match="missing from font"):
        boxes = _pixels("测", None), _pixels("绘", None)
    assert np.array_equal(*boxes)
    glyphs = _pixels("测", family), _pixels("绘", family)
    assert not np.array_equal(*glyphs)
    assert not np.array_equal(glyphs[0], boxes[0])


def test_age_legend_is_built_from_the_bins(city):
    report = build_report(city, as_of="2024-06-30")
    product = report.products[0]
    assert report.age_bins == [1, 2, 3, 5, 8]
    with mpl.rc_context(fonts.chart_rc(None)):
        english = age_figure(product, report.age_bins, None)
    labels = [t.get_text() for t in english.axes[0].get_legend().get_texts()]
    # without a CJK font, English alone, built from the numbers (not "1-21-2 y")
    assert labels == ["<1 y", "1-2 y", "2-3 y", "3-5 y", "5-8 y", "≥8 y", "unknown"]
    family = fonts.cjk_family()
    with mpl.rc_context(fonts.chart_rc(family)):
        both = age_figure(product, report.age_bins, family)
    labels = [t.get_text() for t in both.axes[0].get_legend().get_texts()]
    assert labels[1] == "1-2年 1-2 y" and labels[-1] == "未知 unknown"


# --- the report in a real browser ---------------------------------------------------------


@pytest.mark.browser
def test_report_opens_in_headless_chromium_offline(city, plan_file, tmp_path):
    cs.add_dataset(city, "img", cs.B, "2022-05-01", product="dom02", kind="imagery")
    path = write_html(build_report(city, as_of="2024-06-30", plan=plan_file), tmp_path / "r.html")
    shown = open_offline(path)
    assert shown["leaving"] == [], shown["leaving"]
    assert shown["problems"] == [], shown["problems"]
    assert shown["maps"] == 2  # dom02 and dlg500
    assert shown["shapes"] > 4
    assert shown["broken"] == 0


# --- invalid geometry: a bow-tie footprint, polygons that self-intersect once projected ---


BOW_TIE = shapely.Polygon(  # B区, two triangles of 0.0625 km2 meeting at (502750, 2580750)
    [(502500, 2580500), (503000, 2581000), (503000, 2580500), (502500, 2581000)]
)


def test_bow_tie_footprint_covers_what_it_encloses(city, plan_file, tmp_path):
    assert not BOW_TIE.is_valid
    before = district_coverage(city, "dlg500", as_of="2024-06-30").set_index("district")
    cs.add_dataset(city, "bowtie", BOW_TIE, "2024-05-01", densify=False)
    after = district_coverage(city, "dlg500", as_of="2024-06-30").set_index("district")
    # the two triangles (0.125 km2), not the square around them (0.25 km2)
    added = after.loc["B区", "covered_km2"] - before.loc["B区", "covered_km2"]
    assert added == pytest.approx(0.125, rel=1e-4)
    assert after.geometry.is_valid.all()
    layers = coverage_layers(city, "dlg500", as_of="2024-06-30")
    assert layers.geometry.is_valid.all()
    assert layers.geometry.union_all().is_valid
    out = tmp_path / "bowtie.html"
    args = ["coverage", "report", "--workspace", city.root, "--plan", plan_file, "-o", out]
    result = run_cli([*args, "--as-of", "2024-06-30"])
    assert result.exit_code == 0, result.output
    assert "B区" in out.read_text(encoding="utf-8")


def slit_square(x0: float, y0: float, gap: float) -> shapely.Polygon:
    """A 1 km square (EPSG:4548) with a slit from its top edge to its centre, ``gap`` m wide."""
    return shapely.Polygon(
        [
            (x0, y0),
            (x0 + 1000, y0),
            (x0 + 1000, y0 + 1000),
            (x0 + 500 + gap, y0 + 1000),
            (x0 + 500 + gap, y0 + 500),
            (x0 + 500, y0 + 500.3),
            (x0 + 500, y0 + 1000),
            (x0, y0 + 1000),
        ]
    )


def test_coverage_polygons_stay_valid_in_degrees():
    import geopandas as gpd

    # valid on the plane; once in degrees the slit's walls (10 nm apart) cross
    squares = [slit_square(467000 + 37.3 * k, 2583000 + 11.1 * k, 1e-8) for k in range(20)]
    assert all(g.is_valid for g in squares)
    frame = gpd.GeoDataFrame({"k": range(20)}, geometry=squares, crs=cs.GK)
    assert not frame.to_crs(4490).geometry.is_valid.all()  # what the report used to union
    out = to_geographic(frame)
    assert out.crs.to_epsg() == 4490 and out.geometry.is_valid.all()
    assert out.geometry.union_all().is_valid
    area = out.to_crs(cs.GK).geometry.area.to_numpy()
    assert area == pytest.approx([g.area for g in squares], rel=1e-6)
    simplified = to_geographic(frame, simplify_m=2.0)
    assert simplified.geometry.is_valid.all() and len(simplified) == 20
