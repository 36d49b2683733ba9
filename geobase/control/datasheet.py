"""Point description records (点之记, GB/T 18314 appendix B) as HTML and PDF.

A datasheet holds every field of the record, its coordinate history, its inspection
history and a location sketch map: the mark, its neighbours with ties (distance and
azimuth to the nearest marks) and the district boundary, drawn with matplotlib on the
mark's Gauss-Kruger grid. Everything is rendered offline. Labels are Chinese with English
alongside.

The PDF needs a CJK TrueType font (reportlab cannot embed CFF/OpenType-PostScript fonts):
WenQuanYi Zen Hei from Debian's ``fonts-wqy-zenhei`` is found automatically, or name one
with ``[control] cjk_font = "/path/font.ttc"`` in ``geobase.toml``.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from geobase import fonts
from geobase.control.inspections import (
    CONDITION_LABELS,
    USABILITY_LABELS,
    Inspection,
    current_status,
    inspection_history,
)
from geobase.control.records import (
    KIND_LABELS,
    MARK_TYPE_LABELS,
    SOURCE_LABELS,
    ControlPoint,
    grade_label,
)
from geobase.control.registry import GEOD, coordinate_history, get_point, nearest
from geobase.control.settings import control_settings
from geobase.errors import FontNotFound, OutputExistsError, ValidationError
from geobase.paths import atomic_output
from geobase.sheets import format_dms
from geobase.store import Workspace

logger = logging.getLogger(__name__)

NEIGHBOURS = 6
TIES = 3


def find_cjk_font(ws: Workspace | None = None) -> Path:
    """A CJK TrueType font file (.ttf/.ttc) for PDFs and sketch maps: ``[control]
    cjk_font`` in ``geobase.toml``, else the one :mod:`geobase.fonts` finds.

    Raises:
        FontNotFound: none configured or installed.
    """
    configured = control_settings(ws.config.control).cjk_font if ws is not None else None
    if configured and not Path(configured).is_file():
        raise FontNotFound(f"geobase.toml [control] cjk_font {configured}: no such file")
    return fonts.find_cjk_font(configured)


@dataclass(frozen=True)
class Tie:
    """A tie from the mark to a neighbouring mark (for the sketch and the table)."""

    point_id: str
    name: str
    distance_m: float
    azimuth_deg: float


def _fmt(value: Any, digits: int | None = None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    if digits is not None:
        return f"{float(value):.{digits}f}{unit}"
    return f"{value}{unit}"


def _source(source: str | None, epoch: float | None) -> str:
    if source is None:
        return "—"
    text = SOURCE_LABELS.get(source, source)
    return f"{text}, 历元 epoch {epoch:.2f}" if epoch is not None else text


def datasheet_fields(point: ControlPoint) -> list[tuple[str, str]]:
    """(label, value) rows of the record, Chinese labels with English alongside."""
    zone = f"EPSG:{point.gk_epsg}"
    return [
        ("点号 Point id", point.point_id),
        ("点名 Name", point.name),
        ("类型 Kind", KIND_LABELS.get(point.kind, point.kind)),
        ("等级 Grade(s)", point.grade_text or "—"),
        ("所在区县 District", point.district or "—"),
        ("纬度 B (CGCS2000)", f"{format_dms(point.lat)}  ({point.lat:.9f}°)"),
        ("经度 L (CGCS2000)", f"{format_dms(point.lon)}  ({point.lon:.9f}°)"),
        ("大地高 Ellipsoidal height h", _fmt(point.ellh, 3, " m")),
        ("B/L/h 来源 Source", _source(point.geo_source, point.geo_epoch)),
        (f"X 北坐标 Northing ({zone})", _fmt(point.x_north, 4, " m")),
        (f"Y 东坐标 Easting ({zone})", _fmt(point.y_east, 4, " m")),
        ("X/Y 来源 Source", _source(point.grid_source, point.grid_epoch)),
        ("1985高程 Normal height H", _fmt(point.normal_h, 3, " m")),
        ("高程来源 Height source", _source(point.height_source, point.height_epoch)),
        ("1:1万图幅号 1:10,000 sheet", point.sheet_10k or "—"),
        ("1:500图幅号 1:500 sheet", point.sheet_500 or "—"),
        ("标石类型 Mark type", MARK_TYPE_LABELS.get(point.mark_type or "", "—")),
        ("埋设日期 Established", _fmt(point.established)),
        ("保管人 Custodian", point.custodian or "—"),
        ("点位说明 Site", point.site or "—"),
        ("交通路线 Route", point.route or "—"),
        ("备注 Remarks", point.notes or "—"),
        ("替代 Replaces", point.replaces or "—"),
        ("已退役 Retired", f"{point.retired_on} → {point.replaced_by}" if point.retired else "—"),
        ("记录版本 Record version", str(point.version)),
    ]


def ties(ws: Workspace, point: ControlPoint) -> tuple[list[Tie], Any]:
    """The nearest marks (ties) and the neighbour frame for the sketch map."""
    frame = nearest(ws, point, count=NEIGHBOURS)
    out = []
    if len(frame):
        az, _, dist = GEOD.inv(
            np.full(len(frame), point.lon),
            np.full(len(frame), point.lat),
            frame["lon"].to_numpy(float),
            frame["lat"].to_numpy(float),
        )
        for pid, name, d, a in zip(frame["point_id"], frame["name"], dist, az, strict=True):
            out.append(Tie(pid, name, float(d), float(a) % 360.0))
    return out, frame


def sketch_map_png(ws: Workspace, point: ControlPoint, neighbours, font: Path | None) -> bytes:
    """The location sketch (PNG): mark, neighbours, ties, district boundary, north, scale."""

    import shapely
    from matplotlib import font_manager
    from matplotlib.figure import Figure

    from geobase.geodesy.transform import get_transformer
    from geobase.store.districts import district_geometry

    to_grid = get_transformer(4490, point.gk_epsg)
    fp = font_manager.FontProperties(fname=str(font)) if font else None
    fig = Figure(figsize=(5.2, 5.2), dpi=110)
    ax = fig.add_subplot(1, 1, 1)
    cx, cy = point.y_east, point.x_north
    if len(neighbours):
        nx, ny = to_grid.transform(
            neighbours["lon"].to_numpy(float), neighbours["lat"].to_numpy(float)
        )
        span = max(800.0, 1.15 * float(np.max(np.hypot(nx - cx, ny - cy))))
    else:
        nx = ny = np.empty(0)
        span = 1000.0
    if point.district:
        try:
            boundary = shapely.boundary(district_geometry(ws.store, point.district))
        except LookupError:
            boundary = None
        if boundary is not None:
            grid = shapely.transform(
                boundary, lambda xy: np.column_stack(to_grid.transform(xy[:, 0], xy[:, 1]))
            )
            lines = getattr(grid, "geoms", [grid])
            for k, line in enumerate(lines):
                xs, ys = line.xy
                ax.plot(
                    xs,
                    ys,
                    color="#7a5c99",
                    lw=1.2,
                    ls="--",
                    label="区界 district boundary" if k == 0 else None,
                )
    for k, (x, y) in enumerate(zip(nx, ny, strict=True)):
        if k < TIES:
            ax.plot([cx, x], [cy, y], color="#999999", lw=0.8, zorder=1)
            d = float(np.hypot(x - cx, y - cy))
            ax.annotate(f"{d:.0f} m", ((cx + x) / 2, (cy + y) / 2), fontsize=7, color="#555555")
    if len(nx):
        ax.scatter(nx, ny, marker="^", s=40, color="#1f5fbf", zorder=3, label="邻近点 neighbours")
        for pid, x, y in zip(neighbours["point_id"], nx, ny, strict=True):
            ax.annotate(str(pid), (x, y), xytext=(4, 4), textcoords="offset points", fontsize=7)
    ax.scatter([cx], [cy], marker="^", s=110, color="#d62728", zorder=4, label="本点 this mark")
    ax.annotate(
        f"{point.point_id} {point.name}",
        (cx, cy),
        xytext=(6, -12),
        textcoords="offset points",
        fontsize=9,
        fontproperties=fp,
        weight="bold",
    )
    ax.set_xlim(cx - span, cx + span)
    ax.set_ylim(cy - span, cy + span)
    ax.set_aspect("equal")
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.tick_params(labelsize=6)
    # north arrow (grid north) and a scale bar
    ax.annotate(
        "N",
        xy=(0.93, 0.95),
        xytext=(0.93, 0.83),
        xycoords="axes fraction",
        ha="center",
        fontsize=10,
        arrowprops={"arrowstyle": "-|>", "color": "black"},
    )
    bar = 10 ** np.floor(np.log10(span / 2))
    x0, y0 = cx - span * 0.9, cy - span * 0.9
    ax.plot([x0, x0 + bar], [y0, y0], color="black", lw=3)
    ax.annotate(f"{bar:.0f} m", (x0, y0), xytext=(0, 4), textcoords="offset points", fontsize=7)
    ax.legend(
        loc="upper left",
        fontsize=7,
        prop=fp and font_manager.FontProperties(fname=str(font), size=7),
    )
    ax.set_title("点位略图 Location sketch", fontproperties=fp, fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


@dataclass
class Datasheet:
    """Everything a datasheet shows."""

    point: ControlPoint
    fields: list[tuple[str, str]]
    status: dict[str, Any]
    inspections: list[Inspection]
    history: list[dict[str, Any]]
    ties: list[Tie]
    sketch_png: bytes
    generated: str


def build_datasheet(ws: Workspace, point_id: str, *, with_font: bool = True) -> Datasheet:
    """Collect a point's datasheet (record, histories, ties and sketch map).

    Raises:
        NotFoundError: unknown point.
    """
    point = get_point(ws, point_id)
    tie_list, neighbours = ties(ws, point)
    font = None
    if with_font:
        try:
            font = find_cjk_font(ws)
        except FontNotFound:
            font = None
    return Datasheet(
        point=point,
        fields=datasheet_fields(point),
        status=current_status(ws, point_id),
        inspections=inspection_history(ws, point_id),
        history=coordinate_history(ws, point_id),
        ties=tie_list,
        sketch_png=sketch_map_png(ws, point, neighbours, font),
        generated=dt.date.today().isoformat(),
    )


def _status_text(status: dict[str, Any]) -> str:
    if status["condition"] is None:
        return "未巡查 never inspected"
    return (
        f"{CONDITION_LABELS[status['condition']]}; {USABILITY_LABELS[status['usability']]}; "
        f"最近巡查 last inspected {status['last_inspected']} ({status['inspections']} 次 inspections)"
    )


def _inspection_rows(sheet: Datasheet) -> list[list[str]]:
    return [
        [
            i.inspected_on.isoformat(),
            i.inspector,
            CONDITION_LABELS[i.condition],
            USABILITY_LABELS[i.usability],
            (i.notes or "") + (f" → {i.new_point_id}" if i.new_point_id else ""),
            "; ".join(f"{e.original_name} (sha256 {e.sha256[:12]}…)" for e in i.evidence),
        ]
        for i in sheet.inspections
    ]


def _history_rows(sheet: Datasheet) -> list[list[str]]:
    return [
        [
            str(h["version"]),
            f"{h['lat']:.9f}",
            f"{h['lon']:.9f}",
            f"{h['x_north']:.4f}",
            f"{h['y_east']:.4f}",
            _fmt(h["normal_h"], 3),
            str(h["geo_source"]),
            str(h["superseded_at"])[:10],
        ]
        for h in sheet.history
    ]


def _tie_rows(sheet: Datasheet) -> list[list[str]]:
    return [
        [t.point_id, t.name, f"{t.distance_m:.1f}", f"{t.azimuth_deg:.1f}"]
        for t in sheet.ties[:TIES]
    ]


INSPECTION_HEADER = [
    "日期 Date",
    "巡查人 Inspector",
    "状况 Condition",
    "可用性 Usability",
    "备注 Notes",
    "证据 Evidence",
]
HISTORY_HEADER = ["版本 Ver.", "B", "L", "X", "Y", "H", "来源 Source", "替换日期 Superseded"]
TIE_HEADER = ["点号 Id", "点名 Name", "距离 Distance (m)", "方位角 Azimuth (°)"]


def render_html(sheet: Datasheet) -> str:
    """The datasheet as a standalone HTML page (the sketch embedded as base64 PNG)."""
    e = html.escape

    def table(header: list[str], rows: list[list[str]], empty: str) -> str:
        if not rows:
            return f"<p class='empty'>{e(empty)}</p>"
        head = "".join(f"<th>{e(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows)
        return f"<table class='grid'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    p = sheet.point
    fields = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in sheet.fields)
    image = base64.b64encode(sheet.sketch_png).decode("ascii")
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>点之记 {e(p.point_id)} {e(p.name)}</title>
<style>
body {{ font-family: "WenQuanYi Zen Hei", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 2em; color: #222; }}
h1 {{ font-size: 1.5em; margin-bottom: 0.2em; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
th, td {{ border: 1px solid #bbb; padding: 3px 8px; text-align: left; font-size: 0.9em; vertical-align: top; }}
table.fields th {{ background: #f2f2f2; width: 16em; }}
table.grid th {{ background: #f2f2f2; }}
.empty {{ color: #777; }}
.layout {{ display: flex; gap: 2em; flex-wrap: wrap; }}
</style></head><body>
<h1>点之记 Point description record: {e(p.point_id)} {e(p.name)}</h1>
<p>{e(grade_label(next(iter(p.grades.values()))) if p.grades else "")} · {e(p.district or "")} ·
当前状态 Current status: {e(_status_text(sheet.status))}</p>
<div class="layout">
<table class="fields">{fields}</table>
<div><img alt="点位略图 location sketch" src="data:image/png;base64,{image}">
<h2>与邻近点联系 Ties to neighbouring marks</h2>
{table(TIE_HEADER, _tie_rows(sheet), "无邻近点 no neighbouring marks within 20 km")}
</div></div>
<h2>巡查记录 Inspection history</h2>
{table(INSPECTION_HEADER, _inspection_rows(sheet), "无巡查记录 no inspections recorded")}
<h2>坐标历史 Coordinate history</h2>
{table(HISTORY_HEADER, _history_rows(sheet), "无历史坐标 no earlier coordinates")}
<p class="empty">geobase · 生成日期 generated {e(sheet.generated)} · CGCS2000 / 1985国家高程基准</p>
</body></html>
"""


