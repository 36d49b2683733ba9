"""QC results recorded with the datasets an ingest adds (``ingest --qc``), in the same
transaction as the datasets themselves (see migration m0008)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from geobase.qc.defects import QCReport
from geobase.store import utc_now
from geobase.store.base import Transaction


def recorder(
    report: QCReport, accepted_reason: str | None
) -> Callable[[Transaction, Sequence[Any]], None]:
    """A callback for :func:`geobase.ingest.ingest` (``on_record``) that records the
    report's results with each new dataset version of a delivered file (derived
    datasets and unchanged versions are skipped)."""

    def record(tx: Transaction, results: Sequence[Any]) -> None:
        for r in results:
            if r.status == "unchanged" or r.record.get("derived_from"):
                continue
            source = Path(r.source)
            given = next((f for f in report.files if Path(f) == source), None)
            if given is None:
                continue
            defects = report.for_file(given)
            blocking = sum(1 for d in defects if d.severity == "blocking")
            tx.insert(
                "dataset_qc",
                {
                    "dataset_id": r.dataset_id,
                    "version": r.version,
                    "product": report.product,
                    "checked_at": utc_now(),
                    "passed": int(blocking == 0),
                    "blocking": blocking,
                    "minor": len(defects) - blocking,
                    "checks": json.dumps(report.checks.get(given, [])),
                    "accepted_reason": accepted_reason if blocking else None,
                    "notes": json.dumps(
                        [n for n in report.notes if n.startswith(f"{given}:")],
                        ensure_ascii=False,
                    ),
                },
            )
            if defects:
                tx.insert_many(
                    "dataset_qc_defects",
                    [
                        {
                            "dataset_id": r.dataset_id,
                            "version": r.version,
                            "file": d.file,
                            "check_id": d.check,
                            "severity": d.severity,
                            "value": None if d.value is None else str(d.as_dict()["value"]),
                            "threshold": None
                            if d.threshold is None
                            else str(d.as_dict()["threshold"]),
                            "message": d.message,
                            "geom": tx.geom(d.geometry, 4490),
                        }
                        for d in defects
                    ],
                )
            tx.touch("dataset_qc_defects")

    return record
