"""Vector map (DLG) checks: spatial reference, invalid geometries, duplicates, dangles
(overshoots) and undershoots within the snapping tolerance, overlaps and gaps in
coverage layers, required attributes and classification codes against the product's
code list, and edge matching across map-sheet boundaries (接边, see
:func:`check_edges`).

Each layer is read with pyogrio and checked with shapely 2's vectorised functions and
an STRtree, so a layer's geometries are in memory once (a 1:500 sheet holds thousands).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyogrio
import shapely
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from geobase import sheets
from geobase.errors import SourceReadError
from geobase.geodesy.zones import gk_system_of
from geobase.ingest import vector
from geobase.qc import rasters
from geobase.qc.context import Context
from geobase.qc.places import to_lonlat
from geobase.qc.schema import CodeSchema, load_schema
from geobase.qc.settings import VectorThresholds

_WHERE = re.compile(r"\[\s*(-?[\d.eE+-]+)\s+(-?[\d.eE+-]+)\s*\]")
MM_ON_MAP = 0.0002  # 0.2 mm at the map's scale: the snapping tolerance by default


@dataclass
class Layer:
    name: str
    geoms: np.ndarray
    codes: np.ndarray | None
    fields: list[str]


@dataclass
class Opened:
    """A vector delivery read for checking."""

    given: str
    crs: CRS
    footprint: BaseGeometry  # EPSG:4490
    layers: list[Layer] = field(default_factory=list)


def tolerances(ctx: Context) -> tuple[float, float]:
    """Snapping and edge-matching tolerances in metres: as set, else 0.2 mm at the map's
    scale (0.1 m at 1:500), else 0.1 m."""
    t: VectorThresholds = ctx.thresholds
    scale = t.sheet_scale or ctx.product.scale
    default = MM_ON_MAP * scale if scale else 0.1
    return t.snap_tolerance_m or default, t.edge_tolerance_m or default


def check(ctx: Context, given: str, path: Path) -> Opened:
    """Every per-file DLG check; returns the opened file for the edge matching."""
    t: VectorThresholds = ctx.thresholds
    info = vector.read_info(path, crs=ctx.required_crs)
    root = ctx.workspace.root if ctx.workspace is not None else None
    schema = load_schema(t.schema_, root)
    layers = []
    for meta in info.layers:
        try:
            frame = pyogrio.read_dataframe(path, layer=meta["name"])
        except Exception as exc:
            raise SourceReadError(
                f"{path.name}: layer {meta['name']!r} cannot be read ({vector._reason(exc)})"
            ) from exc
        geoms = np.asarray(frame.geometry.values, dtype=object)
        code_field = schema.code_field(list(frame.columns))
        codes = None
        if code_field is not None:
            codes = np.array(
                [None if v is None or v != v else str(v) for v in frame[code_field]], dtype=object
            )
        layers.append(Layer(meta["name"], geoms, codes, list(frame.columns)))
    every = np.concatenate([lay.geoms for lay in layers])
    every = every[~shapely.is_missing(every) & ~shapely.is_empty(every)]
    hull = shapely.geometry.MultiPoint(shapely.get_coordinates(every)).convex_hull
    local_fp = hull.buffer(1.0) if hull.area == 0 else hull
    fp = to_lonlat(local_fp, info.crs)
    ctx.report.footprints[given] = fp
    item = Opened(given, info.crs, fp, layers)
    rasters.check_crs(ctx, given, info.crs, info.crs_given, fp, "dlg")
    snap, _ = tolerances(ctx)
    for layer in layers:
        _validity(ctx, item, layer)
        _duplicates(ctx, item, layer)
        _dangles(ctx, item, layer, snap)
        if layer.name in schema.coverage_layers:
            _coverage(ctx, item, layer, t)
        _attributes(ctx, item, layer, schema)
    return item


def _place(item: Opened, geom: BaseGeometry) -> BaseGeometry:
    return to_lonlat(geom, item.crs)


def _validity(ctx: Context, item: Opened, layer: Layer) -> None:
    """``dlg.invalid_geometry``: at the place GEOS names (a self-intersection)."""
    ctx.ran(item.given, "dlg.invalid_geometry")
    present = ~shapely.is_missing(layer.geoms)
    bad = np.nonzero(present & ~shapely.is_valid(layer.geoms))[0]
    for i in bad:
        geom = layer.geoms[i]
        reason = shapely.is_valid_reason(geom)
        m = _WHERE.search(reason)
        where = shapely.Point(float(m[1]), float(m[2])) if m else geom.representative_point()
        ctx.add(
            item.given,
            "dlg.invalid_geometry",
            "blocking",
            reason.split("[")[0],
            "valid (OGC simple features)",
            f"layer {layer.name} feature {i}: {reason}",
            _place(item, where),
        )


def _duplicates(ctx: Context, item: Opened, layer: Layer) -> None:
    """``dlg.duplicate``: features of a layer with the same geometry (and code)."""
    ctx.ran(item.given, "dlg.duplicate")
    present = ~shapely.is_missing(layer.geoms)
    idx = np.nonzero(present)[0]
    if len(idx) < 2:
        return
    wkb = shapely.to_wkb(shapely.normalize(layer.geoms[idx]))
    seen: dict[tuple[bytes, str | None], int] = {}
    for i, key in zip(idx, wkb, strict=True):
        code = layer.codes[i] if layer.codes is not None else None
        first = seen.setdefault((key, code), int(i))
        if first != i:
            ctx.add(
                item.given,
                "dlg.duplicate",
                "blocking",
                f"feature {i} = feature {first}",
                "unique",
                f"layer {layer.name} feature {i} duplicates feature {first}",
                _place(item, layer.geoms[i]),
            )


def _dangles(ctx: Context, item: Opened, layer: Layer, tol: float) -> None:
    """``dlg.undershoot``: a line's end short of another line by at most ``tol``;
    ``dlg.overshoot``: a line running past another by at most ``tol`` (a dangle)."""
    kind = shapely.get_type_id(layer.geoms)
    lines_idx = np.nonzero(np.isin(kind, (1, 5)))[0]
    if len(lines_idx) < 2:
        return
    ctx.ran(item.given, "dlg.undershoot", "dlg.overshoot")
    parts, owner = shapely.get_parts(layer.geoms[lines_idx], return_index=True)
    owner = lines_idx[owner]
    starts = shapely.get_point(parts, 0)
    ends = shapely.get_point(parts, -1)
    points = np.concatenate([starts, ends])
    of = np.concatenate([owner, owner])
    part_of = np.concatenate([np.arange(len(parts)), np.arange(len(parts))])
    closed = np.concatenate([shapely.is_closed(parts)] * 2)
    tree = shapely.STRtree(parts)
    pi, li = tree.query(points, predicate="dwithin", distance=tol)
    keep = owner[li] != of[pi]
    pi, li = pi[keep], li[keep]
    dist = shapely.distance(points[pi], parts[li])
    touching = np.zeros(len(points), dtype=bool)
    touching[pi[dist <= 1e-9]] = True
    near = (dist > 1e-9) & ~touching[pi] & ~closed[pi]
    reported: set[int] = set()
    for p, line, d in zip(pi[near], li[near], dist[near], strict=True):
        if p in reported:
            continue
        reported.add(int(p))
        own = parts[part_of[p]]
        cross = shapely.intersection(own, parts[line])
        if not cross.is_empty:  # it runs past the other line: a dangle
            stub = float(shapely.distance(points[p], cross))
            ctx.add(
                item.given,
                "dlg.overshoot",
                "blocking",
                round(stub, 3),
                tol,
                f"layer {layer.name} feature {of[p]}: runs {stub:.3f} m past feature "
                f"{owner[line]} (a dangle within the snapping tolerance {tol} m)",
                _place(item, shapely.shortest_line(points[p], cross)),
            )
            continue
        ctx.add(
            item.given,
            "dlg.undershoot",
            "blocking",
            round(float(d), 3),
            tol,
            f"layer {layer.name} feature {of[p]}: its end stops {d:.3f} m short of feature "
            f"{owner[line]} (snapping tolerance {tol} m)",
            _place(item, shapely.shortest_line(points[p], parts[line])),
        )


def _coverage(ctx: Context, item: Opened, layer: Layer, t: VectorThresholds) -> None:
    """``dlg.overlap`` and ``dlg.gap`` in a coverage layer (every place in exactly one
    polygon)."""
    ctx.ran(item.given, "dlg.overlap", "dlg.gap")
    kind = shapely.get_type_id(layer.geoms)
    idx = np.nonzero(np.isin(kind, (3, 6)) & shapely.is_valid(layer.geoms))[0]
    polys = layer.geoms[idx]
    if len(polys) == 0:
        return
    tree = shapely.STRtree(polys)
    a, b = tree.query(polys, predicate="overlaps")
    for i, j in zip(a[a < b], b[a < b], strict=True):
        shared = shapely.intersection(polys[i], polys[j])
        if shared.area > t.overlap_min_area_m2:
            ctx.add(
                item.given,
                "dlg.overlap",
                "blocking",
                round(shared.area, 3),
                t.overlap_min_area_m2,
                f"layer {layer.name}: features {idx[i]} and {idx[j]} overlap by "
                f"{shared.area:.2f} m2",
                _place(item, shared),
            )
    union = shapely.union_all(polys)
    for poly in shapely.get_parts(union):
        for ring in poly.interiors:
            hole = shapely.Polygon(ring)
            if hole.area > t.overlap_min_area_m2:
                ctx.add(
                    item.given,
                    "dlg.gap",
                    "blocking",
                    round(hole.area, 3),
                    t.overlap_min_area_m2,
                    f"layer {layer.name}: a gap of {hole.area:.2f} m2 in the coverage",
                    _place(item, hole),
                )


def _attributes(ctx: Context, item: Opened, layer: Layer, schema: CodeSchema) -> None:
    """``dlg.attribute_missing`` (a required field absent from the layer),
    ``dlg.code_missing`` (a feature without its code) and ``dlg.code_unknown``."""
    ctx.ran(item.given, "dlg.attribute_missing", "dlg.code_missing", "dlg.code_unknown")
    present = set(layer.fields)
    code_field = schema.code_field(layer.fields)
    for name in schema.required:
        if name in present or (name in schema.code_fields and code_field is not None):
            continue
        ctx.add(
            item.given,
            "dlg.attribute_missing",
            "blocking",
            name,
            ", ".join(schema.required),
            f"layer {layer.name} has no field {name!r} (fields: {', '.join(layer.fields)})",
            item.footprint,
        )
    if layer.codes is None:
        return
    for i, (geom, code) in enumerate(zip(layer.geoms, layer.codes, strict=True)):
        if geom is None or geom.is_empty:
            continue
        if code is None or not str(code).strip():
            ctx.add(
                item.given,
                "dlg.code_missing",
                "blocking",
                None,
                f"{code_field} of the code list",
                f"layer {layer.name} feature {i} has no classification code ({code_field})",
                _place(item, geom),
            )
        elif not schema.known(str(code)):
            ctx.add(
                item.given,
                "dlg.code_unknown",
                "blocking",
                str(code),
                f"{code_field} of the code list",
                f"layer {layer.name} feature {i}: code {code} is not in the product's code list",
                _place(item, geom),
            )


def _sheet(item: Opened, scale: int) -> shapely.Polygon | None:
    """The rectangular sheet holding the file's features (its centre's sheet, when the
    features lie inside it), in the file's CRS."""
    every = np.concatenate([lay.geoms for lay in item.layers])
    every = every[~shapely.is_missing(every)]
    x0, y0, x1, y1 = shapely.total_bounds(every)
    code = sheets.rect_sheet_code((x0 + x1) / 2, (y0 + y1) / 2, scale)
    poly = sheets.rect_sheet_polygon(code, scale)
    size = poly.bounds[2] - poly.bounds[0]
    if not poly.buffer(size * 0.01).contains(shapely.box(x0, y0, x1, y1)):
        return None
    return poly


