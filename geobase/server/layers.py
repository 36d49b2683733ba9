"""The pyramids being served, as layers: what they are, who may see them, their tiles.

A :class:`Layer` is a pyramid registered by the tiles package (its ``pyramids`` table),
with its tile matrix set, zoom range, bounds, classification and an open tile reader.
The :class:`LayerRegistry` re-reads the table every few seconds (a pyramid built while
the service runs appears without a restart), hides what the caller's clearance does not
reach (a hidden layer and a missing one give the same answer), refuses stores outside
the workspace, and keeps recently served tiles in a bounded memory cache, keyed by the
build the tiles were read from (:meth:`Layer.cache_key`): tiles of two builds of one
pyramid are never mixed, however a rebuild and the refresh interleave. A layer's reader
reads one build for its whole life (see :func:`geobase.server.pyramids.open_reader`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from morecantile.models import TileMatrixSet

from geobase.classification import may_see
from geobase.errors import NotFoundError
from geobase.names import is_name
from geobase.server.http import MEDIA_TYPES, etag_for
from geobase.store import Workspace
from geobase.tiles.tms import tms_id

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Layer:
    """A servable pyramid.

    Attributes:
        name: the pyramid's name (layer identifier in URLs and WMTS).
        title: a label for people.
        tms: its tile matrix set.
        minzoom, maxzoom: the zoom levels (matrix ids) it holds.
        format: the tile format (png, jpeg, webp).
        bounds: (west, south, east, north) in degrees.
        classification: public, internal or restricted.
        path: its store (file or folder) inside the workspace.
        build: the id of the build ``read`` reads (None: built before builds had ids).
        read: ``read(z, x, y) -> bytes | None``.
        encoding: how terrain-RGB pixels encode heights (``mapbox``); None for pictures.
        datasets: the catalogue datasets its build painted (ids).
    """

    name: str
    title: str
    tms: TileMatrixSet
    minzoom: int
    maxzoom: int
    format: str
    bounds: tuple[float, float, float, float]
    classification: str
    path: Path
    read: Callable[[int, int, int], bytes | None] = field(repr=False, compare=False)
    close: Callable[[], None] = field(default=lambda: None, repr=False, compare=False)
    build: str | None = None
    encoding: str | None = None
    datasets: tuple[str, ...] = ()

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]

    @property
    def tms_id(self) -> str:
        """The id of its tile matrix set (every set geobase serves has one)."""
        return tms_id(self.tms)

    def cache_key(self, z: int, x: int, y: int) -> tuple:
        """The tile cache's key of a tile of this layer (by path and build)."""
        return (self.name, self.path, self.build, z, x, y)

    @property
    def ext(self) -> str:
        """The file extension of its tiles in URLs (``jpg`` for JPEG)."""
        return "jpg" if self.format in ("jpg", "jpeg") else self.format

    @property
    def extensions(self) -> tuple[str, ...]:
        return ("jpg", "jpeg") if self.format in ("jpg", "jpeg") else (self.format,)

    def matrix_size(self, z: int) -> tuple[int, int]:
        """(columns, rows) of matrix ``z``."""
        m = self.tms.matrix(z)
        return m.matrixWidth, m.matrixHeight

    def tile_limits(self, z: int) -> tuple[int, int, int, int]:
        """(min col, min row, max col, max row) of the tiles meeting the bounds at ``z``."""
        west, south, east, north = self.bounds
        cols, rows = self.matrix_size(z)
        eps = 1e-9
        ul = self.tms.tile(west + eps, north - eps, z)
        lr = self.tms.tile(east - eps, south + eps, z)
        return (
            max(0, min(ul.x, lr.x)),
            max(0, min(ul.y, lr.y)),
            min(cols - 1, max(ul.x, lr.x)),
            min(rows - 1, max(ul.y, lr.y)),
        )


