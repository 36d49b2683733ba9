"""Ingest deliveries into the workspace: files under ``data/``, records in the catalogue.

Nothing is lost: every delivery is archived byte for byte as delivered (its checksum,
recorded as the dataset's, is verified on the archived copy); files geobase makes from it
(the web-optimised COG of a raster, a DEM from a point cloud) are derived files beside
it. ``dataset_files`` lists both with their roles, sizes and checksums.

All or nothing. Every file of one :func:`ingest` call is prepared in a staging folder
(``data/.staging/<pid>-<random>/``, locked with ``flock`` for as long as this process
lives), fsynced, and only then recorded, all in one store transaction; the staged folders
are renamed into place (``data/<product>/<dataset_id>/v<version>/``) inside that
transaction, before it commits. A failure removes the staging folder and rolls back. A
process killed mid-way leaves either a staging folder nobody holds a lock on or a
version folder no record names; :func:`cleanup` (run at the start of every ingest)
removes both.

Staging and cleanup are :mod:`geobase.ingest.staging`, preparing each kind of delivery
:mod:`geobase.ingest.prepare`; this module records them and runs an ingest.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pyproj import CRS

from geobase import dates
from geobase.catalog.products import products_for
from geobase.classification import check_classification
from geobase.errors import UnsupportedInput
from geobase.geodesy import resolve_crs
from geobase.ingest import detect
from geobase.ingest.metadata import (
    Acquired,
    parse_window,
    sha256_files,
)
from geobase.ingest.prepare import (
    _CURRENT_SQL,
    _PREPARE,
    COG_SUFFIX,
    UNKNOWN_DATE,
    Progress,
    _Options,
    _prepare_dem,
    _Prepared,
    source_files,
)
from geobase.ingest.staging import (
    ARCHIVE_CHUNK,
    DATA_DIR,
    STAGING,
    _fsync_dir,
    _fsync_tree,
    _staging,
    cleanup,
)
from geobase.names import check_name
from geobase.paths import inside
from geobase.store import Transaction, Workspace, utc_now
from geobase.values import json_default

__all__ = [
    "ARCHIVE_CHUNK",
    "COG_SUFFIX",
    "DATA_DIR",
    "DEFAULT_CLASSIFICATION",
    "STAGING",
    "UNKNOWN_DATE",
    "IngestResult",
    "OnRecord",
    "Progress",
    "cleanup",
    "ingest",
    "source_files",
]

logger = logging.getLogger(__name__)

DEFAULT_CLASSIFICATION = "internal"  # nothing is public until someone says so

OnRecord = Callable[[Transaction, list["IngestResult"]], None]


@dataclass
class IngestResult:
    """What happened to one delivery.

    ``status`` is ``ingested`` (a new dataset), ``superseded`` (a new version of an
    existing dataset), or ``unchanged`` (the same file is already the current version of
    ``dataset_id``).
    """

    dataset_id: str
    version: int
    product: str
    kind: str
    status: Literal["ingested", "superseded", "unchanged"]
    path: str
    source: str
    record: dict[str, Any] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset_id": self.dataset_id,
            "version": self.version,
            "product": self.product,
            "kind": self.kind,
            "status": self.status,
            "path": self.path,
            "source": self.source,
            "acquired_start": self.record.get("acquired_start"),
            "acquired_end": self.record.get("acquired_end"),
        }


# --- recording ------------------------------------------------------------------------


def _record(
    ws: Workspace, prepared: Sequence[_Prepared], on_record: OnRecord | None = None
) -> list[IngestResult]:
    """Record every prepared delivery in one transaction, moving its files into place;
    ``on_record`` adds its own rows (QC results) in the same transaction."""
    results: list[IngestResult] = []
    moved: list[tuple[Path, Path]] = []
    try:
        with ws.store.transaction() as tx:
            versions: dict[str, int] = {}
            for item in prepared:
                row = dict(item.row)
                dataset_id = row.pop("dataset_id")
                derived_of = item.derived_from
                stored_name = row.pop("stored_name")
                current = tx.query_one(_CURRENT_SQL, {"id": dataset_id})
                if current is not None and current["checksum"] == row["checksum"]:
                    results.append(
                        IngestResult(
                            dataset_id,
                            current["version"],
                            current["product"],
                            row["kind"],
                            "unchanged",
                            current["path"],
                            str(item.source),
                            row,
                        )
                    )
                    versions[dataset_id] = current["version"]
                    continue
                latest = tx.scalar(
                    "SELECT max(version) FROM datasets WHERE dataset_id = :id", {"id": dataset_id}
                )
                version = int(latest or 0) + 1
                versions[dataset_id] = version
                folder = Path(DATA_DIR, row["product"], dataset_id, f"v{version}")
                row.update(
                    dataset_id=dataset_id,
                    version=version,
                    ingested_at=utc_now(),
                    path=(folder / stored_name).as_posix(),
                    derived_from=json.dumps([f"{derived_of}@{versions[derived_of]}"])
                    if derived_of
                    else None,
                    metadata=json.dumps(row["metadata"], ensure_ascii=False, default=json_default),
                    geom=tx.geom(item.footprint, 4490),
                )
                tx.insert("datasets", row)
                tx.insert_many(
                    "dataset_files",
                    [
                        {
                            "dataset_id": dataset_id,
                            "version": version,
                            "role": f["role"],
                            "path": (folder / f["name"]).as_posix(),
                            "size": f["size"],
                            "sha256": f["sha256"],
                            "description": f["description"],
                        }
                        for f in item.files
                    ],
                )
                target = inside(ws.file(folder), ws.data_path(DATA_DIR), "dataset folder")
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.exists():  # left by a crash that cleanup has not seen yet
                    shutil.rmtree(target)
                os.replace(item.staged, target)
                moved.append((target, item.staged))
                _fsync_dir(target.parent)
                results.append(
                    IngestResult(
                        dataset_id,
                        version,
                        row["product"],
                        row["kind"],
                        "superseded" if latest else "ingested",
                        row["path"],
                        str(item.source),
                        row,
                    )
                )
            if on_record is not None:
                on_record(tx, results)
            if moved:
                tx.touch("datasets")
    except BaseException:
        for target, staged in reversed(moved):
            with contextlib.suppress(OSError):
                os.replace(target, staged)
        raise
    return results


def _given_window(acquired: str | Acquired | None, allow_future: bool) -> Acquired | None:
    """The caller's acquisition window, refused if it ends after today (unless allowed)."""
    if acquired is None:
        return None
    if isinstance(acquired, str):
        return parse_window(acquired, allow_future=allow_future)
    if not allow_future:
        dates.check_not_future(acquired.end, "--acquired")
    return acquired


