"""The coverage report: numbers (dataclass / JSON) and a self-contained HTML page.

:func:`build_report` computes everything for one date: coverage and currency per product
and district, the covered area split by age for the maps, and, when a plan is given,
where each planned product stands against this year's target with what remains in km2
and in sheets. :func:`report_json` gives the numbers for machines; :func:`write_html`
writes one HTML file with folium maps and matplotlib charts that works offline: the
maps' scripts are inlined from the copies vendored in ``geobase/webassets``
(:func:`geobase.maps.inline_assets`, no CDN link is left), charts are inlined PNGs drawn
with the CJK font :mod:`geobase.fonts` registers, and the maps have no base tiles, only
the district outlines.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geobase.catalog import products_for
from geobase.coverage.compute import (
    CITY,
    CITY_EN,
    age_classes,
    age_pieces,
    area_crs,
    coverage_table,
    load_districts_area,
    load_footprints,
    to_geographic,
)
from geobase.coverage.plan import (
    MEASURE_LABELS,
    Plan,
    acquired_since,
    check_plan,
    load_plan,
    scope_progress,
    sheet_scale_for,
)
from geobase.coverage.settings import coverage_settings, parse_as_of, plan_path
from geobase.coverage.sheets import sheet_statuses, sheet_summary
from geobase.fonts import chart_rc, cjk_family
from geobase.maps import inline_assets
from geobase.paths import atomic_output

logger = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]

AREA_METHOD = (
    "面积在 {crs} ({name}) 平面上计算 Areas are computed on the plane of {crs} ({name}), "
    "footprints densified to {densify}° in EPSG:4490 before projection; never in degrees."
)

# age class colours, young (green) to old (red), unknown grey
AGE_COLOURS = ["#1a9850", "#91cf60", "#d9ef8b", "#fee08b", "#fc8d59", "#d73027"]
UNKNOWN_COLOUR = "#999999"
COVERED_COLOUR = "#2b83ba"


@dataclass
class ProductCoverage:
    """One product's numbers in a report."""

    code: str
    name_zh: str
    name_en: str
    update_cycle_years: float
    datasets: int
    table: pd.DataFrame  # coverage_table rows (districts, then 全市)
    layers: gpd.GeoDataFrame  # age pieces, EPSG:4490


@dataclass
class CoverageReport:
    """Everything a coverage report shows, for one date."""

    as_of: dt.date | None
    reference_date: dt.date
    generated_at: str
    crs: str
    area_method: str
    age_bins: list[float]
    districts: gpd.GeoDataFrame  # name, name_en, area_km2, geometry (EPSG:4490)
    district_source: str | None
    products: list[ProductCoverage]
    plan: Plan | None = None
    plan_source: str | None = None
    progress: pd.DataFrame = field(default_factory=pd.DataFrame)
    sheets: dict[str, dict[str, Any]] = field(default_factory=dict)


def _resolve_plan(ws, plan: Plan | str | Path | None, use_workspace_plan: bool):
    if isinstance(plan, Plan):
        return plan, "(given)"
    if plan is not None:
        return load_plan(plan), str(plan)
    if use_workspace_plan:
        path = plan_path(ws.root, coverage_settings(ws.config.coverage))
        if path is not None:
            return load_plan(path), str(path)
    return None, None


