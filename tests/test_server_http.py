"""The service over real HTTP (uvicorn on a loopback port): tiles from every store, WMTS,
TileJSON, data APIs, caching, compression, CORS, access control and hostile requests."""

from __future__ import annotations

import gzip
import hashlib
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest

from tests.server_support import PYRAMIDS, make_workspace, raw_get, running

WMTS = "{http://www.opengis.net/wmts/1.0}"
OWS = "{http://www.opengis.net/ows/1.1}"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from geobase.server import ServerSettings, create_app

    info = make_workspace(tmp_path_factory.mktemp("served") / "ws")
    app = create_app(ServerSettings.for_workspace(info["ws_root"]))
    with running(app) as base, httpx.Client(base_url=base, timeout=20) as client:
        yield {**info, "base": base, "client": client}


def auth(served, level):
    return {"Authorization": f"Bearer {served['tokens'][level]}"}


def reader_tile(served, name, z, x, y):
    from geobase.tiles.stores import open_pyramid

    with open_pyramid(served["ws_root"] / PYRAMIDS[name][0]) as reader:
        return reader.get_tile(z, x, y)


def some_tile(served, name):
    from geobase.tiles.stores import open_pyramid

    with open_pyramid(served["ws_root"] / PYRAMIDS[name][0]) as reader:
        return max(reader.tiles())  # the deepest zoom's last tile


# --- health, viewer, OpenAPI -------------------------------------------------------------


