"""The spatial information service: access tokens and the publication log.

``access_tokens`` holds the SHA-256 hash of each bearer token (never the token itself),
the highest classification it may see and when it was revoked. ``publications`` is the
append-only log of releases (what, when, by whom, with its classification review).
"""

from geobase.store.base import Transaction


def upgrade(tx: Transaction) -> None:
    tx.create_attribute_table(
        "access_tokens",
        [
            "name TEXT NOT NULL",
            "token_hash TEXT NOT NULL UNIQUE",  # sha256 hex of the token
            "max_classification TEXT NOT NULL",  # public | internal | restricted
            "created_at DATETIME NOT NULL",
            "created_by TEXT",
            "revoked_at DATETIME",
        ],
        description="service access tokens / 服务访问令牌 (hashed)",
    )
    tx.create_index("access_tokens", ["name"])
    tx.create_attribute_table(
        "publications",
        [
            "subject TEXT NOT NULL",  # e.g. catalogue, pyramid:dom-2024, dataset:abc
            "kind TEXT NOT NULL",  # catalogue | imagery | entities | placenames | model3d | ...
            "classification TEXT NOT NULL",  # public | internal | restricted
            "reviewer TEXT NOT NULL",  # classification review (分类分级审查)
            "review_decision TEXT NOT NULL",  # approved
            "review_date DATE NOT NULL",
            "released_by TEXT NOT NULL",
            "released_at DATETIME NOT NULL",
            "notes TEXT",
        ],
        description="publication log / 发布记录 (append-only)",
    )
    tx.create_index("publications", ["kind", "released_at"])
