"""STAC export of the catalogue: a Collection per product, an Item per current dataset.

Items carry the projection extension (``proj:code`` or ``proj:wkt2``, and for rasters
``proj:shape`` / ``proj:transform``) and, on their data asset, the file extension
(``file:size``, ``file:checksum`` as a sha2-256 multihash). Footprints are CGCS2000
longitude/latitude, which agree with WGS 84 (what STAC expects) to centimetres.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import shutil
from pathlib import Path
from typing import Any

import pystac
import shapely
from pystac.extensions.file import FileExtension
from pystac.extensions.projection import ProjectionExtension

from geobase.catalog.products import products_for
from geobase.catalog.search import search
from geobase.errors import StoreError
from geobase.store import Workspace

logger = logging.getLogger(__name__)

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


def _date_time(day: str | None, end: bool = False) -> dt.datetime | None:
    if not day:
        return None
    d = dt.date.fromisoformat(day)
    t = dt.time(23, 59, 59) if end else dt.time(0, 0, 0)
    return dt.datetime.combine(d, t, dt.UTC)


def _media_type(kind: str, path: str, metadata: dict[str, Any]) -> str:
    suffix = Path(path).suffix.lower()
    if kind in ("imagery", "dem") and not metadata.get("stored", {}).get("cog", True):
        return pystac.MediaType.GEOTIFF
    if kind == "pointcloud":
        return "application/vnd.las" if suffix == ".las" else "application/vnd.laszip"
    if kind in ("vector", "model3d") and suffix in _VECTOR_TYPES:
        return _VECTOR_TYPES[suffix]
    return MEDIA_TYPES.get(kind, "application/octet-stream")


def _item(ws: Workspace, row: dict[str, Any], geom) -> pystac.Item:
    row = {k: (None if _nan(v) else v) for k, v in row.items()}
    metadata = json.loads(row["metadata"]) if row.get("metadata") else {}
    start = _date_time(row.get("acquired_start"))
    end = _date_time(row.get("acquired_end"), end=True)
    geometry = shapely.geometry.mapping(geom) if geom is not None and not geom.is_empty else None
    bbox = list(geom.bounds) if geometry else None
    properties: dict[str, Any] = {
        "title": row.get("title"),
        "geobase:product": row["product"],
        "geobase:kind": row["kind"],
        "geobase:version": int(row["version"]),
        "geobase:classification": row["classification"],
        "created": row["ingested_at"],
    }
    if row.get("owner"):
        properties["geobase:owner"] = row["owner"]
    if row.get("derived_from"):
        properties["geobase:derived_from"] = json.loads(row["derived_from"])
    if row.get("resolution") is not None and not _nan(row["resolution"]):
        properties["gsd"] = float(row["resolution"])
    item = pystac.Item(
        id=row["dataset_id"],
        geometry=geometry,
        bbox=bbox,
        datetime=None,
        start_datetime=start,
        end_datetime=end,
        properties=properties,
    )
    proj = ProjectionExtension.ext(item, add_if_missing=True)
    epsg = row.get("epsg")
    if epsg is not None and not _nan(epsg):
        proj.code = f"EPSG:{int(epsg)}"
    else:
        proj.code = None
        with ws.store.read() as tx:
            proj.wkt2 = tx.scalar(
                "SELECT crs_wkt FROM datasets WHERE dataset_id = :id AND version = :v",
                {"id": row["dataset_id"], "v": int(row["version"])},
            )
    if "width" in metadata and "transform" in metadata:
        proj.shape = [int(metadata["height"]), int(metadata["width"])]
        proj.transform = [float(v) for v in metadata["transform"]]
    href = str(ws.file(row["path"]).absolute())
    asset = pystac.Asset(
        href=href,
        title=Path(row["path"]).name,
        media_type=_media_type(row["kind"], row["path"], metadata),
        roles=["data"],
    )
    item.add_asset("data", asset)
    file_ext = FileExtension.ext(asset, add_if_missing=True)
    stored = metadata.get("stored_file") or {}
    if stored.get("sha256"):
        file_ext.checksum = multihash_sha256(stored["sha256"])
        file_ext.size = int(stored["size"])
    else:
        file_ext.checksum = multihash_sha256(row["checksum"])
        file_ext.size = int(row["size"])
    _add_delivery(ws, item, row)
    return item


def _add_delivery(ws: Workspace, item: pystac.Item, row: dict[str, Any]) -> None:
    """The delivery as delivered, an asset with role ``source``, where the data asset is
    a file derived from it (a raster's web-optimised COG)."""
    with ws.store.read() as tx:
        files = tx.query(
            "SELECT role, path, size, sha256 FROM dataset_files "
            "WHERE dataset_id = :id AND version = :v ORDER BY fid",
            {"id": row["dataset_id"], "v": int(row["version"])},
        )
    delivered = [f for f in files if f["role"] == "delivery" and f["path"] != row["path"]]
    if len(delivered) != 1 or row["kind"] not in ("imagery", "dem"):
        return
    f = delivered[0]
    asset = pystac.Asset(
        href=str(ws.file(f["path"]).absolute()),
        title=f"{Path(f['path']).name} (as delivered)",
        media_type=pystac.MediaType.GEOTIFF,
        roles=["source"],
    )
    item.add_asset("delivery", asset)
    file_ext = FileExtension.ext(asset, add_if_missing=True)
    file_ext.checksum = multihash_sha256(f["sha256"])
    file_ext.size = int(f["size"])


def _nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _int(value: Any) -> int | None:
    return None if value is None or _nan(value) else int(value)


def export(
    ws: Workspace,
    out: str | Path,
    *,
    products: list[str] | None = None,
    title: str | None = None,
) -> Path:
    """Write the current catalogue as a self-contained STAC catalogue under ``out``.

    Args:
        ws: the workspace.
        out: the folder (its previous content is replaced).
        products: only these product codes (default: every product with data).
        title: the root catalogue's title.

    Returns:
        The path of the root ``catalog.json``.
    """
    out = Path(out)
    registry = products_for(ws.config.products)
    frame = search(ws.store, product=products)
    root = pystac.Catalog(
        id=f"geobase-{ws.config.name}",
        description=f"geobase catalogue of workspace {ws.config.name} (资源目录)",
        title=title or ws.config.name,
    )
    for code, group in frame.groupby("product", sort=True):
        product = registry.get(code) if code in registry else None
        items = [
            _item(ws, row, geom)
            for row, geom in zip(
                group.drop(columns="geometry").to_dict("records"), group.geometry, strict=True
            )
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
        ProjectionExtension.add_to(collection)
        for item in items:
            collection.add_item(item)
        root.add_child(collection)
    if out.exists():
        shutil.rmtree(out)
    root.normalize_hrefs(str(out.absolute()))
    root.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return out / "catalog.json"


def validate(root: str | Path) -> dict[str, Any]:
    """Validate every object of an exported STAC catalogue with pystac.

    Core STAC schemas ship with pystac; the extension schemas are fetched from
    stac-extensions.github.io. Where they cannot be fetched (no network), the objects
    are validated against the core schemas only, and the report says so.

    Returns:
        ``{"objects": n, "extensions_validated": bool}``

    Raises:
        StoreError: an object does not validate.
    """
    from pystac.validation import validate_dict
    from pystac.validation.stac_validator import GetSchemaError, JsonSchemaSTACValidator

    catalog = pystac.read_file(str(root))
    validator = JsonSchemaSTACValidator()
    objects = [catalog]
    for collection in catalog.get_children():
        objects.append(collection)
        objects.extend(collection.get_items())
    extensions_ok = True
    # pystac logs a traceback for every schema it cannot fetch; one failure is enough to
    # know the extension schemas are unreachable, so the rest are validated core-only.
    noisy = [logging.getLogger(name) for name in ("pystac.validation.stac_validator", "urllib3")]
    levels = [log.level for log in noisy]
    for log in noisy:
        log.setLevel(logging.CRITICAL)
    try:
        for obj in objects:
            d = obj.to_dict()
            href = obj.get_self_href()
            try:
                if extensions_ok:
                    try:
                        validate_dict(d, validator=validator, href=href)
                        continue
                    except GetSchemaError:
                        extensions_ok = False
                validate_dict(d, extensions=[], validator=validator, href=href)
            except pystac.STACValidationError as exc:
                reason = str(exc).splitlines()[0][:300]
                raise StoreError(
                    f"STAC {obj.STAC_OBJECT_TYPE} {obj.id} does not validate: {reason}"
                ) from None
    finally:
        for log, level in zip(noisy, levels, strict=True):
            log.setLevel(level)
    if not extensions_ok:
        logger.warning("STAC extension schemas could not be fetched; validated core schemas only")
    return {"objects": len(objects), "extensions_validated": extensions_ok}
