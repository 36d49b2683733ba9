"""OGC API - Tiles and Common over real HTTP, each declared conformance class checked by a
test; GDAL's OGCAPI driver reading both grids; WMTS layer titles from the catalogue;
``?token=`` on protected routes and out of the access log."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import subprocess
import warnings
import xml.etree.ElementTree as ET

import httpx
import numpy as np
import pytest

from tests.server_support import PYRAMIDS, make_workspace, running, sample_raster

OWS = "{http://www.opengis.net/ows/1.1}"
WMTS = "{http://www.opengis.net/wmts/1.0}"
CONF = "http://www.opengis.net/spec/"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from geobase.server import ServerSettings, create_app
    from geobase.store import Workspace
    from geobase.tiles.build import build_tiles

    info = make_workspace(tmp_path_factory.mktemp("ogc") / "ws")
    ws = Workspace.open(info["ws_root"])
    try:  # a pyramid of a catalogue product: its title comes from the catalogue
        for dataset_id in ("dom02-2023-jinping", "dom02-2021-longhu"):
            (ws.root / "data").mkdir(exist_ok=True)
            sample_raster(ws.root / "data" / f"{dataset_id}.tif")
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Use `@` matmul", PendingDeprecationWarning)
            build_tiles(ws, "dom02", ws.root / "tiles" / "dom02", tms="CGCS2000Quad",
                        zoom=(10, 11), fmt="png", workers=1)  # fmt: skip
    finally:
        ws.close()
    app = create_app(ServerSettings.for_workspace(info["ws_root"]))
    with running(app) as base, httpx.Client(base_url=base, timeout=20) as client:
        yield {**info, "base": base, "client": client}


def bearer(served, level="restricted"):
    return {"Authorization": f"Bearer {served['tokens'][level]}"}


def reader_tile(served, name, z, x, y):
    from geobase.tiles.stores import open_pyramid

    with open_pyramid(served["ws_root"] / PYRAMIDS[name][0]) as reader:
        return reader.get_tile(z, x, y)


def some_tile(served, name):
    from geobase.tiles.stores import open_pyramid

    with open_pyramid(served["ws_root"] / PYRAMIDS[name][0]) as reader:
        return max(reader.tiles())


def rel(doc, name, kind="application/json"):
    return [link for link in doc["links"] if link["rel"] == name and link["type"] == kind]


# --- one test per declared conformance class ---------------------------------------------


def test_common_core_and_landing_page(served):
    """common-1 core and landing-page: ``/`` links the API definition, conformance, data."""
    c = served["client"]
    doc = c.get("/", headers={"Accept": "application/json"}).json()
    assert doc["title"]
    for name in ("self", "service-desc", "conformance", "data"):
        assert rel(doc, name), name
    api = c.get(rel(doc, "service-desc")[0]["href"])
    assert api.status_code == 200 and "openapi" in api.json()
    conf = c.get(rel(doc, "conformance")[0]["href"]).json()
    assert set(conf["conformsTo"]) == set(CLASS_TESTS)
    # GDAL and QGIS send Accept: application/json; a browser still gets the viewer
    gdal_like = c.get("/", headers={"Accept": "application/geo+json, application/json"})
    assert gdal_like.headers["content-type"] == "application/json"
    browser = c.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert browser.headers["content-type"].startswith("text/html")
    assert '<div id="map"' in browser.text or "viewer.js" in browser.text
    assert "Accept" in browser.headers["vary"]


def test_common_json(served):
    """common-1 json: every resource as JSON by ``?f=json`` and by ``Accept``."""
    c = served["client"]
    for path in RESOURCES:
        for kwargs in ({"params": {"f": "json"}}, {"headers": {"Accept": "application/json"}}):
            r = c.get(path, **kwargs)
            assert r.status_code == 200, path
            assert r.headers["content-type"] == "application/json", path
            assert "Accept" in r.headers["vary"]
            r.json()
    for accept, kind in (
        ("*/*", "application/json"),  # curl, scripts
        ("text/html;q=0.5, application/json", "application/json"),
        ("application/json;q=0.2, text/*", "text/html; charset=utf-8"),
    ):
        r = c.get("/collections", headers={"Accept": accept})
        assert r.headers["content-type"] == kind, accept
    assert c.get("/", headers={"Accept": "*/*"}).headers["content-type"].startswith("text/html")
    bad = c.get("/collections", params={"f": "xml"})
    assert bad.status_code == 400 and "json, html" in bad.json()["detail"]


def test_common_html(served):
    """common-1 html: every resource as HTML, linking its JSON form, nothing remote."""
    c = served["client"]
    for path in RESOURCES:
        for kwargs in ({"params": {"f": "html"}}, {"headers": {"Accept": "text/html"}}):
            if path == "/" and "headers" in kwargs:
                continue  # the viewer (test above)
            r = c.get(path, **kwargs)
            assert r.status_code == 200, path
            assert r.headers["content-type"].startswith("text/html"), path
            assert "f=json" in r.text, path
            assert "<script" not in r.text
    page = c.get("/collections/dom02", params={"f": "html"}).text
    assert "0.2米影像" in page  # Chinese round-trips


def test_html_pages_send_no_referrer(served):
    """A page opened with ``?token=`` never hands its address (and token) on as Referer:
    the OGC API pages and the viewer say ``Referrer-Policy: no-referrer``; JSON needs not."""
    c = served["client"]
    token = {"token": served["tokens"]["restricted"]}
    for path in ("/collections", "/collections/secret", "/conformance"):
        r = c.get(path, params={"f": "html", **token})
        assert r.status_code == 200, path
        assert r.headers["referrer-policy"] == "no-referrer", path
    viewer = c.get("/", params=token, headers={"Accept": "text/html"})
    assert viewer.headers["content-type"].startswith("text/html")
    assert viewer.headers["referrer-policy"] == "no-referrer"
    assert "referrer-policy" not in c.get("/collections", params={"f": "json"}).headers


def test_common_collections(served):
    """common-2 collections: one collection per visible pyramid with extent and links."""
    c = served["client"]
    doc = c.get("/collections").json()
    ids = {col["id"] for col in doc["collections"]}
    assert ids == {"merc", "cgcs", "dom02"}
    for col in doc["collections"]:
        west, south, east, north = col["extent"]["spatial"]["bbox"][0]
        assert (west, south) == pytest.approx((116.6, 23.3)) and east > west and north > south
        assert rel(col, "self") and rel(col, OGC_REL + "tilesets-map")
        one = c.get(rel(col, "self")[0]["href"]).json()
        assert one["id"] == col["id"] and one["title"] == col["title"]


def test_tiles_geodata_tilesets_and_tilesets_list(served):
    """tiles-1 geodata-tilesets and tilesets-list: a collection links its tileset list."""
    c = served["client"]
    for name, (_, tms, _, _, _) in PYRAMIDS.items():
        if name not in ("merc", "cgcs"):
            continue
        col = c.get(f"/collections/{name}").json()
        tilesets = c.get(rel(col, OGC_REL + "tilesets-map")[0]["href"]).json()["tilesets"]
        assert len(tilesets) == 1
        entry = tilesets[0]
        assert entry["dataType"] == "map" and entry["crs"].endswith(
            "3857" if tms == "WebMercatorQuad" else "4490"
        )
        assert rel(entry, "self") and rel(entry, OGC_REL + "tiling-scheme")
        if tms == "WebMercatorQuad":
            assert entry["tileMatrixSetURI"].endswith("/WebMercatorQuad")
        # pygeoapi's shape answers the same
        alias = c.get(f"/collections/{name}/tiles").json()["tilesets"]
        assert alias[0]["dataType"] == "map" and alias[0]["crs"] == entry["crs"]


def test_tiles_tileset(served):
    """tiles-1 tileset: metadata with limits covering the pyramid and a tile template."""
    from geobase.tiles.stores import open_pyramid

    c = served["client"]
    for name in ("merc", "cgcs"):
        path, tms, (zmin, zmax), fmt, _ = PYRAMIDS[name]
        doc = c.get(f"/collections/{name}/map/tiles/{tms}").json()
        assert doc["dataType"] == "map" and doc["crs"].startswith("http://www.opengis.net/def/crs/")
        assert [int(lim["tileMatrix"]) for lim in doc["tileMatrixSetLimits"]] == list(
            range(zmin, zmax + 1)
        )
        limits = {int(lim["tileMatrix"]): lim for lim in doc["tileMatrixSetLimits"]}
        with open_pyramid(served["ws_root"] / path) as reader:
            for z, x, y in reader.tiles():  # every built tile lies inside the limits
                lim = limits[z]
                assert lim["minTileCol"] <= x <= lim["maxTileCol"]
                assert lim["minTileRow"] <= y <= lim["maxTileRow"]
        item = next(link for link in doc["links"] if link["rel"] == "item")
        assert item["type"] == f"image/{fmt}" and item["templated"] is True
        z, x, y = some_tile(served, name)
        url = item["href"].format(tileMatrix=z, tileRow=y, tileCol=x)
        assert c.get(url).content == reader_tile(served, name, z, x, y)
        scheme = c.get(rel(doc, OGC_REL + "tiling-scheme")[0]["href"]).json()
        assert scheme["id"] == tms
    wrong = c.get("/collections/merc/map/tiles/CGCS2000Quad")
    assert wrong.status_code == 404 and "WebMercatorQuad only" in wrong.json()["detail"]


def test_tiles_core(served):
    """tiles-1 core: tiles by matrix/row/col, 404 outside, 400 malformed, @2x explained."""
    c = served["client"]
    z, x, y = some_tile(served, "cgcs")
    want = reader_tile(served, "cgcs", z, x, y)
    for url in (
        f"/collections/cgcs/map/tiles/CGCS2000Quad/{z}/{y}/{x}",
        f"/collections/cgcs/map/tiles/CGCS2000Quad/{z}/{y}/{x}.png",
        f"/collections/cgcs/tiles/CGCS2000Quad/{z}/{y}/{x}",
        f"/collections/cgcs/map/tiles/CGCS2000Quad/{z}/{y}/{x}?f=png",
        f"/tiles/cgcs/{z}/{x}/{y}",  # the XYZ route, extensionless
    ):
        r = c.get(url)
        assert r.status_code == 200, url
        assert r.headers["content-type"] == "image/png" and r.content == want, url
    retina = c.get(f"/tiles/cgcs/{z}/{x}/{y}@2x.png")
    assert retina.status_code == 404 and "256 px tiles only" in retina.json()["detail"]
    retina = c.get(f"/collections/cgcs/map/tiles/CGCS2000Quad/{z}/{y}/{x}@2x")
    assert retina.status_code == 404 and "@2x" in retina.json()["detail"]
    base = "/collections/cgcs/map/tiles/CGCS2000Quad"
    assert c.get(f"{base}/{z}/{y}/{x}.jpg").status_code == 404  # a PNG pyramid
    assert c.get(f"{base}/{z + 5}/{y}/{x}").status_code == 404  # beyond its levels
    assert c.get(f"{base}/{z}/{y}/999999999").status_code == 404  # outside the matrix
    assert c.get(f"{base}/{z}/0/{x}").status_code == 204  # inside the limits, no data
    assert c.get(f"{base}/{z}/{y}/-1").status_code == 400
    assert c.get(f"{base}/{z}/{y}/{x}.tiff").status_code == 400


def test_tiles_png(served):
    """tiles-1 png: PNG tiles answer ``image/png`` with PNG bytes."""
    z, x, y = some_tile(served, "merc")
    r = served["client"].get(f"/collections/merc/map/tiles/WebMercatorQuad/{z}/{y}/{x}")
    assert r.headers["content-type"] == "image/png" and r.content.startswith(b"\x89PNG")


def test_tiles_jpeg(served):
    """tiles-1 jpeg: JPEG tiles (the restricted pyramid, with a token) answer image/jpeg."""
    z, x, y = some_tile(served, "secret")
    url = f"/collections/secret/map/tiles/WebMercatorQuad/{z}/{y}/{x}"
    r = served["client"].get(url, headers=bearer(served))
    assert r.headers["content-type"] == "image/jpeg" and r.content.startswith(b"\xff\xd8")
    assert r.content == reader_tile(served, "secret", z, x, y)
    assert r.headers["cache-control"].startswith("private")


def test_tms_tilematrixset_and_json(served):
    """tms-2 tilematrixset and json-tilematrixset: both grids as OGC TMS 2.0 JSON."""
    from morecantile.models import TileMatrixSet

    from geobase.tiles.tms import TMS

    c = served["client"]
    listed = c.get("/tileMatrixSets").json()["tileMatrixSets"]
    assert {t["id"] for t in listed} == {"WebMercatorQuad", "CGCS2000Quad"}
    for entry in listed:
        doc = c.get(rel(entry, OGC_REL + "tiling-scheme")[0]["href"]).json()
        tms = TileMatrixSet.model_validate(
            {k: v for k, v in doc.items() if k in TileMatrixSet.model_fields}
        )
        assert tms.model_dump() == TMS.get(entry["id"]).model_dump()
        # the TMS 1.0 members GDAL < 3.7 reads describe the same matrices
        for old, new in zip(doc["tileMatrix"], doc["tileMatrices"], strict=True):
            assert old["identifier"] == new["id"]
            assert old["topLeftCorner"] == new["pointOfOrigin"]
            assert old["scaleDenominator"] == new["scaleDenominator"]
    assert c.get("/tileMatrixSets/NoSuchGrid").status_code == 404


def test_tms_tileset_metadata(served):
    """tms-2 tilesetmetadata and json-tilesetmetadata: the members TMS 2.0 asks for."""
    doc = served["client"].get("/collections/cgcs/map/tiles/CGCS2000Quad").json()
    for key in ("title", "dataType", "crs", "links", "tileMatrixSetLimits", "boundingBox"):
        assert key in doc
    assert doc["boundingBox"]["crs"].endswith("CRS84")
    assert doc["minTileMatrix"] == "10" and doc["maxTileMatrix"] == "12"


OGC_REL = "http://www.opengis.net/def/rel/ogc/1.0/"
RESOURCES = (
    "/",
    "/conformance",
    "/collections",
    "/collections/cgcs",
    "/collections/cgcs/map/tiles",
    "/collections/cgcs/map/tiles/CGCS2000Quad",
    "/tileMatrixSets",
    "/tileMatrixSets/WebMercatorQuad",
    "/tiles",
)
CLASS_TESTS = {
    CONF + "ogcapi-common-1/1.0/conf/core": test_common_core_and_landing_page,
    CONF + "ogcapi-common-1/1.0/conf/landing-page": test_common_core_and_landing_page,
    CONF + "ogcapi-common-1/1.0/conf/json": test_common_json,
    CONF + "ogcapi-common-1/1.0/conf/html": test_common_html,
    CONF + "ogcapi-common-2/1.0/conf/collections": test_common_collections,
    CONF + "ogcapi-tiles-1/1.0/conf/core": test_tiles_core,
    CONF + "ogcapi-tiles-1/1.0/conf/tileset": test_tiles_tileset,
    CONF + "ogcapi-tiles-1/1.0/conf/tilesets-list": test_tiles_geodata_tilesets_and_tilesets_list,
    CONF
    + "ogcapi-tiles-1/1.0/conf/geodata-tilesets": test_tiles_geodata_tilesets_and_tilesets_list,
    CONF + "ogcapi-tiles-1/1.0/conf/png": test_tiles_png,
    CONF + "ogcapi-tiles-1/1.0/conf/jpeg": test_tiles_jpeg,
    CONF + "tms/2.0/conf/tilematrixset": test_tms_tilematrixset_and_json,
    CONF + "tms/2.0/conf/json-tilematrixset": test_tms_tilematrixset_and_json,
    CONF + "tms/2.0/conf/tilesetmetadata": test_tms_tileset_metadata,
    CONF + "tms/2.0/conf/json-tilesetmetadata": test_tms_tileset_metadata,
}


def test_every_declared_class_has_its_test():
    from geobase.server.ogcapi import CONFORMANCE

    assert set(CONFORMANCE) == set(CLASS_TESTS)


# --- access control ------------------------------------------------------------------------


def test_restricted_pyramid_is_invisible_without_a_token(served):
    c = served["client"]
    for path in ("/collections", "/tiles"):
        assert "secret" not in c.get(path).text and "inner" not in c.get(path).text
    hidden = c.get("/collections/secret")
    missing = c.get("/collections/no-such")
    assert hidden.status_code == missing.status_code == 404
    assert c.get("/collections/secret/map/tiles/WebMercatorQuad").status_code == 404
    z, x, y = some_tile(served, "secret")
    assert c.get(f"/collections/secret/map/tiles/WebMercatorQuad/{z}/{y}/{x}").status_code == 404
    # with a token, by header or by query parameter, it is there (privately cached)
    for kwargs in (
        {"headers": bearer(served)},
        {"params": {"token": served["tokens"]["restricted"]}},
    ):
        r = c.get("/collections", **kwargs)
        assert {col["id"] for col in r.json()["collections"]} == {
            "merc", "cgcs", "dom02", "secret", "inner"
        }  # fmt: skip
        assert r.headers["cache-control"].startswith("private")
    internal = c.get("/collections", headers=bearer(served, "internal")).json()
    assert "secret" not in {col["id"] for col in internal["collections"]}


def test_token_in_query_is_carried_on_links_and_checked(served):
    c = served["client"]
    token = served["tokens"]["restricted"]
    doc = c.get("/collections/secret", params={"token": token}).json()
    tilesets = c.get(rel(doc, OGC_REL + "tilesets-map")[0]["href"]).json()  # no header
    tileset = c.get(rel(tilesets["tilesets"][0], "self")[0]["href"]).json()
    item = next(link for link in tileset["links"] if link["rel"] == "item")["href"]
    assert f"token={token}" in item
    z, x, y = some_tile(served, "secret")
    r = c.get(item.format(tileMatrix=z, tileRow=y, tileCol=x))
    assert r.status_code == 200 and r.content == reader_tile(served, "secret", z, x, y)
    # a revoked, unknown, empty or contradicting token is refused, never downgraded
    for params, headers in (
        ({"token": served["tokens"]["revoked"]}, {}),
        ({"token": "gbt_" + "x" * 43}, {}),
        ({"token": ""}, {}),
        ({"token": token}, bearer(served, "internal")),
    ):
        r = c.get("/api/pyramids", params=params, headers=headers)
        assert r.status_code == 401, params
    # every protected route accepts it
    assert c.get("/tiles/secret/tilejson.json", params={"token": token}).status_code == 200
    assert c.get(f"/tiles/secret/{z}/{x}/{y}.jpg", params={"token": token}).status_code == 200
    assert "secret" in c.get("/api/pyramids", params={"token": token}).text


def test_a_token_in_any_case_is_checked_and_never_cached_publicly(served):
    """``TOKEN=`` (OGC KVP names are case-insensitive) is a token, not the public; a
    document whose links carry a token is private even for a public-clearance token."""
    from geobase.catalog.access import create_token
    from geobase.store import Workspace

    c = served["client"]
    token = served["tokens"]["restricted"]
    caps = c.get("/wmts", params={"SERVICE": "WMTS", "REQUEST": "GetCapabilities", "TOKEN": token})
    assert caps.status_code == 200 and "secret" in caps.text
    assert caps.headers["cache-control"].startswith("private")
    revoked = c.get("/collections", params={"Token": served["tokens"]["revoked"]})
    assert revoked.status_code == 401
    with Workspace.open(served["ws_root"]) as ws:
        _, public = create_token(ws.store, "open-data-portal", "public")
    for path in ("/collections", "/wmts/1.0.0/WMTSCapabilities.xml"):
        r = c.get(path, params={"token": public})
        assert r.status_code == 200 and f"token={public}" in r.text, path
        assert r.headers["cache-control"].startswith("private"), path
        anonymous = c.get(path)
        assert public not in anonymous.text
        assert anonymous.headers["cache-control"].startswith("public"), path


def test_layer_texts_never_name_a_source_classified_above_the_layer(tmp_path):
    """A pyramid reviewed down to public names only its public sources, in WMTS and OGC API."""
    from geobase.server import ServerSettings, create_app
    from geobase.store import Workspace

    info = make_workspace(tmp_path / "ws")
    with Workspace.open(info["ws_root"]) as ws, ws.store.transaction() as tx:
        sources = ["dom02-2023-jinping@1", "dom005-2024-secret@1"]
        tx.execute(
            "UPDATE pyramids SET sources = :s WHERE name = 'merc'", {"s": json.dumps(sources)}
        )
        tx.execute(  # built from the restricted dataset alone, asked for by its id
            "UPDATE pyramids SET sources = :s, source = :d WHERE name = 'cgcs'",
            {"s": json.dumps(sources[1:]), "d": "dom005-2024-secret"},
        )
    app = create_app(ServerSettings.for_workspace(info["ws_root"]))
    with running(app) as base, httpx.Client(base_url=base, timeout=20) as c:
        caps = c.get("/wmts/1.0.0/WMTSCapabilities.xml").text
        merc = c.get("/collections/merc").json()
        cgcs = c.get("/collections/cgcs").json()
        restricted = c.get("/collections/merc", headers={
            "Authorization": f"Bearer {info['tokens']['restricted']}"}).json()  # fmt: skip
    for text in (caps, json.dumps([merc, cgcs], ensure_ascii=False)):
        assert "dom02-2023-jinping v1" in text
        assert "dom005" not in text and "2024-06-01" not in text
    assert cgcs["title"].endswith("(cgcs)")
    # the layer is public: a cleared caller reads the same text, not more
    assert restricted["description"] == merc["description"]


def test_tokens_stay_out_of_the_access_log(served, tmp_path):
    from geobase.server import ServerSettings, create_app
    from tests.server_support import running as run_server

    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    app = create_app(ServerSettings.for_workspace(served["ws_root"]))
    keep = Keep()
    target = logging.getLogger("uvicorn.access")
    with run_server(app, access_log=True) as base:
        level = target.level
        target.addHandler(keep)
        target.setLevel(logging.INFO)  # the test server logs warnings only
        try:
            token = served["tokens"]["restricted"]
            httpx.get(f"{base}/collections?f=json&token={token}", timeout=20)
            httpx.get(f"{base}/wmts?SERVICE=WMTS&REQUEST=GetCapabilities&TOKEN={token}", timeout=20)
        finally:
            target.removeHandler(keep)
            target.setLevel(level)
    assert len(lines) >= 2
    assert all(token not in line for line in lines), lines
    assert any("token=***" in line for line in lines) and any("TOKEN=***" in line for line in lines)


# --- WMTS titles ---------------------------------------------------------------------------


def test_wmts_layer_titles_are_distinct_bilingual_and_from_the_catalogue(served):
    c = served["client"]
    r = c.get("/wmts/1.0.0/WMTSCapabilities.xml", params={"token": served["tokens"]["restricted"]})
    root = ET.fromstring(r.content)
    layers = root.findall(f"{WMTS}Contents/{WMTS}Layer")
    titles = {
        layer.find(f"{OWS}Identifier").text: layer.find(f"{OWS}Title").text for layer in layers
    }
    assert len(set(titles.values())) == len(titles) == 5
    for name, title in titles.items():
        assert re.search(r"[\u4e00-\u9fff]", title) and re.search(r"[A-Za-z]{3}", title), title
        assert f"({name})" in title
    # a product pyramid is named from the catalogue: product, dates
    assert titles["dom02"] == "0.2米影像 imagery 0.2 m 2021-04-10/2023-11-02 (dom02)"
    abstracts = {
        layer.find(f"{OWS}Identifier").text: layer.find(f"{OWS}Abstract").text for layer in layers
    }
    assert "dom02-2021-longhu v1 (2021-04-10)" in abstracts["dom02"]
    assert "级别 levels 10-11" in abstracts["dom02"] and "CGCS2000Quad" in abstracts["dom02"]
    assert "涉密 restricted" in abstracts["secret"]
    # the token is carried on the tile templates (QGIS adds it to the capabilities URL only)
    for url in root.iter(f"{WMTS}ResourceURL"):
        assert "token=" in url.get("template")


# --- GDAL's OGCAPI driver ------------------------------------------------------------------


def gdal_version() -> tuple[int, int]:
    out = subprocess.run(["gdalinfo", "--version"], capture_output=True, text=True, check=True)
    major, minor = re.search(r"GDAL (\d+)\.(\d+)", out.stdout).groups()
    return int(major), int(minor)


def gdal(*args: str, tmp_path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "GDAL_ENABLE_WMS_CACHE": "NO",
        "GDAL_HTTP_TIMEOUT": "20",
        "HOME": str(tmp_path),
    }
    env.pop("http_proxy", None)
    env.pop("HTTP_PROXY", None)
    return subprocess.run(
        args, capture_output=True, text=True, env=env, timeout=120, check=False, cwd=tmp_path
    )


needs_gdal = pytest.mark.skipif(
    shutil.which("gdalinfo") is None or shutil.which("gdal_translate") is None,
    reason="Debian's gdal-bin is not installed",
)


@pytest.mark.gdal
@needs_gdal
def test_gdal_lists_the_public_collections_only(served, tmp_path):
    result = gdal("gdalinfo", "-json", f"OGCAPI:{served['base']}/", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    subdatasets = json.loads(result.stdout)["metadata"]["SUBDATASETS"]
    urls = sorted(v for k, v in subdatasets.items() if k.endswith("_NAME"))
    assert [u.split("/collections/")[1].split("?")[0] for u in urls] == ["cgcs", "dom02", "merc"]
    hidden = gdal("gdalinfo", f"OGCAPI:{served['base']}/collections/secret", tmp_path=tmp_path)
    assert hidden.returncode != 0


@pytest.mark.gdal
@needs_gdal
@pytest.mark.parametrize("name", ["merc", "cgcs"])
def test_gdal_reads_a_pyramid_whose_pixels_match(served, name, tmp_path):
    import morecantile
    import rasterio
    from PIL import Image
    from pyproj import Transformer

    from geobase.tiles.tms import TMS

    _, tms_id, (_, zmax), _, _ = PYRAMIDS[name]
    tms = TMS.get(tms_id)
    options = []
    if tms_id == "WebMercatorQuad" and gdal_version() < (3, 7):
        # GDAL < 3.7 takes the collection's CRS84 bbox for metres; give it in EPSG:3857
        to3857 = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
        west, south = to3857.transform(116.6, 23.3)
        east, north = to3857.transform(116.7, 23.4)
        for key, value in zip(
            ("MINX", "MINY", "MAXX", "MAXY"), (west, south, east, north), strict=True
        ):
            options += ["-oo", f"{key}={value}"]
    url = f"OGCAPI:{served['base']}/collections/{name}"
    info = gdal("gdalinfo", "-json", *options, url, tmp_path=tmp_path)
    assert info.returncode == 0, info.stderr
    doc = json.loads(info.stdout)
    assert (
        doc["coordinateSystem"]["wkt"]
        .rstrip()
        .endswith('ID["EPSG",3857]]' if tms_id == "WebMercatorQuad" else 'ID["EPSG",4490]]')
    )
    gt = doc["geoTransform"]
    cell = tms.matrix(zmax).cellSize
    assert gt[1] == pytest.approx(cell, rel=1e-9) and gt[5] == pytest.approx(-cell, rel=1e-9)
    z, x, y = some_tile(served, name)
    left, _, _, top = tms.xy_bounds(morecantile.Tile(x, y, z))
    col, row = round((left - gt[0]) / gt[1]), round((gt[3] - top) / -gt[5])
    assert (left - gt[0]) / gt[1] == pytest.approx(col, abs=1e-6)
    width, height = doc["size"]
    c0, r0 = max(col, 0), max(row, 0)
    c1, r1 = min(col + 256, width), min(row + 256, height)
    assert c1 > c0 and r1 > r0
    out = tmp_path / "part.tif"
    result = gdal("gdal_translate", "-q", *options, "-srcwin", str(c0), str(r0), str(c1 - c0),
                  str(r1 - r0), url, str(out), tmp_path=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    with rasterio.open(out) as ds:
        got = ds.read()
    tile = np.asarray(Image.open(io.BytesIO(reader_tile(served, name, z, x, y))).convert("RGBA"))
    want = tile[r0 - row : r1 - row, c0 - col : c1 - col].transpose(2, 0, 1)
    valid = (want[3] == 255) & (got[3] == 255)
    assert valid.sum() > 0.2 * valid.size
    np.testing.assert_array_equal(got[:3][:, valid], want[:3][:, valid])


@pytest.mark.gdal
@needs_gdal
def test_gdal_wmts_follows_a_query_token_to_the_restricted_tiles(served, tmp_path):
    """What QGIS does: the token only on the capabilities URL; the tiles must follow."""
    from geobase.tiles.tms import TMS

    token = served["tokens"]["restricted"]
    caps = f"{served['base']}/wmts/1.0.0/WMTSCapabilities.xml?token={token}"
    listed = gdal("gdalinfo", "-json", f"WMTS:{caps}", tmp_path=tmp_path)
    assert listed.returncode == 0, listed.stderr
    names = json.loads(listed.stdout)["metadata"]["SUBDATASETS"]
    assert any(v.endswith("layer=secret") for v in names.values())
    zmax = PYRAMIDS["secret"][2][1]  # its own deepest level (the grid's goes deeper)
    url = f"WMTS:{caps},layer=secret,tilematrix={zmax}"
    info = gdal("gdalinfo", "-json", url, tmp_path=tmp_path)
    assert info.returncode == 0, info.stderr
    doc = json.loads(info.stdout)
    cell = TMS.get("WebMercatorQuad").matrix(zmax).cellSize
    assert doc["geoTransform"][1] == pytest.approx(cell, rel=1e-9)
    width, height = doc["size"]
    out = tmp_path / "secret.tif"
    result = gdal("gdal_translate", "-q", "-srcwin", str(width // 4), str(height // 4),
                  "64", "64", url, str(out), tmp_path=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    import rasterio

    with rasterio.open(out) as ds:
        assert ds.read(4).max() == 255  # real pixels, not the empty tiles of a refusal
    without = gdal("gdalinfo", f"WMTS:{caps.split('?')[0]},layer=secret", tmp_path=tmp_path)
    assert without.returncode != 0
