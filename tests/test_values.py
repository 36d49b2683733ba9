"""The one JSON conversion (geobase.values): plain, plain_record, json_default."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geobase.values import json_default, plain, plain_record


@dataclasses.dataclass(frozen=True)
class _Release:
    day: dt.date
    count: np.int64
    share: float
    tags: tuple[str, ...]


def test_records_and_numpy_values_become_plain_json():
    release = _Release(dt.date(2024, 3, 30), np.int64(3), math.nan, ("a", "b"))
    assert plain(release) == {"day": "2024-03-30", "count": 3, "share": None, "tags": ["a", "b"]}
    assert plain([release])[0]["count"] == 3 and type(plain(np.int64(3))) is int
    assert plain(np.datetime64("2024-01-02T03:04:05")) == "2024-01-02T03:04:05"
    assert plain(pd.NA) is None and plain(pd.NaT) is None and plain(-math.inf) is None
    assert plain(_Release) is _Release  # a class is not a record


def test_json_default_is_plain_as_the_json_hook():
    doc = {
        "when": dt.date(2024, 3, 30),
        "n": np.float32(0.5),
        "r": _Release(dt.date(2024, 1, 1), np.int64(1), 1.0, ()),
    }
    text = json.dumps(doc, default=json_default, allow_nan=False)
    assert json.loads(text) == plain(doc)
    with pytest.raises(TypeError, match="set is not JSON serialisable"):
        json.dumps({"s": {1, 2}}, default=json_default)


def test_plain_record_gives_whole_numbers_back_as_int():
    frame = pd.DataFrame({"epsg": [3857, None], "res": [0.5, 2.0]})
    rows = [plain_record(r, integers={"epsg"}) for _, r in frame.iterrows()]
    assert rows == [{"epsg": 3857, "res": 0.5}, {"epsg": None, "res": 2.0}]
    assert type(rows[0]["epsg"]) is int
    assert plain_record({"epsg": 4548.5}, integers={"epsg"}) == {"epsg": 4548.5}  # not rounded


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.dates(),
)


@settings(max_examples=80, deadline=None)
@given(
    st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4)
        ),
        max_leaves=12,
    )
)
def test_plain_output_is_always_strict_json(value):
    json.dumps(plain(value), allow_nan=False)  # never NaN, infinities, dates or numpy
