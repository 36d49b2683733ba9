"""The package's control tables: control points and CORS stations as GeoJSON and CSV."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd

from geobase.tabular import write_csv

CONTROL_COLUMNS = [
    "point_id",
    "name",
    "kind",
    "gnss_grade",
    "level_grade",
    "cjj_grade",
    "district",
    "lon",
    "lat",
    "ellh",
    "x_north",
    "y_east",
    "gk_epsg",
    "normal_h",
    "mark_type",
    "condition",
    "usability",
    "last_inspected",
    "distance_to_area_m",
    "distance_m",
    "site",
    "route",
]


def write_points(
    frame: gpd.GeoDataFrame, folder: Path, stem: str, encoding: str | None = None
) -> None:
    """``stem``.geojson and ``stem``.csv in ``folder``: the points' known columns.

    The CSV follows the policy of :mod:`geobase.tabular` (default UTF-8 with a BOM,
    which Excel opens correctly).
    """
    cols = [c for c in CONTROL_COLUMNS if c in frame.columns]
    out = gpd.GeoDataFrame(frame[cols], geometry=frame.geometry.values, crs=4490)
    out.to_file(folder / f"{stem}.geojson", driver="GeoJSON", engine="pyogrio")
    write_csv(pd.DataFrame(frame[cols]), folder / f"{stem}.csv", encoding)  # default: BOM
