"""The classification levels have one home, and everything built from records fails closed."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given
from hypothesis import strategies as st

import geobase.classification as classification
from geobase.classification import (
    CLASSIFICATIONS,
    check_classifications,
    may_see,
    most_restrictive,
    rank,
)
from geobase.errors import UnknownClassification

LEVELS = st.one_of(st.sampled_from(CLASSIFICATIONS), st.none(), st.text(max_size=12))


def test_examples_in_the_docstring():
    assert doctest.testmod(classification).failed == 0


@given(st.lists(LEVELS, max_size=6))
def test_most_restrictive_is_never_below_any_level_it_was_made_from(levels):
    strictest = most_restrictive(levels)
    assert strictest in CLASSIFICATIONS
    for level in levels:
        # an unknown level counts as restricted, the most secret known level
        assert rank(strictest) >= min(rank(level), rank("restricted"))
    if not levels:
        assert strictest == "internal"  # nothing is public until someone says so


@given(LEVELS, st.sampled_from(CLASSIFICATIONS))
def test_an_unknown_level_is_seen_by_nobody(level, clearance):
    if level not in CLASSIFICATIONS:
        assert not may_see(level, clearance)
    else:
        assert may_see(level, clearance) == (rank(level) <= rank(clearance))


def test_one_or_several_levels_are_checked():
    assert check_classifications("public") == ["public"]
    assert check_classifications(["internal", "restricted"]) == ["internal", "restricted"]
    with pytest.raises(UnknownClassification, match="'secret' is not one of public"):
        check_classifications(["public", "secret"])


def test_no_other_module_spells_out_the_levels():
    from tests.conftest import ROOT

    spelled = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "geobase").rglob("*.py")
        if '("public", "internal", "restricted")' in path.read_text(encoding="utf-8")
        or 'Literal["public", "internal", "restricted"]' in path.read_text(encoding="utf-8")
    ]
    assert spelled == ["geobase/classification.py"]


def test_every_lazily_exported_ingest_name_resolves():
    import geobase.ingest as ingest

    for name in ingest.__all__:
        assert getattr(ingest, name) is not None