def render_pdf(sheet: Datasheet, font: Path) -> bytes:
    """The datasheet as PDF (A4), Chinese text in the given TrueType font (embedded)."""
    try:
        from reportlab.lib import colors
        from reportlab.lib.pagesizes import A4
        from reportlab.lib.styles import ParagraphStyle
        from reportlab.lib.units import mm
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont
        from reportlab.platypus import (
            Image,
            Paragraph,
            SimpleDocTemplate,
            Spacer,
            Table,
            TableStyle,
        )
    except ImportError as exc:
        raise FontNotFound(
            f"PDF output needs reportlab: pip install 'geobase[pdf]' ({exc})"
        ) from None
    name = "GeobaseCJK"
    if name not in pdfmetrics.getRegisteredFontNames():
        try:
            if font.suffix.lower() == ".ttc":
                pdfmetrics.registerFont(TTFont(name, str(font), subfontIndex=0))
            else:
                pdfmetrics.registerFont(TTFont(name, str(font)))
        except Exception as exc:  # reportlab raises TTFError and others for unusable fonts
            raise FontNotFound(f"font {font} cannot be embedded in a PDF ({exc})") from None
    title = ParagraphStyle("title", fontName=name, fontSize=15, leading=20, spaceAfter=4)
    heading = ParagraphStyle(
        "heading", fontName=name, fontSize=11, leading=15, spaceBefore=8, spaceAfter=4
    )
    body = ParagraphStyle("body", fontName=name, fontSize=8, leading=10)
    cell = ParagraphStyle("cell", fontName=name, fontSize=7.5, leading=9.5)

    def para(text: str, style=cell) -> Paragraph:
        return Paragraph(html.escape(str(text)), style)

    def grid(header: list[str], rows: list[list[str]], widths: list[float]) -> Table:
        t = Table(
            [[para(h) for h in header]] + [[para(c) for c in r] for r in rows],
            colWidths=widths,
            repeatRows=1,
        )
        t.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        return t

    p = sheet.point
    story: list[Any] = [
        Paragraph(html.escape(f"点之记 Point description record: {p.point_id} {p.name}"), title),
        para(f"当前状态 Current status: {_status_text(sheet.status)}", body),
        Spacer(1, 4 * mm),
    ]
    story.append(
        grid(["项目 Field", "内容 Value"], [list(r) for r in sheet.fields], [55 * mm, 120 * mm])
    )
    story.append(Paragraph("点位略图 Location sketch", heading))
    story.append(Image(io.BytesIO(sheet.sketch_png), width=95 * mm, height=95 * mm))
    story.append(Paragraph("与邻近点联系 Ties to neighbouring marks", heading))
    tie_rows = _tie_rows(sheet)
    story.append(
        grid(TIE_HEADER, tie_rows, [35 * mm, 60 * mm, 35 * mm, 35 * mm])
        if tie_rows
        else para("无邻近点 no neighbouring marks within 20 km", body)
    )
    story.append(Paragraph("巡查记录 Inspection history", heading))
    rows = _inspection_rows(sheet)
    story.append(
        grid(INSPECTION_HEADER, rows, [20 * mm, 22 * mm, 28 * mm, 28 * mm, 40 * mm, 37 * mm])
        if rows
        else para("无巡查记录 no inspections recorded", body)
    )
    story.append(Paragraph("坐标历史 Coordinate history", heading))
    rows = _history_rows(sheet)
    story.append(
        grid(
            HISTORY_HEADER,
            rows,
            [13 * mm, 25 * mm, 25 * mm, 24 * mm, 22 * mm, 15 * mm, 24 * mm, 27 * mm],
        )
        if rows
        else para("无历史坐标 no earlier coordinates", body)
    )
    story.append(Spacer(1, 4 * mm))
    story.append(
        para(f"geobase · 生成日期 generated {sheet.generated} · CGCS2000 / 1985国家高程基准", body)
    )
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=f"点之记 {p.point_id} {p.name}",
        author="geobase",
    )
    doc.build(story)
    return buffer.getvalue()


def write_datasheet(
    ws: Workspace, point_id: str, out: str | Path, *, overwrite: bool = False
) -> Path:
    """Write a point's datasheet to ``out`` (.html or .pdf).

    Raises:
        NotFoundError: unknown point. ValidationError: other output type, or ``out``
        exists and not ``overwrite``. FontNotFound: a PDF without a CJK font installed.
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".html", ".htm", ".pdf"):
        raise ValidationError(
            f"{out}: datasheets are written as .html or .pdf, not {suffix or '(none)'}"
        )
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} exists; pass overwrite (--overwrite) to replace it")
    font = find_cjk_font(ws) if suffix == ".pdf" else None
    sheet = build_datasheet(ws, point_id)
    data = render_pdf(sheet, font) if font is not None else render_html(sheet).encode("utf-8")
    with atomic_output(out) as tmp:
        tmp.write_bytes(data)
    return out
