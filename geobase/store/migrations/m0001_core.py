"""Core tables: workspace metadata and administrative districts."""

from geobase.store.base import Transaction


def upgrade(tx: Transaction) -> None:
    tx.create_attribute_table(
        "geobase_meta",
        ["key TEXT NOT NULL UNIQUE", "value TEXT"],
        description="geobase workspace metadata",
    )
    tx.create_feature_table(
        "districts",
        [
            "name TEXT NOT NULL UNIQUE",
            "name_en TEXT",
            "code TEXT",
            "source TEXT",
            "loaded_at DATETIME NOT NULL",
        ],
        "MULTIPOLYGON",
        4490,
        description="administrative districts (区县) / 行政区划",
    )
