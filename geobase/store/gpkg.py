"""OGC GeoPackage 1.3 on the standard library's sqlite3.

Written by hand because no well-kept library writes GeoPackage through plain sqlite3 with
transactions we control (GDAL/pyogrio write whole layers and own the connection); only the
format's small core is needed here: the geometry blob, the metadata tables, the spatial
reference systems and the R-tree spatial index extension with the triggers the
specification prescribes. The ``ST_*`` functions those triggers call are registered on
every connection (GDAL and QGIS register their own when they open the file).
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

# numpy, shapely and pyproj are imported where geometries or reference systems are made:
# opening a store and writing plain records (one CLI command per record) need none
if TYPE_CHECKING:
    import numpy as np
    from shapely.geometry.base import BaseGeometry

APPLICATION_ID = 0x47504B47  # "GPKG"
USER_VERSION = 10300  # GeoPackage 1.3.0
RTREE_EXTENSION = "http://www.geopackage.org/spec120/#extension_rtree"

_HEADER = struct.Struct("<2sBBi")
_ENVELOPE_XY = struct.Struct("<4d")
_ENVELOPE_SIZES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}

# Reference systems every geobase workspace carries: WGS 84 (required by the standard),
# CGCS2000 geographic, the Gauss-Kruger systems around Shantou and Web Mercator.
DEFAULT_SRS = (4326, 4490, 4548, 4527, 4479, 3857)


def encode(geom: BaseGeometry | None, srs_id: int) -> bytes | None:
    """A shapely geometry as a GeoPackage geometry blob (little-endian, XY envelope)."""
    import shapely

    if geom is None:
        return None
    if geom.is_empty:
        flags = 0b00010001  # empty flag, no envelope, little endian
        return _HEADER.pack(b"GP", 0, flags, srs_id) + shapely.to_wkb(geom, byte_order=1)
    flags = 0b00000011  # envelope type 1 (minx, maxx, miny, maxy), little endian
    minx, miny, maxx, maxy = geom.bounds
    return (
        _HEADER.pack(b"GP", 0, flags, srs_id)
        + _ENVELOPE_XY.pack(minx, maxx, miny, maxy)
        + shapely.to_wkb(geom, byte_order=1)
    )


def encode_many(geoms: Sequence[BaseGeometry] | np.ndarray, srs_id: int) -> list[bytes]:
    """Vectorised :func:`encode` for an array of non-empty geometries."""
    import numpy as np
    import shapely

    geoms = np.asarray(geoms, dtype=object)
    if len(geoms) == 0:
        return []
    wkbs = shapely.to_wkb(geoms, byte_order=1)
    bounds = shapely.bounds(geoms)
    header = _HEADER.pack(b"GP", 0, 0b00000011, srs_id)
    return [
        header + _ENVELOPE_XY.pack(b[0], b[2], b[1], b[3]) + w
        for b, w in zip(bounds.tolist(), wkbs, strict=True)
    ]


def _wkb_offset(blob: bytes) -> int:
    flags = blob[3]
    return 8 + _ENVELOPE_SIZES[(flags >> 1) & 0b111]


def decode(blob: bytes | None) -> BaseGeometry | None:
    """A GeoPackage geometry blob as a shapely geometry."""
    import shapely

    if blob is None:
        return None
    return shapely.from_wkb(bytes(blob[_wkb_offset(blob) :]))


def decode_many(blobs: Iterable[bytes | None]) -> np.ndarray:
    """Vectorised :func:`decode`."""
    import numpy as np
    import shapely

    wkbs = [None if b is None else bytes(b[_wkb_offset(b) :]) for b in blobs]
    return shapely.from_wkb(np.array(wkbs, dtype=object))


def srs_id_of(blob: bytes) -> int:
    """The srs_id written in a blob's header."""
    return _HEADER.unpack_from(blob)[3]


