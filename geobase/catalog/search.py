"""Searching the catalogue, a dataset's history, and removing a dataset version.

The catalogue is append-only: removing a version adds a ``removed`` event; the rows and
(unless purged) the stored files stay, so that the history can be shown.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from geobase import dates
from geobase.catalog.quality import qc_result
from geobase.catalog.records import COLUMNS, INTEGER_COLUMNS, current_datasets, current_sql
from geobase.classification import check_classifications
from geobase.errors import InvalidDate, NotFoundError, OutsideWorkspace, UnsupportedInput
from geobase.names import check_existing_name
from geobase.paths import inside
from geobase.store import Store, Workspace, utc_now
from geobase.values import plain_record

logger = logging.getLogger(__name__)

_HISTORY_COLUMNS = (
    "fid, dataset_id, version, product, kind, title, acquired_start, acquired_end, "
    "ingested_at, classification, owner, crs_wkt, epsg, resolution, bands, dtype, nodata, "
    "point_count, vertical_datum, path, source_path, checksum, size, derived_from, metadata, geom"
)


def _date(value: dt.date | str | None, what: str) -> str | None:
    if value is None:
        return None
    try:
        return dates.parse_date(value, what).isoformat()
    except InvalidDate as exc:
        raise UnsupportedInput(str(exc)) from None


def _checked(
    bbox: tuple[float, float, float, float] | None,
    start: dt.date | str | None,
    end: dt.date | str | None,
    classification: str | list[str] | None,
) -> tuple[str | None, str | None, list[str] | None]:
    """The search's arguments checked: (start, end) as ISO dates, classifications."""
    start_s, end_s = _date(start, "start"), _date(end, "end")
    if start_s and end_s and end_s < start_s:
        raise UnsupportedInput(f"date range ends ({end_s}) before it starts ({start_s})")
    if bbox is not None:
        west, south, east, north = bbox
        if not (west < east and south < north):
            raise UnsupportedInput(f"bbox {bbox} is not (west, south, east, north)")
    wanted = None
    if classification is not None:
        wanted = check_classifications(classification)
    return start_s, end_s, wanted


def search(
    store: Store,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    product: str | list[str] | None = None,
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
    classification: str | list[str] | None = None,
    as_of: dt.date | str | None = None,
) -> gpd.GeoDataFrame:
    """Current datasets that match every given condition.

    Args:
        store: the workspace store.
        bbox: (west, south, east, north) in EPSG:4490: footprints that intersect it.
        product: product code(s).
        start, end: acquisition windows that overlap [start, end] (either end open).
        classification: public, internal, restricted (one or several).
        as_of: the catalogue as it stood on that date (see :func:`current_datasets`).

    Returns:
        A GeoDataFrame like :func:`current_datasets`, newest acquisition first. This is
        also the reference :func:`search_page` (the server's paged search) is tested
        against.
    """
    start_s, end_s, wanted = _checked(bbox, start, end, classification)
    frame = current_datasets(store, product=product, as_of=as_of, bbox=bbox)
    keep = pd.Series(True, index=frame.index)
    if bbox is not None and len(frame):
        keep &= frame.geometry.intersects(shapely.box(*bbox))
    if start_s is not None:
        keep &= frame["acquired_end"].fillna("9999-12-31") >= start_s
    if end_s is not None:
        keep &= frame["acquired_start"].fillna("0000-01-01") <= end_s
    if wanted is not None:
        keep &= frame["classification"].isin(wanted)
    return frame[keep].reset_index(drop=True)


