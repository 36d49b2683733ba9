"""A fast path for the most frequent request: a public tile already in the tile cache.

The application (:class:`geobase.server.app.GeobaseApp`) first offers each request to
:class:`TileFastPath`, which answers ``GET``/``HEAD /tiles/{pyramid}/{z}/{x}/{y}.{ext}``
itself when the request carries no ``Authorization`` and no ``Origin`` header, the
pyramid is public and the tile is in the memory cache; everything else (first requests,
tokens, CORS, errors) goes through the application as usual, which fills the cache. The
answer is the same as the full route's (same ETag, caching headers, ``Vary: Origin`` that
the CORS middleware adds, 304 handling): the fast path only skips routing, dependency
injection, the middleware and the thread pool.

The full route is the reference: ``tests/test_server_fastpath.py`` sends generated
requests (public, restricted and missing pyramids; tokens present, absent, wrong or
revoked; ``Origin``; ``If-None-Match``; missing tiles, bad coordinates and extensions;
GET and HEAD) to an application with the fast path and to one without, and requires
the same status, headers and body. ``[server] tile_fast_path = false`` in geobase.toml
(:class:`geobase.server.settings.ServerSettings`) turns the fast path off, so that
every request takes the full route.

The layer registry is consulted on every request (``LayerRegistry.all`` re-reads the
pyramid table when it is older than its refresh interval), so a pyramid reclassified
away from public stops being served here within that interval.
"""

from __future__ import annotations

import re

from geobase.server.http import cache_control, not_modified

TILE_PATH = re.compile(
    r"^/tiles/([A-Za-z0-9][A-Za-z0-9_.-]{0,127})/([0-9]{1,10})/([0-9]{1,10})/([0-9]{1,10})"
    r"\.(png|jpg|jpeg|webp)$"
)


class TileFastPath:
    """Serves cached public tiles without the framework (see the module docstring)."""

    def __init__(self, service):
        self.service = service
        self.cache_control = cache_control(service.settings.tile_max_age).encode()

    async def __call__(self, scope, send) -> bool:
        """Answer the request if it can be answered here; return whether it was."""
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return False
        match = TILE_PATH.match(scope["path"])
        if match is None or scope.get("query_string"):
            return False
        if_none_match = None
        for key, value in scope["headers"]:
            if key in (b"authorization", b"origin"):
                return False
            if key == b"if-none-match":
                if_none_match = value.decode("latin-1")
        name, z, x, y, ext = match.groups()
        layer = self.service.layers.all().get(name)
        if layer is None or layer.classification != "public" or ext not in layer.extensions:
            return False
        hit = self.service.layers.cache.get(layer.cache_key(int(z), int(x), int(y)))
        if hit is None:
            return False
        body, etag = hit
        # the full route's answer passes the CORS middleware, which adds Vary: Origin
        # (geobase.server.http.CORS)
        headers = [
            (b"cache-control", self.cache_control),
            (b"etag", etag.encode()),
            (b"vary", b"Origin"),
        ]
        if not_modified(if_none_match, etag):
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return True
        headers.append((b"content-length", str(len(body)).encode()))
        headers.append((b"content-type", layer.media_type.encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )
        return True
