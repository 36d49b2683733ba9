"""The synthetic demo registry in control_points/: plan figures, determinism, idempotent load."""

from __future__ import annotations

import pytest

from geobase.control.demo_data import generate, load_demo
from geobase.control.registry import search
from geobase.store.districts import load_districts
from tests.control_helpers import DISTRICTS, ROOT

FOLDER = ROOT / "control_points"


def test_generator_reproduces_the_committed_files(tmp_path):
    generate(tmp_path, DISTRICTS)
    for name in ("points.csv", "inspections.csv"):
        assert (tmp_path / name).read_bytes() == (FOLDER / name).read_bytes(), name
    assert sorted(p.name for p in (tmp_path / "evidence").iterdir()) == sorted(
        p.name for p in (FOLDER / "evidence").iterdir()
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from geobase.store import Workspace

    ws = Workspace.init(tmp_path_factory.mktemp("demo") / "ws", name="demo")
    load_districts(ws.store, DISTRICTS)
    load_demo(ws, FOLDER)
    yield ws
    ws.close()


def test_demo_registry_matches_the_plan_figures(demo):
    frame = search(demo)
    ids = frame["point_id"]
    assert (frame["kind"] == "cors").sum() == 13
    assert (frame["gnss_grade"] == "B").sum() == 20
    assert ids.str.fullmatch(r"STC\d{3}").sum() == 141
    per_district = {
        ("HJC", "濠江区", "C"): 27,
        ("CHD", "澄海区", "D"): 20,
        ("CNC", "潮南区", "C"): 30,
        ("CYD", "潮阳区", "D"): 20,
        ("NAD", "南澳县", "D"): 15,
    }
    for (prefix, district, grade), count in per_district.items():
        group = frame[ids.str.startswith(prefix)]
        assert len(group) == count
        assert set(group["district"]) == {district} and set(group["gnss_grade"]) == {grade}
    census = frame[ids.str.startswith("PC")]
    assert len(census) == 120
    # the 2021 census: 21 usable (5 D both, 13 E GNSS, 3 levelling only), rate under 20%
    with demo.store.read() as tx:
        rows = tx.query(
            "SELECT i.point_id, i.usability FROM control_inspections i WHERE i.point_id LIKE 'PC%' "
            "AND i.inspected_on < '2022-01-01'"
        )
    usable = {r["point_id"]: r["usability"] for r in rows if r["usability"] != "none"}
    assert len(rows) == 120 and len(usable) == 21
    assert sorted(usable.values()).count("both") == 5
    assert sorted(usable.values()).count("gnss") == 13
    assert sorted(usable.values()).count("levelling") == 3
    assert set(frame["kind"]) == {"cors", "gnss", "levelling", "city"}
    assert frame["notes"].str.contains("SYNTHETIC").all()


def test_loading_twice_adds_nothing(demo):
    with demo.store.read() as tx:
        before = tx.scalar("SELECT count(*) FROM control_inspections")
    summary = load_demo(demo, FOLDER)
    assert summary.startswith("0 control points added (460 already there), 0 inspections")
    with demo.store.read() as tx:
        assert tx.scalar("SELECT count(*) FROM control_inspections") == before
        assert tx.scalar("SELECT count(*) FROM control_evidence") == 15
