"""Every file of a dataset version with its role (append-only).

The archive keeps each delivery byte for byte as delivered (role ``delivery``); files
geobase makes from it, such as the web-optimised COG of an orthophoto or a DEM from a
point cloud's ground points, are ``derived`` files beside it, never replacements.
``datasets.path`` names the file geobase works with (the derived COG of a raster when
one was made) and ``datasets.checksum`` the delivery's digest; this table lists them all.
Paths are relative to the workspace's data root.
"""

from geobase.store.base import Transaction


def upgrade(tx: Transaction) -> None:
    tx.create_attribute_table(
        "dataset_files",
        [
            "dataset_id TEXT NOT NULL",
            "version INTEGER NOT NULL",
            "role TEXT NOT NULL",  # delivery | derived
            "path TEXT NOT NULL",  # relative to the data root
            "size INTEGER NOT NULL",  # bytes
            "sha256 TEXT NOT NULL",  # of the file (of the folder's files, for a folder)
            "description TEXT",  # what a derived file is (web-optimised COG, deflate)
            "UNIQUE (dataset_id, version, path)",
        ],
        description="the files of each dataset version: deliveries and derived files",
    )
    tx.create_index("dataset_files", ["dataset_id", "version"])
    for op in ("UPDATE", "DELETE"):
        tx.execute(
            f"CREATE TRIGGER IF NOT EXISTS dataset_files_no_{op.lower()} BEFORE {op} ON "
            "dataset_files BEGIN SELECT RAISE(ABORT, 'dataset_files is append-only'); END"
        )
