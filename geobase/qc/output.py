"""The report of a delivery check as files: a GeoPackage layer of defect geometries
(check, severity, measured value, threshold) that QGIS opens, and a bilingual HTML page
(Chinese with English alongside) with a table and a small map of each defect over its
file's footprint, self-contained (inline SVG, no web assets)."""

from __future__ import annotations

import html
import math
from pathlib import Path

import geopandas as gpd
import shapely
from jinja2 import Environment, PackageLoader, select_autoescape
from shapely.geometry.base import BaseGeometry

from geobase import __version__
from geobase.paths import atomic_output
from geobase.qc.defects import QCReport

LAYER = "qc_defects"
SNIPPET = (220, 160)  # px
CHECK_NAMES = {
    "crs_missing": "缺少坐标系 / no CRS",
    "crs_zone": "坐标系或分带不符 / wrong CRS or zone",
    "resolution": "分辨率不符 / resolution",
    "bands": "波段数 / bands",
    "bit_depth": "位深 / bit depth",
    "nodata_declared": "未声明无数据值 / nodata not declared",
    "nodata_hole": "无数据空洞 / no-data hole",
    "blank_patch": "空白区 / blank patch",
    "saturated_patch": "过饱和区 / saturated patch",
    "seam_offset": "接边错位 / seam offset",
    "radiometric_jump": "色差 / radiometric jump",
    "cog": "COG格式 / COG layout",
    "overviews": "金字塔 / overviews",
    "metadata": "元数据不全 / metadata incomplete",
    "void": "数据空洞 / void",
    "spike": "尖峰 / spike",
    "pit": "凹坑 / pit",
    "range": "高程超限 / height out of range",
    "tile_step": "图幅接边高差 / step at tile edge",
    "vertical_datum": "高程基准 / vertical datum",
    "density": "点密度不足 / density shortfall",
    "class_code": "分类代码无效 / invalid class code",
    "ground": "缺少地面点 / no ground points",
    "header_bounds": "文件头范围不符 / header bounds",
    "header_counts": "文件头点数不符 / header counts",
    "duplicates": "重复点 / duplicate points",
    "gps_time": "GPS时间超出 / GPS time outside window",
    "scan_angle": "扫描角超限 / scan angle",
    "invalid_geometry": "几何无效 / invalid geometry",
    "duplicate": "重复要素 / duplicate feature",
    "undershoot": "悬挂点(未及) / undershoot",
    "overshoot": "悬挂点(过头) / overshoot (dangle)",
    "overlap": "面重叠 / overlap",
    "gap": "面缝隙 / gap",
    "attribute_missing": "缺少属性项 / attribute missing",
    "code_missing": "缺少分类代码 / code missing",
    "code_unknown": "代码不在代码表 / unknown code",
    "edge_mismatch": "图幅接边不符 / edge mismatch",
}


def label(check: str) -> str:
    """The bilingual label of a check id."""
    return CHECK_NAMES.get(check.split(".", 1)[-1], check)


def frame(report: QCReport) -> gpd.GeoDataFrame:
    """The defects as a GeoDataFrame in EPSG:4490."""
    rows = [
        {
            "file": d.file,
            "check": d.check,
            "severity": d.severity,
            "value": None if d.value is None else str(d.as_dict()["value"]),
            "threshold": None if d.threshold is None else str(d.as_dict()["threshold"]),
            "message": d.message,
        }
        for d in report.defects
    ]
    columns = ["file", "check", "severity", "value", "threshold", "message"]
    geoms = [d.geometry for d in report.defects]
    return gpd.GeoDataFrame(rows, columns=columns, geometry=geoms, crs="EPSG:4490")


def write_gpkg(report: QCReport, path: Path) -> Path:
    """The defects as the GeoPackage layer :data:`LAYER` (written atomically; a report
    without defects writes an empty layer)."""
    with atomic_output(path) as tmp:
        frame(report).to_file(tmp, layer=LAYER, driver="GPKG", geometry_type="Unknown")
    return path


def _svg(footprint: BaseGeometry | None, geom: BaseGeometry) -> str:
    """A small inline SVG: the file's footprint (grey) and the defect (red)."""
    parts = [g for g in (footprint, geom) if g is not None and not g.is_empty]
    x0, y0, x1, y1 = shapely.union_all(parts).bounds
    k = math.cos(math.radians((y0 + y1) / 2))
    w, h = SNIPPET
    span_x, span_y = max((x1 - x0) * k, 1e-9), max(y1 - y0, 1e-9)
    scale = 0.9 * min(w / span_x, h / span_y)
    ox = (w - span_x * scale) / 2
    oy = (h - span_y * scale) / 2

    def xy(x: float, y: float) -> str:
        return f"{ox + (x - x0) * k * scale:.1f},{h - oy - (y - y0) * scale:.1f}"

    def path(g: BaseGeometry) -> str:
        out = []
        for part in shapely.get_parts(g):
            if part.geom_type == "Polygon":
                for ring in (part.exterior, *part.interiors):
                    out.append("M" + " L".join(xy(*c[:2]) for c in ring.coords) + " Z")
            elif part.geom_type in ("LineString", "LinearRing"):
                out.append("M" + " L".join(xy(*c[:2]) for c in part.coords))
            elif part.geom_type == "Point":
                cx, cy = xy(part.x, part.y).split(",")
                out.append(f"M{float(cx) - 4:.1f},{cy} a4,4 0 1,0 8,0 a4,4 0 1,0 -8,0")
            else:
                out.append(path(part))
        return " ".join(out)

    fp = (
        f'<path d="{path(footprint)}" fill="#e8e8e8" stroke="#888" stroke-width="1" '
        'fill-rule="evenodd"/>'
        if footprint is not None and not footprint.is_empty
        else ""
    )
    gx0, gy0, gx1, gy1 = geom.bounds
    marker = ""
    if max((gx1 - gx0) * k, gy1 - gy0) * scale < 8:  # too small to see: ring it
        cx, cy = xy((gx0 + gx1) / 2, (gy0 + gy1) / 2).split(",")
        marker = f'<circle cx="{cx}" cy="{cy}" r="9" fill="none" stroke="#d00" stroke-width="2"/>'
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" role="img">{fp}'
        f'<path d="{path(geom)}" fill="rgba(220,30,30,0.35)" stroke="#d00" '
        f'stroke-width="2" fill-rule="evenodd"/>{marker}</svg>'
    )


def render_html(report: QCReport) -> str:
    """The bilingual report page."""
    env = Environment(
        loader=PackageLoader("geobase.qc", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    rows = []
    for i, d in enumerate(report.defects, 1):
        data = d.as_dict()
        c = d.geometry.centroid
        rows.append(
            {
                "n": i,
                "file": d.file,
                "check": d.check,
                "label": label(d.check),
                "severity": d.severity,
                "severity_zh": "严重" if d.severity == "blocking" else "轻微",
                "value": data["value"],
                "threshold": data["threshold"],
                "message": d.message,
                "where": f"{c.x:.6f}, {c.y:.6f}",
                "svg": _svg(report.footprints.get(d.file), d.geometry),
            }
        )
    files = [
        {
            "file": f,
            "checks": len(report.checks.get(f, [])),
            "blocking": sum(1 for d in report.for_file(f) if d.severity == "blocking"),
            "minor": sum(1 for d in report.for_file(f) if d.severity == "minor"),
        }
        for f in report.files
    ]
    return env.get_template("report.html.j2").render(
        report=report, rows=rows, files=files, version=__version__, escape=html.escape
    )


def write_html(report: QCReport, path: Path) -> Path:
    """The HTML report (atomically)."""
    text = render_html(report)
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
