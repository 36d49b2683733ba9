"""crs apply on rasters: a GDAL warp with the parameters' PROJ pipeline, checked against
converting the raster's corner and centre coordinates as points."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import rasterio
import rasterio.errors
from pyproj import CRS
from rasterio.transform import Affine

from geobase.errors import (
    AxisOrderError,
    OutputExistsError,
    OutsideZoneError,
    ParameterFileError,
    SourceReadError,
    ValidationError,
    ZonePrefixError,
)
from geobase.geodesy import CommonPoints, apply, fit
from geobase.geodesy.paramfiles import parse_handwritten
from geobase.geodesy.raster import apply_raster, gdal_pipeline

# a Xian 1980 / 3-degree GK CM 117E block in Shantou, 2 m pixels
X80 = "EPSG:2384"
CGCS = "EPSG:4548"
ORIGIN = (466_300.0, 2_584_900.0)  # top-left corner
RES = 2.0
WIDTH, HEIGHT = 120, 90


def north_up(west: float, north: float, res: float = RES) -> Affine:
    return Affine(res, 0.0, west, 0.0, -res, north)  # (from_origin warns with affine 3)


def xian80_to_cgcs2000(src: np.ndarray, model: str) -> np.ndarray:
    """A plausible relation between the two grids around Shantou (shifts of tens of metres,
    a rotation of a few arc-seconds, a few ppm of scale; a slight shear for affine)."""
    c = np.array([467_000.0, 2_584_000.0])
    d = src - c
    r = math.radians(2.7 / 3600)
    k = 1 + 4.3e-6
    m = np.array([[k * math.cos(r), -k * math.sin(r)], [k * math.sin(r), k * math.cos(r)]])
    if model == "affine":
        m = m + np.array([[3e-6, 5e-6], [-2e-6, 1e-6]])
    return c + d @ m.T + np.array([-31.742, 84.215])


def fitted(model: str):
    rng = np.random.default_rng(11)
    src = np.column_stack(
        [rng.uniform(463_000, 471_000, 12), rng.uniform(2_580_000, 2_588_000, 12)]
    )
    dst = xian80_to_cgcs2000(src, model) + rng.normal(0, 0.005, src.shape)
    ids = [f"G{i:02d}" for i in range(12)]
    return fit(CommonPoints(ids, src, dst), model, src_crs=X80, dst_crs=CGCS).parameters


def coordinate_raster(path, crs=X80, origin=ORIGIN, **extra):
    """Band 1 holds each pixel centre's easting, band 2 its northing (float64)."""
    transform = north_up(*origin)
    cols, rows = np.meshgrid(np.arange(WIDTH) + 0.5, np.arange(HEIGHT) + 0.5)
    east = transform.c + transform.a * cols
    north = transform.f + transform.e * rows
    profile = dict(driver="GTiff", width=WIDTH, height=HEIGHT, count=2, dtype="float64",
                   crs=crs, transform=transform, **extra)  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.stack([east, north]))
    return path


def corner_and_centre_pixels():
    """Source pixel-centre coordinates of the four corner pixels and the centre pixel."""
    cols = np.array([0.5, WIDTH - 0.5, 0.5, WIDTH - 0.5, WIDTH / 2])
    rows = np.array([0.5, 0.5, HEIGHT - 0.5, HEIGHT - 0.5, HEIGHT / 2])
    return ORIGIN[0] + RES * cols, ORIGIN[1] - RES * rows


