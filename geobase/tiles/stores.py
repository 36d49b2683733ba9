"""Tile stores: a z/x/y directory, MBTiles (Web Mercator only), PMTiles v3 and GeoPackage
1.3 tiles (any tile matrix set whose levels all cover one extent).

Writers stage everything next to the output (``<out>.partial-<pid>``), finish it
(:meth:`TileWriter.finish`) and only then move it into place (:meth:`TileWriter.swap`:
one rename for a file; for a directory an atomic exchange where the system has one, else
two renames: :func:`geobase.paths.replace_path`), so a failed build leaves the old pyramid (or nothing) behind and the caller
can record what is about to be published between the two steps. An update starts from a
copy of the existing pyramid (hard links for a directory). What a killed build left
(``.partial-<pid>`` and ``.old-<pid>`` names of a process that no longer runs) is removed
by :func:`remove_leftovers`. The output's folder is created if missing.

Readers, for the server and for tests::

    reader = open_pyramid("ortho.pmtiles")
    reader.get_tile(18, 216035, 48533)  # bytes or None
    reader.tilejson, reader.tms, reader.format, reader.build_id

A reader reads one build for its whole life: the files it opened (a directory through a
handle on the folder itself), never what a later build renames over its path.

Tile numbering is always the tile matrix set's own (top-left origin, ``z`` = matrix id);
MBTiles stores TMS rows (``y`` flipped) as its specification says, and PMTiles stores
``z/x/y`` of any quad grid whose level ``z`` has at most ``2^z x 2^z`` tiles (true of
WebMercatorQuad and of CGCS2000Quad's Tianditu levels), with the grid named in its
metadata. GeoPackage stores the matrix id as ``zoom_level`` and ``tile_row`` from the top,
as its specification says, with the TileJSON (build id included) in a ``geobase_tilejson``
table registered as an extension.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

from morecantile.models import TileMatrixSet
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
from geobase.paths import replace_path
from geobase.store import gpkg
from geobase.store.leftovers import abandoned
from geobase.tiles.encode import EXTENSIONS, FORMATS
from geobase.tiles.pmarchive import write_archive
from geobase.tiles.tms import TMS

logger = logging.getLogger(__name__)

StoreKind = Literal["directory", "mbtiles", "pmtiles", "geopackage"]

#: store kinds that are one SQLite connection (a server shares it between threads)
SQLITE_KINDS = ("mbtiles", "geopackage")


def store_kind(path: str | Path) -> StoreKind:
    """The store kind an output path names (by its suffix)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".mbtiles":
        return "mbtiles"
    if suffix == ".pmtiles":
        return "pmtiles"
    if suffix == ".gpkg":
        return "geopackage"
    return "directory"


#: the key of a pyramid's TileJSON (in every store kind) naming the build that wrote it
BUILD_ID = "build_id"

# <name>.partial-<pid>[.sqlite|-journal...] and <name>.old-<pid>: a build's staging files
_LEFTOVER = re.compile(r"^(?P<name>.+)\.(?:partial|old)-(?P<pid>[0-9]{1,10})(?:[.-].*)?$")


