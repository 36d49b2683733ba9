"""CGCS2000 constants, Gauss-Kruger zones, EPSG mapping and CRS resolution."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyproj import CRS

from geobase.errors import InvalidCoordinates, UnknownCRS
from geobase.geodesy import (
    CGCS2000,
    EPSG_RANGE,
    GKZone,
    all_zones,
    crs_label,
    gk_zone_of,
    resolve_crs,
    zone_for,
)


def test_cgcs2000_constants():
    assert CGCS2000.a == 6378137.0
    assert CGCS2000.inverse_flattening == 298.257222101
    assert CGCS2000.gm == 3.986004418e14
    assert CGCS2000.omega == 7.292115e-5
    assert math.isclose(CGCS2000.b, 6356752.314140356, abs_tol=1e-6)
    # the EPSG ellipsoid of China 2000 agrees with geobase's constants
    ellipsoid = CRS.from_epsg(4490).ellipsoid
    assert ellipsoid.semi_major_metre == CGCS2000.a
    assert math.isclose(ellipsoid.inverse_flattening, CGCS2000.inverse_flattening, rel_tol=1e-12)


@pytest.mark.parametrize(
    ("width", "number", "prefixed", "epsg", "cm", "false_easting"),
    [
        (3, 25, True, 4513, 75, 25_500_000),
        (3, 39, True, 4527, 117, 39_500_000),
        (3, 45, True, 4533, 135, 45_500_000),
        (3, 25, False, 4534, 75, 500_000),
        (3, 39, False, 4548, 117, 500_000),
        (3, 45, False, 4554, 135, 500_000),
        (6, 13, True, 4491, 75, 13_500_000),
        (6, 20, True, 4498, 117, 20_500_000),
        (6, 23, True, 4501, 135, 23_500_000),
        (6, 13, False, 4502, 75, 500_000),
        (6, 20, False, 4509, 117, 500_000),
        (6, 23, False, 4512, 135, 500_000),
    ],
)
def test_zone_table(width, number, prefixed, epsg, cm, false_easting):
    zone = GKZone(width, number, prefixed)
    assert zone.epsg == epsg
    assert zone.central_meridian == cm
    assert zone.false_easting == false_easting
    assert GKZone.from_epsg(epsg) == zone
    assert GKZone.from_central_meridian(cm, width, prefixed) == zone


def test_every_epsg_code_matches_the_epsg_database():
    zones = all_zones()
    assert [z.epsg for z in zones] == list(EPSG_RANGE)
    for zone in zones:
        crs = CRS.from_epsg(zone.epsg)
        assert crs.name == zone.name
        params = {p.name: p.value for p in crs.coordinate_operation.params}
        assert params["Longitude of natural origin"] == zone.central_meridian
        assert params["False easting"] == zone.false_easting
        assert params["Scale factor at natural origin"] == 1.0
        assert params["False northing"] == 0.0
        assert crs.datum.name == "China 2000"
        assert gk_zone_of(crs) == zone


def test_shantou_zones():
    # DOMAIN.md: Shantou lies in 3-degree zone 39 and 6-degree zone 20, both CM 117E
    assert zone_for(116.682) == GKZone(3, 39)
    assert zone_for(116.682).epsg == 4548
    assert zone_for(116.682, prefixed=True).epsg == 4527
    assert zone_for(116.682, 6) == GKZone(6, 20)
    assert zone_for(116.682, 6).central_meridian == 117


def test_zone_edges_belong_to_the_east():
    assert zone_for(118.5).number == 40
    assert zone_for(118.4999999).number == 39
    assert zone_for(115.5).number == 39
    assert zone_for(120.0, 6).number == 21
    assert zone_for(119.9999999, 6).number == 20


def test_zone_for_is_vectorised():
    lon = np.array([[75.0, 111.3], [116.682, 135.2]])
    numbers = zone_for(lon)
    assert numbers.shape == (2, 2)
    assert numbers.tolist() == [[25, 37], [39, 45]]
    assert zone_for(lon, 6).tolist() == [[13, 19], [20, 23]]
    rng = np.random.default_rng(5)
    many = rng.uniform(73.5, 136.49, 100_000)
    got = zone_for(many)
    assert ((got * 3 - 1.5 <= many) & (many < got * 3 + 1.5)).all()


@pytest.mark.parametrize("lon", [10.0, 73.4, 136.5, float("nan")])
def test_zone_for_outside_china(lon):
    with pytest.raises(InvalidCoordinates, match="outside the CGCS2000 3-degree"):
        zone_for(lon)


def test_zone_for_array_outside_names_the_value_and_count():
    with pytest.raises(InvalidCoordinates, match=r"longitude 200 .*1 of 3 values"):
        zone_for([116.0, 200.0, 117.0])


def test_zone_for_bad_width():
    with pytest.raises(UnknownCRS, match="expected 3 or 6"):
        zone_for(116.0, 4)  # type: ignore[arg-type]


def test_gkzone_validation():
    with pytest.raises(UnknownCRS, match=r"zone 24 has no CGCS2000 system"):
        GKZone(3, 24)
    with pytest.raises(UnknownCRS, match="expected 3 or 6"):
        GKZone(4, 30)  # type: ignore[arg-type]
    with pytest.raises(UnknownCRS, match="not that of a 3-degree zone"):
        GKZone.from_central_meridian(116, 3)
    with pytest.raises(UnknownCRS, match="6n - 3"):
        GKZone.from_central_meridian(114, 6)
    with pytest.raises(UnknownCRS, match="EPSG:4490 is not a CGCS2000 Gauss-Kruger"):
        GKZone.from_epsg(4490)


def test_short_names_and_proj_string():
    zone = GKZone(3, 39, True)
    assert zone.short_name == "gk3:39"
    assert zone.with_prefix(False).short_name == "gk3cm:117"
    assert GKZone(6, 20).short_name == "gk6cm:117"
    assert "+lon_0=117" in zone.proj4 and "+x_0=39500000" in zone.proj4
    assert "+rf=298.257222101" in zone.proj4
    assert str(GKZone(3, 39)) == "EPSG:4548 (CGCS2000 / 3-degree Gauss-Kruger CM 117E)"


@pytest.mark.parametrize(
    ("spec", "epsg"),
    [
        ("EPSG:4548", 4548),
        ("epsg:4527", 4527),
        (4548, 4548),
        (np.int64(4548), 4548),
        ("4548", 4548),
        (" gk3:39 ", 4527),
        ("GK3:39", 4527),
        ("gk6:20", 4498),
        ("gk3cm:117", 4548),
        ("gk6cm:117", 4509),
        ("gk3cm:117.0", 4548),
        (GKZone(3, 40), 4549),
        ("urn:ogc:def:crs:EPSG::4490", 4490),
    ],
)
def test_resolve_crs(spec, epsg):
    assert resolve_crs(spec).to_epsg() == epsg


def test_resolve_crs_wkt_proj_and_crs_objects():
    crs = CRS.from_epsg(4548)
    assert resolve_crs(crs) is crs
    assert resolve_crs(crs.to_wkt()).to_epsg() == 4548
    proj = resolve_crs("+proj=tmerc +lon_0=117 +x_0=500000 +ellps=GRS80 +units=m")
    assert proj.is_projected
    assert resolve_crs("EPSG:4548") is resolve_crs("EPSG:4548")  # cached


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("EPSG:99999", "unknown CRS 'EPSG:99999'"),
        (99999, "unknown CRS EPSG:99999"),
        ("gk3:99", "zone 99 has no CGCS2000 system"),
        ("gk6:39", "6-degree zone 39 has no CGCS2000"),
        ("gk3cm:116", "not that of a 3-degree zone"),
        ("gk3-39", "unknown Gauss-Kruger short name"),
        ("gk9:20", "unknown Gauss-Kruger short name"),
        ("", "empty CRS"),
        ("not a crs", "expected an EPSG code"),
        (3.5, "unknown CRS 3.5"),
        (None, "unknown CRS None"),
        (True, "unknown CRS True"),
    ],
)
def test_resolve_crs_unknown(spec, message):
    with pytest.raises(UnknownCRS, match=message):
        resolve_crs(spec)


def test_gk_zone_of_other_crs_and_labels():
    assert gk_zone_of(resolve_crs(4490)) is None
    assert gk_zone_of(resolve_crs(3857)) is None
    assert gk_zone_of(resolve_crs(2435)) is None  # Beijing 1954 GK: not CGCS2000
    assert crs_label(resolve_crs("gk3:39")) == "EPSG:4527"
    assert crs_label(resolve_crs("+proj=tmerc +lon_0=117 +ellps=GRS80")) != ""


def test_docstring_examples():
    import doctest
    import importlib

    # import_module: the package re-exports a function named transform
    for name in ("geobase.geodesy", "geobase.geodesy.zones", "geobase.geodesy.transform"):
        module = importlib.import_module(name)
        failures, tried = doctest.testmod(module, verbose=False)
        assert tried > 0 and failures == 0, name


def test_geodesy_is_foundation():
    """geodesy imports nothing from the domain packages or the boundaries."""
    code = (
        "import sys, geobase.geodesy, geobase.geodesy.fit, geobase.geodesy.heights;"
        "bad = [m for m in sys.modules if m.split('.')[:2] in "
        "[['geobase', p] for p in ('control', 'ingest', 'coverage', 'tiles', 'catalog', "
        "'server', 'cli', 'store')] or m in ('click', 'fastapi')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
