"""Which map sheets to update first: changed area per sheet and the age of its map.

The sheets of a scale (rectangular 1:500 to 1:5000 on the Gauss-Kruger grid, from
:mod:`geobase.sheets`) that the change polygons reach, each with its changed area
(the polygons cut by the sheet, exactly), its share of the sheet, and the newest map of
that scale covering part of it (from the catalogue: the current datasets of the map
product, the rule coverage uses for a sheet's newest date). Ranking, as update planners
read it: first the sheets whose map predates the change (``needs_update``), then by
changed area, then by the map's age, then by code.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geobase.errors import GeobaseError
from geobase.sheets import rect_sheets_covering, require_gk_crs

SHEET_COLUMNS = [
    "rank",
    "code",
    "scale",
    "changed_m2",
    "share",
    "changes",
    "map_product",
    "map_date",
    "map_age_years",
    "change_date",
    "needs_update",
]


def map_product_for(ws: Any, scale: int) -> str | None:
    """The workspace's vector product at ``scale`` (e.g. dlg500 at 1:500), if any."""
    from geobase.catalog.products import products_for

    for product in products_for(ws.config.products):
        if product.kind == "vector" and product.scale == scale and not product.generic:
            return product.code
    return None


def map_footprints(ws: Any, product: str) -> gpd.GeoDataFrame:
    """Current datasets of a map product: footprint (EPSG:4490) and acquired_end."""
    from geobase.catalog.records import current_datasets

    frame = current_datasets(ws.store, product=product)
    return frame[["dataset_id", "acquired_end", "geometry"]]


def _grid_crs(changes: gpd.GeoDataFrame, fallback: str) -> Any:
    try:
        return require_gk_crs(changes.crs)
    except GeobaseError:
        return require_gk_crs(fallback)


def sheet_priorities(
    changes: gpd.GeoDataFrame,
    scale: int = 500,
    *,
    maps: gpd.GeoDataFrame | None = None,
    map_product: str | None = None,
    reference: dt.date | None = None,
    crs: str = "EPSG:4548",
) -> gpd.GeoDataFrame:
    """The sheets the changes reach, ranked as update priority.

    Args:
        changes: change polygons (any CRS) with ``after_date``.
        scale: the sheet scale (1:500 .. 1:5000).
        maps: current map datasets (``acquired_end``, footprint) for the map dates.
        map_product: the product ``maps`` are of (for the table).
        reference: the date map ages are counted to (default: the newest after_date).
        crs: the Gauss-Kruger CRS of the sheet grid when the changes are in none.

    Returns:
        A GeoDataFrame (sheet squares) with :data:`SHEET_COLUMNS`, rank 1 first.
    """
    grid_crs = _grid_crs(changes, crs)
    empty = gpd.GeoDataFrame(
        {c: [] for c in SHEET_COLUMNS}, geometry=gpd.GeoSeries([], crs=grid_crs)
    )
    if changes.empty:
        return empty
    polys = changes.to_crs(grid_crs)
    geoms = np.asarray(polys.geometry.values, dtype=object)
    sheets = rect_sheets_covering(shapely.union_all(geoms), scale, grid_crs)
    boxes = np.asarray(sheets.geometry.values, dtype=object)
    s_idx, p_idx = shapely.STRtree(geoms).query(boxes, predicate="intersects")
    area = shapely.area(shapely.intersection(boxes[s_idx], geoms[p_idx]))
    changed = np.bincount(s_idx, area, len(boxes))
    touched = area > 0
    count = np.bincount(s_idx[touched], minlength=len(boxes))
    dates = pd.to_datetime(polys["after_date"], errors="coerce").to_numpy()
    change_date = np.full(len(boxes), np.datetime64("NaT"), dtype="datetime64[ns]")
    for s, p in zip(s_idx[touched], p_idx[touched], strict=True):
        if not np.isnat(dates[p]) and (np.isnat(change_date[s]) or dates[p] > change_date[s]):
            change_date[s] = dates[p]
    map_date = np.full(len(boxes), np.datetime64("NaT"), dtype="datetime64[ns]")
    if maps is not None and not maps.empty:
        feet = maps.to_crs(grid_crs)
        fgeoms = np.asarray(feet.geometry.values, dtype=object)
        fdates = pd.to_datetime(feet["acquired_end"], errors="coerce").to_numpy()
        m_s, m_f = shapely.STRtree(fgeoms).query(boxes, predicate="intersects")
        for s, f in zip(m_s, m_f, strict=True):
            if not np.isnat(fdates[f]) and (np.isnat(map_date[s]) or fdates[f] > map_date[s]):
                map_date[s] = fdates[f]
    ref = np.datetime64(reference) if reference else None
    if ref is None:
        valid = change_date[~np.isnat(change_date)]
        ref = valid.max() if len(valid) else np.datetime64(dt.date.today())
    age = (ref - map_date).astype("timedelta64[D]").astype(float) / 365.25
    needs = np.isnat(map_date) | np.isnat(change_date) | (map_date < change_date)
    frame = gpd.GeoDataFrame(
        {
            "code": sheets["code"].to_numpy(),
            "scale": sheets["scale"].to_numpy(),
            "changed_m2": changed,
            "share": changed / shapely.area(boxes),
            "changes": count,
            "map_product": map_product,
            "map_date": [None if np.isnat(d) else str(d)[:10] for d in map_date],
            "map_age_years": np.round(age.astype(float), 2),
            "change_date": [None if np.isnat(d) else str(d)[:10] for d in change_date],
            "needs_update": needs,
        },
        geometry=boxes,
        crs=grid_crs,
    )
    frame = frame[frame["changed_m2"] > 0]
    frame = frame.assign(_age=frame["map_age_years"].fillna(np.inf)).sort_values(
        ["needs_update", "changed_m2", "_age", "code"],
        ascending=[False, False, False, True],
        ignore_index=True,
    )
    frame = frame.drop(columns="_age")
    frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    return frame
