"""The dataset catalogue: one row per delivered version of a dataset (append-only).

A dataset (``dataset_id``) gets a new row, with the next ``version``, for every new
delivery; the current version of a dataset is its highest version unless a later
``dataset_events`` row removed it. The footprint (``geom``) is the valid-data footprint in
CGCS2000 geographic coordinates.
"""

from geobase.store.base import Transaction


def upgrade(tx: Transaction) -> None:
    tx.create_feature_table(
        "datasets",
        [
            "dataset_id TEXT NOT NULL",
            "version INTEGER NOT NULL",
            "product TEXT NOT NULL",
            "kind TEXT NOT NULL",  # imagery | dem | pointcloud | vector | model3d
            "title TEXT",
            "acquired_start DATE",
            "acquired_end DATE",
            "ingested_at DATETIME NOT NULL",
            "classification TEXT NOT NULL",  # public | internal | restricted
            "owner TEXT",
            "crs_wkt TEXT",
            "epsg INTEGER",
            "resolution REAL",  # metres (ground sample distance / point spacing)
            "bands INTEGER",
            "dtype TEXT",
            "nodata REAL",
            "point_count INTEGER",
            "vertical_datum TEXT",
            "path TEXT NOT NULL",  # stored file or folder, relative to the workspace
            "source_path TEXT",  # where the delivery came from
            "checksum TEXT NOT NULL",  # sha256 of the delivered file(s)
            "size INTEGER",
            "derived_from TEXT",  # JSON list of "dataset_id@version"
            "metadata TEXT",  # JSON: everything else (bands, classes, density, ...)
            "UNIQUE (dataset_id, version)",
        ],
        "MULTIPOLYGON",
        4490,
        description="dataset catalogue / 数据目录 (one row per delivered version)",
    )
    tx.create_index("datasets", ["product"])
    tx.create_index("datasets", ["checksum"])
    tx.create_attribute_table(
        "dataset_events",
        [
            "dataset_id TEXT NOT NULL",
            "version INTEGER NOT NULL",
            "event TEXT NOT NULL",  # removed
            "at DATETIME NOT NULL",
            "by_user TEXT",
            "reason TEXT",
        ],
        description="catalogue history: removals",
    )