def _edge_points(item: Opened, edge: BaseGeometry, tol: float):
    coords, codes = [], []
    for layer in item.layers:
        for i, geom in enumerate(layer.geoms):
            if geom is None or geom.is_empty or geom.distance(edge) > tol:
                continue
            pts = np.asarray(shapely.points(shapely.get_coordinates(geom)), dtype=object)
            on = pts[shapely.distance(pts, edge) <= tol]
            coords += list(on)
            code = layer.codes[i] if layer.codes is not None else None
            codes += [code] * len(on)
    return np.array(coords, dtype=object), codes


def check_edges(ctx: Context, items: list[Opened]) -> None:
    """``dlg.edge_mismatch``: a feature reaching a sheet edge the neighbouring sheet's
    file does not continue within the edge tolerance (or continues with another code).

    Each file is one rectangular sheet (by the product's scale); files in other than a
    Gauss-Kruger CRS or spanning several sheets are noted, not matched.
    """
    scale = ctx.thresholds.sheet_scale or ctx.product.scale
    if scale is None or len(items) < 2:
        return
    _, tol = tolerances(ctx)
    placed = []
    for item in items:
        if gk_system_of(item.crs) is None:
            ctx.note(item.given, "not in a Gauss-Kruger CRS: edges not matched")
            continue
        try:
            sheet = _sheet(item, scale)
        except Exception as exc:  # a scale without rectangular sheets
            ctx.note(item.given, f"no rectangular sheet at 1:{scale} ({exc}): edges not matched")
            return
        if sheet is None:
            ctx.note(item.given, "features span more than one sheet: edges not matched")
            continue
        placed.append((item, sheet))
    for i, (a, sa) in enumerate(placed):
        for b, sb in placed[i + 1 :]:
            if not a.crs.equals(b.crs):
                continue
            edge: BaseGeometry = shapely.intersection(sa.boundary, sb.boundary)
            if edge.length <= 0:
                continue
            ctx.ran(a.given, "dlg.edge_mismatch")
            ctx.ran(b.given, "dlg.edge_mismatch")
            pa, ca = _edge_points(a, edge, tol)
            pb, cb = _edge_points(b, edge, tol)
            _match(ctx, a, b, pa, ca, pb, cb, tol)
            _match(ctx, b, a, pb, cb, pa, ca, tol)


def _match(ctx, a: Opened, b: Opened, pa, ca, pb, cb, tol: float) -> None:
    for point, code in zip(pa, ca, strict=True):
        if len(pb):
            d = shapely.distance(point, pb)
            near = np.nonzero(d <= tol)[0]
            if len(near):
                other = {cb[j] for j in near}
                if code is not None and None not in other and code not in other:
                    ctx.add(
                        a.given,
                        "dlg.edge_mismatch",
                        "blocking",
                        f"{code}/{'/'.join(sorted(other))}",
                        "same code",
                        f"across the sheet edge with {b.given} the code changes "
                        f"from {code} to {', '.join(sorted(other))}",
                        _place(a, point),
                    )
                continue
            nearest: float | None = float(d.min())
        else:
            nearest = None
        ctx.add(
            a.given,
            "dlg.edge_mismatch",
            "blocking",
            None if nearest is None else round(nearest, 3),
            tol,
            f"a feature reaches the sheet edge here but {b.given} does not continue it "
            + ("(nothing on its side)" if nearest is None else f"(nearest {nearest:.3f} m)"),
            _place(a, point),
        )
