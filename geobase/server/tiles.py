"""Tile routes: ``/tiles/{pyramid}/{z}/{x}/{y}.{ext}`` and TileJSON 3.0.

Path components are checked before anything is looked up: a zoom or index that is not
1-10 decimal digits, a name with characters outside ``[A-Za-z0-9_.-]``, or an unknown
extension is a malformed request (400); a well-formed tile outside the matrix, the
pyramid's zooms or its built tiles, or in a pyramid the caller may not see, is 404.
The extension may be left out (the pyramid's own format is served); ``{y}@2x.{ext}``
asks for 512 px tiles, which geobase does not build (404 saying so).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from geobase import names
from geobase.errors import NotFoundError, ValidationError
from geobase.server.deps import Service, clearance_of, get, service_of
from geobase.server.describe import layer_key
from geobase.server.http import MEDIA_TYPES, dump_json, etag_for, respond
from geobase.server.layers import Layer

router = APIRouter()

INDEX_RE = re.compile(r"^[0-9]{1,10}$")
Y_EXT_RE = re.compile(r"^([0-9]{1,10})\.([A-Za-z0-9]{1,8})$")
TILE_NAME_RE = re.compile(r"^([0-9]{1,10})(?:@([0-9]{1,2})x)?(?:\.([A-Za-z0-9]{1,8}))?$")

CRS_URI = {
    "WebMercatorQuad": "http://www.opengis.net/def/crs/EPSG/0/3857",
    "CGCS2000Quad": "http://www.opengis.net/def/crs/EPSG/0/4490",
}


def check_name(name: str) -> str:
    return names.check_name(name, "pyramid name")


def check_index(value: str, what: str) -> int:
    if not INDEX_RE.match(value):
        raise ValidationError(f"{what} {value[:20]!r} is not a non-negative integer")
    return int(value)


def parse_y_ext(value: str) -> tuple[int, str | None, int]:
    """``<row>[@<n>x][.<ext>]`` as (row, extension or None, scale)."""
    match = TILE_NAME_RE.match(value)
    if not match:
        raise ValidationError(
            f"tile name {value[:40]!r} is malformed (expected <row>, <row>.<ext> or <row>@2x.<ext>)"
        )
    ext = match.group(3).lower() if match.group(3) else None
    if ext is not None and ext not in MEDIA_TYPES:
        raise ValidationError(
            f"tile extension {ext!r} is not one of {', '.join(sorted(MEDIA_TYPES))}"
        )
    return int(match.group(1)), ext, int(match.group(2) or 1)


def tile_response(
    request: Request,
    service: Service,
    layer: Layer,
    z: int,
    x: int,
    y: int,
    ext: str | None,
    scale: int = 1,
) -> Response:
    """A tile with ETag and caching (private when the layer is not public).

    ``ext`` None serves the pyramid's own format; a ``scale`` other than 1 (``@2x``) is
    404: pyramids hold tiles of their tile matrix set's size only.
    """
    if scale != 1:
        size = layer.tms.tileMatrices[0].tileWidth
        raise NotFoundError(
            f"pyramid {layer.name!r} has {size} px tiles only; there are no @{scale}x "
            f"({size * scale} px) tiles (ask without @{scale}x)"
        )
    ext = ext or layer.ext
    if ext not in layer.extensions:
        raise NotFoundError(f"pyramid {layer.name!r} has {layer.format} tiles, not {ext}")
    body, etag = service.layers.tile(layer, z, x, y)
    return respond(
        request,
        body,
        layer.media_type,
        max_age=service.settings.tile_max_age,
        private=layer.classification != "public",
        etag=etag,
        vary_auth=layer.classification != "public",
    )


@get(
    router,
    "/tiles/{pyramid}/{z}/{x}/{y_ext}",
    summary="A tile / 瓦片",
    responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}}},
)
def tile(
    request: Request,
    pyramid: str,
    z: str,
    x: str,
    y_ext: str,
    service: Annotated[Service, Depends(service_of)],
    clearance: Annotated[str, Depends(clearance_of)],
) -> Response:
    """Tile ``x`` (column), ``y`` (row, from the top) of matrix ``z`` of a pyramid."""
    check_name(pyramid)
    zi, xi = check_index(z, "zoom"), check_index(x, "column")
    yi, ext, scale = parse_y_ext(y_ext)
    layer = service.layers.get(pyramid, clearance)
    return tile_response(request, service, layer, zi, xi, yi, ext, scale)


def tilejson(layer: Layer, base: str, attribution: str | None = None) -> dict[str, Any]:
    """The TileJSON 3.0.0 document of a layer."""
    west, south, east, north = layer.bounds
    center_zoom = max(layer.minzoom, min(layer.maxzoom, layer.minzoom + 2))
    doc: dict[str, Any] = {
        "tilejson": "3.0.0",
        "name": layer.name,
        "description": layer.title,
        "version": "1.0.0",
        "scheme": "xyz",
        "tiles": [f"{base}/tiles/{layer.name}/{{z}}/{{x}}/{{y}}.{layer.ext}"],
        "minzoom": layer.minzoom,
        "maxzoom": layer.maxzoom,
        "bounds": [west, south, east, north],
        "center": [(west + east) / 2, (south + north) / 2, center_zoom],
        # not part of TileJSON (which assumes Web Mercator): the grid the tiles are on
        "tileMatrixSet": layer.tms_id,
        "crs": CRS_URI.get(layer.tms_id, str(layer.tms.crs)),
        "classification": layer.classification,
    }
    if attribution:
        doc["attribution"] = attribution
    if layer.encoding is not None:
        # how MapLibre's and Mapbox's raster-dem sources decode heights from the pixels
        doc["encoding"] = layer.encoding
    return doc


@get(router, "/tiles/{pyramid}/tilejson.json", summary="TileJSON 3.0")
async def tilejson_route(
    request: Request,
    pyramid: str,
    service: Annotated[Service, Depends(service_of)],
    clearance: Annotated[str, Depends(clearance_of)],
) -> Response:
    """A pyramid's TileJSON 3.0.0 document (made once per build of the pyramid, its
    record and base URL; a kept one is sent from the event loop)."""
    check_name(pyramid)
    if service.layers.fresh:
        layer = service.layers.get(pyramid, clearance)
        kept = service.layers.documents.peek(_tilejson_key(request, service, layer))
        if kept is not None:
            return _tilejson_response(request, service, clearance, *kept)
    return await run_in_threadpool(_tilejson_made, request, service, clearance, pyramid)


def _tilejson_key(request: Request, service: Service, layer: Layer) -> tuple:
    return ("tilejson", service.base_url(request), layer_key(layer))


def _tilejson_made(request: Request, service: Service, clearance: str, pyramid: str) -> Response:
    layer = service.layers.get(pyramid, clearance)
    base = service.base_url(request)

    def make() -> tuple[bytes, str]:
        body = dump_json(tilejson(layer, base, service.settings.attribution))
        return body, etag_for(body)

    body, etag = service.layers.documents.get(_tilejson_key(request, service, layer), make)
    return _tilejson_response(request, service, clearance, body, etag)


def _tilejson_response(
    request: Request, service: Service, clearance: str, body: bytes, etag: str
) -> Response:
    return respond(
        request,
        body,
        "application/json",
        max_age=service.settings.api_max_age,
        private=clearance != "public",
        etag=etag,
        gzip_min_size=service.settings.gzip_min_size,
    )


def layer_summary(layer: Layer, base: str) -> dict[str, Any]:
    """What the viewer and the tileset list need to know of a layer."""
    return {
        "name": layer.name,
        "title": layer.title,
        "tileMatrixSet": layer.tms_id,
        "crs": CRS_URI.get(layer.tms_id, str(layer.tms.crs)),
        "minzoom": layer.minzoom,
        "maxzoom": layer.maxzoom,
        "format": layer.format,
        "bounds": list(layer.bounds),
        "classification": layer.classification,
        "tiles": f"{base}/tiles/{layer.name}/{{z}}/{{x}}/{{y}}.{layer.ext}",
        "tilejson": f"{base}/tiles/{layer.name}/tilejson.json",
        "encoding": layer.encoding,
    }


@get(router, "/api/pyramids", summary="Pyramids / 瓦片金字塔")
def pyramids(
    request: Request,
    service: Annotated[Service, Depends(service_of)],
    clearance: Annotated[str, Depends(clearance_of)],
) -> Response:
    """The pyramids the caller may see."""
    base = service.base_url(request)
    rows = [layer_summary(layer, base) for layer in service.layers.visible(clearance)]
    return service.json(request, {"pyramids": rows}, private=clearance != "public")
