"""Copy a workspace's store between GeoPackage and PostGIS, in either direction.

Every table of the source is copied, found generically (``sqlite_master`` on GeoPackage,
``information_schema`` on PostGIS) so that tables added by later migrations travel too:
every row with its ``fid``, geometries decoded and re-encoded for the destination, and
each table's next ``fid`` (its sequence) carried over. Both stores are migrated to the
current schema first. The rows are written in one transaction of the destination:
a failed copy leaves it as it was.

Records name files (dataset versions, pyramids, evidence) relative to a data root;
:func:`copy_between` makes the copy find them: a PostGIS or bare GeoPackage destination
records where the source's files are, and a workspace destination gets them linked or
copied under its own data root (see :mod:`geobase.store.files`).

Example:
    >>> from geobase.store import open_store  # doctest: +SKIP
    >>> with open_store("ws/workspace.gpkg") as src, open_store(url, create=True) as dst:
    ...     copy_store(src, dst)  # doctest: +SKIP
    {'districts': 7, 'control_points': 812, ...}
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from geobase.errors import StoreError
from geobase.store.base import Store, Transaction
from geobase.store.files import (
    FileMode,
    TransferResult,
    plan_transfer,
    stored_paths,
    transfer,
)

logger = logging.getLogger(__name__)

BATCH_ROWS = 2000

# tables of the stores' own machinery, never copied as records
_GPKG_OWN = ("gpkg_", "rtree_", "sqlite_")
_PG_OWN = {"spatial_ref_sys", "geometry_columns", "geography_columns"}
# tables whose rows the destination already has from its own migrations: replaced
_MIGRATION_TABLES = {"geobase_migrations"}

# PostgreSQL data types -> the portable types of geobase migrations
_PG_PORTABLE = {
    "bigint": "INTEGER",
    "integer": "INTEGER",
    "smallint": "INTEGER",
    "boolean": "INTEGER",
    "double precision": "REAL",
    "real": "REAL",
    "numeric": "REAL",
    "text": "TEXT",
    "character varying": "TEXT",
    "character": "TEXT",
    "bytea": "BLOB",
}


class CopyRefused(StoreError, ValueError):
    """A store copy cannot start: same store, non-empty destination, schema mismatch."""


@dataclass
class TableInfo:
    """One table of a store, as the copy sees it."""

    name: str
    columns: list[str]
    types: dict[str, str] = field(default_factory=dict)  # portable type per column
    not_null: set[str] = field(default_factory=set)
    geometry_column: str | None = None
    geometry_type: str | None = None
    srid: int | None = None
    description: str = ""

    @property
    def has_fid(self) -> bool:
        return "fid" in self.columns


def store_tables(store: Store, tx: Transaction | None = None) -> list[TableInfo]:
    """The record tables of a store, in creation order."""
    if tx is None:
        with store.read() as tx:
            return store_tables(store, tx)
    if store.dialect == "gpkg":
        return _gpkg_tables(tx)
    return _pg_tables(tx)


def _gpkg_tables(tx: Transaction) -> list[TableInfo]:
    names = [
        r["name"]
        for r in tx.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid")
        if not r["name"].startswith(_GPKG_OWN)
    ]
    geometry = {
        r["table_name"]: r
        for r in tx.query(
            "SELECT table_name, column_name, geometry_type_name, srs_id FROM gpkg_geometry_columns"
        )
    }
    described = {
        r["table_name"]: r["description"] or ""
        for r in tx.query("SELECT table_name, description FROM gpkg_contents")
    }
    tables = []
    for name in names:
        info = tx.query(f"PRAGMA table_info({name})")
        table = TableInfo(
            name=name,
            columns=[c["name"] for c in info],
            types={c["name"]: (c["type"] or "TEXT").upper() for c in info},
            not_null={c["name"] for c in info if c["notnull"]},
            description=described.get(name, ""),
        )
        if name in geometry:
            g = geometry[name]
            table.geometry_column = g["column_name"]
            table.geometry_type = g["geometry_type_name"].upper()
            table.srid = int(g["srs_id"])
        tables.append(table)
    return tables


def _pg_tables(tx: Transaction) -> list[TableInfo]:
    rows = tx.query(
        "SELECT c.relname AS name, obj_description(c.oid, 'pg_class') AS description "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY c.oid"
    )
    geometry = {
        r["f_table_name"]: r
        for r in tx.query(
            "SELECT f_table_name, f_geometry_column, type, srid FROM geometry_columns "
            "WHERE f_table_schema = current_schema()"
        )
    }
    columns: dict[str, list[dict]] = {}
    for c in tx.query(
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
    ):
        columns.setdefault(c["table_name"], []).append(c)
    tables = []
    for row in rows:
        name = row["name"]
        if name in _PG_OWN:
            continue
        cols = columns.get(name, [])
        table = TableInfo(
            name=name,
            columns=[c["column_name"] for c in cols],
            types={
                c["column_name"]: _PG_PORTABLE.get(c["data_type"], "TEXT")
                for c in cols
                if c["data_type"] != "USER-DEFINED"
            },
            not_null={c["column_name"] for c in cols if c["is_nullable"] == "NO"},
            description=row["description"] or "",
        )
        if name in geometry:
            g = geometry[name]
            table.geometry_column = g["f_geometry_column"]
            table.geometry_type = g["type"].upper()
            table.srid = int(g["srid"])
        tables.append(table)
    return tables


def next_fid(store: Store, tx: Transaction, table: TableInfo) -> int | None:
    """The fid the table's sequence hands out next (None if it has no fid sequence)."""
    if not table.has_fid:
        return None
    top = tx.scalar(f"SELECT max(fid) FROM {table.name}") or 0
    if store.dialect == "gpkg":
        seq = tx.scalar("SELECT seq FROM sqlite_sequence WHERE name = :t", {"t": table.name})
        return max(int(seq or 0), top) + 1
    sequence = tx.scalar("SELECT pg_get_serial_sequence(:t, 'fid')", {"t": table.name})
    if sequence is None:
        return top + 1
    row = tx.query_one(f"SELECT last_value, is_called FROM {sequence}")
    if row is None:
        raise StoreError(f"{table.name}: its sequence {sequence} cannot be read")
    following = row["last_value"] + 1 if row["is_called"] else row["last_value"]
    return max(following, top + 1)