def test_health_and_head(served):
    c = served["client"]
    r = c.get("/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    h = c.head("/health")
    assert h.status_code == 200 and h.content == b""
    assert int(h.headers["content-length"]) == len(r.content)
    assert h.headers["etag"] == r.headers["etag"]


def test_openapi_documents_the_api(served):
    doc = served["client"].get("/api/openapi.json").json()
    for path in ("/api/catalog/search", "/api/publications", "/tiles/{pyramid}/tilejson.json"):
        assert path in doc["paths"]
    assert "get" in doc["paths"]["/api/catalog/search"]


def test_viewer_page_and_assets_are_local(served):
    c = served["client"]
    page = c.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    # every script and stylesheet is served by geobase itself
    for ref in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert not ref.startswith(("http:", "https:", "//")), ref
    js = c.get("/static/ol.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    # OpenLayers is vendored (no npm): served as committed, with its licences beside it
    vendor = Path(__file__).resolve().parents[1] / "geobase/server/static/vendor/ol"
    sums = dict(line.split()[::-1] for line in (vendor / "SHA256SUMS").read_text().splitlines())
    for name in ("ol.js", "ol.css"):
        body = c.get(f"/static/{name}", headers={"Accept-Encoding": "identity"}).content
        assert hashlib.sha256(body).hexdigest() == sums[name], name
    bundled = [line.split()[0] for line in (vendor / "BUNDLED").read_text().splitlines()]
    assert bundled[0] == "ol" and (vendor / "LICENSE.md").is_file()
    assert all((vendor / f"LICENSE-{name}.txt").is_file() for name in bundled[1:])
    assert c.get("/static/app.py").status_code == 404


# --- tiles ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["merc", "cgcs"])
def test_public_tile_matches_the_store(served, name):
    c = served["client"]
    z, x, y = some_tile(served, name)
    r = c.get(f"/tiles/{name}/{z}/{x}/{y}.png")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/png"
    assert r.content == reader_tile(served, name, z, x, y)
    assert r.headers["cache-control"].startswith("public, max-age=")
    assert "content-encoding" not in r.headers  # images go as they are
    etag = r.headers["etag"]
    again = c.get(f"/tiles/{name}/{z}/{x}/{y}.png", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    other = c.get(f"/tiles/{name}/{z}/{x}/{y}.png", headers={"If-None-Match": '"nope"'})
    assert other.status_code == 200
    head = c.head(f"/tiles/{name}/{z}/{x}/{y}.png")
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(r.content)


def test_tiles_outside_the_matrix_or_missing_are_404(served):
    c = served["client"]
    for target in (
        "/tiles/merc/10/1024/0.png",  # x >= 2^10
        "/tiles/cgcs/10/0/512.png",  # CGCS2000Quad level 10 has 512 rows
        "/tiles/merc/9/0/0.png",  # below the pyramid's zooms
        "/tiles/merc/30/0/0.png",  # above
        "/tiles/merc/4000000000/1/1.png",  # huge zoom
        "/tiles/merc/10/0/0.png",  # inside the matrix, never built
        "/tiles/merc/12/0/0.jpg",  # a format the pyramid does not have
        "/tiles/nowhere/10/0/0.png",
    ):
        r = c.get(target)
        assert r.status_code == 404, target
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["status"] == 404


def test_restricted_pyramid_needs_a_token_and_is_invisible_without(served):
    c = served["client"]
    z, x, y = some_tile(served, "secret")
    url = f"/tiles/secret/{z}/{x}/{y}.jpg"
    hidden = c.get(url)
    missing = c.get(f"/tiles/nosuch/{z}/{x}/{y}.jpg")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"].replace("secret", "X") == missing.json()["detail"].replace(
        "nosuch", "X"
    )
    assert c.get(url, headers=auth(served, "internal")).status_code == 404
    ok = c.get(url, headers=auth(served, "restricted"))
    assert ok.status_code == 200 and ok.headers["content-type"] == "image/jpeg"
    assert ok.content == reader_tile(served, "secret", z, x, y)
    assert ok.headers["cache-control"].startswith("private")
    assert "Authorization" in ok.headers["vary"]
    # the internal pyramid: the internal token reaches it, the public does not
    zi, xi, yi = some_tile(served, "inner")
    assert c.get(f"/tiles/inner/{zi}/{xi}/{yi}.png").status_code == 404
    assert (
        c.get(f"/tiles/inner/{zi}/{xi}/{yi}.png", headers=auth(served, "internal")).status_code
        == 200
    )


@pytest.mark.parametrize(
    "header",
    [
        "Bearer gbt_" + "A" * 43,  # well-formed, unknown
        "Bearer not-a-token",
        "Basic dXNlcjpwYXNz",
        "Bearer",
    ],
)
def test_bad_tokens_are_401(served, header):
    r = served["client"].get("/api/pyramids", headers={"Authorization": header})
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert "secret" not in r.text


def test_revoked_token_is_401(served):
    r = served["client"].get("/tiles/secret/tilejson.json", headers=auth(served, "revoked"))
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


def test_tilejson(served):
    c = served["client"]
    doc = c.get("/tiles/cgcs/tilejson.json").json()
    assert doc["tilejson"] == "3.0.0"
    assert doc["tiles"] == [f"{served['base']}/tiles/cgcs/{{z}}/{{x}}/{{y}}.png"]
    assert (doc["minzoom"], doc["maxzoom"]) == (10, 12)
    assert doc["tileMatrixSet"] == "CGCS2000Quad"
    assert doc["bounds"] == pytest.approx([116.6, 23.3, 116.7, 23.4], abs=1e-6)
    assert "encoding" not in doc  # pictures, not heights
    # no [server] title or attribution: the workspace's name, never another city's
    assert doc["attribution"] == "served — 地理信息服务 Geographic information service"
    assert c.get("/tiles/secret/tilejson.json").status_code == 404
    assert (
        c.get("/tiles/secret/tilejson.json", headers=auth(served, "restricted")).status_code == 200
    )


@pytest.fixture(scope="module")
def terrain(tmp_path_factory):
    """A workspace named 揭阳 Jieyang with its own attribution and a terrain-RGB pyramid
    of a DEM (heights 12.3 m to 212.3 m)."""
    import warnings

    import numpy as np
    import rasterio
    from affine import Affine

    from geobase.server import ServerSettings, create_app
    from geobase.store import Workspace
    from geobase.tiles.build import build_tiles

    root = tmp_path_factory.mktemp("terrain") / "ws"
    with Workspace.init(root, name="揭阳 Jieyang") as ws:
        ws.config.server = {"attribution": "揭阳市测绘 Jieyang surveying"}
        ws.save_config()
        yy, xx = np.mgrid[0:64, 0:64]
        heights = (12.3 + 100 * (xx + yy) / 63).astype("float32")
        with rasterio.open(
            ws.root / "dem.tif",
            "w",
            driver="GTiff",
            width=64,
            height=64,
            count=1,
            dtype="float32",
            crs="EPSG:4490",
            transform=Affine(0.02 / 64, 0, 116.60, 0, -0.02 / 64, 23.32),
        ) as dst:
            dst.write(heights, 1)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Use `@` matmul", PendingDeprecationWarning)
            build_tiles(
                ws, "dem.tif", ws.root / "tiles/terrain", zoom=(10, 11), mode="terrain-rgb",
                workers=1,
            )  # fmt: skip
        with ws.store.transaction() as tx:
            tx.execute("UPDATE pyramids SET classification = 'public'")
    app = create_app(ServerSettings.for_workspace(root))
    with running(app) as base, httpx.Client(base_url=base, timeout=20) as client:
        yield client


def test_terrain_tilejson_states_its_encoding_and_the_workspace_its_title(terrain):
    import io

    import numpy as np
    from PIL import Image

    from geobase.tiles.render import decode_terrain_rgb

    doc = terrain.get("/tiles/terrain/tilejson.json").json()
    assert doc["encoding"] == "mapbox"  # MapLibre's raster-dem decodes by this
    assert doc["attribution"] == "揭阳市测绘 Jieyang surveying"
    [summary] = terrain.get("/api/pyramids").json()["pyramids"]
    assert summary["encoding"] == "mapbox"
    # and mapbox it is: the heights come back from the pixels with that formula
    x, y = 1687, 887  # z11 tile holding 116.61E 23.31N
    tile = terrain.get(f"/tiles/terrain/11/{x}/{y}.png")
    assert tile.status_code == 200
    image = Image.open(io.BytesIO(tile.content)).convert("RGBA")
    pixels = np.asarray(image).transpose(2, 0, 1)
    heights = decode_terrain_rgb(pixels[:3])[pixels[3] > 0]
    assert heights.size and heights.min() >= 12.0 and heights.max() <= 212.6
    assert heights.max() - heights.min() > 50
    # the title comes from the workspace, never another city's
    title = "揭阳 Jieyang — 地理信息服务 Geographic information service"
    page = terrain.get("/").text
    assert f"<title>{title}</title>" in page and "汕头" not in page
    assert terrain.get("/api").json()["title"] == title


def test_pyramid_list_and_ogc_tilesets_hide_what_is_not_public(served):
    c = served["client"]
    names = {p["name"] for p in c.get("/api/pyramids").json()["pyramids"]}
    assert names == {"merc", "cgcs"}
    all_names = {
        p["name"]
        for p in c.get("/api/pyramids", headers=auth(served, "restricted")).json()["pyramids"]
    }
    assert all_names == set(PYRAMIDS)
    tilesets = c.get("/tiles").json()["tilesets"]
    assert len(tilesets) == 2 and "secret" not in str(tilesets)
    tms = c.get("/tileMatrixSets/CGCS2000Quad").json()
    assert tms["id"] == "CGCS2000Quad"


# --- WMTS ------------------------------------------------------------------------------------


def test_capabilities_scale_denominators_and_visibility(served):
    c = served["client"]
    r = c.get("/wmts", params={"service": "WMTS", "request": "GetCapabilities"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    assert "secret" not in r.text and "inner" not in r.text
    root = ET.fromstring(r.content)
    layers = [e.findtext(f"{OWS}Identifier") for e in root.iter(f"{WMTS}Layer")]
    assert sorted(layers) == ["cgcs", "merc"]
    sets = {
        e.findtext(f"{OWS}Identifier"): e
        for e in root.iter(f"{WMTS}TileMatrixSet")
        if e.find(f"{OWS}Identifier") is not None
    }
    cg = sets["CGCS2000Quad"]
    assert cg.findtext(f"{OWS}SupportedCRS") == "urn:ogc:def:crs:EPSG::4490"
    for tm in cg.iter(f"{WMTS}TileMatrix"):
        level = int(tm.findtext(f"{OWS}Identifier"))
        assert float(tm.findtext(f"{WMTS}ScaleDenominator")) == pytest.approx(
            279541132.0143589 / 2 ** (level - 1), rel=1e-12
        )
        assert tm.findtext(f"{WMTS}TopLeftCorner") == "90 -180"
        assert int(tm.findtext(f"{WMTS}MatrixWidth")) == 2**level
        assert int(tm.findtext(f"{WMTS}MatrixHeight")) == 2 ** (level - 1)
    wm = sets["WebMercatorQuad"]
    assert (
        wm.findtext(f"{WMTS}WellKnownScaleSet") == "urn:ogc:def:wkss:OGC:1.0:GoogleMapsCompatible"
    )
    z0 = next(wm.iter(f"{WMTS}TileMatrix"))
    assert float(z0.findtext(f"{WMTS}ScaleDenominator")) == pytest.approx(559082264.0287178)
    rest = c.get("/wmts/1.0.0/WMTSCapabilities.xml")
    assert rest.status_code == 200 and rest.content == r.content
    full = c.get("/wmts/1.0.0/WMTSCapabilities.xml", headers=auth(served, "restricted"))
    assert "secret" in full.text and full.headers["cache-control"].startswith("private")


def test_wmts_gettile_kvp_and_rest(served):
    c = served["client"]
    z, x, y = some_tile(served, "cgcs")
    expected = reader_tile(served, "cgcs", z, x, y)
    kvp = c.get(
        "/wmts",
        params={
            "SERVICE": "WMTS",
            "REQUEST": "GetTile",
            "VERSION": "1.0.0",
            "LAYER": "cgcs",
            "STYLE": "default",
            "FORMAT": "image/png",
            "TILEMATRIXSET": "CGCS2000Quad",
            "TILEMATRIX": str(z),
            "TILEROW": str(y),
            "TILECOL": str(x),
        },
    )
    assert kvp.status_code == 200 and kvp.content == expected
    rest = c.get(f"/wmts/1.0.0/cgcs/default/CGCS2000Quad/{z}/{y}/{x}.png")
    assert rest.status_code == 200 and rest.content == expected


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"REQUEST": "GetCapabilities"}, 400, "MissingParameterValue"),
        ({"SERVICE": "WMS", "REQUEST": "GetCapabilities"}, 400, "InvalidParameterValue"),
        ({"SERVICE": "WMTS", "REQUEST": "GetFeatureInfo"}, 501, "OperationNotSupported"),
        ({"SERVICE": "WMTS", "REQUEST": "GetTile", "LAYER": "cgcs"}, 400, "MissingParameterValue"),
        (
            {"SERVICE": "WMTS", "REQUEST": "GetTile", "LAYER": "secret", "FORMAT": "image/jpeg",
             "TILEMATRIXSET": "WebMercatorQuad", "TILEMATRIX": "10", "TILEROW": "0", "TILECOL": "0"},
            400,
            "InvalidParameterValue",
        ),
        (
            {"SERVICE": "WMTS", "REQUEST": "GetTile", "LAYER": "cgcs", "FORMAT": "image/png",
             "TILEMATRIXSET": "CGCS2000Quad", "TILEMATRIX": "99999", "TILEROW": "0", "TILECOL": "0"},
            400,
            "TileOutOfRange",
        ),
        (
            {"SERVICE": "WMTS", "REQUEST": "GetTile", "LAYER": "cgcs", "FORMAT": "image/png",
             "TILEMATRIXSET": "CGCS2000Quad", "TILEMATRIX": "10", "TILEROW": "-1", "TILECOL": "0"},
            400,
            "InvalidParameterValue",
        ),
    ],
)  # fmt: skip
def test_wmts_exceptions(served, params, status, code):
    r = served["client"].get("/wmts", params=params)
    assert r.status_code == status
    root = ET.fromstring(r.content)
    assert root.tag == f"{OWS}ExceptionReport"
    assert root.find(f"{OWS}Exception").get("exceptionCode") == code


