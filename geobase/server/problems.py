"""The service's one error boundary: any exception -> an HTTP status, by one table, and an
RFC 9457 problem body of one line.

Like titiler's ``DEFAULT_STATUS_CODES``: the first class in :data:`STATUS_CODES` that an
error is an instance of gives its status; anything unexpected is 500 with an incident id
(the traceback goes to the log, never to the client). Every error response is
``application/problem+json`` with ``type``, ``title``, ``status`` and ``detail``.
"""

from __future__ import annotations

import logging
import secrets
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
    describe_os_error,
)
from geobase.server.http import dump_json

logger = logging.getLogger(__name__)

# The service's one table: error class -> HTTP status; the first matching entry wins.
# Library errors about the request are 4xx with their one-line message; an OSError is the
# server's environment (a pyramid file gone, unreadable, a full disk), never the caller's
# fault: 404 for a file that is gone, else 503 with the cause but no server path. Anything
# else is a bug: 500, one line and an incident id, the traceback in the server's log only.
STATUS_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (InvalidToken, 401),
    (AccessDenied, 403),
    (NotFoundError, 404),
    (FileNotFoundError, 404),
    (LookupError, 404),
    (ValueError, 400),
    (OSError, 503),
    (WorkspaceError, 503),
    (GeobaseError, 500),
)


def status_for(exc: BaseException) -> int:
    """The HTTP status for an error (see :data:`STATUS_CODES`); 500 for anything else."""
    if isinstance(exc, GeobaseError | OSError):
        for cls, status in STATUS_CODES:
            if isinstance(exc, cls):
                return status
    return 500


def detail_for(exc: BaseException, status: int) -> str:
    """The one-line ``detail`` of the answer: no server path, no traceback."""
    if isinstance(exc, OSError) and not isinstance(exc, GeobaseError):
        cause = (exc.strerror or "").lower()  # no path, no advice meant for the operator
        if status == 404:
            return "the resource's data is gone from the server"
        return f"the service cannot read its data{f' ({cause})' if cause else ''}; try again later"
    if status >= 500:
        return "the service failed to answer this request"
    return " ".join(str(exc).split()) or HTTPStatus(status).phrase


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


async def error_handler(request: Request, exc: Exception) -> Response:
    """The service's one boundary for exceptions (registered for GeobaseError, OSError and
    Exception): a problem+json answer of one line, the details in the log."""
    status = status_for(exc)
    detail = detail_for(exc, status)
    where = f"{request.method} {request.url.path[:200]}"
    if status == 500 and not isinstance(exc, GeobaseError):
        incident = secrets.token_hex(4)
        logger.error("%s failed (incident %s)", where, incident, exc_info=exc)
        detail = f"{detail} (incident {incident} in the server log)"
    elif status >= 500:
        logger.error("%s failed: %s", where, exc)
    elif isinstance(exc, OSError) and not isinstance(exc, GeobaseError):
        logger.warning("%s: %s", where, describe_os_error(exc))
    return problem(status, detail)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """Starlette's HTTP errors (404 of an unknown route, 405...) as problem+json; Starlette
    registers handlers for any exception type, so anything else goes to the one boundary."""
    if not isinstance(exc, StarletteHTTPException):
        return await error_handler(request, exc)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no resource at {request.url.path[:200]!r}"
    return problem(exc.status_code, detail, headers=dict(exc.headers or {}))


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    """A request FastAPI cannot validate: 400 naming the first bad parameter."""
    if not isinstance(exc, RequestValidationError):
        return await error_handler(request, exc)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path"))
    received = first.get("input")
    got = f" (got {str(received)[:80]!r})" if isinstance(received, str | int | float) else ""
    return problem(400, f"{where or 'request'}: {first.get('msg', 'invalid')}{got}")
