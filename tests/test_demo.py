"""The demo workspace builds end to end (geobase demo) and a second run is safe."""

from __future__ import annotations

import json
import re

from geobase.catalog import current_datasets
from geobase.store import Workspace
from geobase.tiles.stores import open_pyramid
from tests.conftest import run_cli


def test_demo_builds_everything(demo_workspace):
    status = run_cli(["status", "--workspace", demo_workspace, "--format", "json"])
    records = json.loads(status.stdout)["records"]
    assert records["districts"] == 7
    assert records["control_points"] >= 400
    assert records["control_inspections"] > records["control_points"]
    with Workspace.open(demo_workspace) as ws:
        assert ws.config.name == "shantou"
        datasets = current_datasets(ws.store)
        products = set(datasets["product"])
        assert {"dom005", "dom02", "dom2", "dem", "pointcloud", "dlg500", "dlg1000"} <= products
        # the plan's 2020 baseline: 1:500 maps over 360.1 km2, acquired 2020 and earlier
        baseline = current_datasets(ws.store, product="dlg500", as_of="2020-12-31")
        area = baseline.to_crs(4548).geometry.union_all().area / 1e6
        assert 355 < area < 370
        assert (baseline["acquired_end"] <= "2020-12-31").all()
        # real sample deliveries (not in Shantou) are catalogued with their own CRS
        real = datasets.set_index("dataset_id")
        assert real.loc["rgb-byte", "epsg"] == 32618
        assert real.loc["autzen_trim", "product"] == "pointcloud"
    # pyramids in both grids, readable
    tiles = sorted((demo_workspace / "tiles").glob("*.pmtiles"))
    grids = set()
    for path in tiles:
        with open_pyramid(path) as reader:
            grids.add(reader.tms.id)
            assert next(iter(reader.tiles()), None) is not None
    assert grids == {"WebMercatorQuad", "CGCS2000Quad"}
    assert (demo_workspace / "reports" / "coverage.html").is_file()
    # the README's 'control inspect --from inspections.jsonl' has its sample stream: every
    # line parses, and names a mark of the registry
    from geobase.control.inspection_stream import parse_line
    from geobase.control.registry import get_point

    lines = (demo_workspace / "inspections.jsonl").read_text(encoding="utf-8").splitlines()
    entries = [parse_line(line) for line in lines]
    assert len(entries) == 3
    with Workspace.open(demo_workspace) as ws:
        for entry in entries:
            assert entry is not None and get_point(ws, entry.point_id) is not None


def test_demo_rerun_is_safe_and_says_what_next(demo_workspace):
    with Workspace.open(demo_workspace) as ws:
        before = len(current_datasets(ws.store))
    again = run_cli(["demo", demo_workspace])
    assert again.exit_code == 0, again.stderr
    assert "94 unchanged" in again.stderr or re.search(r"\d+ unchanged", again.stderr)
    assert "ingested" not in again.stderr.split("ingest (")[1].split("\n")[0]
    assert "up to date" in again.stderr
    assert "geobase serve" in again.stderr
    assert "coverage.html" in again.stderr
    with Workspace.open(demo_workspace) as ws:
        assert len(current_datasets(ws.store)) == before
