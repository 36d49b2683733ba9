"""geobase.toml tables: each package's schema accepts what the docs show and names the
key of what it refuses."""

from __future__ import annotations

import re
from typing import Annotated

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from geobase.catalog.products import products_for
from geobase.control.settings import control_settings
from geobase.coverage.settings import coverage_settings
from geobase.errors import ConfigError
from geobase.store.config import WorkspaceConfig
from geobase.tiles.settings import tiles_settings


def test_valid_tables_as_toml_gives_them():
    tiles = tiles_settings({"jpeg_fill": [0, 64, 255], "block": 16})
    assert tiles.jpeg_fill == (0, 64, 255) and tiles.block == 16
    assert tiles_settings(None).jpeg_fill == (255, 255, 255)
    control = control_settings({"inspection_cycle_days": 90, "restricted_grades": ["A", "L1"]})
    assert control.inspection_cycle_days == 90 and control.restricted_grades == ["A", "L1"]
    coverage = coverage_settings({"age_bins": [1, 2.5, 4], "sheet_tolerance": 0})
    assert coverage.age_bins == [1.0, 2.5, 4.0]
    registry = products_for(
        {
            "dom02": {"resolution": 0.25},
            "lidar": {
                "name_zh": "激光点云",
                "name_en": "lidar",
                "kind": "pointcloud",
                "update_cycle_years": 3,
            },
        }
    )
    assert registry.get("dom02").resolution == 0.25 and registry.get("lidar").kind == "pointcloud"


@pytest.mark.parametrize(
    ("parse", "table", "message"),
    [
        (tiles_settings, {"jpeg_fill": "red"}, "[tiles] jpeg_fill = 'red': Input should be"),
        (tiles_settings, {"jpeg_fill": [0, 0, 256]}, "[tiles] jpeg_fill.2 = 256"),
        (tiles_settings, {"block": 6}, "power of two"),
        (
            tiles_settings,
            {"blocks": 8},
            "[tiles] blocks: unknown key (known keys: jpeg_fill, block, max_memory_mb)",
        ),
        (control_settings, {"inspection_cycle_days": "365"}, "inspection_cycle_days = '365'"),
        (control_settings, {"restricted_grades": ["A", "Z"]}, "unknown grade codes ['Z']"),
        (coverage_settings, {"age_bins": [5, 1]}, "[coverage] age_bins = [5, 1]"),
        (
            lambda t: products_for({"dom02": t}),
            {"resolution": -1},
            "[products.dom02] resolution = -1",
        ),
        (lambda t: products_for({"dom02": t}), {"scale": 0.5}, "[products.dom02] scale = 0.5"),
    ],
)
def test_refusals_name_the_table_key_and_value(parse, table, message):
    with pytest.raises(ConfigError) as info:
        parse(table)
    text = str(info.value)
    assert text.startswith("geobase.toml [") and message in text and "\n" not in text


def test_whole_file_errors_are_config_errors(tmp_path):
    path = tmp_path / "geobase.toml"
    path.write_text('name = "x"\nbogus = 1\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="bogus: unknown key"):
        WorkspaceConfig.read(path)
    path.write_text('name = "x"\n[tiles\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        WorkspaceConfig.read(path)
    assert issubclass(ConfigError, ValueError)  # exit 2 at the CLI


# --- geobase.toml without pydantic on the plain path (issue 17 item 8: start-up) ----------


class _Text(str):
    """A str subclass: not a plain value (pydantic gives back a str)."""


_LEAF = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False), st.text(max_size=6),
    st.builds(_Text, st.text(max_size=3)),
)  # fmt: skip
_VALUE = st.recursive(
    _LEAF,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)
_KEYS = st.sampled_from(
    ["name", "crs", "store", "data_root", "tiles_dir", "districts", "control", "products",
     "coverage", "tiles", "server", "qc", "bogus"]
)  # fmt: skip


def _typed(value):
    """``value`` with the type of each part alongside (``==`` takes 1 for 1.0, a str
    subclass for a str)."""
    if isinstance(value, dict):
        return (dict, {_typed(k): _typed(v) for k, v in value.items()})
    if isinstance(value, list):
        return (list, [_typed(v) for v in value])
    return (type(value), value)


def _schema_verdict(data):
    """What pydantic alone makes of ``data``: its values or its message."""
    try:
        return WorkspaceConfig._validated(data, "f.toml")
    except ConfigError as exc:
        return str(exc)


@settings(max_examples=300, deadline=None)
@example(data={"name": "x", "control": {"a": 1}, "products": {"dom02": {"b": [1]}}}, name=None)
@example(data={"name": "x", "data_root": None, "qc": {"dom02": 1}}, name=None)
@example(data={"name": _Text("x"), "products": {_Text("dom02"): {}}}, name=None)
@given(
    data=st.dictionaries(_KEYS, _VALUE | st.dictionaries(st.text(max_size=4), _VALUE)),
    name=st.none() | _LEAF,
)
def test_the_plain_path_accepts_only_what_the_schema_accepts_unchanged(data, name):
    if name is not None:  # most files name their workspace
        data = {"name": name, **data}
    try:
        got = WorkspaceConfig.from_mapping(data, "f.toml").model_dump()
    except ConfigError as exc:
        got = str(exc)
    assert _typed(got) == _typed(_schema_verdict(data))  # the same values, of the same types


def test_a_bad_geobase_toml_is_still_refused_in_one_line(tmp_path):
    path = tmp_path / "geobase.toml"
    for text, message in [
        ('name = ""\n', "name = '': String should have at least 1 character"),
        ("name = 5\n", "name = 5: Input should be a valid string"),
        ('crs = "EPSG:4548"\n', "name: required key missing"),
        ('name = "x"\n[products]\ndom02 = 1\n', "products.dom02 = 1: Input should be a valid"),
        ('name = "x"\ntiles = "big"\n', "tiles = 'big': Input should be a valid dictionary"),
    ]:
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=re.escape(message)):
            WorkspaceConfig.read(path)
    with pytest.raises(ConfigError, match="at least 1 character"):
        WorkspaceConfig(name="x").model_copy(update={"name": ""})  # checked again


_HINTS = [int, float, bool, str, list[int], str | None, dict[str, dict[str, list[float | None]]]]


@settings(max_examples=200, deadline=None)
@given(hint=st.sampled_from(_HINTS), data=st.data(), least=st.integers(0, 2))
def test_the_checks_derived_from_annotations_match_pydantic(hint, data, least):
    """The checks of the plain path come from the field annotations (so a new field is
    one edit): for the types they know, a value of exactly those types is plain, and a
    plain value is one pydantic takes as it is (within ``min_length``, too)."""
    from pydantic import Field, TypeAdapter

    from geobase.store.config import _field_check

    exact = data.draw(st.from_type(hint), label="exact")
    assert _field_check(hint, {})(exact)
    value = data.draw(st.just(exact) | _VALUE, label="value")
    if not _field_check(hint, {"min_length": least} if least else {})(value):
        return  # pydantic decides (the test above)
    adapter = TypeAdapter(Annotated[hint, Field(min_length=least)] if least else hint)
    assert repr(adapter.validate_python(value)) == repr(value)  # same types: 1 is not 1.0


def test_a_constraint_or_type_the_plain_path_does_not_know_goes_to_pydantic():
    from geobase.store.config import _field_check

    assert _field_check(str, {"min_length": 1})("x")
    assert not _field_check(str, {"min_length": 1})("")
    assert not _field_check(str, {"max_length": 3})("x")  # unknown constraint
    assert not _field_check(tuple[int, int], {})((1, 2))  # unknown type
