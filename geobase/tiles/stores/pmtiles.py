"""The PMTiles v3 store: ``z/x/y`` of any quad grid whose level ``z`` has at most 2^z x 2^z tiles.

Tiles are staged, then written as one archive (:func:`geobase.tiles.pmarchive.write_archive`);
an update merges the staged tiles with the published archive's, by tile id.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from pmtiles.reader import MmapSource
from pmtiles.reader import Reader as _PMReader
from pmtiles.reader import all_tiles as _pm_all_tiles
from pmtiles.tile import (
    Compression,
    TileType,
    deserialize_directory,
    deserialize_header,
    zxy_to_tileid,
)

from geobase.errors import SourceReadError, TileStoreError
from geobase.tiles.pmarchive import write_archive
from geobase.tiles.stores.base import PyramidReader, TileWriter, _remove

_PM_TYPES = {"jpeg": TileType.JPEG, "png": TileType.PNG, "webp": TileType.WEBP}


class PMTilesWriter(TileWriter):
    """PMTiles v3, written clustered (tile id order) on commit, with memory independent of
    the number of tiles (:mod:`geobase.tiles.pmarchive`).

    Tiles are staged in SQLite by tile id: a full build's tiles, or an update's changes
    (None where a tile is deleted). On commit a full build's are streamed, by tile id,
    into the new archive; an update's are merged by tile id into the old archive's tiles,
    read from it as the new one is written: the old archive is never loaded whole, and
    stays in place until the new one is renamed over it.
    """

    kind = "pmtiles"

    def __init__(self, path, tms, fmt, *, update):
        super().__init__(path, tms, fmt, update=update)
        self.stage_db = self.staging.with_name(self.staging.name + ".sqlite")
        _remove(self.stage_db)
        self.merge = update and self.path.is_file()
        self.db = sqlite3.connect(self.stage_db)
        self.db.execute("PRAGMA journal_mode = OFF")
        self.db.execute("PRAGMA synchronous = OFF")
        self.db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB)")

    def put(self, z, x, y, data):
        self.db.execute("INSERT OR REPLACE INTO t VALUES (?, ?)", (zxy_to_tileid(z, x, y), data))
        self.written += len(data)

    def delete(self, z, x, y):
        if self.merge:
            self.db.execute("INSERT OR REPLACE INTO t VALUES (?, NULL)", (zxy_to_tileid(z, x, y),))
        else:
            self.db.execute("DELETE FROM t WHERE id = ?", (zxy_to_tileid(z, x, y),))

    def stats(self):
        count, size = self.db.execute(
            "SELECT count(*), coalesce(sum(length(data)), 0) FROM t"
        ).fetchone()
        return int(count), int(size)

    def _header(self, tilejson) -> dict:
        w, s, e, n = tilejson["bounds"]
        lon, lat, cz = tilejson["center"]
        return {
            "tile_type": _PM_TYPES[self.fmt],
            "tile_compression": Compression.NONE,
            "min_lon_e7": int(w * 1e7),
            "min_lat_e7": int(s * 1e7),
            "max_lon_e7": int(e * 1e7),
            "max_lat_e7": int(n * 1e7),
            "center_zoom": int(cz),
            "center_lon_e7": int(lon * 1e7),
            "center_lat_e7": int(lat * 1e7),
        }

    def _write(self, tiles, tilejson) -> tuple[int, int]:
        """Write (tile id, data) pairs, ascending, to the staging archive; (count, bytes)."""
        stats = write_archive(self.staging, tiles, self._header(tilejson), tilejson)
        self.written = self.staging.stat().st_size
        return stats

    def _staged(self) -> Iterator[tuple[int, bytes | None]]:
        return iter(self.db.execute("SELECT id, data FROM t ORDER BY id"))

    def _finish(self, tilejson):
        self._write(self._staged, tilejson)
        self.db.close()
        _remove(self.stage_db)

    def finish(self, tilejson):
        if not self.merge:
            return super().finish(tilejson)
        with open(self.path, "rb") as old:
            get = MmapSource(old)
            self.finished = self._write(lambda: self._merged(get), tilejson)
        self.db.close()
        _remove(self.stage_db)
        return self.finished

    def _merged(self, get) -> Iterator[tuple[int, bytes]]:
        """The old archive's tiles with this update's changes applied, by tile id."""
        changes = self._staged()
        change = next(changes, None)
        last = -1
        for tile_id, data in _pm_tiles_by_id(get):
            if tile_id <= last:  # every archive geobase writes is clustered
                raise TileStoreError(f"{self.path}: tiles not in tile id order; rebuild it")
            last = tile_id
            while change is not None and change[0] < tile_id:
                if change[1] is not None:
                    yield change[0], change[1]
                change = next(changes, None)
            if change is not None and change[0] == tile_id:
                if change[1] is not None:
                    yield change[0], change[1]
                change = next(changes, None)
                continue
            yield tile_id, data
        while change is not None:
            if change[1] is not None:
                yield change[0], change[1]
            change = next(changes, None)

    def abort(self):
        try:
            self.db.close()
        finally:
            _remove(self.stage_db)
            super().abort()


def _pm_tiles_by_id(get) -> Iterator[tuple[int, bytes]]:
    """(tile id, data) of every tile of a PMTiles archive, in its directories' order: like
    ``pmtiles.reader.all_tiles`` without its (z, x, y), which an update's commit would
    turn back into tile ids (about half of its time)."""
    header = deserialize_header(get(0, 127))

    def walk(offset, length):
        for entry in deserialize_directory(get(offset, length)):
            if entry.run_length == 0:  # a leaf directory
                yield from walk(header["leaf_directory_offset"] + entry.offset, entry.length)
                continue
            data = get(header["tile_data_offset"] + entry.offset, entry.length)
            for i in range(entry.run_length):
                yield entry.tile_id + i, data

    return walk(header["root_offset"], header["root_length"])


class PMTilesReader(PyramidReader):
    kind = "pmtiles"

    def __init__(self, path: Path):
        self.path = path
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        try:
            self._get = MmapSource(self._file)
            self._reader = _PMReader(self._get)
            self.header = self._reader.header()
            self.tilejson = self._reader.metadata()
        except Exception as exc:
            self._file.close()
            raise SourceReadError(f"{path}: not a PMTiles v3 archive ({exc})") from None

    def get_tile(self, z, x, y):
        if x < 0 or y < 0 or x >= (1 << z) or y >= (1 << z):
            return None
        data = self._reader.get(z, x, y)
        return None if data is None else bytes(data)

    def tiles(self):
        for (z, x, y), _ in _pm_all_tiles(self._get):
            yield z, x, y

    def close(self):
        self._file.close()
