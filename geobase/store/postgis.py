"""The multi-user store: PostgreSQL with PostGIS, through psycopg 3 and a connection pool.

Domain code runs the same calls as on the GeoPackage store; this module translates the
little that differs:

- SQL: named ``:param`` (and ``?``) placeholders become server-side ``$n`` parameters (a
  name used twice is one parameter, so ``:p IS NULL OR col = :p`` types ``:p`` from
  ``col``); ``INSERT OR IGNORE`` becomes ``ON CONFLICT DO NOTHING``; portable column types
  in ``CREATE TABLE`` / ``ALTER TABLE ... ADD COLUMN`` map to PostgreSQL's (see
  :data:`TYPES`); the few sqlite functions domain SQL may use (``ifnull``, ``instr``,
  ``group_concat``, ``round(real, n)``, ``json_extract``) exist as SQL functions in the
  workspace schema.
- Types: ``INTEGER`` is ``BIGINT`` (sqlite integers are 64-bit), ``REAL`` is ``DOUBLE
  PRECISION`` (PostgreSQL's ``REAL`` is 32-bit), ``BLOB`` is ``BYTEA``, and ``DATE`` /
  ``DATETIME`` stay ``TEXT``: geobase stores them as the ISO 8601 strings GeoPackage
  prescribes and domain SQL compares them as strings (``substr(at, 1, 10) <= :as_of``),
  so text keeps that SQL, its ordering and a copy between the stores byte-for-byte equal.
  ``numeric`` results (``sum``/``avg`` of integers) come back as ``int`` or ``float``
  like sqlite's, and ``bool`` parameters go in as 0/1.
- Geometry: ``geometry(<type>, <srid>)`` columns with a GiST index; values go in as EWKB
  and come out as hex EWKB (:meth:`PostGISStore.read_geom` decodes both);
  :meth:`PostGISTransaction.bbox_filter` is ``geom && ST_MakeEnvelope(...)``.

Concurrency: a write transaction (``transaction()``) first takes the workspace's write
lock (a transaction-scoped advisory lock), so writers run one after another exactly as on
GeoPackage (``BEGIN IMMEDIATE``) and domain code that reads then writes (next version
number, upsert of a mark) never loses an update or trips over a concurrent insert;
a read transaction (``read()``) is a ``REPEATABLE READ READ ONLY`` snapshot that never
waits for writers. Edits that span transactions (an editor's form) use optimistic
versioning, :meth:`geobase.store.base.Transaction.update_versioned`.

The store URL is a libpq URL, ``postgresql://user:password@host:port/database``, with
optional query parameters ``schema`` (the workspace's schema, created when missing;
default: the database's default schema), ``pool_min`` and ``pool_max`` (connection pool
size, default 1 and 10); other parameters (``sslmode``, ``connect_timeout``...) go to
libpq. Messages never show the password.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import numpy as np
import psycopg
import psycopg_pool
import shapely
from psycopg import errors as pgerrors
from psycopg.adapt import Dumper, Loader
from shapely.geometry.base import BaseGeometry

from geobase.errors import ConflictError, StoreError, WorkspaceError
from geobase.store.base import BBox, Params, Store, Transaction

logger = logging.getLogger(__name__)

LOCK_TIMEOUT_S = 300
CONNECT_TIMEOUT_S = 10
IDLE_CHECK_S = 30.0
COMPAT_VERSION = 1
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class StoreURLError(WorkspaceError, ValueError):
    """A store URL is malformed (``postgresql://user@host:port/database[?schema=S]``)."""


class StoreUnavailable(StoreError, OSError):
    """The PostgreSQL server cannot be reached, refuses the login or lacks PostGIS."""


# --- URLs ------------------------------------------------------------------------------


def redact(url: str) -> str:
    """A store URL with its password replaced by ``***`` (for messages)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"//([^:/@]*):[^@]*@", r"//\1:***@", url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def parse_url(url: str) -> tuple[str, str | None, int, int]:
    """Split a store URL into (libpq URL, schema, pool_min, pool_max).

    Raises:
        StoreURLError: not a ``postgresql://`` URL, no database name, a bad schema name
            or pool size.
    """
    shown = redact(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise StoreURLError(f"store URL {shown} is malformed ({exc})") from None
    if parts.scheme not in ("postgresql", "postgres"):
        raise StoreURLError(f"store URL {shown} is not a postgresql:// URL")
    database = unquote(parts.path.lstrip("/"))
    if not database or "/" in database:
        raise StoreURLError(
            f"store URL {shown} names no database; expected postgresql://user@host:port/database"
        )
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    schema = query.pop("schema", None)
    if schema is not None and not _IDENT.match(schema):
        raise StoreURLError(f"store URL {shown}: schema {schema!r} is not a plain SQL name")
    sizes = []
    for key, default in (("pool_min", 1), ("pool_max", 10)):
        value = query.pop(key, str(default))
        if not value.isdigit() or int(value) < (0 if key == "pool_min" else 1):
            raise StoreURLError(f"store URL {shown}: {key}={value!r} is not a pool size")
        sizes.append(int(value))
    if sizes[0] > sizes[1]:
        raise StoreURLError(f"store URL {shown}: pool_min is larger than pool_max")
    query.setdefault("connect_timeout", str(CONNECT_TIMEOUT_S))
    query.setdefault("application_name", "geobase")
    libpq = urlunsplit(("postgresql", parts.netloc, quote(database), urlencode(query), ""))
    return libpq, schema, sizes[0], sizes[1]


# --- SQL translation -------------------------------------------------------------------

# portable column type -> PostgreSQL type
TYPES = {
    "INTEGER": "BIGINT",
    "INT": "BIGINT",
    "BIGINT": "BIGINT",
    "SMALLINT": "BIGINT",
    "TINYINT": "BIGINT",
    "MEDIUMINT": "BIGINT",
    "BOOLEAN": "BIGINT",
    "REAL": "DOUBLE PRECISION",
    "DOUBLE": "DOUBLE PRECISION",
    "FLOAT": "DOUBLE PRECISION",
    "NUMERIC": "DOUBLE PRECISION",
    "TEXT": "TEXT",
    "VARCHAR": "TEXT",
    "BLOB": "BYTEA",
    "DATE": "TEXT",
    "DATETIME": "TEXT",
    "TIMESTAMP": "TEXT",
}
_CONSTRAINT_WORDS = {"UNIQUE", "PRIMARY", "CHECK", "FOREIGN", "CONSTRAINT"}
_COLUMN = re.compile(
    r"^(\s*(?:\"[^\"]+\"|\w+)\s+)(DOUBLE\s+PRECISION|\w+)(\s*\(\s*\d+(?:\s*,\s*\d+)?\s*\))?(.*)$",
    re.IGNORECASE | re.DOTALL,
)
_FID = re.compile(r"\bINTEGER\s+PRIMARY\s+KEY(\s+AUTOINCREMENT)?\b", re.IGNORECASE)
_CREATE_TABLE = re.compile(r"^\s*CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?(\w+)\s*\(", re.I)
_ADD_COLUMN = re.compile(r"^(\s*ALTER\s+TABLE\s+\w+\s+ADD\s+(?:COLUMN\s+)?)(.*)$", re.I | re.S)
_NULL_TEST = re.compile(r"\s+IS\s+(NOT\s+)?NULL\b", re.IGNORECASE)
_RAISE_TRIGGER = re.compile(
    r"^\s*CREATE\s+TRIGGER\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)\s+(BEFORE|AFTER)\s+"
    r"(INSERT|UPDATE|DELETE)\s+ON\s+(\w+)\s+BEGIN\s+SELECT\s+RAISE\s*\(\s*"
    r"(?:ABORT|FAIL|ROLLBACK)\s*,\s*'((?:[^']|'')*)'\s*\)\s*;\s*END\s*;?\s*$",
    re.IGNORECASE,
)
_INSERT_OR = re.compile(r"^\s*INSERT\s+OR\s+(\w+)\s+INTO\b", re.IGNORECASE)


def split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses or quotes."""
    parts, depth, start, quote_char = [], 0, 0, None
    for i, c in enumerate(text):
        if quote_char:
            if c == quote_char:
                quote_char = None
        elif c in "'\"":
            quote_char = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def column_ddl(definition: str) -> str:
    """One portable column definition (or table constraint) in PostgreSQL terms."""
    if _FID.search(definition):
        return _FID.sub("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", definition)
    match = _COLUMN.match(definition)
    if not match or match.group(1).strip().upper() in _CONSTRAINT_WORDS:
        return definition
    head, kind, _size, rest = match.groups()
    mapped = TYPES.get(re.sub(r"\s+", " ", kind.upper()).replace("DOUBLE PRECISION", "REAL"))
    if mapped is None:
        return definition
    if re.search(r"\bCOLLATE\s+NOCASE\b", rest, re.IGNORECASE):
        raise StoreError(f"column {definition!r}: COLLATE NOCASE has no PostgreSQL equivalent")
    return f"{head}{mapped}{rest}"


def _translate_statement(sql: str) -> str:
    """sqlite-isms of one statement rewritten for PostgreSQL (before placeholders)."""
    head = sql.lstrip()[:40].upper()
    if head.startswith("CREATE TABLE"):
        match = _CREATE_TABLE.match(sql)
        if match:
            body = sql[match.end() : sql.rindex(")")]
            columns = ", ".join(column_ddl(c) for c in split_top_level(body))
            return f"{sql[: match.end()]}{columns})"
    elif head.startswith("ALTER TABLE"):
        match = _ADD_COLUMN.match(sql)
        if match:
            return match.group(1) + column_ddl(match.group(2))
    elif head.startswith("INSERT OR"):
        match = _INSERT_OR.match(sql)
        if match and match.group(1).upper() == "IGNORE":
            return (
                "INSERT INTO" + sql[match.end() :].rstrip().rstrip(";") + " ON CONFLICT DO NOTHING"
            )
        raise StoreError(
            f"'INSERT OR {match.group(1) if match else '?'}' is sqlite-only; use "
            "INSERT ... ON CONFLICT (columns) DO UPDATE, which both stores run"
        )
    elif head.startswith("CREATE TRIGGER") and (match := _RAISE_TRIGGER.match(sql)):
        # the one trigger form geobase uses: refuse changes to append-only history
        name, when, op, table, message = match.groups()
        return (
            f"CREATE OR REPLACE FUNCTION {name}_fn() RETURNS trigger LANGUAGE plpgsql AS "
            f"$geobase$BEGIN RAISE EXCEPTION USING MESSAGE = '{message}', "
            f"ERRCODE = 'integrity_constraint_violation'; END$geobase$; "
            f"CREATE OR REPLACE TRIGGER {name} {when} {op} ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {name}_fn()"
        )
    elif head.startswith(("CREATE TRIGGER", "PRAGMA", "CREATE VIRTUAL")):
        raise StoreError(f"sqlite-only statement on PostGIS: {sql.strip()[:60]}...")
    return sql


@functools.lru_cache(maxsize=4096)
def convert(sql: str) -> tuple[str, tuple[str, ...] | int]:
    """A geobase statement as PostgreSQL SQL with ``$n`` placeholders.

    Returns the SQL and either the parameter names in ``$n`` order (named style) or the
    number of positional parameters (``?`` style).

    Example:
        >>> convert("SELECT a FROM t WHERE b = :x OR (:x IS NULL AND c::text = 'a:b')")
        ("SELECT a FROM t WHERE b = $1 OR ($1 IS NULL AND c::text = 'a:b')", ('x',))
    """
    sql = _translate_statement(sql)
    out: list[str] = []
    names: dict[str, int] = {}
    positional = 0
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        nxt = sql[i + 1] if i + 1 < n else ""
        if c in "'\"":
            j = i + 1
            while j < n:
                if sql[j] == c:
                    if j + 1 < n and sql[j + 1] == c:  # doubled quote
                        j += 2
                        continue
                    break
                j += 1
            out.append(sql[i : j + 1])
            i = j + 1
        elif c == "-" and nxt == "-":
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(sql[i:j])
            i = j
        elif c == "/" and nxt == "*":
            j = sql.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(sql[i:j])
            i = j
        elif c == ":" and nxt == ":":
            out.append("::")
            i += 2
        elif c == ":" and (nxt.isalpha() or nxt == "_"):
            j = i + 1
            while j < n and (sql[j].isalnum() or sql[j] == "_"):
                j += 1
            name = sql[i + 1 : j]
            null_test = _NULL_TEST.match(sql, j)
            if null_test:
                # ":p IS NULL" leaves $n untyped in PostgreSQL; test the value here instead
                name = f"{'!' if null_test.group(1) else '?'}{name}"
                j = null_test.end()
            number = names.setdefault(name, len(names) + 1)
            out.append(f"(1 = ${number})" if null_test else f"${number}")
            i = j
        elif c == "?":
            j = i + 1
            while j < n and sql[j].isdigit():
                j += 1
            if j > i + 1:
                raise StoreError("numbered ?NNN placeholders are not supported; use :name")
            positional += 1
            out.append(f"${positional}")
            i = j
        else:
            out.append(c)
            i += 1
    if names and positional:
        raise StoreError("a statement mixes :name and ? placeholders")
    return "".join(out), (tuple(names) if names else positional)


def bind(names: tuple[str, ...] | int, params: Params) -> list[Any]:
    """Parameter values in ``$n`` order for :func:`convert`'s names."""
    if isinstance(names, int):
        if isinstance(params, Mapping):
            if names == 0:
                return []
            raise StoreError("a statement with ? placeholders got named parameters")
        values = list(params)
        if len(values) != names:
            raise StoreError(f"the statement takes {names} parameters, {len(values)} given")
        return values
    if not isinstance(params, Mapping):
        raise StoreError(f"the statement takes named parameters {list(names)}, got a sequence")
    values = []
    for name in names:
        test = name[0] if name[0] in "?!" else ""
        try:
            value = params[name[1:] if test else name]
        except KeyError:
            raise StoreError(f"no value given for the parameter :{name.lstrip('?!')}") from None
        if test:
            value = int((value is None) == (test == "?"))
        values.append(value)
    return values


# --- type adaptation -------------------------------------------------------------------


class _NumericLoader(Loader):
    """``numeric`` as ``int`` when integral text, else ``float`` (sqlite's result types)."""

    def load(self, data):
        text = bytes(data)
        if b"." in text or b"e" in text or b"N" in text or b"I" in text:
            return float(text)
        return int(text)


class _BoolDumper(Dumper):
    """Python ``bool`` as an integer 0/1, as sqlite stores it."""

    oid = psycopg.adapters.types["int8"].oid

    def dump(self, obj):
        return b"1" if obj else b"0"


class EWKB(str):
    """A geometry parameter: hex extended WKB (with its SRID)."""

    __slots__ = ()


def _geometry_dumper(oid: int) -> type[Dumper]:
    class GeometryDumper(Dumper):
        def dump(self, obj):
            return obj.encode()

    GeometryDumper.oid = oid
    return GeometryDumper


# --- compatibility functions ------------------------------------------------------------

COMPAT_SQL = f"""
CREATE OR REPLACE FUNCTION ifnull(anycompatible, anycompatible) RETURNS anycompatible
  LANGUAGE sql IMMUTABLE AS 'SELECT coalesce($1, $2)';
CREATE OR REPLACE FUNCTION ifnull(text, text) RETURNS text
  LANGUAGE sql IMMUTABLE AS 'SELECT coalesce($1, $2)';
CREATE OR REPLACE FUNCTION instr(text, text) RETURNS integer
  LANGUAGE sql IMMUTABLE AS 'SELECT strpos($1, $2)';
CREATE OR REPLACE FUNCTION round(double precision, integer) RETURNS double precision
  LANGUAGE sql IMMUTABLE AS 'SELECT round($1::numeric, $2)::double precision';
CREATE OR REPLACE FUNCTION json_extract(text, text) RETURNS text
  LANGUAGE sql IMMUTABLE AS
  $$SELECT ($1::jsonb #>> string_to_array(regexp_replace(regexp_replace($2, '^\\$\\.?', ''),
          '\\[(\\d+)\\]', '.\\1', 'g'), '.'))$$;
CREATE OR REPLACE FUNCTION geobase_group_concat_step(text, text, text) RETURNS text
  LANGUAGE sql IMMUTABLE AS
  'SELECT CASE WHEN $2 IS NULL THEN $1 WHEN $1 IS NULL THEN $2 ELSE $1 || $3 || $2 END';
CREATE OR REPLACE FUNCTION geobase_group_concat_step(text, text) RETURNS text
  LANGUAGE sql IMMUTABLE AS 'SELECT geobase_group_concat_step($1, $2, '','')';
CREATE OR REPLACE AGGREGATE group_concat(text) (SFUNC = geobase_group_concat_step, STYPE = text);
CREATE OR REPLACE AGGREGATE group_concat(text, text)
  (SFUNC = geobase_group_concat_step, STYPE = text);
CREATE OR REPLACE FUNCTION geobase_compat_version() RETURNS integer
  LANGUAGE sql IMMUTABLE AS 'SELECT {COMPAT_VERSION}';
"""


# --- transactions ----------------------------------------------------------------------


def _first(row: tuple[Any, ...] | None) -> Any:
    """The first value of a row a query always returns."""
    if row is None:
        raise StoreError("PostgreSQL returned no row where one is always returned")
    return row[0]


class PostGISTransaction(Transaction):
    dialect = "postgis"

    def __init__(self, store: PostGISStore, conn: psycopg.Connection, write: bool):
        self.store = store
        self.conn = conn
        self.write = write

    def execute(self, sql: str, params: Params = ()) -> psycopg.Cursor:
        pg_sql, names = convert(sql)
        values = bind(names, params)
        cursor = self.conn.cursor()
        try:
            # without parameters: the simple protocol, which runs several statements
            cursor.execute(pg_sql, values or None)
        except psycopg.Error as exc:
            raise _translate_error(exc, self.store) from exc
        return cursor

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        pg_sql, names = convert(sql)
        batch = [bind(names, row) for row in rows]
        if not batch:
            return
        try:
            with self.conn.cursor() as cursor:
                cursor.executemany(pg_sql, batch)
        except psycopg.Error as exc:
            raise _translate_error(exc, self.store) from exc

    def _insert_returning_fid(self, sql: str, row: Mapping[str, Any]) -> int:
        return _first(self.execute(sql + " RETURNING fid", row).fetchone())

    def geom(self, geometry: BaseGeometry | None, srs_id: int) -> EWKB | None:
        if geometry is None:
            return None
        return EWKB(shapely.to_wkb(shapely.set_srid(geometry, srs_id), hex=True, include_srid=True))

    def geoms(self, geometries: Sequence[BaseGeometry], srs_id: int) -> list[EWKB | None]:
        geoms = np.asarray(geometries, dtype=object)
        if len(geoms) == 0:
            return []
        wkbs = shapely.to_wkb(shapely.set_srid(geoms, srs_id), hex=True, include_srid=True)
        return [None if w is None else EWKB(w) for w in wkbs]

    def bbox_filter(
        self, table: str, bbox: BBox, *, column: str = "geom", alias: str | None = None
    ) -> tuple[str, dict[str, float]]:
        minx, miny, maxx, maxy = (float(v) for v in bbox)
        srid = self.store.srid_of(self, table, column)
        prefix = f"{alias}." if alias else ""
        key = f"_bb_{table}"
        sql = (
            f"{prefix}{column} && ST_MakeEnvelope(:{key}_minx, :{key}_miny, "
            f":{key}_maxx, :{key}_maxy, {srid})"
        )
        params = {
            f"{key}_minx": minx,
            f"{key}_miny": miny,
            f"{key}_maxx": maxx,
            f"{key}_maxy": maxy,
        }
        return sql, params

    def create_feature_table(self, table, columns, geometry_type, srs_id, *, description=""):
        _check_ident(table)
        kind = geometry_type.upper()
        if kind == "GEOMETRYCOLLECTION":
            kind = "GeometryCollection"
        srid = max(int(srs_id), 0)
        cols = ", ".join(
            [
                "fid BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
                f"geom geometry({kind}, {srid})",
                *(column_ddl(c) for c in columns),
            ]
        )
        self.execute(f"CREATE TABLE {table} ({cols})")
        self.execute(f"CREATE INDEX {table}_geom_gist ON {table} USING GIST (geom)")
        self._comment(table, description)

    def create_attribute_table(self, table, columns, *, description=""):
        _check_ident(table)
        cols = ", ".join(
            [
                "fid BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
                *(column_ddl(c) for c in columns),
            ]
        )
        self.execute(f"CREATE TABLE {table} ({cols})")
        self._comment(table, description)

    def _comment(self, table: str, description: str) -> None:
        if description:
            literal = description.replace("'", "''")
            self.execute(f"COMMENT ON TABLE {table} IS '{literal}'")


def _check_ident(name: str) -> None:
    if not _IDENT.match(name):
        raise StoreError(f"table name {name!r} is not a plain SQL name")


def _translate_error(exc: psycopg.Error, store: PostGISStore) -> BaseException:
    """Connection and concurrency failures as geobase errors; SQL errors as they are."""
    if isinstance(exc, pgerrors.LockNotAvailable):
        return StoreError(
            f"store {store.url} stayed busy for {LOCK_TIMEOUT_S} s (another writer holds it)"
        )
    if isinstance(exc, pgerrors.SerializationFailure | pgerrors.DeadlockDetected):
        return ConflictError(
            f"a concurrent change conflicted with this one in {store.url}; retry ({exc.sqlstate})"
        )
    if isinstance(exc, psycopg.OperationalError) and exc.sqlstate is None:
        return StoreUnavailable(f"lost the connection to {store.url}: {_first_line(exc, store)}")
    return exc


def _first_line(exc: BaseException, store: PostGISStore | None = None, secret: str = "") -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    for s in (secret, getattr(store, "_password", "")):
        if s:
            text = text.replace(s, "***")
    return text


# --- the store -------------------------------------------------------------------------


class PostGISStore(Store):
    """A workspace store in a PostgreSQL database with PostGIS.

    Args:
        url: ``postgresql://user:password@host:port/database[?schema=S&pool_max=N]``.
        create: a new workspace: create the schema named in the URL when missing (the
            database itself must exist). Without it the store must already hold a
            geobase workspace. PostGIS is enabled when missing and the user may do so.

    Raises:
        StoreURLError: the URL is malformed.
        StoreUnavailable: the server cannot be reached or refuses the login, the
            database does not exist, or PostGIS is missing and cannot be enabled.
    """

    dialect = "postgis"

    def __init__(self, url: str, *, create: bool = False):
        self.url = redact(url)
        self._libpq, self.schema, pool_min, pool_max = parse_url(url)
        self._password = urlsplit(url).password or ""
        self._srids: dict[tuple[str, str], int] = {}
        self._local = threading.local()
        self._last_used: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._lock_key, geometry_oid = self._bootstrap(create)
        self._geometry_dumper = _geometry_dumper(geometry_oid)
        options = f"-c search_path={self.schema},public" if self.schema else None
        kwargs: dict[str, Any] = {"autocommit": True, "cursor_factory": psycopg.RawCursor}
        if options:
            kwargs["options"] = options
        self._pool = psycopg_pool.ConnectionPool(
            self._libpq,
            min_size=pool_min,
            max_size=pool_max,
            kwargs=kwargs,
            configure=self._configure,
            check=self._check,
            open=True,
            name="geobase",
        )

    # --- connections -------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection:
        kwargs: dict[str, Any] = {"autocommit": True}
        if self.schema:
            kwargs["options"] = f"-c search_path={self.schema},public"
        try:
            return psycopg.connect(self._libpq, **kwargs)
        except psycopg.Error as exc:
            raise StoreUnavailable(
                f"cannot connect to {self.url}: {_first_line(exc, self)}"
            ) from exc

    def _bootstrap(self, create: bool) -> tuple[int, int]:
        """Check the server, enable PostGIS, create the schema and the sqlite shims.

        A store already set up (the usual open) is only read: no lock is taken, so
        opening never waits for another process's set-up or writes.
        """
        with self._connect() as conn:
            if not create:
                try:
                    ready = self._ready(conn)
                except psycopg.Error as exc:
                    raise StoreUnavailable(
                        f"cannot read the store in {self.url}: {_first_line(exc, self)}"
                    ) from exc
                if ready is not None:
                    return ready
            try:
                conn.execute("BEGIN")
                # one process at a time sets a database up (CREATE EXTENSION / FUNCTION
                # are not safe to run concurrently)
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('geobase-bootstrap'))")
                if self.schema:
                    exists = conn.execute(
                        "SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)
                    ).fetchone()
                    if not exists:
                        if not create:
                            raise StoreUnavailable(
                                f"{self.url}: schema {self.schema!r} does not exist"
                            )
                        conn.execute(f"CREATE SCHEMA {self.schema}")
                has_postgis = conn.execute(
                    "SELECT 1 FROM pg_extension WHERE extname = 'postgis'"
                ).fetchone()
                if not has_postgis:
                    try:
                        conn.execute("CREATE EXTENSION postgis")
                    except psycopg.Error as exc:
                        raise StoreUnavailable(
                            f"{self.url}: the database lacks the PostGIS extension and it "
                            f"cannot be enabled ({_first_line(exc, self)}); ask an "
                            "administrator to run CREATE EXTENSION postgis"
                        ) from exc
                version = _first(
                    conn.execute(
                        "SELECT CASE WHEN to_regprocedure('geobase_compat_version()') IS NULL "
                        "THEN 0 ELSE 1 END"
                    ).fetchone()
                )
                if version:
                    version = _first(conn.execute("SELECT geobase_compat_version()").fetchone())
                if version != COMPAT_VERSION:
                    conn.execute(COMPAT_SQL)
                if not create:
                    found = conn.execute(
                        "SELECT 1 FROM information_schema.tables WHERE table_schema = "
                        "current_schema() AND table_name = 'geobase_migrations'"
                    ).fetchone()
                    if not found:
                        raise StoreUnavailable(
                            f"{self.url} holds no geobase workspace; "
                            "create one with 'geobase init DIR --store URL'"
                        )
                key = _first(
                    conn.execute(
                        "SELECT hashtextextended('geobase-write:' || current_schema(), 0)"
                    ).fetchone()
                )
                oid = _first(conn.execute("SELECT 'geometry'::regtype::oid").fetchone())
                conn.execute("COMMIT")
            except psycopg.Error as exc:
                raise StoreUnavailable(
                    f"cannot set up the store in {self.url}: {_first_line(exc, self)}"
                ) from exc
        return int(key), int(oid)

    def _ready(self, conn: psycopg.Connection) -> tuple[int, int] | None:
        """(write-lock key, geometry oid) if the store needs no set-up, else None."""
        row = conn.execute(
            "SELECT (SELECT count(*) FROM pg_extension WHERE extname = 'postgis'), "
            "to_regprocedure('geobase_compat_version()') IS NOT NULL, "
            "(SELECT count(*) FROM information_schema.tables WHERE table_schema = "
            "current_schema() AND table_name = 'geobase_migrations'), "
            "hashtextextended('geobase-write:' || current_schema(), 0), current_schema()"
        ).fetchone()
        if row is None:
            raise StoreError(f"{self.url}: PostgreSQL returned no row where one is always returned")
        if not (row[0] and row[1] and row[2]) or (self.schema and row[4] != self.schema):
            return None
        if _first(conn.execute("SELECT geobase_compat_version()").fetchone()) != COMPAT_VERSION:
            return None
        oid = _first(conn.execute("SELECT 'geometry'::regtype::oid").fetchone())
        return int(row[3]), int(oid)

    def _check(self, conn: psycopg.Connection) -> None:
        # a connection idle for a while may have been dropped (server restart, firewall):
        # test it before use; a recently used one costs no extra round trip
        if time.monotonic() - self._last_used.get(conn, 0.0) > IDLE_CHECK_S:
            psycopg_pool.ConnectionPool.check_connection(conn)

    def _configure(self, conn: psycopg.Connection) -> None:
        conn.adapters.register_loader("numeric", _NumericLoader)
        conn.adapters.register_dumper(bool, _BoolDumper)
        conn.adapters.register_dumper(EWKB, self._geometry_dumper)

    # --- transactions ------------------------------------------------------------------

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[PostGISTransaction]:
        outer: PostGISTransaction | None = getattr(self._local, "tx", None)
        if outer is not None:
            # nested use joins the outer transaction, as on GeoPackage
            if write and not outer.write:
                raise StoreError(
                    "a write transaction cannot be nested inside a read-only one; "
                    "open the outer one with transaction()"
                )
            yield outer
            return
        try:
            conn = self._pool.getconn(timeout=LOCK_TIMEOUT_S)
        except psycopg_pool.PoolTimeout:
            raise StoreUnavailable(
                f"no connection to {self.url} within {LOCK_TIMEOUT_S} s"
            ) from None
        except psycopg.Error as exc:
            raise StoreUnavailable(
                f"cannot connect to {self.url}: {_first_line(exc, self)}"
            ) from exc
        tx = PostGISTransaction(self, conn, write)
        try:
            try:
                if write:
                    conn.execute(
                        "BEGIN ISOLATION LEVEL READ COMMITTED; "
                        f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_S}s'; "
                        f"SELECT pg_advisory_xact_lock({self._lock_key})"
                    )
                else:
                    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            except psycopg.Error as exc:
                translated = _translate_error(exc, self)
                if translated is exc:
                    raise
                raise translated from exc
            self._local.tx = tx
            try:
                yield tx
            except BaseException:
                self._local.tx = None
                if not conn.closed:
                    try:
                        conn.execute("ROLLBACK")
                    except psycopg.Error:
                        logger.debug("rollback failed on a broken connection", exc_info=True)
                raise
            self._local.tx = None
            try:
                conn.execute("COMMIT")
            except psycopg.Error as exc:
                translated = _translate_error(exc, self)
                if translated is exc:
                    raise
                raise translated from exc
        finally:
            self._local.tx = None
            self._last_used[conn] = time.monotonic()
            self._pool.putconn(conn)

    # --- geometry ----------------------------------------------------------------------

    def read_geom(self, value: Any) -> BaseGeometry | None:
        if value is None:
            return None
        return shapely.from_wkb(value)

    def read_geoms(self, values: Sequence[Any]):
        return shapely.from_wkb(np.array(list(values), dtype=object))

    def srid_of(self, tx: PostGISTransaction, table: str, column: str = "geom") -> int:
        """The SRID of a geometry column (cached)."""
        key = (table, column)
        if key not in self._srids:
            srid = tx.scalar(
                "SELECT srid FROM geometry_columns WHERE f_table_schema = current_schema() "
                "AND f_table_name = :t AND f_geometry_column = :c",
                {"t": table, "c": column},
            )
            if srid is None:
                raise StoreError(f"{table}.{column} is not a geometry column")
            self._srids[key] = int(srid)
        return self._srids[key]

    def close(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None and not pool.closed:
            pool.close()

    def __repr__(self) -> str:
        return f"PostGISStore({self.url!r})"