@pytest.mark.parametrize("model", ["4p", "affine"])
def test_xian80_raster_converts_like_its_points(tmp_path, model):
    # issue 16: within 0.1 pixel of converting the corner and centre coordinates as points
    params = fitted(model)
    src = coordinate_raster(tmp_path / "x80.tif")
    notes: list[str] = []
    result = apply_raster(params, src, tmp_path / "cgcs.tif", notify=notes.append)
    assert result.resampling == "bilinear" and "resampling: bilinear" in notes[0]
    with rasterio.open(result.path) as out:
        assert out.crs.to_epsg() == 4548
        assert out.profile["tiled"] and out.profile["compress"] == "deflate"
        assert out.res[0] == pytest.approx(RES, rel=1e-4)  # scale a few ppm
        data = out.read()
        t = out.transform
        pe, pn = corner_and_centre_pixels()
        qe, qn = apply(params, pe, pn)  # the points, converted
        # every converted corner lies inside the output
        left, bottom, right, top = out.bounds
        assert (qe > left).all() and (qe < right).all() and (qn > bottom).all() and (qn < top).all()
        checked = 0
        for x, y in zip(qe, qn, strict=True):
            col, row = (x - t.c) / t.a, (y - t.f) / t.e  # north-up grid
            for r in range(int(row) - 2, int(row) + 3):
                for c in range(int(col) - 2, int(col) + 3):
                    if not (0 <= r < out.height and 0 <= c < out.width):
                        continue
                    # what GDAL put at this output pixel centre: the source coordinates it
                    # sampled (bilinear is exact on these linear bands away from the edge)
                    se, sn = data[0, r, c], data[1, r, c]
                    inside_c = (se - ORIGIN[0]) / RES
                    inside_r = (ORIGIN[1] - sn) / RES
                    if not (1.5 <= inside_c <= WIDTH - 1.5 and 1.5 <= inside_r <= HEIGHT - 1.5):
                        continue
                    xe, xn = t.c + t.a * (c + 0.5), t.f + t.e * (r + 0.5)
                    fe, fn = apply(params, np.array([se]), np.array([sn]))
                    error_px = math.hypot(fe[0] - xe, fn[0] - xn) / out.res[0]
                    assert error_px < 0.1, (x, y, r, c, error_px)
                    checked += 1
        assert checked >= 5 * 4  # each corner and the centre has interior neighbours
        # outside the source: nodata (NaN for float data without a nodata value)
        assert np.isnan(out.nodata) and np.isnan(data[0, 0, 0]) == (data[0, 0, 0] != data[0, 0, 0])


def test_axis_order_matters_and_is_handled():
    # GDAL hands the operation north first for these CRSs: the pipeline swaps around it
    params = fitted("4p")
    pipe = gdal_pipeline(params, CRS.from_epsg(2384), CRS.from_epsg(4548))
    assert pipe.startswith("+proj=pipeline +step +proj=axisswap +order=2,1 +step +proj=helmert")
    assert pipe.endswith("+step +proj=axisswap +order=2,1")
    # a raster without a CRS is fed (x, y) as it is
    assert gdal_pipeline(params, None, CRS.from_epsg(4548)).startswith(
        "+proj=pipeline +step +proj=helmert"
    )
    # east-first CRSs (UTM) need no swap
    assert gdal_pipeline(
        params, CRS.from_epsg(32650), None
    ) == "+proj=pipeline " + params.proj_pipeline.replace("+proj=helmert", "+step +proj=helmert", 1)


