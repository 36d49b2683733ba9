"""The coverage report as one self-contained HTML page.

The page's HTML is the Jinja2 template ``report.html`` beside this module (autoescaped)
and its style ``report.css``; this module formats the numbers and fills the template's
blocks, and places them in order with the maps (:mod:`geobase.coverage.maps`) and charts
(:mod:`geobase.coverage.figures`) in a branca Figure. The page works offline: the maps'
scripts are inlined from the copies vendored in ``geobase/webassets``
(:func:`geobase.maps.inline_assets`, no CDN link is left), charts are inlined PNGs drawn
with the CJK font :mod:`geobase.fonts` registers, and the maps have no base tiles.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, StrictUndefined

from geobase.coverage.compute import CITY, age_classes
from geobase.coverage.figures import AGE_COLOURS, UNKNOWN_COLOUR, age_chart, progress_chart
from geobase.coverage.maps import product_map
from geobase.coverage.plan import MEASURE_LABELS
from geobase.coverage.report import CoverageReport, ProductCoverage
from geobase.fonts import cjk_family
from geobase.maps import inline_assets
from geobase.paths import atomic_output

TITLE = "覆盖与现势性报告 Coverage and currency report"

PLAN_HEADERS = [
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
]


def _asset(name: str) -> str:
    return resources.files("geobase.coverage").joinpath(name).read_text(encoding="utf-8")


@cache
def _blocks() -> Any:
    """The template's macros (``intro``, ``plan_section``, ``product_section``, ``chart``)."""
    env = Environment(autoescape=True, undefined=StrictUndefined)
    return env.from_string(_asset("report.html")).module


# --- numbers as text (escaped by the template) -------------------------------------------


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not np.isfinite(value))


def _fmt(value: Any, digits: int = 2) -> str:
    if _missing(value):
        return "–"
    if isinstance(value, bool | np.bool_):
        return "是 yes" if value else "否 no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        return f"{value:,.{digits}f}"
    return str(value)


def _int(value: Any) -> str:
    return "–" if _missing(value) else f"{int(value):,}"


def _pct(value: Any) -> str:
    return "–" if _missing(value) else f"{100 * float(value):.1f}%"


def _colours(count: int) -> list[str]:
    """Colours of ``count`` age classes, the last one (unknown) grey."""
    return [*AGE_COLOURS[: count - 1], UNKNOWN_COLOUR]


# --- the blocks ------------------------------------------------------------------------------


def _intro(report: CoverageReport) -> str:
    as_of = (
        report.as_of.isoformat()
        if report.as_of
        else f"{report.reference_date.isoformat()} (今日 today)"
    )
    return str(
        _blocks().intro(
            TITLE, as_of, report.generated_at, report.area_method, report.district_source or "–"
        )
    )


def _plan_html(report: CoverageReport, font: str | None) -> str:
    if report.plan is None:
        return str(_blocks().plan_section(None, None, None, [], [], set(), None))
    rows, city_rows = [], set()
    for i, r in enumerate(report.progress.to_dict("records")):
        if r["scope"] == CITY:
            city_rows.add(i)
        baseline_share = r["baseline_share"]
        shown_share = baseline_share is not None and baseline_share == baseline_share
        rows.append(
            [
                r["product"],
                r["scope"],
                str(MEASURE_LABELS[r["measure"]]),
                _fmt(r["baseline_km2"]) + (f" ({_pct(baseline_share)})" if shown_share else ""),
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
    return str(
        _blocks().plan_section(
            report.plan,
            report.reference_date.year,
            report.plan_source or "",
            PLAN_HEADERS,
            rows,
            city_rows,
            progress_chart(report, font),
        )
    )


def _product_html(report: CoverageReport, product: ProductCoverage) -> str:
    classes = age_classes(report.age_bins)
    rows, city_rows = [], set()
    for i, r in enumerate(product.table.to_dict("records")):
        if r["district"] == CITY:
            city_rows.add(i)
        rows.append(
            [
                str(r["district"]),
                str(r["name_en"] or ""),
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
    headers = [
        "区县 district",
        "",
        "面积 area km2",
        "覆盖 covered km2",
        "覆盖率 coverage",
        "现势 current km2",
        "现势率 current share",
        "数据集 datasets",
        "最新 newest",
        *(f"{c.label} km2" for c in classes),
    ]
    legend = [(c.label, colour) for c, colour in zip(classes, _colours(len(classes)), strict=False)]
    return str(
        _blocks().product_section(
            product, f"{product.update_cycle_years:g}", headers, rows, city_rows, legend
        )
    )


# --- the page --------------------------------------------------------------------------------


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
    fig = Figure(title=TITLE)
    fig.header.add_child(Element('<link rel="icon" href="data:,">'), name="favicon")
    fig.header.add_child(Element(f"<style>\n{_asset('report.css')}</style>"), name="page_css")
    fig.add_child(Block(_intro(report)))
    fig.add_child(Block(_plan_html(report, font)))
    for product in report.products:
        fig.add_child(Block(_product_html(report, product)))
        if product.datasets:
            fig.add_child(product_map(report, product))
        chart = age_chart(product, report.age_bins, font)
        if chart:
            fig.add_child(Block(str(_blocks().chart(f"age chart {product.code}", chart))))
    assert folium  # imported for its registration of templates
    return inline_assets(fig.render())


def write_html(report: CoverageReport, path: str | Path) -> Path:
    """Write the HTML report (atomically); returns the path."""
    path = Path(path)
    text = render_html(report)
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


__all__ = ["render_html", "write_html"]
