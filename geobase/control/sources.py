"""Reading a control-point register from any file kind into one frame of texts.

CSV (UTF-8, UTF-8 with BOM or GBK; see :mod:`geobase.tabular`), Excel (.xlsx), GeoPackage
and GeoJSON all end in the same frame of text cells, so that one validator
(:mod:`geobase.control.rows`) decides every row whatever its file.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

from geobase.areas import deferred_warnings
from geobase.errors import EmptyInputError, InvalidOption, SourceReadError
from geobase.tabular import read_csv, read_xlsx


def read_source(
    path: str | Path, encoding: str | None = None
) -> tuple[pd.DataFrame, list[str], str | None]:
    """Read a CSV, Excel (.xlsx), GeoPackage or GeoJSON file as text columns.

    A CSV is read as UTF-8 (with or without BOM) or GBK, whichever decodes, or in the
    ``encoding`` forced (:data:`geobase.tabular.READ_ENCODINGS`); the other kinds carry
    their own encoding.

    Every kind of file ends in the same frame of texts, checked by one validator
    (:func:`geobase.control.rows.parse_rows`), so a row is refused for the same reason whatever its file.

    Returns:
        (frame of strings/None, a label per row (``line 3``, ``row 3``, ``feature 2``),
        encoding).
        Vector files give their geometry as ``__lon``/``__lat`` (geographic) or
        ``__x``/``__y`` (projected) columns with the CRS in ``__crs``.

    Raises:
        SourceReadError / EmptyInputError: missing, unreadable, truncated or empty file.
        InvalidOption: an encoding forced for a file that is no CSV, or an unknown one.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        frame = read_csv(path, encoding)
        labels = [f"line {n}" for n in frame.attrs["lines"]]
        return frame, labels, frame.attrs.get("encoding")
    if encoding is not None and suffix in (".xlsx", ".gpkg", ".geojson", ".json"):
        raise InvalidOption(
            f"{path}: an encoding ({encoding}) applies to CSV files only; "
            f"a {suffix} file carries its own"
        )
    if suffix == ".xlsx":
        frame = read_xlsx(path)
        return frame, [f"row {n}" for n in frame.attrs["lines"]], None
    if suffix not in (".gpkg", ".geojson", ".json"):
        raise SourceReadError(
            f"{path}: unsupported file type {suffix or '(none)'}: expected .csv, .xlsx, "
            ".gpkg or .geojson"
        )
    if not path.is_file():
        raise SourceReadError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise EmptyInputError(f"{path}: file is empty")
    import geopandas as gpd
    import pyogrio

    try:
        with deferred_warnings():
            # GeoJSON: text that looks like a date stays text, as in a CSV (GDAL would
            # type it and drop a time of day)
            options = {"DATE_AS_STRING": "YES"} if suffix != ".gpkg" else {}
            gdf = pyogrio.read_dataframe(path, **options)
    except Exception as exc:  # GDAL reports truncated/corrupt files in many ways
        raise SourceReadError(
            f"{path}: cannot be read as {suffix[1:].upper()} ({exc}); is the file truncated?"
        ) from None
    if len(gdf) == 0:
        raise EmptyInputError(f"{path}: holds no features")
    frame = pd.DataFrame(index=range(len(gdf)))
    # a GeoPackage attribute table (B/L or X/Y as columns) has no geometry column
    geometry = gdf.geometry.name if isinstance(gdf, gpd.GeoDataFrame) else None
    for column in gdf.columns:
        if column == geometry:
            continue
        values = gdf[column].tolist()
        frame[column] = [_text(v) for v in values]
    if geometry is not None and gdf.crs is None and gdf.geometry.notna().any():
        raise SourceReadError(
            f"{path}: the point geometries have no CRS; assign one (EPSG:4490 or a "
            "CGCS2000 Gauss-Kruger zone) or give B/L or X/Y as columns"
        )
    geoms = gdf.geometry.values if geometry is not None else []
    if geometry is not None and gdf.crs is not None and len(geoms):
        ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        types = set(shapely.get_type_id(geoms[ok]).tolist())
        if types - {0}:
            raise SourceReadError(f"{path}: control points must be point features")
        xs = np.full(len(geoms), np.nan)
        ys = np.full(len(geoms), np.nan)
        xs[ok] = shapely.get_x(geoms[ok])
        ys[ok] = shapely.get_y(geoms[ok])
        crs = gdf.crs
        text = [None if not o else repr(float(v)) for o, v in zip(ok, xs, strict=True)]
        text_y = [None if not o else repr(float(v)) for o, v in zip(ok, ys, strict=True)]
        if crs.is_geographic:
            frame["__lon"], frame["__lat"] = text, text_y
        else:
            frame["__y"], frame["__x"] = text, text_y  # east, north
            epsg = crs.to_epsg()
            frame["__crs"] = f"EPSG:{epsg}" if epsg else crs.to_wkt()
    labels = [f"feature {i + 1}" for i in range(len(gdf))]
    return frame, labels, None


def _text(value: Any) -> str | None:
    """An attribute value as the text a CSV would hold (None where missing)."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float):
        return None if math.isnan(value) else repr(value)
    if isinstance(value, dt.date | dt.datetime | pd.Timestamp):
        return value.isoformat()[:10]
    text = str(value).strip()
    return text or None
