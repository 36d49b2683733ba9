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
    OutsideZoneError,
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


@pytest.mark.parametrize("crs", [4548, 4527, 2436, 2383])
@pytest.mark.parametrize(
    ("east", "north", "shown"),
    [
        (1e300, SHANTOU[1], r"1e\+300"),
        (-1e300, SHANTOU[1], r"-1e\+300"),
        (float("inf"), SHANTOU[1], "inf"),
        (SHANTOU[0], 1e300, r"1e\+300"),
        (SHANTOU[0], float("-inf"), "-inf"),
        (SHANTOU[0] * 1e12, SHANTOU[1], r"4\.67483e\+17"),
    ],
)
def test_huge_values_are_written_short(crs, east, north, shown):
    # a huge value is written in 6 significant digits, not as hundreds of digits (and an
    # infinite one is refused like any out-of-range value, not a crash)
    if crs == 4527 and abs(east) < 1e7:
        east += 39_000_000.0  # the zone prefix of the prefixed system
    with pytest.raises(InvalidCoordinates, match=rf"(easting|northing) {shown} ") as info:
        check_coordinates([east], [north], crs)
    assert len(str(info.value)) < 300, str(info.value)


def test_check_is_cheap_on_large_arrays():
    rng = np.random.default_rng(3)
    lon = rng.uniform(115.5, 118.5, 1_000_000)
    lat = rng.uniform(21, 26, 1_000_000)
    check_coordinates(lon, lat, 4490)  # the fast path: no exception, no per-point work
    lon[123_456], lat[123_456] = 23.0, 116.0
    with pytest.raises(AxisOrderError, match="point 123456"):
        check_coordinates(lon, lat, 4490)


# --- every Chinese Gauss-Kruger system, any datum ---------------------------------------


def _gk_systems_in_proj():
    """Every EPSG Gauss-Kruger CRS on a Chinese datum, from PROJ's database."""
    from pyproj.database import query_crs_info
    from pyproj.enums import PJType

    datums = ("CGCS2000", "Beijing 1954", "Xian 1980", "New Beijing")
    return [
        info
        for info in query_crs_info(auth_name="EPSG", pj_types=PJType.PROJECTED_CRS)
        if "Gauss-Kruger" in info.name and info.name.split(" / ")[0] in datums
    ]


def test_gk_system_of_reads_every_chinese_gauss_kruger_crs():
    """256 systems (4 datums x 3/6-degree x prefix): zone facts agree with the EPSG names."""
    import re

    from geobase.geodesy import gk_system_of, resolve_crs

    infos = _gk_systems_in_proj()
    assert len(infos) == 256
    for info in infos:
        system = gk_system_of(resolve_crs(int(info.code)))
        assert system is not None, info.name
        name = info.name
        width = 3 if "3-degree" in name else 6
        zone = re.search(r"zone (\d+)", name)
        cm = re.search(r"CM (\d+)E", name)
        assert (system.width, system.prefixed) == (width, zone is not None), name
        if zone:
            assert system.number == int(zone.group(1)), name
        else:
            assert system.central_meridian == float(cm.group(1)), name
        assert system.label == f"EPSG:{info.code}"
        assert system.with_prefix(not system.prefixed).label.startswith("EPSG:"), name


def test_gk_system_of_other_crs():
    from geobase.geodesy import gk_system_of, resolve_crs

    for spec in (4490, 4214, 3857, 32650, 2510, "+proj=tmerc +lon_0=117 +k=0.9996 +x_0=500000"):
        assert gk_system_of(resolve_crs(spec)) is None, spec
    custom = gk_system_of(resolve_crs("+proj=tmerc +lon_0=117 +k=1 +x_0=500000 +ellps=krass"))
    assert custom is not None and custom.central_meridian == 117 and not custom.prefixed
    assert "Gauss-Kruger CM 117E" in custom.label


def _shantou_legacy_systems():
    """The EPSG Gauss-Kruger systems on the legacy datums whose zone holds Shantou."""
    from geobase.geodesy import gk_system_of, resolve_crs

    out = []
    for info in _gk_systems_in_proj():
        system = gk_system_of(resolve_crs(int(info.code)))
        if not info.name.startswith("CGCS2000") and system.west <= 116.682 < system.east:
            out.append(int(info.code))
    return out


def _legacy_shantou(code: int) -> tuple[float, float]:
    """Shantou projected in a legacy system (its own datum: no datum shift)."""
    from geobase.geodesy import resolve_crs

    crs = resolve_crs(code)
    to_grid = Transformer.from_crs(crs.geodetic_crs, crs, always_xy=True)
    return to_grid.transform(116.682, 23.354)


