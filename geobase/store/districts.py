"""Administrative districts (区县): the reference layer records are grouped by.

Loaded from any vector file GDAL reads, in any CRS; stored as multipolygons in
CGCS2000 geographic (EPSG:4490). A new load replaces the layer in one transaction.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geobase.areas import read_vector, to_cgcs2000
from geobase.errors import NotFoundError, ValidationError
from geobase.store.base import Store, utc_now

# Field names tried, in order, when the caller does not name the district-name field.
NAME_FIELDS = ("name", "NAME", "名称", "district", "区县", "xzqmc", "XZQMC", "name_zh")
NAME_EN_FIELDS = ("name_en", "NAME_EN", "english", "ename")
CODE_FIELDS = ("code", "CODE", "xzqdm", "XZQDM", "adcode", "区划代码")


def read_boundaries(path: str | Path, name_field: str | None = None) -> gpd.GeoDataFrame:
    """Read a boundary file as (name, name_en, code, geometry) in EPSG:4490.

    Raises:
        SourceReadError: the file is missing, unreadable or empty.
        ValidationError: no CRS, no usable name field, missing or duplicate names, or
            geometries that are not polygons.
    """
    path = Path(path)
    frame = read_vector(path, "boundary file")
    fields = [c for c in frame.columns if c != "geometry"]
    if name_field is None:
        name_field = next((f for f in NAME_FIELDS if f in fields), None)
        if name_field is None:
            raise ValidationError(
                f"{path}: no district-name field found among {fields}; pass --name-field"
            )
    elif name_field not in fields:
        raise ValidationError(f"{path}: no field {name_field!r}; fields are {fields}")
    names = frame[name_field]
    if names.isna().any() or (names.astype(str).str.strip() == "").any():
        raise ValidationError(f"{path}: some features have no {name_field!r}")
    types = set(frame.geom_type.dropna())
    if not types <= {"Polygon", "MultiPolygon"}:
        raise ValidationError(f"{path}: district boundaries must be polygons, got {sorted(types)}")
    frame = to_cgcs2000(frame)
    # several features of one district (islands) become one multipolygon
    out = frame.dissolve(by=name_field, as_index=False, sort=False)
    name_en = next((f for f in NAME_EN_FIELDS if f in fields), None)
    code = next((f for f in CODE_FIELDS if f in fields), None)
    geoms = [
        g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g])
        for g in shapely.make_valid(out.geometry.values)
    ]
    return gpd.GeoDataFrame(
        {
            "name": out[name_field].astype(str).str.strip(),
            "name_en": out[name_en].astype(str) if name_en else None,
            "code": out[code].astype(str) if code else None,
        },
        geometry=geoms,
        crs=4490,
    )


def load_districts(
    store: Store, path: str | Path, name_field: str | None = None
) -> gpd.GeoDataFrame:
    """Replace the districts layer with the boundaries in ``path``; returns what was loaded."""
    frame = read_boundaries(path, name_field)
    loaded_at = utc_now()
    with store.transaction() as tx:
        tx.execute("DELETE FROM districts")
        geoms = tx.geoms(list(frame.geometry), 4490)
        tx.insert_many(
            "districts",
            [
                {
                    "name": n,
                    "name_en": e,
                    "code": c,
                    "source": Path(path).name,
                    "loaded_at": loaded_at,
                    "geom": g,
                }
                for n, e, c, g in zip(
                    frame["name"], frame["name_en"], frame["code"], geoms, strict=True
                )
            ],
        )
        tx.touch("districts")
    return frame


def list_districts(store: Store) -> gpd.GeoDataFrame:
    """The districts layer as a GeoDataFrame in EPSG:4490."""
    return store.read_frame("SELECT name, name_en, code, source, geom FROM districts ORDER BY fid")


def district_of(store: Store, lon, lat) -> np.ndarray:
    """The district name holding each point (None outside every district). Vectorised."""
    districts = list_districts(store)
    lons = np.atleast_1d(np.asarray(lon, dtype=float))
    points = shapely.points(lons, np.atleast_1d(np.asarray(lat, dtype=float)))
    result = np.array([None] * len(lons), dtype=object)
    if districts.empty:
        return result
    tree = shapely.STRtree(districts.geometry.values)
    point_idx, district_idx = tree.query(points, predicate="intersects")
    result[point_idx] = districts["name"].to_numpy()[district_idx]
    return result


def district_geometry(store: Store, name: str) -> BaseGeometry:
    """One district's boundary (EPSG:4490)."""
    with store.read() as tx:
        row = tx.query_one("SELECT geom FROM districts WHERE name = :name", {"name": name})
        known = (
            [r["name"] for r in tx.query("SELECT name FROM districts ORDER BY fid")]
            if row is None
            else []
        )
    if row is None:
        raise NotFoundError(
            f"no district {name!r}; known districts: {', '.join(known) or '(none loaded)'}"
        )
    geometry = store.read_geom(row["geom"])
    if geometry is None:
        raise NotFoundError(f"district {name!r} has no boundary; load the districts again")
    return geometry