def _partial(path: Path) -> Path:
    return path.with_name(f"{path.name}.partial-{os.getpid()}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def remove_leftovers(folder: str | Path, name: str | None = None) -> list[Path]:
    """Remove what killed tile builds left in ``folder``; returns the removed paths.

    Staging files and folders (``<name>.partial-<pid>...``) and the old pyramid of an
    interrupted swap (``<name>.old-<pid>``) are removed when process ``pid`` no longer
    runs (:func:`geobase.store.leftovers.abandoned`). With ``name``, only the leftovers of
    the output called ``name`` are looked at (an output folder that is not geobase's).
    """
    folder = Path(folder)
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for path in entries:
        match = _LEFTOVER.match(path.name)
        if match is None or (name is not None and match.group("name") != name):
            continue
        if not abandoned(int(match.group("pid"))):
            continue
        try:
            _remove(path)
        except FileNotFoundError:
            continue  # removed by another run meanwhile
        logger.info("removed what an interrupted tile build left: %s", path)
        removed.append(path)
    return removed


class TileWriter(ABC):
    """Base of the store writers: ``put``/``delete`` tiles, then ``finish`` and ``swap``,
    or ``abort``."""

    kind: StoreKind

    def __init__(self, path: Path, tms: TileMatrixSet, fmt: str, *, update: bool):
        if fmt not in FORMATS:
            raise TileStoreError(f"unknown tile format {fmt!r}; expected one of {FORMATS}")
        self.path = Path(path)
        self.tms = tms
        self.fmt = fmt
        self.update = update
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.staging = _partial(self.path)
        _remove(self.staging)
        self.written = 0  # bytes written by this build
        self.finished: tuple[int, int] | None = None

    @abstractmethod
    def put(self, z: int, x: int, y: int, data: bytes) -> None:
        """Stage one tile."""

    @abstractmethod
    def delete(self, z: int, x: int, y: int) -> None:
        """Remove one tile from the staged pyramid (an update that blanked it)."""

    @abstractmethod
    def stats(self) -> tuple[int, int]:
        """(tile count, tile bytes) of the staged pyramid."""

    @abstractmethod
    def _finish(self, tilejson: dict) -> None:
        """Write the store's metadata and close the staged pyramid."""

    def finish(self, tilejson: dict) -> tuple[int, int]:
        """Complete the staged pyramid (metadata written, store closed; nothing at the
        output's path has changed yet); returns (tiles, bytes)."""
        stats = self.stats()
        self._finish(tilejson)
        self.finished = stats
        return stats

    def swap(self) -> None:
        """Move the finished pyramid into place (after :meth:`finish`)."""
        if self.finished is None:
            raise TileStoreError(f"{self.path}: swap() before finish()")
        replace_path(
            self.staging,
            self.path,
            aside=self.path.with_name(f"{self.path.name}.old-{os.getpid()}"),
        )

    def abort(self) -> None:
        """Drop everything staged; the existing pyramid is untouched."""
        _remove(self.staging)


class DirectoryWriter(TileWriter):
    """``<out>/<z>/<x>/<y>.<ext>`` plus ``tilejson.json``."""

    kind = "directory"

    def __init__(self, path, tms, fmt, *, update):
        super().__init__(path, tms, fmt, update=update)
        self.ext = EXTENSIONS[fmt]
        if update and self.path.is_dir():
            shutil.copytree(self.path, self.staging, copy_function=os.link)
        else:
            self.staging.mkdir(parents=True)

    def _tile(self, z, x, y) -> Path:
        return self.staging / str(z) / str(x) / f"{y}.{self.ext}"

    def put(self, z, x, y, data):
        self.written += write_tile_file(self.staging, self.ext, z, x, y, data)

    def stored(self, size: int) -> None:
        """Count a tile a worker wrote into :attr:`staging` itself (:func:`write_tile_file`)."""
        self.written += size

    def delete(self, z, x, y):
        path = self._tile(z, x, y)
        if path.exists():
            path.unlink()

    def stats(self):
        count = size = 0
        for path in self.staging.glob(f"*/*/*.{self.ext}"):
            count += 1
            size += path.stat().st_size
        return count, size

    def _finish(self, tilejson):
        (self.staging / "tilejson.json").write_text(
            json.dumps(tilejson, indent=2, ensure_ascii=False), encoding="utf-8"
        )


def write_tile_file(root: str | Path, ext: str, z: int, x: int, y: int, data: bytes) -> int:
    """Write one tile of a directory pyramid staged at ``root`` (by the build's process or
    by a worker, on a folder they share); returns its size."""
    path = Path(root) / str(z) / str(x) / f"{y}.{ext}"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()  # may be a hard link to the live pyramid: never write through it
    path.write_bytes(data)
    return len(data)


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


#: the writer of each store kind: ``WRITERS[kind](path, tms, fmt, update=...)``
WRITERS: dict[str, Callable[..., TileWriter]] = {
    "directory": DirectoryWriter,
    "mbtiles": MBTilesWriter,
    "pmtiles": PMTilesWriter,
    "geopackage": GeoPackageWriter,
}


def open_writer(path: str | Path, tms: TileMatrixSet, fmt: str, *, update: bool = False):
    """A staging writer for the store kind that ``path`` names."""
    return WRITERS[store_kind(path)](Path(path), tms, fmt, update=update)


# --- readers -----------------------------------------------------------------------------


class PyramidReader(ABC):
    """Read access to a published pyramid: ``get_tile``, ``tilejson``, ``tms``, ``format``."""

    kind: StoreKind
    tilejson: dict

    @property
    def tms(self) -> TileMatrixSet:
        return TMS.get(self.tilejson.get("tilematrixset", "WebMercatorQuad"))

    @property
    def format(self) -> str:
        return self.tilejson["format"]

    @property
    def build_id(self) -> str | None:
        """The id of the build that wrote these tiles (None: written before builds had
        ids, or not by geobase)."""
        value = self.tilejson.get(BUILD_ID)
        return value if isinstance(value, str) else None

    @property
    def media_type(self) -> str:
        from geobase.tiles.encode import MEDIA_TYPES

        return MEDIA_TYPES[self.format]

    @abstractmethod
    def get_tile(self, z: int, x: int, y: int) -> bytes | None:
        """One tile's bytes, or None where the pyramid has no tile."""

    @abstractmethod
    def tiles(self) -> Iterator[tuple[int, int, int]]:
        """Every stored tile's (z, x, y)."""

    def close(self) -> None:  # noqa: B027 - stores without open handles need nothing
        """Release open handles (the directory store has none)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class DirectoryReader(PyramidReader):
    """Reads through a handle on the folder itself: a build swapped in later at the same
    path is not seen (its tiles are read by a new reader), and once the folder this
    reader opened is removed, its tiles are gone (None), never another build's."""

    kind = "directory"

    def __init__(self, path: Path):
        self.path = path
        try:
            self._dir = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            raise SourceReadError(f"{path}: not a geobase tile directory ({exc})") from None
        try:
            self.tilejson = json.loads(self._read("tilejson.json").decode("utf-8"))
            self.ext = EXTENSIONS[self.format]
        except (OSError, ValueError, KeyError) as exc:
            os.close(self._dir)
            raise SourceReadError(f"{path}: not a geobase tile directory ({exc!r})") from None

    def _read(self, name: str) -> bytes:
        fd = os.open(name, os.O_RDONLY, dir_fd=self._dir)
        with open(fd, "rb") as f:
            return f.read()

    def get_tile(self, z, x, y):
        try:
            return self._read(f"{int(z)}/{int(x)}/{int(y)}.{self.ext}")
        except (FileNotFoundError, NotADirectoryError):
            return None

    def tiles(self):
        found = []
        suffix = f".{self.ext}"
        for root, _dirs, files, _fd in os.fwalk(".", dir_fd=self._dir):
            parts = Path(root).parts
            if len(parts) != 2 or not all(p.isdigit() for p in parts):
                continue
            for name in files:
                if name.endswith(suffix) and name[: -len(suffix)].isdigit():
                    found.append((int(parts[0]), int(parts[1]), int(name[: -len(suffix)])))
        yield from sorted(found)

    def close(self):
        if self._dir >= 0:
            os.close(self._dir)
            self._dir = -1


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


def open_pyramid(path: str | Path) -> PyramidReader:
    """A reader for the pyramid at ``path`` (directory, ``.mbtiles``, ``.pmtiles`` or
    ``.gpkg``)."""
    path = Path(path)
    if not path.exists():
        raise SourceReadError(f"{path}: no such tile pyramid")
    kind = store_kind(path)
    if kind == "directory":
        return DirectoryReader(path)
    if kind == "mbtiles":
        return MBTilesReader(path)
    if kind == "geopackage":
        return GeoPackageReader(path)
    return PMTilesReader(path)
