"""Published tile pyramids (one row per build or update, append-only) and their sources.

The newest row for a ``path`` describes the pyramid now on disk. ``pyramid_sources``
records, for each build, the datasets painted (``dataset_id@version``) with the footprint
they had, so that ``tiles build --update`` can find what was added, superseded or removed.
"""

from geobase.store.base import Transaction


def upgrade(tx: Transaction) -> None:
    tx.create_feature_table(
        "pyramids",
        [
            "name TEXT NOT NULL",
            "path TEXT NOT NULL",  # relative to the workspace when inside it
            "store TEXT NOT NULL",  # directory | mbtiles | pmtiles
            "source TEXT NOT NULL",  # what was asked for: product code, dataset id or file
            "sources TEXT NOT NULL",  # JSON list of "dataset_id@version" (or "file:...")
            "tms TEXT NOT NULL",
            "minzoom INTEGER NOT NULL",
            "maxzoom INTEGER NOT NULL",
            "format TEXT NOT NULL",  # jpeg | png | webp
            "mode TEXT NOT NULL",  # rgb | terrain-rgb | hillshade
            "classification TEXT NOT NULL",  # the most restrictive of the sources'
            "build TEXT NOT NULL",  # full | update
            "built_at DATETIME NOT NULL",
            "seconds REAL",
            "tile_count INTEGER NOT NULL",
            "bytes INTEGER NOT NULL",
            "written_tiles INTEGER",
            "cache TEXT",  # overview cache file, relative to the workspace
            "tilejson TEXT NOT NULL",
        ],
        "MULTIPOLYGON",
        4490,
        description="published tile pyramids / 瓦片金字塔 (one row per build)",
    )
    tx.create_index("pyramids", ["path"])
    tx.create_attribute_table(
        "pyramid_sources",
        [
            "pyramid_fid INTEGER NOT NULL",
            "source TEXT NOT NULL",  # dataset_id@version, or file:<path>
            "footprint TEXT",  # WKT, EPSG:4490
        ],
        description="datasets painted into each pyramid build",
    )
    tx.create_index("pyramid_sources", ["pyramid_fid"])
