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

One module per store kind: :mod:`~geobase.tiles.stores.directory`,
:mod:`~geobase.tiles.stores.mbtiles`, :mod:`~geobase.tiles.stores.pmtiles`,
:mod:`~geobase.tiles.stores.geopackage`, on the shared interface of
:mod:`~geobase.tiles.stores.base`; this package picks the kind (:func:`open_writer`,
:func:`open_pyramid`) and re-exports them all.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from morecantile.models import TileMatrixSet

from geobase.errors import SourceReadError
from geobase.tiles.stores.base import (
    BUILD_ID,
    SQLITE_KINDS,
    PyramidReader,
    StoreKind,
    TileWriter,
    remove_leftovers,
    store_kind,
)
from geobase.tiles.stores.directory import DirectoryReader, DirectoryWriter, write_tile_file
from geobase.tiles.stores.geopackage import (
    GPKG_TILEJSON,
    GeoPackageReader,
    GeoPackageWriter,
    gpkg_matrices,
    gpkg_table,
)
from geobase.tiles.stores.mbtiles import MBTilesReader, MBTilesWriter
from geobase.tiles.stores.pmtiles import PMTilesReader, PMTilesWriter

__all__ = [
    "BUILD_ID",
    "GPKG_TILEJSON",
    "SQLITE_KINDS",
    "WRITERS",
    "DirectoryReader",
    "DirectoryWriter",
    "GeoPackageReader",
    "GeoPackageWriter",
    "MBTilesReader",
    "MBTilesWriter",
    "PMTilesReader",
    "PMTilesWriter",
    "PyramidReader",
    "StoreKind",
    "TileWriter",
    "gpkg_matrices",
    "gpkg_table",
    "open_pyramid",
    "open_writer",
    "remove_leftovers",
    "store_kind",
    "write_tile_file",
]


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
