"""Shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("GEOBASE_SHARED", ROOT.parent / "shared")) / "data" / "real"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The folder of real sample files (../shared/data/real); never modify them."""
    if not REAL_DATA.is_dir():
        pytest.fail(f"real sample data not found at {REAL_DATA}; set GEOBASE_SHARED")
    return REAL_DATA


@pytest.fixture
def workspace(tmp_path):
    """A fresh, empty workspace on the embedded GeoPackage store."""
    from geobase.store import Workspace

    ws = Workspace.init(tmp_path / "ws", name="test")
    yield ws
    ws.close()


@pytest.fixture
def cli_runner():
    from click.testing import CliRunner

    return CliRunner()


def run_cli(args, **kwargs):
    """Invoke the geobase CLI in-process; returns click's Result."""
    from click.testing import CliRunner

    from geobase.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False, **kwargs)
