"""geobase.geodesy.files: CSV tables and vector files streamed through fiona."""

from __future__ import annotations

import fiona
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from geobase.errors import (
    AxisOrderError,
    EmptyInputError,
    OutputExistsError,
    SourceReadError,
    ValidationError,
)
from geobase.geodesy import (
    coordinate_columns,
    transform_table,
    transform_vector_file,
)

NAMES = ["汕头站", "南澳岛", "龙湖区"]


def features(kind: str) -> list:
    if kind == "point":
        return [shapely.Point(116.682, 23.354), shapely.Point(117.02, 23.42, 8.5),
                shapely.Point(116.73, 23.37)]  # fmt: skip
    return [
        shapely.Point(116.682, 23.354),
        shapely.LineString([(116.6, 23.3), (116.7, 23.4)]),
        shapely.Polygon([(116.7, 23.3), (116.8, 23.3), (116.8, 23.4), (116.7, 23.3)]),
    ]


def make(path, kind="point", crs="EPSG:4490", layer=None):
    frame = gpd.GeoDataFrame({"name": NAMES, "n": [1, 2, 3]}, geometry=features(kind), crs=crs)
    frame.to_file(path, layer=layer)
    return path


def coords(path, layer=None):
    with fiona.open(path, layer=layer) as src:
        return [shapely.geometry.shape(f.geometry) for f in src], [dict(f.properties) for f in src]


@pytest.mark.parametrize(("suffix", "kind"), [(".gpkg", "mixed"), (".shp", "point")])
def test_stream_there_and_back(tmp_path, suffix, kind):
    src = make(tmp_path / f"in{suffix}", kind)
    out = tmp_path / f"gk{suffix}"
    assert transform_vector_file(src, out, "EPSG:4548") == 3
    geoms, props = coords(out)
    assert [p["name"] for p in props] == NAMES and [p["n"] for p in props] == [1, 2, 3]
    assert [g.geom_type for g in geoms] == [g.geom_type for g in features(kind)]
    with fiona.open(out) as dst:
        assert dst.crs.to_epsg() == 4548
    reference = Transformer.from_crs(4490, 4548, always_xy=True)
    originals = coords(src)[0]  # a shapefile of 2D and 3D points is 3D throughout
    for got, original in zip(geoms, originals, strict=True):
        expected = shapely.transform(
            original, lambda xy: np.column_stack(reference.transform(*xy.T))
        )
        assert np.abs(shapely.get_coordinates(got) - shapely.get_coordinates(expected)).max() < 1e-6
        assert got.has_z == original.has_z
    if kind == "point":
        assert geoms[1].z == 8.5
    back = tmp_path / f"back{suffix}"
    transform_vector_file(out, back, "EPSG:4490")
    geoms, props = coords(back)
    assert [p["name"] for p in props] == NAMES
    for got, original in zip(geoms, originals, strict=True):
        assert np.abs(shapely.get_coordinates(got) - shapely.get_coordinates(original)).max() < 1e-9
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files


def test_small_batches_and_feature_labels(tmp_path):
    src = make(tmp_path / "in.gpkg")
    out = tmp_path / "out.geojson"
    assert transform_vector_file(src, out, 4548, batch_size=1) == 3
    assert [p["name"] for p in coords(out)[1]] == NAMES
    swapped = gpd.GeoDataFrame(
        {"name": ["a", "b"]},
        geometry=[shapely.Point(467483.3555, 2583777.6078), shapely.Point(2583777.6, 467483.3)],
        crs="EPSG:4548",
    )
    swapped.to_file(tmp_path / "swapped.gpkg")
    with pytest.raises(AxisOrderError, match=r"^feature 2: .* look swapped"):
        transform_vector_file(tmp_path / "swapped.gpkg", tmp_path / "s.gpkg", 4490, batch_size=1)
    assert not list(tmp_path.glob("*s.gpkg*")) and not list(tmp_path.glob(".s.*"))


def test_multi_layer_geopackage(tmp_path):
    src = make(tmp_path / "in.gpkg", layer="marks")
    make(src, "mixed", layer="works")
    out = tmp_path / "out.gpkg"
    assert transform_vector_file(src, out, "EPSG:4548") == 6
    assert sorted(fiona.listlayers(out)) == ["marks", "works"]
    assert [p["name"] for p in coords(out, "works")[1]] == NAMES
    assert transform_vector_file(src, tmp_path / "w.shp", 4548, layer="marks") == 3
    with pytest.raises(ValidationError, match="holds 2 layers"):
        transform_vector_file(src, tmp_path / "both.shp", "EPSG:4548")
    with pytest.raises(ValidationError, match="no layer 'roads'"):
        transform_vector_file(src, tmp_path / "r.gpkg", "EPSG:4548", layer="roads")
    assert not (tmp_path / "both.shp").exists() and not (tmp_path / "r.gpkg").exists()


