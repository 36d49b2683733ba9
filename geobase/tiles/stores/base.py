"""The shared interface of the tile stores: writers, readers, store kinds, leftovers.

:class:`TileWriter` (stage, ``finish``, ``swap`` or ``abort``) and :class:`PyramidReader`
(``get_tile``, ``tiles``, ``tilejson``) are what every store kind implements;
:func:`store_kind` names the kind an output path means, and :func:`remove_leftovers`
removes what killed builds left (``.partial-<pid>``, ``.old-<pid>``).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from morecantile.models import TileMatrixSet

from geobase.errors import TileStoreError
from geobase.paths import replace_path
from geobase.store.leftovers import abandoned
from geobase.tiles.encode import FORMATS
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
