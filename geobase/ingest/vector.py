"""Vector topographic data (GeoPackage, Shapefile, GeoJSON): layers, CRS, footprint.

Features are streamed with fiona, a batch at a time; the footprint is kept as a running
convex hull (or, for a model footprint file, a running union of its polygons), so memory
is bounded by the batch, not the file.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fiona
import numpy as np
import pyogrio
import shapely
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from geobase.areas import check_geometries
from geobase.errors import MissingCRS, SourceReadError, UnsupportedInput
from geobase.ingest.footprint import as_multipolygon, to_cgcs2000
from geobase.ingest.metadata import vertical_datum

logger = logging.getLogger(__name__)

VECTOR_SUFFIXES = (".gpkg", ".shp", ".geojson", ".json")
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".shp.xml")
BATCH = 10_000


@dataclass
class VectorInfo:
    """The layers of a vector file and their common CRS."""

    path: Path
    crs: CRS
    crs_given: bool
    layers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def feature_count(self) -> int:
        return sum(layer["features"] for layer in self.layers)

    @property
    def files(self) -> list[Path]:
        """The files that make up the delivery (a shapefile has several)."""
        return delivery_files(self.path)


def delivery_files(path: Path) -> list[Path]:
    """The files of a vector delivery: the file itself, or a shapefile's parts."""
    if path.suffix.lower() != ".shp":
        return [path]
    stem = path.with_suffix("").name
    return [
        p
        for p in sorted(path.parent.iterdir())
        if p.is_file()
        and p.name.lower().startswith(stem.lower() + ".")
        and p.name[len(stem) :].lower() in SHAPEFILE_PARTS
    ]


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def read_info(path: Path, crs: CRS | None = None) -> VectorInfo:
    """Layers, geometry types, feature counts and the CRS of a vector file.

    Raises:
        SourceReadError: the file cannot be opened as vector data.
        UnsupportedInput: no layer with geometries, or layers in different CRSs.
        MissingCRS: no CRS in the file and ``crs`` is None.
    """
    try:
        listed = pyogrio.list_layers(path)
    except Exception as exc:
        raise SourceReadError(
            f"{path.name}: cannot be opened as vector data ({_reason(exc)}); likely empty, "
            "truncated or another format"
        ) from exc
    layers = []
    crss: dict[str, CRS | None] = {}
    for name, geometry_type in listed:
        if geometry_type is None:
            continue  # attribute-only table
        try:
            meta = pyogrio.read_info(path, layer=name, force_feature_count=True)
        except Exception as exc:
            raise SourceReadError(
                f"{path.name}: layer {name!r} cannot be read ({_reason(exc)})"
            ) from exc
        layer_crs = CRS.from_user_input(meta["crs"]) if meta.get("crs") else None
        crss[name] = layer_crs
        layers.append(
            {
                "name": name,
                "geometry_type": meta.get("geometry_type") or geometry_type,
                "features": int(meta.get("features") or 0),
                "fields": list(meta.get("fields", [])),
                "encoding": meta.get("encoding"),
            }
        )
    if not layers:
        raise UnsupportedInput(f"{path.name}: no layer with geometries")
    if sum(layer["features"] for layer in layers) == 0:
        raise UnsupportedInput(f"{path.name}: no features in any layer; likely an empty export")
    stated = {n: c for n, c in crss.items() if c is not None}
    distinct: list[CRS] = []
    for c in stated.values():
        if not any(c.equals(d, ignore_axis_order=True) for d in distinct):
            distinct.append(c)
    if len(distinct) > 1:
        pairs = ", ".join(f"{n}: {c.to_epsg() or c.name}" for n, c in stated.items())
        raise UnsupportedInput(
            f"{path.name}: layers are in different CRSs ({pairs}); reproject them to one "
            "CRS before ingesting"
        )
    if len(stated) < len(crss) and stated:
        missing = [n for n, c in crss.items() if c is None]
        raise UnsupportedInput(
            f"{path.name}: layers {missing} state no CRS while others do; likely a mixed "
            "export, reproject them to one CRS"
        )
    given = False
    if distinct:
        file_crs = distinct[0]
    elif crs is not None:
        file_crs, given = crs, True
    else:
        raise MissingCRS(
            f"{path.name}: no coordinate reference system in the file (a shapefile needs its "
            ".prj); pass --crs (for example --crs EPSG:4548)"
        )
    return VectorInfo(path=path, crs=file_crs, crs_given=given, layers=layers)


