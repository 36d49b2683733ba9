"""The overview cache: raw (unencoded) tiles of the zooms above the build's windows.

A build renders the base zoom in windows of ``block x block`` tiles, each with the
``log2(block)`` zooms above it (:mod:`geobase.tiles.pyramid`); the zooms above the
windows' top level are made in the main process from their four children. An incremental
update re-renders the windows that hold changed base tiles and rebuilds their ancestors;
the quadrants of children that did not change come from the parents the last build made,
held here exactly (lossless WebP), so the update's tiles are byte-identical to a
full rebuild's. Only those zooms are held: about ``1 / (3 * block**2)`` of the base
tiles (1/192 at the default block of 8), each about a third of its raw pixels.

The cache is a SQLite file. A full build writes a new one next to it and renames it into
place on commit. An update changes the existing file in place inside one transaction
(rollback journal): a failed update rolls back, and one killed mid-way leaves a hot
journal that SQLite rolls back on the next open, so the cache always holds the last
committed build's tiles. Nothing is copied, whatever the cache's size. The cache names
the build (the pyramid's build id) its tiles belong to: an update uses it only for that
build, so a pyramid and a cache left out of step by a killed build are never mixed.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import zlib
from pathlib import Path

import numpy as np

#: raw tiles this cache holds: (channels, 256, 256) uint8 or float32 data and a mask
RawTile = tuple[np.ndarray, np.ndarray]

#: names the cache's tile codec in its fingerprint (an update never reads another codec)
CODEC = "webp-lossless-1"
_SIDE = 256

_SCHEMA = """
    CREATE TABLE IF NOT EXISTS raw (z INTEGER, x INTEGER, y INTEGER, data BLOB,
        PRIMARY KEY (z, x, y));
    CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT);
