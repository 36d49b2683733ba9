"""The bridge to the tiles package: registered pyramids and their tile readers.

Kept in one module so that the rest of the service depends on two calls only:
:func:`records` (the newest record of every pyramid, normalised) and :func:`open_reader`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from geobase.store import Workspace

logger = logging.getLogger(__name__)


def records(ws: Workspace) -> list[dict[str, Any]]:
    """The registered pyramids, each with name, title, tms (a TileMatrixSet), minzoom,
    maxzoom, format, bounds (degrees), classification, path (relative to the workspace),
    build_id (of the build the record describes; None before builds had ids),
    datasets (the dataset ids the build painted), publishing (True while a build's files are being swapped in, or if that was
    interrupted: the classification then covers the old and the new build) and
    encoding (of heights in terrain-RGB tiles, else None).

    Names are made unique: where two stores share a name (``dom/`` and ``dom.pmtiles``),
    the later path gets its store kind appended (``dom-pmtiles``).
    """
    from geobase.catalog.products import products_for
    from geobase.tiles.tms import TMS

    products = products_for(ws.config.products)
    with ws.store.read() as tx:
        rows = tx.query(
            """
            SELECT fid, name, path, store, source, tms, minzoom, maxzoom, format,
                   classification, tilejson, build_id, state, sources
            FROM pyramids p
            WHERE fid = (SELECT max(fid) FROM pyramids q WHERE q.path = p.path)
            ORDER BY path
            """
        )
    out = []
    taken: set[str] = set()
    for row in rows:
        if row["tms"] not in TMS:
            logger.warning("pyramid %s: unknown tile matrix set %s", row["path"], row["tms"])
            continue
        try:
            doc = json.loads(row["tilejson"])
            bounds = doc["bounds"]
        except (ValueError, KeyError, TypeError):
            logger.warning("pyramid %s: its record has no bounds", row["path"])
            continue
        name = row["name"]
        if name in taken:
            name = f"{name}-{row['store']}"
        if name in taken:
            name = f"{row['name']}-{row['fid']}"
        taken.add(name)
        source = row["source"]
        if source in products:
            product = products.get(source)
            title = f"{product.name_zh} {product.name_en} ({source})"
        else:
            title = str(source)
        out.append(
            {
                "name": name,
                "title": title,
                "tms": TMS.get(row["tms"]),
                "minzoom": int(row["minzoom"]),
                "maxzoom": int(row["maxzoom"]),
                "format": row["format"],
                "bounds": tuple(float(v) for v in bounds),
                "classification": row["classification"],
                "path": row["path"],
                "store": row["store"],
                "build_id": row["build_id"],
                "publishing": row["state"] == "publishing",
                "encoding": encoding(doc),
                "datasets": painted(row["sources"]),
            }
        )
    return out


def painted(sources: str | None) -> tuple[str, ...]:
    """The dataset ids a build painted, from its record's ``sources`` (JSON list of
    ``dataset_id@version``; files, ``file:...``, are left out)."""
    try:
        items = json.loads(sources or "[]")
    except ValueError:
        return ()
    ids = (str(s).rpartition("@")[0] for s in items if isinstance(s, str) and "@" in s)
    return tuple(dict.fromkeys(i for i in ids if i and not i.startswith("file:")))


def encoding(tilejson: dict[str, Any]) -> str | None:
    """How a pyramid's pixels encode heights (``mapbox`` terrain-RGB), from its recorded
    TileJSON; None for pictures. Pyramids built before the build wrote ``encoding`` state
    it by their mode."""
    if tilejson.get("encoding"):
        return str(tilejson["encoding"])
    return "mapbox" if tilejson.get("mode") == "terrain-rgb" else None


def open_reader(
    path: Path, rec: dict[str, Any]
) -> tuple[Callable[[int, int, int], bytes | None], Callable[[], None], str | None]:
    """``(read(z, x, y) -> bytes | None, close(), build id)`` for a pyramid's store.

    The reader reads the build it opened for as long as it lives. A published record is
    served only from files of its own build: files of another build at its path (one
    being swapped in before its record commits) are refused. While a build publishes,
    the record's classification covers the old and the new build, so either is served.
    """
    from geobase.tiles.stores import SQLITE_KINDS, open_pyramid

    reader = open_pyramid(path)
    if reader.format != rec["format"] or reader.tms.id != rec["tms"].id:
        reader.close()
        raise ValueError(
            f"the store holds {reader.format} tiles on {reader.tms.id}, "
            f"the record says {rec['format']} on {rec['tms'].id}"
        )
    build = reader.build_id
    if not rec.get("publishing") and build != rec.get("build_id"):
        reader.close()
        raise ValueError(
            f"the store holds build {build}, the record describes build {rec.get('build_id')} "
            "(a build being published, or one interrupted: rebuild it)"
        )
    if reader.kind in SQLITE_KINDS:  # one sqlite connection shared by the worker threads
        lock = threading.Lock()

        def read(z: int, x: int, y: int) -> bytes | None:
            with lock:
                return reader.get_tile(z, x, y)

        return read, reader.close, build
    return reader.get_tile, reader.close, build