def test_paletted_scanned_map_keeps_class_values(tmp_path):
    params = fitted("4p")
    path = tmp_path / "map.tif"
    values = (np.arange(WIDTH * HEIGHT).reshape(HEIGHT, WIDTH) // 7 % 5 + 1).astype("uint8")
    with rasterio.open(
        path, "w", driver="GTiff", width=WIDTH, height=HEIGHT, count=1, dtype="uint8",
        crs=X80, transform=north_up(*ORIGIN),
    ) as dst:  # fmt: skip
        dst.write(values, 1)
        dst.write_colormap(1, {i: (40 * i, 255 - 40 * i, 0, 255) for i in range(6)})
    with pytest.raises(ValidationError, match=r"colour table.*--resampling nearest or mode"):
        apply_raster(params, path, tmp_path / "o.tif", resampling="bilinear")
    assert not (tmp_path / "o.tif").exists()
    result = apply_raster(params, path, tmp_path / "o.tif")
    assert result.resampling == "nearest"
    with rasterio.open(result.path) as out:
        band = out.read(1)
        alpha = out.read(2)  # no nodata in the source: an alpha band marks the outside
        assert set(np.unique(band[alpha > 0])) <= set(range(1, 6))
        assert (alpha == 0).any() and (alpha == 255).sum() > 0.9 * WIDTH * HEIGHT
        assert out.colormap(1)[3] == (120, 135, 0, 255)


def test_handwritten_7p_raster_and_no_crs_raster(tmp_path):
    text = (
        'model = "7p"\nfrom = "EPSG:2384"\nto = "EPSG:4548"\nconvention = "coordinate_frame"\n'
        "dx = -103.25\ndy = -110.84\ndz = 48.62\nrx = 1.213\nry = -2.041\nrz = 3.307\nds = 2.45\n"
    )
    params = parse_handwritten(text)
    src = coordinate_raster(tmp_path / "x80.tif", crs=None)
    notes: list[str] = []
    result = apply_raster(params, src, tmp_path / "o.tif", notify=notes.append)
    assert any("has no CRS; taking the parameters'" in n for n in notes)
    with rasterio.open(result.path) as out:
        pe, pn = corner_and_centre_pixels()
        qe, qn = apply(params, pe[4:], pn[4:])
        se, sn = next(out.sample([(qe[0], qn[0])], indexes=[1, 2]))
        # the centre pixel, sampled at the converted point: within half an output pixel
        assert abs(se - pe[4]) <= 0.5 * RES + 1e-6 and abs(sn - pn[4]) <= 0.5 * RES + 1e-6


def test_raster_refusals(tmp_path):
    params = fitted("4p")
    src = coordinate_raster(tmp_path / "x80.tif")
    out = tmp_path / "o.tif"
    other = coordinate_raster(tmp_path / "cgcs.tif", crs=CGCS)
    with pytest.raises(ValidationError, match=r"is in .*4548.* but the parameters are for .*2384"):
        apply_raster(params, other, out)
    with pytest.raises(ParameterFileError, match="src_crs missing"):
        apply_raster(params.model_copy(update={"src_crs": None}), src, out)
    with pytest.raises(ValidationError, match="GeoTIFF"):
        apply_raster(params, src, tmp_path / "o.png")
    with pytest.raises(ValidationError, match="resampling 'sinc' is not offered"):
        apply_raster(params, src, out, resampling="sinc")
    with pytest.raises(SourceReadError, match="no such file"):
        apply_raster(params, tmp_path / "missing.tif", out)
    plain = tmp_path / "plain.tif"
    with warnings.catch_warnings():  # writing it warns that it is not georeferenced
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(
            plain, "w", driver="GTiff", width=4, height=3, count=1, dtype="uint8"
        ) as f:
            f.write(np.ones((3, 4), dtype="uint8"), 1)
    with pytest.raises(ValidationError, match="not georeferenced"):
        apply_raster(params, plain, out)
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00 not a tiff")
    with pytest.raises(SourceReadError, match="cannot be read as a raster"):
        apply_raster(params, bad, out)
    # the raster's extent is checked as points are (guards of the source CRS; CGCS2000
    # here, whose guards do not depend on the legacy-CRS work of issue 16 item 1)
    cgcs = parse_handwritten(
        'model = "4p"\nfrom = "EPSG:4548"\nto = "EPSG:4548"\nconvention = "position_vector"\n'
        'axes = "east_north"\ndx = 0.1\ndy = 0.2\nrotation = 0.0\nscale = 0.0\n'
    )
    prefixed = coordinate_raster(
        tmp_path / "prefixed.tif", crs=CGCS, origin=(39_466_300.0, ORIGIN[1])
    )
    with pytest.raises(ZonePrefixError, match="EPSG:4527"):
        apply_raster(cgcs, prefixed, out)
    swapped = coordinate_raster(tmp_path / "swapped.tif", crs=CGCS, origin=(ORIGIN[1], ORIGIN[0]))
    with pytest.raises(AxisOrderError):
        apply_raster(cgcs, swapped, out)
    apply_raster(cgcs, swapped, tmp_path / "unchecked.tif", check=False)  # --no-check
    assert not out.exists() and not list(tmp_path.glob(".o.*"))
    apply_raster(params, src, out)
    with pytest.raises(OutputExistsError):
        apply_raster(params, src, out)
    apply_raster(params, src, out, overwrite=True, resampling="cubic")


def test_extent_check_follows_a_rotated_geotransform(tmp_path):
    # a sheet scanned sideways: columns run north, rows east (a = e = 0). Its top-left and
    # top-right corners lie in zone 39; its bottom corners 270 km east, in zone 40 -
    # the top-left, t.a and t.e alone would only ever see the first
    cgcs = parse_handwritten(
        'model = "4p"\nfrom = "EPSG:4548"\nto = "EPSG:4548"\nconvention = "position_vector"\n'
        'axes = "east_north"\ndx = 0.1\ndy = 0.2\nrotation = 0.0\nscale = 0.0\n'
    )
    sideways = tmp_path / "sideways.tif"
    transform = Affine(0.0, 3000.0, ORIGIN[0], 3000.0, 0.0, ORIGIN[1])
    with rasterio.open(sideways, "w", driver="GTiff", width=12, height=90, count=1,
                       dtype="uint8", crs=CGCS, transform=transform) as f:  # fmt: skip
        f.write(np.ones((90, 12), dtype="uint8"), 1)
    with pytest.raises(OutsideZoneError, match=r"bottom-left: easting 736300\.000.*EPSG:4549"):
        apply_raster(cgcs, sideways, tmp_path / "o.tif")
    assert not (tmp_path / "o.tif").exists()
