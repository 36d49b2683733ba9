"""The radius search's SQL distance bracket agrees with its brute-force geodesic reference.

Generated centres and radii over a registry of seeded marks, on each store: the fast path
(``method="bracket"``) returns exactly the marks the reference
(:func:`geobase.control.registry.radius_fids_geodesic`, the geodesic distance to every
mark) returns, also for circles that pass within a micrometre of a mark; so does the
registry search behind ``control search --near``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from geobase.control.importer import import_points
from geobase.control.registry import (
    GEOD,
    RADIUS_METHOD_ENV,
    radius_fids,
    radius_fids_geodesic,
    radius_method,
    search,
    within_radius,
)
from geobase.errors import ValidationError
from geobase.store.districts import load_districts
from tests.control_helpers import DISTRICTS, bulk_rows, random_points_in_districts, write_csv

COUNT = 1500
SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def registry(workspace_any, tmp_path):
    """A workspace (each store) with COUNT seeded marks; their (lon, lat)."""
    ws = workspace_any
    load_districts(ws.store, DISTRICTS)
    lons, lats = random_points_in_districts(ws, COUNT, seed=11)
    import_points(ws, write_csv(tmp_path / "marks.csv", bulk_rows(lons, lats, with_grid=False)))
    return ws, lons, lats


CENTRE = st.tuples(st.floats(116.4, 117.1), st.floats(23.1, 23.7))


def _agree(ws, lon: float, lat: float, radius: float) -> None:
    with ws.store.read() as tx:
        fast = radius_fids(tx, lon, lat, radius, method="bracket")
        reference = radius_fids_geodesic(tx, lon, lat, radius)
        assert np.array_equal(np.sort(fast), reference), (lon, lat, radius)
        ids, dist = within_radius(tx, lon, lat, radius, method="geodesic")
        assert len(ids) == len(reference)
        assert (dist <= radius).all() and (np.diff(dist) >= 0).all()
    # `control search --near` (R-tree box, then the geodesic to each candidate) agrees too
    assert sorted(search(ws, near=(lon, lat), radius=radius)["point_id"]) == sorted(ids)


def test_bracket_agrees_with_geodesic_reference(registry):
    ws, lons, lats = registry

    @SETTINGS
    @given(
        centre=CENTRE,
        radius=st.one_of(st.floats(0, 60_000), st.sampled_from([0.0, 1.0, 50_000.0])),
    )
    def random_circles(centre, radius):
        _agree(ws, centre[0], centre[1], radius)

    @SETTINGS
    @given(
        centre=CENTRE,
        mark=st.integers(0, COUNT - 1),
        nudge=st.sampled_from([-1e-6, -1e-9, 0.0, 1e-9, 1e-6]),
    )
    @example(centre=(116.682, 23.354), mark=0, nudge=0.0)
    def circles_through_a_mark(centre, mark, nudge):
        # the circle passes (within a micrometre) through one mark
        _, _, d = GEOD.inv(centre[0], centre[1], lons[mark], lats[mark])
        _agree(ws, centre[0], centre[1], max(d + nudge, 0.0))

    random_circles()
    circles_through_a_mark()


def test_the_switch(monkeypatch):
    assert radius_method() == "bracket"
    assert radius_method("geodesic") == "geodesic"
    monkeypatch.setenv(RADIUS_METHOD_ENV, "geodesic")
    assert radius_method() == "geodesic"
    assert radius_method("bracket") == "bracket"
    monkeypatch.setenv(RADIUS_METHOD_ENV, "fast")
    with pytest.raises(ValidationError, match=RADIUS_METHOD_ENV):
        radius_method()
