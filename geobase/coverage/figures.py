"""The coverage report's charts (matplotlib): progress against the plan's targets and the
age of the newest data per district, as figures and as inlined PNG data URIs."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from geobase.coverage.compute import CITY, age_classes
from geobase.coverage.plan import MEASURE_LABELS
from geobase.fonts import chart_rc

if TYPE_CHECKING:
    from geobase.coverage.report import CoverageReport, ProductCoverage

# age class colours, young (green) to old (red), unknown grey
AGE_COLOURS = ["#1a9850", "#91cf60", "#d9ef8b", "#fee08b", "#fc8d59", "#d73027"]
UNKNOWN_COLOUR = "#999999"
COVERED_COLOUR = "#2b83ba"


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