# --- data APIs -------------------------------------------------------------------------------


def test_catalog_search_filters_and_hides(served):
    c = served["client"]
    public = c.get("/api/catalog/search").json()
    ids = [d["dataset_id"] for d in public["datasets"]]
    assert ids == ["dom02-2023-jinping", "dom02-2021-longhu"]  # newest first
    assert "path" not in public["datasets"][0] and "checksum" not in public["datasets"][0]
    assert public["datasets"][0]["title"] == "dom02-2023-jinping 影像"
    full = c.get("/api/catalog/search", headers=auth(served, "restricted")).json()
    assert full["numberMatched"] == 3
    assert (
        c.get("/api/catalog/search", params={"bbox": "116.75,23.31,116.79,23.39"}).json()[
            "numberMatched"
        ]
        == 1
    )
    assert (
        c.get("/api/catalog/search", params={"datetime": "2022-01-01/.."}).json()["numberMatched"]
        == 1
    )
    assert c.get("/api/catalog/search", params={"product": "dom005"}).json()["numberMatched"] == 0
    geo = c.get("/api/catalog/search", params={"format": "geojson", "limit": 1})
    assert geo.headers["content-type"] == "application/geo+json"
    doc = geo.json()
    assert doc["type"] == "FeatureCollection" and doc["numberReturned"] == 1
    assert doc["numberMatched"] == 2 and doc["features"][0]["geometry"]["type"] == "MultiPolygon"
    assert c.get("/api/catalog/datasets/dom005-2024-secret").status_code == 404
    assert (
        c.get(
            "/api/catalog/datasets/dom005-2024-secret", headers=auth(served, "restricted")
        ).status_code
        == 200
    )


