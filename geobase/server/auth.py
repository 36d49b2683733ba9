"""Who is calling: the bearer token of a request, turned into a clearance.

No token: the caller is the public and sees ``public`` records only.
``Authorization: Bearer <token>`` or the query parameter ``?token=<token>`` (for QGIS and
viewers that can only add a parameter to a URL): the token must be active; its
``max_classification`` is the caller's clearance. Given both ways, they must be the same
token. Tokens in query strings are redacted from log records (:class:`RedactTokens`),
and documents listing URLs (capabilities, OGC API links) carry the caller's ``?token=``
on (:func:`token_query`), as GeoServer's authkey does, so that a client following them
stays authorised. A malformed, unknown or revoked token is refused (401) rather
than silently downgraded, so that a department notices a revoked token at once.
Verified tokens are remembered for a few seconds (``token_cache_s``) so that a tile
burst does not ask the store for every tile.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from urllib.parse import quote

from starlette.requests import Request

from geobase.catalog.access import hash_token, verify_token
from geobase.errors import InvalidToken
from geobase.store import Store

PUBLIC = "public"
TOKEN_PARAM = "token"
_TOKEN_IN_URL = re.compile(r"([?&]token=)[^&#\s\"']*", re.IGNORECASE)


class TokenChecker:
    """Resolves ``Authorization`` headers to clearances, with a short cache."""

    def __init__(self, store: Store, ttl_s: float = 5.0, max_entries: int = 1024):
        self.store = store
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def clearance(self, authorization: str | None) -> str:
        """The clearance of a request with this ``Authorization`` header value."""
        if authorization is None:
            return PUBLIC
        scheme, _, secret = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise InvalidToken("Authorization must be 'Bearer <token>'")
        secret = secret.strip()
        key = hash_token(secret)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        token = verify_token(self.store, secret)
        with self._lock:
            if len(self._cache) >= self.max_entries:
                self._cache.clear()
            self._cache[key] = (now, token.max_classification)
        return token.max_classification

    def __call__(self, request: Request) -> str:
        header = request.headers.get("authorization")
        given = query_tokens(request)
        if not given:
            return self.clearance(header)
        if len(given) > 1 or not given[0].strip():
            raise InvalidToken("give ?token=<token> once, with the token")
        secret = given[0].strip()
        if header is not None and header.strip().partition(" ")[2].strip() != secret:
            raise InvalidToken("the Authorization header and ?token= carry different tokens")
        return self.clearance(f"Bearer {secret}")


def query_tokens(request: Request) -> list[str]:
    """The values of ``?token=`` in any case (OGC KVP names are case-insensitive:
    QGIS users write ``TOKEN=``), so that no spelling is silently read as no token."""
    return [v for k, v in request.query_params.multi_items() if k.lower() == TOKEN_PARAM]


def token_query(request: Request) -> str:
    """``token=<token>`` (URL-encoded) when the request carried ``?token=``, else ``""``."""
    given = query_tokens(request)
    return f"{TOKEN_PARAM}={quote(given[0].strip(), safe='')}" if given else ""


def cached_privately(request: Request, clearance: str) -> bool:
    """Whether a response must be cached privately: it is not for the public, or its
    links carry the caller's ``?token=`` (a shared cache must never hold a token)."""
    return clearance != PUBLIC or bool(query_tokens(request))


def with_query(url: str, query: str) -> str:
    """``url`` with ``query`` (``a=b&c=d``) appended; unchanged when ``query`` is empty."""
    if not query:
        return url
    return f"{url}{'&' if '?' in url else '?'}{query}"


def redact(text: str) -> str:
    """``text`` with the value of every ``token=`` query parameter replaced by ``***``."""
    return _TOKEN_IN_URL.sub(r"\1***", text)


class RedactTokens(logging.Filter):
    """Keeps ``?token=`` values out of log records (uvicorn's access log prints the query)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "token=" in record.msg.lower():
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact(a) if isinstance(a, str) and "token=" in a.lower() else a
                for a in record.args
            )
        return True


def redact_logs(*names: str) -> None:
    """Install :class:`RedactTokens` on the named loggers (once each)."""
    for name in names:
        target = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in target.filters):
            target.addFilter(RedactTokens())
