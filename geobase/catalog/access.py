"""The bearer tokens that unlock classification levels (分类分级).

Anything above public is served only to a caller holding a token whose clearance
(``max_classification``) reaches it (DOMAIN.md section 8; the levels and their order are
in :mod:`geobase.classification`). The store keeps the SHA-256 hash of each token, never
the token: :func:`create_token` returns the token once and it cannot be recovered
afterwards.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from geobase.classification import check_classification
from geobase.errors import InvalidToken, NotFoundError, ValidationError
from geobase.names import check_name
from geobase.store import Store, utc_now

TOKEN_PREFIX = "gbt_"
# gbt_ + 43 url-safe base64 characters (32 random bytes)
_TOKEN_RE = re.compile(r"^gbt_[A-Za-z0-9_-]{43}$")


@dataclass(frozen=True)
class AccessToken:
    """A token's record (without the secret)."""

    id: int
    name: str
    max_classification: str
    created_at: str
    created_by: str | None = None
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_token(secret: str) -> str:
    """The SHA-256 hex digest stored for a token."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _row_to_token(row: dict) -> AccessToken:
    return AccessToken(
        id=int(row["fid"]),
        name=row["name"],
        max_classification=row["max_classification"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        revoked_at=row["revoked_at"],
    )


_COLUMNS = "fid, name, max_classification, created_at, created_by, revoked_at"


def create_token(
    store: Store,
    name: str,
    max_classification: str = "internal",
    *,
    created_by: str | None = None,
) -> tuple[AccessToken, str]:
    """Create a bearer token; returns its record and the token (shown once, never stored).

    Args:
        store: the workspace store.
        name: who or what holds the token (a department, a service): a name of
            :mod:`geobase.names` (ASCII letters, digits, ``_ . -``); unique among active
            tokens.
        max_classification: the highest classification the token may see.
        created_by: the person creating it.

    Raises:
        UnknownClassification: ``max_classification`` is not a known level.
        InvalidName: the name is malformed.
        ValidationError: the name is already held by an active token.
    """
    check_classification(max_classification)
    check_name(name, "token name")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with store.transaction() as tx:
        taken = tx.scalar(
            "SELECT count(*) FROM access_tokens WHERE name = :name AND revoked_at IS NULL",
            {"name": name},
        )
        if taken:
            raise ValidationError(
                f"an active token named {name!r} exists; revoke it first or choose another name"
            )
        row = {
            "name": name,
            "token_hash": hash_token(secret),
            "max_classification": max_classification,
            "created_at": utc_now(),
            "created_by": created_by,
            "revoked_at": None,
        }
        fid = tx.insert("access_tokens", row)
    return _row_to_token({"fid": fid, **row}), secret


def list_tokens(store: Store, *, include_revoked: bool = True) -> list[AccessToken]:
    """All tokens (newest first), without their secrets."""
    where = "" if include_revoked else "WHERE revoked_at IS NULL"
    with store.read() as tx:
        rows = tx.query(f"SELECT {_COLUMNS} FROM access_tokens {where} ORDER BY fid DESC")
    return [_row_to_token(r) for r in rows]


def revoke_token(store: Store, name: str) -> list[AccessToken]:
    """Revoke the active token(s) named ``name``; returns what was revoked.

    Raises:
        NotFoundError: no active token has that name.
    """
    now = utc_now()
    with store.transaction() as tx:
        rows = tx.query(
            f"SELECT {_COLUMNS} FROM access_tokens WHERE name = :name AND revoked_at IS NULL",
            {"name": name},
        )
        if not rows:
            raise NotFoundError(f"no active token named {name!r}; see 'geobase token list'")
        tx.execute(
            "UPDATE access_tokens SET revoked_at = :now WHERE name = :name AND revoked_at IS NULL",
            {"now": now, "name": name},
        )
    return [_row_to_token({**r, "revoked_at": now}) for r in rows]


def verify_token(store: Store, secret: str) -> AccessToken:
    """The active token a secret belongs to.

    Raises:
        InvalidToken: the secret is malformed, unknown or revoked.
    """
    if not _TOKEN_RE.match(secret or ""):
        raise InvalidToken("bearer token is malformed (expected gbt_ and 43 characters)")
    with store.read() as tx:
        row = tx.query_one(
            f"SELECT {_COLUMNS} FROM access_tokens WHERE token_hash = :h",
            {"h": hash_token(secret)},
        )
    if row is None:
        raise InvalidToken("bearer token is not known to this workspace")
    token = _row_to_token(row)
    if not token.active:
        raise InvalidToken(f"bearer token {token.name!r} was revoked at {token.revoked_at}")
    return token