class TileCache:
    """A thread-safe LRU cache of tiles (bytes and ETag) bounded by total size."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple, tuple[bytes, str]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: tuple) -> tuple[bytes, str] | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: tuple, body: bytes) -> tuple[bytes, str]:
        item = (body, etag_for(body))
        if len(body) > self.max_bytes // 8:
            return item
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= len(old[0])
            self._items[key] = item
            self._size += len(body)
            while self._size > self.max_bytes and self._items:
                _, (dropped, _) = self._items.popitem(last=False)
                self._size -= len(dropped)
        return item

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._size = 0


class LayerRegistry:
    """The workspace's pyramids as layers, refreshed from the store every ``refresh_s``."""

    def __init__(self, ws: Workspace, *, cache_bytes: int = 64 * 2**20, refresh_s: float = 5.0):
        self.ws = ws
        self.refresh_s = refresh_s
        self.cache = TileCache(cache_bytes)
        self._layers: dict[str, Layer] = {}
        self._signature: tuple | None = None
        self._state: tuple | None = None
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()
        #: what documents built from the layers and the catalogue (capabilities,
        #: TileJSON, layer titles) are kept for; renewed when either changes
        self.documents = DocumentCache()
        #: called with the layers after every refresh (the nginx marks, if kept)
        self.on_refresh: Callable[[dict[str, Layer]], object] | None = None

    # --- what exists -------------------------------------------------------------------

    def all(self) -> dict[str, Layer]:
        """Every servable layer (regardless of classification)."""
        if time.monotonic() - self._loaded_at >= self.refresh_s:
            with self._lock:
                if time.monotonic() - self._loaded_at >= self.refresh_s:
                    self._reload()
        return self._layers

    @property
    def fresh(self) -> bool:
        """Whether :meth:`all` answers without reading the store (within ``refresh_s``)."""
        return time.monotonic() - self._loaded_at < self.refresh_s

    def visible(self, clearance: str) -> list[Layer]:
        """Layers a caller with ``clearance`` may see, by name."""
        return [
            layer
            for name, layer in sorted(self.all().items())
            if may_see(layer.classification, clearance)
        ]

    def get(self, name: str, clearance: str) -> Layer:
        """The layer called ``name`` if the caller may see it; otherwise NotFoundError.

        A restricted layer and a layer that does not exist give the same error.
        """
        layer = self.all().get(name)
        if layer is None or not may_see(layer.classification, clearance):
            raise NotFoundError(f"no pyramid named {name[:80]!r}")
        return layer

    def tile(self, layer: Layer, z: int, x: int, y: int) -> tuple[bytes, str]:
        """A tile's bytes and ETag; NotFoundError outside the matrix or where none was built."""
        if not layer.minzoom <= z <= layer.maxzoom:
            raise NotFoundError(
                f"zoom {z} is outside pyramid {layer.name!r} ({layer.minzoom}-{layer.maxzoom})"
            )
        cols, rows = layer.matrix_size(z)
        if not (0 <= x < cols and 0 <= y < rows):
            raise NotFoundError(
                f"tile {z}/{x}/{y} is outside the {layer.tms_id} matrix ({cols} x {rows})"
            )
        key = layer.cache_key(z, x, y)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        body = layer.read(z, x, y)
        if body is None:
            raise NotFoundError(f"pyramid {layer.name!r} has no tile {z}/{x}/{y}")
        return self.cache.put(key, body)

    # --- loading -----------------------------------------------------------------------

    def _reload(self) -> None:
        from geobase.server import pyramids

        try:
            records = pyramids.records(self.ws)
        except Exception as exc:  # a broken table must not take the service down
            logger.error("cannot read the pyramid registry: %s", exc)
            records = []
        signature = tuple(sorted((r["name"], repr(sorted(r.items()))) for r in records))
        state = _catalogue_state(self.ws)
        self._loaded_at = time.monotonic()
        changed = state != self._state or signature != self._signature
        if signature != self._signature:
            self._replace(records, signature)
        if changed:
            # a build, a reclassification, a new dataset version or a publication: the
            # documents describing the layers are made again (from the new layers)
            self.documents.renew((signature, state))
            self._state = state
        if self.on_refresh is not None:
            try:
                self.on_refresh(self._layers)
            except Exception as exc:  # nginx then asks for every tile
                logger.error("cannot refresh the nginx marks: %s", exc)

    def _replace(self, records: list[dict[str, Any]], signature: tuple) -> None:
        old = self._layers
        layers: dict[str, Layer] = {}
        for rec in records:
            layer = self._make_layer(rec, old.get(rec["name"]))
            if layer is not None:
                layers[layer.name] = layer
        for name, layer in old.items():
            successor = layers.get(name)
            if successor is None or successor.read is not layer.read:
                _close(layer)
        self._layers = layers
        self._signature = signature
        self.cache.clear()

    def _make_layer(self, rec: dict[str, Any], previous: Layer | None) -> Layer | None:
        from geobase.server import pyramids

        name = rec["name"]
        if not is_name(name):
            logger.warning("pyramid %r: name not usable in URLs; not served", name)
            return None
        path = self.ws.file(rec["path"]).resolve()
        roots = (self.ws.data_root.resolve(), self.ws.root.resolve())
        if not any(path.is_relative_to(root) for root in roots):
            logger.warning(
                "pyramid %r: store %s is outside the workspace and its data root; not served",
                name,
                path,
            )
            return None
        if (
            previous is not None
            and previous.path == path
            and previous.format == rec["format"]
            and previous.tms.id == rec["tms"].id
            # the same build, or any while one publishes (its classification covers both)
            and (previous.build == rec.get("build_id") or rec.get("publishing"))
        ):
            return Layer(**{**_fields(previous), **_layer_values(rec, path)})
        try:
            read, close, build = pyramids.open_reader(path, rec)
        except Exception as exc:
            logger.warning("pyramid %r: cannot open %s (%s); not served", name, path, exc)
            return None
        return Layer(read=read, close=close, build=build, **_layer_values(rec, path))

    def close(self) -> None:
        with self._lock:
            for layer in self._layers.values():
                _close(layer)
            self._layers = {}
            self._signature = None
            self._state = None
            self._loaded_at = float("-inf")
            self.cache.clear()
            self.documents.renew(None)


