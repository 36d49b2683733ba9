"""Height-anomaly grids: bilinear interpolation, conversions, edges and bad grids."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import rasterio

from geobase.errors import OutsideGridError, SourceReadError
from geobase.geodesy import HeightAnomalyGrid, transform

# a grid over Shantou: 116.4E..117.3E, 23.1N..23.6N at 0.1 degree
WEST, NORTH, STEP = 116.4, 23.6, 0.1
COLS, ROWS = 10, 6


def zeta_plane(lon, lat):
    """A linear anomaly surface: bilinear interpolation reproduces it exactly."""
    return -2.0 + 0.5 * (lon - 116.0) - 0.8 * (lat - 23.0)


def write_grid(path, values, crs="EPSG:4490", nodata=None, transform_=None):
    profile = {
        "driver": "GTiff",
        "height": values.shape[0],
        "width": values.shape[1],
        "count": 1,
        "dtype": "float32" if values.dtype == np.float32 else "float64",
        "transform": transform_ or rasterio.Affine(STEP, 0.0, WEST, 0.0, -STEP, NORTH),
        "nodata": nodata,
    }
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values, 1)
    return path


def centres():
    lon = WEST + STEP * (np.arange(COLS) + 0.5)
    lat = NORTH - STEP * (np.arange(ROWS) + 0.5)
    return np.meshgrid(lon, lat)


@pytest.fixture
def plane_grid(tmp_path):
    lon, lat = centres()
    return write_grid(tmp_path / "zeta.tif", zeta_plane(lon, lat).astype(np.float64))


def test_linear_surface_is_reproduced(plane_grid):
    grid = HeightAnomalyGrid.open(plane_grid)
    rng = np.random.default_rng(1)
    west, south, east, north = grid.bounds
    lon = rng.uniform(west, east, 1000)
    lat = rng.uniform(south, north, 1000)
    np.testing.assert_allclose(grid.anomaly(lon, lat), zeta_plane(lon, lat), atol=1e-12)


def test_bilinear_by_hand(tmp_path):
    values = np.zeros((ROWS, COLS))
    values[0, 0], values[0, 1], values[1, 0], values[1, 1] = 1.0, 2.0, 3.0, 5.0
    grid = HeightAnomalyGrid.open(write_grid(tmp_path / "z.tif", values))
    # a quarter of the way east and half-way south between the first four centres
    lon = WEST + STEP * (0.5 + 0.25)
    lat = NORTH - STEP * (0.5 + 0.5)
    expected = 0.5 * (0.75 * 1 + 0.25 * 2) + 0.5 * (0.75 * 3 + 0.25 * 5)
    assert grid.anomaly([lon], [lat])[0] == pytest.approx(expected, abs=1e-12)
    # on a grid node the value is the node's value
    assert grid.anomaly([WEST + 0.05], [NORTH - 0.05])[0] == pytest.approx(1.0)


def test_normal_and_ellipsoidal_round_trip(plane_grid):
    grid = HeightAnomalyGrid.open(plane_grid)
    lon, lat, h = np.array([116.682, 116.9]), np.array([23.354, 23.2]), np.array([15.0, 3.2])
    normal = grid.to_normal(lon, lat, h)
    np.testing.assert_allclose(normal, h - zeta_plane(lon, lat), atol=1e-12)
    np.testing.assert_allclose(grid.to_ellipsoidal(lon, lat, normal), h, atol=1e-12)


def test_points_in_another_crs(plane_grid):
    grid = HeightAnomalyGrid.open(plane_grid)
    east, north = transform([116.682], [23.354], 4490, 4548)
    got = grid.anomaly(east, north, crs="EPSG:4548")
    assert got[0] == pytest.approx(zeta_plane(116.682, 23.354), abs=1e-9)


def test_outside_the_grid_is_a_clear_error(plane_grid):
    grid = HeightAnomalyGrid.open(plane_grid)
    with pytest.raises(
        OutsideGridError, match=r"line 3: point \(118, 23.3\) lies outside the height-anomaly grid"
    ):
        grid.to_normal([116.7, 118.0], [23.3, 23.3], [1.0, 1.0], labels=["line 2", "line 3"])
    # between the outermost pixel centre and the pixel edge there is no bilinear neighbour
    with pytest.raises(OutsideGridError, match=r"covers 116.45..117.35, 23.05..23.55"):
        grid.anomaly([WEST + 0.01], [23.3])
    # exactly on the outermost centres is inside
    west, south, east, north = grid.bounds
    assert np.isfinite(grid.anomaly([west, east], [south, north])).all()


def test_nodata_cells(tmp_path):
    lon, lat = centres()
    values = zeta_plane(lon, lat).astype(np.float32)
    values[2, 3] = -9999
    grid = HeightAnomalyGrid.open(write_grid(tmp_path / "z.tif", values, nodata=-9999))
    with pytest.raises(OutsideGridError, match="next to a cell without a height anomaly"):
        grid.anomaly([float(lon[2, 3]) + 0.01], [float(lat[2, 3]) + 0.01])
    far = grid.anomaly([float(lon[0, 8])], [float(lat[0, 8])])
    assert far[0] == pytest.approx(zeta_plane(lon[0, 8], lat[0, 8]), abs=1e-6)


def test_bad_grids(tmp_path, real_data):
    with pytest.raises(SourceReadError, match="no such file"):
        HeightAnomalyGrid.open(tmp_path / "missing.tif")
    corrupt = shutil.copy(real_data / "corrupt.tif", tmp_path / "corrupt.tif")
    with pytest.raises(SourceReadError, match="cannot be read as a height-anomaly grid"):
        HeightAnomalyGrid.open(corrupt)
    text = tmp_path / "grid.tif"
    text.write_text("not a raster", encoding="utf-8")
    with pytest.raises(SourceReadError, match="cannot be read"):
        HeightAnomalyGrid.open(text)
    lon, lat = centres()
    no_crs = write_grid(tmp_path / "nocrs.tif", zeta_plane(lon, lat), crs=None)
    with pytest.raises(SourceReadError, match="has no CRS"):
        HeightAnomalyGrid.open(no_crs)
    tiny = write_grid(tmp_path / "tiny.tif", np.zeros((1, 5)))
    with pytest.raises(SourceReadError, match="at least 2 x 2"):
        HeightAnomalyGrid.open(tiny)
    rotated = write_grid(
        tmp_path / "rot.tif",
        np.zeros((3, 3)),
        transform_=rasterio.Affine(0.1, 0.01, WEST, 0.01, -0.1, NORTH),
    )
    with pytest.raises(SourceReadError, match="rotated or not north-up"):
        HeightAnomalyGrid.open(rotated)