def test_whole_numbers_stay_whole_in_json(served):
    """epsg, bands, version: integers in every API document, though pandas holds the
    columns as floats where another dataset states none."""
    c = served["client"]
    search = c.get("/api/catalog/search")
    first = search.json()["datasets"][0]
    assert first["dataset_id"] == "dom02-2023-jinping"
    assert (first["epsg"], first["bands"], first["resolution"]) == (4548, 4, 0.2)
    assert all(type(first[k]) is int for k in ("epsg", "bands", "version"))
    assert '"epsg":4548,' in search.text and '"bands":4,' in search.text
    assert ".0," not in search.text.replace('"resolution":0.2,', "")
    assert search.json()["datasets"][1]["epsg"] is None
    geo = c.get("/api/catalog/search", params={"format": "geojson"}).json()
    props = geo["features"][0]["properties"]
    assert type(props["epsg"]) is int and type(props["bands"]) is int
    one = c.get("/api/catalog/datasets/dom02-2023-jinping").json()["properties"]
    assert (one["epsg"], one["bands"], one["version"]) == (4548, 4, 1)
    assert type(one["epsg"]) is int


@pytest.mark.parametrize(
    "query",
    [
        "bbox=1,2,3",
        "bbox=a,b,c,d",
        "bbox=nan,1,2,3",
        "bbox=10,0,5,1",
        "bbox=0,0,500,1",
        "datetime=2024-13-01",
        "datetime=2024-05-01/2023-01-01",
        "limit=0",
        "limit=-1",
        "limit=100000",
        "offset=-3",
        "product=nosuch",
        "format=xml",
        "as_of=yesterday",
    ],
)
def test_catalog_search_rejects_bad_parameters(served, query):
    r = served["client"].get(f"/api/catalog/search?{query}")
    assert r.status_code == 400, query
    body = r.json()
    assert r.headers["content-type"] == "application/problem+json"
    assert body["status"] == 400 and body["detail"]