def _catalogue_state(ws: Workspace) -> tuple | None:
    """The newest row of each table the layers' documents are made from (records are
    only ever appended: a new row is a change); None where it cannot be read."""
    try:
        with ws.store.read() as tx:
            row = tx.query_one(
                "SELECT (SELECT max(fid) FROM pyramids) AS pyramids, "
                "(SELECT max(fid) FROM datasets) AS datasets, "
                "(SELECT max(fid) FROM dataset_events) AS events, "
                "(SELECT max(fid) FROM publications) AS publications"
            )
    except Exception as exc:  # documents are then renewed at every refresh
        logger.warning("cannot read the catalogue's state: %s", exc)
        return (time.monotonic(),)
    return tuple(row.values()) if row else None


class DocumentCache:
    """Documents made from the layers and the catalogue, kept until either changes.

    :meth:`LayerRegistry.all` renews it (empties it under a new generation) when its
    refresh finds a pyramid record, dataset version, removal or publication it had not
    seen, so a document is at most one refresh interval (``refresh_s``) older than the
    store, like the layers themselves. Entries are few (one per document, clearance and
    base URL); beyond ``max_entries`` the oldest is dropped.
    """

    def __init__(self, max_entries: int = 256):
        self.max_entries = max_entries
        self.generation: object = None
        self._items: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()

    def renew(self, generation: object) -> None:
        with self._lock:
            self.generation = generation
            self._items.clear()

    def peek(self, key: tuple) -> Any:
        """The document under ``key`` if it is kept, else None."""
        with self._lock:
            return self._items.get(key)

    def get(self, key: tuple, make: Callable[[], Any]) -> Any:
        """The document under ``key``, made by ``make()`` when it is not kept."""
        with self._lock:
            generation = self.generation
            if key in self._items:
                return self._items[key]
        value = make()
        with self._lock:
            if self.generation is generation:  # not renewed while it was being made
                self._items[key] = value
                while len(self._items) > self.max_entries:
                    self._items.popitem(last=False)
        return value


def _layer_values(rec: dict[str, Any], path: Path) -> dict[str, Any]:
    return {
        "name": rec["name"],
        "title": rec.get("title") or rec["name"],
        "tms": rec["tms"],
        "minzoom": int(rec["minzoom"]),
        "maxzoom": int(rec["maxzoom"]),
        "format": rec["format"],
        "bounds": tuple(float(v) for v in rec["bounds"]),
        "classification": rec["classification"],
        "path": path,
        "encoding": rec.get("encoding"),
        "datasets": tuple(rec.get("datasets") or ()),
    }


def _fields(layer: Layer) -> dict[str, Any]:
    return {"read": layer.read, "close": layer.close, "build": layer.build}


def _close(layer: Layer) -> None:
    try:
        layer.close()
    except Exception as exc:  # closing is best effort
        logger.debug("closing %s: %s", layer.name, exc)
