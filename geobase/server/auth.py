"""Who is calling: the bearer token of a request, turned into a clearance.

No ``Authorization`` header: the caller is the public and sees ``public`` records only.
``Authorization: Bearer <token>``: the token must be active; its ``max_classification``
is the caller's clearance. A malformed, unknown or revoked token is refused (401) rather
than silently downgraded, so that a department notices a revoked token at once.
Verified tokens are remembered for a few seconds (``token_cache_s``) so that a tile
burst does not ask the store for every tile.
"""

from __future__ import annotations

import threading
import time

from starlette.requests import Request

from geobase.catalog.access import hash_token, verify_token
from geobase.errors import InvalidToken
from geobase.store import Store

PUBLIC = "public"


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
        return self.clearance(request.headers.get("authorization"))
