"""Areas from vector files: one reader, the same refusals everywhere."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from geobase.areas import read_polygon, read_vector
from geobase.errors import EmptyInputError, SourceReadError, ValidationError


def test_polygon_in_gauss_kruger_is_densified_and_reprojected(tmp_path):
    square = shapely.box(460_000, 2_580_000, 470_000, 2_590_000)  # 10 km, EPSG:4548
    path = tmp_path / "area.gpkg"
    gpd.GeoDataFrame(geometry=[square, shapely.Point(465_000, 2_585_000)], crs=4548).to_file(path)
    area = read_polygon(path)
    back = gpd.GeoSeries([area], crs=4490).to_crs(4548).iloc[0]
    assert back.area == pytest.approx(square.area, abs=1.0)  # densified: within 1 m2
    assert back.symmetric_difference(square).area < 1.0


@pytest.mark.parametrize(
    ("content", "error", "message"),
    [
        (None, SourceReadError, "no such file"),
        (b"", EmptyInputError, "is empty"),
        (b"{ not json", SourceReadError, "cannot be read"),
        (b'{"type": "FeatureCollection", "features": []}', EmptyInputError, "no geometries"),
    ],
)
def test_bad_files(tmp_path, content, error, message):
    path = tmp_path / "area.geojson"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(error, match=message):
        read_vector(path, "area file")


def test_no_crs_and_no_polygon(tmp_path):
    nocrs = tmp_path / "nocrs.shp"
    with pytest.warns(UserWarning, match="crs"):  # writing a file without CRS on purpose
        gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1)]).to_file(nocrs)
    with pytest.raises(ValidationError, match="has no CRS"):
        read_polygon(nocrs)
    points = tmp_path / "points.geojson"
    gpd.GeoDataFrame(geometry=[shapely.Point(116.6, 23.3)], crs=4490).to_file(points)
    with pytest.raises(ValidationError, match="no polygon"):
        read_polygon(points)
