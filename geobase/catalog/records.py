"""Reading catalogue records: the current datasets, as of a date.

The catalogue is append-only (see ``store/migrations/m0003_catalog.py``); the current
state is derived here so that every reader (coverage, tiles, server) sees the same thing.

Two shapes of the same rows: :func:`current_datasets` gives a GeoDataFrame (for analysts,
notebooks and the vectorised coverage code); :func:`current_records` gives typed
:class:`DatasetRecord` values, converted once here from the store's row (text dates,
JSON text, pandas' NaN for a gap) so that the library reads ``record.acquired_end`` as a
date instead of ``row["acquired_end"]`` as whatever the backend handed over.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd

from geobase.errors import StoreError
from geobase.store import Store, Transaction
from geobase.values import plain_record

if TYPE_CHECKING:
    import pandas as pd
    from shapely.geometry.base import BaseGeometry

COLUMNS = (
    "fid, dataset_id, version, product, kind, title, acquired_start, acquired_end, ingested_at, "
    "classification, owner, epsg, resolution, bands, dtype, nodata, point_count, vertical_datum, "
    "path, checksum, size, derived_from, metadata, geom"
)
#: the catalogue's whole-number columns (``INTEGER`` in the datasets table): give them to
#: :func:`geobase.values.plain_record` so that a column with gaps is not shown as floats
INTEGER_COLUMNS = frozenset({"fid", "version", "epsg", "bands", "point_count", "size"})


@dataclass(frozen=True)
class DatasetRecord:
    """One version of a dataset as the catalogue records it (a row of ``datasets``).

    Dates are :class:`datetime.date` (None where not recorded); ``metadata`` and
    ``derived_from`` are decoded from their JSON text; ``footprint`` is the valid-data
    area in EPSG:4490 (None where not recorded).
    """

    dataset_id: str
    version: int
    product: str
    kind: str  # imagery, dem, vector, pointcloud, model3d, ...
    classification: str  # public, internal, restricted
    path: str  # the stored file, relative to the workspace's data root
    fid: int | None = None
    title: str | None = None
    acquired_start: dt.date | None = None
    acquired_end: dt.date | None = None
    ingested_at: str | None = None  # ISO 8601 UTC, as recorded
    owner: str | None = None
    epsg: int | None = None
    resolution: float | None = None  # metres (or the CRS's unit) per pixel
    bands: int | None = None
    dtype: str | None = None
    nodata: float | None = None
    point_count: int | None = None
    vertical_datum: str | None = None
    checksum: str | None = None
    size: int | None = None
    derived_from: tuple[str, ...] = ()  # "dataset_id@version" of the sources
    metadata: Mapping[str, Any] = field(default_factory=dict)
    footprint: BaseGeometry | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        """``dataset_id@version``: how a version is named in builds and lineage."""
        return f"{self.dataset_id}@{self.version}"

    @classmethod
    def from_row(cls, row: Mapping[str, Any] | pd.Series) -> DatasetRecord:
        """The record of a row of the datasets table (a frame's row, or a store's row,
        whose footprint, a backend's blob, is left out: read it with the store).

        Raises:
            StoreError: a required column is missing or empty, or a date or JSON value
                is not what the catalogue writes.
        """
        plain = plain_record(row, integers=INTEGER_COLUMNS)
        missing = [
            k
            for k in ("dataset_id", "version", "product", "kind", "classification", "path")
            if plain.get(k) is None
        ]
        if missing:
            raise StoreError(
                f"catalogue row {plain.get('dataset_id')!r}: no {', '.join(missing)}; "
                "the workspace's store is damaged"
            )
        try:
            return cls(
                dataset_id=str(plain["dataset_id"]),
                version=int(plain["version"]),
                product=str(plain["product"]),
                kind=str(plain["kind"]),
                classification=str(plain["classification"]),
                path=str(plain["path"]),
                fid=plain.get("fid"),
                title=plain.get("title"),
                acquired_start=_day(plain.get("acquired_start")),
                acquired_end=_day(plain.get("acquired_end")),
                ingested_at=plain.get("ingested_at"),
                owner=plain.get("owner"),
                epsg=plain.get("epsg"),
                resolution=_number(plain.get("resolution")),
                bands=plain.get("bands"),
                dtype=plain.get("dtype"),
                nodata=_number(plain.get("nodata")),
                point_count=plain.get("point_count"),
                vertical_datum=plain.get("vertical_datum"),
                checksum=plain.get("checksum"),
                size=plain.get("size"),
                derived_from=tuple(_json(plain.get("derived_from")) or ()),
                metadata=_json(plain.get("metadata")) or {},
                footprint=_geometry(row),
            )
        except (ValueError, TypeError) as err:
            raise StoreError(
                f"catalogue row {plain['dataset_id']}@{plain['version']}: {err}; "
                "the workspace's store is damaged"
            ) from err


def _geometry(row: Mapping[str, Any] | pd.Series) -> BaseGeometry | None:
    """A frame's footprint (``geometry``); a store's raw row holds a blob: None there."""
    from shapely.geometry.base import BaseGeometry

    value = row.get("geometry")
    return value if isinstance(value, BaseGeometry) else None


def _day(value: Any) -> dt.date | None:
    """A recorded date (ISO text, as ingest writes it; a date from a frame) as a date."""
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _json(value: Any) -> Any:
    """A JSON column's value, decoded (it is already decoded where a frame decoded it)."""
    return json.loads(value) if isinstance(value, str) else value


def dataset_records(frame: gpd.GeoDataFrame | pd.DataFrame) -> list[DatasetRecord]:
    """The rows of a datasets frame (:func:`current_datasets`, a search) as records."""
    return list(iter_records(frame))


def iter_records(frame: gpd.GeoDataFrame | pd.DataFrame) -> Iterator[DatasetRecord]:
    """:func:`dataset_records`, one at a time."""
    columns = list(frame.columns)
    for values in frame.itertuples(index=False, name=None):
        yield DatasetRecord.from_row(dict(zip(columns, values, strict=True)))


def current_datasets(
    store: Store,
    *,
    product: str | list[str] | None = None,
    as_of: dt.date | str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
) -> gpd.GeoDataFrame:
    """The current version of every dataset, newest acquisition first (undated last).

    Args:
        store: the workspace store.
        product: one product code or a list of them (default: all).
        as_of: only data acquired on or before this date (``acquired_end``), and for each
            dataset the newest version so acquired; removals recorded after the date are
            ignored. Default: today's state.
        bbox: (west, south, east, north) in EPSG:4490; uses the spatial index.

    Returns:
        A GeoDataFrame (EPSG:4490) with one row per dataset; ``geometry`` is the
        valid-data footprint.
    """
    with store.read() as tx:
        sql, params = current_sql(tx, product=product, as_of=as_of, bbox=bbox)
    return store.read_frame(sql, params)


def current_sql(
    tx: Transaction,
    *,
    product: str | list[str] | None = None,
    as_of: dt.date | str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    columns: str = COLUMNS,
    where: Sequence[str] = (),
    params: Mapping[str, Any] | None = None,
) -> tuple[str, dict[str, Any]]:
    """The query of :func:`current_datasets` (the one statement of which records are
    current), with its parameters: ``columns`` of alias ``d``, ``where`` conditions on
    ``d`` added (their ``params`` merged), newest acquisition first."""
    params = dict(params or {})
    where = ["1 = 1", *where]
    if product is not None:
        products = [product] if isinstance(product, str) else list(product)
        names = [f":p{i}" for i in range(len(products))]
        where.append(f"d.product IN ({', '.join(names)})")
        params.update({f"p{i}": p for i, p in enumerate(products)})
    event_cond = ""
    if as_of is not None:
        as_of = str(as_of)
        where.append("d.acquired_end IS NOT NULL AND d.acquired_end <= :as_of")
        params["as_of"] = as_of
        event_cond = "AND substr(e.at, 1, 10) <= :as_of"
    if bbox is not None:
        cond, bb = tx.bbox_filter("datasets", bbox, alias="d")
        where.append(cond)
        params.update(bb)
    sql = f"""
        SELECT {", ".join("d." + c.strip() for c in columns.split(","))}
        FROM datasets d
        WHERE {" AND ".join(where)}
          AND d.version = (
            SELECT max(d2.version) FROM datasets d2
            WHERE d2.dataset_id = d.dataset_id
            {"AND d2.acquired_end <= :as_of" if as_of is not None else ""})
          AND NOT EXISTS (
            SELECT 1 FROM dataset_events e
            WHERE e.dataset_id = d.dataset_id AND e.version = d.version
              AND e.event = 'removed' {event_cond})
        ORDER BY d.acquired_end IS NULL, d.acquired_end DESC, d.dataset_id
    """
    return sql, params


def current_records(
    store: Store,
    *,
    product: str | list[str] | None = None,
    as_of: dt.date | str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
) -> list[DatasetRecord]:
    """:func:`current_datasets` as typed records, in the same order (newest first)."""
    return dataset_records(current_datasets(store, product=product, as_of=as_of, bbox=bbox))
