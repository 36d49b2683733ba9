"""geobase.sheets: GB/T 13989-2012 national sheets and rectangular GK sheets."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import example, given, settings
from hypothesis import strategies as st

from geobase.errors import (
    AxisOrderError,
    InvalidCoordinates,
    SheetCodeError,
    SheetGridTooLarge,
    UnknownCRS,
)
from geobase.sheets import (
    EDGE_TOLERANCE,
    RECT_SCALES,
    SCALES,
    format_dms,
    parse_angle,
    parse_scale,
    parse_sheet_code,
    rect_sheet_bounds,
    rect_sheet_code,
    rect_sheet_codes,
    rect_sheets_covering,
    sheet_bounds,
    sheet_code,
    sheet_codes,
    sheet_polygon,
    sheets_covering,
)


def dms(d: int, m: int, s: int) -> Fraction:
    return d + Fraction(m, 60) + Fraction(s, 3600)


BEIJING = (dms(116, 28, 25), dms(39, 54, 30))
HEFEI = (dms(117, 17, 24), dms(31, 50, 57))

# DOMAIN.md section 6, worked examples.
EXAMPLES = [
    (BEIJING, 1_000_000, "J50"),
    (BEIJING, 100_000, "J50D001005"),
    (BEIJING, 50_000, "J50E001010"),
    (BEIJING, 10_000, "J50G003040"),
    (HEFEI, 50_000, "H50E001014"),
    ((Fraction("116.682"), Fraction("23.354")), 10_000, "F50G016043"),
]


@pytest.mark.parametrize(("point", "scale", "expected"), EXAMPLES)
def test_domain_examples_exact_and_float(point, scale, expected):
    lon, lat = point
    assert sheet_code(lon, lat, scale) == expected
    assert sheet_code(float(lon), float(lat), scale) == expected
    assert sheet_codes([float(lon)], [float(lat)], scale).tolist() == [expected]
    west, south, east, north = sheet_bounds(expected, exact=True)
    assert west <= lon < east and south <= lat < north


def test_dms_strings_are_exact():
    assert sheet_code("116°28'25\"", "39°54'30\"", "1:100k") == "J50D001005"
    assert sheet_code("116:28:25", "39 54 30 N", "1:50000") == "J50E001010"
    assert parse_angle("116d28m25s") == dms(116, 28, 25)
    assert parse_angle("23 20 00 S") == -dms(23, 20, 0)
    assert format_dms(Fraction(116) + Fraction(75, 8 * 3600), 3, trim=True) == "116°00'09.375\""


@pytest.mark.parametrize("text", ["abc", "116°75'", "116°28'61\"", "", "1/0"])
def test_bad_angles(text):
    with pytest.raises(InvalidCoordinates, match=r"angle|not"):
        parse_angle(text)


def test_all_input_types_agree():
    expected = sheet_code(116.682, 23.354, 500)
    for lon, lat in [
        (Decimal("116.682"), Decimal("23.354")),
        ("116.682", "23.354"),
        (np.float64(116.682), np.float32(23.354).item()),
    ]:
        assert sheet_code(lon, lat, 500) == expected


def test_point_on_edges_goes_north_east():
    # 116.5 is a 1:100,000 column edge and 23.0 a row edge (23 = 69 * 20').
    assert sheet_code(116.5, 23.0, 100_000) == "F50D003006"
    assert sheet_bounds("F50D003006")[:2] == (116.5, 23.0)
    # 23°20' has no exact float; its nearest float and the floats within 1e-9 degree
    # below it are read as the edge; further below is the sheet to the south.
    assert sheet_code(116.682, 23 + 20 / 60, 10_000) == "F50G016043"
    assert sheet_code(116.682, float(np.nextafter(23 + 20 / 60, 0)), 10_000) == "F50G016043"
    assert sheet_code(116.682, 23 + 20 / 60 - 0.9e-9, 10_000) == "F50G016043"
    assert sheet_code(116.682, 23 + 20 / 60 - 1.1e-9, 10_000) == "F50G017043"
    # the 1:1M corner 114E 24N
    assert sheet_code(114.0, 24.0, 1_000_000) == "G50"
    assert sheet_code(180.0, 10.0, 1_000_000) == "C01"  # 180°E wraps to column 01


def test_printed_edge_text_is_on_the_edge():
    # issue 16: `sheets bounds F50G016043` prints south 23.333333333333332, which read
    # as an exact decimal lies 1.3e-15 degree below 23°20'
    south = repr(sheet_bounds("F50G016043").south)
    assert south == "23.333333333333332"
    assert sheet_code("116.625", south, 10_000) == "F50G016043"
    assert sheet_code(Decimal("116.625"), Decimal(south), 10_000) == "F50G016043"
    edge = Fraction(70, 3)
    for below, expected in (
        (Fraction(9, 10**10), "F50G016043"),
        (Fraction(11, 10**10), "F50G017043"),
    ):
        text = f"{float(edge - below):.15f}"  # 15 decimals: 1e-15 degree, well inside
        assert sheet_code("116.625", text, 10_000) == expected, text
    # exact input (int, Fraction) gets no tolerance: a hair below is below
    assert sheet_code(Fraction(1866, 16), edge - Fraction(1, 10**12), 10_000) == "F50G017043"
    assert sheet_code(Fraction(1866, 16), edge, 10_000) == "F50G016043"
    # D°M'S text likewise (0.000001" = 2.8e-10 degree below)
    assert sheet_code("116°37'30\"", "23°19'59.999999\"", 10_000) == "F50G016043"
    assert sheet_code("116°37'30\"", "23°19'59.9999\"", 10_000) == "F50G017043"


@pytest.mark.parametrize(
    ("value", "decimals", "expected"),
    [
        (23.36, 5, "23°21'36.00000\""),  # was 23°21'35." (float truncated, stray dot)
        (116.1, 5, "116°06'00.00000\""),  # was 116°05'59."
        (23.36, 0, "23°21'36\""),
        (10.99999999, 5, "10°59'59.99996\""),
        (10.99999999, 3, "11°00'00.000\""),  # seconds and minutes carry into degrees
        (10.99999999, 0, "11°00'00\""),
        (-0.0, 5, "0°00'00.00000\""),  # negative zero has no sign
        (-1e-12, 5, "0°00'00.00000\""),  # nor has a value that rounds to zero
        (dms(23, 59, 0) + Fraction(599999, 10000 * 3600), 4, "23°59'59.9999\""),
        (dms(23, 59, 0) + Fraction(599999, 10000 * 3600), 3, "24°00'00.000\""),
        (dms(23, 58, 0) + Fraction(599999, 10000 * 3600), 2, "23°59'00.00\""),
        (-23.36, 5, "-23°21'36.00000\""),
        (-116.1, 2, "-116°06'00.00\""),
        (-(dms(0, 0, 59) + Fraction(9999, 10000 * 3600)), 2, "-0°01'00.00\""),
        (Decimal("116.682"), 5, "116°40'55.20000\""),
        (Fraction(5, 2 * 3600 * 10), 0, "0°00'00\""),  # 0.25": rounds down
        (Fraction(1, 2 * 3600), 0, "0°00'00\""),  # 0.5" exactly: half to even (GB/T 8170)
        (Fraction(3, 2 * 3600), 0, "0°00'02\""),  # 1.5": half to even
        (180, 5, "180°00'00.00000\""),
    ],
)
def test_format_dms_table(value, decimals, expected):
    assert format_dms(value, decimals) == expected
    # the text reads back within half a unit of the last decimal
    assert abs(parse_angle(expected) - Fraction(value)) <= Fraction(1, 2 * 3600 * 10**decimals)


def test_format_dms_trim_and_bad_input():
    assert format_dms(Fraction(116) + Fraction(75, 8 * 3600), 3, trim=True) == "116°00'09.375\""
    assert format_dms(Fraction(70, 3), 3, trim=True) == "23°20'00\""
    for bad in (float("nan"), float("inf"), "23.5", None, True):
        with pytest.raises(InvalidCoordinates):
            format_dms(bad)
    with pytest.raises(InvalidCoordinates, match="decimals"):
        format_dms(23.5, -1)


@settings(max_examples=300, deadline=None)
@given(st.floats(-180, 180, allow_nan=False), st.integers(0, 6))
@example(23.36, 5)
@example(-0.0, 0)
@example(59.99999999999999, 6)
def test_format_dms_is_correctly_rounded(value, decimals):
    text = format_dms(value, decimals)
    _degrees, rest = text.lstrip("-").split("°")
    minutes, seconds = rest.rstrip('"').split("'")
    assert 0 <= int(minutes) < 60 and 0 <= float(seconds) < 60
    assert abs(parse_angle(text) - Fraction(value)) <= Fraction(1, 2 * 3600 * 10**decimals)


def test_southern_hemisphere_and_range_errors():
    with pytest.raises(InvalidCoordinates, match="northern hemisphere"):
        sheet_code(116.0, -23.0, 10_000)
    with pytest.raises(InvalidCoordinates, match="swap"):
        sheet_code(23.354, 116.682, 10_000)
    with pytest.raises(InvalidCoordinates, match=r"-180\.\.180"):
        sheet_code(200.0, 23.0, 10_000)
    with pytest.raises(InvalidCoordinates, match="88"):
        sheet_code(116.0, 88.0, 10_000)
    with pytest.raises(InvalidCoordinates, match="finite"):
        sheet_code(float("nan"), 23.0, 10_000)
    with pytest.raises(InvalidCoordinates, match="not a number"):
        sheet_code(None, 23.0, 10_000)
    with pytest.raises(InvalidCoordinates, match="point 1"):
        sheet_codes([116.0, 116.0], [23.0, -1.0], 10_000)
    with pytest.raises(InvalidCoordinates, match="shape"):
        sheet_codes([116.0, 116.0], [23.0, 1.0, 2.0], 10_000)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1:10000", 10_000),
        ("1:10,000", 10_000),
        ("1:10k", 10_000),
        ("10K", 10_000),
        ("1:1M", 1_000_000),
        ("1:1000000", 1_000_000),
        (500, 500),
        (" 1 : 500 ", 500),
    ],
)
def test_parse_scale(value, expected):
    assert parse_scale(value) == expected


@pytest.mark.parametrize("value", ["1:3000", "abc", "", 0, True, 1.5, "1:10g"])
def test_parse_scale_rejects(value):
    with pytest.raises(SheetCodeError, match="scale"):
        parse_scale(value)


def test_lower_case_codes_are_normalised():
    assert parse_sheet_code(" f50g016043 ").code == "F50G016043"
    assert sheet_bounds("f50") == sheet_bounds("F50") == (114.0, 20.0, 120.0, 24.0)
    assert sheet_polygon("j50k00530950").bounds == tuple(sheet_bounds("J50K00530950"))


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("", "empty"),
        ("F5", "malformed"),
        ("F50G01604", "3\\+3 digits"),
        ("F50J016043", "4\\+4 digits"),
        ("F50A001001", "unknown scale letter"),
        ("F50G097001", "row 97 is outside 1..96"),
        ("F50G001000", "column 0 is outside"),
        ("F61", r"outside 01\.\.60"),
        ("W50", "beyond V"),
        ("F50G016043X", "malformed"),
        ("2583.25-467.50", "rectangular"),
        ("F50-G016043", "malformed"),
    ],
)
def test_malformed_codes(code, reason):
    with pytest.raises(SheetCodeError, match=reason):
        sheet_bounds(code)


def test_non_string_code():
    with pytest.raises(SheetCodeError, match="text"):
        parse_sheet_code(50)


# --- properties -------------------------------------------------------------------

scales = st.sampled_from(sorted(SCALES))


@st.composite
def sheets(draw):
    spec = SCALES[draw(scales)]
    band = draw(st.integers(0, 21))
    zone = draw(st.integers(1, 60))
    if spec.rows == 1:
        return f"{'ABCDEFGHIJKLMNOPQRSTUV'[band]}{zone:02d}"
    row = draw(st.integers(1, spec.rows))
    col = draw(st.integers(1, spec.rows))
    d = spec.digits
    return f"{'ABCDEFGHIJKLMNOPQRSTUV'[band]}{zone:02d}{spec.letter}{row:0{d}d}{col:0{d}d}"


@settings(max_examples=300, deadline=None)
@given(sheets())
@example("F50K23042304")
@example("A01K23040001")
def test_code_bounds_centre_round_trip(code):
    scale = parse_sheet_code(code).scale
    west, south, east, north = sheet_bounds(code)
    centre = ((west + east) / 2, (south + north) / 2)
    assert sheet_code(*centre, scale) == code
    assert sheet_codes([centre[0]], [centre[1]], scale)[0] == code


@settings(max_examples=300, deadline=None)
@given(sheets())
@example("F50G016043")
@example("A01B002001")  # south-west corner at the equator / 180°W
def test_corner_belongs_to_north_east_sheet(code):
    scale = parse_sheet_code(code).scale
    exact = sheet_bounds(code, exact=True)
    floats = sheet_bounds(code)
    assert sheet_code(exact.west, exact.south, scale) == code
    assert sheet_code(floats.west, floats.south, scale) == code
    assert sheet_codes([floats.west], [floats.south], scale)[0] == code


def _printed_corners(code: str):
    """The sheet's corners as `sheets bounds` prints them: float text and D°M'S text."""
    floats = sheet_bounds(code)
    exact = sheet_bounds(code, exact=True)
    as_float = {k: repr(v) for k, v in floats._asdict().items()}
    as_dms = {k: format_dms(v, 3, trim=True) for k, v in exact._asdict().items()}
    return as_float, as_dms


@settings(max_examples=300, deadline=None)
@given(sheets())
@example("F50G016043")
@example("F50K10120387")
@example("A01K23040001")
@example("V60K00012304")
def test_printed_corners_round_trip(code):
    # code -> bounds printed -> parsed -> code: the south-west corner as printed belongs
    # to the sheet; the other corners as printed belong to the neighbours east / north
    scale = parse_sheet_code(code).scale
    exact = sheet_bounds(code, exact=True)
    east_lon = exact.east if exact.east < 180 else exact.east - 360
    for printed in _printed_corners(code):
        assert sheet_code(printed["west"], printed["south"], scale) == code
        lon = np.array([printed["west"]], dtype=object)
        assert sheet_codes(lon, np.array([printed["south"]], dtype=object), scale)[0] == code
        assert sheet_code(printed["east"], printed["south"], scale) == sheet_code(
            east_lon, exact.south, scale
        )
        if exact.north < 88:
            assert sheet_code(printed["west"], printed["north"], scale) == sheet_code(
                exact.west, exact.north, scale
            )


def _all_codes(parent: str, spec) -> list[str]:
    """Every sheet of a scale inside a 1:1M sheet, or inside a 1:10,000 sheet."""
    d = spec.digits
    if len(parent) == 3:
        rows = cols = range(1, spec.rows + 1)
    else:  # inside F50G016043: 96 rows / cols of 1:10k per 1:1M sheet
        k = spec.rows // 96
        p = parse_sheet_code(parent)
        rows = range((p.row - 1) * k + 1, p.row * k + 1)
        cols = range((p.col - 1) * k + 1, p.col * k + 1)
    if spec.rows == 1:
        return [parent]
    return [f"{parent[:3]}{spec.letter}{r:0{d}d}{c:0{d}d}" for r in rows for c in cols]


def test_printed_corners_round_trip_exhaustive():
    # every sheet of 1:1M .. 1:10,000 in F50 (Shantou), every 1:5000 .. 1:500 sheet in
    # F50G016043: the south-west corner printed as float text and as D°M'S text
    for spec in SCALES.values():
        parent = "F50" if spec.denominator >= 10_000 else "F50G016043"
        codes = _all_codes(parent, spec)
        corners = [_printed_corners(c) for c in codes]
        for i in range(2):
            lon = np.array([c[i]["west"] for c in corners], dtype=object)
            lat = np.array([c[i]["south"] for c in corners], dtype=object)
            assert sheet_codes(lon, lat, spec.denominator).tolist() == codes
        west = np.array([float(c[0]["west"]) for c in corners])
        south = np.array([float(c[0]["south"]) for c in corners])
        assert sheet_codes(west, south, spec.denominator).tolist() == codes


lons = st.floats(-180, 180, allow_nan=False)
lats = st.floats(0, 87.999, allow_nan=False)


@settings(max_examples=500, deadline=None)
@given(lons, lats, scales)
@example(116.5, 23.0, 100_000)
@example(-179.9999999, 0.0000001, 500)
@example(1.9999999999999998, 1.0000000000000002, 500)
@example(116.682, 23 + 20 / 60 - 1e-9, 10_000)
@example(179.99999999999997, 0.0, 500)
def test_sheet_of_a_point_contains_it(lon, lat, scale):
    # within EDGE_TOLERANCE below an edge counts as on it: [west - tol, east - tol)
    code = sheet_code(lon, lat, scale)
    west, south, east, north = sheet_bounds(code, exact=True)
    tol = EDGE_TOLERANCE
    x = Fraction(lon)
    if x >= 180 - tol:  # on 180°E: column 01, from 180°W
        x -= 360
    assert west - tol <= x < east - tol
    assert south - tol <= Fraction(lat) < north - tol


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(lons, lats), min_size=1, max_size=40), scales)
def test_vectorised_equals_scalar(points, scale):
    lon = np.array([p[0] for p in points])
    lat = np.array([p[1] for p in points])
    expected = [sheet_code(a, b, scale) for a, b in points]
    assert sheet_codes(lon, lat, scale).tolist() == expected


def test_vectorised_edge_floats_and_object_arrays():
    spec = SCALES[500]
    rng = np.random.default_rng(42)
    cols = rng.integers(0, 360 * 384, 2000)
    rows = rng.integers(0, 88 * 576, 2000)
    lon = np.array([float(Fraction(int(c), 384) - 180) for c in cols])
    lat = np.array([float(Fraction(int(r), 576)) for r in rows])
    expected = [sheet_code(a, b, 500) for a, b in zip(lon, lat, strict=True)]
    assert sheet_codes(lon, lat, 500).tolist() == expected
    # one ulp below an edge stays in the south-west cell
    below = np.nextafter(lat, 0)
    expected_below = [sheet_code(a, b, 500) for a, b in zip(lon, below, strict=True)]
    assert sheet_codes(lon, below, 500).tolist() == expected_below
    objects = np.array([Fraction(1, 3), "116.5"], dtype=object)
    assert sheet_codes(
        objects, np.array(["23", Fraction(47, 2)], dtype=object), spec.denominator
    ).tolist() == [
        sheet_code(Fraction(1, 3), 23, 500),
        sheet_code("116.5", Fraction(47, 2), 500),
    ]
    assert sheet_codes(np.array([[116.5]]), 23.0, 1_000_000).shape == (1, 1)


# --- rectangular sheets ------------------------------------------------------------

SHANTOU_GK = (467483.3555, 2583777.6078)  # EPSG:4548, DOMAIN.md section 2


@pytest.mark.parametrize(
    ("scale", "expected"),
    [(500, "2583.75-467.25"), (1000, "2583.5-467.0"), (2000, "2583.0-467.0"), (5000, "2582-466")],
)
def test_rect_codes(scale, expected):
    east, north = SHANTOU_GK
    assert rect_sheet_code(east, north, scale) == expected
    west, south, e, n = rect_sheet_bounds(expected, scale)
    assert west <= east < e and south <= north < n
    assert e - west == RECT_SCALES[scale].size_m


def test_rect_domain_format_examples():
    assert rect_sheet_bounds("2583.25-467.50") == (467500.0, 2583250.0, 467750.0, 2583500.0)
    assert rect_sheet_bounds("2583.5-467.0", 1000) == (467000.0, 2583500.0, 467500.0, 2584000.0)
    assert rect_sheet_bounds("2582-466") == (466000.0, 2582000.0, 468000.0, 2584000.0)
    # corner and edges go north-east
    assert rect_sheet_code(467500.0, 2583250.0, 500) == "2583.25-467.50"
    assert rect_sheet_code(float(np.nextafter(467500.0, 0)), 2583250.0, 500) == "2583.25-467.25"
    # prefixed eastings are numbered as given
    assert rect_sheet_code(39467483.3555, 2583777.6078, 5000) == "2582-39466"


@settings(max_examples=300, deadline=None)
@given(
    st.floats(0, 999_999, allow_nan=False),
    st.floats(0, 9_999_999, allow_nan=False),
    st.sampled_from(sorted(RECT_SCALES)),
)
def test_rect_point_inside_its_sheet(east, north, scale):
    code = rect_sheet_code(east, north, scale)
    west, south, e, n = rect_sheet_bounds(code, scale)
    assert west <= east < e and south <= north < n
    assert rect_sheet_code(west, south, scale) == code  # SW corner -> this sheet
    assert rect_sheet_code((west + e) / 2, (south + n) / 2, scale) == code


def test_rect_vectorised():
    east = np.array([467483.3555, 467500.0, 467499.99999999994])
    north = np.array([2583777.6078, 2583250.0, 2583250.0])
    assert rect_sheet_codes(east, north, 500).tolist() == [
        "2583.75-467.25",
        "2583.25-467.50",
        "2583.25-467.25",
    ]


def test_rect_bad_input():
    with pytest.raises(AxisOrderError, match="swap"):
        rect_sheet_code(2583777.6, 467483.4, 500)
    with pytest.raises(InvalidCoordinates, match="negative"):
        rect_sheet_code(-1.0, 2583777.6, 500)
    with pytest.raises(InvalidCoordinates, match="finite"):
        rect_sheet_code(float("inf"), 2583777.6, 500)
    with pytest.raises(SheetCodeError, match="rectangular sheets exist at"):
        rect_sheet_code(467483.4, 2583777.6, 10_000)
    with pytest.raises(SheetCodeError, match=r"multiple of 0\.25 km"):
        rect_sheet_bounds("2583.30-467.50", 500)
    with pytest.raises(SheetCodeError, match="cannot tell the scale"):
        rect_sheet_bounds("2583.5-467.0")
    with pytest.raises(SheetCodeError, match="national sheet code"):
        rect_sheet_bounds("F50G016043", 500)
    with pytest.raises(SheetCodeError, match="malformed"):
        rect_sheet_bounds("2583.25/467.50", 500)


# --- sheets covering an area --------------------------------------------------------


def _check_cover(frame, area, scale):
    assert list(frame.columns) == ["code", "scale", "geometry"]
    assert frame.code.is_unique and (frame["scale"] == scale).all()
    union = shapely.union_all(frame.geometry.values)
    assert shapely.difference(area, union).area < 1e-9 * area.area
    assert (shapely.area(shapely.intersection(frame.geometry.values, area)) > 0).all()


def test_sheets_covering_across_million_sheets():
    area = shapely.Polygon([(119.9, 23.9), (120.2, 23.95), (120.05, 24.15)])
    frame = sheets_covering(area, "1:50000")
    _check_cover(frame, area, 50_000)
    assert str(frame.crs) == "EPSG:4490"
    assert {c[:3] for c in frame.code} == {"F50", "F51", "G50", "G51"}
    for code, geom in zip(frame.code, frame.geometry, strict=True):
        assert geom.bounds == tuple(sheet_bounds(code))
    # brute force: the sheets of a dense sample of points inside the area
    x, y = np.meshgrid(np.linspace(119.9, 120.2, 200), np.linspace(23.9, 24.15, 200))
    inside = shapely.contains_xy(area, x, y)
    assert set(sheet_codes(x[inside], y[inside], 50_000)) <= set(frame.code)


def test_sheets_covering_excludes_sheets_only_touching():
    frame = sheets_covering(shapely.box(116.0, 23.0, 116.5, 23.5), 100_000)
    assert frame.code.tolist() == ["F50D002005", "F50D003005"]


def test_sheets_covering_projected_geoseries():
    area = gpd.GeoSeries([shapely.box(467000, 2583000, 469000, 2585000)], crs="EPSG:4548")
    frame = sheets_covering(area, "1:5000")
    area_ll = area.to_crs(4490).iloc[0]
    _check_cover(frame, area_ll, 5000)
    assert sheet_code(116.682, 23.354, 5000) in set(frame.code)


def test_sheets_covering_points_and_lines():
    assert sheets_covering(shapely.Point(116.682, 23.354), 10_000).code.tolist() == ["F50G016043"]
    # a line meets every sheet it touches, its end points on column edges included
    line = shapely.LineString([(116.0, 23.1), (116.5, 23.1)])
    assert sheets_covering(line, 100_000).code.tolist() == [
        "F50D003004",
        "F50D003005",
        "F50D003006",
    ]


def test_sheets_covering_bad_input():
    with pytest.raises(InvalidCoordinates, match="empty"):
        sheets_covering(shapely.Polygon(), 10_000)
    with pytest.raises(InvalidCoordinates, match="northern hemisphere"):
        sheets_covering(shapely.box(116, -1, 117, 1), 10_000)
    with pytest.raises(SheetGridTooLarge, match="limit"):
        sheets_covering(shapely.box(73, 18, 135, 54), 500)
    with pytest.raises(UnknownCRS, match="no CRS"):
        sheets_covering(gpd.GeoSeries([shapely.box(116, 23, 117, 24)]), 10_000)
    with pytest.raises(UnknownCRS, match="not understood"):
        sheets_covering(shapely.box(116, 23, 117, 24), 10_000, crs="EPSG:999999")
    with pytest.raises(InvalidCoordinates, match="shapely geometry"):
        sheets_covering([116, 23, 117, 24], 10_000)
    with pytest.raises(SheetCodeError):
        sheets_covering(shapely.box(116, 23, 117, 24), "1:3000")


def test_rect_sheets_covering():
    area = shapely.Polygon([(467100, 2583100), (468900, 2583300), (468000, 2584900)])
    frame = rect_sheets_covering(area, 500)
    _check_cover(frame, area, 500)
    assert str(frame.crs) == "EPSG:4548"
    for code, geom in zip(frame.code, frame.geometry, strict=True):
        assert geom.bounds == tuple(rect_sheet_bounds(code, 500))
    # exact fit: a 1 km square on the grid is exactly 16 sheets at 1:500, 1 at 1:2000
    square = shapely.box(467000, 2583000, 468000, 2584000)
    assert len(rect_sheets_covering(square, 500)) == 16
    assert rect_sheets_covering(square, 2000).code.tolist() == ["2583.0-467.0"]


def test_rect_sheets_covering_reprojects_lonlat_area():
    area = gpd.GeoSeries([shapely.Point(116.682, 23.354).buffer(0.01)], crs="EPSG:4490")
    frame = rect_sheets_covering(area, 1000)
    assert rect_sheet_code(*SHANTOU_GK, 1000) in set(frame.code)
    _check_cover(frame, area.to_crs(4548).iloc[0], 1000)
    prefixed = rect_sheets_covering(area, 1000, crs="EPSG:4527")
    assert all("-39" in code for code in prefixed.code)


def test_rect_sheets_covering_bad_crs():
    with pytest.raises(UnknownCRS, match="Gauss-Kruger"):
        rect_sheets_covering(shapely.box(0, 0, 1, 1), 500, crs="EPSG:3857")
    with pytest.raises(UnknownCRS, match="Gauss-Kruger"):
        rect_sheets_covering(shapely.box(0, 0, 1, 1), 500, crs="EPSG:4490")


def test_docstring_examples():
    import doctest

    import geobase.sheets
    from geobase.sheets import angles, covering, national, rectangular, scales

    results = [
        doctest.testmod(module)
        for module in (geobase.sheets, angles, covering, national, rectangular, scales)
    ]
    assert sum(r.attempted for r in results) > 10 and sum(r.failed for r in results) == 0
