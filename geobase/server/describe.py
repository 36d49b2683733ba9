"""Titles and abstracts of the served layers, from the catalogue, for clients' layer lists.

WMTS capabilities and OGC API collections name each layer so that QGIS and other clients
list them distinguishably: the product's Chinese and English names, the acquisition
dates of the datasets the pyramid was built from, and the pyramid's name (unique in the
service), e.g. ``0.2米影像 imagery 0.2 m 2021-04-10/2023-11-02 (dom02)``. The abstract
names the sources with their dates and ground resolution, the tile matrix set, the
levels with the finest level's ground resolution, and the classification, in Chinese
with English.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from geobase.catalog.records import DatasetRecord
from geobase.classification import rank
from geobase.errors import StoreError
from geobase.geodesy.constants import CGCS2000
from geobase.server.layers import Layer

logger = logging.getLogger(__name__)

CLASSIFICATION_LABELS = {
    "public": "公开 public",
    "internal": "内部 internal",
    "restricted": "涉密 restricted",
}
CRS_LABELS = {"WebMercatorQuad": "EPSG:3857", "CGCS2000Quad": "CGCS2000, EPSG:4490"}


@dataclass(frozen=True)
class LayerText:
    """What a client shows of a layer.

    Attributes:
        title: one line, Chinese with English, unique among the layers.
        abstract: a few sentences, Chinese with English.
        interval: (first acquisition, last acquisition) as ISO dates, or None.
    """

    title: str
    abstract: str
    interval: tuple[str, str] | None


def describe(service, layers: list[Layer]) -> dict[str, LayerText]:
    """Title, abstract and acquisition interval of each layer, by layer name.

    A layer whose pyramid record or sources cannot be read is still described (from
    what the layer itself knows), never dropped. Sources classified above the layer are
    left out, so a layer never names a dataset its viewers may not see. Kept in the
    layer registry's document cache until a pyramid, dataset or publication changes.
    """
    key = ("describe", *(layer_key(layer) for layer in layers))
    return service.layers.documents.get(key, lambda: _describe(service, layers))


def layer_key(layer: Layer) -> tuple:
    """What a document describing ``layer`` depends on, of the layer itself."""
    return (layer.name, str(layer.path), layer.build, layer.classification)


def _describe(service, layers: list[Layer]) -> dict[str, LayerText]:
    ws = service.ws
    by_path: dict[Any, dict[str, Any]] = {}
    try:
        with ws.store.read() as tx:
            rows = tx.query(
                """
                SELECT path, source, sources FROM pyramids p
                WHERE fid = (SELECT max(fid) FROM pyramids q WHERE q.path = p.path)
                """
            )
        for row in rows:
            by_path[ws.file(row["path"]).resolve()] = dict(row)
    except Exception as exc:  # the capabilities must still answer
        logger.warning("cannot read the pyramid records for layer titles: %s", exc)
    keys: dict[str, list[tuple[str, int]]] = {}
    for layer in layers:
        row = by_path.get(layer.path)
        keys[layer.name] = _dataset_keys(row["sources"]) if row else []
    datasets = _datasets(ws, {k for ks in keys.values() for k in ks})
    out = {}
    for layer in layers:
        row = by_path.get(layer.path) or {}
        # a source more restricted than the layer (a pyramid reviewed down to public)
        # is not named: whoever may see the layer may not see that dataset's record
        level = rank(layer.classification)
        found = [datasets[k] for k in keys[layer.name] if k in datasets]
        sources = [d for d in found if rank(d.classification) <= level]
        source = row.get("source")
        if len(sources) < len(found) and source not in service.products:
            source = None  # what the build was asked for may be a withheld dataset's id
        out[layer.name] = _text(service, layer, source, sources)
    return out


def _dataset_keys(text: str | None) -> list[tuple[str, int]]:
    """``dataset_id@version`` entries of a pyramid's ``sources`` (files are left out)."""
    try:
        entries = json.loads(text or "[]")
    except ValueError:
        return []
    out = []
    for entry in entries:
        if not isinstance(entry, str) or entry.startswith("file:"):
            continue
        dataset_id, _, version = entry.rpartition("@")
        if dataset_id and version.isdigit():
            out.append((dataset_id, int(version)))
    return out