def test_coverage_per_product(served):
    c = served["client"]
    doc = c.get("/api/coverage/dom02").json()
    assert [f["properties"]["year"] for f in doc["features"]] == ["2023", "2021"]
    import shapely.geometry

    area = shapely.geometry.shape(doc["features"][0]["geometry"])
    assert area.bounds == pytest.approx((116.6, 23.3, 116.7, 23.4))
    assert c.get("/api/coverage/dom005").json()["features"] == []  # restricted data unseen
    assert (
        len(c.get("/api/coverage/dom005", headers=auth(served, "restricted")).json()["features"])
        == 1
    )
    assert c.get("/api/coverage/nosuch").status_code == 404
    index = c.get("/api").json()
    assert [x["product"] for x in index["coverage"]] == ["dom02"]
    assert c.get(index["control"]).status_code == 200  # the public control points


def test_compression_of_json(served):
    c = served["client"]
    r = c.get("/api/products", headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in r.headers["vary"]
    raw = httpx.get(served["base"] + "/api/products", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers
    assert raw.json() == r.json()
    status, body = raw_get(served["base"], "/api/products", {"Accept-Encoding": "gzip"})
    assert status == 200 and gzip.decompress(body) == raw.content
    assert r.headers["etag"] != raw.headers["etag"]  # two representations, two validators


def test_cors(served):
    c = served["client"]
    r = c.get("/api/pyramids", headers={"Origin": "http://example.org"})
    assert r.headers["access-control-allow-origin"] == "*"
    pre = c.options(
        "/tiles/merc/12/0/0.png",
        headers={
            "Origin": "http://example.org",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert pre.status_code == 200
    assert "authorization" in pre.headers["access-control-allow-headers"].lower()


def test_publication_log_respects_clearance(served):
    from geobase.catalog.publications import record_publication
    from geobase.store import Workspace

    with Workspace.open(served["ws_root"]) as ws:
        record_publication(ws.store, subject="catalogue", kind="catalogue", classification="public",
                           reviewer="李审", review_decision="approved", review_date="2024-03-28",
                           released_by="王发", released_at="2024-03-30")  # fmt: skip
        record_publication(ws.store, subject="pyramid:secret", kind="imagery",
                           classification="restricted", reviewer="李审",
                           review_decision="approved", review_date="2024-05-01",
                           released_by="王发", released_at="2024-05-02")  # fmt: skip
    c = served["client"]
    public = c.get("/api/publications").json()
    assert [p["subject"] for p in public["publications"]] == ["catalogue"]
    assert "secret" not in c.get("/api/publications").text
    full = c.get("/api/publications", headers=auth(served, "restricted")).json()
    assert [p["subject"] for p in full["publications"]] == ["pyramid:secret", "catalogue"]
    cadence = c.get("/api/publications/cadence", params={"as_of": "2024-06-30"}).json()
    imagery = next(r for r in cadence["cadence"] if r["kind"] == "imagery")
    assert imagery["releases_in_period"] == 0  # the restricted release is not counted
    assert c.get("/api/publications", params={"kind": "bogus"}).status_code == 400


# --- hostile requests --------------------------------------------------------------------------

HOSTILE = [
    "/tiles/../geobase.toml",
    "/tiles/%2e%2e/%2e%2e/etc/passwd",
    "/tiles/merc/..%2f..%2f..%2fgeobase.toml",
    "/tiles/merc/10/%2e%2e/1.png",
    "/tiles/merc/10/1/..%2f..%2f..%2fworkspace.gpkg",
    "/tiles/%2e%2e%2fsrc.tif/10/1/1.png",
    "/tiles/merc%00/10/1/1.png",
    "/tiles/merc/10/1/1.png%00.txt",
    "/static/..%2fapp.py",
    "/static/%252e%252e%252fapp.py",
    "/static/..%5c..%5cgeobase.toml",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/tiles/merc/99999999999/1/1.png",
    "/tiles/merc/-1/0/0.png",
    "/tiles/merc/10/-5/3.png",
    "/tiles/merc/10/5/-3.png",
    "/tiles/merc/1e3/1/1.png",
    "/tiles/merc/10/1/1",
    "/tiles/merc/10/1/1.exe",
    "/tiles/merc/10/1/1.png.png",
    "/tiles/secret/10/841/445.jpg",
    "/tiles/secret/tilejson.json",
    "/tiles/inner/tilejson.json",
    "/wmts/1.0.0/secret/default/WebMercatorQuad/10/445/841.jpg",
    "/wmts/1.0.0/../../geobase.toml",
    "/wmts/1.0.0/cgcs/default/CGCS2000Quad/10/-1/0.png",
    "/wmts/1.0.0/cgcs/default/CGCS2000Quad/99/0/0.png",
    "/wmts?SERVICE=WMTS&REQUEST=GetTile&LAYER=..%2f..%2fgeobase.toml&FORMAT=image/png"
    "&TILEMATRIXSET=CGCS2000Quad&TILEMATRIX=10&TILEROW=0&TILECOL=0",
    "/api/catalog/datasets/..%2f..%2fgeobase.toml",
    "/api/coverage/..%2fgeobase.toml",
]


@pytest.mark.parametrize("target", HOSTILE)
def test_hostile_requests_get_4xx_and_nothing_restricted(served, target):
    status, body = raw_get(served["base"], target)
    assert 400 <= status < 500, (target, status)
    text = body.decode("utf-8", "replace")
    for leak in ("[server]", "SQLite format", "root:x:", "def create_app", "\x89PNG", "\xff\xd8"):
        assert leak not in text, (target, leak)
    if "secret" not in target and "inner" not in target:
        assert "secret" not in text and "restricted" not in text, target


def test_fast_path_on_an_untouched_tile_answers_like_the_full_route(served):
    """A fresh app (empty tile cache): the first request takes the full route, the second
    the fast path; both answer with the same headers, whatever other tests did."""
    from geobase.server import ServerSettings, create_app

    app = create_app(ServerSettings.for_workspace(served["ws_root"]))
    fast = app.fast_path
    answered = []

    async def counting(scope, send):
        done = await fast(scope, send)
        if scope["type"] == "http":
            answered.append(done)
        return done

    app.fast_path = counting
    z, x, y = some_tile(served, "merc")
    url = f"/tiles/merc/{z}/{x}/{y}.png"
    with running(app) as base, httpx.Client(base_url=base, timeout=20) as c:
        first, second = c.get(url), c.get(url)
        head = c.head(url)
        cached = c.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert answered == [False, True, True, True]
    assert first.status_code == second.status_code == head.status_code == 200
    assert first.content == second.content and head.content == b""
    skip = ("date", "server")
    full = {k: v for k, v in first.headers.items() if k not in skip}
    assert {k: v for k, v in second.headers.items() if k not in skip} == full
    assert {k: v for k, v in head.headers.items() if k not in skip} == full
    # a shared cache keeps CORS answers apart (whatever Starlette's release adds)
    assert [t.strip() for t in first.headers["vary"].split(",")].count("Origin") == 1
    assert cached.status_code == 304 and cached.headers["vary"] == first.headers["vary"]


def test_fast_path_answers_like_the_full_route(served):
    c = served["client"]
    z, x, y = some_tile(served, "merc")
    url = f"/tiles/merc/{z}/{x}/{y}.png"
    first = c.get(url)  # fills the cache through the full route
    second = c.get(url)  # answered by the fast path
    assert first.content == second.content
    keep = ("etag", "cache-control", "content-type", "content-length", "vary")
    assert {k: first.headers.get(k) for k in keep} == {k: second.headers.get(k) for k in keep}
    assert c.get(url, headers={"If-None-Match": second.headers["etag"]}).status_code == 304
    # a token or a CORS request goes through the application
    assert "access-control-allow-origin" in c.get(url, headers={"Origin": "http://x"}).headers
    zs, xs, ys = some_tile(served, "secret")
    secret = f"/tiles/secret/{zs}/{xs}/{ys}.jpg"
    assert c.get(secret, headers=auth(served, "restricted")).status_code == 200  # now cached
    assert c.get(secret).status_code == 404  # still hidden without the token