def build_report(
    ws,
    *,
    as_of: dt.date | str | None = None,
    plan: Plan | str | Path | None = None,
    use_workspace_plan: bool = True,
    products: list[str] | None = None,
    progress: Progress | None = None,
) -> CoverageReport:
    """Compute a coverage report for a workspace.

    Args:
        ws: the workspace (districts must be loaded).
        as_of: recompute for this date (default: today's state).
        plan: a plan, or the path of a plan file (default: the workspace's
            ``[coverage] plan``, unless ``use_workspace_plan`` is False).
        products: product codes to report (default: the plan's products and every product
            with current datasets).
        progress: called with (done, total) per product.

    Raises:
        NotFoundError: no districts, or an unknown product.
        PlanError: a bad plan file, or one naming unknown products or districts.
        ValidationError: a malformed as-of date.
    """
    settings = coverage_settings(ws.config.coverage)
    as_of = parse_as_of(as_of)
    reference = as_of or dt.date.today()
    registry = products_for(ws.config.products)
    plan_obj, plan_source = _resolve_plan(ws, plan, use_workspace_plan)
    districts = load_districts_area(ws, settings)
    if plan_obj is not None:
        check_plan(plan_obj, registry, list(districts["name"]), source=f"plan {plan_source}")
    for code in products or ():
        registry.get(code)  # unknown codes fail before any work
    footprints = load_footprints(ws, None, as_of=as_of, settings=settings)
    if products is None:
        wanted = set(footprints["product"]) | set(plan_obj.products if plan_obj else ())
        codes = [code for code in registry.list() if code in wanted]
    else:
        codes = list(products)
    crs = area_crs(ws.config.crs)

    result: list[ProductCoverage] = []
    total = len(codes) + (len(plan_obj.products) if plan_obj else 0)
    done = 0
    for code in codes:
        product = registry.get(code)
        fp = footprints[footprints["product"] == code]
        table = coverage_table(
            fp, districts, update_cycle_years=product.update_cycle_years, bins=settings.age_bins
        )
        layers = to_geographic(age_pieces(fp, settings.age_bins), simplify_m=2.0)
        result.append(
            ProductCoverage(
                code,
                product.name_zh,
                product.name_en,
                product.update_cycle_years,
                len(fp),
                table,
                layers,
            )
        )
        done += 1
        if progress:
            progress(done, total)

    rows, sheets = [], {}
    if plan_obj is not None:
        for code, pplan in plan_obj.products.items():
            product = registry.get(code)
            since = acquired_since(plan_obj, pplan.measure, product.update_cycle_years, reference)
            fp = footprints[footprints["product"] == code]
            if since is not None and len(fp):
                dates = pd.to_datetime(fp["acquired_end"], errors="coerce")
                fp = fp[dates >= pd.Timestamp(since)]
            scale = sheet_scale_for(pplan, product)
            grid = sheet_statuses(
                fp,
                districts,
                scale,
                as_of=reference,
                tolerance=settings.sheet_tolerance,
                by_district=True,
            )
            sheets[code] = {"scale": scale, **sheet_summary(grid)}
            scopes = [(None, pplan), *pplan.districts.items()]
            for name, scope in scopes:
                part = grid if name is None else grid[grid["district"] == name]
                target = plan_obj.target(code, reference.year, name)
                numbers = scope_progress(part, target_share=None if target is None else target[1])
                baseline = scope.baseline
                rows.append(
                    {
                        "product": code,
                        "scope": CITY if name is None else name,
                        "measure": pplan.measure,
                        "sheet_scale": scale,
                        "baseline_km2": baseline.km2 if baseline else None,
                        "baseline_share": baseline.share if baseline else None,
                        "target_year": None if target is None else target[0],
                        **numbers,
                    }
                )
            done += 1
            if progress:
                progress(done, total)

    boundaries = districts[["name", "name_en"]].copy()
    boundaries["area_km2"] = districts.geometry.area.to_numpy() / 1e6
    boundaries = to_geographic(
        gpd.GeoDataFrame(boundaries, geometry=districts.geometry.values, crs=districts.crs),
        simplify_m=5.0,
    )
    with ws.store.read() as tx:
        source = tx.scalar("SELECT source FROM districts LIMIT 1")
    return CoverageReport(
        as_of=as_of,
        reference_date=reference,
        generated_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        crs=ws.config.crs,
        area_method=AREA_METHOD.format(
            crs=ws.config.crs, name=crs.name, densify=settings.densify_deg
        ),
        age_bins=list(settings.age_bins),
        districts=boundaries,
        district_source=source,
        products=result,
        plan=plan_obj,
        plan_source=plan_source,
        progress=_progress_frame(rows),
        sheets=sheets,
    )


def _progress_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for column in ("target_year", "remaining_sheets", "sheets", "sheets_open", "sheet_scale"):
        if column in frame:
            frame[column] = frame[column].astype("Int64")
    return frame


# --- JSON -----------------------------------------------------------------------------


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    frame = frame.drop(columns="geometry", errors="ignore")
    return [_clean(r) for r in frame.astype(object).where(frame.notna(), None).to_dict("records")]