def _datasets(ws, keys: set[tuple[str, int]]) -> dict[tuple[str, int], DatasetRecord]:
    if not keys:
        return {}
    ids = sorted({k[0] for k in keys})
    params = {f"d{i}": v for i, v in enumerate(ids)}
    marks = ", ".join(f":{p}" for p in params)
    try:
        with ws.store.read() as tx:
            rows = tx.query(
                "SELECT dataset_id, version, product, kind, path, title, acquired_start, "
                "acquired_end, resolution, classification FROM datasets "
                f"WHERE dataset_id IN ({marks})",
                params,
            )
    except Exception as exc:
        logger.warning("cannot read the catalogue for layer titles: %s", exc)
        return {}
    out = {}
    for row in rows:
        try:
            record = DatasetRecord.from_row(row)
        except StoreError as exc:  # the layer is still described, without this source
            logger.warning("cannot read a catalogue record for layer titles: %s", exc)
            continue
        if (record.dataset_id, record.version) in keys:
            out[record.dataset_id, record.version] = record
    return out


def _interval(sources: list[DatasetRecord]) -> tuple[str, str] | None:
    starts = [d for s in sources if (d := s.acquired_start or s.acquired_end)]
    ends = [d for s in sources if (d := s.acquired_end or s.acquired_start)]
    if not starts or not ends:
        return None
    return min(starts).isoformat(), max(ends).isoformat()


def _metres(value: float) -> str:
    """A length in metres with 2 significant digits (0.6 m, 1.2 m, 38 m)."""
    if value >= 10:
        return f"{value:.0f} m"
    return f"{float(f'{value:.2g}'):g} m"


def ground_resolution(layer: Layer) -> float:
    """Metres per pixel of the finest level along the parallel through the layer's centre."""

    west, south, east, north = layer.bounds
    lon, lat = (west + east) / 2, (south + north) / 2
    tile = layer.tms.tile(lon, lat, layer.maxzoom)
    bounds = layer.tms.bounds(tile)  # degrees
    width = layer.tms.matrix(layer.maxzoom).tileWidth
    _, _, metres = CGCS2000.geod().inv(bounds.left, lat, bounds.right, lat)
    return metres / width


def _text(service, layer: Layer, source: str | None, sources: list[DatasetRecord]) -> LayerText:
    products = service.products
    codes = {s.product for s in sources}
    code = source if source in products else (codes.pop() if len(codes) == 1 else None)
    product = products.get(code) if code in products else None
    interval = _interval(sources)
    when = ""
    if interval is not None:
        when = interval[0] if interval[0] == interval[1] else f"{interval[0]}/{interval[1]}"
    if product is not None:
        names = f"{product.name_zh} {product.name_en}"
    elif len(sources) == 1 and sources[0].title:
        names = f"{sources[0].title} tiles"
    else:
        names = f"瓦片 tiles of {source or layer.name}"
    title = " ".join(p for p in (names, when, f"({layer.name})") if p)

    parts = []
    if sources:
        listed = []
        for s in sources:
            bits = [d.isoformat() for d in (s.acquired_start, s.acquired_end) if d]
            detail = bits[0] if len(set(bits)) == 1 else "/".join(bits)
            if s.resolution:
                detail = ", ".join(p for p in (detail, _metres(s.resolution)) if p)
            listed.append(f"{s.dataset_id} v{s.version}" + (f" ({detail})" if detail else ""))
        parts.append("数据来源 Sources: " + "; ".join(listed) + ".")
    elif source:
        parts.append(f"数据来源 Source: {source}.")
    try:
        finest = f", 最细 finest ≈{_metres(ground_resolution(layer))}/px"
    except Exception:  # the description must not fail on an odd grid
        finest = ""
    crs = CRS_LABELS.get(layer.tms_id, str(layer.tms.crs))
    parts.append(
        f"瓦片矩阵集 Tile matrix set: {layer.tms_id} ({crs}); "
        f"级别 levels {layer.minzoom}-{layer.maxzoom}{finest}; 格式 format: {layer.format}."
    )
    label = CLASSIFICATION_LABELS.get(layer.classification, layer.classification)
    parts.append(f"密级 Classification: {label}.")
    return LayerText(title=title, abstract=" ".join(parts), interval=interval)
