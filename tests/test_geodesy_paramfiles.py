"""Parameter files: CRSs always named, hand-written 4p/7p files against PROJ's helmert."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from pyproj import Transformer

from geobase.errors import ParameterFileError, UnknownCRS
from geobase.geodesy import (
    CommonPoints,
    apply,
    fit,
    parse_parameters,
    read_parameters,
    write_parameters,
)
from geobase.geodesy.paramfiles import LOCAL, parse_handwritten, with_crs

SEVEN = {"dx": -103.25, "dy": -110.84, "dz": 48.62, "rx": 1.213, "ry": -2.041, "rz": 3.307}
DS = 2.45


def seven_text(convention: str, sign: float = 1.0, **extra) -> str:
    lines = [
        'model = "7p"',
        'from = "EPSG:4610"  # Xian 1980',
        'to = "EPSG:4490"    # CGCS2000',
        f'convention = "{convention}"',
        *(f"{k} = {sign * v if k.startswith('r') else v!r}" for k, v in SEVEN.items()),
        f"ds = {DS}",
        *(f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"' for k, v in extra.items()),
    ]
    return "\n".join(lines) + "\n"


def proj_seven(convention: str) -> Transformer:
    """PROJ's own helmert between the Xian 1980 (IAG 1975) and CGCS2000 ellipsoids."""
    p = SEVEN
    return Transformer.from_pipeline(
        "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad "
        "+step +proj=cart +a=6378140 +rf=298.257 "
        f"+step +proj=helmert +x={p['dx']} +y={p['dy']} +z={p['dz']} +rx={p['rx']} "
        f"+ry={p['ry']} +rz={p['rz']} +s={DS} +convention={convention} "
        "+step +inv +proj=cart +ellps=GRS80 +step +proj=unitconvert +xy_in=rad +xy_out=deg"
    )


def shantou_lonlat(n: int = 30, seed: int = 1):
    rng = np.random.default_rng(seed)
    return rng.uniform(116.2, 117.2, n), rng.uniform(23.0, 23.7, n), rng.uniform(-5, 300, n)


@pytest.mark.parametrize("convention", ["position_vector", "coordinate_frame"])
def test_handwritten_7p_matches_proj_helmert(convention):
    params = parse_handwritten(seven_text(convention), "x80.toml")
    assert params.src_crs == "EPSG:4610" and params.dst_crs == "EPSG:4490"
    assert params.src_axes == params.dst_axes == "lon_lat"
    assert f"+convention={convention}" in params.proj_pipeline
    lon, lat, h = shantou_lonlat()
    got = apply(params, lon, lat, h)
    want = proj_seven(convention).transform(lon, lat, h)
    # 1e-9 degree is 0.1 mm
    assert np.abs(got[0] - want[0]).max() < 1e-9 and np.abs(got[1] - want[1]).max() < 1e-9
    assert np.abs(got[2] - want[2]).max() < 1e-4


def test_the_two_conventions_differ_by_the_sign_of_the_rotations():
    lon, lat, h = shantou_lonlat()
    cf = apply(parse_handwritten(seven_text("coordinate_frame")), lon, lat, h)
    pv_negated = apply(parse_handwritten(seven_text("position_vector", sign=-1.0)), lon, lat, h)
    pv_same = apply(parse_handwritten(seven_text("position_vector")), lon, lat, h)
    # the same numbers read in the other convention: the known blunder (here tens of
    # metres, rotations of a few arc-seconds at 6,400 km from the geocentre)
    metres = np.hypot((cf[0] - pv_same[0]) * 102_000, (cf[1] - pv_same[1]) * 111_000)
    assert metres.min() > 10
    # negating the rotations turns one convention into the other, to the last digit
    assert np.abs(cf[0] - pv_negated[0]).max() < 1e-12
    assert np.abs(cf[1] - pv_negated[1]).max() < 1e-12
    assert np.abs(cf[2] - pv_negated[2]).max() < 1e-6