def report_json(report: CoverageReport) -> dict[str, Any]:
    """The report's numbers as plain JSON-ready data."""
    out = {
        "as_of": report.as_of,
        "reference_date": report.reference_date,
        "generated_at": report.generated_at,
        "crs": report.crs,
        "area_method": report.area_method,
        "district_source": report.district_source,
        "age_classes": [
            {"key": c.key, "label": c.label, "low": c.low, "high": c.high}
            for c in age_classes(report.age_bins)
        ],
        "districts": _records(report.districts),
        "products": [
            {
                "code": p.code,
                "name_zh": p.name_zh,
                "name_en": p.name_en,
                "update_cycle_years": p.update_cycle_years,
                "datasets": p.datasets,
                "districts": _records(p.table),
            }
            for p in report.products
        ],
        "plan": None,
    }
    if report.plan is not None:
        out["plan"] = {
            "name": report.plan.name,
            "name_en": report.plan.name_en,
            "source": report.plan_source,
            "start": report.plan.start,
            "end": report.plan.end,
            "year": report.reference_date.year,
            "progress": _records(report.progress),
            "sheets": report.sheets,
        }
    return _clean(out)


# --- charts (matplotlib, inlined PNG) ---------------------------------------------------


class _Labels:
    """Chinese with English alongside when a CJK font exists, English alone otherwise."""

    def __init__(self, font: str | None):
        self.font = font

    def __call__(self, zh: str, en: str) -> str:
        return f"{zh} {en}" if self.font else en


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _chart(build: Callable[[], Any], font: str | None) -> str | None:
    """A figure built and drawn with the chart font settings, as a PNG data URI.

    Both steps run inside the settings: text takes its font properties when created and
    its font file when drawn.
    """
    import matplotlib as mpl

    with mpl.rc_context(chart_rc(font)):
        fig = build()
        return None if fig is None else _png(fig)


def progress_chart(report: CoverageReport, font: str | None) -> str | None:
    """The progress chart (:func:`progress_figure`) as a PNG data URI."""
    return _chart(lambda: progress_figure(report, font), font)


def age_chart(product: ProductCoverage, bins: list[float], font: str | None) -> str | None:
    """The age chart (:func:`age_figure`) as a PNG data URI."""
    return _chart(lambda: age_figure(product, bins, font), font)


def progress_figure(report: CoverageReport, font: str | None):
    """Bars of the measured share against this year's target and the baseline, per product.

    Labels are Chinese with English alongside when ``font`` (a CJK family registered by
    :func:`geobase.fonts.cjk_family`) is given, English alone otherwise. Build and draw it
    inside ``matplotlib.rc_context(geobase.fonts.chart_rc(font))``.
    """
    from matplotlib.figure import Figure

    if report.progress.empty:
        return None
    L = _Labels(font)
    city = report.progress[report.progress["scope"] == CITY].reset_index(drop=True)
    fig = Figure(figsize=(8, 0.5 * len(city) + 1.6))
    ax = fig.subplots()
    y = np.arange(len(city))
    ax.barh(y, city["measured_share"] * 100, color=COVERED_COLOUR, label=L("现状", "measured"))
    target = city["target_share"].astype(float) * 100
    ax.scatter(
        target,
        y,
        marker="|",
        s=400,
        color="#d7191c",
        zorder=3,
        label=L("本年目标", "this year's target"),
    )
    baseline = city["baseline_share"].astype(float) * 100
    ax.scatter(baseline, y, marker="o", color="#444444", zorder=3, label=L("基线", "baseline"))
    ax.set_yticks(
        y,
        [
            f"{c} ({L(MEASURE_LABELS[m].zh, MEASURE_LABELS[m].en)})"
            for c, m in zip(city["product"], city["measure"], strict=True)
        ],
    )
    ax.invert_yaxis()
    ax.set_xlim(0, 105)
    ax.set_xlabel(L("全市覆盖率 (%)", "share of the city (%)"))
    ax.set_title(
        L(
            f"{report.reference_date.year}年目标完成情况",
            f"progress against the {report.reference_date.year} targets",
        )
    )
    ax.legend(loc="lower right", fontsize="small")
    ax.grid(axis="x", alpha=0.3)
    return fig


