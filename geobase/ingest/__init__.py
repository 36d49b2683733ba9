"""Ingestion: imagery, DEMs, point clouds, vector maps and 3D models -> catalogue records.

Example:
    >>> from geobase.ingest import ingest
    >>> ingest(ws, ["ortho.tif"], acquired="2023-11-02")  # doctest: +SKIP
"""

from geobase.ingest.pipeline import (
    CLASSIFICATIONS,
    DEFAULT_CLASSIFICATION,
    IngestResult,
    cleanup,
    ingest,
)

__all__ = ["CLASSIFICATIONS", "DEFAULT_CLASSIFICATION", "IngestResult", "cleanup", "ingest"]
