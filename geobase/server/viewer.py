"""The viewer page (``/``) and its assets (``/static/...``), all served by geobase.

OpenLayers' single-file browser build is vendored in ``static/vendor/ol/`` (its README
says where from and under which licences; ``scripts/vendor-openlayers.sh`` refreshes it)
and served as ``/static/ol.js`` and ``/static/ol.css``, so that the viewer works offline,
no request leaves the service and nothing needs npm. Assets are looked up in a fixed
table: no part of a request path ever becomes part of a file path.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from geobase.errors import NotFoundError
from geobase.server.deps import Service, get, service_of
from geobase.server.http import respond

router = APIRouter(include_in_schema=False)

STATIC = Path(__file__).parent / "static"
ASSETS: dict[str, tuple[Path, str]] = {
    "viewer.js": (STATIC / "viewer.js", "text/javascript; charset=utf-8"),
    "viewer.css": (STATIC / "viewer.css", "text/css; charset=utf-8"),
    "ol.js": (STATIC / "vendor" / "ol" / "ol.js", "text/javascript; charset=utf-8"),
    "ol.css": (STATIC / "vendor" / "ol" / "ol.css", "text/css; charset=utf-8"),
}
INDEX = STATIC / "index.html"
_cache: dict[Path, tuple[float, bytes]] = {}
_lock = threading.Lock()


def _read(path: Path) -> bytes:
    """A static file's bytes, re-read when it changes on disk."""
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        raise NotFoundError(f"no asset {path.name!r}") from None
    with _lock:
        hit = _cache.get(path)
        if hit is not None and hit[0] == mtime:
            return hit[1]
    body = path.read_bytes()
    with _lock:
        _cache[path] = (mtime, body)
    return body


def index(request: Request, service: Service) -> Response:
    """The viewer page (served at ``/`` by :mod:`geobase.server.ogcapi`'s landing page route,
    which answers JSON clients with the OGC API landing page instead)."""
    from html import escape

    page = _read(INDEX).decode("utf-8").replace("{{title}}", escape(service.title))
    return respond(
        request,
        page.encode("utf-8"),
        "text/html; charset=utf-8",
        max_age=0,
        gzip_min_size=service.settings.gzip_min_size,
        vary_auth=False,
        headers={
            "content-security-policy": (
                "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
                "script-src 'self'; connect-src 'self'; worker-src 'self' blob:"
            ),
            "x-content-type-options": "nosniff",
        },
    )


@get(router, "/static/{name}")
def asset(
    request: Request, name: str, service: Annotated[Service, Depends(service_of)]
) -> Response:
    """One of the viewer's assets (a fixed list)."""
    entry = ASSETS.get(name)
    if entry is None:
        raise NotFoundError(f"no asset {name[:80]!r}")
    path, media_type = entry
    return respond(
        request,
        _read(path),
        media_type,
        max_age=3600,
        gzip_min_size=service.settings.gzip_min_size,
        vary_auth=False,
        headers={"x-content-type-options": "nosniff"},
    )
