"""OGC API - Common (landing page, conformance, collections) and OGC API - Tiles.

Routes (each document as JSON or HTML: ``?f=json|html``, else the ``Accept`` header):

- ``/``: the landing page for JSON clients (``?f=json``, or ``Accept`` preferring
  ``application/json``, as GDAL's OGCAPI driver and QGIS send); ``?f=html`` is its HTML
  form. A browser (``Accept: text/html``) still gets the map viewer at ``/``, so that the
  service's address stays the one people open and the one OGC API clients are given.
- ``/conformance``; ``/tileMatrixSets`` and ``/tileMatrixSets/{id}`` (OGC TMS 2.0 JSON
  of WebMercatorQuad and CGCS2000Quad, from :mod:`geobase.tiles.tms`).
- ``/collections`` and ``/collections/{id}``: one collection per pyramid the caller may
  see, titled from the catalogue (:mod:`geobase.server.describe`).
- ``/collections/{id}/map/tiles`` (the tileset list, rel ``tilesets-map``),
  ``/collections/{id}/map/tiles/{tms}`` (tileset metadata with ``tileMatrixSetLimits``)
  and ``/collections/{id}/map/tiles/{tms}/{tileMatrix}/{tileRow}/{tileCol}``; the same
  under ``/collections/{id}/tiles/...`` (the shape pygeoapi serves). Tile URLs take an
  extension or none (the pyramid's format); ``@2x`` is 404 (no 512 px tiles are built).
  A tile inside the declared limits that holds no data is ``204 No Content`` (as OGC API
  - Tiles says; GDAL reads it as empty), one outside them 404.
- ``/tiles``: every visible tileset, for clients that start from one list.

A pyramid the caller's clearance does not reach is answered exactly like one that does
not exist; documents answered with a token are ``Cache-Control: private``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from geobase.errors import NotFoundError, ValidationError
from geobase.server.auth import cached_privately, token_query, with_query
from geobase.server.deps import Service, clearance_of, get, service_of
from geobase.server.http import MEDIA_TYPES, cache_control, respond
from geobase.server.layers import Layer
from geobase.server.tiles import CRS_URI, check_index, check_name, parse_y_ext, tile_response

router = APIRouter()

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
OGC_REL = "http://www.opengis.net/def/rel/ogc/1.0/"
CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/landing-page",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/json",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/png",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/jpeg",
    "http://www.opengis.net/spec/tms/2.0/conf/tilematrixset",
    "http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",
    "http://www.opengis.net/spec/tms/2.0/conf/tilesetmetadata",
    "http://www.opengis.net/spec/tms/2.0/conf/json-tilesetmetadata",
)
JSON = "application/json"
HTML = "text/html"
FORMATS = {"json": JSON, "html": HTML}
TILESET_PATHS = ("map/tiles", "tiles")
VARY = "Accept, Accept-Encoding, Authorization"


# --- content negotiation -----------------------------------------------------------------


def wanted(request: Request, default: str = "json") -> str:
    """``json`` or ``html``: ``?f=`` if given, else the ``Accept`` header, else ``default``.

    ``Accept`` picks whichever of JSON and HTML it rates higher (``*/*`` rates both
    alike); a tie gives ``default``.
    """
    given = request.query_params.get("f")
    if given is not None:
        key = given.strip().lower()
        if key not in FORMATS:
            raise ValidationError(f"f={given[:20]!r} is not one of json, html")
        return key
    q = {"json": 0.0, "html": 0.0}
    specific = {"json": -1, "html": -1}
    for part in request.headers.get("accept", "").split(","):
        media, _, params = part.strip().partition(";")
        media = media.strip().lower()
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        for key, types in (
            ("json", ("application/json", "application/geo+json")),
            ("html", ("text/html", "application/xhtml+xml")),
        ):
            if media in types:
                level = 2
            elif media in ("*/*", f"{types[0].split('/')[0]}/*"):
                level = 0 if media == "*/*" else 1
            else:
                continue
            if level > specific[key] or (level == specific[key] and weight > q[key]):
                specific[key], q[key] = level, weight
    if q["json"] > q["html"]:
        return "json"
    if q["html"] > q["json"]:
        return "html"
    return default


def answer(
    request: Request,
    service: Service,
    doc: dict[str, Any],
    fmt: str,
    heading: str,
    clearance: str,
    *,
    media_type: str = JSON,
) -> Response:
    """A document in the negotiated format, cached privately when a token was used."""
    if fmt == "html":
        from geobase.server.ogcapi_html import CSP, render

        body = render(doc, heading)
        media_type = "text/html; charset=utf-8"
        headers = {"vary": VARY, "content-security-policy": CSP}
    else:
        from geobase.server.http import dump_json

        body = dump_json(doc)
        headers = {"vary": VARY}
    return respond(
        request,
        body,
        media_type,
        max_age=service.settings.api_max_age,
        private=cached_privately(request, clearance),
        gzip_min_size=service.settings.gzip_min_size,
        headers=headers,
    )


class Links:
    """Builds the links of a document: absolute URLs carrying the caller's ``?token=``."""

    def __init__(self, request: Request, service: Service):
        self.base = service.base_url(request)
        self.query = token_query(request)

    def href(self, path: str, fmt: str | None = None) -> str:
        url = with_query(f"{self.base}{path}", self.query)
        return with_query(url, f"f={fmt}") if fmt else url

    def link(self, path: str, rel: str, kind: str = JSON, title: str | None = None, **extra):
        fmt = {JSON: "json", HTML: "html"}.get(kind)
        out = {"href": self.href(path, fmt), "rel": rel, "type": kind}
        if title:
            out["title"] = title
        out.update(extra)
        return out

    def self_and_alternate(self, path: str, fmt: str, title: str) -> list[dict[str, Any]]:
        """``self`` in the format answered and ``alternate`` in the other one."""
        other = "html" if fmt == "json" else "json"
        return [
            self.link(path, "self", FORMATS[fmt], f"{title} ({fmt.upper()})"),
            self.link(path, "alternate", FORMATS[other], f"{title} ({other.upper()})"),
        ]


# --- documents ---------------------------------------------------------------------------


def tms_uri(layer_or_tms) -> str | None:
    """The official URI of a tile matrix set (None for CGCS2000Quad, which has none)."""
    tms = getattr(layer_or_tms, "tms", layer_or_tms)
    return str(tms.uri) if tms.uri else None


def limits(layer: Layer) -> list[dict[str, Any]]:
    """``tileMatrixSetLimits``: the pyramid's levels, each with its whole matrix.

    The levels are what matters (a client asks for no other); the extent of the data is
    the tileset's ``boundingBox``. Whole matrices, because GDAL before 3.7 (Debian 12's
    3.6) mis-reads narrower limits: it sizes each level by the full matrix height but
    places it by the limited rows, and numbers columns from 0 instead of the first
    limited column, so it would squeeze the image and ask for the wrong tiles. A tile
    without data inside the matrix is ``204 No Content``. WMTS capabilities give the
    exact rows and columns.
    """
    out = []
    for z in range(layer.minzoom, layer.maxzoom + 1):
        cols, rows = layer.matrix_size(z)
        out.append(
            {
                "tileMatrix": str(z),
                "minTileRow": 0,
                "maxTileRow": rows - 1,
                "minTileCol": 0,
                "maxTileCol": cols - 1,
            }
        )
    return out


def tileset_summary(links: Links, layer: Layer, prefix: str, title: str) -> dict[str, Any]:
    """An entry of a tileset list."""
    path = f"/collections/{layer.name}/{prefix}/{layer.tms_id}"
    doc: dict[str, Any] = {
        "title": f"{title} — {layer.tms_id}",
        "dataType": "map",
        "crs": CRS_URI.get(layer.tms_id, str(layer.tms.crs)),
    }
    if tms_uri(layer):
        doc["tileMatrixSetURI"] = tms_uri(layer)
    doc["links"] = [
        links.link(path, "self", JSON, "this tileset (JSON)"),
        links.link(path, "alternate", HTML, "this tileset (HTML)"),
        links.link(
            f"/tileMatrixSets/{layer.tms_id}", OGC_REL + "tiling-scheme", JSON, layer.tms_id
        ),
    ]
    return doc


def tileset_doc(links: Links, layer: Layer, prefix: str, text, fmt: str) -> dict[str, Any]:
    """The tileset metadata (OGC TMS 2.0 TileSetMetadata) of a pyramid."""
    path = f"/collections/{layer.name}/{prefix}/{layer.tms_id}"
    west, south, east, north = layer.bounds
    doc: dict[str, Any] = {
        "title": f"{text.title} — {layer.tms_id}",
        "description": text.abstract,
        "dataType": "map",
        "crs": CRS_URI.get(layer.tms_id, str(layer.tms.crs)),
    }
    if tms_uri(layer):
        doc["tileMatrixSetURI"] = tms_uri(layer)
    doc["boundingBox"] = {"lowerLeft": [west, south], "upperRight": [east, north], "crs": CRS84}
    doc["minTileMatrix"] = str(layer.minzoom)
    doc["maxTileMatrix"] = str(layer.maxzoom)
    doc["tileMatrixSetLimits"] = limits(layer)
    doc["links"] = [
        *links.self_and_alternate(path, fmt, "this tileset"),
        links.link(
            f"/tileMatrixSets/{layer.tms_id}", OGC_REL + "tiling-scheme", JSON, layer.tms_id
        ),
        links.link(f"/collections/{layer.name}", OGC_REL + "geodata", JSON, "the collection"),
        {
            "href": links.href(f"{path}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}"),
            "rel": "item",
            "type": layer.media_type,
            "title": f"tiles ({layer.format})",
            "templated": True,
        },
    ]
    return doc


def collection_doc(links: Links, layer: Layer, text, fmt: str | None) -> dict[str, Any]:
    """A pyramid as an OGC API collection (``fmt`` None: an entry of ``/collections``)."""
    path = f"/collections/{layer.name}"
    west, south, east, north = layer.bounds
    extent: dict[str, Any] = {"spatial": {"bbox": [[west, south, east, north]], "crs": CRS84}}
    if text.interval is not None:
        extent["temporal"] = {"interval": [list(text.interval)]}
    own = (
        links.self_and_alternate(path, fmt, "this collection")
        if fmt
        else [
            links.link(path, "self", JSON, "this collection (JSON)"),
            links.link(path, "alternate", HTML, "this collection (HTML)"),
        ]
    )
    return {
        "id": layer.name,
        "title": text.title,
        "description": text.abstract,
        "dataType": "map",
        "extent": extent,
        "crs": [CRS_URI.get(layer.tms_id, str(layer.tms.crs))],
        "links": [
            *own,
            links.link(f"{path}/map/tiles", OGC_REL + "tilesets-map", JSON, "map tilesets (JSON)"),
            links.link(f"{path}/map/tiles", OGC_REL + "tilesets-map", HTML, "map tilesets (HTML)"),
            links.link(f"/tiles/{layer.name}/tilejson.json", "describedby", JSON, "TileJSON 3.0"),
        ],
    }


def landing_doc(links: Links, service: Service, fmt: str) -> dict[str, Any]:
    return {
        "title": service.title,
        "description": (
            "OGC API - Tiles and OGC API - Common over the workspace's tile pyramids "
            "(WebMercatorQuad, CGCS2000Quad). 瓦片服务 (OGC API - Tiles); "
            "the same tiles as WMTS 1.0.0 and XYZ/TileJSON."
        ),
        "links": [
            *links.self_and_alternate("/", fmt, "this landing page"),
            links.link("/api/openapi.json", "service-desc", JSON, "the API definition (OpenAPI)"),
            links.link("/conformance", "conformance", JSON, "conformance classes"),
            links.link("/conformance", "conformance", HTML, "conformance classes (HTML)"),
            links.link("/collections", "data", JSON, "collections (JSON)"),
            links.link("/collections", "data", HTML, "collections (HTML)"),
            links.link(
                "/tileMatrixSets", OGC_REL + "tiling-schemes", JSON, "tile matrix sets (JSON)"
            ),
            links.link(
                "/tileMatrixSets", OGC_REL + "tiling-schemes", HTML, "tile matrix sets (HTML)"
            ),
            {
                "href": links.href("/wmts/1.0.0/WMTSCapabilities.xml"),
                "rel": "related",
                "type": "application/xml",
                "title": "WMTS 1.0.0 capabilities",
            },
            {"href": links.href("/"), "rel": "related", "type": HTML, "title": "地图 map viewer"},
        ],
    }


def tms_document(tms) -> dict[str, Any]:
    """The OGC TMS 2.0 JSON of a tile matrix set, with the TMS 1.0 members alongside.

    GDAL before 3.7 (Debian 12 ships 3.6) reads only TMS 1.0 JSON (``type``,
    ``identifier``, ``supportedCRS``, ``tileMatrix`` with ``topLeftCorner``);
    TMS 2.0 readers (GDAL 3.7+, OpenLayers, morecantile) read ``id``, ``crs`` and
    ``tileMatrices`` and ignore the rest. Both describe the same matrices.
    """
    doc = tms.model_dump(mode="json", exclude_none=True)
    legacy = {
        "type": "TileMatrixSetType",
        "identifier": tms.id,
        "supportedCRS": doc["crs"] if isinstance(doc["crs"], str) else str(tms.crs),
        "tileMatrix": [
            {
                "type": "TileMatrixType",
                "identifier": m.id,
                "scaleDenominator": m.scaleDenominator,
                "topLeftCorner": [float(v) for v in m.pointOfOrigin],
                "tileWidth": m.tileWidth,
                "tileHeight": m.tileHeight,
                "matrixWidth": m.matrixWidth,
                "matrixHeight": m.matrixHeight,
            }
            for m in tms.tileMatrices
        ],
    }
    return {**doc, **legacy}


def _tms(tms_id: str):
    from geobase.tiles.tms import TMS

    if tms_id not in TMS:
        raise NotFoundError(f"no tile matrix set {tms_id[:40]!r}; known: {', '.join(TMS.list())}")
    return TMS.get(tms_id)


def _layer_on(service: Service, clearance: str, cid: str, tms_id: str | None = None) -> Layer:
    layer = service.layers.get(check_name(cid), clearance)
    if tms_id is not None and tms_id != layer.tms_id:
        raise NotFoundError(
            f"collection {layer.name!r} is tiled on {layer.tms_id} only, not {tms_id[:40]!r}"
        )
    return layer


def _text(service: Service, layer: Layer):
    from geobase.server.describe import describe

    return describe(service, [layer])[layer.name]


# --- routes ------------------------------------------------------------------------------

ServiceDep = Annotated[Service, Depends(service_of)]
ClearanceDep = Annotated[str, Depends(clearance_of)]


@get(router, "/", summary="Landing page (OGC API) or map viewer / 服务首页")
def landing(request: Request, service: ServiceDep, clearance: ClearanceDep) -> Response:
    """The OGC API landing page for ``?f=json|html`` or JSON clients; the viewer otherwise."""
    fmt = wanted(request, default="html")
    if request.query_params.get("f") is None and fmt == "html":
        from geobase.server.viewer import index

        response = index(request, service)
        response.headers["vary"] = VARY
        return response
    doc = landing_doc(Links(request, service), service, fmt)
    return answer(request, service, doc, fmt, "Landing page / 服务首页", clearance)


@get(router, "/conformance", summary="Conformance classes (OGC API)")
def conformance(request: Request, service: ServiceDep, clearance: ClearanceDep) -> Response:
    """The OGC API conformance classes this service implements."""
    fmt = wanted(request)
    links = Links(request, service)
    doc = {
        "title": "Conformance / 符合性",
        "conformsTo": list(CONFORMANCE),
        "links": links.self_and_alternate("/conformance", fmt, "conformance"),
    }
    return answer(request, service, doc, fmt, "Conformance", clearance)


@get(router, "/tileMatrixSets", summary="Tile matrix sets (OGC TMS 2.0)")
def tile_matrix_sets(request: Request, service: ServiceDep, clearance: ClearanceDep) -> Response:
    """The tile matrix sets pyramids are built on."""
    from geobase.tiles.tms import TMS

    fmt = wanted(request)
    links = Links(request, service)
    rows = []
    for tms_id in TMS.list():
        tms = TMS.get(tms_id)
        row: dict[str, Any] = {"id": tms_id, "title": tms.title}
        if tms.uri:
            row["uri"] = str(tms.uri)
        row["crs"] = CRS_URI.get(tms_id, str(tms.crs))
        row["links"] = [
            links.link(f"/tileMatrixSets/{tms_id}", OGC_REL + "tiling-scheme", JSON, tms_id)
        ]
        rows.append(row)
    doc = {
        "title": "Tile matrix sets / 瓦片矩阵集",
        "tileMatrixSets": rows,
        "links": links.self_and_alternate("/tileMatrixSets", fmt, "tile matrix sets"),
    }
    return answer(request, service, doc, fmt, "Tile matrix sets", clearance)


@get(router, "/tileMatrixSets/{tms_id}", summary="Tile matrix set (OGC TMS 2.0)")
def tile_matrix_set(
    request: Request, tms_id: str, service: ServiceDep, clearance: ClearanceDep
) -> Response:
    """The OGC TMS 2.0 definition of a tile matrix set."""
    fmt = wanted(request)
    doc = tms_document(_tms(tms_id))
    if fmt == "html":
        links = Links(request, service)
        doc["links"] = links.self_and_alternate(f"/tileMatrixSets/{tms_id}", fmt, tms_id)
    return answer(request, service, doc, fmt, "Tile matrix set / 瓦片矩阵集", clearance)


@get(router, "/collections", summary="Collections (OGC API)")
def collections(request: Request, service: ServiceDep, clearance: ClearanceDep) -> Response:
    """One collection per pyramid the caller may see."""
    from geobase.server.describe import describe

    fmt = wanted(request)
    links = Links(request, service)
    layers = service.layers.visible(clearance)
    texts = describe(service, layers)
    doc = {
        "title": "Collections / 数据集合",
        "links": links.self_and_alternate("/collections", fmt, "collections"),
        "collections": [collection_doc(links, layer, texts[layer.name], None) for layer in layers],
    }
    return answer(request, service, doc, fmt, "Collections", clearance)


@get(router, "/collections/{cid}", summary="A collection (OGC API)")
def collection(
    request: Request, cid: str, service: ServiceDep, clearance: ClearanceDep
) -> Response:
    """A pyramid as a collection: its extent, CRS and tilesets."""
    fmt = wanted(request)
    layer = _layer_on(service, clearance, cid)
    doc = collection_doc(Links(request, service), layer, _text(service, layer), fmt)
    return answer(request, service, doc, fmt, "Collection / 数据集合", clearance)


def _tilesets(request: Request, service: Service, clearance: str, cid: str, prefix: str):
    fmt = wanted(request)
    layer = _layer_on(service, clearance, cid)
    links = Links(request, service)
    text = _text(service, layer)
    doc = {
        "title": text.title,
        "links": links.self_and_alternate(f"/collections/{layer.name}/{prefix}", fmt, "tilesets"),
        "tilesets": [tileset_summary(links, layer, prefix, text.title)],
    }
    return answer(request, service, doc, fmt, "Tilesets / 瓦片集", clearance)


def _tileset(request: Request, service: Service, clearance: str, cid: str, tms: str, prefix):
    fmt = wanted(request)
    layer = _layer_on(service, clearance, cid, tms)
    doc = tileset_doc(Links(request, service), layer, prefix, _text(service, layer), fmt)
    return answer(request, service, doc, fmt, "Tileset / 瓦片集", clearance)


def _tile(request, service, clearance, cid, tms, z, row, col) -> Response:
    zi, ri = check_index(z, "tileMatrix"), check_index(row, "tileRow")
    ci, ext, scale = parse_y_ext(col)
    given = request.query_params.get("f")
    if ext is None and given is not None:
        ext = given.strip().lower()
        if ext not in MEDIA_TYPES:
            raise ValidationError(
                f"f={given[:20]!r} is not a tile format ({', '.join(MEDIA_TYPES)})"
            )
    layer = _layer_on(service, clearance, cid, tms)
    if scale != 1 or (ext is not None and ext not in layer.extensions):
        return tile_response(request, service, layer, zi, ci, ri, ext, scale)  # 404 saying why
    try:
        return tile_response(request, service, layer, zi, ci, ri, ext, scale)
    except NotFoundError:
        if not _inside_limits(layer, zi, ci, ri):
            raise
    # OGC API - Tiles: a tile inside the limits with no data is 204, not an error
    private = layer.classification != "public"
    return Response(
        status_code=204,
        headers={
            "cache-control": cache_control(service.settings.tile_max_age, private=private),
            **({"vary": "Authorization"} if private else {}),
        },
    )


def _inside_limits(layer: Layer, z: int, col: int, row: int) -> bool:
    """Whether a tile lies inside the ``tileMatrixSetLimits`` the tileset declares."""
    if not layer.minzoom <= z <= layer.maxzoom:
        return False
    entry = limits(layer)[z - layer.minzoom]
    return (
        entry["minTileCol"] <= col <= entry["maxTileCol"]
        and entry["minTileRow"] <= row <= entry["maxTileRow"]
    )


def _register_tilesets(prefix: str) -> None:
    include = prefix == TILESET_PATHS[0]  # the alias stays out of the OpenAPI document

    @get(router, f"/collections/{{cid}}/{prefix}", summary="Tilesets of a collection",
         include_in_schema=include)  # fmt: skip
    def tilesets(request: Request, cid: str, service: ServiceDep, clearance: ClearanceDep):
        """The tilesets of a collection (one: the pyramid's tile matrix set)."""
        return _tilesets(request, service, clearance, cid, prefix)

    @get(router, f"/collections/{{cid}}/{prefix}/{{tms}}", summary="Tileset metadata",
         include_in_schema=include)  # fmt: skip
    def tileset(request: Request, cid: str, tms: str, service: ServiceDep, clearance: ClearanceDep):
        """A tileset: its tile matrix set, limits and tile URL template."""
        return _tileset(request, service, clearance, cid, tms, prefix)

    @get(
        router,
        f"/collections/{{cid}}/{prefix}/{{tms}}/{{z}}/{{row}}/{{col}}",
        summary="A tile (OGC API - Tiles)",
        include_in_schema=include,
        responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}}},
    )
    def tile(
        request: Request,
        cid: str,
        tms: str,
        z: str,
        row: str,
        col: str,
        service: ServiceDep,
        clearance: ClearanceDep,
    ) -> Response:
        """Tile ``{tileMatrix}/{tileRow}/{tileCol}`` (extension optional)."""
        return _tile(request, service, clearance, cid, tms, z, row, col)


for _prefix in TILESET_PATHS:
    _register_tilesets(_prefix)


@get(router, "/tiles", summary="Every visible tileset (OGC API - Tiles)")
def all_tilesets(request: Request, service: ServiceDep, clearance: ClearanceDep) -> Response:
    """The tilesets of every collection the caller may see, in one list."""
    from geobase.server.describe import describe

    fmt = wanted(request)
    links = Links(request, service)
    layers = service.layers.visible(clearance)
    texts = describe(service, layers)
    doc = {
        "title": "Tilesets / 瓦片集",
        "links": links.self_and_alternate("/tiles", fmt, "tilesets"),
        "tilesets": [
            tileset_summary(links, layer, TILESET_PATHS[0], texts[layer.name].title)
            for layer in layers
        ],
    }
    return answer(request, service, doc, fmt, "Tilesets", clearance)