def test_every_legacy_system_around_shantou_refuses_swapped_axes():
    codes = _shantou_legacy_systems()
    assert len(codes) == 12  # Beijing 1954, Xian 1980, New Beijing x 3/6-degree x prefix
    for code in codes:
        east, north = _legacy_shantou(code)
        check_coordinates([east], [north], code)  # the right order passes
        with pytest.raises(AxisOrderError, match=rf"look swapped for EPSG:{code}"):
            transform([north], [east], code, 4490, allow_ballpark=True)


def test_issue_examples_beijing_1954_and_xian_1980():
    """The issue's cases: they transformed to lon 135.4 lat 4.0 and 132.5, 6.6 with exit 0."""
    for code in (2436, 2384):
        east, north = _legacy_shantou(code)
        with pytest.raises(AxisOrderError, match="surveying x"):
            transform([north], [east], code, 4214)
    # EPSG:2383 (Xian 1980 CM 114E) does not hold Shantou: the zone that does is named
    east, north = _legacy_shantou(2384)
    lon, _ = transform([east], [north], 2384, 4610)
    east_114, north_114 = transform(lon, [23.354], 4610, 2383, check=False)
    with pytest.raises(OutsideZoneError, match=r"zone holding it is EPSG:2384 \(Xian 1980"):
        check_coordinates(east_114, north_114, 2383)


def test_wrong_zone_prefix_names_the_same_datum_zone():
    east, north = _legacy_shantou(2415)  # Beijing 1954 3-degree zone 39, prefixed
    with pytest.raises(ZonePrefixError, match=r"zone prefix 39 .*did you mean EPSG:2415\?"):
        check_coordinates([east], [north], 2416)  # zone 40
    with pytest.raises(ZonePrefixError, match=r"has a zone prefix .*did you mean EPSG:2415\?"):
        check_coordinates([east], [north], 2436)
    with pytest.raises(ZonePrefixError, match=r"no zone prefix .*did you mean EPSG:2436\?"):
        check_coordinates([east - 39e6], [north], 2415)


def test_points_outside_the_zone_name_the_zone_that_holds_them():
    # 250 km west of the central meridian of EPSG:4548 at Shantou's latitude: 114.56E
    with pytest.raises(
        OutsideZoneError,
        match=r"lies at 114\.5\d+E, 2\.4\d degrees west .*EPSG:4548 \(117E\), outside "
        r"3-degree zone 39 .*holding it is EPSG:4547",
    ):
        check_coordinates([250_000.0], [SHANTOU[1]], 4548)
    # within the half-degree overlap: accepted
    east, _ = transform([118.9], [23.354], 4490, 4548, check=False)
    check_coordinates(east, [SHANTOU[1]], 4548)
    # the 6-degree zone of the same meridian holds it
    east6, north6 = transform([114.56], [23.354], 4490, 4509)
    check_coordinates(east6, north6, 4509)


def test_target_zone_must_hold_the_points():
    with pytest.raises(
        OutsideZoneError, match=r"target EPSG:4549 \(120E\).*holding it is EPSG:4548"
    ):
        transform([116.682], [23.354], 4490, 4549)
    with pytest.raises(OutsideZoneError, match="holding it is EPSG:2436"):
        transform([116.682], [23.354], 4214, 2437)
    transform([116.682], [23.354], 4490, 4549, check=False)  # the caller's choice
    with pytest.raises(OutsideZoneError):
        transform_geometries(np.array([shapely.Point(116.682, 23.354)]), 4490, 4549)


def test_zone_check_is_cheap_and_exact_at_the_edge():
    rng = np.random.default_rng(4)
    lon = rng.uniform(115.5 - 0.5, 118.5 + 0.5, 200_000)
    lat = rng.uniform(18, 45, 200_000)
    east, north = transform(lon, lat, 4490, 4548)  # inside zone + overlap: accepted
    east[777] = 1_000.0
    with pytest.raises(OutsideZoneError, match=r"point 777: .*\(1 of 200000 points\)"):
        check_coordinates(east, north, 4548)


def test_legacy_geographic_crs_suggests_its_own_datum_and_describes_its_zones():
    from geobase.geodesy.describe import describe_crs

    with pytest.raises(InvalidCoordinates, match=r"prefix suggests EPSG:2415$"):
        check_coordinates([39_467_483.0], [SHANTOU[1]], 4214)  # Beijing 1954
    with pytest.raises(InvalidCoordinates, match=r"prefix suggests EPSG:2363$"):
        check_coordinates([39_467_483.0], [SHANTOU[1]], 4610)  # Xian 1980
    record = describe_crs("EPSG:2436")
    assert record["gauss_kruger"] == "3-degree zone 39" and record["central_meridian"] == 117
    assert record["counterpart"] == "EPSG:2415 (with zone prefix)"