def footprint(
    info: VectorInfo,
    *,
    union_polygons: bool = False,
    progress: Callable[[int, int], None] | None = None,
):
    """The footprint in EPSG:4490 and in the data's CRS.

    Args:
        info: from :func:`read_info`.
        union_polygons: the union of the polygon features (a model's footprint file)
            instead of the convex hull of all features.
        progress: called with (features read, features in the file).

    Raises:
        SourceReadError: a feature cannot be decoded.
        GeometryError: a feature has non-finite coordinates or an invalid geometry.
        UnsupportedInput: no feature has a geometry (or, with ``union_polygons``, no
            polygon).
    """
    acc = None
    done = 0
    total = info.feature_count
    for layer in info.layers:
        try:
            with fiona.open(info.path, layer=layer["name"]) as src:
                what = f"{info.path.name} layer {layer['name']!r}"
                batch: list = []
                start = 0
                for feature in src:
                    batch.append(_shape(feature.geometry))
                    if len(batch) >= BATCH:
                        acc = _accumulate(acc, _checked(batch, what, start), union_polygons)
                        done += len(batch)
                        start += len(batch)
                        batch = []
                        if progress is not None:
                            progress(done, total)
                acc = _accumulate(acc, _checked(batch, what, start), union_polygons)
                done += len(batch)
        except (fiona.errors.FionaError, ValueError, OSError) as exc:
            raise SourceReadError(
                f"{info.path.name}: features of layer {layer['name']!r} cannot be read "
                f"({_reason(exc)}); likely a damaged file"
            ) from exc
    if acc is None or acc.is_empty:
        kind = "polygon" if union_polygons else "geometry"
        raise UnsupportedInput(f"{info.path.name}: no feature with a {kind}")
    if acc.geom_type not in ("Polygon", "MultiPolygon"):
        # points on a line, or a single point: a footprint needs an area
        acc = acc.buffer(max(1e-6, 0.001 * max(np.ptp(np.array(acc.bounds).reshape(2, 2), axis=0))))
    local = as_multipolygon(acc)
    return to_cgcs2000(local, info.crs), local


def _shape(geometry) -> BaseGeometry | None:
    if geometry is None:
        return None
    with warnings.catch_warnings():
        # NaN coordinates: shapely warns while building; check_geometries refuses them
        warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
        return shapely.geometry.shape(geometry)


def _checked(batch: list, what: str, start: int) -> list:
    """The geometries of a batch of features, refused if one is invalid or not finite
    (features without a geometry are skipped)."""
    check_geometries(batch, what, start=start, allow_missing=True)
    return [g for g in batch if g is not None and not g.is_empty]


def _accumulate(acc, batch: list, union_polygons: bool):
    if not batch:
        return acc
    geoms = np.array(batch, dtype=object)
    if union_polygons:
        polys = geoms[np.isin(shapely.get_type_id(geoms), (3, 6))]
        if len(polys) == 0:
            return acc
        merged = shapely.union_all(polys)
        return merged if acc is None else shapely.union(acc, merged)
    points = shapely.get_coordinates(geoms)
    if acc is not None:
        points = np.vstack([points, shapely.get_coordinates(acc)])
    return shapely.convex_hull(shapely.multipoints(points))


def describe(info: VectorInfo) -> dict[str, Any]:
    """Record fields for a vector delivery."""
    return {
        "vertical_datum": vertical_datum(info.crs),
        "metadata": {
            "layers": info.layers,
            "feature_count": info.feature_count,
            "crs_given": info.crs_given,
            "files": [p.name for p in info.files],
        },
    }
