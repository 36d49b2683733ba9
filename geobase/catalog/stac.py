"""STAC export of the catalogue: a Collection per product, an Item per current dataset.

The export is a self-contained catalogue (pystac ``CatalogType.SELF_CONTAINED``): every
link and asset href is relative, and each Item's files are copied (or hard-linked) from
the archive into the Item's folder, as ``<product>/<dataset>/v<N>/...``, so the folder
can be moved, zipped or published as it is and every asset still opens. A catalogue that
pointed into the workspace instead would break as soon as either moved.

Extension fields come from what ingest recorded and from the files' own headers (read
with rasterio and laspy, no pixels or points): projection (``proj:code`` or
``proj:wkt2``, ``proj:bbox`` in the data's CRS, ``proj:shape`` / ``proj:transform``),
file (``file:size``, ``file:checksum`` as a sha2-256 multihash, on every asset), raster
(``raster:bands``: data type, nodata, sampling, resolution), eo (``eo:bands`` from the
colour interpretation, imagery only) and pointcloud (``pc:count``, ``pc:type``,
``pc:encoding``, ``pc:schemas``, ``pc:density``, ``pc:statistics``). Footprints are
CGCS2000 longitude/latitude, which agree with WGS 84 (what STAC expects) to centimetres.
Validation: :mod:`geobase.catalog.stac_validation` (offline).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import laspy
import pystac
import rasterio
import shapely
from pystac.extensions.eo import EOExtension
from pystac.extensions.file import FileExtension
from pystac.extensions.pointcloud import PointcloudExtension, Schema, Statistic
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import RasterExtension

from geobase.catalog.products import products_for
from geobase.catalog.records import DatasetRecord, iter_records
from geobase.catalog.search import search
from geobase.classification import check_classification, may_see
from geobase.errors import OutputExistsError, StoreError
from geobase.paths import atomic_folder
from geobase.store import Workspace

logger = logging.getLogger(__name__)


class ArchiveChanged(StoreError):
    """An archived file no longer has the digest recorded at ingest."""


MEDIA_TYPES = {
    "imagery": pystac.MediaType.COG,
    "dem": pystac.MediaType.COG,
    "pointcloud": "application/vnd.laszip",
    "vector": "application/geopackage+sqlite3",
    "model3d": "application/json",
}
_VECTOR_TYPES = {
    ".gpkg": "application/geopackage+sqlite3",
    ".geojson": pystac.MediaType.GEOJSON,
    ".json": pystac.MediaType.GEOJSON,
    ".shp": "application/vnd.shp",
}


def multihash_sha256(hex_digest: str) -> str:
    """A sha2-256 hex digest as a multihash (what ``file:checksum`` holds)."""
    return "1220" + hex_digest


def _date_time(day: dt.date | None, end: bool = False) -> dt.datetime | None:
    if day is None:
        return None
    t = dt.time(23, 59, 59) if end else dt.time(0, 0, 0)
    return dt.datetime.combine(day, t, dt.UTC)


def _media_type(kind: str, path: str, metadata: Mapping[str, Any]) -> str:
    suffix = Path(path).suffix.lower()
    if kind in ("imagery", "dem") and not metadata.get("stored", {}).get("cog", True):
        return _delivery_type(metadata)
    if kind == "pointcloud":
        return "application/vnd.las" if suffix == ".las" else "application/vnd.laszip"
    if kind in ("vector", "model3d") and suffix in _VECTOR_TYPES:
        return _VECTOR_TYPES[suffix]
    return MEDIA_TYPES.get(kind, "application/octet-stream")


def _item(ws: Workspace, record: DatasetRecord, folder: Path, link: bool) -> pystac.Item:
    """The Item of one dataset; its files are copied (or linked) into ``folder``."""
    metadata = record.metadata
    start = _date_time(record.acquired_start)
    end = _date_time(record.acquired_end, end=True)
    geom = record.footprint
    geometry = shapely.geometry.mapping(geom) if geom is not None and not geom.is_empty else None
    bbox = list(geom.bounds) if geom is not None and geometry else None
    properties: dict[str, Any] = {
        "title": record.title,
        "geobase:product": record.product,
        "geobase:kind": record.kind,
        "geobase:version": record.version,
        "geobase:classification": record.classification,
        "created": record.ingested_at,
    }
    if record.owner:
        properties["geobase:owner"] = record.owner
    if record.derived_from:
        properties["geobase:derived_from"] = list(record.derived_from)
    if record.resolution is not None:
        properties["gsd"] = record.resolution
    item = pystac.Item(
        id=record.dataset_id,
        geometry=geometry,
        bbox=bbox,
        datetime=None,
        start_datetime=start,
        end_datetime=end,
        properties=properties,
    )
    proj = ProjectionExtension.ext(item, add_if_missing=True)
    version = {"id": record.dataset_id, "v": record.version}
    if record.epsg is not None:
        proj.code = f"EPSG:{record.epsg}"
    else:
        proj.code = None
        with ws.store.read() as tx:
            proj.wkt2 = tx.scalar(
                "SELECT crs_wkt FROM datasets WHERE dataset_id = :id AND version = :v", version
            )
    stored = ws.file(record.path, must_exist=True)
    archive_dir, copy_dir = _copy_version(stored, record.version, folder, link)
    rel = copy_dir.relative_to(folder) / stored.relative_to(archive_dir)
    asset = pystac.Asset(
        href=f"./{rel.as_posix()}",
        title=Path(record.path).name,
        media_type=_media_type(record.kind, record.path, metadata),
        roles=["data"],
    )
    item.add_asset("data", asset)
    _file_fields(asset, folder / rel)
    if record.kind in ("imagery", "dem"):
        _raster_fields(item, asset, folder / rel, record)
    elif record.kind == "pointcloud":
        _pointcloud_fields(item, folder / rel, record, metadata)
    with ws.store.read() as tx:
        files = tx.query(
            "SELECT role, path, size, sha256 FROM dataset_files "
            "WHERE dataset_id = :id AND version = :v ORDER BY fid",
            version,
        )
    recorded = {f["path"]: f["sha256"] for f in files}
    if record.path in recorded:
        _check_recorded(asset, recorded[record.path], record.path)
    _add_delivery(ws, item, record, files, archive_dir, copy_dir)
    return item


def _check_recorded(asset: pystac.Asset, sha256: str, stored: str) -> None:
    """Refuse an exported file whose digest is not the one ingest recorded."""
    if FileExtension.ext(asset).checksum != multihash_sha256(sha256):
        raise ArchiveChanged(
            f"{stored}: the archived file no longer matches the sha256 recorded at ingest; "
            "the archive was changed or damaged after ingest"
        )


def _copy_version(stored: Path, version: int, folder: Path, link: bool) -> tuple[Path, Path]:
    """Copy (or hard-link) the archive folder of a dataset version into ``folder``.

    The whole ``v<N>`` folder travels: the delivery as delivered and the files derived
    from it, a shapefile's sidecars, a 3D tileset's tiles. Returns the archive folder and
    its copy.
    """
    version_dir = next((p for p in stored.parents if p.name == f"v{version}"), None)
    copy = _link_or_copy if link else shutil.copy2
    if version_dir is None:  # a stored path outside the usual layout: the file alone
        target = folder / f"v{version}"
        target.mkdir(parents=True)
        copy(stored, target / stored.name)
        return stored.parent, target
    target = folder / version_dir.name
    shutil.copytree(version_dir, target, copy_function=copy)
    return version_dir, target


def _delivery_type(metadata: Mapping[str, Any]) -> str:
    """The media type of a raster delivery: GeoTIFF, unless ingest recorded another (an
    SRTM ``.hgt`` tile, bare or zipped)."""
    return (metadata.get("srtm") or {}).get("media_type") or pystac.MediaType.GEOTIFF


def _add_delivery(
    ws: Workspace,
    item: pystac.Item,
    record: DatasetRecord,
    files: list[dict[str, Any]],
    archive_dir: Path,
    copy_dir: Path,
) -> None:
    """The delivery as delivered, an asset with role ``source``, where the data asset is
    a file derived from it (a raster's web-optimised COG)."""
    delivered = [f for f in files if f["role"] == "delivery" and f["path"] != record.path]
    if len(delivered) != 1 or record.kind not in ("imagery", "dem"):
        return
    f = delivered[0]
    source = ws.file(f["path"], must_exist=True)
    if not source.is_relative_to(archive_dir):  # pragma: no cover - not how ingest stores it
        raise StoreError(f"{f['path']}: the delivery is not in its version's folder")
    exported = copy_dir / source.relative_to(archive_dir)
    asset = pystac.Asset(
        href=f"./{exported.relative_to(copy_dir.parent).as_posix()}",
        title=f"{Path(f['path']).name} (as delivered)",
        media_type=_delivery_type(record.metadata),
        roles=["source"],
    )
    item.add_asset("delivery", asset)
    _file_fields(asset, exported)
    _check_recorded(asset, f["sha256"], f["path"])
    _raster_fields(item, asset, exported, record, grid=False)


def _link_or_copy(src: str | Path, dst: str | Path) -> None:
    """A hard link where source and target share a filesystem, a copy where not."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _file_fields(asset: pystac.Asset, path: Path) -> None:
    """``file:size`` and ``file:checksum`` of the file the asset names, as exported."""
    file_ext = FileExtension.ext(asset, add_if_missing=True)
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    file_ext.checksum = multihash_sha256(digest.hexdigest())
    file_ext.size = path.stat().st_size


# numpy names that the raster extension spells differently; the others are the same
_RASTER_TYPES = {"complex64": "cfloat32", "complex128": "cfloat64", "complex_int16": "cint16"}
_RASTER_NAMES = {
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64",
}  # fmt: skip
_EO_NAMES = {"red": "red", "green": "green", "blue": "blue"}


def _nodata(value: float | None) -> float | str | None:
    if value is None:
        return None
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return int(value) if float(value).is_integer() else float(value)


def _raster_fields(
    item: pystac.Item,
    asset: pystac.Asset,
    path: Path,
    record: DatasetRecord,
    *,
    grid: bool = True,
) -> None:
    """raster:bands (and eo:bands for imagery) on the asset and, with ``grid``, the
    proj shape/transform/bbox on the Item, from the exported file's header."""
    with rasterio.open(path) as ds:
        dtypes = ds.dtypes
        nodatavals = ds.nodatavals
        colorinterp = [c.name for c in ds.colorinterp]
        sampling = ds.tags().get("AREA_OR_POINT")
        if grid:
            proj = ProjectionExtension.ext(item)
            proj.shape = [ds.height, ds.width]
            proj.transform = [float(v) for v in list(ds.transform)[:6]]
            proj.bbox = [float(v) for v in ds.bounds]
    bands = []
    for dtype, nodata in zip(dtypes, nodatavals, strict=True):
        band: dict[str, Any] = {
            "data_type": dtype if dtype in _RASTER_NAMES else _RASTER_TYPES.get(dtype, "other")
        }
        if _nodata(nodata) is not None:
            band["nodata"] = _nodata(nodata)
        if sampling and sampling.lower() in ("area", "point"):
            band["sampling"] = sampling.lower()
        if record.resolution is not None:
            band["spatial_resolution"] = record.resolution
        bands.append(band)
    asset.extra_fields["raster:bands"] = bands
    RasterExtension.add_to(item)
    if record.kind == "imagery":
        eo = []
        for i, interp in enumerate(colorinterp, start=1):
            band = {"name": interp if interp in _EO_NAMES or interp == "alpha" else f"b{i}"}
            if interp in _EO_NAMES:
                band["common_name"] = _EO_NAMES[interp]
            elif interp == "alpha":
                band["description"] = "alpha: the valid-data mask, not a spectral band"
            else:
                band["description"] = f"colour interpretation {interp}"
            eo.append(band)
        asset.extra_fields["eo:bands"] = eo
        EOExtension.add_to(item)


_PC_KINDS = {
    laspy.DimensionKind.FloatingPoint: "floating",
    laspy.DimensionKind.SignedInteger: "signed",
    laspy.DimensionKind.UnsignedInteger: "unsigned",
    laspy.DimensionKind.BitField: "unsigned",
}


def _pointcloud_fields(
    item: pystac.Item, path: Path, record: DatasetRecord, metadata: Mapping[str, Any]
) -> None:
    """pc: fields and proj:bbox from the record and the exported file's LAS header.

    ``pc:schemas`` lists the dimensions as readers (PDAL, laspy) present them: X, Y, Z
    scaled to 8-byte floats, bit fields as 1-byte unsigned values, the rest as stored.
    ``pc:type`` is ``lidar`` where the cloud has more than one return per pulse; a
    single-return cloud may be lidar or photogrammetric, so it is ``other``.
    """
    with laspy.open(path) as reader:
        header = reader.header
        mins, maxs = [float(v) for v in header.mins], [float(v) for v in header.maxs]
        dims = list(header.point_format.dimensions)
    schemas = []
    for dim in dims:
        if dim.name in ("X", "Y", "Z"):
            schemas.append({"name": dim.name, "size": 8, "type": "floating"})
        elif dim.kind == laspy.DimensionKind.BitField:
            schemas.append({"name": dim.name, "size": 1, "type": "unsigned"})
        else:
            size = max(1, dim.num_bits // 8)
            schemas.append({"name": dim.name, "size": size, "type": _PC_KINDS[dim.kind]})
    returns = {int(k) for k in (metadata.get("returns") or {})}
    pc = PointcloudExtension.ext(item, add_if_missing=True)
    if record.point_count is None:
        raise StoreError(f"{record.key}: a point cloud recorded without its point count")
    pc.count = record.point_count
    pc.type = "lidar" if any(r > 1 for r in returns) else "other"
    pc.encoding = "LASzip" if metadata.get("compressed") else "binary"
    pc.schemas = [Schema(s) for s in schemas]
    if metadata.get("density_per_m2"):
        pc.density = float(metadata["density_per_m2"])
    stats = []
    if metadata.get("z_range"):
        z0, z1 = metadata["z_range"]
        stats.append({"name": "Z", "minimum": float(z0), "maximum": float(z1)})
    if metadata.get("gps_time_range"):
        t0, t1 = metadata["gps_time_range"]
        stats.append({"name": "gps_time", "minimum": float(t0), "maximum": float(t1)})
    if stats:
        pc.statistics = [Statistic(s) for s in stats]
    ProjectionExtension.ext(item).bbox = [*mins, *maxs]


def export(
    ws: Workspace,
    out: str | Path,
    *,
    products: list[str] | None = None,
    title: str | None = None,
    link: bool = False,
    max_classification: str = "internal",
) -> tuple[Path, int]:
    """Write the current catalogue as a self-contained STAC catalogue under ``out``.

    Each Item's files are copied from the archive into ``<product>/<dataset>/v<N>/``
    beside the Item (``link=True`` hard-links them where the filesystem allows: no extra
    space, but the links share the archive's bytes, so never edit them). Every href is
    relative. The catalogue is written to a temporary folder beside ``out`` and renamed
    into place, replacing a previous export only once the new one is complete.

    Args:
        ws: the workspace.
        out: the folder; a previous export there is replaced once the new one is
            complete (a folder that holds other files is refused, not deleted).
        products: only these product codes (default: every product with data).
        title: the root catalogue's title.
        link: hard-link the data files instead of copying them.
        max_classification: the most secret level exported (default ``internal``: a
            restricted (涉密) dataset never lands in a folder meant for sharing unless
            asked for).

    Returns:
        The path of the root ``catalog.json`` and how many datasets were withheld.

    Raises:
        OutputExistsError: ``out`` is a file, or a folder with files but no
            ``catalog.json`` (not an earlier export).
    """
    check_classification(max_classification)
    out = Path(out).absolute()
    if out.exists() and not (
        out.is_dir() and (not any(out.iterdir()) or (out / "catalog.json").is_file())
    ):
        raise OutputExistsError(
            f"{out} exists and is not an earlier STAC export (no catalog.json); "
            "choose another folder (it is not deleted)"
        )
    registry = products_for(ws.config.products)
    frame = search(ws.store, product=products)
    shown = frame["classification"].map(lambda level: may_see(level, max_classification))
    withheld = int((~shown).sum())
    frame = frame[shown.to_numpy(dtype=bool)]
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_folder(out) as partial:
        root = _catalog(ws, frame, registry, partial, title, link)
        # the trailing slash: a folder name with a dot would be taken for a file name
        root.normalize_hrefs(f"{partial.as_posix()}/")
        root.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return out / "catalog.json", withheld


def _catalog(ws, frame, registry, folder: Path, title: str | None, link: bool) -> pystac.Catalog:
    root = pystac.Catalog(
        id=f"geobase-{ws.config.name}",
        description=f"geobase catalogue of workspace {ws.config.name} (资源目录)",
        title=title or ws.config.name,
    )
    for code, group in frame.groupby("product", sort=True):
        product = registry.get(code) if code in registry else None
        items = [
            _item(ws, record, folder / str(code) / record.dataset_id, link)
            for record in iter_records(group)
        ]
        bounds = [i.bbox for i in items if i.bbox]
        spatial = (
            [
                [
                    min(b[0] for b in bounds),
                    min(b[1] for b in bounds),
                    max(b[2] for b in bounds),
                    max(b[3] for b in bounds),
                ]
            ]
            if bounds
            else [[-180.0, -90.0, 180.0, 90.0]]
        )
        starts = [
            i.common_metadata.start_datetime for i in items if i.common_metadata.start_datetime
        ]
        ends = [i.common_metadata.end_datetime for i in items if i.common_metadata.end_datetime]
        temporal = [[min(starts) if starts else None, max(ends) if ends else None]]
        collection = pystac.Collection(
            id=str(code),
            description=(
                f"{product.name_en} / {product.name_zh}" if product else f"product {code}"
            ),
            title=product.name_zh if product else str(code),
            extent=pystac.Extent(pystac.SpatialExtent(spatial), pystac.TemporalExtent(temporal)),
            license="other",
        )
        for item in items:
            collection.add_item(item)
        root.add_child(collection)
    return root
