"""The ASGI application: ``create_app(settings)`` (nothing is built at import time).

Example:
    >>> from geobase.server import ServerSettings, create_app
    >>> app = create_app(ServerSettings(workspace="/data/shantou"))  # doctest: +SKIP
    >>> import uvicorn; uvicorn.run(app, port=8000)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from geobase import __version__
from geobase.errors import GeobaseError
from geobase.server import problems
from geobase.server.auth import redact_logs
from geobase.server.deps import Service, get
from geobase.server.fastpath import TileFastPath
from geobase.server.http import CORS
from geobase.server.settings import ServerSettings
from geobase.store import Workspace

logger = logging.getLogger(__name__)

WORKSPACE_ENV = "GEOBASE_WORKSPACE"
CHANGES_ENV = "GEOBASE_SERVER_CHANGES"


class GeobaseApp(FastAPI):
    """FastAPI, with cached public tiles answered before the middleware stack and routing
    (:mod:`geobase.server.fastpath`: the same answer as the tile route, less work)."""

    fast_path: TileFastPath | None = None

    async def __call__(self, scope, receive, send) -> None:
        if self.fast_path is not None:
            started = False

            async def tracked(message) -> None:
                nonlocal started
                started = True
                await send(message)

            try:
                if await self.fast_path(scope, tracked):
                    return
            except Exception:
                if started:
                    raise
                # nothing sent yet: the full route answers, through the error boundary
                logger.exception("tile fast path failed; answering through the application")
        await super().__call__(scope, receive, send)


def create_app(settings: ServerSettings) -> FastAPI:
    """The spatial information service for one workspace.

    Args:
        settings: what to serve and how (see :class:`ServerSettings`).

    Raises:
        WorkspaceNotFound: ``settings.workspace`` holds no workspace.
    """
    ws = Workspace.open(settings.workspace)
    settings = settings.for_service(ws.config.name)
    service = Service(settings, ws)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    app = GeobaseApp(
        title=service.title,
        version=__version__,
        description=(
            "Tiles (XYZ, OGC API - Tiles, WMTS 1.0.0, TileJSON 3.0), the resource catalogue, "
            "coverage, public control points and the publication log of a geobase workspace. "
            "Anything not public needs `Authorization: Bearer <token>` or `?token=<token>` "
            "(`geobase token create`)."
        ),
        openapi_url="/api/openapi.json",
        docs_url=None,  # Swagger UI would load its assets from a CDN
        redoc_url=None,
        lifespan=lifespan,
    )
    # the full route is the fast path's reference: [server] tile_fast_path = false
    app.fast_path = TileFastPath(service) if settings.tile_fast_path else None
    app.state.service = service
    app.state.settings = settings

    for family in (GeobaseError, OSError, Exception):  # Exception: Starlette's 500 layer
        app.add_exception_handler(family, problems.error_handler)
    app.add_exception_handler(StarletteHTTPException, problems.http_error_handler)
    app.add_exception_handler(RequestValidationError, problems.validation_error_handler)

    from geobase.server import api, changes, nginx, ogcapi, tiles, viewer, wmts

    # uvicorn's access log prints query strings, which may hold ?token=
    redact_logs("uvicorn.access", "uvicorn.error")
    app.include_router(api.router)
    app.include_router(changes.router)
    app.include_router(tiles.router)
    app.include_router(wmts.router)
    app.include_router(ogcapi.router)
    app.include_router(viewer.router)
    app.include_router(nginx.router)

    @get(app.router, "/health", summary="Health / 健康检查")
    def health(request: Request) -> Response:
        """Whether the service can read its store."""
        schema = ws.store.schema_version
        return service.json(
            request,
            {"status": "ok", "version": __version__, "schema": schema},
            max_age=0,
        )

    app.add_middleware(
        CORS,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "HEAD", "OPTIONS"],
        allow_headers=["Authorization", "If-None-Match"],
        expose_headers=["ETag", "Content-Length"],
        max_age=3600,
    )
    return app


def app_from_env() -> FastAPI:
    """An app for the workspace named by ``GEOBASE_WORKSPACE`` (for ``uvicorn --factory``)."""
    root = os.environ.get(WORKSPACE_ENV)
    if not root:
        raise RuntimeError(f"{WORKSPACE_ENV} is not set")
    overrides = {}
    if os.environ.get("GEOBASE_SERVER_PUBLIC_URL"):
        overrides["public_url"] = os.environ["GEOBASE_SERVER_PUBLIC_URL"]
    settings = ServerSettings.for_workspace(root, **overrides)
    if os.environ.get(CHANGES_ENV):  # geobase serve --changes, with several workers
        extra = [Path(p) for p in os.environ[CHANGES_ENV].split(os.pathsep) if p]
        settings = settings.model_copy(update={"changes": [*settings.changes, *extra]})
    return create_app(settings)
