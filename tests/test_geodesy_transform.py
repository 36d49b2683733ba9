"""Transforms: conformance with pyproj, DOMAIN.md worked values, checks of swapped axes and
zone prefixes."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from geobase.errors import (
    AxisOrderError,
    BallparkTransformation,
    InvalidCoordinates,
    UnknownCRS,
    ZonePrefixError,
)
from geobase.geodesy import (
    GKZone,
    check_coordinates,
    get_transformer,
    transform,
    transform_geometries,
    zone_for,
)

METRES_PER_DEGREE = 111_320.0


def dms(d: float, m: float, s: float) -> float:
    return d + m / 60 + s / 3600


# --- worked values (DOMAIN.md section 2) ---------------------------------------------


def test_worked_value_cm111():
    lat, lon = dms(30, 45, 25.4425), dms(111, 17, 58.3596)
    east, north = transform(lon, lat, "EPSG:4490", "gk3cm:111")
    assert round(float(north), 4) == 3404079.3582  # x
    assert round(float(east), 4) == 528680.0889  # y
    back_lon, back_lat = transform(east, north, "gk3cm:111", 4490)
    assert abs(back_lon - lon) < 1e-10 and abs(back_lat - lat) < 1e-10


def test_worked_value_shantou():
    east, north = transform([116.682], [23.354], "EPSG:4490", "EPSG:4548")
    assert round(float(north[0]), 4) == 2583777.6078
    assert round(float(east[0]), 4) == 467483.3555
    east_p, north_p = transform([116.682], [23.354], 4490, "gk3:39")
    assert round(float(east_p[0]), 4) == 39467483.3555
    assert round(float(north_p[0]), 4) == 2583777.6078
    # and the same through a prefixed system back to the unprefixed one
    east_u, north_u = transform(east_p, north_p, "EPSG:4527", "EPSG:4548")
    assert abs(east_u[0] - east[0]) < 1e-6 and abs(north_u[0] - north[0]) < 1e-6


# --- conformance with pyproj over every zone ------------------------------------------


def _random_points(width: int, zones: range, count: int, seed: int):
    rng = np.random.default_rng(seed)
    number = rng.integers(zones.start, zones.stop, count)
    cm = 3.0 * number if width == 3 else 6.0 * number - 3.0
    lon = cm + rng.uniform(-width / 2, width / 2 - 1e-9, count)
    lat = rng.uniform(18.0, 53.5, count)
    return lon, lat


@pytest.mark.parametrize(
    ("width", "zones", "seed"), [(3, range(25, 46), 2000), (6, range(13, 24), 2001)]
)
@pytest.mark.parametrize("prefixed", [True, False])
def test_gauss_kruger_agrees_with_pyproj(width, zones, seed, prefixed):
    """10,000 seeded points per family: forward and inverse within 0.1 mm of pyproj."""
    lon, lat = _random_points(width, zones, 10_000, seed)
    numbers = zone_for(lon, width)
    checked = 0
    for number in np.unique(numbers):
        sel = numbers == number
        zone = GKZone(width, int(number), prefixed)
        spec = zone.short_name
        east, north = transform(lon[sel], lat[sel], "EPSG:4490", spec)
        # reference 1: pyproj with the EPSG code from DOMAIN.md's table
        base = {(3, True): 4513, (3, False): 4534, (6, True): 4491, (6, False): 4502}
        code = base[(width, prefixed)] + int(number) - zones.start
        ref = Transformer.from_crs("EPSG:4490", f"EPSG:{code}", always_xy=True)
        ref_e, ref_n = ref.transform(lon[sel], lat[sel])
        assert np.abs(east - ref_e).max() < 1e-4
        assert np.abs(north - ref_n).max() < 1e-4
        # reference 2: transverse Mercator written out from the definition
        cm = 3 * number if width == 3 else 6 * number - 3
        x0 = 500_000 + (number * 1_000_000 if prefixed else 0)
        tmerc = Transformer.from_pipeline(
            "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad "
            f"+step +proj=tmerc +lat_0=0 +lon_0={cm} +k=1 +x_0={x0} +y_0=0 "
            "+a=6378137 +rf=298.257222101"
        )
        def_e, def_n = tmerc.transform(lon[sel], lat[sel])
        assert np.abs(east - def_e).max() < 1e-4
        assert np.abs(north - def_n).max() < 1e-4
        # inverse, against pyproj's inverse, in metres on the ground
        back_lon, back_lat = transform(east, north, spec, "EPSG:4490")
        ref_lon, ref_lat = ref.transform(ref_e, ref_n, direction="INVERSE")
        coslat = np.cos(np.radians(lat[sel]))
        assert (np.abs(back_lon - ref_lon) * METRES_PER_DEGREE * coslat).max() < 1e-4
        assert (np.abs(back_lat - ref_lat) * METRES_PER_DEGREE).max() < 1e-4
        assert (np.abs(back_lon - lon[sel]) * METRES_PER_DEGREE * coslat).max() < 1e-4
        checked += int(sel.sum())
    assert checked == 10_000


@settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    zone=st.sampled_from([GKZone(3, n, p) for n in (25, 33, 39, 45) for p in (True, False)]),
    offset=st.floats(-1.5, 1.4999, allow_nan=False),
    lat=st.floats(3.0, 54.0, allow_nan=False),
)
def test_forward_inverse_round_trip(zone, offset, lat):
    lon = zone.central_meridian + offset
    east, north = transform([lon], [lat], 4490, zone, check=False)
    back_lon, back_lat = transform(east, north, zone, 4490, check=False)
    assert abs(back_lon[0] - lon) * METRES_PER_DEGREE < 1e-6
    assert abs(back_lat[0] - lat) * METRES_PER_DEGREE < 1e-6
    again_e, again_n = transform(back_lon, back_lat, 4490, zone, check=False)
    assert abs(again_e[0] - east[0]) < 1e-6 and abs(again_n[0] - north[0]) < 1e-6


# --- the transform function ---------------------------------------------------------


def test_transform_shapes_heights_and_no_mutation():
    lon = np.array([[116.6, 116.7], [116.8, 116.9]])
    lat = np.full((2, 2), 23.3)
    keep = lon.copy()
    east, north, h = transform(lon, lat, 4490, 4548, h=np.full((2, 2), 10.0))
    assert east.shape == north.shape == h.shape == (2, 2)
    assert (h == 10.0).all()
    assert (lon == keep).all()
    e1, n1 = transform([116.682], [23.354], "EPSG:4490", "EPSG:4548")
    e2, n2 = transform((116.682,), (23.354,), 4490, 4548)  # lists, tuples, arrays alike
    assert e1[0] == e2[0] and n1[0] == n2[0]


def test_transform_shape_mismatch():
    with pytest.raises(InvalidCoordinates, match="shape"):
        transform([1.0, 2.0], [1.0], 4490, 4548)
    with pytest.raises(InvalidCoordinates, match="h has shape"):
        transform([116.0], [23.0], 4490, 4548, h=[1.0, 2.0])


def test_transform_unknown_crs():
    with pytest.raises(UnknownCRS):
        transform([116.0], [23.0], "EPSG:4490", "gk3:99")


def test_transform_refuses_ballpark_datum_change():
    with pytest.raises(BallparkTransformation, match=r"Beijing 1954.*ballpark.*crs fit"):
        transform([116.0], [23.0], 4214, 4490)
    with pytest.raises(BallparkTransformation, match="Xian 1980"):
        transform([116.0], [23.0], 4490, 4610)
    east, north = transform([116.0], [23.0], 4214, 4490, allow_ballpark=True)
    assert (east[0], north[0]) == pytest.approx((116.0, 23.0))
    # CGCS2000 <-> WGS 84 is also a ballpark in PROJ but within a metre: allowed
    lon, lat = transform([116.0], [23.0], 4490, 4326)
    assert (lon[0], lat[0]) == pytest.approx((116.0, 23.0))


def test_transform_failed_points():
    with pytest.raises(InvalidCoordinates, match=r"point 1: 1 of 2 points cannot be transformed"):
        transform([116.0, 300.0], [23.0, 95.0], 4490, 4548, check=False)
    east, north = transform([116.0, 300.0], [23.0, 95.0], 4490, 4548, check=False, errors="nan")
    assert np.isfinite(east[0]) and np.isnan(east[1]) and np.isnan(north[1])


def test_nan_input_stays_nan():
    east, north = transform([116.0, np.nan], [23.0, np.nan], 4490, 4548)
    assert np.isfinite(east[0]) and np.isnan(east[1]) and np.isnan(north[1])


def test_transformers_are_cached_per_thread():
    first = get_transformer("EPSG:4490", "gk3cm:117")
    assert get_transformer(4490, 4548) is first
    other = []
    thread = threading.Thread(target=lambda: other.append(get_transformer(4490, 4548)))
    thread.start()
    thread.join()
    assert other[0] is not first


def test_transform_geometries_keeps_z():
    geoms = np.array(
        [shapely.Point(116.682, 23.354, 5.0), shapely.LineString([(116.6, 23.3), (116.7, 23.4)])]
    )
    out = transform_geometries(geoms, 4490, 4548)
    assert shapely.has_z(out).tolist() == [True, False]
    x, y, z = shapely.get_coordinates(out[0], include_z=True)[0]
    assert round(x, 4) == 467483.3555 and round(y, 4) == 2583777.6078 and z == 5.0
    with pytest.raises(AxisOrderError):
        transform_geometries(np.array([shapely.Point(23.354, 116.682)]), 4490, 4548)


# --- checks ---------------------------------------------------------------------------


SHANTOU = (467483.3555, 2583777.6078)


def test_check_accepts_good_coordinates():
    check_coordinates([SHANTOU[0]], [SHANTOU[1]], 4548)
    check_coordinates([39_467_483.3555], [SHANTOU[1]], 4527)
    check_coordinates([116.682], [23.354], 4490)
    check_coordinates([], [], 4548)
    check_coordinates([np.nan], [np.nan], 4548)
    check_coordinates([1e7], [1e7], 3857)  # other systems are not checked


def test_prefixed_easting_in_unprefixed_crs():
    with pytest.raises(
        ZonePrefixError,
        match=r"easting 39467483 has a zone prefix but EPSG:4548 has none; did you mean EPSG:4527\?",
    ):
        transform([39_467_483.3555], [SHANTOU[1]], 4548, 4490)


def test_prefix_of_another_zone_names_its_meridian():
    with pytest.raises(ZonePrefixError, match=r"did you mean EPSG:4528\? \(zone 40 .*120E"):
        check_coordinates([40_467_483.0], [SHANTOU[1]], 4548)


def test_six_degree_prefix_in_three_degree_system():
    with pytest.raises(ZonePrefixError, match="did you mean EPSG:4498"):
        check_coordinates([20_467_483.0], [SHANTOU[1]], 4548)


def test_missing_prefix_in_prefixed_crs():
    with pytest.raises(
        ZonePrefixError, match=r"has no zone prefix but EPSG:4527 .*did you mean EPSG:4548\?"
    ):
        check_coordinates([SHANTOU[0]], [SHANTOU[1]], "gk3:39")


def test_wrong_prefix_in_prefixed_crs():
    with pytest.raises(ZonePrefixError, match=r"zone prefix 40 .*did you mean EPSG:4528\?"):
        check_coordinates([40_467_483.0], [SHANTOU[1]], 4527)


@pytest.mark.parametrize(
    ("east", "north", "crs"),
    [
        (SHANTOU[1], SHANTOU[0], 4548),
        (SHANTOU[1], 39_467_483.3555, 4548),
        (SHANTOU[1], 39_467_483.3555, 4527),
        (SHANTOU[1], SHANTOU[0], 4527),
    ],
)
def test_swapped_gauss_kruger_axes(east, north, crs):
    with pytest.raises(AxisOrderError, match=r"look swapped .*surveying x \(north\)"):
        check_coordinates([east], [north], crs)


def test_swapped_geographic_axes():
    with pytest.raises(AxisOrderError, match=r"lat 116.682 is beyond \+-90"):
        transform([23.354], [116.682], 4490, 4548)


def test_swapped_geographic_axes_inside_range():
    # all of these are valid lon/lat somewhere, but none lies in China and all do if swapped
    lat = np.array([80.0, 85.0, 88.0])
    lon = np.array([30.0, 31.0, 35.0])
    with pytest.raises(AxisOrderError, match="inside it when swapped"):
        check_coordinates(lon, lat, 4490)
    check_coordinates(lon, lat, 4326)  # WGS 84 covers the world: nothing to tell


def test_projected_values_in_geographic_crs():
    with pytest.raises(InvalidCoordinates, match=r"not degrees .*suggests EPSG:4527"):
        check_coordinates([39_467_483.0], [SHANTOU[1]], 4490)
    with pytest.raises(InvalidCoordinates, match="projected coordinates"):
        check_coordinates([SHANTOU[0]], [SHANTOU[1]], 4490)


def test_out_of_range_messages_use_labels_and_counts():
    with pytest.raises(
        InvalidCoordinates, match=r"line 3: northing 7000000.000 is outside .*\(1 of 2 points\)"
    ):
        check_coordinates(
            [SHANTOU[0], SHANTOU[0]], [SHANTOU[1], 7e6], 4548, labels=["line 2", "line 3"]
        )
    with pytest.raises(InvalidCoordinates, match=r"easting 5000000.000 is outside"):
        check_coordinates([5e6], [SHANTOU[1]], 4548)
    with pytest.raises(InvalidCoordinates, match=r"y 0.000 is outside the easting"):
        check_coordinates([0.0], [SHANTOU[1]], 4548, names=("y", "x"))


def test_check_is_cheap_on_large_arrays():
    rng = np.random.default_rng(3)
    lon = rng.uniform(115.5, 118.5, 1_000_000)
    lat = rng.uniform(21, 26, 1_000_000)
    check_coordinates(lon, lat, 4490)  # the fast path: no exception, no per-point work
    lon[123_456], lat[123_456] = 23.0, 116.0
    with pytest.raises(AxisOrderError, match="point 123456"):
        check_coordinates(lon, lat, 4490)
