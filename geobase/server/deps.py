"""The service object the routes share, and the FastAPI dependencies that hand it out."""

from __future__ import annotations

import logging
import threading
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from geobase.server.auth import PUBLIC, TokenChecker, query_tokens
from geobase.server.http import dump_json, respond
from geobase.server.settings import ServerSettings, default_title
from geobase.store import Workspace

logger = logging.getLogger(__name__)


class Service:
    """One workspace being served: its store, settings, products, tokens and layers."""

    def __init__(self, settings: ServerSettings, ws: Workspace):
        from geobase.catalog.products import products_for
        from geobase.server.layers import LayerRegistry

        self.settings = settings
        self.ws = ws
        #: the service's title: ``[server] title``, else the workspace's name
        self.title: str = settings.title or default_title(ws.config.name)
        self.products = products_for(ws.config.products)
        self.tokens = TokenChecker(ws.store, ttl_s=settings.token_cache_s)
        self.layers = LayerRegistry(ws, cache_bytes=settings.tile_cache_mb * 2**20)
        #: the change results served (geobase.server.changes.ChangeRegistry), made on first use
        self.changes: Any = None
        if settings.nginx_public_marks is not None:
            from geobase.server.nginx import refresh_public_marks

            marks = settings.nginx_public_marks
            self.layers.on_refresh = lambda layers: refresh_public_marks(marks, layers)
            # nginx sends marked tiles without asking, so no request may come to refresh
            # the registry: a thread refreshes it (and the marks) on time
            self._stop = threading.Event()
            self._refresher = threading.Thread(
                target=self._refresh_marks, name="geobase-nginx-marks", daemon=True
            )
            self._refresher.start()

    def _refresh_marks(self) -> None:
        while True:
            try:
                self.layers.all()
            except Exception:  # refresh_public_marks logs; keep refreshing
                logger.exception("refreshing the layers for the nginx marks failed")
            if self._stop.wait(min(self.layers.refresh_s, 1.0)):
                return

    def datasets(self, **kwargs: Any):
        """Current catalogue records (all classifications: callers filter by clearance)."""
        from geobase.catalog.records import current_datasets

        return current_datasets(self.ws.store, **kwargs)

    def json(
        self,
        request: Request,
        doc: Any,
        *,
        private: bool = False,
        media_type: str = "application/json",
        max_age: int | None = None,
    ) -> Response:
        """A JSON document with ETag, caching and compression."""
        return respond(
            request,
            dump_json(doc),
            media_type,
            max_age=self.settings.api_max_age if max_age is None else max_age,
            private=private,
            gzip_min_size=self.settings.gzip_min_size,
        )

    def base_url(self, request: Request) -> str:
        """The URL clients reach the service at (``public_url`` or the request's own)."""
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/")
        return str(request.base_url).rstrip("/")

    def close(self) -> None:
        if self.settings.nginx_public_marks is not None:
            from geobase.server.nginx import clear_public_marks

            self._stop.set()
            self._refresher.join(10)
            clear_public_marks(self.settings.nginx_public_marks)
        self.layers.close()
        self.ws.close()


async def service_of(request: Request) -> Service:
    # async: a dependency that does no I/O is not worth a trip through the thread pool
    return request.app.state.service


async def clearance_of(request: Request) -> str:
    """The caller's clearance (``public`` without a token); 401 for a bad token.

    A request without a token is answered here; a token is checked in the thread pool
    (it may ask the store)."""
    if "authorization" not in request.headers and not query_tokens(request):
        return PUBLIC
    return await run_in_threadpool(request.app.state.service.tokens, request)


def get(router, path: str, **kwargs: Any):
    """Register a GET route and its HEAD twin (the twin stays out of the OpenAPI document)."""

    def decorate(endpoint):
        router.add_api_route(path, endpoint, methods=["GET"], **kwargs)
        router.add_api_route(
            path, endpoint, methods=["HEAD"], **{**kwargs, "include_in_schema": False}
        )
        return endpoint

    return decorate
