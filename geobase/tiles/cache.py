"""The overview cache: raw (unencoded) tiles of every zoom below the base, per pyramid.

An incremental update re-renders the changed base tiles and rebuilds their ancestors from
their four children; children that did not change come from this cache, exactly as the
last build made them, so the update's tiles are byte-identical to a full rebuild's. It
holds about a third of the base zoom's pixels, compressed.

The cache is a SQLite file staged like the stores (copied, changed, renamed on commit).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path


class RawCache:
    """Raw tiles by (z, x, y); an absent tile is blank."""

    def __init__(self, path: Path, fingerprint: dict, *, update: bool):
        self.path = Path(path)
        self.staging = self.path.with_name(f"{self.path.name}.partial-{os.getpid()}")
        if self.staging.exists():
            self.staging.unlink()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if update:
            shutil.copyfile(self.path, self.staging)
        self.db = sqlite3.connect(self.staging)
        self.db.execute("PRAGMA journal_mode = OFF")
        self.db.execute("PRAGMA synchronous = OFF")
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS raw (z INTEGER, x INTEGER, y INTEGER, data BLOB,
                PRIMARY KEY (z, x, y));
            CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT);
            """
        )
        self.db.execute(
            "INSERT OR REPLACE INTO meta VALUES ('fingerprint', ?)",
            (json.dumps(fingerprint, sort_keys=True),),
        )

    @staticmethod
    def matches(path: Path, fingerprint: dict) -> bool:
        """Whether a committed cache exists and was made with these settings."""
        if not Path(path).is_file():
            return False
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                row = db.execute("SELECT value FROM meta WHERE name = 'fingerprint'").fetchone()
            finally:
                db.close()
        except sqlite3.DatabaseError:
            return False
        return row is not None and json.loads(row[0]) == json.loads(
            json.dumps(fingerprint, sort_keys=True)
        )

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
        self.db.commit()
        self.db.close()
        os.replace(self.staging, self.path)

    def abort(self) -> None:
        try:
            self.db.close()
        finally:
            if self.staging.exists():
                self.staging.unlink()
