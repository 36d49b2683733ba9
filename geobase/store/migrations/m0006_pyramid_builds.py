"""Pyramid builds: an id per build and the state of its record.

``build_id`` names the build whose tiles a record describes; the same id is written in
the pyramid's own TileJSON, so a reader (the server, an update) can tell whether the
files at ``path`` are that build. ``state`` is ``publishing`` for the record committed
before a build's files move into place (its classification the stricter of the old and
the new build's, so neither is ever shown to callers the other excludes) and
``published`` for the record committed after; rows from before this migration are
published builds without an id (both NULL).
"""

from geobase.store.base import Transaction


def upgrade(tx: Transaction) -> None:
    tx.execute("ALTER TABLE pyramids ADD COLUMN build_id TEXT")
    tx.execute("ALTER TABLE pyramids ADD COLUMN state TEXT")  # publishing | published
