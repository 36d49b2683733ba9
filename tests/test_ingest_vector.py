"""Vector and 3D-model ingest: footprints, CRS checks, products, bad inputs."""

from __future__ import annotations

import json
import math

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Transformer

from geobase.catalog import current_datasets
from geobase.errors import MissingCRS, SourceReadError, UnsupportedInput
from geobase.ingest import ingest
from tests.ingest_factories import EAST0, NORTH0, square_feature, write_geojson

TO_4548 = Transformer.from_crs(4490, 4548, always_xy=True)


def local_area(geom) -> float:
    c = shapely.get_coordinates(geom)
    x, y = TO_4548.transform(c[:, 0], c[:, 1])
    return shapely.set_coordinates(geom, np.column_stack([x, y])).area


def n_records(ws) -> int:
    with ws.store.read() as tx:
        return tx.scalar("SELECT count(*) FROM datasets")


def test_geojson_convex_hull_footprint_and_product_from_name(tmp_path, workspace):
    feats = [square_feature(EAST0 + i * 100, NORTH0, 50, name="楼") for i in range(3)]
    path = write_geojson(tmp_path / "dlg500_jinping.geojson", feats)
    [r] = ingest(workspace, [path], acquired="2022-08-01")
    assert r.product == "dlg500" and r.kind == "vector"
    row = current_datasets(workspace.store).iloc[0]
    assert local_area(row.geometry) == pytest.approx(250 * 50, rel=0.001)  # hull of the squares
    meta = json.loads(row.metadata)
    assert meta["feature_count"] == 3 and row.epsg == 4548


def test_gpkg_layers_and_shapefile(tmp_path, workspace):
    a = gpd.GeoDataFrame(
        {"n": [1]}, geometry=[shapely.box(EAST0, NORTH0, EAST0 + 10, NORTH0 + 10)], crs=4548
    )
    b = gpd.GeoDataFrame({"n": [2]}, geometry=[shapely.Point(EAST0 + 30, NORTH0 + 30)], crs=4548)
    gpkg = tmp_path / "roads.gpkg"
    a.to_file(gpkg, layer="buildings")
    b.to_file(gpkg, layer="points")
    shp = tmp_path / "parcels.shp"
    a.to_file(shp)
    results = ingest(workspace, [gpkg, shp], acquired="2022-08-01", product="dlg1000")
    assert [r.product for r in results] == ["dlg1000", "dlg1000"]
    stored = sorted(p.name for p in (workspace.root / results[1].path).parent.iterdir())
    assert {"parcels.shp", "parcels.shx", "parcels.dbf", "parcels.prj"} <= set(stored)
    row = current_datasets(workspace.store).set_index("dataset_id").loc["roads"]
    assert local_area(row.geometry) == pytest.approx(0.5 * 10 * 30 + 0.5 * 30 * 10, rel=0.01)
    assert len(json.loads(row.metadata)["layers"]) == 2


def test_mixed_crs_layers_refused(tmp_path, workspace):
    a = gpd.GeoDataFrame(
        {"n": [1]}, geometry=[shapely.box(EAST0, NORTH0, EAST0 + 10, NORTH0 + 10)], crs=4548
    )
    gpkg = tmp_path / "mixed.gpkg"
    a.to_file(gpkg, layer="cgcs")
    a.to_crs(4490).to_file(gpkg, layer="geographic")
    with pytest.raises(UnsupportedInput, match="different CRSs"):
        ingest(workspace, [gpkg], acquired="2022-08-01")
    assert n_records(workspace) == 0


# the shapefile without a .prj is the bad input under test; geopandas warns when writing it
@pytest.mark.filterwarnings("ignore:'crs' was not provided:UserWarning")
def test_vector_without_crs_and_empty_and_broken(tmp_path, workspace):
    path = write_geojson(
        tmp_path / "nocrs.geojson", [square_feature(EAST0, NORTH0, 10)], crs_epsg=None
    )
    # GeoJSON without a crs member is WGS 84 by the spec: the coordinates say otherwise
    shp = tmp_path / "noprj.shp"
    gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1)]).to_file(shp)
    with pytest.raises(MissingCRS, match="prj"):
        ingest(workspace, [shp], acquired="2022-08-01")
    empty = write_geojson(tmp_path / "empty.geojson", [])
    with pytest.raises(UnsupportedInput, match="no features"):
        ingest(workspace, [empty], acquired="2022-08-01")
    broken = tmp_path / "broken.geojson"
    broken.write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
    with pytest.raises(SourceReadError, match="broken"):
        ingest(workspace, [broken], acquired="2022-08-01")
    with pytest.raises(UnsupportedInput, match="out of range"):
        ingest(workspace, [path], acquired="2022-08-01")
    assert n_records(workspace) == 0