def search_page(
    store: Store,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    product: str | list[str] | None = None,
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
    classification: str | list[str] | None = None,
    as_of: dt.date | str | None = None,
    limit: int | None = None,
    offset: int = 0,
    columns: str = COLUMNS,
    dataset_id: str | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """One page of :func:`search`'s answer, from indexed queries: (matched, records).

    Every condition is SQL (the spatial index for ``bbox``, the catalogue's indexes for
    the current version and removals); only the matching records' ids and footprints
    are read to count them and test the footprints exactly against ``bbox``, then the
    page's records themselves. Each record is a dict of ``columns`` (raw store values)
    with ``geometry`` (shapely) in place of ``geom``; the order is :func:`search`'s.
    ``dataset_id`` keeps one dataset's current record only (by the catalogue's index).
    """
    start_s, end_s, wanted = _checked(bbox, start, end, classification)
    where: list[str] = []
    params: dict[str, Any] = {}
    if dataset_id is not None:
        where.append("d.dataset_id = :q_id")
        params["q_id"] = dataset_id
    if start_s is not None:
        where.append("(d.acquired_end IS NULL OR d.acquired_end >= :q_start)")
        params["q_start"] = start_s
    if end_s is not None:
        where.append("(d.acquired_start IS NULL OR d.acquired_start <= :q_end)")
        params["q_end"] = end_s
    if wanted is not None:
        if not wanted:
            return 0, []
        names = [f":q_c{i}" for i in range(len(wanted))]
        where.append(f"d.classification IN ({', '.join(names)})")
        params.update({f"q_c{i}": c for i, c in enumerate(wanted)})
    with store.read() as tx:
        sql, params = current_sql(
            tx,
            product=product,
            as_of=as_of,
            bbox=bbox,
            columns="fid, geom" if bbox is not None else "fid",
            where=where,
            params=params,
        )
        found = tx.execute(sql, params).fetchall()
        if bbox is not None and found:
            geoms = store.read_geoms([r[1] for r in found])
            hits = shapely.intersects(geoms, shapely.box(*bbox))
            fids = [int(r[0]) for r, hit in zip(found, hits, strict=True) if hit]
        else:
            fids = [int(r[0]) for r in found]
        page = fids[offset:] if limit is None else fids[offset : offset + limit]
        if not page:
            return len(fids), []
        marks = {f"f{i}": fid for i, fid in enumerate(page)}
        names = [d.strip() for d in columns.split(",")]
        cursor = tx.execute(
            f"SELECT {', '.join(names)} FROM datasets "
            f"WHERE fid IN ({', '.join(':' + m for m in marks)})",
            marks,
        )
        got = {}
        for row in cursor.fetchall():
            record = dict(zip(names, row, strict=True))
            got[int(record["fid"])] = record
    records = [got[fid] for fid in page]
    if "geom" in names:
        geometries = store.read_geoms([r.pop("geom") for r in records])
        for record, geometry in zip(records, geometries, strict=True):
            record["geometry"] = geometry
    return len(fids), records


def history(store: Store, dataset_id: str) -> gpd.GeoDataFrame:
    """Every version of a dataset (oldest first) with its removal, if any.

    Raises:
        NotFoundError: no dataset has this id.
    """
    frame = store.read_frame(
        f"""SELECT {_HISTORY_COLUMNS},
                   (SELECT e.at FROM dataset_events e WHERE e.dataset_id = d.dataset_id
                      AND e.version = d.version AND e.event = 'removed'
                    ORDER BY e.at DESC LIMIT 1) AS removed_at,
                   (SELECT e.reason FROM dataset_events e WHERE e.dataset_id = d.dataset_id
                      AND e.version = d.version AND e.event = 'removed'
                    ORDER BY e.at DESC LIMIT 1) AS removed_reason
            FROM datasets d WHERE d.dataset_id = :id ORDER BY d.version""",
        {"id": dataset_id},
    )
    if frame.empty:
        raise NotFoundError(f"no dataset {dataset_id!r} in the catalogue")
    latest = frame["version"].max()
    removed_latest = frame.loc[frame["version"] == latest, "removed_at"].notna().any()
    frame["status"] = [
        "removed"
        if pd.notna(r)
        else ("current" if v == latest and not removed_latest else "superseded")
        for v, r in zip(frame["version"], frame["removed_at"], strict=True)
    ]
    return frame


def show(store: Store, dataset_id: str, version: int | None = None) -> dict[str, Any]:
    """One version of a dataset (default: the newest) as a dict, metadata decoded.

    Raises:
        NotFoundError: no such dataset or version.
    """
    frame = history(store, dataset_id)
    if version is None:
        row = frame.iloc[-1]
    else:
        match = frame[frame["version"] == version]
        if match.empty:
            raise NotFoundError(
                f"dataset {dataset_id!r} has no version {version}; versions: "
                f"{', '.join(map(str, frame['version']))}"
            )
        row = match.iloc[0]
    fields = [k for k in row.index if k != "geometry"]
    record = plain_record(row, fields, integers=INTEGER_COLUMNS)
    for key in ("metadata", "derived_from"):
        if isinstance(record.get(key), str):
            record[key] = json.loads(record[key])
    record["footprint"] = row.geometry
    record["versions"] = [int(v) for v in frame["version"]]
    record["files"] = version_files(store, record)
    record["qc"] = qc_result(store, dataset_id, record["version"])
    return record


def version_files(store: Store, record: dict[str, Any]) -> list[dict[str, Any]]:
    """The files of a dataset version: the delivery as delivered and what was derived
    from it, each with its role, path (relative to the data root), size and sha256.

    A version ingested before files were listed (schema v7) shows its one stored file,
    role ``stored``: from then, a raster delivery was kept only as its COG.
    """
    with store.read() as tx:
        rows = tx.query(
            "SELECT role, path, size, sha256, description FROM dataset_files "
            "WHERE dataset_id = :id AND version = :v ORDER BY fid",
            {"id": record["dataset_id"], "v": int(record["version"])},
        )
    if rows:
        return [dict(r) for r in rows]
    stored = (record.get("metadata") or {}).get("stored_file") or {}
    return [
        {
            "role": "stored",
            "path": record["path"],
            "size": stored.get("size", record.get("size")),
            "sha256": stored.get("sha256", record.get("checksum")),
            "description": "recorded before deliveries and derived files were listed",
        }
    ]


def remove(
    ws: Workspace,
    dataset_id: str,
    *,
    version: int | None = None,
    reason: str | None = None,
    by_user: str | None = None,
    purge: bool = False,
) -> dict[str, Any]:
    """Mark a dataset version as removed (default: its current version).

    The record stays in the history. With ``purge`` the version's stored files are
    deleted too (after the event is committed); their folder, resolved with its symbolic
    links, must lie inside the workspace's ``data/`` folder.

    Raises:
        InvalidName: ``dataset_id`` is a path (``..``, a separator), not an id.
        NotFoundError: no such dataset or version, or it is already removed.
        OutsideWorkspace: with ``purge``, the version's folder resolves outside ``data/``
            (nothing is removed or recorded).
    """
    check_existing_name(dataset_id, "dataset id")
    with ws.store.transaction() as tx:
        rows = tx.query(
            """SELECT d.version, d.path,
                      EXISTS (SELECT 1 FROM dataset_events e WHERE e.dataset_id = d.dataset_id
                              AND e.version = d.version AND e.event = 'removed') AS removed
               FROM datasets d WHERE d.dataset_id = :id ORDER BY d.version""",
            {"id": dataset_id},
        )
        if not rows:
            raise NotFoundError(f"no dataset {dataset_id!r} in the catalogue")
        target = (
            rows[-1]
            if version is None
            else next((r for r in rows if r["version"] == version), None)
        )
        if target is None:
            raise NotFoundError(
                f"dataset {dataset_id!r} has no version {version}; versions: "
                f"{', '.join(str(r['version']) for r in rows)}"
            )
        if target["removed"]:
            raise NotFoundError(
                f"dataset {dataset_id!r} version {target['version']} is already removed"
            )
        folder = None
        if purge:  # checked before the event is recorded
            data = ws.data_path("data")
            folder = inside(ws.file(Path(target["path"]).parent), data, "stored folder")
            if folder == data.resolve():
                raise OutsideWorkspace(
                    f"dataset {dataset_id!r} version {target['version']}: its path "
                    f"{target['path']!r} names the data folder itself; nothing removed"
                )
        event = {
            "dataset_id": dataset_id,
            "version": target["version"],
            "event": "removed",
            "at": utc_now(),
            "by_user": by_user,
            "reason": reason,
        }
        tx.insert("dataset_events", event)
        tx.touch("datasets")
    if folder is not None and folder.is_dir():
        shutil.rmtree(folder)
        event["purged"] = ws.stored_path(folder)
    logger.info("removed %s v%d", dataset_id, target["version"])
    return event
