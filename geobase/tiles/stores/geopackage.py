"""The GeoPackage 1.3 tiles store: any tile matrix set whose levels all cover one extent.

The matrix id is the ``zoom_level`` and ``tile_row`` counts from the top, as the
specification says; the TileJSON (build id included) is kept in a ``geobase_tilejson``
table registered as an extension (:data:`GPKG_TILEJSON`).
"""

from __future__ import annotations

import json
import math
import re
import shutil
import sqlite3
from pathlib import Path

from morecantile.models import TileMatrixSet

from geobase.errors import SourceReadError, TileStoreError
from geobase.store import gpkg
from geobase.tiles.stores.base import PyramidReader, TileWriter

#: the geobase table of a GeoPackage pyramid's TileJSON (registered in gpkg_extensions)
GPKG_TILEJSON = "geobase_tilejson"


def gpkg_table(path: str | Path) -> str:
    """The tile table of a GeoPackage pyramid written at ``path``: its file name's stem,
    letters, digits and ``_`` only (``dom-2024.gpkg``: ``dom_2024``)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", Path(path).stem)
    return name if name[:1].isalpha() else f"t_{name}"


def gpkg_matrices(
    tms: TileMatrixSet,
) -> tuple[
    int, tuple[float, float, float, float], list[tuple[int, int, int, int, int, float, float]]
]:
    """(EPSG code, extent, rows of gpkg_tile_matrix for every level) of a tile matrix set.

    A GeoPackage tile matrix set has one extent that every level's matrix covers exactly;
    a tile matrix set whose levels differ (variable widths, other origins) is refused.
    """
    from morecantile import Tile

    epsg = tms.crs.to_epsg()
    if epsg is None:
        raise TileStoreError(f"GeoPackage needs an EPSG CRS; {tms.id} is on {tms.crs}")
    rows: list[tuple[int, int, int, int, int, float, float]] = []
    extent: tuple[float, float, float, float] | None = None
    for m in tms.tileMatrices:
        z = int(m.id)
        if getattr(m, "variableMatrixWidths", None):
            raise TileStoreError(
                f"{tms.id} level {z} has variable matrix widths; GeoPackage cannot hold it"
            )
        w, h = m.matrixWidth, m.matrixHeight
        first = tms.xy_bounds(Tile(0, 0, z))
        last = tms.xy_bounds(Tile(w - 1, h - 1, z))
        box = (first.left, last.bottom, last.right, first.top)
        if extent is None:
            extent = box
        span = max(extent[2] - extent[0], extent[3] - extent[1])
        if max(abs(a - b) for a, b in zip(box, extent, strict=True)) > 1e-9 * span:
            raise TileStoreError(
                f"{tms.id} level {z} covers {box}, level {rows[0][0]} {extent}: a GeoPackage "
                "tile matrix set has one extent for every level"
            )
        px = (extent[2] - extent[0]) / (w * m.tileWidth)
        py = (extent[3] - extent[1]) / (h * m.tileHeight)
        rows.append((z, w, h, m.tileWidth, m.tileHeight, px, py))
    if extent is None:
        raise TileStoreError(f"{tms.id} has no tile matrices")
    return epsg, extent, rows


class GeoPackageWriter(TileWriter):
    """GeoPackage 1.3 tiles (SQLite): one tile table named after the file, the tile
    matrix set's levels as zoom levels, rows counted from the top."""

    kind = "geopackage"

    def __init__(self, path, tms, fmt, *, update):
        self.epsg, self.extent, self.matrices = gpkg_matrices(tms)
        super().__init__(path, tms, fmt, update=update)
        self.table = gpkg_table(self.path)
        existing = update and self.path.is_file()
        if existing:
            shutil.copyfile(self.path, self.staging)
        self.db = sqlite3.connect(self.staging)
        if existing:
            found = self.db.execute(
                f"SELECT tilejson FROM {GPKG_TILEJSON} WHERE table_name = ?", (self.table,)
            ).fetchone()
            if found is None:
                self.abort()
                raise TileStoreError(f"{self.path}: no geobase tile table {self.table}; rebuild it")
            return
        self.db.execute(f"PRAGMA application_id = {gpkg.APPLICATION_ID}")
        self.db.execute(f"PRAGMA user_version = {gpkg.USER_VERSION}")
        with self.db:
            gpkg.initialise(self.db)
            gpkg.create_tile_table(self.db, self.table, self.epsg, self.extent, webp=fmt == "webp")
            self.db.execute(
                f"CREATE TABLE {GPKG_TILEJSON} (table_name TEXT PRIMARY KEY, tilejson TEXT NOT NULL)"
            )
            self.db.execute(
                "INSERT INTO gpkg_extensions VALUES (?, NULL, ?, ?, 'write-only')",
                (GPKG_TILEJSON, GPKG_TILEJSON, "geobase: the TileJSON of each tile table"),
            )

    def put(self, z, x, y, data):
        self.db.execute(
            f'INSERT OR REPLACE INTO "{self.table}" (zoom_level, tile_column, tile_row, '
            "tile_data) VALUES (?, ?, ?, ?)",
            (z, x, y, data),
        )
        self.written += len(data)

    def delete(self, z, x, y):
        self.db.execute(
            f'DELETE FROM "{self.table}" WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?',
            (z, x, y),
        )

    def stats(self):
        row = self.db.execute(
            f'SELECT count(*), coalesce(sum(length(tile_data)), 0) FROM "{self.table}"'
        )
        count, size = row.fetchone()
        return int(count), int(size)

    def _finish(self, tilejson):
        lo, hi = int(tilejson["minzoom"]), int(tilejson["maxzoom"])
        w, s, e, n = tilejson["bounds"]
        x0, y0 = self.tms.xy(w, s)
        x1, y1 = self.tms.xy(e, n)
        # GDAL's raster starts at these bounds (rounding its shift to whole pixels): snapped
        # outwards to the deepest level's pixel grid, its pixels are the tiles' pixels
        px, py = next(m[5:] for m in self.matrices if m[0] == hi)
        left, _, _, top = self.extent
        bounds = (
            left + math.floor((x0 - left) / px + 1e-6) * px,
            top - math.ceil((top - y0) / py - 1e-6) * py,
            left + math.ceil((x1 - left) / px - 1e-6) * px,
            top - math.floor((top - y1) / py + 1e-6) * py,
        )
        with self.db:
            gpkg.set_tile_matrices(
                self.db, self.table, [m for m in self.matrices if lo <= m[0] <= hi], bounds
            )
            self.db.execute(
                "UPDATE gpkg_contents SET identifier = ?, description = ? WHERE table_name = ?",
                (tilejson["name"], tilejson.get("description", ""), self.table),
            )
            self.db.execute(
                f"INSERT OR REPLACE INTO {GPKG_TILEJSON} VALUES (?, ?)",
                (self.table, json.dumps(tilejson, ensure_ascii=False)),
            )
        self.db.close()

    def abort(self):
        try:
            self.db.close()
        finally:
            super().abort()


class GeoPackageReader(PyramidReader):
    """A GeoPackage pyramid geobase wrote (its TileJSON in ``geobase_tilejson``)."""

    kind = "geopackage"

    def __init__(self, path: Path):
        self.path = path
        try:
            self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
            rows = self.db.execute(f"SELECT table_name, tilejson FROM {GPKG_TILEJSON}").fetchall()
        except sqlite3.DatabaseError as exc:
            raise SourceReadError(f"{path}: not a GeoPackage geobase wrote ({exc})") from None
        if len(rows) != 1:
            self.db.close()
            raise SourceReadError(f"{path}: {len(rows)} geobase tile tables, expected one")
        self.table, text = rows[0]
        self.tilejson = json.loads(text)

    def get_tile(self, z, x, y):
        row = self.db.execute(
            f'SELECT tile_data FROM "{self.table}" '
            "WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
            (z, x, y),
        ).fetchone()
        return None if row is None else bytes(row[0])

    def tiles(self):
        rows = self.db.execute(
            f'SELECT zoom_level, tile_column, tile_row FROM "{self.table}"'
        ).fetchall()
        yield from sorted(rows)

    def close(self):
        self.db.close()
