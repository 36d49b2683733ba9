"""What a change run writes: a GeoPackage (``changes`` and ``sheets`` layers), JSON for
scripts, and a self-contained bilingual HTML summary with a before/after swipe of the
largest changes (images inline, no CDN). Every file is written atomically."""

from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from jinja2 import Environment, PackageLoader, select_autoescape

from geobase.change.detect import ChangeResult
from geobase.change.grid import close_all, read_epoch
from geobase.paths import atomic_output
from geobase.values import plain

KIND_LABELS = {
    "changed": "变化 changed",
    "new/raised": "新增/抬升 new/raised",
    "removed/lowered": "拆除/降低 removed/lowered",
}
EVIDENCE_LABELS = {
    "imagery": "影像 imagery",
    "elevation": "高程 elevation",
    "elevation+imagery": "高程+影像 elevation+imagery",
}


def write_geopackage(result: ChangeResult, sheets: gpd.GeoDataFrame, path: str | Path) -> Path:
    """Write the ``changes`` and ``sheets`` layers to a new GeoPackage at ``path``."""
    path = Path(path)
    with atomic_output(path) as tmp:
        result.changes.to_file(tmp, layer="changes", driver="GPKG", engine="pyogrio")
        sheets.to_file(tmp, layer="sheets", driver="GPKG", engine="pyogrio")
    return path


def _records(frame: Any) -> list[dict[str, Any]]:
    cols = [c for c in frame.columns if c != "geometry"]
    return [
        {c: plain(v) for c, v in zip(cols, row, strict=True)}
        for row in frame[cols].itertuples(index=False)
    ]


def result_json(result: ChangeResult, sheets: gpd.GeoDataFrame) -> dict[str, Any]:
    """The run as plain data: summary, changes (GeoJSON, EPSG:4326) and ranked sheets."""
    changes = result.changes
    features = []
    if len(changes):
        geo = changes.to_crs(4326)
        for record, geom in zip(_records(changes), geo.geometry, strict=True):
            features.append(
                {
                    "type": "Feature",
                    "properties": record,
                    "geometry": shapely.geometry.mapping(geom),
                }
            )
    return {
        "summary": json.loads(json.dumps(result.summary, default=plain)),
        "changes": {"type": "FeatureCollection", "features": features},
        "sheets": _records(sheets),
    }


def write_json(result: ChangeResult, sheets: gpd.GeoDataFrame, path: str | Path) -> Path:
    path = Path(path)
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(result_json(result, sheets), ensure_ascii=False, indent=1))
    return path


# --- the HTML summary ---------------------------------------------------------------------


def _stretch(data: np.ndarray, valid: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    scaled = (data - lo[:, None, None]) / np.maximum(hi - lo, 1e-6)[:, None, None]
    out = (np.clip(scaled, 0, 1) * 255).astype(np.uint8)
    out[:, ~valid] = 0
    if out.shape[0] == 1:
        out = np.repeat(out, 3, axis=0)
    return np.moveaxis(out[:3], 0, -1)


def _png(rgb: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _crop(result: ChangeResult, row: dict[str, Any], max_px: int = 360) -> dict[str, Any] | None:
    evidence = "imagery" if "imagery" in str(row["evidence"]) else "elevation"
    modality = result.modalities.get(evidence)
    if modality is None:
        return None
    grid = modality.grid
    geom = gpd.GeoSeries([row["geometry"]], crs=result.changes.crs).to_crs(grid.crs).iloc[0]
    west, south, east, north = geom.bounds
    pad = max(0.3 * max(east - west, north - south), 10.0)
    inv = ~grid.transform
    c0, r0 = inv @ (west - pad, north + pad)
    c1, r1 = inv @ (east + pad, south - pad)
    c0, r0 = max(math.floor(c0), 0), max(math.floor(r0), 0)
    c1, r1 = min(math.ceil(c1), grid.width), min(math.ceil(r1), grid.height)
    if c1 - c0 < 2 or r1 - r0 < 2:
        return None
    step = max(1, math.ceil(max(c1 - c0, r1 - r0) / max_px))
    h, w = r1 - r0, c1 - c0
    before, vb = read_epoch(modality.before, grid, r0, c0, h, w, modality.shift_before)
    after, va = read_epoch(modality.after, grid, r0, c0, h, w, modality.shift_after)
    before, vb = before[:, ::step, ::step], vb[::step, ::step]
    after, va = after[:, ::step, ::step], va[::step, ::step]
    images = []
    both = np.concatenate([before[:, vb], after[:, va]], axis=1)
    for data, valid in ((before, vb), (after, va)):
        sample = data[:, valid] if valid.any() else both
        if evidence == "elevation":
            sample = both  # one height scale for both epochs
        lo = np.percentile(sample, 2, axis=1)
        hi = np.percentile(sample, 98, axis=1)
        images.append(_png(_stretch(data, valid, lo, hi)))
    t = grid.transform
    x0, y0 = t.c + c0 * t.a, t.f + r0 * t.e
    ring = shapely.get_coordinates(shapely.get_exterior_ring(geom))
    points = " ".join(
        f"{(x - x0) / (t.a * step):.1f},{(y0 - y) / (t.a * step):.1f}" for x, y in ring
    )
    return {
        "before": images[0],
        "after": images[1],
        "width": before.shape[2],
        "height": before.shape[1],
        "outline": points,
    }


def _change_row(r: dict[str, Any]) -> dict[str, str]:
    height = r["height_m"]
    return {
        "id": r["change_id"],
        "kind": KIND_LABELS.get(r["kind"], r["kind"]),
        "evidence": EVIDENCE_LABELS.get(r["evidence"], r["evidence"]),
        "area": f"{r['area_m2']:,.1f}",
        "score": f"{r['score']:.2f}",
        "height": "" if height is None or math.isnan(height) else f"{height:+.2f}",
    }


def _sheet_row(s: dict[str, Any]) -> dict[str, Any]:
    age = s["map_age_years"]
    return {
        "rank": int(s["rank"]),
        "code": s["code"],
        "changed": f"{s['changed_m2']:,.1f}",
        "share": f"{100 * s['share']:.2f}%",
        "map_date": s["map_date"] if isinstance(s["map_date"], str) else "—",
        "age": "—" if age is None or math.isnan(age) else f"{age:.1f}",
        "needs": "是 yes" if s["needs_update"] else "否 no",
    }


def render_html(result: ChangeResult, sheets: gpd.GeoDataFrame, top: int = 6) -> str:
    """The HTML summary (see the module docstring)."""
    env = Environment(
        loader=PackageLoader("geobase.change", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    changes = result.changes
    records = [{str(k): v for k, v in r.items()} for r in changes.head(200).to_dict("records")]
    rows = [_change_row(r) for r in records]
    tops = []
    try:
        for record, row in zip(records[:top], rows[:top], strict=False):
            tops.append({**row, "crop": _crop(result, record)})
    finally:
        close_all()
    sheet_records = [{str(k): v for k, v in r.items()} for r in sheets.head(50).to_dict("records")]
    sheet_rows = [_sheet_row(s) for s in sheet_records]
    template = env.get_template("summary.html.j2")
    return template.render(
        summary=result.summary,
        summary_json=json.dumps(result.summary, ensure_ascii=False, indent=1, default=plain),
        tops=tops,
        rows=rows,
        total=len(changes),
        sheets=sheet_rows,
        sheet_total=len(sheets),
    )


def write_html(
    result: ChangeResult, sheets: gpd.GeoDataFrame, path: str | Path, top: int = 6
) -> Path:
    path = Path(path)
    text = render_html(result, sheets, top)
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