def _set_next_fid(store: Store, tx: Transaction, table: str, value: int) -> None:
    if store.dialect == "gpkg":
        if tx.scalar("SELECT count(*) FROM sqlite_sequence WHERE name = :t", {"t": table}):
            tx.execute(
                "UPDATE sqlite_sequence SET seq = :s WHERE name = :t", {"s": value - 1, "t": table}
            )
        else:
            tx.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :s)",
                {"s": value - 1, "t": table},
            )
        return
    sequence = tx.scalar("SELECT pg_get_serial_sequence(:t, 'fid')", {"t": table})
    if sequence is None:
        return
    if value > 1:
        tx.execute(f"SELECT setval('{sequence}', {int(value) - 1}, true)")
    else:
        tx.execute(f"SELECT setval('{sequence}', 1, false)")


def table_rows(
    store: Store, tx: Transaction, table: TableInfo, *, batch: int = BATCH_ROWS
) -> Iterator[list[dict[str, Any]]]:
    """A table's rows in fid order, in batches; geometries decoded to shapely."""
    order = "fid" if table.has_fid else ", ".join(table.columns)
    cursor = tx.execute(f"SELECT {', '.join(table.columns)} FROM {table.name} ORDER BY {order}")
    names = [d[0] for d in cursor.description]
    while True:
        chunk = cursor.fetchmany(batch)
        if not chunk:
            return
        rows = [dict(zip(names, r, strict=True)) for r in chunk]
        if table.geometry_column:
            column = table.geometry_column
            geoms = store.read_geoms([r[column] for r in rows])
            for r, g in zip(rows, geoms, strict=True):
                r[column] = g
        for r in rows:
            for k, v in r.items():
                if isinstance(v, memoryview):
                    r[k] = bytes(v)
        yield rows


