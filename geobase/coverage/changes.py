"""Update candidates: the map sheets whose current map is older than a change found in them.

Reads the ``changes`` layer a ``geobase change detect`` run wrote (polygons with their
``after_date``) and judges each sheet of a map product's scale by the catalogue as it
stands (or as of a date): a sheet is a candidate when a change polygon reaches into it
and the newest map covering it (:func:`geobase.coverage.sheets.cell_coverage`, the
rule every coverage table uses) was acquired before that change was seen, or there is
no map at all.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geobase.coverage.compute import load_footprints
from geobase.coverage.settings import age_years, coverage_settings, parse_as_of
from geobase.coverage.sheets import cell_coverage
from geobase.errors import UnsupportedInput
from geobase.sheets import RECT_SCALES, rect_sheets_covering

_EPOCH = np.datetime64("1970-01-01", "D")


def read_changes(path: str | Path) -> gpd.GeoDataFrame:
    """The ``changes`` layer of a change GeoPackage.

    Raises:
        UnsupportedInput: no such file, or it has no ``changes`` layer with ``after_date``.
    """
    import pyogrio

    path = Path(path)
    try:
        layers = {name for name, _ in pyogrio.list_layers(path)}
    except (pyogrio.errors.DataSourceError, OSError) as err:
        raise UnsupportedInput(f"{path}: not a readable GeoPackage ({err})") from err
    if "changes" not in layers:
        raise UnsupportedInput(
            f"{path}: no 'changes' layer (layers: {', '.join(sorted(layers)) or 'none'}); "
            "pass what 'geobase change detect' wrote"
        )
    frame = gpd.read_file(path, layer="changes", engine="pyogrio")
    if "after_date" not in frame.columns:
        raise UnsupportedInput(f"{path}: the changes layer has no after_date column")
    return frame


def update_candidates(
    ws,
    changes: str | Path | gpd.GeoDataFrame,
    product: str,
    *,
    as_of: dt.date | str | None = None,
) -> pd.DataFrame:
    """Sheets of ``product``'s scale with a change newer than their current map.

    Returns:
        One row per candidate sheet, most changed area first: product, code, scale,
        changed_m2, change_date, map_date (None: no map), map_age_years.

    Raises:
        UnsupportedInput: a product without rectangular sheets; a bad changes file.
        NotFoundError: an unknown product.
    """
    from geobase.catalog.products import products_for

    spec = products_for(ws.config.products).get(product)
    if spec.scale not in RECT_SCALES:
        raise UnsupportedInput(
            f"product {product} has no rectangular sheet scale (scale {spec.scale}); update "
            "candidates are counted in 1:500 .. 1:5000 sheets"
        )
    frame = changes if isinstance(changes, gpd.GeoDataFrame) else read_changes(changes)
    columns = ["product", "code", "scale", "changed_m2", "change_date", "map_date",
               "map_age_years"]  # fmt: skip
    if frame.empty:
        return pd.DataFrame(columns=columns)
    as_of = parse_as_of(as_of)
    crs = ws.config.crs
    polys = np.asarray(frame.to_crs(crs).geometry.values, dtype=object)
    sheets = rect_sheets_covering(shapely.union_all(polys), spec.scale, crs)
    boxes = np.asarray(sheets.geometry.values, dtype=object)
    s_idx, p_idx = shapely.STRtree(polys).query(boxes, predicate="intersects")
    area = shapely.area(shapely.intersection(boxes[s_idx], polys[p_idx]))
    keep = area > 0
    s_idx, p_idx, area = s_idx[keep], p_idx[keep], area[keep]
    changed = np.bincount(s_idx, area, len(boxes))
    seen = pd.to_datetime(frame["after_date"], errors="coerce").to_numpy().astype("datetime64[D]")
    days = np.where(np.isnat(seen), -1, (seen - _EPOCH).astype(np.int64))
    change_day = np.full(len(boxes), -1, dtype=np.int64)
    np.maximum.at(change_day, s_idx, days[p_idx])
    # the newest map per sheet, judged in the area CRS like every coverage table
    settings = coverage_settings(ws.config.coverage)
    maps = load_footprints(ws, product, as_of=as_of, settings=settings)
    cells = sheets.to_crs(maps.crs) if len(maps) else sheets
    map_days = pd.to_datetime(maps["acquired_end"], errors="coerce").to_numpy()
    map_days = map_days.astype("datetime64[D]")
    fdays = np.where(np.isnat(map_days), -1, (map_days - _EPOCH).astype(np.int64))
    _, newest, _ = cell_coverage(
        np.asarray(cells.geometry.values, dtype=object),
        np.zeros(len(cells), dtype=bool),
        np.asarray(maps.geometry.values, dtype=object),
        fdays,
    )
    candidate = (changed > 0) & ((newest < 0) | ((change_day >= 0) & (newest < change_day)))

    def day(n: Any) -> str | None:
        return None if n < 0 else str(_EPOCH + np.timedelta64(int(n), "D"))

    map_dates = [day(n) for n in newest]
    out = pd.DataFrame(
        {
            "product": product,
            "code": sheets["code"].to_numpy(),
            "scale": spec.scale,
            "changed_m2": np.round(changed, 2),
            "change_date": [day(n) for n in change_day],
            "map_date": map_dates,
            "map_age_years": np.round(age_years(map_dates, as_of or dt.date.today()), 2),
        }
    )[candidate]
    return out.sort_values(["changed_m2", "code"], ascending=[False, True], ignore_index=True)