"""


def _fingerprint_text(fingerprint: dict) -> str:
    return json.dumps(fingerprint, sort_keys=True)


class RawCache:
    """Raw tiles by (z, x, y); an absent tile is blank."""

    def __init__(self, path: Path, fingerprint: dict, *, update: bool, build_id: str | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.in_place = update and self.path.is_file()
        if self.in_place:
            self.staging = None
            # autocommit mode: the one transaction is opened and ended explicitly below
            self.db = sqlite3.connect(self.path, isolation_level=None)
            # a rollback journal (never OFF/MEMORY: a killed update must roll back);
            # synchronous OFF: the OS still has every write if the process dies
            self.db.execute("PRAGMA journal_mode = DELETE")
            self.db.execute("PRAGMA synchronous = OFF")
            self.db.execute("BEGIN IMMEDIATE")
            self._schema()
            row = self.db.execute("SELECT value FROM meta WHERE name = 'fingerprint'").fetchone()
            if row is None or row[0] != _fingerprint_text(fingerprint):
                self.db.execute("DELETE FROM raw")  # made with other settings: start empty
        else:
            self.staging = self.path.with_name(f"{self.path.name}.partial-{os.getpid()}")
            if self.staging.exists():
                self.staging.unlink()
            self.db = sqlite3.connect(self.staging, isolation_level=None)
            self.db.execute("PRAGMA journal_mode = OFF")
            self.db.execute("PRAGMA synchronous = OFF")
            self.db.execute("BEGIN")
            self._schema()
        self.db.execute(
            "INSERT OR REPLACE INTO meta VALUES ('fingerprint', ?)",
            (_fingerprint_text(fingerprint),),
        )
        self.db.execute("DELETE FROM meta WHERE name = 'build'")
        if build_id is not None:
            self.db.execute("INSERT INTO meta VALUES ('build', ?)", (build_id,))

    def _schema(self) -> None:
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                self.db.execute(statement)

    @staticmethod
    def stored_fingerprint(path: Path) -> dict | None:
        """The fingerprint a committed cache was made with (None: none readable)."""
        if not Path(path).is_file():
            return None
        try:
            db = sqlite3.connect(f"file:{path}?mode=rw", uri=True)
            try:
                row = db.execute("SELECT value FROM meta WHERE name = 'fingerprint'").fetchone()
            finally:
                db.close()
        except sqlite3.DatabaseError:
            return None
        return None if row is None else json.loads(row[0])

    @staticmethod
    def matches(path: Path, fingerprint: dict, build_id: str | None = None) -> bool:
        """Whether a committed cache exists, was made with these settings and holds the
        tiles of build ``build_id`` (None: a pyramid built before builds had ids)."""
        if not Path(path).is_file():
            return False
        try:
            # read-write (not ro): a hot journal left by a killed update is rolled back here
            db = sqlite3.connect(f"file:{path}?mode=rw", uri=True)
            try:
                meta = dict(db.execute("SELECT name, value FROM meta").fetchall())
            finally:
                db.close()
        except sqlite3.DatabaseError:
            return False
        fp = meta.get("fingerprint")
        if fp is None or json.loads(fp) != json.loads(_fingerprint_text(fingerprint)):
            return False
        return meta.get("build") == build_id

    def put(self, z: int, x: int, y: int, tile: RawTile | None) -> None:
        """Hold tile (z, x, y) (None: a blank tile, which is not held)."""
        if tile is None:
            self.db.execute("DELETE FROM raw WHERE z = ? AND x = ? AND y = ?", (z, x, y))
        else:
            self.db.execute(
                "INSERT OR REPLACE INTO raw VALUES (?, ?, ?, ?)", (z, x, y, encode_raw(*tile))
            )

    def get(self, z: int, x: int, y: int, channels: int, dtype) -> RawTile | None:
        """Tile (z, x, y) as the last build made it; None where it was blank."""
        row = self.db.execute(
            "SELECT data FROM raw WHERE z = ? AND x = ? AND y = ?", (z, x, y)
        ).fetchone()
        return None if row is None else decode_raw(row[0], channels, dtype)

    def size(self) -> int:
        """Bytes of tile data held."""
        row = self.db.execute("SELECT coalesce(sum(length(data)), 0) FROM raw").fetchone()
        return int(row[0])

    def commit(self) -> None:
        self.db.execute("COMMIT")
        self.db.close()
        if self.staging is not None:
            os.replace(self.staging, self.path)

    def abort(self) -> None:
        try:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            self.db.close()
        finally:
            if self.staging is not None and self.staging.exists():
                self.staging.unlink()


def encode_raw(data: np.ndarray, mask: np.ndarray) -> bytes:
    """A raw tile losslessly compressed: uint8 bands as a lossless WebP (the mask as its
    alpha, the pixels under it kept exactly; method 1: ~7 ms a tile, a third of the raw
    bytes of imagery, half of what zlib gives), float32 as its four byte planes through
    zlib, with the packed mask."""
    from PIL import Image

    if data.dtype == np.uint8:
        bands = data if data.shape[0] == 3 else np.repeat(data[:1], 3, axis=0)
        alpha = mask.astype(np.uint8) * np.uint8(255)
        pixels = np.ascontiguousarray(np.concatenate([bands, alpha[None]]).transpose(1, 2, 0))
        out = io.BytesIO()
        Image.fromarray(pixels, "RGBA").save(
            out, "WEBP", lossless=True, quality=0, method=1, exact=True
        )
        return out.getvalue()
    body = np.moveaxis(data.astype("<f4").view(np.uint8).reshape(*data.shape, 4), -1, 0)
    payload = np.ascontiguousarray(body).tobytes() + np.packbits(mask).tobytes()
    return zlib.compress(payload, 6)


def decode_raw(blob: bytes, channels: int, dtype) -> RawTile:
    """The (data, mask) that :func:`encode_raw` compressed."""
    from PIL import Image

    dtype = np.dtype(dtype)
    if dtype == np.uint8:
        with Image.open(io.BytesIO(blob)) as image:
            pixels = np.asarray(image.convert("RGBA"))
        data = np.ascontiguousarray(pixels[..., :channels].transpose(2, 0, 1))
        return data, pixels[..., 3] > 0
    raw = zlib.decompress(blob)
    n = channels * _SIDE * _SIDE * 4
    planes = np.frombuffer(raw[:n], dtype=np.uint8).reshape(4, channels, _SIDE, _SIDE)
    data = np.ascontiguousarray(np.moveaxis(planes, 0, -1)).view("<f4")[..., 0].astype(dtype)
    mask = np.unpackbits(np.frombuffer(raw[n:], dtype=np.uint8))[: _SIDE * _SIDE]
    return data, mask.reshape(_SIDE, _SIDE).astype(bool)