def envelope(blob: bytes) -> tuple[float, float, float, float] | None:
    """(minx, maxx, miny, maxy) of a blob, from its header or else its geometry."""
    if blob is None:
        return None
    flags = blob[3]
    if flags & 0b00010000:  # empty
        return None
    if (flags >> 1) & 0b111:
        return _ENVELOPE_XY.unpack_from(blob, 8)
    geom = decode(blob)
    if geom is None:
        return None
    minx, miny, maxx, maxy = geom.bounds
    return (minx, maxx, miny, maxy)


def register_functions(conn: sqlite3.Connection) -> None:
    """Register the ``ST_*`` SQL functions the R-tree triggers call.

    A trigger calls ST_MinX, ST_MaxX, ST_MinY and ST_MaxY on the same blob in a row; the
    envelope of the last blob is kept so that each row's header is parsed once.
    """
    last: list = [None, None]

    def env(blob):
        if blob != last[0]:
            last[0], last[1] = blob, envelope(blob)
        return last[1]

    def part(index: int):
        def fn(blob):
            e = env(blob)
            return None if e is None else e[index]

        return fn

    det = {"deterministic": True}
    conn.create_function(
        "ST_IsEmpty", 1, lambda b: None if b is None else int(bool(b[3] & 0x10)), **det
    )
    conn.create_function("ST_MinX", 1, part(0), **det)
    conn.create_function("ST_MaxX", 1, part(1), **det)
    conn.create_function("ST_MinY", 1, part(2), **det)
    conn.create_function("ST_MaxY", 1, part(3), **det)


CORE_SQL = """
CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (
  srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
CREATE TABLE IF NOT EXISTS gpkg_contents (
  table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
  description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT
  (strftime('%Y-%m-%dT%H:%M:%fZ','now')), min_x DOUBLE, min_y DOUBLE, max_x DOUBLE,
  max_y DOUBLE, srs_id INTEGER,
  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (
  table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
  CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
  CONSTRAINT uk_gc_table_name UNIQUE (table_name),
  CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
  CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
CREATE TABLE IF NOT EXISTS gpkg_extensions (
  table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL, definition TEXT NOT NULL,
  scope TEXT NOT NULL,
  CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name));
"""


def initialise(conn: sqlite3.Connection) -> None:
    """Create the GeoPackage 1.3 core tables (idempotent).

    The file's ``application_id`` and ``user_version`` are set when it is created,
    outside any transaction (see ``GeoPackageStore``).
    """
    for statement in CORE_SQL.split(";"):
        if statement.strip():
            conn.execute(statement)
    rows = [
        (
            "Undefined cartesian SRS",
            -1,
            "NONE",
            -1,
            "undefined",
            "undefined cartesian coordinate reference system",
        ),
        (
            "Undefined geographic SRS",
            0,
            "NONE",
            0,
            "undefined",
            "undefined geographic coordinate reference system",
        ),
    ]
    conn.executemany("INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)", rows)
    for epsg in DEFAULT_SRS:
        ensure_srs(conn, epsg)


def ensure_srs(conn: sqlite3.Connection, epsg: int) -> int:
    """Add an EPSG reference system to gpkg_spatial_ref_sys if missing; return its srs_id."""
    if conn.execute("SELECT 1 FROM gpkg_spatial_ref_sys WHERE srs_id = ?", (epsg,)).fetchone():
        return epsg
    from pyproj import CRS
    from pyproj.enums import WktVersion

    crs = CRS.from_epsg(epsg)
    conn.execute(
        "INSERT INTO gpkg_spatial_ref_sys VALUES (?, ?, 'EPSG', ?, ?, ?)",
        (crs.name, epsg, epsg, crs.to_wkt(WktVersion.WKT1_GDAL), crs.name),
    )
    return epsg