def _encode(tx: Transaction, geoms: list, srid: int) -> list:
    arr = np.asarray(geoms, dtype=object)
    out = [None] * len(arr)
    if len(arr) == 0:
        return out
    simple = np.array([g is not None and not g.is_empty for g in arr], dtype=bool)
    if simple.any():
        for i, v in zip(np.flatnonzero(simple), tx.geoms(arr[simple], srid), strict=True):
            out[i] = v
    for i in np.flatnonzero(~simple):
        out[i] = tx.geom(arr[i], srid)
    return out


def _count_records(tx: Transaction, tables: list[TableInfo]) -> dict[str, int]:
    return {
        t.name: tx.scalar(f"SELECT count(*) FROM {t.name}")
        for t in tables
        if t.name not in _MIGRATION_TABLES
    }


def _create_like(tx: Transaction, table: TableInfo) -> None:
    columns = [
        f"{c} {table.types.get(c, 'TEXT')}{' NOT NULL' if c in table.not_null else ''}"
        for c in table.columns
        if c not in ("fid", table.geometry_column)
    ]
    if table.geometry_column:
        if table.geometry_column != "geom":
            raise CopyRefused(
                f"table {table.name} has its geometry in {table.geometry_column!r}; only "
                "'geom' can be created in the destination"
            )
        tx.create_feature_table(
            table.name, columns, table.geometry_type or "GEOMETRY", table.srid or 0,
            description=table.description,
        )  # fmt: skip
    else:
        tx.create_attribute_table(table.name, columns, description=table.description)


def _identity(store: Store) -> tuple[str, str]:
    path = getattr(store, "path", None)
    return (store.dialect, str(path.resolve()) if path is not None else store.url)


def _clear(tx: Transaction, table: str) -> None:
    """Empty a destination table, past its append-only guard (``--overwrite`` asked so)."""
    if not tx.scalar(f"SELECT count(*) FROM {table}"):
        return
    try:
        if tx.dialect == "gpkg":
            guards = [
                r["sql"]
                for r in tx.query(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                    "AND tbl_name = :t AND name NOT LIKE 'rtree_%'",
                    {"t": table},
                )
            ]
            for name in tx.query(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t "
                "AND name NOT LIKE 'rtree_%'",
                {"t": table},
            ):
                tx.execute(f"DROP TRIGGER {name['name']}")
            tx.execute(f"DELETE FROM {table}")
            for sql in guards:
                tx.execute(sql)
        else:
            tx.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            tx.execute(f"DELETE FROM {table}")
            tx.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
    except Exception as exc:  # a foreign key, missing privileges
        raise CopyRefused(
            f"cannot replace the records of {table} in the destination: "
            f"{str(exc).strip().splitlines()[0]}"
        ) from exc


