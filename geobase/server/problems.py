"""Library errors -> HTTP statuses, with one table, and RFC 9457 problem bodies.

Like titiler's ``DEFAULT_STATUS_CODES``: the first class in :data:`STATUS_CODES` that an
error is an instance of gives its status. Every error response is
``application/problem+json`` with ``type``, ``title``, ``status`` and ``detail``.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from geobase.errors import (
    AccessDenied,
    GeobaseError,
    InvalidToken,
    NotFoundError,
    WorkspaceError,
)
from geobase.server.http import dump_json

logger = logging.getLogger(__name__)

STATUS_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (InvalidToken, 401),
    (AccessDenied, 403),
    (NotFoundError, 404),
    (LookupError, 404),
    (ValueError, 400),
    (WorkspaceError, 503),
    (GeobaseError, 500),
)


def status_for(exc: BaseException) -> int:
    """The HTTP status for a library error (see :data:`STATUS_CODES`)."""
    for cls, status in STATUS_CODES:
        if isinstance(exc, cls):
            return status
    return 500


def problem(status: int, detail: str, *, headers: dict[str, str] | None = None) -> Response:
    """An ``application/problem+json`` response."""
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    out = {"cache-control": "no-store", **(headers or {})}
    if status == 401:
        out.setdefault("www-authenticate", 'Bearer realm="geobase", error="invalid_token"')
    return Response(
        dump_json(body), status_code=status, headers=out, media_type="application/problem+json"
    )


async def geobase_error_handler(request: Request, exc: Exception) -> Response:
    status = status_for(exc)
    if status >= 500:
        logger.error("%s %s failed: %s", request.method, request.url.path, exc)
        return problem(status, "the service failed to answer this request")
    return problem(status, str(exc))


async def http_error_handler(request: Request, exc: StarletteHTTPException) -> Response:
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no resource at {request.url.path[:200]!r}"
    return problem(exc.status_code, detail, headers=dict(exc.headers or {}))


async def validation_error_handler(request: Request, exc: RequestValidationError) -> Response:
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path"))
    received = first.get("input")
    got = f" (got {str(received)[:80]!r})" if isinstance(received, str | int | float) else ""
    return problem(400, f"{where or 'request'}: {first.get('msg', 'invalid')}{got}")