def ingest(
    ws: Workspace,
    paths: Sequence[str | Path],
    *,
    product: str | None = None,
    acquired: str | Acquired | None = None,
    crs: str | CRS | None = None,
    classification: str = DEFAULT_CLASSIFICATION,
    owner: str | None = None,
    dataset_id: str | None = None,
    cog: bool = True,
    dem_resolution: float | None = None,
    progress: Progress | None = None,
    allow_future: bool = False,
    on_record: OnRecord | None = None,
) -> list[IngestResult]:
    """Ingest deliveries into the workspace's catalogue, all or nothing.

    Args:
        ws: the workspace.
        paths: GeoTIFFs, SRTM ``.hgt`` / ``.hgt.zip`` tiles (DEMs), LAS/LAZ/COPC,
            GeoPackage/Shapefile/GeoJSON, 3D Tiles ``tileset.json`` (or its folder).
        product: the product code (default: detected; data that fit no plan product go to
            the generic product of their kind).
        acquired: ``YYYY-MM-DD`` or ``YYYY-MM-DD/YYYY-MM-DD``; overrides dates in the data.
        crs: the CRS of data that state none (``EPSG:4548``, ``gk3:39``).
        classification: public, internal (default) or restricted.
        owner: the responsible organisation (default: a sidecar's ``owner``).
        dataset_id: the dataset id (default: from the file name); only with one path.
        cog: derive a web-optimised COG beside each raster delivery (default), which
            tiles and packages read; lossless unless the delivery is lossy or the
            product's ``cog_compression`` says otherwise. The delivery itself is kept
            byte for byte either way.
        dem_resolution: also derive a DEM at this resolution (metres) from the ground
            points of each point cloud, recorded as a dataset derived from it.
        progress: called with (deliveries done, deliveries in all).
        allow_future: accept an ``acquired`` date after today (refused by default: a
            typo such as 2099 would make the data look current for decades).
        on_record: called inside the recording transaction with the results, to record
            rows that belong with them (``geobase.qc.records.recorder``).

    Returns:
        One result per delivery (and per derived DEM), in order.

    Raises:
        SourceReadError, UnsupportedInput, MissingCRS, MissingAcquisitionDate,
        ResolutionMismatch, UnknownCRS, NotFoundError: bad input; nothing is recorded or
        left behind.

    Example:
        >>> ingest(ws, ["ortho_2023.tif"], acquired="2023-11-02")  # doctest: +SKIP
    """
    check_classification(classification)
    if dataset_id is not None and len(paths) != 1:
        raise UnsupportedInput("--dataset-id names one delivery; give one path with it")
    if dataset_id is not None:
        check_name(dataset_id, "dataset id")
    if not paths:
        raise UnsupportedInput("nothing to ingest: no path given")
    registry = products_for(ws.config.products)
    opts = _Options(
        product=product,
        acquired=_given_window(acquired, allow_future),
        crs=resolve_crs(crs) if crs is not None else None,
        classification=classification,
        owner=owner,
        dataset_id=dataset_id,
        cog=cog,
        dem_resolution=dem_resolution,
        progress=progress,
    )
    if product is not None:
        registry.get(product)  # unknown product: fail before reading anything
    cleanup(ws)
    sources = [Path(p) for p in paths]
    formats = [detect.detect_format(p) for p in sources]
    total = len(sources) + (len(sources) if dem_resolution else 0) + 1
    unchanged: dict[int, IngestResult] = {}
    with contextlib.ExitStack() as stack:
        prepared: list[_Prepared] = []
        for i, (path, fmt) in enumerate(zip(sources, formats, strict=True)):
            did = dataset_id or detect.dataset_id_for(path)
            files, root = source_files(path, fmt)
            digest = sha256_files(files, root)
            if not (fmt == "pointcloud" and dem_resolution is not None):
                with ws.store.read() as tx:
                    current = tx.query_one(_CURRENT_SQL, {"id": did})
                if current is not None and current["checksum"] == digest[0]:
                    unchanged[i] = IngestResult(
                        did,
                        current["version"],
                        current["product"],
                        current["kind"],
                        "unchanged",
                        current["path"],
                        str(path),
                        current,
                    )
                    continue
            stage = stack.enter_context(_staging(ws))
            (stage / "files").mkdir()
            item = _PREPARE[fmt](path, stage / "files", opts, registry, digest)
            item.row["dataset_id"] = did
            item.order = i
            prepared.append(item)
            if fmt == "pointcloud" and dem_resolution is not None:
                dem_stage = stack.enter_context(_staging(ws))
                (dem_stage / "files").mkdir()
                prepared.append(_prepare_dem(item, dem_stage / "files", dem_resolution, registry))
            if progress is not None:
                progress(i + 1, total)
        for item in prepared:
            item.staged.mkdir(parents=True, exist_ok=True)
            _fsync_tree(item.staged)
        recorded = _record(ws, prepared, on_record)
        if progress is not None:
            progress(total, total)
    order = [item.order for item in prepared]
    merged = sorted([*zip(order, recorded, strict=True), *unchanged.items()], key=lambda p: p[0])
    results = [r for _, r in merged]
    for r in results:
        logger.info("%s %s v%d (%s)", r.status, r.dataset_id, r.version, r.product)
    return results
