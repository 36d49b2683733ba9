"""Merging what the windows found: pieces across window edges, imagery with elevation
evidence, and where each polygon's pixels came from."""

from __future__ import annotations

import datetime as dt
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geobase.change.epochs import Epoch, Kind, Source
from geobase.change.windows import Piece


def merge_pieces(pieces: list[Piece], min_area: float) -> gpd.GeoDataFrame:
    """Pieces of one kind cut by window edges merged; holes and polygons under
    ``min_area`` dropped. Columns: kind, pixels, score (mean), value (mean), geometry."""
    rows = []
    by_kind: dict[str, list[Piece]] = {}
    for piece in pieces:
        by_kind.setdefault(piece.kind, []).append(piece)
    for kind, items in by_kind.items():
        geoms = np.array([p.geometry for p in items], dtype=object)
        parts = shapely.get_parts(shapely.union_all(geoms))
        tree = shapely.STRtree(parts)
        which = np.full(len(items), -1)
        src, dst = tree.query(shapely.point_on_surface(geoms), predicate="within")
        which[src] = dst
        pixels = np.bincount(which, [p.pixels for p in items], len(parts))
        scores = np.bincount(which, [p.score_sum for p in items], len(parts))
        values = np.bincount(which, [p.value_sum for p in items], len(parts))
        for i, part in enumerate(parts):
            holes = [r for r in part.interiors if shapely.Polygon(r).area >= min_area]
            part = shapely.Polygon(part.exterior, holes)
            if part.area < min_area or pixels[i] == 0:
                continue
            rows.append(
                {
                    "kind": kind,
                    "pixels": int(pixels[i]),
                    "score": scores[i] / pixels[i],
                    "value": values[i] / pixels[i],
                    "geometry": part,
                }
            )
    return gpd.GeoDataFrame(
        rows, columns=["kind", "pixels", "score", "value", "geometry"], geometry="geometry"
    )


def fuse(found: dict[str, gpd.GeoDataFrame]) -> pd.DataFrame:
    """One table of polygons with their evidence (see the module docstring)."""
    frames = []
    img = found.get("imagery")
    ele = found.get("elevation")
    if ele is not None and len(ele):
        ele = ele.copy()
        ele["evidence"] = "elevation"
        ele["height_m"] = ele["value"]
        ele["direction"] = np.where(ele["value"] > 0, "up", "down")
        if img is not None and len(img):
            tree = shapely.STRtree(np.asarray(img.geometry.values))
            e_idx, i_idx = tree.query(np.asarray(ele.geometry.values), predicate="intersects")
            ele.loc[ele.index[np.unique(e_idx)], "evidence"] = "elevation+imagery"
            img = img.drop(index=img.index[np.unique(i_idx)])
        frames.append(ele)
    if img is not None and len(img):
        img = img.copy()
        img["evidence"] = "imagery"
        img["height_m"] = np.nan
        img["direction"] = np.where(img["value"] > 0, "brighter", "darker")
        frames.append(img)
    if not frames:
        return pd.DataFrame(
            columns=["kind", "direction", "evidence", "score", "height_m", "geometry"]
        )
    return pd.concat(frames, ignore_index=True)


def _provenance(
    polys: np.ndarray, sources: list[Source], crs: Any
) -> tuple[list[str], list[str | None]]:
    """Per polygon: the ids of the rasters that supply its pixels (newest on top, so an
    older one only where the newer ones leave a gap) and their newest date."""
    from geobase.change.grid import source_bounds_in

    ids: list[list[str]] = [[] for _ in polys]
    dates: list[list[dt.date]] = [[] for _ in polys]
    left = np.array(polys, dtype=object)
    order = sorted(sources, key=lambda s: s.date or dt.date.min, reverse=True)
    for s in order:
        if s.footprint is not None:
            foot = gpd.GeoSeries([s.footprint], crs=4490).to_crs(crs).iloc[0]
        else:
            foot = shapely.box(*source_bounds_in(s, crs))
        hit = (
            shapely.area(shapely.intersection(left, foot)) > 1e-6
            if len(left)
            else np.zeros(0, dtype=bool)
        )
        for i in np.flatnonzero(hit):
            ids[i].append(s.dataset_id or s.path.name)
            if s.date is not None:
                dates[i].append(s.date)
        if len(left):
            left = shapely.difference(left, foot)
    return (
        [",".join(dict.fromkeys(x)) for x in ids],
        [max(d).isoformat() if d else None for d in dates],
    )


def epoch_provenance(
    polys: np.ndarray, evidence: np.ndarray, epoch: Epoch, kinds: list[Kind], crs: Any
) -> tuple[list[str], list[str | None]]:
    """:func:`_provenance` per kind of evidence, joined for the polygons that use it."""
    ids: list[list[str]] = [[] for _ in polys]
    dates: list[list[str]] = [[] for _ in polys]
    for kind in kinds:
        k_ids: list[str]
        k_dates: list[str | None]
        k_ids, k_dates = _provenance(polys, epoch.of(kind), crs)
        for i, used in enumerate(evidence):
            if kind in str(used):
                ids[i] += [k_ids[i]] if k_ids[i] else []
                day = k_dates[i]
                dates[i] += [day] if day else []
    return [",".join(x) for x in ids], [max(d) if d else None for d in dates]
