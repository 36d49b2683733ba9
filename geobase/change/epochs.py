"""What BEFORE and AFTER name: raster files, catalogue dataset ids or ``PRODUCT@DATE``.

An epoch is one or more rasters of imagery and / or elevation (DEM, DSM, or a point
cloud's DEM gridded by ingest). ``PRODUCT@DATE`` is every dataset of the product that
was current on that date (the catalogue's state as of the date); several rasters of one
kind form a mosaic, newest on top. Parts are joined with commas, so that one epoch can
bring both imagery and elevation: ``dom02@2023-12-31,dsm05@2023-12-31``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.enums import ColorInterp

from geobase.errors import EpochSpecError, SourceReadError

if TYPE_CHECKING:
    from geobase.catalog.records import DatasetRecord

Kind = Literal["imagery", "elevation"]
KINDS: tuple[Kind, ...] = ("imagery", "elevation")


@dataclass(frozen=True)
class Source:
    """One raster of an epoch."""

    path: Path
    kind: Kind
    crs: CRS
    transform: tuple[float, ...]  # affine (a, b, c, d, e, f)
    width: int
    height: int
    bands: tuple[int, ...]  # the data bands read (1-based; alpha left out)
    nodata: float | None
    dtype: str = "float32"  # of the bands read
    date: dt.date | None = None
    dataset_id: str | None = None
    product: str | None = None
    footprint: Any = None  # shapely geometry in EPSG:4490 (catalogue), or None

    @property
    def res(self) -> float:
        """The coarser pixel side (CRS units)."""
        a, b, _, d, e, _ = self.transform
        return float(max(np.hypot(a, d), np.hypot(b, e)))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in the source CRS."""
        a, b, c, d, e, f = self.transform
        xs = [c, c + a * self.width, c + b * self.height, c + a * self.width + b * self.height]
        ys = [f, f + d * self.width, f + e * self.height, f + d * self.width + e * self.height]
        return min(xs), min(ys), max(xs), max(ys)


@dataclass(frozen=True)
class Epoch:
    """BEFORE or AFTER: its rasters by kind (newest first), its date and dataset ids."""

    label: str  # "before" | "after"
    spec: str
    sources: dict[str, list[Source]] = field(default_factory=dict)

    def of(self, kind: Kind) -> list[Source]:
        return self.sources.get(kind, [])

    def date(self, kind: Kind | None = None) -> dt.date | None:
        """The newest acquisition date of its rasters (of one kind), or None if undated."""
        kinds = [kind] if kind else list(self.sources)
        dates = [s.date for k in kinds for s in self.of(k) if s.date is not None]  # type: ignore[arg-type]
        return max(dates) if dates else None

    def ids(self, kind: Kind | None = None) -> str:
        """Dataset ids (file names for files), comma-separated."""
        kinds = [kind] if kind else list(self.sources)
        names = [s.dataset_id or s.path.name for k in kinds for s in self.of(k)]  # type: ignore[arg-type]
        return ",".join(dict.fromkeys(names))


def _guess_kind(src: rasterio.DatasetReader, bands: tuple[int, ...]) -> Kind:
    """One band of floats or signed integers is elevation; anything else imagery."""
    if len(bands) == 1 and np.dtype(src.dtypes[bands[0] - 1]).kind in "fi":
        return "elevation"
    return "imagery"


def _tag_date(src: rasterio.DatasetReader) -> dt.date | None:
    text = src.tags().get("TIFFTAG_DATETIME") or src.tags().get("ACQUISITION_DATE")
    if not text:
        return None
    try:
        return dt.date(int(text[0:4]), int(text[5:7]), int(text[8:10]))
    except ValueError:
        return None


def open_source(path: Path, *, kind: Kind | None = None, **extra: Any) -> Source:
    """Describe a raster file as a :class:`Source`.

    Raises:
        SourceReadError: not a readable raster.
        EpochSpecError: it has no CRS.
    """
    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as err:
        raise SourceReadError(f"{path}: not a readable raster ({err})") from err
    with src:
        if src.crs is None:
            raise EpochSpecError(
                f"{path}: the raster has no CRS; assign one (e.g. gdal_edit.py -a_srs "
                "EPSG:4548) before comparing epochs"
            )
        interp = src.colorinterp
        bands = tuple(i + 1 for i in range(src.count) if interp[i] != ColorInterp.alpha)
        if not bands:
            raise SourceReadError(f"{path}: the raster has only an alpha band")
        found = kind or _guess_kind(src, bands)
        if found == "elevation":
            bands = bands[:1]
        return Source(
            path=path,
            kind=found,
            crs=src.crs,
            transform=tuple(src.transform)[:6],
            width=src.width,
            height=src.height,
            bands=bands,
            nodata=src.nodata,
            dtype=src.dtypes[bands[0] - 1],
            date=extra.pop("date", None) or _tag_date(src),
            **extra,
        )


