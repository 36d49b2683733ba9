"""HTTP details done once: ETags, conditional requests, caching, compression, HEAD.

Every route returns its body through :func:`respond`, which

- computes a strong ``ETag`` (unless the caller has one already, like a cached tile),
- answers ``If-None-Match`` with ``304 Not Modified``,
- sets ``Cache-Control`` (``public`` for what anybody may see, ``private`` when the
  response depends on a token) and ``Vary``,
- gzip-compresses text bodies (JSON, XML, HTML, JS, CSS) when the client accepts it
  (tiles are already compressed images and are sent as they are),
- sends headers without a body for ``HEAD``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response

from geobase.values import json_default

COMPRESSIBLE = (
    "application/json",
    "application/geo+json",
    "application/problem+json",
    "application/vnd.mapbox.vector-tile",
    "application/xml",
    "text/",
    "application/javascript",
    "image/svg+xml",
)

MEDIA_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "pbf": "application/vnd.mapbox.vector-tile",
    "mvt": "application/vnd.mapbox.vector-tile",
}


def etag_for(body: bytes) -> str:
    """A strong entity tag for a body."""
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` matches ``etag`` (weak comparison, RFC 9110 13.1.2)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    mine = _opaque(etag)
    return any(_opaque(t) == mine for t in if_none_match.split(","))


def accepts_gzip(request: Request) -> bool:
    """Whether the client accepts gzip (and did not refuse it with ``q=0``)."""
    for part in request.headers.get("accept-encoding", "").split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            q = params.strip().replace(" ", "")
            return q not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def cache_control(max_age: int, *, private: bool = False) -> str:
    if private:
        return f"private, max-age={max_age}" if max_age else "private, no-cache"
    return f"public, max-age={max_age}" if max_age else "no-cache"


def respond(
    request: Request,
    body: bytes,
    media_type: str,
    *,
    max_age: int = 0,
    private: bool = False,
    etag: str | None = None,
    gzip_min_size: int = 512,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    vary_auth: bool = True,
) -> Response:
    """A response with validators, caching, compression and HEAD handled.

    Args:
        request: the request answered.
        body: the full (uncompressed) body.
        media_type: its content type.
        max_age: ``Cache-Control`` max-age in seconds.
        private: the body depends on the caller's token (``Cache-Control: private``).
        etag: a precomputed entity tag of ``body`` (default: computed here).
        gzip_min_size: compress compressible bodies at least this large.
        status_code: 200 unless told.
        headers: more headers.
        vary_auth: the body depends on ``Authorization`` (add it to ``Vary``).
    """
    compressible = media_type.startswith(COMPRESSIBLE)
    vary = ["Accept-Encoding"] if compressible else []
    if vary_auth:
        vary.append("Authorization")
    out = {"cache-control": cache_control(max_age, private=private)}
    if vary:
        out["vary"] = ", ".join(vary)
    if media_type.startswith("text/html"):
        # a page opened with ?token= must not hand its address to the sites it links
        out["referrer-policy"] = "no-referrer"
    if headers:
        out.update({k.lower(): v for k, v in headers.items()})
    if status_code == 200:
        tag = etag or etag_for(body)
        use_gzip = compressible and len(body) >= gzip_min_size and accepts_gzip(request)
        if use_gzip:
            # a different representation needs a different strong validator
            tag = tag[:-1] + '-gz"'
        out["etag"] = tag
        if not_modified(request.headers.get("if-none-match"), tag):
            return Response(status_code=304, headers=out)
        if use_gzip:
            body = _gzip(body, tag)
            out["content-encoding"] = "gzip"
    out["content-length"] = str(len(body))
    if request.method == "HEAD":
        return Response(b"", status_code=status_code, headers=out, media_type=media_type)
    return Response(body, status_code=status_code, headers=out, media_type=media_type)


_GZIP_CACHE: dict[str, bytes] = {}
_GZIP_CACHE_MIN = 64 * 1024  # only large bodies (viewer assets, big documents) are kept
_GZIP_CACHE_ENTRIES = 32


def _gzip(body: bytes, tag: str) -> bytes:
    """gzip a body; large ones are remembered by their ETag (static assets)."""
    if len(body) < _GZIP_CACHE_MIN:
        return gzip.compress(body, compresslevel=6, mtime=0)
    hit = _GZIP_CACHE.get(tag)
    if hit is None:
        hit = gzip.compress(body, compresslevel=6, mtime=0)
        if len(_GZIP_CACHE) >= _GZIP_CACHE_ENTRIES:
            _GZIP_CACHE.pop(next(iter(_GZIP_CACHE)))
        _GZIP_CACHE[tag] = hit
    return hit


def dump_json(data: Any) -> bytes:
    """Compact UTF-8 JSON (Chinese kept as is); dates as ISO strings."""
    return json.dumps(
        data, ensure_ascii=False, separators=(",", ":"), default=json_default, allow_nan=False
    ).encode("utf-8")


class CORS(CORSMiddleware):
    """Starlette's CORS middleware, with ``Vary: Origin`` on every response, once.

    A response differs by ``Origin`` (CORS headers or not), so a shared cache must keep
    them apart. Starlette >= 1.0 adds ``Vary: Origin`` to every response, older releases
    only to requests that carry an ``Origin``; this gives the same headers with either,
    and the tile fast path (:mod:`geobase.server.fastpath`) sends the same.
    """

    async def __call__(self, scope, receive, send) -> None:
        async def with_vary(message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                tokens = [t.strip() for v in headers.getlist("vary") for t in v.split(",")]
                seen: dict[str, str] = {}
                for t in [*tokens, "Origin"]:
                    if t:
                        seen.setdefault(t.lower(), t)
                headers["vary"] = ", ".join(seen.values())
            await send(message)

        await super().__call__(scope, receive, with_vary if scope["type"] == "http" else send)
