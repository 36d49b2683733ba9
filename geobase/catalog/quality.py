"""The acceptance-check result recorded with a dataset version (``ingest --qc``), as
``catalog show`` lists it."""

from __future__ import annotations

import json
from typing import Any

from geobase.store import Store


def qc_result(store: Store, dataset_id: str, version: int) -> dict[str, Any] | None:
    """The version's QC summary and defects (without geometries), or None when it was
    ingested without ``--qc``."""
    with store.read() as tx:
        row = tx.query_one(
            "SELECT product, checked_at, passed, blocking, minor, checks, accepted_reason, "
            "notes FROM dataset_qc WHERE dataset_id = :id AND version = :v",
            {"id": dataset_id, "v": version},
        )
        if row is None:
            return None
        defects = tx.query(
            "SELECT file, check_id, severity, value, threshold, message "
            "FROM dataset_qc_defects WHERE dataset_id = :id AND version = :v ORDER BY fid",
            {"id": dataset_id, "v": version},
        )
    return {
        "product": row["product"],
        "checked_at": row["checked_at"],
        "passed": bool(row["passed"]),
        "blocking": int(row["blocking"]),
        "minor": int(row["minor"]),
        "accepted_reason": row["accepted_reason"],
        "checks": json.loads(row["checks"]),
        "notes": json.loads(row["notes"] or "[]"),
        "defects": [
            {
                "check": d["check_id"],
                "severity": d["severity"],
                "value": d["value"],
                "threshold": d["threshold"],
                "message": d["message"],
            }
            for d in defects
        ],
    }
