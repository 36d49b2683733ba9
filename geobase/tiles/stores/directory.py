"""The z/x/y directory store: ``<out>/<z>/<x>/<y>.<ext>`` plus ``tilejson.json``.

Updates start from a hard-linked copy of the published folder; the reader reads
through a handle on the folder itself, so a later build swapped in at the same path is
never mixed in.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from geobase.errors import SourceReadError
from geobase.tiles.encode import EXTENSIONS
from geobase.tiles.stores.base import PyramidReader, TileWriter


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
