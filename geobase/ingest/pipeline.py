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
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import shapely
from pyproj import CRS

from geobase import dates
from geobase.catalog.products import products_for
from geobase.classification import check_classification
from geobase.errors import OutsideWorkspace, SourceReadError, UnsupportedInput
from geobase.geodesy import resolve_crs
from geobase.ingest import detect, model3d, pointcloud, raster, srtm, vector
from geobase.ingest.metadata import (
    Acquired,
    choose_acquired,
    crs_fields,
    parse_window,
    read_sidecar,
    sha256_files,
)
from geobase.names import check_name
from geobase.paths import inside
from geobase.store import Transaction, Workspace, utc_now
from geobase.store.leftovers import abandoned
from geobase.values import json_default

logger = logging.getLogger(__name__)

DEFAULT_CLASSIFICATION = "internal"  # nothing is public until someone says so
DATA_DIR = "data"
STAGING = ".staging"
_VERSION_DIR = re.compile(r"^v\d+$")
COG_SUFFIX = ".cog.tif"  # the derived COG beside a raster delivery: ortho.tif -> ortho.cog.tif
ARCHIVE_CHUNK = 1 << 22

Progress = Callable[[int, int | None], None]
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


@dataclass
class _Prepared:
    """A delivery read, checked and staged, ready to be recorded."""

    row: dict[str, Any]
    footprint: shapely.MultiPolygon
    staged: Path  # folder with the files to store
    source: Path
    # the files of the version: role (delivery | derived), name (relative to the
    # version folder), size, sha256, description
    files: list[dict[str, Any]] = field(default_factory=list)
    order: float = 0.0  # where its result goes among the results (a derived DEM: +0.5)
    derived_from: str | None = None  # the dataset id a derived dataset is made from
    cloud: pointcloud.PointCloudInfo | None = None  # a point cloud's header, for its DEM


# --- staging and cleanup ----------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    for folder, _dirs, files in os.walk(path):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(folder))


@contextlib.contextmanager
def _staging(ws: Workspace) -> Iterator[Path]:
    """A locked staging folder, removed when the block ends (whatever happens)."""
    base = ws.data_path(DATA_DIR, STAGING)
    base.mkdir(parents=True, exist_ok=True)
    inside(base, ws.data_path(DATA_DIR), "staging folder")
    folder = base / f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    folder.mkdir()
    lock = open(folder / ".lock", "w")  # noqa: SIM115 - held for the whole block
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        lock.close()


def _creator_alive(folder: Path) -> bool:
    """Whether the process named in a staging folder's name (``<pid>-<id>``) runs: a
    folder exists for a moment before its lock is taken, and must not be taken for a
    killed ingest's in that moment. This process's own folders are decided by their lock."""
    pid = folder.name.split("-", 1)[0]
    if not pid.isdigit() or int(pid) == os.getpid():
        return False
    return not abandoned(int(pid))


def cleanup(ws: Workspace) -> list[Path]:
    """Remove what killed ingests left behind; returns the removed paths.

    A staging folder whose lock no living process holds is removed. A version folder
    under ``data/<product>/<dataset_id>/`` that no catalogue record names is removed too;
    this is decided inside a write transaction, when no other ingest can be between its
    rename and its commit.
    """
    removed: list[Path] = []
    base = ws.data_path(DATA_DIR, STAGING)
    try:  # never clean a folder elsewhere that a link names
        inside(base, ws.data_path(DATA_DIR), "staging folder")
        staging_ours = True
    except OutsideWorkspace as exc:
        logger.warning("staging leftovers not removed: %s", exc)
        staging_ours = False
    if staging_ours and base.is_dir():
        for folder in base.iterdir():
            if _creator_alive(folder):
                continue  # made by a running ingest, perhaps not locked yet
            lock_path = folder / ".lock"
            try:
                with open(lock_path, "a") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    shutil.rmtree(folder, ignore_errors=True)
            except BlockingIOError:
                continue  # a live ingest holds it
            except (FileNotFoundError, NotADirectoryError):
                if folder.exists():
                    shutil.rmtree(
                        folder, ignore_errors=True
                    ) if folder.is_dir() else folder.unlink()
            removed.append(folder)
    data = ws.data_path(DATA_DIR)
    if not data.is_dir():
        return removed
    with ws.store.transaction() as tx:
        known = {row["path"] for row in tx.query("SELECT path FROM datasets")}
        known_dirs = {str(Path(p).parent) for p in known} | known
        for product_dir in data.iterdir():
            if product_dir.name.startswith(".") or not product_dir.is_dir():
                continue
            for dataset_dir in product_dir.iterdir():
                if not dataset_dir.is_dir():
                    continue
                for version_dir in dataset_dir.iterdir():
                    if not _VERSION_DIR.match(version_dir.name):
                        continue
                    rel = ws.stored_path(version_dir)
                    if rel not in known_dirs:
                        try:  # never delete through a link that leads out of data/
                            inside(version_dir, data, "left version folder")
                        except OutsideWorkspace as exc:
                            logger.warning("not removed: %s", exc)
                            continue
                        shutil.rmtree(version_dir, ignore_errors=True)
                        removed.append(version_dir)
    for path in removed:
        logger.info("removed what an interrupted ingest left: %s", path)
    return removed


