"""The store interface shared by the GeoPackage and PostGIS backends.

Domain code talks to a :class:`Store` through transactions. SQL uses named ``:param``
placeholders and plain types (TEXT, INTEGER, REAL, BLOB, DATE, DATETIME); geometries go
in through :meth:`Transaction.geom` and come out through :meth:`Store.read_geom`, and
spatial filters through :meth:`Transaction.bbox_filter`, so that each backend can use its
own geometry encoding and index.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # in annotations only: opening a store imports no geometry library
    from shapely.geometry.base import BaseGeometry


def utc_now() -> str:
    """The current time as a GeoPackage DATETIME (ISO 8601, UTC, milliseconds)."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


Params = Mapping[str, Any] | Sequence[Any]
BBox = tuple[float, float, float, float]

#: The optimistic-versioning column: a table whose records editors change in place gets
#: this column (``columns=[..., ROW_VERSION_COLUMN]``) and changes them with
#: :meth:`Transaction.update_versioned`.
ROW_VERSION = "row_version"
ROW_VERSION_COLUMN = f"{ROW_VERSION} INTEGER NOT NULL DEFAULT 1"


class Transaction(ABC):
    """One unit of work: everything in it is committed together or not at all."""

    dialect: str

    @abstractmethod
    def execute(self, sql: str, params: Params = ()) -> Any:
        """Run one statement; returns a DB-API cursor."""

    @abstractmethod
    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one statement for many parameter sets."""

    def query(self, sql: str, params: Params = ()) -> list[dict[str, Any]]:
        """Rows of a query as dicts."""
        cursor = self.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def query_one(self, sql: str, params: Params = ()) -> dict[str, Any] | None:
        """The first row of a query as a dict, or None."""
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row, or None."""
        row = self.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def insert(self, table: str, row: Mapping[str, Any]) -> int:
        """Insert one row (geometries already passed through :meth:`geom`); return its fid."""
        names = list(row)
        sql = (
            f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(':' + n for n in names)})"
        )
        return self._insert_returning_fid(sql, row)

    def insert_many(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert many rows with the same columns."""
        if not rows:
            return
        names = list(rows[0])
        sql = (
            f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(':' + n for n in names)})"
        )
        self.executemany(sql, rows)

    @abstractmethod
    def _insert_returning_fid(self, sql: str, row: Mapping[str, Any]) -> int: ...

    def update_versioned(
        self,
        table: str,
        key: int | Mapping[str, Any],
        expected_version: int,
        values: Mapping[str, Any],
        *,
        version_column: str = ROW_VERSION,
    ) -> int:
        """Change one record only if nobody changed it since it was read (optimistic).

        The record is found by ``key`` (its fid, or ``{column: value}`` for a unique
        column) and updated only when its ``version_column`` still holds
        ``expected_version``, the version the editor read; the version is incremented in
        the same statement. Two editors who read version 3 and both save: the first gets
        version 4, the second a :class:`~geobase.errors.ConflictError` instead of
        silently overwriting the first's change.

        Args:
            table: the table (it has an integer ``version_column``, see
                :data:`ROW_VERSION_COLUMN`).
            key: the fid, or a mapping of unique column(s) to values.
            expected_version: the version the caller read.
            values: the new column values (geometries through :meth:`geom`); must not
                set the version column.

        Returns:
            The record's new version (``expected_version + 1``).

        Raises:
            ConflictError: the record's version is no longer ``expected_version``.
            NotFoundError: no record has this key.
        """
        from geobase.errors import ConflictError, NotFoundError, StoreError

        where = {"fid": key} if isinstance(key, int) else dict(key)
        if not where or version_column in values or not values:
            raise StoreError(
                "update_versioned needs a key and values, and values may not set "
                f"{version_column!r}"
            )
        params = {f"_v_{k}": v for k, v in values.items()}
        params.update({f"_k_{k}": v for k, v in where.items()})
        params["_expected"] = expected_version
        sets = ", ".join(f"{k} = :_v_{k}" for k in values)
        cond = " AND ".join(f"{k} = :_k_{k}" for k in where)
        cursor = self.execute(
            f"UPDATE {table} SET {sets}, {version_column} = {version_column} + 1 "
            f"WHERE {cond} AND {version_column} = :_expected",
            params,
        )
        if cursor.rowcount == 1:
            return expected_version + 1
        current = self.scalar(f"SELECT {version_column} FROM {table} WHERE {cond}", params)
        shown = ", ".join(f"{k}={v!r}" for k, v in where.items())
        if current is None:
            raise NotFoundError(f"no record {shown} in {table}")
        raise ConflictError(
            f"{table} record {shown} was changed by someone else since it was read "
            f"(version {current} now, {expected_version} when read); reload it and redo "
            "the change"
        )

    @abstractmethod
    def geom(self, geometry: BaseGeometry | None, srs_id: int) -> Any:
        """A geometry as a parameter value for this backend."""

    @abstractmethod
    def geoms(self, geometries: Sequence[BaseGeometry], srs_id: int) -> list[Any]:
        """Vectorised :meth:`geom`."""

    @abstractmethod
    def bbox_filter(
        self, table: str, bbox: BBox, *, column: str = "geom", alias: str | None = None
    ) -> tuple[str, dict[str, float]]:
        """An SQL condition selecting rows of ``table`` whose geometry meets ``bbox``.

        Uses the spatial index. Returns the condition and its parameters, to be merged
        into the caller's.
        """

    # --- schema (used by migrations) --------------------------------------------------

    @abstractmethod
    def create_feature_table(
        self,
        table: str,
        columns: Sequence[str],
        geometry_type: str,
        srs_id: int,
        *,
        description: str = "",
    ) -> None:
        """A table with ``fid`` key, a ``geom`` column of the given type and a spatial index."""

    @abstractmethod
    def create_attribute_table(
        self, table: str, columns: Sequence[str], *, description: str = ""
    ) -> None:
        """A non-spatial table with an ``fid`` key."""

    def create_index(self, table: str, columns: Sequence[str], *, unique: bool = False) -> None:
        """An index on ``columns`` of ``table``."""
        name = f"idx_{table}_{'_'.join(columns)}"
        kind = "UNIQUE INDEX" if unique else "INDEX"
        self.execute(f"CREATE {kind} IF NOT EXISTS {name} ON {table} ({', '.join(columns)})")

    def touch(self, table: str) -> None:  # noqa: B027 - optional hook
        """Note that a feature table changed (GeoPackage refreshes its extent)."""


class Store(ABC):
    """A workspace's store of records: registry, catalogue, inspections, publications."""

    url: str
    dialect: str

    @abstractmethod
    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Transaction]:
        """A transaction; ``write=False`` for a read-only snapshot."""

    def read(self):
        """A read-only transaction (a consistent snapshot)."""
        return self.transaction(write=False)

    @abstractmethod
    def read_geom(self, value: Any) -> BaseGeometry | None:
        """A geometry column value as a shapely geometry."""

    @abstractmethod
    def read_geoms(self, values: Sequence[Any]):
        """Vectorised :meth:`read_geom` (a numpy array of geometries)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    def read_frame(self, sql: str, params: Params = (), *, crs: int | str | None = 4490):
        """A query's rows as a GeoDataFrame; the ``geom`` column becomes ``geometry``."""
        import geopandas as gpd
        import pandas as pd

        with self.read() as tx:
            cursor = tx.execute(sql, params)
            names = [d[0] for d in cursor.description]
            frame = pd.DataFrame(cursor.fetchall(), columns=names)
        if "geom" in frame.columns:
            geometry = self.read_geoms(frame.pop("geom").tolist())
            return gpd.GeoDataFrame(frame, geometry=list(geometry), crs=crs)
        return frame

    @property
    def schema_version(self) -> int:
        with self.read() as tx:
            return int(tx.scalar("SELECT max(version) FROM geobase_migrations") or 0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
