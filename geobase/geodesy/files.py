"""Transforming the files surveyors exchange: CSV point tables and vector files.

CSV coordinate columns, matched without case:

- ``lon,lat`` (also lng/longitude/latitude, 经度/纬度, 大地经度/大地纬度) for geographic CRSs
  and ``east,north`` (also easting/northing, 东坐标/北坐标, 横坐标/纵坐标) for projected ones
  are unambiguous;
- ``x,y`` (also x坐标/y坐标) follow the surveying convention (x = north, y = east) for
  Gauss-Kruger systems and the GIS one (x = east) otherwise; ``xy="gis"|"survey"``
  overrides.

Table functions keep every column: results go into the target's coordinate columns
(``lon,lat``, ``east,north`` or ``x,y`` when the input used ``x,y``), replacing columns of
that name and appended otherwise. Vector files are streamed record by record through fiona
with one reused ``always_xy`` transformer, into a temporary file beside the destination
that is renamed at the end, so a failure leaves nothing behind.

The CSV tables are :mod:`geobase.geodesy.tables`, the vector files
:mod:`geobase.geodesy.vectorfiles`; this module re-exports both.

Example:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"id": ["A"], "lon": ["116.682"], "lat": ["23.354"]})
    >>> out = transform_table(frame, "EPSG:4490", "EPSG:4548")
    >>> out.loc[0, "east"], out.loc[0, "north"]
    ('467483.3555', '2583777.6078')
"""

from __future__ import annotations

from geobase.geodesy.tables import (
    BATCH_SIZE,
    CSV_SUFFIXES,
    EAST_NAMES,
    LAT_NAMES,
    LON_NAMES,
    NORTH_NAMES,
    VECTOR_DRIVERS,
    X_NAMES,
    XY,
    Y_NAMES,
    Columns,
    Kind,
    Notify,
    apply_table,
    column_values,
    convert_heights_table,
    coordinate_columns,
    file_kind,
    find_column,
    io_kind,
    read_table,
    row_labels,
    transform_table,
    write_table,
)
from geobase.geodesy.vectorfiles import (
    Convert,
    apply_vector_file,
    transform_vector_file,
)

__all__ = [
    "BATCH_SIZE",
    "CSV_SUFFIXES",
    "EAST_NAMES",
    "LAT_NAMES",
    "LON_NAMES",
    "NORTH_NAMES",
    "VECTOR_DRIVERS",
    "XY",
    "X_NAMES",
    "Y_NAMES",
    "Columns",
    "Convert",
    "Kind",
    "Notify",
    "apply_table",
    "apply_vector_file",
    "column_values",
    "convert_heights_table",
    "coordinate_columns",
    "file_kind",
    "find_column",
    "io_kind",
    "read_table",
    "row_labels",
    "transform_table",
    "transform_vector_file",
    "write_table",
]