def _archive(src: Path, dst: Path) -> tuple[str, int]:
    """Copy a delivered file byte for byte; returns the sha256 and size of what was written."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while block := fin.read(ARCHIVE_CHUNK):
            digest.update(block)
            fout.write(block)
            size += len(block)
    shutil.copystat(src, dst)
    return digest.hexdigest(), size


def _keep(
    files: Sequence[Path], stage: Path, root: Path | None, digest: tuple[str, int]
) -> list[dict[str, Any]]:
    """Archive a delivery's files under ``stage`` (names relative to ``root``, else their
    own names) and check the copies against the delivery's checksum.

    Raises:
        SourceReadError: the files changed between their checksum and their copy (a
            delivery still being written).
    """
    entries: list[dict[str, Any]] = []
    for f in files:
        name = f.relative_to(root).as_posix() if root is not None else f.name
        sha, size = _archive(f, stage / name)
        entries.append(
            {"role": "delivery", "name": name, "size": size, "sha256": sha, "description": None}
        )
    if len(files) == 1:
        kept = (entries[0]["sha256"], entries[0]["size"])
    else:
        kept = sha256_files([stage / e["name"] for e in entries], stage)
    if kept != tuple(digest):
        raise SourceReadError(
            f"{files[0].name}: changed while being ingested (sha256 {digest[0][:12]}... "
            f"before the copy, {kept[0][:12]}... after); likely still being written"
        )
    return entries


def _derived(path: Path, name: str, description: str) -> dict[str, Any]:
    sha, size = sha256_files([path])
    return {
        "role": "derived",
        "name": name,
        "size": size,
        "sha256": sha,
        "description": description,
    }


# --- preparing each kind ----------------------------------------------------------------


@dataclass
class _Options:
    product: str | None
    acquired: Acquired | None
    crs: CRS | None
    classification: str
    owner: str | None
    dataset_id: str | None
    cog: bool
    dem_resolution: float | None
    progress: Progress | None


def _file_digest(path: Path) -> dict[str, Any]:
    digest, size = sha256_files([path])
    return {"sha256": digest, "size": size}


def _base_row(path: Path, opts: _Options, sidecar: dict[str, Any], kind: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "title": sidecar.get("title") or path.name,
        "classification": opts.classification,
        "owner": opts.owner or sidecar.get("owner"),
        "source_path": str(path.absolute()),
    }


UNKNOWN_DATE = "unknown: no date in the data or a sidecar; set it with --acquired"


def _set_acquired(row: dict[str, Any], acquired: Acquired | None, meta: dict[str, Any]) -> None:
    row["acquired_start"] = acquired.start.isoformat() if acquired else None
    row["acquired_end"] = acquired.end.isoformat() if acquired else None
    meta["acquired_source"] = acquired.source if acquired else UNKNOWN_DATE


def _prepare_raster(
    path: Path, stage: Path, opts: _Options, registry, digest: tuple[str, int]
) -> _Prepared:
    info = raster.read_info(path, opts.crs)
    sidecar = read_sidecar(path)
    acquired = choose_acquired(opts.acquired, [sidecar.get("acquired"), info.acquired], path.name)
    if opts.product is not None:
        kind = registry.get(opts.product).kind
        if kind not in ("imagery", "dem"):
            raise UnsupportedInput(
                f"{path.name}: product {opts.product} holds {kind} data, this is a raster"
            )
        if kind == "imagery" and info.srtm_tile is not None:
            raise UnsupportedInput(
                f"{path.name}: an SRTM tile holds heights, product {opts.product} holds "
                "imagery; give a DEM product"
            )
        if kind == "dem" and info.count != 1:
            raise UnsupportedInput(
                f"{path.name}: a DEM has one band, this raster has {info.count}; "
                "likely imagery given --product dem"
            )
    else:
        kind = "dem" if info.looks_like_dem else "imagery"
    product = detect.choose_product(
        registry,
        kind,
        given=opts.product,
        resolution_m=info.resolution_m,
        name=path.name,
        label=path.name,
    )
    meta = info.metadata()
    files = _keep([path], stage, None, digest)
    if opts.cog:
        # the web-optimised COG is derived beside the delivery, never in its place
        stem = srtm.stem(path.name) if info.srtm_tile else Path(path.name).stem
        stored_name = f"{stem}{COG_SUFFIX}"
        meta["stored"] = raster.write_cog(
            info, stage / stored_name, kind, compression=product.cog_compression
        )
        stored = meta["stored"]
        cog = _derived(
            stage / stored_name,
            stored_name,
            f"web-optimised COG, {stored['compression']}, "
            + ("lossless" if stored["lossless"] else "lossy"),
        )
        meta["stored_file"] = {"sha256": cog["sha256"], "size": cog["size"]}
        files.append(cog)
        # the COG's mask overviews make the decimated read cheap
        geom = raster.footprint(raster.read_info(stage / stored_name))
    else:
        geom = raster.footprint(info)
        raster.validate_pixels(info)
        stored_name = path.name
        meta["stored"] = {"cog": False}
    checksum, size = digest
    meta["footprint"] = "decimated valid-data mask" if not info.all_valid else "raster bounds"
    row = _base_row(path, opts, sidecar, kind)
    _set_acquired(row, acquired, meta)
    if acquired is None and info.srtm_tile is not None:
        meta["acquired_source"] = srtm.UNKNOWN_DATE
    row.update(
        product=product.code,
        **crs_fields(info.crs),
        resolution=info.resolution_m,
        bands=info.count,
        dtype=info.dtype,
        nodata=info.nodata,
        vertical_datum=sidecar.get("vertical_datum") or info.vertical_datum,
        checksum=checksum,
        size=size,
        metadata=meta,
        stored_name=stored_name,
    )
    return _Prepared(row=row, footprint=geom, staged=stage, source=path, files=files)


def _prepare_pointcloud(
    path: Path, stage: Path, opts: _Options, registry, digest: tuple[str, int]
) -> _Prepared:
    info = pointcloud.read_header(path, opts.crs)
    sidecar = read_sidecar(path)
    stats = pointcloud.scan(info, progress=None)
    acquired = choose_acquired(
        opts.acquired, [sidecar.get("acquired"), pointcloud.acquired_from(info, stats)], path.name
    )
    geom, local = pointcloud.footprint(info, stats)
    described = pointcloud.describe(info, stats, local)
    product = detect.choose_product(
        registry,
        "pointcloud",
        given=opts.product,
        resolution_m=described["resolution"],
        name=path.name,
        label=path.name,
    )
    files = _keep([path], stage, None, digest)
    checksum, size = digest
    meta = described["metadata"]
    meta["footprint"] = "occupancy grid"
    row = _base_row(path, opts, sidecar, "pointcloud")
    _set_acquired(row, acquired, meta)
    row.update(
        product=product.code,
        **crs_fields(info.crs),
        resolution=described["resolution"],
        point_count=described["point_count"],
        vertical_datum=sidecar.get("vertical_datum") or info.vertical_datum,
        checksum=checksum,
        size=size,
        metadata=meta,
        stored_name=path.name,
    )
    return _Prepared(row=row, footprint=geom, staged=stage, source=path, files=files, cloud=info)


def _prepare_vector(
    path: Path, stage: Path, opts: _Options, registry, digest: tuple[str, int]
) -> _Prepared:
    info = vector.read_info(path, opts.crs)
    sidecar = read_sidecar(path)
    acquired = choose_acquired(opts.acquired, [sidecar.get("acquired")], path.name)
    product = detect.choose_product(
        registry, "vector", given=opts.product, resolution_m=None, name=path.name, label=path.name
    )
    is_model = product.kind == "model3d"
    geom, _local = vector.footprint(info, union_polygons=is_model)
    kept, root = source_files(path, "vector")
    files = _keep(kept, stage, root, digest)
    checksum, size = digest
    described = vector.describe(info)
    meta = described["metadata"]
    meta["footprint"] = "union of footprint polygons" if is_model else "convex hull of features"
    kind = "model3d" if is_model else "vector"
    row = _base_row(path, opts, sidecar, kind)
    _set_acquired(row, acquired, meta)
    row.update(
        product=product.code,
        **crs_fields(info.crs),
        vertical_datum=sidecar.get("vertical_datum") or described["vertical_datum"],
        checksum=checksum,
        size=size,
        metadata=meta,
        stored_name=path.name,
    )
    return _Prepared(row=row, footprint=geom, staged=stage, source=path, files=files)


def _prepare_tileset(
    path: Path, stage: Path, opts: _Options, registry, digest: tuple[str, int]
) -> _Prepared:
    info = model3d.read_info(path)
    sidecar = read_sidecar(info.root_dir) if path.is_dir() else read_sidecar(info.path)
    if not sidecar:
        sidecar = read_sidecar(info.root_dir)
    geom = model3d.footprint(info)
    acquired = choose_acquired(opts.acquired, [sidecar.get("acquired")], info.path.name)
    product = detect.choose_product(
        registry, "model3d", given=opts.product, resolution_m=None, name=path.name, label=path.name
    )
    files = _keep(info.files, stage / "tileset", info.root_dir, digest)
    # one entry for the delivered folder (a tileset may hold thousands of tiles)
    files = [
        {
            "role": "delivery",
            "name": "tileset",
            "size": digest[1],
            "sha256": digest[0],
            "description": f"3D Tiles folder, {len(files)} files",
        }
    ]
    checksum, size = digest
    meta = model3d.describe(info)["metadata"]
    meta["stored_file"] = _file_digest(info.path)
    meta["footprint"] = "root bounding volume"
    row = _base_row(info.path, opts, sidecar, "model3d")
    row["source_path"] = str(info.root_dir.absolute())
    _set_acquired(row, acquired, meta)
    row.update(
        product=product.code,
        **crs_fields(CRS.from_epsg(4490)),
        checksum=checksum,
        size=size,
        metadata=meta,
        stored_name="tileset/tileset.json",
    )
    return _Prepared(row=row, footprint=geom, staged=stage, source=path, files=files)


def source_files(path: Path, fmt: str) -> tuple[list[Path], Path | None]:
    """The files of a delivery, and the folder their names are hashed relative to (several)."""
    if fmt == "vector":
        files = vector.delivery_files(path)
        return files, (path.parent if len(files) > 1 else None)
    if fmt == "tileset":
        info = model3d.read_info(path)
        return info.files, info.root_dir
    return [path], None


# the newest version of a dataset, unless it was removed (as catalog.current_datasets)
_CURRENT_SQL = """
    SELECT d.version, d.checksum, d.path, d.product, d.kind, d.acquired_start, d.acquired_end
    FROM datasets d
    WHERE d.dataset_id = :id
      AND d.version = (SELECT max(d2.version) FROM datasets d2 WHERE d2.dataset_id = :id)
      AND NOT EXISTS (
        SELECT 1 FROM dataset_events e WHERE e.dataset_id = d.dataset_id
          AND e.version = d.version AND e.event = 'removed')
