"""Preparing each kind of delivery: read, check, stage, and the row its record will have.

One preparer per format (raster with its derived COG, point cloud, vector, tile set;
:data:`_PREPARE`), and the DEM derived from a point cloud (:func:`_prepare_dem`); each
returns a :class:`_Prepared` that :mod:`geobase.ingest.pipeline` records.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely
from pyproj import CRS

from geobase.errors import UnsupportedInput
from geobase.ingest import detect, model3d, pointcloud, raster, srtm, vector
from geobase.ingest.metadata import (
    Acquired,
    choose_acquired,
    crs_fields,
    read_sidecar,
    sha256_files,
)
from geobase.ingest.staging import _derived, _keep

COG_SUFFIX = ".cog.tif"  # the derived COG beside a raster delivery: ortho.tif -> ortho.cog.tif
Progress = Callable[[int, int | None], None]


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