FOUR = {"dx": -18.431, "dy": 92.118, "rotation": 2.85 * 3600, "scale": -4.12}


def four_text(convention: str, axes: str, **changes) -> str:
    values = {**FOUR, **changes}
    return (
        'model = "4p"\nfrom = "EPSG:2384"\nto = "EPSG:4548"\n'
        f'convention = "{convention}"\naxes = "{axes}"\n'
        + "".join(f"{k} = {v!r}\n" for k, v in values.items())
    )


def four_reference(convention: str, axes: str, east, north):
    """The 4p formula written out in the file's own axis order."""
    r = math.radians(FOUR["rotation"] / 3600) * (1 if convention == "position_vector" else -1)
    k = 1 + FOUR["scale"] * 1e-6
    a, b = (east, north) if axes == "east_north" else (north, east)
    a2 = FOUR["dx"] + k * (a * math.cos(r) - b * math.sin(r))
    b2 = FOUR["dy"] + k * (a * math.sin(r) + b * math.cos(r))
    return (a2, b2) if axes == "east_north" else (b2, a2)


@pytest.mark.parametrize("axes", ["east_north", "north_east"])
@pytest.mark.parametrize("convention", ["position_vector", "coordinate_frame"])
def test_handwritten_4p_matches_the_formula_and_proj_helmert(convention, axes):
    params = parse_handwritten(four_text(convention, axes))
    rng = np.random.default_rng(2)
    east, north = rng.uniform(440_000, 500_000, 20), rng.uniform(2_550_000, 2_610_000, 20)
    got = apply(params, east, north)
    want = four_reference(convention, axes, east, north)
    assert np.abs(got[0] - want[0]).max() < 1e-6 and np.abs(got[1] - want[1]).max() < 1e-6
    if axes == "east_north":
        # PROJ's 2D helmert turns by theta in the coordinate-frame sense
        theta = FOUR["rotation"] * (1 if convention == "coordinate_frame" else -1)
        proj = Transformer.from_pipeline(
            f"+proj=helmert +x={FOUR['dx']} +y={FOUR['dy']} +theta={theta} "
            f"+s={1 + FOUR['scale'] * 1e-6!r} +convention=coordinate_frame"
        ).transform(east, north)
        assert np.abs(got[0] - proj[0]).max() < 1e-6 and np.abs(got[1] - proj[1]).max() < 1e-6
    other = "coordinate_frame" if convention == "position_vector" else "position_vector"
    flipped = apply(
        parse_handwritten(four_text(other, axes, rotation=-FOUR["rotation"])), east, north
    )
    assert np.abs(got[0] - flipped[0]).max() < 1e-6 and np.abs(got[1] - flipped[1]).max() < 1e-6


def test_handwritten_file_read_from_disk_gbk_and_json(tmp_path):
    path = tmp_path / "广东 x80.txt"
    path.write_bytes(
        seven_text("coordinate_frame", description="广东省 西安80 -> CGCS2000").encode("gbk")
    )
    params = read_parameters(path)
    assert params.software == "hand-written (广东省 西安80 -> CGCS2000)"
    as_json = {"model": "7p", "from": "EPSG:4610", "to": "EPSG:4490", "convention": "coordinate_frame",
               **SEVEN, "ds": DS}  # fmt: skip
    again = parse_parameters(json.dumps(as_json))
    assert again.parameters == params.parameters
    # written out, it is a geobase file that reads back the same
    back = read_parameters(write_parameters(params, tmp_path / "p.json"))
    assert back.parameters == params.parameters and back.proj_pipeline == params.proj_pipeline


