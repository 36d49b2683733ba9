"""The demo workspace builds end to end and a second run is safe."""

from __future__ import annotations

import json

from geobase.store import Workspace
from tests.conftest import run_cli


def test_demo_builds_and_reruns(tmp_path):
    target = tmp_path / "shantou"
    first = run_cli(["demo", target])
    assert first.exit_code == 0, first.stderr
    second = run_cli(["demo", target])
    assert second.exit_code == 0, second.stderr
    status = run_cli(["status", "--workspace", target, "--format", "json"])
    records = json.loads(status.stdout)["records"]
    assert records["districts"] == 7
    with Workspace.open(target) as ws:
        assert ws.config.name == "shantou"
