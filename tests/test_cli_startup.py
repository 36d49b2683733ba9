"""Start-up of the CLI: help and one-record writers import no heavy library (issue 17
item 8: every editor's command is its own process, so imports are most of its cost).

Each check runs in a fresh interpreter and looks at ``sys.modules`` afterwards; the
CPU-seconds saved are measured by bench/bench_cli_startup.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = (
    "numpy",
    "pandas",
    "geopandas",
    "shapely",
    "pyproj",
    "rasterio",
    "scipy",
    "matplotlib",
    "fastapi",
    "geobase.areas",
    "geobase.geodesy",
    "geobase.catalog",
    "pydantic",  # geobase.toml of plain values is read without it (geobase.store.config)
)


def loaded_after(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; the heavy modules it left loaded, and what
    ``code`` put in ``out``."""
    script = (
        "import json, sys\nout = {}\n" + code + "\n"
        f"heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
        "print(json.dumps({'heavy': heavy, 'out': out}))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_help_of_every_command_imports_no_heavy_library():
    code = (
        "from geobase.cli import COMMANDS, cli\n"
        "out['codes'] = {}\n"
        "for args in [['--help']] + [[name, '--help'] for name in sorted(COMMANDS)]:\n"
        "    out['codes'][' '.join(args)] = cli.main(args, standalone_mode=False)\n"
    )
    found = loaded_after(code)
    assert found["heavy"] == []
    assert set(found["out"]["codes"].values()) == {0}
    assert len(found["out"]["codes"]) > 15


def test_one_inspection_records_without_tables_geometry_or_geodesy(tmp_path):
    from geobase.control.inspections import inspection_history
    from geobase.store import Workspace
    from tests.conftest import run_cli

    ws_root = tmp_path / "ws"
    run_cli(["init", ws_root])
    points = ROOT / "control_points" / "points.csv"
    assert run_cli(["control", "import", points, "--workspace", ws_root]).exit_code == 0
    code = (
        "from geobase.cli import cli\n"
        "out['code'] = cli.main(['control', 'inspect', 'STCORS01', '-c', 'intact', '-d', "
        f"'2025-03-01', '-i', '李四', '--workspace', {str(ws_root)!r}], standalone_mode=False)"
    )
    found = loaded_after(code)
    assert found["out"]["code"] in (None, 0)  # 2 (bad input) would show here
    assert found["heavy"] == []
    with Workspace.open(ws_root) as ws:
        rows = inspection_history(ws, "STCORS01")
    assert [(str(r.inspected_on), r.condition, r.inspector) for r in rows][-1] == (
        "2025-03-01",
        "intact",
        "李四",
    )


def test_option_lists_kept_in_the_cli_agree_with_the_library():
    from geobase.cli.crs import RESAMPLING
    from geobase.geodesy.raster import RESAMPLING as LIB_RESAMPLING

    assert RESAMPLING == LIB_RESAMPLING
