"""Versioned schema migrations, applied in order when a store is opened.

Each module ``m<NNNN>_<name>.py`` in this package defines ``upgrade(tx)``; its number is
its version. A migration runs once, in its own transaction with the record that it ran,
and never changes after it has been released: a schema change is a new module.

Whether a migration ran is looked up by its own version, not by the highest one applied,
so numbers may be taken out of order: a migration numbered below one a store already has
(two branches adding m0006 and m0007, merged in either order) still runs when the store
is next opened. Migrations must therefore not depend on the ones numbered between them.
A store that records a version this geobase does not ship was migrated by a newer
geobase and is refused (:class:`SchemaTooNew`) rather than written with an older idea
of its schema.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass

from geobase.errors import MigrationError, SchemaTooNew
from geobase.store.base import Store, Transaction, utc_now

_NAME = re.compile(r"^m(\d{4})_(\w+)$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    upgrade: Callable[[Transaction], None]


def available() -> list[Migration]:
    """All migrations shipped with this version of geobase, in order."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        match = _NAME.match(info.name)
        if match:
            module = importlib.import_module(f"{__name__}.{info.name}")
            found.append(Migration(int(match.group(1)), match.group(2), module.upgrade))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {versions}")
    return found


def _version() -> str:
    from geobase import __version__

    return __version__


def _table_exists(tx: Transaction) -> bool:
    if tx.dialect == "gpkg":
        sql = "SELECT count(*) FROM sqlite_master WHERE name = 'geobase_migrations'"
    else:
        sql = (
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_name = 'geobase_migrations'"
        )
    return bool(tx.scalar(sql))


def pending(store: Store) -> list[Migration]:
    """The shipped migrations a store has not run, found in a read-only transaction.

    Raises:
        SchemaTooNew: the store records a migration this geobase does not ship.
    """
    shipped = available()
    with store.read() as tx:
        if not _table_exists(tx):
            return shipped
        recorded = {int(r["version"]) for r in tx.query("SELECT version FROM geobase_migrations")}
    unknown = sorted(recorded - {m.version for m in shipped})
    if unknown:
        raise SchemaTooNew(
            f"the store was migrated by a newer geobase (schema version(s) "
            f"{', '.join(map(str, unknown))} unknown to geobase {_version()}); upgrade geobase"
        )
    return [m for m in shipped if m.version not in recorded]


def apply(store: Store) -> list[Migration]:
    """Bring a store's schema up to date; returns the migrations applied.

    Whether any migration is due is read in a read-only transaction, so opening an
    up-to-date store never takes the write lock: a read-only command does not queue
    behind a writer, and writers do not queue behind each other's opening. Only when a
    migration is due is a write transaction taken (each migration in its own, checked
    again inside it, so that two processes opening an old store at once apply it once).
    """
    due = pending(store)
    if not due:
        return []
    with store.transaction() as tx:
        if not _table_exists(tx):
            tx.create_attribute_table(
                "geobase_migrations",
                [
                    "version INTEGER NOT NULL UNIQUE",
                    "name TEXT NOT NULL",
                    "applied_at DATETIME NOT NULL",
                ],
                description="geobase schema migrations",
            )
    applied = []
    for migration in due:
        with store.transaction() as tx:
            done = tx.scalar(
                "SELECT count(*) FROM geobase_migrations WHERE version = :v",
                {"v": migration.version},
            )
            if done:
                continue
            migration.upgrade(tx)
            tx.insert(
                "geobase_migrations",
                {
                    "version": migration.version,
                    "name": migration.name,
                    "applied_at": utc_now(),
                },
            )
            applied.append(migration)
    return applied
