"""Reading catalogue records: the current datasets, as of a date.

The catalogue is append-only (see ``store/migrations/m0003_catalog.py``); the current
state is derived here so that every reader (coverage, tiles, server) sees the same thing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import geopandas as gpd

from geobase.store import Store, Transaction

COLUMNS = (
    "fid, dataset_id, version, product, kind, title, acquired_start, acquired_end, ingested_at, "
    "classification, owner, epsg, resolution, bands, dtype, nodata, point_count, vertical_datum, "
    "path, checksum, size, derived_from, metadata, geom"
)
#: the catalogue's whole-number columns (``INTEGER`` in the datasets table): give them to
#: :func:`geobase.values.plain_record` so that a column with gaps is not shown as floats
INTEGER_COLUMNS = frozenset({"fid", "version", "epsg", "bands", "point_count", "size"})


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