def age_figure(product: ProductCoverage, bins: list[float], font: str | None):
    """Stacked bars of the covered area by age class, per district; the legend is built
    from the classes' bounds. Labels and drawing as for :func:`progress_figure`."""
    import matplotlib as mpl
    from matplotlib.figure import Figure

    if product.datasets == 0:
        return None
    L = _Labels(font)
    classes = age_classes(bins)
    colours = [*AGE_COLOURS[: len(classes) - 1], UNKNOWN_COLOUR]
    if len(classes) - 1 > len(AGE_COLOURS):
        colours = [*mpl.colormaps["RdYlGn_r"](np.linspace(0, 1, len(classes) - 1)), UNKNOWN_COLOUR]
    table = product.table
    fig = Figure(figsize=(8, 0.45 * len(table) + 1.8))
    ax = fig.subplots()
    y = np.arange(len(table))
    left = np.zeros(len(table))
    for c, colour in zip(classes, colours, strict=True):
        values = (
            table[f"age_{c.key}_km2"].to_numpy(dtype=float)
            / table["area_km2"].to_numpy(dtype=float)
            * 100
        )
        ax.barh(y, values, left=left, color=colour, label=L(c.label_zh, c.label_en))
        left += values
    names = [
        n if font else (e or n) for n, e in zip(table["district"], table["name_en"], strict=True)
    ]
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel(L("占区域面积 (%)", "share of the district (%)"))
    ax.set_title(L(f"{product.name_zh} 数据年龄分布", f"{product.name_en}: age of the newest data"))
    ax.legend(loc="lower right", fontsize="x-small", ncols=2)
    ax.grid(axis="x", alpha=0.3)
    return fig


# --- maps (folium, Leaflet inlined) ------------------------------------------------------


def _map(report: CoverageReport, product: ProductCoverage):
    import folium

    bounds = report.districts.total_bounds
    m = folium.Map(
        location=[(bounds[1] + bounds[3]) / 2, (bounds[0] + bounds[2]) / 2],
        zoom_start=10,
        tiles=None,
        width="100%",
        height="440px",
        control_scale=True,
        prefer_canvas=False,
    )
    outline = folium.FeatureGroup(name="区县界线 districts (approximate where so labelled)")
    folium.GeoJson(
        report.districts[["name", "name_en", "area_km2", "geometry"]],
        style_function=lambda _: {"color": "#333333", "weight": 1.2, "fill": False},
        tooltip=folium.GeoJsonTooltip(fields=["name", "name_en"], aliases=["区县", "district"]),
    ).add_to(outline)
    outline.add_to(m)
    layers = product.layers
    if len(layers):
        covered = folium.FeatureGroup(name="覆盖范围 Coverage", show=False)
        union = gpd.GeoDataFrame(
            {"product": [product.code], "area_km2": [float(layers["area_km2"].sum())]},
            geometry=[layers.geometry.union_all()],
            crs=4490,
        )
        folium.GeoJson(
            union,
            style_function=lambda _: {"color": COVERED_COLOUR, "weight": 0.5, "fillOpacity": 0.5},
            tooltip=folium.GeoJsonTooltip(
                fields=["product", "area_km2"], aliases=["产品 product", "面积 km2"]
            ),
        ).add_to(covered)
        covered.add_to(m)
        classes = age_classes(report.age_bins)
        colours = dict(
            zip(
                [c.key for c in classes],
                [*AGE_COLOURS[: len(classes) - 1], UNKNOWN_COLOUR],
                strict=False,
            )
        )
        aged = folium.FeatureGroup(name="数据年龄 Age of the newest data")
        frame = layers[["key", "label", "area_km2", "geometry"]].copy()
        frame["colour"] = [colours.get(k, UNKNOWN_COLOUR) for k in frame["key"]]
        frame["area_km2"] = frame["area_km2"].round(3)
        folium.GeoJson(
            frame,
            style_function=lambda f: {
                "color": f["properties"]["colour"],
                "weight": 0.5,
                "fillColor": f["properties"]["colour"],
                "fillOpacity": 0.65,
            },
            tooltip=folium.GeoJsonTooltip(
                fields=["label", "area_km2"], aliases=["数据年龄 age", "面积 km2"]
            ),
        ).add_to(aged)
        aged.add_to(m)
    m.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if isinstance(value, bool | np.bool_):
        return "是 yes" if value else "否 no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        return f"{value:,.{digits}f}"
    return html.escape(str(value))