def test_a_parameter_file_neither_utf8_nor_gbk_is_refused(tmp_path):
    from tests.conftest import run_cli

    path = tmp_path / "x80.txt"
    path.write_bytes(seven_text("coordinate_frame", description="广东省").encode("utf-16"))
    with pytest.raises(ParameterFileError, match=r"x80\.txt: text is neither UTF-8 nor GBK"):
        read_parameters(path)
    points = tmp_path / "points.csv"
    points.write_text("x,y\n2600000,38500000\n", encoding="utf-8")
    result = run_cli(["crs", "apply", path, points, tmp_path / "out.csv"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "x80.txt" in result.stderr and "neither UTF-8 nor GBK" in result.stderr
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (seven_text("coordinate_frame").replace('convention = "coordinate_frame"\n', ""),
         "convention: missing"),
        (seven_text("coordinate_frame").replace("rz =", "rz2 ="), "rz: missing"),
        (seven_text("coordinate_frame") + "extra = 1\n", "extra: Extra inputs are not permitted"),
        (seven_text("both"), "convention: Input should be 'coordinate_frame' or 'position_vector'"),
        (seven_text("coordinate_frame").replace("dx = -103.25", 'dx = "a lot"'), "dx: Input should be a valid number"),
        (four_text("position_vector", "east_north").replace('axes = "east_north"\n', ""), "axes: missing"),
        (four_text("position_vector", "x_y"), "axes: Input should be"),
        (four_text("position_vector", "east_north").replace("EPSG:2384", "EPSG:4610"),
         "a 4p file works on projected coordinates but from is geographic"),
        (four_text("position_vector", "east_north").replace('"EPSG:2384"', '"local"'),
         "from = 'local' is not allowed"),
        (four_text("position_vector", "east_north").replace("EPSG:2384", "EPSG:99999"), "from:"),
        (seven_text("coordinate_frame").replace("dx = -103.25", "dx = nan"), "dx: Input should be a finite number"),
        (four_text("position_vector", "east_north").replace("scale = ", "scale = -inf #"), "scale: Input should be a finite number"),
        ('model = "affine"\n', "not a hand-written model"),
        ("dx = = 3\n", "neither a geobase parameter file (JSON) nor a hand-written"),
        ("[1, 2]", "neither a geobase parameter file"),
    ],
)  # fmt: skip
def test_handwritten_refusals(text, message):
    with pytest.raises(ParameterFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_parameters(text, "office.toml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # the ratio 1 + 4 ppm written where ppm are asked for
        (seven_text("coordinate_frame").replace(f"ds = {DS}", "ds = 1.000004"),
         "ds = 1.000004 looks like a ratio; give ppm (ds = 4)"),
        (four_text("position_vector", "east_north", scale=0.99999588),
         "scale = 0.99999588 looks like a ratio; give ppm (scale = -4.12)"),
        (seven_text("coordinate_frame").replace(f"ds = {DS}", "ds = 2450"),
         "ds = 2450 ppm is 0.245 %, beyond 1000 ppm"),
        # arc-minutes or degrees-as-seconds: 1.9 km at the Earth's radius per minute
        (seven_text("coordinate_frame").replace("rz = 3.307", "rz = 198.42"),
         "rz = 198.42 arc-seconds is beyond 60 (0.05512 degrees)"),
        (four_text("position_vector", "east_north", rotation=700_000.0),
         "rotation = 700000 arc-seconds is beyond 648000"),
    ],
)  # fmt: skip
def test_handwritten_values_impossible_in_their_units_are_refused(text, message):
    with pytest.raises(ParameterFileError, match=re.escape(message)):
        parse_parameters(text, "office.toml")


def test_plausible_office_values_pass_and_radian_like_rotations_are_warned(caplog):
    # a Beijing 1954 -> CGCS2000 7p as a provincial office gives it: all accepted quietly
    office = seven_text("coordinate_frame").replace(f"ds = {DS}", "ds = 1.0")  # 1 ppm exactly
    with caplog.at_level("WARNING"):
        assert parse_parameters(office).parameters.scale_ppm == 1.0
    assert caplog.text == ""
    # 1.213, -2.041, 3.307 arc-seconds given in radians: 5.88e-06 rad ... accepted, warned
    radians = seven_text("coordinate_frame")
    for key in ("rx", "ry", "rz"):
        value = SEVEN[key]
        radians = radians.replace(f"{key} = {value!r}", f"{key} = {value / 206264.806:.3g}")
    with caplog.at_level("WARNING"):
        params = parse_parameters(radians, "office.toml")
    assert params.parameters.rz == pytest.approx(1.6e-05)
    assert "move points by at most 0.49 mm" in caplog.text
    assert "if they are radians they are 3.3 arc-seconds" in caplog.text