def test_model_footprint_file(tmp_path, workspace):
    feats = [square_feature(EAST0, NORTH0, 100), square_feature(EAST0 + 300, NORTH0, 100)]
    path = write_geojson(tmp_path / "chenghai_oblique.geojson", feats)
    [r] = ingest(workspace, [path], product="model3d", acquired="2021-11-01")
    assert r.kind == "model3d"
    row = current_datasets(workspace.store).iloc[0]
    assert local_area(row.geometry) == pytest.approx(2 * 100 * 100, rel=0.001)  # union, not hull


def _tileset(folder, volume, transform=None):
    folder.mkdir()
    root = {"boundingVolume": volume, "geometricError": 10, "content": {"uri": "0.b3dm"}}
    if transform is not None:
        root["transform"] = transform
    (folder / "tileset.json").write_text(
        json.dumps({"asset": {"version": "1.0"}, "geometricError": 100, "root": root}),
        encoding="utf-8",
    )
    (folder / "0.b3dm").write_bytes(b"b3dm" + bytes(100))
    return folder / "tileset.json"


def test_tileset_region_and_box(tmp_path, workspace):
    w, s, e, n = (math.radians(v) for v in (116.6, 23.3, 116.7, 23.4))
    region = _tileset(tmp_path / "oldtown", {"region": [w, s, e, n, 0, 50]})
    # a box of 200 m at the origin of an east-north-up frame placed at Shantou
    t = Transformer.from_crs(4490, 4479, always_xy=True)
    x, y, z = t.transform(116.68, 23.35, 0)
    lon, lat = math.radians(116.68), math.radians(23.35)
    east = [-math.sin(lon), math.cos(lon), 0]
    north = [-math.sin(lat) * math.cos(lon), -math.sin(lat) * math.sin(lon), math.cos(lat)]
    up = [math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat)]
    matrix = [*east, 0, *north, 0, *up, 0, x, y, z, 1]  # column-major
    box = _tileset(
        tmp_path / "chenghai", {"box": [0, 0, 10, 100, 0, 0, 0, 100, 0, 0, 0, 10]}, matrix
    )
    results = ingest(workspace, [region, box.parent], acquired="2021-11-01")
    assert [r.product for r in results] == ["model3d", "model3d"]
    frame = current_datasets(workspace.store).set_index("dataset_id")
    assert frame.loc["oldtown"].geometry.bounds == pytest.approx((116.6, 23.3, 116.7, 23.4))
    assert local_area(frame.loc["chenghai"].geometry) == pytest.approx(200 * 200, rel=0.02)
    assert (workspace.root / results[1].path).name == "tileset.json"
    assert (workspace.root / results[1].path).with_name("0.b3dm").is_file()


def test_tileset_without_bounding_volume_refused(tmp_path, workspace):
    path = _tileset(tmp_path / "nobv", {})
    with pytest.raises(UnsupportedInput, match="no boundingVolume"):
        ingest(workspace, [path], acquired="2021-11-01")
    local = _tileset(tmp_path / "local", {"box": [0, 0, 0, 10, 0, 0, 0, 10, 0, 0, 0, 10]})
    with pytest.raises(UnsupportedInput, match="not georeferenced"):
        ingest(workspace, [local], acquired="2021-11-01")
    assert n_records(workspace) == 0


def test_footprints_in_gauss_kruger_crss_get_the_one_geodesy_guard():
    """Swapped axes, a zone prefix the CRS lacks and a wrong zone are refused, not placed."""
    import shapely
    from pyproj import CRS

    from geobase.errors import AxisOrderError, OutsideZoneError, ZonePrefixError
    from geobase.ingest.footprint import to_cgcs2000

    good = to_cgcs2000(shapely.box(467_000, 2_583_000, 468_000, 2_584_000), CRS.from_epsg(4548))
    assert 116.6 < good.centroid.x < 116.8
    with pytest.raises(ZonePrefixError, match="did you mean EPSG:4527"):
        to_cgcs2000(shapely.box(39_467_000, 2_583_000, 39_468_000, 2_584_000), CRS.from_epsg(4548))
    with pytest.raises(AxisOrderError, match="look swapped"):
        to_cgcs2000(shapely.box(2_583_000, 467_000, 2_584_000, 468_000), CRS.from_epsg(4548))
    with pytest.raises(OutsideZoneError, match="holding it is EPSG:4547"):
        to_cgcs2000(shapely.box(150_000, 2_583_000, 151_000, 2_584_000), CRS.from_epsg(4548))
    with pytest.raises(AxisOrderError, match="look swapped for EPSG:2436"):  # Beijing 1954
        to_cgcs2000(shapely.box(2_583_000, 467_000, 2_584_000, 468_000), CRS.from_epsg(2436))