def _int(value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return f"{int(value):,}"


def _pct(value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return f"{100 * float(value):.1f}%"


PAGE_CSS = """
html, body { height: auto !important; }
body { margin: 0 auto !important; padding: 1em 2em !important; font-family: "WenQuanYi Zen Hei", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif;
       margin: 0 auto; padding: 1em 2em; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table.num { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1em; }
table.num th, table.num td { border: 1px solid #ccc; padding: 2px 6px; }
table.num td { text-align: right; } table.num td.t { text-align: left; }
table.num tr.city { font-weight: bold; background: #f3f3f3; }
.note { color: #555; font-size: 0.85em; } .chart { max-width: 100%; }
.legend span { display: inline-block; width: 1em; height: 1em; margin: 0 0.3em 0 1em; vertical-align: middle; }
.folium-map { border: 1px solid #bbb; margin: 0.5em 0; }
"""


def _table(headers: list[str], rows: list[list[str]], city_rows: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cells = "".join(
            f'<td class="t">{c}</td>' if j < 2 else f"<td>{c}</td>" for j, c in enumerate(row)
        )
        body.append(f"<tr{' class=city' if i in city_rows else ''}>{cells}</tr>")
    return f'<table class="num"><tr>{head}</tr>{"".join(body)}</table>'


def _plan_html(report: CoverageReport, font: str | None) -> str:
    if report.plan is None:
        return (
            "<h2>规划目标 Plan targets</h2><p class=note>未设置规划文件 No plan file: set "
            "<code>[coverage] plan</code> in geobase.toml or pass --plan.</p>"
        )
    plan = report.plan
    year = report.reference_date.year
    parts = [
        f"<h2>规划目标 Plan targets: {html.escape(plan.name)} {html.escape(plan.name_en)}</h2>",
        f"<p class=note>规划期 Period {plan.start}-{plan.end}; 本年 this year: {year}; "
        f"来源 source: {html.escape(report.plan_source or '')}. 剩余图幅为达到本年目标所需最少图幅数"
        " (缺口最大者优先) Remaining sheets: the fewest open sheets whose completion reaches this "
        "year's target, largest gaps first.</p>",
    ]
    rows, city_rows = [], set()
    for i, r in enumerate(report.progress.to_dict("records")):
        if r["scope"] == CITY:
            city_rows.add(i)
        rows.append(
            [
                html.escape(r["product"]),
                html.escape(r["scope"]),
                html.escape(str(MEASURE_LABELS[r["measure"]])),
                _fmt(r["baseline_km2"])
                + (
                    f" ({_pct(r['baseline_share'])})"
                    if r["baseline_share"] is not None
                    and r["baseline_share"] == r["baseline_share"]
                    else ""
                ),
                _fmt(r["measured_km2"]),
                _pct(r["measured_share"]),
                "–"
                if r["target_year"] is None or r["target_year"] != r["target_year"]
                else str(int(r["target_year"])),
                _pct(r["target_share"]),
                _fmt(r["remaining_km2"]),
                f"1:{int(r['sheet_scale'])}",
                _int(r["remaining_sheets"]),
                f"{_int(r['sheets_open'])} / {_int(r['sheets'])}",
                _fmt(r["met"]) if r["met"] is not None else "无目标 no target",
            ]
        )
    parts.append(
        _table(
            [
                "产品 product",
                "范围 scope",
                "指标 measure",
                "基线 baseline km2",
                "现状 km2",
                "现状 share",
                "目标年 year",
                "目标 target",
                "剩余 remaining km2",
                "图幅 sheets",
                "剩余图幅 remaining sheets",
                "未完成/总图幅 open / all",
                "达标 met",
            ],
            rows,
            city_rows,
        )
    )
    chart = progress_chart(report, font)
    if chart:
        parts.append(f'<img class="chart" alt="progress chart" src="{chart}">')
    return "".join(parts)


def _product_html(report: CoverageReport, product: ProductCoverage) -> str:
    classes = age_classes(report.age_bins)
    rows, city_rows = [], set()
    for i, r in enumerate(product.table.to_dict("records")):
        if r["district"] == CITY:
            city_rows.add(i)
        rows.append(
            [
                html.escape(str(r["district"])),
                html.escape(str(r["name_en"] or "")),
                _fmt(r["area_km2"]),
                _fmt(r["covered_km2"]),
                _pct(r["covered_share"]),
                _fmt(r["current_km2"]),
                _pct(r["current_share"]),
                _fmt(r["datasets"]),
                _fmt(r["newest"]),
                *(_fmt(r[f"age_{c.key}_km2"]) for c in classes),
            ]
        )
    table = _table(
        [
            "区县 district",
            "",
            "面积 area km2",
            "覆盖 covered km2",
            "覆盖率 coverage",
            "现势 current km2",
            "现势率 current share",
            "数据集 datasets",
            "最新 newest",
            *(f"{html.escape(c.label)} km2" for c in classes),
        ],
        rows,
        city_rows,
    )
    legend = "".join(
        f'<span style="background:{col}"></span>{html.escape(c.label)}'
        for c, col in zip(classes, [*AGE_COLOURS[: len(classes) - 1], UNKNOWN_COLOUR], strict=False)
    )
    return (
        f"<h2>{html.escape(product.name_zh)} {html.escape(product.name_en)} ({product.code})</h2>"
        f"<p class=note>更新周期 update cycle: {product.update_cycle_years:g} 年 years; 现势 = 数据年龄小于更新周期 "
        f"current = newest data younger than the cycle; 数据集 datasets: {product.datasets}.</p>"
        + table
        + (
            f'<p class="legend note">数据年龄 age: {legend}</p>'
            if product.datasets
            else "<p class=note>无数据 no data.</p>"
        )
    )


def render_html(report: CoverageReport) -> str:
    """The report as one self-contained HTML document (no network needed)."""
    import folium
    from branca.element import Element, Figure, MacroElement
    from jinja2 import Template

    class Block(MacroElement):
        """A piece of page HTML placed in order with the maps."""

        _template = Template("{% macro html(this, kwargs) %}{{ this.content }}{% endmacro %}")

        def __init__(self, content: str):
            super().__init__()
            self.content = content

    font = cjk_family()
    title = "覆盖与现势性报告 Coverage and currency report"
    fig = Figure(title=title)
    fig.header.add_child(Element('<link rel="icon" href="data:,">'), name="favicon")
    fig.header.add_child(Element(f"<style>{PAGE_CSS}</style>"), name="page_css")
    as_of = (
        report.as_of.isoformat()
        if report.as_of
        else f"{report.reference_date.isoformat()} (今日 today)"
    )
    intro = (
        f"<h1>{title}</h1>"
        f"<p>截至 As of: <b>{as_of}</b>; 生成 generated {report.generated_at}.</p>"
        f"<p class=note>{html.escape(report.area_method)} 区县界线 District boundaries: "
        f"{html.escape(report.district_source or '–')} (演示数据为近似界线 the demo's boundaries are approximate). "
        "截至某日 = 该日及以前获取的数据, 每个数据集取该日前最新版本, 年龄自该日起算 "
        "As of a date = data acquired on or before it, the newest version of each dataset so "
        "acquired, aged from that date.</p>"
    )
    fig.add_child(Block(intro))
    fig.add_child(Block(_plan_html(report, font)))
    for product in report.products:
        fig.add_child(Block(_product_html(report, product)))
        if product.datasets:
            fig.add_child(_map(report, product))
        chart = age_chart(product, report.age_bins, font)
        if chart:
            fig.add_child(
                Block(f'<img class="chart" alt="age chart {product.code}" src="{chart}">')
            )
    assert folium  # imported for its registration of templates
    return inline_assets(fig.render())


def write_html(report: CoverageReport, path: str | Path) -> Path:
    """Write the HTML report (atomically); returns the path."""
    path = Path(path)
    text = render_html(report)
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_json(report: CoverageReport, path: str | Path) -> Path:
    """Write the report's numbers as JSON (atomically); returns the path."""
    path = Path(path)
    text = json.dumps(report_json(report), ensure_ascii=False, indent=2)
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


__all__ = [
    "CITY",
    "CITY_EN",
    "CoverageReport",
    "ProductCoverage",
    "build_report",
    "render_html",
    "report_json",
    "write_html",
    "write_json",
]