def test_from_overrides_the_declared_crs(tmp_path):
    src = make(tmp_path / "in.gpkg", crs="EPSG:4326")
    notes: list[str] = []
    transform_vector_file(src, tmp_path / "o.gpkg", 4548, src_crs="EPSG:4490", notify=notes.append)
    assert len(notes) == 1 and "declares EPSG:4326; using --from EPSG:4490" in notes[0]


def test_bad_inputs_write_nothing(tmp_path):
    out = tmp_path / "out.gpkg"
    with pytest.raises(SourceReadError, match="no such file"):
        transform_vector_file(tmp_path / "missing.gpkg", out, 4548)
    (tmp_path / "bad.gpkg").write_bytes(b"not a geopackage at all")
    with pytest.raises(SourceReadError, match="cannot be read as a vector file"):
        transform_vector_file(tmp_path / "bad.gpkg", out, 4548)
    nocrs = gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(116.6, 23.3)], crs="EPSG:4490")
    nocrs.to_file(tmp_path / "nocrs.shp")
    (tmp_path / "nocrs.prj").unlink()
    with pytest.raises(ValidationError, match="has no CRS; pass --from"):
        transform_vector_file(tmp_path / "nocrs.shp", out, 4548)
    assert transform_vector_file(tmp_path / "nocrs.shp", out, 4548, src_crs=4490) == 1
    kept = out.read_bytes()
    with pytest.raises(OutputExistsError, match="pass --overwrite"):
        transform_vector_file(tmp_path / "nocrs.shp", out, 4527, src_crs=4490)
    assert out.read_bytes() == kept
    empty = gpd.GeoDataFrame({"a": []}, geometry=[], crs="EPSG:4490")
    empty.to_file(tmp_path / "empty.gpkg")
    with pytest.raises(EmptyInputError, match="no features"):
        transform_vector_file(tmp_path / "empty.gpkg", tmp_path / "e.gpkg", 4548)
    mixed = make(tmp_path / "mixed.gpkg", "mixed")
    with pytest.raises(ValidationError, match="cannot be written as ESRI Shapefile"):
        transform_vector_file(mixed, tmp_path / "m.shp", 4548)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name[0] in ".em") == [
        "empty.gpkg",
        "mixed.gpkg",
    ]


def test_overwrite_replaces_every_shapefile_part(tmp_path):
    src = make(tmp_path / "in.gpkg")
    out = tmp_path / "out.shp"
    transform_vector_file(src, out, 4548)
    transform_vector_file(src, out, 4527, overwrite=True)
    with fiona.open(out) as dst:
        assert dst.crs.to_epsg() == 4527 and len(dst) == 3


# --- tables ----------------------------------------------------------------------------


def test_coordinate_columns_conventions():
    frame = pd.DataFrame({"点号": ["A"], "X": ["2583777"], "Y": ["467483"]})
    assert coordinate_columns(frame, "EPSG:4548")[:2] == ("Y", "X")  # survey: x = north
    assert coordinate_columns(frame, "EPSG:3857")[:2] == ("X", "Y")  # GIS elsewhere
    assert coordinate_columns(frame, "EPSG:4548", "gis")[:2] == ("X", "Y")
    assert coordinate_columns(frame, None)[:2] == ("Y", "X")  # local grid: survey
    chinese = pd.DataFrame({"经度": ["116.6"], "纬度": ["23.3"], "东坐标": ["1"], "北坐标": ["2"]})
    assert coordinate_columns(chinese, 4490)[:3] == ("经度", "纬度", "lonlat")
    assert coordinate_columns(chinese, 4548)[:3] == ("东坐标", "北坐标", "eastnorth")
    with pytest.raises(ValidationError, match="no coordinate columns for a projected CRS"):
        coordinate_columns(pd.DataFrame({"a": [1]}), 4548, source="t.csv")


def test_transform_table_keeps_columns_and_input():
    frame = pd.DataFrame({"id": ["007"], "名称": ["汕头站"], "x": ["2583777.6078"],
                          "y": ["467483.3555"]})  # fmt: skip
    frame.attrs["encoding"] = "gbk"
    out = transform_table(frame, "gk3cm:117", "gk3:39")
    assert list(out.columns) == ["id", "名称", "x", "y"]
    assert out.loc[0, "y"] == "39467483.3555" and out.loc[0, "x"] == "2583777.6078"
    assert out.attrs["encoding"] == "gbk"
    assert frame.loc[0, "y"] == "467483.3555"  # the input is not modified
    with pytest.raises(AxisOrderError, match="pass --xy survey"):
        transform_table(frame, "gk3cm:117", 4490, xy="gis")
