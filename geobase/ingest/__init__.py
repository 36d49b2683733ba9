"""Ingestion: imagery, DEMs, point clouds, vector maps and 3D models -> catalogue records.

The readers (``raster``, ``pointcloud``, ``vector``, ``model3d``) import only what they
need; the pipeline (and the store, catalogue and geopandas with it) is imported on first
use of :func:`ingest` or :func:`cleanup`.

Example:
    >>> from geobase.ingest import ingest
    >>> ingest(ws, ["ortho.tif"], acquired="2023-11-02")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

__all__ = ["DEFAULT_CLASSIFICATION", "IngestResult", "cleanup", "ingest"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from geobase.ingest import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'geobase.ingest' has no attribute {name!r}")
