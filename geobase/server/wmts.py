"""OGC WMTS 1.0.0: capabilities (KVP and RESTful) and GetTile.

- ``/wmts?SERVICE=WMTS&REQUEST=GetCapabilities`` and
  ``/wmts/1.0.0/WMTSCapabilities.xml``: the capabilities document, listing only the
  layers the caller may see, with one ``TileMatrixSet`` per grid in use (OGC scale
  denominators; EPSG:4490's latitude-first ``TopLeftCorner`` for CGCS2000Quad, so that
  QGIS and GDAL place the tiles correctly) and ``TileMatrixSetLimits`` per layer.
- ``/wmts?SERVICE=WMTS&REQUEST=GetTile&LAYER=..&TILEMATRIXSET=..&TILEMATRIX=..&TILEROW=..&TILECOL=..``
  and ``/wmts/1.0.0/{layer}/{style}/{TileMatrixSet}/{TileMatrix}/{TileRow}/{TileCol}.{ext}``.

Layer titles and abstracts come from the catalogue (:mod:`geobase.server.describe`):
product names in Chinese and English, acquisition dates and the pyramid's name, so that
QGIS lists the layers distinguishably. A caller who authenticated with ``?token=``
(QGIS can only add a parameter to the capabilities URL) finds the token on every URL of
the document, so that the tiles it then asks for are authorised too.

Errors are OWS 1.1 exception reports (``MissingParameterValue``,
``InvalidParameterValue``, ``TileOutOfRange``: 400; ``OperationNotSupported``: 501; a
tile inside the matrix that was never built: 404). A layer the caller may not see is
reported exactly as a layer that does not exist.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from geobase.errors import NotFoundError
from geobase.server.auth import cached_privately, token_query, with_query
from geobase.server.deps import Service, clearance_of, get, service_of
from geobase.server.describe import LayerText, describe, layer_key
from geobase.server.http import MEDIA_TYPES, etag_for, respond
from geobase.server.layers import Layer
from geobase.server.tiles import INDEX_RE, Y_EXT_RE, tile_response

router = APIRouter()

NS = {
    "": "http://www.opengis.net/wmts/1.0",
    "ows": "http://www.opengis.net/ows/1.1",
    "xlink": "http://www.w3.org/1999/xlink",
    "gml": "http://www.opengis.net/gml",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}
SCHEMA_LOCATION = "http://www.opengis.net/wmts/1.0 http://schemas.opengis.net/wmts/1.0/wmtsGetCapabilities_response.xsd"
# SupportedCRS and well-known scale sets of the grids geobase builds
SUPPORTED_CRS = {
    "WebMercatorQuad": "urn:ogc:def:crs:EPSG::3857",
    "CGCS2000Quad": "urn:ogc:def:crs:EPSG::4490",
}
WELL_KNOWN_SCALE_SET = {"WebMercatorQuad": "urn:ogc:def:wkss:OGC:1.0:GoogleMapsCompatible"}
CAPABILITIES_MEDIA_TYPE = "application/xml"


class OWSException(Exception):
    """An OWS exception report to send back."""

    def __init__(self, code: str, text: str, locator: str | None = None, status: int = 400):
        super().__init__(text)
        self.code, self.text, self.locator, self.status = code, text, locator, status


def exception_report(exc: OWSException) -> Response:
    ET.register_namespace("ows", NS["ows"])
    root = ET.Element(f"{{{NS['ows']}}}ExceptionReport", {"version": "1.1.0", "xml:lang": "en"})
    attrs = {"exceptionCode": exc.code}
    if exc.locator:
        attrs["locator"] = exc.locator
    item = ET.SubElement(root, f"{{{NS['ows']}}}Exception", attrs)
    ET.SubElement(item, f"{{{NS['ows']}}}ExceptionText").text = exc.text
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return Response(
        body,
        status_code=exc.status,
        media_type=CAPABILITIES_MEDIA_TYPE,
        headers={"cache-control": "no-store"},
    )


def _num(value: float) -> str:
    """A number as XML text: integers without a fraction, floats at full precision."""
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    prefix, _, local = tag.rpartition(":")
    qname = f"{{{NS[prefix]}}}{local}" if prefix else f"{{{NS['']}}}{local}"
    out = ET.SubElement(parent, qname, {_attr(k): v for k, v in attrs.items()})
    if text is not None:
        out.text = text
    return out


def _attr(name: str) -> str:
    if name.startswith("xlink_"):
        return f"{{{NS['xlink']}}}{name[6:]}"
    return name


def tile_template(base: str, layer: Layer, query: str = "") -> str:
    """The RESTful tile URL template of a layer (``query``: parameters to carry on)."""
    return with_query(
        f"{base}/wmts/1.0.0/{layer.name}/{{Style}}/{{TileMatrixSet}}/"
        f"{{TileMatrix}}/{{TileRow}}/{{TileCol}}.{layer.ext}",
        query,
    )


def capabilities_xml(
    layers: Iterable[Layer],
    base: str,
    title: str,
    texts: Mapping[str, LayerText] | None = None,
    query: str = "",
) -> bytes:
    """The WMTS 1.0.0 capabilities document for ``layers`` (the caller's visible ones).

    Args:
        layers: the layers to list.
        base: the service's base URL (no trailing slash).
        title: the service's title.
        texts: title and abstract of each layer by name (default: the layer's own title).
        query: query parameters every URL of the document carries (the caller's token).
    """
    layers = list(layers)
    texts = texts or {}
    for prefix, uri in NS.items():
        ET.register_namespace(prefix, uri)
    root = ET.Element(
        f"{{{NS['']}}}Capabilities",
        {"version": "1.0.0", f"{{{NS['xsi']}}}schemaLocation": SCHEMA_LOCATION},
    )
    ident = _el(root, "ows:ServiceIdentification")
    _el(ident, "ows:Title", title)
    _el(ident, "ows:ServiceType", "OGC WMTS")
    _el(ident, "ows:ServiceTypeVersion", "1.0.0")
    ops = _el(root, "ows:OperationsMetadata")
    for name in ("GetCapabilities", "GetTile"):
        op = _el(ops, "ows:Operation", name=name)
        http = _el(_el(op, "ows:DCP"), "ows:HTTP")
        rest_href = with_query(
            f"{base}/wmts/1.0.0/WMTSCapabilities.xml"
            if name == "GetCapabilities"
            else f"{base}/wmts/1.0.0/",
            query,
        )
        kvp_href = f"{base}/wmts?{query}&" if query else f"{base}/wmts?"
        for href, encoding in ((kvp_href, "KVP"), (rest_href, "RESTful")):
            get = _el(http, "ows:Get", xlink_href=href)
            allowed = _el(_el(get, "ows:Constraint", name="GetEncoding"), "ows:AllowedValues")
            _el(allowed, "ows:Value", encoding)

    contents = _el(root, "Contents")
    zooms: dict[str, tuple[int, int]] = {}
    sets = {}
    for layer in layers:
        sets[layer.tms_id] = layer.tms
        lo, hi = zooms.get(layer.tms_id, (layer.minzoom, layer.maxzoom))
        zooms[layer.tms_id] = (min(lo, layer.minzoom), max(hi, layer.maxzoom))
        el = _el(contents, "Layer")
        text = texts.get(layer.name)
        _el(el, "ows:Title", text.title if text else layer.title)
        abstract = f"{layer.tms_id}, zoom {layer.minzoom}-{layer.maxzoom}"
        _el(el, "ows:Abstract", text.abstract if text else abstract)
        west, south, east, north = layer.bounds
        bbox = _el(el, "ows:WGS84BoundingBox")
        _el(bbox, "ows:LowerCorner", f"{_num(west)} {_num(south)}")
        _el(bbox, "ows:UpperCorner", f"{_num(east)} {_num(north)}")
        _el(el, "ows:Identifier", layer.name)
        style = _el(el, "Style", isDefault="true")
        _el(style, "ows:Identifier", "default")
        _el(el, "Format", layer.media_type)
        link = _el(el, "TileMatrixSetLink")
        _el(link, "TileMatrixSet", layer.tms_id)
        limits = _el(link, "TileMatrixSetLimits")
        for z in range(layer.minzoom, layer.maxzoom + 1):
            mincol, minrow, maxcol, maxrow = layer.tile_limits(z)
            lim = _el(limits, "TileMatrixLimits")
            _el(lim, "TileMatrix", str(z))
            _el(lim, "MinTileRow", str(minrow))
            _el(lim, "MaxTileRow", str(maxrow))
            _el(lim, "MinTileCol", str(mincol))
            _el(lim, "MaxTileCol", str(maxcol))
        _el(
            el,
            "ResourceURL",
            format=layer.media_type,
            resourceType="tile",
            template=tile_template(base, layer, query),
        )
    for tms_id, tms in sets.items():
        lo, hi = zooms[tms_id]
        if tms_id in WELL_KNOWN_SCALE_SET:
            lo = min(lo, int(tms.tileMatrices[0].id))  # a well-known set starts at its top
        el = _el(contents, "TileMatrixSet")
        _el(el, "ows:Identifier", tms_id)
        crs = SUPPORTED_CRS.get(tms_id) or _urn(tms)
        _el(el, "ows:SupportedCRS", crs)
        if tms_id in WELL_KNOWN_SCALE_SET and lo == int(tms.tileMatrices[0].id):
            _el(el, "WellKnownScaleSet", WELL_KNOWN_SCALE_SET[tms_id])
        for z in range(lo, hi + 1):
            m = tms.matrix(z)
            tm = _el(el, "TileMatrix")
            _el(tm, "ows:Identifier", str(z))
            _el(tm, "ScaleDenominator", repr(float(m.scaleDenominator)))
            # pointOfOrigin is in the CRS's axis order (latitude first for EPSG:4490)
            _el(tm, "TopLeftCorner", " ".join(_num(v) for v in m.pointOfOrigin))
            _el(tm, "TileWidth", str(m.tileWidth))
            _el(tm, "TileHeight", str(m.tileHeight))
            _el(tm, "MatrixWidth", str(m.matrixWidth))
            _el(tm, "MatrixHeight", str(m.matrixHeight))
    _el(
        root,
        "ServiceMetadataURL",
        xlink_href=with_query(f"{base}/wmts/1.0.0/WMTSCapabilities.xml", query),
    )
    ET.indent(root, space=" ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _urn(tms) -> str:
    epsg = tms.crs.to_epsg() if hasattr(tms.crs, "to_epsg") else None
    if epsg is None:
        try:
            epsg = tms.rasterio_crs.to_epsg()  # pragma: no cover - other grids
        except Exception:
            epsg = None
    return f"urn:ogc:def:crs:EPSG::{epsg}" if epsg else str(tms.crs)


async def _capabilities(request: Request, service: Service, clearance: str) -> Response:
    """The capabilities of the caller's layers, made once per layer generation (pyramid
    builds, classifications, catalogue, publications), base URL and token.

    A kept document is sent from the event loop; making one (store queries) runs in
    the thread pool."""
    if service.layers.fresh:
        key, _ = _capabilities_key(request, service, clearance)
        kept = service.layers.documents.peek(key)
        if kept is not None:
            return _capabilities_response(request, service, clearance, *kept)
    return await run_in_threadpool(_capabilities_made, request, service, clearance)


def _capabilities_key(
    request: Request, service: Service, clearance: str
) -> tuple[tuple, list[Layer]]:
    layers = service.layers.visible(clearance)
    key = (
        "wmts",
        service.base_url(request),
        token_query(request),
        *(layer_key(layer) for layer in layers),
    )
    return key, layers


def _capabilities_made(request: Request, service: Service, clearance: str) -> Response:
    key, layers = _capabilities_key(request, service, clearance)
    base, query = key[1], key[2]

    def make() -> tuple[bytes, str]:
        body = capabilities_xml(layers, base, service.title, describe(service, layers), query)
        return body, etag_for(body)

    body, etag = service.layers.documents.get(key, make)
    return _capabilities_response(request, service, clearance, body, etag)


def _capabilities_response(
    request: Request, service: Service, clearance: str, body: bytes, etag: str
) -> Response:
    return respond(
        request,
        body,
        CAPABILITIES_MEDIA_TYPE,
        etag=etag,
        max_age=service.settings.api_max_age,
        private=cached_privately(request, clearance),
        gzip_min_size=service.settings.gzip_min_size,
    )


def _tile(
    request: Request,
    service: Service,
    clearance: str,
    *,
    layer_name: str,
    style: str,
    tms_id: str,
    matrix: str,
    row: str,
    col: str,
    media_type: str | None,
    ext: str | None,
    rest: bool,
) -> Response:
    try:
        layer = service.layers.get(layer_name, clearance)
    except NotFoundError:
        raise OWSException(
            "InvalidParameterValue", f"no layer {layer_name[:80]!r}", "LAYER", 404 if rest else 400
        ) from None
    if style not in ("", "default"):
        raise OWSException("InvalidParameterValue", f"unknown style {style[:40]!r}", "STYLE")
    if tms_id != layer.tms_id:
        raise OWSException(
            "InvalidParameterValue",
            f"layer {layer.name!r} is on {layer.tms_id}, not {tms_id[:40]!r}",
            "TILEMATRIXSET",
        )
    if media_type is not None and media_type != layer.media_type:
        raise OWSException(
            "InvalidParameterValue",
            f"layer {layer.name!r} is served as {layer.media_type}, not {media_type[:40]!r}",
            "FORMAT",
        )
    if ext is not None and ext not in layer.extensions:
        raise OWSException(
            "InvalidParameterValue", f"layer {layer.name!r} has {layer.format} tiles", "FORMAT", 404
        )
    for name, value in (("TILEMATRIX", matrix), ("TILEROW", row), ("TILECOL", col)):
        if not INDEX_RE.match(value):
            raise OWSException(
                "InvalidParameterValue",
                f"{name} {value[:20]!r} is not a non-negative integer",
                name,
            )
    z, y, x = int(matrix), int(row), int(col)
    out_status = 404 if rest else 400
    if not layer.minzoom <= z <= layer.maxzoom:
        raise OWSException(
            "TileOutOfRange",
            f"TILEMATRIX {z} is outside {layer.minzoom}-{layer.maxzoom}",
            "TILEMATRIX",
            out_status,
        )
    cols, rows = layer.matrix_size(z)
    if y >= rows:
        raise OWSException("TileOutOfRange", f"TILEROW {y} >= {rows}", "TILEROW", out_status)
    if x >= cols:
        raise OWSException("TileOutOfRange", f"TILECOL {x} >= {cols}", "TILECOL", out_status)
    try:
        return tile_response(request, service, layer, z, x, y, ext or layer.extensions[0])
    except NotFoundError as exc:
        raise OWSException("NoApplicableCode", str(exc), None, 404) from None


@get(router, "/wmts", summary="WMTS 1.0.0 (KVP)")
async def wmts_kvp(
    request: Request,
    service: Annotated[Service, Depends(service_of)],
    clearance: Annotated[str, Depends(clearance_of)],
) -> Response:
    """GetCapabilities and GetTile in key-value-pair encoding (parameter names in any case)."""
    params: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(key.upper(), value)
    try:
        service_name = params.get("SERVICE")
        if not service_name:
            raise OWSException("MissingParameterValue", "SERVICE is missing", "SERVICE")
        if service_name.upper() != "WMTS":
            raise OWSException(
                "InvalidParameterValue", f"SERVICE {service_name[:20]!r} is not WMTS", "SERVICE"
            )
        operation = params.get("REQUEST")
        if not operation:
            raise OWSException("MissingParameterValue", "REQUEST is missing", "REQUEST")
        if operation.lower() == "getcapabilities":
            return await _capabilities(request, service, clearance)
        if operation.lower() != "gettile":
            raise OWSException(
                "OperationNotSupported",
                f"REQUEST {operation[:40]!r} is not supported",
                "REQUEST",
                501,
            )
        if params.get("VERSION", "1.0.0") != "1.0.0":
            raise OWSException("InvalidParameterValue", "VERSION must be 1.0.0", "VERSION")
        for name in ("LAYER", "TILEMATRIXSET", "TILEMATRIX", "TILEROW", "TILECOL", "FORMAT"):
            if not params.get(name):
                raise OWSException("MissingParameterValue", f"{name} is missing", name)
        if params["FORMAT"] not in MEDIA_TYPES.values():
            raise OWSException(
                "InvalidParameterValue", f"FORMAT {params['FORMAT'][:40]!r} is not served", "FORMAT"
            )
        return await run_in_threadpool(
            _tile,
            request,
            service,
            clearance,
            layer_name=params["LAYER"],
            style=params.get("STYLE", "default"),
            tms_id=params["TILEMATRIXSET"],
            matrix=params["TILEMATRIX"],
            row=params["TILEROW"],
            col=params["TILECOL"],
            media_type=params["FORMAT"],
            ext=None,
            rest=False,
        )
    except OWSException as exc:
        return exception_report(exc)


@get(router, "/wmts/1.0.0/WMTSCapabilities.xml", summary="WMTS 1.0.0 capabilities (RESTful)")
async def wmts_rest_capabilities(
    request: Request,
    service: Annotated[Service, Depends(service_of)],
    clearance: Annotated[str, Depends(clearance_of)],
) -> Response:
    """The capabilities document (RESTful encoding)."""
    return await _capabilities(request, service, clearance)


@get(
    router,
    "/wmts/1.0.0/{layer}/{style}/{tms}/{matrix}/{row}/{col_ext}",
    summary="WMTS 1.0.0 GetTile (RESTful)",
)
def wmts_rest_tile(
    request: Request,
    layer: str,
    style: str,
    tms: str,
    matrix: str,
    row: str,
    col_ext: str,
    service: Annotated[Service, Depends(service_of)],
    clearance: Annotated[str, Depends(clearance_of)],
) -> Response:
    """A tile by the ResourceURL template ``{TileMatrix}/{TileRow}/{TileCol}.{ext}``."""
    try:
        match = Y_EXT_RE.match(col_ext)
        if not match or match.group(2).lower() not in MEDIA_TYPES:
            raise OWSException(
                "InvalidParameterValue", f"tile name {col_ext[:40]!r} is malformed", "TILECOL"
            )
        return _tile(
            request,
            service,
            clearance,
            layer_name=layer,
            style=style,
            tms_id=tms,
            matrix=matrix,
            row=row,
            col=match.group(1),
            media_type=None,
            ext=match.group(2).lower(),
            rest=True,
        )
    except OWSException as exc:
        return exception_report(exc)