def copy_store(
    src: Store,
    dst: Store,
    *,
    overwrite: bool = False,
    progress: Callable[[int, int | None], None] | None = None,
    batch: int = BATCH_ROWS,
    data_root: Path | None = None,
) -> dict[str, int]:
    """Copy every table of ``src`` into ``dst`` (both open and migrated).

    Args:
        src: the source store.
        dst: the destination store (GeoPackage or PostGIS).
        overwrite: replace the destination's records; without it a destination that
            holds any record is refused.
        progress: called with (rows copied, total rows).
        batch: rows per insert batch.
        data_root: where the destination's records find their files, recorded in its
            ``geobase_meta`` (read by ``geobase init --store``); None keeps what the
            source recorded.

    Returns:
        Rows copied per table.

    Raises:
        CopyRefused: same store on both sides, a non-empty destination without
            ``overwrite``, or schemas that differ (a column the destination lacks).
    """
    if _identity(src) == _identity(dst):
        raise CopyRefused(f"source and destination are the same store ({src.url})")
    if src.schema_version != dst.schema_version:
        raise CopyRefused(
            f"schema versions differ: source v{src.schema_version}, destination "
            f"v{dst.schema_version}; open both with the same geobase version"
        )
    copied: dict[str, int] = {}
    with src.read() as stx, dst.transaction() as dtx:
        tables = store_tables(src, stx)
        existing = {t.name: t for t in store_tables(dst, dtx)}
        held = {n: c for n, c in _count_records(dtx, list(existing.values())).items() if c}
        if held and not overwrite:
            shown = ", ".join(f"{n} ({c})" for n, c in list(held.items())[:4])
            raise CopyRefused(
                f"destination {dst.url} already holds records: {shown}; "
                "pass --overwrite to replace them"
            )
        for name in existing:  # replaced wholesale: the destination ends equal to the source
            _clear(dtx, name)
        total = sum(stx.scalar(f"SELECT count(*) FROM {t.name}") for t in tables)
        done = 0
        for table in tables:
            target = existing.get(table.name)
            if target is None:
                _create_like(dtx, table)
                target = next(t for t in store_tables(dst, dtx) if t.name == table.name)
            missing = [c for c in table.columns if c not in target.columns]
            if missing:
                raise CopyRefused(
                    f"destination table {table.name} lacks the columns {missing}; "
                    "are both stores at the same schema version?"
                )
            if table.geometry_column and target.geometry_column != table.geometry_column:
                raise CopyRefused(f"table {table.name}: geometry columns differ")
            count = 0
            names = table.columns
            sql = (
                f"INSERT INTO {table.name} ({', '.join(names)}) "
                f"VALUES ({', '.join(':' + n for n in names)})"
            )
            for rows in table_rows(src, stx, table, batch=batch):
                if table.geometry_column:
                    column = table.geometry_column
                    srid = target.srid if target.srid is not None else (table.srid or 0)
                    encoded = _encode(dtx, [r[column] for r in rows], srid)
                    for r, v in zip(rows, encoded, strict=True):
                        r[column] = v
                try:
                    dtx.executemany(sql, rows)
                except Exception as exc:
                    raise StoreError(
                        f"copying {table.name} into {dst.url} failed: "
                        f"{str(exc).strip().splitlines()[0]}"
                    ) from exc
                count += len(rows)
                done += len(rows)
                if progress:
                    progress(done, total)
            following = next_fid(src, stx, table)
            if following is not None:
                _set_next_fid(dst, dtx, table.name, following)
            if table.geometry_column:
                dtx.touch(table.name)
            copied[table.name] = count
            logger.info("copied %s: %d rows", table.name, count)
        if data_root is not None:
            from geobase.store.workspace import record_data_root

            record_data_root(dtx, data_root.absolute())
    return copied


# --- locations -------------------------------------------------------------------------


