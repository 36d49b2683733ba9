"""What kind of delivery a path is, and which product it belongs to."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Literal

from geobase.catalog.products import Product, ProductRegistry
from geobase.errors import ResolutionMismatch, SourceReadError, UnsupportedInput
from geobase.ingest import model3d, srtm
from geobase.ingest.pointcloud import POINTCLOUD_SUFFIXES
from geobase.ingest.raster import RASTER_SUFFIXES
from geobase.ingest.vector import VECTOR_SUFFIXES
from geobase.names import MAX_LENGTH, check_name

Format = Literal["raster", "pointcloud", "vector", "tileset"]
RESOLUTION_TOLERANCE = 1.01  # 0.0504 m still counts as 0.05 m (rounding in the geotransform)


def detect_format(path: Path) -> Format:
    """The reader a delivery needs, from its name and (for JSON) its content.

    Raises:
        SourceReadError: the path is missing or an empty file; an SRTM file whose size
            or archive does not match its name.
        UnsupportedInput: no reader knows the file type; an SRTM file not named by its
            tile.
    """
    if not path.exists():
        raise SourceReadError(f"{path}: no such file or folder")
    if path.is_dir():
        if model3d.is_tileset(path):
            return "tileset"
        raise UnsupportedInput(f"{path}: a folder without a tileset.json; name the files instead")
    if path.stat().st_size == 0:
        raise SourceReadError(f"{path.name}: empty file (0 bytes); likely an interrupted copy")
    name = path.name.lower()
    if name.endswith(RASTER_SUFFIXES):
        return "raster"
    if srtm.is_srtm(path):
        srtm.check(path)  # the name gives the extent: refused unless name and size agree
        return "raster"
    if name.endswith(POINTCLOUD_SUFFIXES):
        return "pointcloud"
    if name.endswith(".json") and model3d.is_tileset(path):
        return "tileset"
    if name.endswith(VECTOR_SUFFIXES):
        return "vector"
    raise UnsupportedInput(
        f"{path.name}: unknown file type; expected GeoTIFF (.tif), SRTM (.hgt, .hgt.zip), "
        "LAS/LAZ/COPC, GeoPackage, Shapefile, GeoJSON or a 3D Tiles tileset.json"
    )


def dataset_id_for(path: Path) -> str:
    """A dataset id from a file name: the stem, lower-case, runs of other characters as '-'.

    A tileset is named after its folder; ``.copc.laz`` loses both suffixes. Ids are ASCII
    (:mod:`geobase.names`): a name with other characters (Chinese), or too long, keeps
    its (first) ASCII part and gains 8 hex digits of a hash of the whole stem, so that
    two such names never share an id and one name always gets the same id
    (正射影像_2023 -> ``2023-<hash>``).
    """
    if path.is_dir():
        stem = path.name
    elif path.name.lower() == "tileset.json":
        stem = path.parent.name
    else:
        stem = path.name
        suffixes = (".copc.laz", *srtm.SRTM_SUFFIXES, *RASTER_SUFFIXES)
        for suffix in (*suffixes, *POINTCLOUD_SUFFIXES, *VECTOR_SUFFIXES):
            if stem.lower().endswith(suffix):
                stem = stem[: -len(suffix)]
                break
    slug = re.sub(r"[^A-Za-z0-9_]+", "-", stem).strip("-_").lower()
    if not stem.isascii() or len(slug) > MAX_LENGTH:
        digest = hashlib.blake2b(stem.encode("utf-8"), digest_size=4).hexdigest()
        slug = slug[: MAX_LENGTH - len(digest) - 1].rstrip("-_.")
        slug = f"{slug}-{digest}" if slug else digest
    if not slug:
        raise UnsupportedInput(
            f"{path}: no dataset id can be made from the name; pass --dataset-id"
        )
    return check_name(slug, f"dataset id made from {path.name!r}")


def choose_product(
    registry: ProductRegistry,
    kind: str,
    *,
    given: str | None,
    resolution_m: float | None,
    name: str,
    label: str,
) -> Product:
    """The product of a delivery: ``given`` (checked), else detected, else the generic one.

    Imagery goes to the plan product with the coarsest resolution it still meets
    (0.3 m data is dom05); vector data to a product whose code is a word of the file name
    (``dlg500_jinping.gpkg``); everything else to the generic product of its kind.

    Raises:
        NotFoundError: ``given`` is not a known product.
        UnsupportedInput: ``given`` is a product of another kind.
        ResolutionMismatch: the data are coarser than ``given`` allows.
    """
    if given is not None:
        product = registry.get(given)
        compatible = product.kind == kind or (product.kind == "model3d" and kind == "vector")
        if not compatible:
            raise UnsupportedInput(
                f"{label}: product {product.code} holds {product.kind} data, this is {kind}"
            )
        if (
            product.resolution is not None
            and resolution_m is not None
            and product.kind == kind
            and resolution_m > product.resolution * RESOLUTION_TOLERANCE
        ):
            raise ResolutionMismatch(
                f"{label}: resolution {resolution_m:.4g} m is coarser than product "
                f"{product.code} allows ({product.resolution:g} m or finer)"
            )
        return product
    candidates = [p for p in registry if p.kind == kind and not p.generic]
    if kind == "imagery" and resolution_m is not None:
        fitting = [
            p
            for p in candidates
            if p.resolution is not None and resolution_m <= p.resolution * RESOLUTION_TOLERANCE
        ]
        if fitting:
            return min(fitting, key=lambda p: p.resolution)
    elif kind == "vector":
        words = set(re.split(r"[^a-z0-9]+", name.lower()))
        for product in candidates:
            if product.code.lower() in words:
                return product
    elif kind == "model3d" and candidates:
        return candidates[0]
    return registry.generic(kind)