"""


_PREPARE = {
    "raster": _prepare_raster,
    "pointcloud": _prepare_pointcloud,
    "vector": _prepare_vector,
    "tileset": _prepare_tileset,
}


def _prepare_dem(src: _Prepared, stage: Path, resolution: float, registry) -> _Prepared:
    """A DEM from the ground points of a prepared point cloud (a derived dataset)."""
    info = src.cloud
    if info is None:  # an invariant: ingest derives DEMs from point clouds only
        raise AssertionError(f"{src.source}: a DEM is derived from a point cloud only")
    name = f"{src.row['dataset_id']}-dem.tif"
    grid = pointcloud.ground_dem(info, stage / name, resolution)
    rinfo = raster.read_info(stage / name)
    geom = raster.footprint(rinfo)
    checksum, size = sha256_files([stage / name])
    meta = {
        "derivation": "mean height of ground points (class 2) per cell",
        "grid": grid,
        "stored": {"cog": True, "compression": "deflate"},
        "footprint": "decimated valid-data mask",
        "acquired_source": src.row["metadata"].get("acquired_source"),
    }
    row = {
        "kind": "dem",
        "title": f"DEM {resolution:g} m from {src.row['title']}",
        "classification": src.row["classification"],
        "owner": src.row["owner"],
        "source_path": src.row["source_path"],
        "acquired_start": src.row["acquired_start"],
        "acquired_end": src.row["acquired_end"],
        "product": registry.generic("dem").code,
        **crs_fields(info.crs),
        "resolution": resolution,
        "bands": 1,
        "dtype": "float32",
        "nodata": grid["nodata"],
        "vertical_datum": src.row.get("vertical_datum"),
        "checksum": checksum,
        "size": size,
        "metadata": meta,
        "stored_name": name,
        "dataset_id": f"{src.row['dataset_id']}-dem",
    }
    files = [_derived(stage / name, name, f"DEM {resolution:g} m, COG, deflate, lossless")]
    return _Prepared(
        row=row,
        footprint=geom,
        staged=stage,
        source=src.source,
        files=files,
        order=src.order + 0.5,
        derived_from=src.row["dataset_id"],
    )


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
