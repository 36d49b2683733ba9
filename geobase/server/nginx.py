"""nginx in front of geobase: a configuration in which nginx sends tiles from disk.

``geobase serve`` answers everything itself; at city scale nginx sends static files
several times faster. :func:`nginx_config` writes an nginx ``http {}`` snippet (from the
``templates/nginx.conf.j2`` template) that

- sends the tiles of every *directory* pyramid straight from its folder,
- but only after asking geobase (``auth_request`` to :data:`AUTH_PATH`, answered by
  :func:`tile_access`) whether this caller may have this pyramid's tiles now: the
  configuration names no classification, so a pyramid reclassified from public to
  restricted, moved or rebuilt in another format is refused by nginx as soon as geobase
  knows (its registry refreshes every few seconds); geobase also checks that the folder
  still holds the build it judged (:func:`build_on_disk`), so a build swapped in before
  the registry sees its record is never sent on the old record's word. By default
  nginx asks for every tile; ``auth_cache_s`` > 0 keeps geobase's answer to *anonymous*
  requests that long (cheaper public tiles, but a window after a stricter rebuild).
  Requests with a token are never answered from that cache,
- hands everything else to geobase: the viewer, /api, /wmts, OGC API, PMTiles and MBTiles
  pyramids (plain nginx cannot read a tile out of an archive; build directory pyramids
  for what nginx should send), and every refusal or missing tile, so that callers get
  geobase's own 401/404 answers and a restricted pyramid stays indistinguishable from a
  missing one.

Example:
    >>> AUTH_PATH
    '/_nginx/tile-access'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from geobase.classification import may_see
from geobase.errors import ValidationError
from geobase.server.deps import Service, service_of
from geobase.server.fastpath import TILE_PATH
from geobase.server.http import cache_control
from geobase.server.layers import Layer
from geobase.store import Workspace

AUTH_PATH = "/_nginx/tile-access"
TEMPLATE = "nginx.conf.j2"
# what may stand inside a double-quoted nginx string without escaping or expansion
_SAFE_PATH = re.compile(r"^[^\s\"'\\$;{}#]+$")
_LISTEN = re.compile(r"^(?:[A-Za-z0-9.\-]+:|\[[0-9A-Fa-f:]+\]:)?[0-9]{1,5}$")
_UPSTREAM = re.compile(r"^(?:[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:]+\]):[0-9]{1,5}$|^unix:/[^\s;{}\"'$]+$")
_ORIGIN = re.compile(r"^\*$|^[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'\\$;{}#/]+$")
_SERVER_NAME = re.compile(r"^[A-Za-z0-9.\-_* ]+$")

router = APIRouter()


@dataclass(frozen=True)
class NginxConfig:
    """An emitted configuration and what it does with each pyramid.

    Attributes:
        text: the nginx ``http {}`` snippet.
        direct: pyramids nginx sends from their folders (after asking geobase).
        proxied: pyramids in archives (PMTiles, MBTiles), whose tiles nginx asks geobase for.
    """

    text: str
    direct: tuple[str, ...]
    proxied: tuple[str, ...]


def nginx_config(
    ws: Workspace,
    *,
    upstream: str = "127.0.0.1:8000",
    listen: str = "80",
    server_name: str = "_",
    cache_dir: Path | str = "/var/cache/nginx/geobase",
    access_log: Path | str = "/var/log/nginx/geobase-access.log",
    auth_cache_s: int = 0,
    cors_origins: list[str] | None = None,
    marks_dir: Path | str | None = None,
    tile_max_age: int = 3600,
) -> NginxConfig:
    """The nginx configuration (an ``http {}`` snippet) for serving ``ws`` (module docstring).

    Args:
        ws: the workspace ``geobase serve`` serves.
        upstream: where geobase listens (``host:port`` or ``unix:/path``).
        listen: nginx's ``listen`` (``port`` or ``address:port``).
        server_name: nginx's ``server_name``.
        cache_dir: the folder of nginx's cache of anonymous access answers.
        access_log: nginx's access log (written without query strings and referrers,
            which may carry ``?token=``).
        auth_cache_s: seconds nginx keeps geobase's answer to anonymous tile requests
            (default 0: ask geobase for every tile). Above 0 public tiles are cheaper, but
            for that long after a build is swapped into a folder nginx may send its
            tiles on the old answer: use it only for pyramids never rebuilt stricter.
        cors_origins: the server's ``cors_origins`` (default ``["*"]``): the origins
            static tiles are allowed to (``Access-Control-Allow-Origin``).
        marks_dir: the server's ``nginx_public_marks`` folder: when given, nginx sends
            an anonymous request's tile without asking while geobase keeps the
            pyramid's mark there (:func:`refresh_public_marks`: public, and its folder
            holds the build geobase judged); the rest is asked as without it.
        tile_max_age: the server's ``tile_max_age`` (``Cache-Control`` of tiles sent
            on a mark).

    Raises:
        ValidationError: an argument or a pyramid's folder cannot be written into an
            nginx configuration safely.
    """
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    from geobase.server.layers import LayerRegistry

    _check(_LISTEN, listen, "listen address", "PORT or ADDRESS:PORT")
    _check(_UPSTREAM, upstream, "geobase upstream", "HOST:PORT or unix:/PATH")
    _check(_SERVER_NAME, server_name, "server name", "names separated by spaces")
    _check(_SAFE_PATH, str(cache_dir), "cache folder", "a path without spaces, quotes, $ ; { }")
    origins = ["*"] if cors_origins is None else list(cors_origins)
    for origin in origins:
        _check(_ORIGIN, origin, "CORS origin", "* or scheme://host[:port]")
    _check(_SAFE_PATH, str(access_log), "access log", "a path without spaces, quotes, $ ; { }")
    if marks_dir is not None:
        _check(_SAFE_PATH, str(marks_dir), "marks folder", "a path without spaces, quotes, $ ; { }")
    if not 0 <= auth_cache_s <= 3600:
        raise ValidationError(f"auth cache time {auth_cache_s} s is not within 0-3600 s")
    registry = LayerRegistry(ws, cache_bytes=0)
    try:
        layers = sorted(registry.all().values(), key=lambda layer: layer.name)
    finally:
        registry.close()
    pyramids: list[dict[str, Any]] = []
    proxied: list[str] = []
    for layer in layers:
        if not layer.path.is_dir():  # PMTiles, MBTiles: served by geobase
            proxied.append(layer.name)
            continue
        _check(
            _SAFE_PATH,
            str(layer.path),
            f"folder of pyramid {layer.name!r}",
            "a path without spaces, quotes, $ ; { } (move the pyramid or serve it by geobase)",
        )
        pyramids.append(
            {
                "name": layer.name,
                "name_re": re.escape(layer.name),
                "ext_re": "|".join(layer.extensions),
                "file_ext": layer.ext,
                "media_type": layer.media_type,
                "format": layer.format,
                "tms": layer.tms_id,
                "path": str(layer.path),
            }
        )
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # an nginx configuration, not HTML: every value is checked above
    )
    text = env.get_template(TEMPLATE).render(
        workspace=str(ws.root),
        upstream=upstream,
        listen=listen,
        server_name=server_name,
        cache_dir=str(cache_dir),
        access_log=str(access_log),
        auth_cache_s=int(auth_cache_s),
        auth_path=AUTH_PATH,
        cors_any="*" in origins,
        cors_origins=origins,
        pyramids=pyramids,
        marks_dir=None if marks_dir is None else str(marks_dir),
        public_cache_control=cache_control(tile_max_age),
    )
    return NginxConfig(text, tuple(p["name"] for p in pyramids), tuple(proxied))


def upstream_for(host: str, port: int) -> str:
    """nginx's address of a geobase listening on ``host``:``port`` (a wildcard address is
    reached on loopback; IPv6 addresses in brackets).

    Example:
        >>> upstream_for("0.0.0.0", 8000), upstream_for("::1", 8000)
        ('127.0.0.1:8000', '[::1]:8000')
    """
    host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


def _check(pattern: re.Pattern, value: str, what: str, expected: str) -> None:
    if not pattern.match(value):
        raise ValidationError(f"{what} {value[:120]!r} cannot go into an nginx file ({expected})")


@router.get(AUTH_PATH, include_in_schema=False)
def tile_access(request: Request, service: Annotated[Service, Depends(service_of)]) -> Response:
    """nginx's ``auth_request``: may the caller of ``X-Original-URI`` have that tile of
    pyramid ``X-Geobase-Pyramid`` from folder ``X-Geobase-Store``?

    204 (with the tile's ``Cache-Control`` and ``Vary``) if so; 403 if the caller may not
    see the pyramid, the URI is not one of its tiles as nginx matched it, or the pyramid's
    store or format is no longer what nginx was configured with (nginx then asks geobase
    for the tile, which gives its own answer); 401 for a bad token.
    """
    headers = request.headers
    name = headers.get("x-geobase-pyramid", "")
    store = _utf8(headers.get("x-geobase-store", ""))
    original = urlsplit(_utf8(headers.get("x-original-uri", "")))
    match = TILE_PATH.match(original.path)
    if match is None or match.group(1) != name:
        return Response(status_code=403)
    # the caller's own request (its Authorization header and ?token=), as geobase reads it
    caller = Request(
        {**request.scope, "path": original.path, "query_string": original.query.encode()}
    )
    clearance = service.tokens(caller)
    layer = service.layers.all().get(name)
    if (
        layer is None
        or not may_see(layer.classification, clearance)
        or str(layer.path) != store
        or match.group(5) not in layer.extensions
        # nginx reads the folder's files now: they must be the build geobase judged (a
        # build swapped in before geobase's registry sees its record is refused, so a
        # restricted build is never sent on a public record's word)
        or build_on_disk(layer.path) != layer.build
    ):
        return Response(status_code=403)
    public = layer.classification == "public"
    out = {"cache-control": cache_control(service.settings.tile_max_age, private=not public)}
    if not public:
        out["vary"] = "Authorization"
    return Response(status_code=204, headers=out)


_ON_DISK: dict[Path, tuple[tuple[int, int], str | None]] = {}


def build_on_disk(folder: Path) -> str | None:
    """The build id of the tiles in a directory pyramid's folder now.

    Re-read only when its ``tilejson.json`` is another file or was rewritten (a build
    swapped in replaces it), so a tile request costs one ``stat``. None where the folder
    holds no readable pyramid.
    """
    from geobase.tiles.stores import open_pyramid

    try:
        stat = (folder / "tilejson.json").stat()
    except OSError:
        return None
    key = (stat.st_ino, stat.st_mtime_ns)
    known = _ON_DISK.get(folder)
    if known is not None and known[0] == key:
        return known[1]
    try:
        with open_pyramid(folder) as reader:
            build = reader.build_id
    except Exception:  # a folder being swapped or damaged: nothing nginx may send
        return None
    _ON_DISK[folder] = (key, build)
    return build


MARK_SUFFIX = ".public"


def refresh_public_marks(folder: Path, layers: Mapping[str, Layer]) -> set[str]:
    """Keep ``<name>.public`` in ``folder`` for exactly the directory pyramids anybody
    may have now; returns their names.

    A pyramid is marked while it is public and its folder holds the build geobase's
    record describes (:func:`build_on_disk`); the mark is removed as soon as a refresh
    finds otherwise (reclassified, moved, another build swapped in), so nginx sends
    anonymous tiles on a mark at most one registry refresh (plus nginx's one-second
    file cache) after it stopped being true; with several server workers, each keeping
    the marks from its own refresh, up to two. Everything else nginx asks geobase for.
    """
    folder.mkdir(parents=True, exist_ok=True)
    marked = {
        name
        for name, layer in layers.items()
        if layer.classification == "public"
        and layer.path.is_dir()
        and build_on_disk(layer.path) == layer.build
    }
    for existing in folder.glob(f"*{MARK_SUFFIX}"):
        if existing.name.removesuffix(MARK_SUFFIX) not in marked:
            existing.unlink(missing_ok=True)
    for name in marked:
        mark = folder / f"{name}{MARK_SUFFIX}"
        if not mark.exists():
            mark.touch()
    return marked


def clear_public_marks(folder: Path) -> None:
    """Remove every mark (the server stops: nginx asks, and is refused, until it is back)."""
    for existing in folder.glob(f"*{MARK_SUFFIX}"):
        existing.unlink(missing_ok=True)


def _utf8(value: str) -> str:
    """A header value nginx sent as UTF-8 bytes (Starlette decodes headers as Latin-1)."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value
