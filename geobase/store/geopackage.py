"""The embedded store: one GeoPackage file that QGIS opens directly.

Every change is one ``BEGIN IMMEDIATE`` transaction, so writers queue at the start of a
transaction instead of failing half-way; the journal is WAL so readers never wait for
writers; a busy database is waited for (and the start of a transaction retried) rather
than reported.
"""

from __future__ import annotations

import contextlib
import logging
import random
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geobase.errors import StoreError, WorkspaceError
from geobase.store import gpkg
from geobase.store.base import BBox, Params, Store, Transaction

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 30.0
BEGIN_RETRY_S = 300.0


class GeoPackageTransaction(Transaction):
    dialect = "gpkg"

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self._touched: set[str] = set()

    def execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        self.conn.executemany(sql, rows)

    def _insert_returning_fid(self, sql: str, row: Mapping[str, Any]) -> int:
        fid = self.conn.execute(sql, row).lastrowid
        if fid is None:
            raise StoreError(f"no row was inserted by {sql.split('(')[0].strip()!r}")
        return fid

    def geom(self, geometry: BaseGeometry | None, srs_id: int) -> bytes | None:
        return gpkg.encode(geometry, srs_id)

    def geoms(self, geometries: Sequence[BaseGeometry], srs_id: int) -> list[bytes]:
        return gpkg.encode_many(geometries, srs_id)

    def bbox_filter(
        self, table: str, bbox: BBox, *, column: str = "geom", alias: str | None = None
    ) -> tuple[str, dict[str, float]]:
        minx, miny, maxx, maxy = bbox
        prefix = f"{alias}." if alias else ""
        key = f"_bb_{table}"
        sql = (
            f"{prefix}fid IN (SELECT id FROM rtree_{table}_{column} WHERE "
            f"minx <= :{key}_maxx AND maxx >= :{key}_minx AND "
            f"miny <= :{key}_maxy AND maxy >= :{key}_miny)"
        )
        params = {
            f"{key}_minx": minx,
            f"{key}_miny": miny,
            f"{key}_maxx": maxx,
            f"{key}_maxy": maxy,
        }
        return sql, params

    def create_feature_table(self, table, columns, geometry_type, srs_id, *, description=""):
        gpkg.create_feature_table(
            self.conn, table, columns, geometry_type, srs_id, description=description
        )

    def create_attribute_table(self, table, columns, *, description=""):
        gpkg.create_attribute_table(self.conn, table, columns, description=description)

    def touch(self, table: str) -> None:
        self._touched.add(table)

    def _finish(self) -> None:
        for table in self._touched:
            gpkg.update_extent(self.conn, table)


class GeoPackageStore(Store):
    """A workspace store in a GeoPackage file.

    Args:
        path: the ``.gpkg`` file; created (with the GeoPackage core tables) when missing.
    """

    dialect = "gpkg"

    def __init__(self, path: str | Path, *, create: bool = False):
        self.path = Path(path)
        self.url = str(self.path)
        if not self.path.exists() and not create:
            raise WorkspaceError(f"store {self.path} does not exist; run 'geobase init' first")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        if create and not self.path.exists():
            self._create_file()
        conn = self._connection()
        if create:
            with self._immediate(conn):
                gpkg.initialise(conn)
        else:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            if app_id != gpkg.APPLICATION_ID:
                raise WorkspaceError(
                    f"{self.path} is not a GeoPackage (application_id {app_id:#x})"
                )

    def _create_file(self) -> None:
        # The header fields GDAL checks are written before WAL mode is switched on: a
        # reader that looks at the file's first page directly must see them at once.
        try:
            conn = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.Error as exc:
            raise WorkspaceError(f"cannot create {self.path}: {exc}") from None
        try:
            conn.execute(f"PRAGMA application_id = {gpkg.APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {gpkg.USER_VERSION}")
            conn.execute("PRAGMA journal_mode = WAL")
        finally:
            conn.close()

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
                )
                conn.execute("PRAGMA journal_mode = WAL")
            except sqlite3.DatabaseError as exc:
                raise WorkspaceError(
                    f"{self.path} cannot be opened as a GeoPackage: {exc}"
                ) from None
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = NORMAL")
            gpkg.register_functions(conn)
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def _immediate(self, conn: sqlite3.Connection) -> Iterator[None]:
        self._begin(conn, "BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    @staticmethod
    def _begin(conn: sqlite3.Connection, statement: str) -> None:
        # sqlite's busy handler already waits BUSY_TIMEOUT_S; under heavy contention keep
        # retrying with jitter rather than surfacing "database is locked" to the user.
        deadline = time.monotonic() + BEGIN_RETRY_S
        while True:
            try:
                conn.execute(statement)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise StoreError(
                        f"store {conn} stayed busy for {BEGIN_RETRY_S:.0f} s"
                    ) from None
                time.sleep(random.uniform(0.01, 0.1))

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[GeoPackageTransaction]:
        conn = self._connection()
        if conn.in_transaction:
            # nested use joins the outer transaction
            yield GeoPackageTransaction(conn)
            return
        self._begin(conn, "BEGIN IMMEDIATE" if write else "BEGIN DEFERRED")
        tx = GeoPackageTransaction(conn)
        try:
            yield tx
            if write:
                tx._finish()
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def read_geom(self, value: Any) -> BaseGeometry | None:
        return gpkg.decode(value)

    def read_geoms(self, values: Sequence[Any]):
        return gpkg.decode_many(values)

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(sqlite3.Error):  # closing is best effort
                    conn.close()
            self._connections.clear()
        self._local = threading.local()
