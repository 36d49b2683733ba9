"""The MBTiles store (Web Mercator only): one SQLite file, TMS rows (``y`` flipped)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from geobase.errors import SourceReadError, TileStoreError
from geobase.tiles.encode import EXTENSIONS
from geobase.tiles.stores.base import PyramidReader, TileWriter


class MBTilesWriter(TileWriter):
    """MBTiles 1.3 (SQLite; Web Mercator only; TMS row numbering)."""

    kind = "mbtiles"

    def __init__(self, path, tms, fmt, *, update):
        if tms.id != "WebMercatorQuad":
            raise TileStoreError(
                f"MBTiles holds WebMercatorQuad tiles only (its specification), got {tms.id}; "
                "write a .pmtiles or .gpkg file or a directory instead"
            )
        super().__init__(path, tms, fmt, update=update)
        if update and self.path.is_file():
            shutil.copyfile(self.path, self.staging)
        self.db = sqlite3.connect(self.staging)
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS metadata (name TEXT PRIMARY KEY, value TEXT);
            CREATE TABLE IF NOT EXISTS tiles (zoom_level INTEGER, tile_column INTEGER,
                tile_row INTEGER, tile_data BLOB);
            CREATE UNIQUE INDEX IF NOT EXISTS tile_index ON tiles
                (zoom_level, tile_column, tile_row);
            """
        )

    def put(self, z, x, y, data):
        self.db.execute(
            "INSERT OR REPLACE INTO tiles VALUES (?, ?, ?, ?)", (z, x, (1 << z) - 1 - y, data)
        )
        self.written += len(data)

    def delete(self, z, x, y):
        self.db.execute(
            "DELETE FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
            (z, x, (1 << z) - 1 - y),
        )

    def stats(self):
        row = self.db.execute("SELECT count(*), coalesce(sum(length(tile_data)), 0) FROM tiles")
        count, size = row.fetchone()
        return int(count), int(size)

    def _finish(self, tilejson):
        w, s, e, n = tilejson["bounds"]
        meta = {
            "name": tilejson["name"],
            "format": EXTENSIONS[self.fmt],
            "bounds": f"{w},{s},{e},{n}",
            "center": ",".join(str(v) for v in tilejson["center"]),
            "minzoom": str(tilejson["minzoom"]),
            "maxzoom": str(tilejson["maxzoom"]),
            "type": "baselayer",
            "version": "1.3",
            "description": tilejson.get("description", ""),
            "json": json.dumps(tilejson, ensure_ascii=False),
        }
        self.db.execute("DELETE FROM metadata")
        self.db.executemany("INSERT INTO metadata VALUES (?, ?)", list(meta.items()))
        self.db.commit()
        self.db.close()

    def abort(self):
        try:
            self.db.close()
        finally:
            super().abort()


class MBTilesReader(PyramidReader):
    kind = "mbtiles"

    def __init__(self, path: Path):
        self.path = path
        try:
            self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
            meta = dict(self.db.execute("SELECT name, value FROM metadata").fetchall())
        except sqlite3.DatabaseError as exc:
            raise SourceReadError(f"{path}: not an MBTiles file ({exc})") from None
        if "json" in meta:
            self.tilejson = json.loads(meta["json"])
        else:
            fmt = {"jpg": "jpeg"}.get(meta.get("format", "png"), meta.get("format", "png"))
            self.tilejson = {
                "tilejson": "3.0.0",
                "format": fmt,
                "minzoom": int(meta.get("minzoom", 0)),
                "maxzoom": int(meta.get("maxzoom", 22)),
                "tilematrixset": "WebMercatorQuad",
            }

    def get_tile(self, z, x, y):
        row = self.db.execute(
            "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
            (z, x, (1 << z) - 1 - y),
        ).fetchone()
        return None if row is None else bytes(row[0])

    def tiles(self):
        rows = self.db.execute("SELECT zoom_level, tile_column, tile_row FROM tiles").fetchall()
        for z, x, row in sorted(rows):
            yield z, x, (1 << z) - 1 - row

    def close(self):
        self.db.close()
