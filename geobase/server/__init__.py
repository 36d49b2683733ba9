"""The spatial information service: tiles, WMTS, TileJSON, data APIs and the viewer.

Only this package and ``geobase.cli`` import FastAPI and uvicorn. Build the application
with :func:`create_app` (nothing is built at import time) and serve it with uvicorn, or
run ``geobase serve``.
"""

from geobase.server.settings import ServerSettings


def create_app(settings: ServerSettings):
    """The ASGI application for ``settings`` (see :func:`geobase.server.app.create_app`)."""
    from geobase.server.app import create_app as _create_app

    return _create_app(settings)


__all__ = ["ServerSettings", "create_app"]
