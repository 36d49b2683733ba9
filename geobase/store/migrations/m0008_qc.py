"""The acceptance checks of each dataset version (append-only).

``dataset_qc`` holds one row per checked version: when, against which product, whether
it passed, its blocking and minor defect counts, the checks that ran and, for a delivery
accepted despite blocking defects (``ingest --qc --accept-defects``), the reason given.
``dataset_qc_defects`` holds each defect with its place (EPSG:4490) so that QGIS shows
where the contractor's delivery was wrong.
"""

from geobase.store.base import Transaction


def upgrade(tx: Transaction) -> None:
    tx.create_attribute_table(
        "dataset_qc",
        [
            "dataset_id TEXT NOT NULL",
            "version INTEGER NOT NULL",
            "product TEXT NOT NULL",
            "checked_at DATETIME NOT NULL",
            "passed INTEGER NOT NULL",  # 1: no blocking defect
            "blocking INTEGER NOT NULL",
            "minor INTEGER NOT NULL",
            "checks TEXT NOT NULL",  # JSON list of the check ids that ran
            "accepted_reason TEXT",  # why a delivery with blocking defects was accepted
            "notes TEXT",  # JSON list: what could not be checked and why
            "UNIQUE (dataset_id, version)",
        ],
        description="acceptance checks of each dataset version / 成果质检",
    )
    tx.create_feature_table(
        "dataset_qc_defects",
        [
            "dataset_id TEXT NOT NULL",
            "version INTEGER NOT NULL",
            "file TEXT NOT NULL",  # as given at ingest
            "check_id TEXT NOT NULL",
            "severity TEXT NOT NULL",  # blocking | minor
            "value TEXT",
            "threshold TEXT",
            "message TEXT NOT NULL",
        ],
        "GEOMETRY",
        4490,
        description="located defects of each checked dataset version / 质检缺陷",
    )
    tx.create_index("dataset_qc_defects", ["dataset_id", "version"])
    for table in ("dataset_qc", "dataset_qc_defects"):
        for op in ("UPDATE", "DELETE"):
            tx.execute(
                f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON "
                f"{table} BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )
