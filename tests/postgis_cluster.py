"""A throw-away PostgreSQL/PostGIS cluster for the test session.

One cluster per pytest session, in a temporary folder, listening on a free loopback port
with ``trust`` authentication; every test that needs PostGIS gets a fresh database copied
from a template (``CREATE DATABASE ... TEMPLATE``), which takes milliseconds where a
cluster takes seconds. The cluster is stopped and its folder removed at the end.

``initdb`` refuses to run as root: as root the cluster is created and run by the
``postgres`` system user (Debian's packages create it).
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

TEMPLATE = "geobase_template"
EMPTY_TEMPLATE = "geobase_template_empty"


class ClusterUnavailable(RuntimeError):
    """PostgreSQL or PostGIS is not installed (or the cluster cannot start)."""


def find_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/<N>/bin`` with initdb, or the one on PATH."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise ClusterUnavailable(
        "PostgreSQL is not installed (no initdb under /usr/lib/postgresql/*/bin or on PATH); "
        "run 'bash scripts/install-system-deps.sh test' as root"
    )


def postgis_installed(bindir: Path) -> bool:
    """Whether the PostGIS extension files exist for this PostgreSQL."""
    try:
        share = subprocess.run(
            [str(bindir / "pg_config"), "--sharedir"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        version = bindir.parent.name
        share = f"/usr/share/postgresql/{version}"
    return Path(share, "extension", "postgis.control").is_file()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A running throw-away cluster; use :meth:`start` and :meth:`stop`."""

    def __init__(self) -> None:
        self.bindir = find_bindir()
        if not postgis_installed(self.bindir):
            raise ClusterUnavailable(
                f"PostGIS is not installed for PostgreSQL {self.bindir.parent.name} "
                "(Debian package postgresql-<N>-postgis-3); "
                "run 'bash scripts/install-system-deps.sh test' as root"
            )
        self.as_postgres = os.geteuid() == 0
        self.folder = Path(tempfile.mkdtemp(prefix="geobase-pg-"))
        self.data = self.folder / "data"
        self.port = 0
        self._names = itertools.count(1)
        self.log = self.folder / "server.log"

    # --- process control -------------------------------------------------------------

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, cwd=self.folder)
        if check and result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise ClusterUnavailable(
                f"{args[0]} failed ({result.returncode}): {result.stderr.strip()[-2000:]} {log}"
            )
        return result

    def start(self) -> Cluster:
        if self.as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "--encoding=UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.folder}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "shared_buffers": "64MB",
            "max_locks_per_transaction": "256",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{k} = {v}\n" for k, v in settings.items())
        for attempt in range(3):
            self.port = free_port()
            result = self._run(
                "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                "-o", f"-p {self.port}", "start", check=attempt == 2,
            )  # fmt: skip
            if result.returncode == 0:
                break
        self._make_templates()
        return self

    def stop(self) -> None:
        if self.data.exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)

    # --- databases -------------------------------------------------------------------

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def admin(self):
        import psycopg

        return psycopg.connect(self.url("postgres"), autocommit=True)

    def _make_templates(self) -> None:
        from geobase.store.workspace import open_store

        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {EMPTY_TEMPLATE}")
        import psycopg

        with psycopg.connect(self.url(EMPTY_TEMPLATE), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION postgis")
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {TEMPLATE} TEMPLATE {EMPTY_TEMPLATE} STRATEGY FILE_COPY")
        # the migrated template: every test database starts with the current schema
        open_store(self.url(TEMPLATE), create=True).close()

    def create_database(self, *, empty: bool = False) -> str:
        """A fresh database (PostGIS, and the geobase schema unless ``empty``); its URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        template = EMPTY_TEMPLATE if empty else TEMPLATE
        with self.admin() as conn:
            for attempt in range(50):
                try:
                    conn.execute(f"CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY")
                    break
                except Exception as exc:  # template busy for a moment: retry
                    if "being accessed by other users" not in str(exc) or attempt == 49:
                        raise
                    time.sleep(0.1)
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with contextlib.suppress(Exception), self.admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