def create_feature_table(
    conn: sqlite3.Connection,
    table: str,
    columns: Sequence[str],
    geometry_type: str,
    srs_id: int,
    *,
    geometry_column: str = "geom",
    description: str = "",
    z: bool = False,
) -> None:
    """Create a feature table with an ``fid`` key, register it and index it with an R-tree."""
    ensure_srs(conn, srs_id) if srs_id > 0 else None
    cols = ", ".join(
        ["fid INTEGER PRIMARY KEY AUTOINCREMENT", f"{geometry_column} {geometry_type}", *columns]
    )
    conn.execute(f"CREATE TABLE {table} ({cols})")
    conn.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) "
        "VALUES (?, 'features', ?, ?, ?)",
        (table, table, description, srs_id),
    )
    conn.execute(
        "INSERT INTO gpkg_geometry_columns VALUES (?, ?, ?, ?, ?, 0)",
        (table, geometry_column, geometry_type.upper(), srs_id, 1 if z else 0),
    )
    create_rtree(conn, table, geometry_column)


def create_attribute_table(
    conn: sqlite3.Connection, table: str, columns: Sequence[str], description: str = ""
) -> None:
    """Create a non-spatial table with an ``fid`` key and register it as attributes."""
    cols = ", ".join(["fid INTEGER PRIMARY KEY AUTOINCREMENT", *columns])
    conn.execute(f"CREATE TABLE {table} ({cols})")
    conn.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, description) "
        "VALUES (?, 'attributes', ?, ?)",
        (table, table, description),
    )


def create_rtree(conn: sqlite3.Connection, t: str, c: str, i: str = "fid") -> None:
    """The R-tree spatial index extension with the GeoPackage 1.3 triggers."""
    r = f"rtree_{t}_{c}"
    conn.execute(f"CREATE VIRTUAL TABLE {r} USING rtree(id, minx, maxx, miny, maxy)")
    values = f"NEW.{i}, ST_MinX(NEW.{c}), ST_MaxX(NEW.{c}), ST_MinY(NEW.{c}), ST_MaxY(NEW.{c})"
    triggers = {
        "insert": f"AFTER INSERT ON {t} WHEN (new.{c} NOT NULL AND NOT ST_IsEmpty(NEW.{c})) "
        f"BEGIN INSERT OR REPLACE INTO {r} VALUES ({values}); END",
        "update1": f"AFTER UPDATE OF {c} ON {t} WHEN OLD.{i} = NEW.{i} AND "
        f"(NEW.{c} NOTNULL AND NOT ST_IsEmpty(NEW.{c})) "
        f"BEGIN INSERT OR REPLACE INTO {r} VALUES ({values}); END",
        "update2": f"AFTER UPDATE OF {c} ON {t} WHEN OLD.{i} = NEW.{i} AND "
        f"(NEW.{c} ISNULL OR ST_IsEmpty(NEW.{c})) "
        f"BEGIN DELETE FROM {r} WHERE id = OLD.{i}; END",
        "update3": f"AFTER UPDATE ON {t} WHEN OLD.{i} != NEW.{i} AND "
        f"(NEW.{c} NOTNULL AND NOT ST_IsEmpty(NEW.{c})) "
        f"BEGIN DELETE FROM {r} WHERE id = OLD.{i}; INSERT OR REPLACE INTO {r} VALUES ({values}); END",
        "update4": f"AFTER UPDATE ON {t} WHEN OLD.{i} != NEW.{i} AND "
        f"(NEW.{c} ISNULL OR ST_IsEmpty(NEW.{c})) "
        f"BEGIN DELETE FROM {r} WHERE id IN (OLD.{i}, NEW.{i}); END",
        "delete": f"AFTER DELETE ON {t} WHEN old.{c} NOT NULL "
        f"BEGIN DELETE FROM {r} WHERE id = OLD.{i}; END",
    }
    for name, body in triggers.items():
        conn.execute(f"CREATE TRIGGER {r}_{name} {body}")
    conn.execute(
        "INSERT INTO gpkg_extensions VALUES (?, ?, 'gpkg_rtree_index', ?, 'write-only')",
        (t, c, RTREE_EXTENSION),
    )