def is_postgres_url(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


@dataclass(frozen=True)
class Location:
    """A store named on the command line.

    ``kind`` is ``url`` (PostGIS), ``gpkg`` (a bare GeoPackage file), ``workspace`` (a
    folder with ``geobase.toml``) or ``new`` (a folder to become a workspace: a
    destination only).
    """

    kind: Literal["url", "gpkg", "workspace", "new"]
    store: str  # store URL or GeoPackage path ('' for a new workspace)
    root: Path | None = None  # the workspace folder (workspace, new)


def resolve_location(location: str, *, destination: bool = False) -> Location:
    """The store a command-line location names.

    A location is a ``postgresql://`` URL, a ``.gpkg`` file (a destination file is
    created when missing), or a workspace folder (its ``geobase.toml`` names the store).
    A destination folder that is not a workspace yet (missing, or without
    ``geobase.toml``) becomes a new GeoPackage workspace.

    Raises:
        CopyRefused: the location names no store (missing file, folder without
            ``geobase.toml`` as a source, a file that is not ``.gpkg``).
    """
    from geobase.store.config import CONFIG_NAME, WorkspaceConfig

    if is_postgres_url(location):
        return Location("url", location)
    path = Path(location)
    if path.is_dir():
        config = path / CONFIG_NAME
        if config.is_file():
            return Location("workspace", WorkspaceConfig.read(config).store, path.absolute())
        if destination:
            if (path / "workspace.gpkg").exists():
                raise CopyRefused(
                    f"{path} holds a workspace.gpkg but no {CONFIG_NAME}; give that file as "
                    "the destination, or an empty folder for a new workspace"
                )
            return Location("new", "", path.absolute())
        raise CopyRefused(
            f"{path} is not a geobase workspace (no {CONFIG_NAME}); give a workspace "
            "folder, a .gpkg file or a postgresql:// URL"
        )
    if path.suffix.lower() != ".gpkg":
        if destination and not path.exists():
            return Location("new", "", path.absolute())
        raise CopyRefused(
            f"{location}: expected a workspace folder, a .gpkg file or a postgresql:// URL"
        )
    if not path.exists() and not destination:
        raise CopyRefused(f"{location}: no such GeoPackage")
    if destination and not path.parent.is_dir():
        raise CopyRefused(f"{location}: folder {path.parent} does not exist")
    return Location("gpkg", str(path.absolute()))


@dataclass
class CopyResult:
    """What :func:`copy_between` did (URLs shown without passwords)."""

    source: str
    destination: str
    kind: str  # the destination's Location kind: url, gpkg, workspace or new
    rows: dict[str, int]
    data_root: Path | None  # where the destination's records find their files
    shared: bool  # the destination uses the source's files where they are
    workspace: Path | None = None  # the workspace created (a new folder)
    files: TransferResult | None = None
    present: int = 0  # files already in place
    missing: list[str] = field(default_factory=list)  # named by records, not found


def copy_between(
    src_location: str,
    dst_location: str,
    *,
    overwrite: bool = False,
    files: FileMode | None = None,
    data_root: str | Path | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> CopyResult:
    """Copy the store at one location to another (see :func:`resolve_location`), and
    make sure the copy finds the source's files.

    The source's files lie under its data root: a workspace's own (``data_root`` in its
    ``geobase.toml``), ``data_root`` when given, or the folder a previous copy recorded
    in the store. A PostGIS or bare GeoPackage destination holds no files: the source's
    data root is recorded in it (``geobase_meta``), so that ``geobase init DIR --store
    URL`` finds the files there. A workspace destination (new or existing) gets the
    files under its own data root: ``link`` (default: hard links, a copy where the
    filesystems cannot link), ``copy``, or ``none`` (a new workspace then names the
    source's data root as its own: both use the same files).

    Raises:
        CopyRefused: see :func:`resolve_location` and :func:`copy_store`; files asked of a
            destination that holds none; files to move and no known source data root.
        FileTransferRefused: a different file lies where one would go.
    """
    from geobase.errors import WorkspaceError
    from geobase.store.config import CONFIG_NAME, WorkspaceConfig
    from geobase.store.workspace import (
        Workspace,
        open_store,
        recorded_data_root,
        resolve_data_root,
    )

    src = resolve_location(src_location)
    dst = resolve_location(dst_location, destination=True)
    holds_files = dst.kind in ("workspace", "new")
    if files not in (None, "none") and not holds_files:
        raise CopyRefused(
            f"--files {files}: {dst_location} is a store without a folder for files; the "
            "files stay where they are and the store records that folder"
        )
    mode: FileMode = files or ("link" if holds_files else "none")
    src_root = src.root if src.kind == "workspace" else None
    src_config = WorkspaceConfig.read(src_root / CONFIG_NAME) if src_root is not None else None
    new_file = None
    if dst.kind == "gpkg" and not Path(dst.store).exists():
        new_file = Path(dst.store)
    created_ws: Path | None = None
    made_folder = dst.kind == "new" and not (dst.root and dst.root.exists())
    moved: TransferResult | None = None
    try:
        with open_store(src.store, src.root) as src_store:
            source_root: Path | None
            if data_root is not None:
                source_root = Path(data_root).absolute()
                if not source_root.is_dir():
                    raise CopyRefused(f"--data-root {data_root}: no such folder")
            elif src_root is not None and src_config is not None:
                source_root = resolve_data_root(src_root, src_config.data_root)
            else:
                recorded = recorded_data_root(src_store)
                source_root = Path(recorded) if recorded else None
            if dst.kind == "new":
                assert dst.root is not None
                shared_root = source_root if mode == "none" else None
                created_ws = dst.root  # what init makes is removed if anything fails
                ws = Workspace.init(
                    dst.root,
                    name=src_config.name if src_config else None,
                    crs=src_config.crs if src_config else "EPSG:4548",
                    data_root=shared_root,
                )
                dst_store = ws.store
                target_root: Path | None = ws.data_root
            else:
                try:
                    dst_store = open_store(dst.store, dst.root, create=True)
                except WorkspaceError as exc:
                    if isinstance(exc, ValueError | OSError):
                        raise
                    raise CopyRefused(f"destination {dst_location}: {exc}") from None
                target_root = None
                if dst.kind == "workspace":
                    assert dst.root is not None
                    config = WorkspaceConfig.read(dst.root / CONFIG_NAME)
                    target_root = resolve_data_root(dst.root, config.data_root)
            with dst_store:
                if dst.kind == "new" and src_config is not None:
                    # the source's settings (products, tiles, server) travel with its records
                    ws.config = src_config.model_copy(
                        update={"store": ws.config.store, "data_root": ws.config.data_root}
                    )
                    ws.save_config()
                plan = None
                if holds_files and mode != "none" and target_root is not None:
                    same = (
                        source_root is not None and source_root.resolve() == target_root.resolve()
                    )
                    if not same:
                        if source_root is None:
                            if stored_paths(src_store):
                                raise CopyRefused(
                                    f"{src_location} does not record where its files are; "
                                    "pass --data-root naming the folder that holds its data/"
                                )
                        else:
                            plan = plan_transfer(src_store, source_root, target_root)
                            moved = transfer(plan, mode)
                files_at = target_root if holds_files else source_root
                rows = copy_store(
                    src_store, dst_store, overwrite=overwrite, progress=progress, data_root=files_at
                )
                shown = (src_store.url, dst_store.url)
                names_files = bool(stored_paths(src_store))
                missing = (
                    plan.missing
                    if plan is not None
                    else _missing(src_store, files_at)
                    if files_at is not None
                    else []
                )
    except BaseException:
        if moved is not None:
            moved.undo()
        if new_file is not None:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{new_file}{suffix}").unlink(missing_ok=True)
        if created_ws is not None:
            for name in (CONFIG_NAME, "workspace.gpkg", "workspace.gpkg-wal",
                         "workspace.gpkg-shm"):  # fmt: skip
                (created_ws / name).unlink(missing_ok=True)
            if made_folder:
                shutil.rmtree(created_ws, ignore_errors=True)
        raise
    return CopyResult(
        source=shown[0],
        destination=shown[1],
        kind=dst.kind,
        rows=rows,
        data_root=files_at,
        shared=names_files and files_at is not None and files_at == source_root,
        workspace=created_ws,
        files=moved,
        present=plan.present if plan is not None else 0,
        missing=missing,
    )


def _missing(store: Store, root: Path) -> list[str]:
    return [p for p in stored_paths(store) if not (root / p).exists()]