def _catalogue_sources(ws: Any, records: list[DatasetRecord]) -> list[Source]:
    from geobase.catalog.search import version_files

    out = []
    for record in records:
        if record.kind not in ("imagery", "dem", "pointcloud"):
            raise EpochSpecError(
                f"dataset {record.dataset_id!r} is {record.kind}; change detection compares "
                "imagery and elevation (DEMs, DSMs, point clouds gridded by ingest)"
            )
        stored = record.path
        if record.kind == "pointcloud":
            version = {
                "dataset_id": record.dataset_id,
                "version": record.version,
                "path": record.path,
            }
            grids = [
                f["path"]
                for f in version_files(ws.store, version)
                if str(f["path"]).lower().endswith((".tif", ".tiff"))
            ]
            if not grids:
                raise EpochSpecError(
                    f"point cloud {record.dataset_id!r} has no gridded DEM; ingest it with a "
                    "DEM resolution to compare its heights"
                )
            stored = grids[0]
        out.append(
            open_source(
                ws.file(stored, must_exist=True),
                kind="imagery" if record.kind == "imagery" else "elevation",
                date=record.acquired_end,
                dataset_id=record.dataset_id,
                product=record.product,
                footprint=record.footprint,
            )
        )
    return out


def _part_sources(part: str, ws: Any, cwd: Path) -> list[Source]:
    for candidate in [cwd / part] + ([ws.root / part] if ws is not None else []):
        if candidate.is_file():
            return [open_source(candidate.resolve())]
    if ws is None:
        raise EpochSpecError(
            f"epoch {part!r} is not a raster file, and without a workspace it cannot be a "
            "dataset id or PRODUCT@DATE (pass --workspace DIR)"
        )
    from geobase.catalog.products import products_for
    from geobase.catalog.records import current_records
    from geobase.dates import parse_date

    if "@" in part:
        product, _, when = part.partition("@")
        registry = products_for(ws.config.products)
        if product not in registry:
            raise EpochSpecError(
                f"epoch {part!r}: unknown product {product!r}; known products: "
                f"{', '.join(registry)}"
            )
        day = parse_date(when, f"date of epoch {part!r}")
        records = current_records(ws.store, product=product, as_of=day)
        if not records:
            raise EpochSpecError(
                f"epoch {part!r}: product {product} had no dataset acquired by {day}"
            )
        return _catalogue_sources(ws, records)
    records = [r for r in current_records(ws.store) if r.dataset_id == part]
    if not records:
        raise EpochSpecError(
            f"epoch {part!r} is not a raster file, a current dataset id or PRODUCT@DATE "
            "(e.g. dom02@2023-12-31); see 'geobase catalog list'"
        )
    return _catalogue_sources(ws, records)


def resolve_epoch(
    spec: str,
    label: str,
    ws: Any = None,
    *,
    date: dt.date | None = None,
    cwd: Path | None = None,
) -> Epoch:
    """The :class:`Epoch` a BEFORE / AFTER argument names.

    Args:
        spec: comma-separated parts, each a raster file, a dataset id or PRODUCT@DATE.
        label: ``before`` or ``after`` (for messages).
        ws: the workspace (needed for dataset ids and PRODUCT@DATE).
        date: the acquisition date of file parts that carry none.
        cwd: the folder relative file names are taken from (default: the current one).

    Raises:
        EpochSpecError: a part names nothing usable; an unknown product.
        SourceReadError: a raster cannot be read.
    """
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if not parts:
        raise EpochSpecError(f"{label} epoch is empty")
    sources: dict[str, list[Source]] = {}
    for part in parts:
        for source in _part_sources(part, ws, cwd or Path.cwd()):
            if source.date is None and date is not None:
                source = _with_date(source, date)
            sources.setdefault(source.kind, []).append(source)
    for kind, items in sources.items():
        # newest first; a mosaic paints the newest on top
        items.sort(key=lambda s: s.date or dt.date.min, reverse=True)
        counts = {len(s.bands) for s in items}
        if kind == "imagery" and len(counts) > 1:
            raise EpochSpecError(
                f"{label} epoch mixes imagery of {sorted(counts)} bands; compare one kind "
                "of imagery at a time"
            )
    return Epoch(label=label, spec=spec, sources=sources)


def _with_date(source: Source, date: dt.date) -> Source:
    from dataclasses import replace

    return replace(source, date=date)
