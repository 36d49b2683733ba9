"""geobase.toml tables: each package's schema accepts what the docs show and names the
key of what it refuses."""

from __future__ import annotations

import re

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

_LEAF = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False), st.text(max_size=6)
)
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


def _schema_verdict(data):
    """What the pydantic schema alone makes of ``data``: its values or its message."""
    from pydantic import ValidationError

    from geobase.store.config import config_error
    from geobase.store.config_schema import WorkspaceSchema

    try:
        return WorkspaceSchema.model_validate(data).model_dump()
    except ValidationError as exc:
        return str(config_error(WorkspaceSchema, None, exc, "f.toml"))


@settings(max_examples=300, deadline=None)
@example(data={"name": "x", "control": {"a": 1}, "products": {"dom02": {"b": [1]}}})
@example(data={"name": "x", "data_root": None, "qc": {"dom02": 1}})
@given(data=st.dictionaries(_KEYS, _VALUE | st.dictionaries(st.text(max_size=4), _VALUE)))
def test_the_plain_path_accepts_only_what_the_schema_accepts_unchanged(data):
    try:
        got = WorkspaceConfig.from_mapping(data, "f.toml").model_dump()
    except ConfigError as exc:
        got = str(exc)
    assert got == _schema_verdict(data)


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
