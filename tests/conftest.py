"""Shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: the real sample files, committed with the repository (datasets/real/README.md)
REAL_DATA = ROOT / "datasets" / "real"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The folder of real sample files (datasets/real); never modify them."""
    if not REAL_DATA.is_dir():
        pytest.fail(f"real sample data not found at {REAL_DATA}; the clone is incomplete")
    return REAL_DATA


# --- store backends ---------------------------------------------------------------------
# A test (or module, via ``pytestmark``) marked ``both_stores`` runs its ``workspace`` on
# the GeoPackage store and on PostGIS; ``workspace_any`` always does. PostGIS runs on one
# throw-away cluster per session (tests/postgis_cluster.py), a fresh database per test.

STORE_BACKENDS = ["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)]


def _integrity_errors() -> tuple[type[BaseException], ...]:
    import sqlite3

    try:
        import psycopg
    except ImportError:
        return (sqlite3.IntegrityError,)
    return (sqlite3.IntegrityError, psycopg.IntegrityError)


#: what a change refused by the database (constraint, append-only trigger) raises, on
#: either store: ``pytest.raises(INTEGRITY_ERRORS, match=...)``
INTEGRITY_ERRORS = _integrity_errors()


# the store-dependent domain tests: their ``workspace`` is each store in turn
BOTH_STORES_MODULES = (
    "test_control_",
    "test_catalog",
    "test_coverage_",
    "test_ingest_",
    "test_districts",
)


def pytest_generate_tests(metafunc):
    # GEOBASE_TEST_STORES=both runs every test that uses ``workspace`` on both stores
    everywhere = os.environ.get("GEOBASE_TEST_STORES") == "both"
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if "store_backend" in metafunc.fixturenames and (
        everywhere
        or module.startswith(BOTH_STORES_MODULES)
        or metafunc.definition.get_closest_marker("both_stores")
    ):
        metafunc.parametrize("store_backend", STORE_BACKENDS, indirect=True)


@pytest.fixture(scope="session")
def pg_cluster():
    """The session's PostgreSQL/PostGIS cluster (skips where PostgreSQL is missing, except in CI)."""
    try:
        import psycopg  # noqa: F401

        from tests.postgis_cluster import Cluster, ClusterUnavailable
    except ImportError as exc:
        reason = f"psycopg is not installed ({exc}); pip install 'geobase[postgis]'"
        if os.environ.get("CI"):
            pytest.fail(f"PostGIS tests cannot run in CI: {reason}")
        pytest.skip(reason)
    try:
        cluster = Cluster()
    except ClusterUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostGIS tests cannot run in CI: {exc}")
        pytest.skip(f"PostGIS tests skipped: {exc}")
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster, request):
    """The URL of a fresh PostGIS database holding an empty, migrated geobase workspace."""
    url = pg_cluster.create_database()
    request.addfinalizer(lambda: pg_cluster.drop_database(url))
    return url


@pytest.fixture
def store_backend(request) -> str:
    """``gpkg`` unless the test is parametrised over the stores (marker ``both_stores``)."""
    return getattr(request, "param", "gpkg")


def _make_workspace(request, tmp_path, backend):
    from geobase.store import Workspace

    url = request.getfixturevalue("pg_url") if backend == "postgis" else None
    return Workspace.init(tmp_path / "ws", name="test", store=url)


@pytest.fixture
def workspace(request, tmp_path, store_backend):
    """A fresh, empty workspace (GeoPackage; also PostGIS for tests marked ``both_stores``)."""
    ws = _make_workspace(request, tmp_path, store_backend)
    yield ws
    ws.close()


@pytest.fixture(params=STORE_BACKENDS)
def workspace_any(request, tmp_path):
    """A fresh, empty workspace on each store backend in turn."""
    ws = _make_workspace(request, tmp_path, request.param)
    yield ws
    ws.close()


@pytest.fixture
def cli_runner():
    from click.testing import CliRunner

    return CliRunner()


@pytest.fixture(scope="session")
def demo_workspace(tmp_path_factory) -> Path:
    """The Shantou demo workspace, built once per session by ``geobase demo`` (read-mostly).

    Tests that change it must work on a copy; tests that only read it share it (building
    it takes a few minutes on two cores).
    """
    target = tmp_path_factory.mktemp("demo") / "shantou"
    result = run_cli(["demo", target])
    assert result.exit_code == 0, result.stderr
    return target


def run_cli(args, **kwargs):
    """Invoke the geobase CLI in-process; returns click's Result."""
    from click.testing import CliRunner

    from geobase.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False, **kwargs)