def test_one_reader_for_every_parameter_file(tmp_path):
    # the same hand-written keys as TOML or JSON, through parse_parameters or
    # parse_handwritten, give the same parameters; a geobase-written file too
    toml = parse_parameters(seven_text("coordinate_frame"), "a.toml")
    data = {"model": "7p", "from": "EPSG:4610", "to": "EPSG:4490",
            "convention": "coordinate_frame", **SEVEN, "ds": DS}  # fmt: skip
    as_json = parse_parameters(json.dumps(data), "a.json")
    assert as_json.parameters == toml.parameters
    assert parse_handwritten(json.dumps(data)).parameters == toml.parameters
    written = write_parameters(toml, tmp_path / "w.json")
    assert read_parameters(written).parameters == toml.parameters
    # the JSON reader's refusal is the same whichever kind the file meant to be
    for text in ('{"model": "7p",', '{"format": "geobase-transform-parameters",'):
        with pytest.raises(ParameterFileError, match="not valid JSON"):
            parse_parameters(text, "x.json")


# --- the CRSs a file carries ------------------------------------------------------------


def plane_fit(src_crs=None, dst_crs=None):
    rng = np.random.default_rng(3)
    src = np.column_stack([rng.uniform(440_000, 500_000, 8), rng.uniform(2_550_000, 2_610_000, 8)])
    points = CommonPoints([f"P{i}" for i in range(8)], src, src + np.array([12.0, -7.0]))
    return fit(points, "4p", src_crs=src_crs, dst_crs=dst_crs).parameters


def test_parameters_without_crs_are_not_written(tmp_path):
    with pytest.raises(ParameterFileError, match="without src_crs and dst_crs are not written"):
        write_parameters(plane_fit(), tmp_path / "p.json")
    with pytest.raises(ParameterFileError, match="without src_crs are not written"):
        write_parameters(plane_fit(dst_crs=4548), tmp_path / "p.json")
    assert not (tmp_path / "p.json").exists()
    local = with_crs(plane_fit(dst_crs=4548), LOCAL)
    again = read_parameters(write_parameters(local, tmp_path / "p.json"))
    assert again.src_crs == LOCAL and again.dst_crs == "EPSG:4548"


def test_with_crs_completes_refuses_and_checks():
    old = plane_fit()  # as an older geobase wrote them: no CRSs
    with pytest.raises(ParameterFileError, match=r"src_crs missing.*--from"):
        with_crs(old, source="old.json")
    with pytest.raises(ParameterFileError, match=r"dst_crs missing.*--to"):
        with_crs(old, "EPSG:2384", source="old.json")
    done = with_crs(old, "EPSG:2384", "EPSG:4548")
    assert (done.src_crs, done.dst_crs) == ("EPSG:2384", "EPSG:4548")
    named = plane_fit(2384, 4548)
    assert with_crs(named) is named
    assert with_crs(named, "2384", "EPSG:4548") is named  # the same CRS, spelled otherwise
    with pytest.raises(ParameterFileError, match=r"is for src_crs .*2384.* but --from EPSG:2383"):
        with_crs(named, "EPSG:2383")
    with pytest.raises(UnknownCRS):
        with_crs(old, "EPSG:0", "EPSG:4548")


def test_readme_examples_are_valid_files():
    import re
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", readme, flags=re.S)
    assert len(blocks) == 2
    models = {parse_handwritten(block, "README.md").model for block in blocks}
    assert models == {"4p", "7p"}
