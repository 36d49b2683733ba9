"""The bridge to the tiles package: registered pyramids and their tile readers.

Kept in one module so that the rest of the service depends on two calls only:
:func:`records` (what the ``pyramids`` table holds, normalised) and :func:`open_reader`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from geobase.store import Workspace


def records(ws: Workspace) -> list[dict[str, Any]]:
    """The registered pyramids, each with name, title, tms (a TileMatrixSet), minzoom,
    maxzoom, format, bounds (degrees), classification and path (relative to the workspace)."""
    with ws.store.read() as tx:
        if tx.dialect == "gpkg":
            exists = tx.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'pyramids'")
        else:
            exists = tx.scalar(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'pyramids'"
            )
    if not exists:
        return []
    raise NotImplementedError("pyramid registry: waiting for geobase.tiles")


def open_reader(
    path: Path, rec: dict[str, Any]
) -> tuple[Callable[[int, int, int], bytes | None], Callable[[], None]]:
    """``(read(z, x, y) -> bytes | None, close())`` for a pyramid's store."""
    raise NotImplementedError("tile stores: waiting for geobase.tiles")
