"""The overview cache: raw (unencoded) tiles of every zoom below the base, per pyramid.

An incremental update re-renders the changed base tiles and rebuilds their ancestors from
their four children; children that did not change come from this cache, exactly as the
last build made them (a base tile, which it does not hold, as its quadrant of the cached
parent), so the update's tiles are byte-identical to a full rebuild's. It holds about a
third of the base zoom's pixels, uncompressed.

The cache is a SQLite file. A full build writes a new one next to it and renames it into
place on commit. An update changes the existing file in place inside one transaction
(rollback journal): a failed update rolls back, and one killed mid-way leaves a hot
journal that SQLite rolls back on the next open, so the cache always holds the last
committed build's tiles. Nothing is copied, whatever the cache's size. The cache names
the build (the pyramid's build id) its tiles belong to: an update uses it only for that
build, so a pyramid and a cache left out of step by a killed build are never mixed.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

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

    def put(self, z: int, x: int, y: int, blob: bytes | None) -> None:
        if blob is None:
            self.db.execute("DELETE FROM raw WHERE z = ? AND x = ? AND y = ?", (z, x, y))
        else:
            self.db.execute("INSERT OR REPLACE INTO raw VALUES (?, ?, ?, ?)", (z, x, y, blob))

    def get(self, z: int, x: int, y: int) -> bytes | None:
        row = self.db.execute(
            "SELECT data FROM raw WHERE z = ? AND x = ? AND y = ?", (z, x, y)
        ).fetchone()
        return None if row is None else row[0]

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