def update_extent(conn: sqlite3.Connection, table: str, geometry_column: str = "geom") -> None:
    """Refresh gpkg_contents' bounding box of a feature table from its R-tree."""
    row = conn.execute(
        f"SELECT min(minx), min(miny), max(maxx), max(maxy) FROM rtree_{table}_{geometry_column}"
    ).fetchone()
    conn.execute(
        "UPDATE gpkg_contents SET min_x = ?, min_y = ?, max_x = ?, max_y = ?, "
        "last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE table_name = ?",
        (*row, table),
    )


TILES_SQL = """
CREATE TABLE IF NOT EXISTS gpkg_tile_matrix_set (
  table_name TEXT NOT NULL PRIMARY KEY, srs_id INTEGER NOT NULL, min_x DOUBLE NOT NULL,
  min_y DOUBLE NOT NULL, max_x DOUBLE NOT NULL, max_y DOUBLE NOT NULL,
  CONSTRAINT fk_gtms_table_name FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
  CONSTRAINT fk_gtms_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
CREATE TABLE IF NOT EXISTS gpkg_tile_matrix (
  table_name TEXT NOT NULL, zoom_level INTEGER NOT NULL, matrix_width INTEGER NOT NULL,
  matrix_height INTEGER NOT NULL, tile_width INTEGER NOT NULL, tile_height INTEGER NOT NULL,
  pixel_x_size DOUBLE NOT NULL, pixel_y_size DOUBLE NOT NULL,
  CONSTRAINT pk_ttm PRIMARY KEY (table_name, zoom_level),
  CONSTRAINT fk_tmm_table_name FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name));
"""

#: the GeoPackage extension for WebP tiles
WEBP_EXTENSION = "http://www.geopackage.org/spec/#extension_tiles_webp"


def create_tile_table(
    conn: sqlite3.Connection,
    table: str,
    srs_id: int,
    extent: tuple[float, float, float, float],
    *,
    description: str = "",
    webp: bool = False,
) -> None:
    """Create a tile pyramid user data table (GeoPackage 1.3 section 2.2) and register it
    with its tile matrix set's ``extent`` (min x, min y, max x, max y in ``srs_id``)."""
    for statement in TILES_SQL.split(";"):
        if statement.strip():
            conn.execute(statement)
    ensure_srs(conn, srs_id)
    conn.execute(
        f'CREATE TABLE "{table}" (id INTEGER PRIMARY KEY AUTOINCREMENT, '
        "zoom_level INTEGER NOT NULL, tile_column INTEGER NOT NULL, "
        "tile_row INTEGER NOT NULL, tile_data BLOB NOT NULL, "
        "UNIQUE (zoom_level, tile_column, tile_row))"
    )
    conn.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) "
        "VALUES (?, 'tiles', ?, ?, ?)",
        (table, table, description, srs_id),
    )
    conn.execute(
        "INSERT INTO gpkg_tile_matrix_set VALUES (?, ?, ?, ?, ?, ?)", (table, srs_id, *extent)
    )
    if webp:
        conn.execute(
            "INSERT INTO gpkg_extensions VALUES (?, 'tile_data', 'gpkg_webp', ?, 'read-write')",
            (table, WEBP_EXTENSION),
        )


def set_tile_matrices(
    conn: sqlite3.Connection,
    table: str,
    matrices: Sequence[tuple[int, int, int, int, int, float, float]],
    bounds: tuple[float, float, float, float],
) -> None:
    """Replace a tile table's ``gpkg_tile_matrix`` rows (zoom_level, matrix_width,
    matrix_height, tile_width, tile_height, pixel_x_size, pixel_y_size) and set its
    ``gpkg_contents`` bounds (of the data, in the table's SRS)."""
    conn.execute("DELETE FROM gpkg_tile_matrix WHERE table_name = ?", (table,))
    conn.executemany(
        "INSERT INTO gpkg_tile_matrix VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(table, *m) for m in matrices],
    )
    conn.execute(
        "UPDATE gpkg_contents SET min_x = ?, min_y = ?, max_x = ?, max_y = ?, "
        "last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE table_name = ?",
        (*bounds, table),
    )
