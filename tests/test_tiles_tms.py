"""Tile matrix sets: CGCS2000Quad (Tianditu c) and WebMercatorQuad against morecantile."""

from __future__ import annotations

import json
import math
from pathlib import Path

import morecantile
import pytest
from pyproj import Transformer

from geobase.errors import NotFoundError, TileSettingsError
from geobase.tiles.render import grid
from geobase.tiles.tms import TMS, TMSRegistry, cgcs2000_quad, tms_id, tms_json

ROOT = Path(__file__).resolve().parents[1]
SHANTOU = (116.40, 23.00, 117.10, 23.65)  # lon/lat bbox of the city
POINT = (116.68, 23.35)


@pytest.mark.parametrize("level", [1, 2, 5, 10, 18, 21, 22])
def test_cgcs2000_levels_follow_domain_section_8(level):
    tms = TMS.get("CGCS2000Quad")
    m = tms.matrix(level)
    assert (m.matrixWidth, m.matrixHeight) == (2**level, 2 ** (level - 1))
    assert m.cellSize == pytest.approx(0.703125 / 2 ** (level - 1), rel=1e-15)
    assert m.scaleDenominator == pytest.approx(279541132.0143589 / 2 ** (level - 1), rel=1e-12)
    last = tms.bounds(morecantile.Tile(2**level - 1, 2 ** (level - 1) - 1, level))
    assert (last.right, last.bottom) == pytest.approx((180.0, -90.0))
    first = tms.bounds(morecantile.Tile(0, 0, level))
    assert (first.left, first.top) == pytest.approx((-180.0, 90.0))


def test_level_1_is_two_tiles_side_by_side():
    tms = TMS.get("CGCS2000Quad")
    assert tms.minzoom == 1
    east = tms.bounds(morecantile.Tile(1, 0, 1))
    assert (east.left, east.bottom, east.right, east.top) == pytest.approx((0, -90, 180, 90))


@pytest.mark.parametrize("level", [3, 12, 18, 20])
def test_known_point_lands_in_tianditus_tile(level):
    lon, lat = POINT
    # Tianditu's own numbering: column from 180W, row from 90N, 360/2^L by 180/2^(L-1) degrees
    x = math.floor((lon + 180) / (360 / 2**level))
    y = math.floor((90 - lat) / (180 / 2 ** (level - 1)))
    assert TMS.get("CGCS2000Quad").tile(lon, lat, level) == morecantile.Tile(x, y, level)
    # the same cell as morecantile's WorldCRS84Quad one zoom lower (it numbers from 0)
    w = morecantile.tms.get("WorldCRS84Quad").tile(lon, lat, level - 1)
    assert (w.x, w.y) == (x, y)


@pytest.mark.parametrize("zoom", [5, 12, 16, 19])
def test_known_point_web_mercator(zoom):
    lon, lat = POINT
    n = 2**zoom
    x = math.floor((lon + 180) / 360 * n)
    y = math.floor((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    assert TMS.get("WebMercatorQuad").tile(lon, lat, zoom) == morecantile.Tile(x, y, zoom)


@pytest.mark.parametrize("name", ["WebMercatorQuad", "CGCS2000Quad"])
def test_tile_ranges_and_bounds_match_morecantile(name):
    tms = TMS.get(name)
    to_crs = Transformer.from_crs("EPSG:4490", tms.crs._pyproj_crs, always_xy=True)
    w, s, e, n = SHANTOU
    xs, ys = to_crs.transform([w, e], [s, n])
    for zoom in range(max(tms.minzoom, 1), 18):
        g = grid(tms, zoom)
        x0, y0, x1, y1 = g.tile_range((xs[0], ys[0], xs[1], ys[1]))
        expected = list(tms.tiles(w, s, e, n, [zoom]))
        assert (x1 - x0) * (y1 - y0) == len(expected)
        assert {(t.x, t.y) for t in expected} == {
            (x, y) for x in range(x0, x1) for y in range(y0, y1)
        }
        for tile in expected[:: max(1, len(expected) // 5)]:
            b = tms.xy_bounds(tile)
            t = g.transform(tile.x, tile.y)
            assert (t.c, t.f) == pytest.approx((b.left, b.top), rel=1e-12, abs=1e-9)
            assert t.a * 256 == pytest.approx(b.right - b.left, rel=1e-12)


@pytest.mark.parametrize("name", ["WebMercatorQuad", "CGCS2000Quad"])
def test_definitions_saved_as_ogc_tms_json(name):
    path = ROOT / "tiles" / f"{name}.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["id"] == name
    # after a change to a definition, rewrite the file with
    # python -c "from geobase.tiles.tms import TMS, tms_json; print(tms_json(TMS.get(NAME)), end='')"
    assert path.read_text(encoding="utf-8") == tms_json(TMS.get(name))
    again = morecantile.TileMatrixSet.model_validate(doc)
    assert again.tile(*POINT, 15) == TMS.get(name).tile(*POINT, 15)


def test_registry_is_a_value():
    extra = cgcs2000_quad(maxlevel=20).model_copy(update={"id": "CGCS2000Quad20"})
    bigger = TMS.register(extra)
    assert "CGCS2000Quad20" in bigger and "CGCS2000Quad20" not in TMS
    with pytest.raises(TileSettingsError):
        bigger.register(extra)
    assert bigger.register(extra, overwrite=True).get("CGCS2000Quad20").maxzoom == 20
    with pytest.raises(NotFoundError, match="known: WebMercatorQuad, CGCS2000Quad"):
        TMS.get("GoogleCRS84Quad")


def test_a_set_without_an_id_is_refused_and_tms_id_is_a_str():
    quad = TMS.get("CGCS2000Quad")
    assert tms_id(quad) == "CGCS2000Quad"
    anonymous = quad.model_copy(update={"id": None})
    with pytest.raises(TileSettingsError, match="needs an id"):
        TMSRegistry().register(anonymous)
    with pytest.raises(TileSettingsError, match="has no id"):
        tms_id(anonymous)
