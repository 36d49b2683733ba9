"""``tiles build``: resolve a source, choose zooms, build or update, record the pyramid.

A SOURCE is a raster file, a product code (a mosaic of the product's current datasets,
newest acquisition on top) or a catalogue dataset id. Each build is recorded in the
workspace's ``pyramids`` table with the datasets it painted; ``update=True`` compares them
with the catalogue's current datasets and re-renders only where they differ
(:mod:`geobase.tiles.incremental`). :func:`build_file` builds a raster file's pyramid
with no workspace (like gdal2tiles; nothing recorded).

Publishing never shows a build to callers its classification excludes. Every build has
an id, written in the pyramid's TileJSON and in its records. Once every tile is staged,
a ``publishing`` record commits, classified the stricter of the pyramid's last record and
the new build; only then do the files move into place, and then the ``published`` record
(the new classification) commits. Whenever the build stops (a busy store, a killed
process), the newest record is at least as strict as whatever build lies at the path;
the server serves a published record only from files of its build, and keys its tile
cache by build (:mod:`geobase.server.layers`). What a killed build left (``.partial-``
files) is removed by the next build.

Example:
    >>> from geobase.tiles.build import build_tiles  # doctest: +SKIP
    >>> build_tiles(ws, "dom02", "tiles/dom02.pmtiles", tms="CGCS2000Quad")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import shapely
from rasterio.warp import calculate_default_transform
from shapely.geometry.base import BaseGeometry

from geobase.classification import most_restrictive
from geobase.errors import (
    InvalidName,
    NotFoundError,
    OutputExistsError,
    OutsideWorkspace,
    TileSettingsError,
)
from geobase.names import check_name
from geobase.paths import inside
from geobase.store import Workspace, utc_now
from geobase.tiles import incremental
from geobase.tiles.cache import RawCache
from geobase.tiles.encode import EXTENSIONS
from geobase.tiles.pyramid import (
    BuildStats,
    Progress,
    build_pyramid,
    cache_fingerprint,
    settings_for,
)
from geobase.tiles.render import (
    SourceRef,
    channels_for,
    open_raster,
    source_ref,
    transform_bounds,
)
from geobase.tiles.settings import TilesSettings, tiles_settings
from geobase.tiles.stores import open_pyramid, remove_leftovers, store_kind
from geobase.tiles.tms import TMS

if TYPE_CHECKING:  # geopandas (with pandas) costs ~0.4 s to import: only list_pyramids needs it
    import geopandas as gpd

logger = logging.getLogger(__name__)

PUBLISHING, PUBLISHED = "publishing", "published"


@dataclass(frozen=True)
class ResolvedSource:
    """One raster of a build, in painting order."""

    key: str  # dataset_id@version, or file:<path>@<size>-<mtime>
    path: Path
    footprint: BaseGeometry | None  # EPSG:4490; None where not recorded
    classification: str
    kind: str  # imagery | dem


def resolve_sources(ws: Workspace, source: str) -> list[ResolvedSource]:
    """The rasters a SOURCE names, oldest first (the last is painted on top)."""
    candidate = Path(source)
    for path in (candidate, ws.root / candidate):
        if path.is_file():
            return [_file_source(path.resolve())]
    from geobase.catalog.products import products_for
    from geobase.catalog.records import current_records

    registry = products_for(ws.config.products)
    if source in registry:
        records = current_records(ws.store, product=source)
        if not records:
            raise NotFoundError(f"product {source!r} has no current datasets to publish")
    else:
        records = [r for r in current_records(ws.store) if r.dataset_id == source]
        if not records:
            raise NotFoundError(
                f"SOURCE {source!r} is not a raster file, a product code or a current dataset "
                "id; see 'geobase catalog list'"
            )
    bad = sorted({r.kind for r in records} - {"imagery", "dem"})
    if bad:
        raise TileSettingsError(f"SOURCE {source!r} holds {', '.join(bad)} datasets; only imagery "
                         "and DEMs are published as tiles")  # fmt: skip
    out = []
    # current_records is newest first; paint the oldest first so the newest ends on top
    for record in reversed(records):
        out.append(
            ResolvedSource(
                key=record.key,
                path=ws.file(record.path, must_exist=True),
                footprint=record.footprint,
                classification=record.classification,
                kind=record.kind,
            )
        )
    return out


def _file_source(path: Path) -> ResolvedSource:
    with open_raster(str(path)) as src:
        w, s, e, n = transform_bounds(src.crs, "EPSG:4490", src.bounds)
        kind = "dem" if src.count == 1 and src.dtypes[0] != "uint8" else "imagery"
    stat = path.stat()
    return ResolvedSource(
        key=f"file:{path}@{stat.st_size}-{stat.st_mtime_ns}",
        path=path,
        footprint=shapely.box(w, s, e, n),
        classification="internal",  # unknown: never served without authentication
        kind=kind,
    )


def default_zooms(tms, sources: list[SourceRef]) -> tuple[int, int]:
    """(minzoom, maxzoom): the zoom of the finest source, and the one holding all in a tile."""
    crs = tms.rasterio_crs
    finest = math.inf
    for ref in sources:
        with open_raster(ref.path) as src, warnings.catch_warnings():
            # rasterio 1.4's from_bounds still multiplies Affines with `*` (affine >= 3.1)
            warnings.filterwarnings(
                "ignore", message="Use `@` matmul", category=PendingDeprecationWarning
            )
            transform, _, _ = calculate_default_transform(
                src.crs, crs, src.width, src.height, *src.bounds
            )
        finest = min(finest, abs(transform.a))
    maxz = tms.zoom_for_res(finest)
    w = min(s.bounds[0] for s in sources)
    s_ = min(s.bounds[1] for s in sources)
    e = max(s.bounds[2] for s in sources)
    n = max(s.bounds[3] for s in sources)
    size = max(e - w, n - s_) / tms.matrix(maxz).cellSize / 256
    lo = int(tms.tileMatrices[0].id)
    minz = max(lo, maxz - math.ceil(math.log2(max(size, 1.0))))
    return minz, maxz


def _rel(ws: Workspace, path: Path) -> str:
    return ws.stored_path(path)


def last_pyramid(ws: Workspace, out: str | Path) -> dict | None:
    """The newest published record of the pyramid at ``out`` (with its
    ``source_footprints``); the ``publishing`` record of a build that never finished is
    passed over."""
    rel = _rel(ws, Path(out))
    with ws.store.read() as tx:
        row = tx.query_one(
            "SELECT * FROM pyramids WHERE path = :p AND (state IS NULL OR state = :s) "
            "ORDER BY fid DESC LIMIT 1",
            {"p": rel, "s": PUBLISHED},
        )
        if row is None:
            return None
        rows = tx.query(
            "SELECT source, footprint FROM pyramid_sources WHERE pyramid_fid = :f",
            {"f": row["fid"]},
        )
    row.pop("geom", None)
    row["source_footprints"] = {
        r["source"]: shapely.from_wkt(r["footprint"]) if r["footprint"] else None for r in rows
    }
    return row


def _build_on_disk(out: Path) -> str | None:
    """The build id of the pyramid at ``out`` ("" where it cannot be read)."""
    try:
        with open_pyramid(out) as reader:
            return reader.build_id
    except (OSError, ValueError) as exc:
        logger.warning("cannot read the pyramid at %s: %s", out, exc)
        return ""


def remove_tile_leftovers(ws: Workspace, out: Path | None = None) -> list[Path]:
    """Remove what killed tile builds left in the workspace's tiles folder, its overview
    cache and beside ``out``; returns the removed paths."""
    tiles_dir = ws.data_path(ws.config.tiles_dir)
    removed = remove_leftovers(tiles_dir) + remove_leftovers(tiles_dir / ".cache")
    if out is not None and out.parent.resolve() != tiles_dir.resolve():
        removed += remove_leftovers(out.parent, out.name)
    return removed


def recordable(ws: Workspace, out: str | Path) -> bool:
    """Whether a pyramid at ``out`` may be recorded in ``ws``: it lies (symbolic links
    resolved) inside the workspace folder or its data root, where the server serves from.
    """
    for root in (ws.root, ws.data_root):
        try:
            inside(_absolute(out), root, "output")
        except OutsideWorkspace:
            continue
        return True
    return False


def check_recordable(ws: Workspace, out: str | Path) -> None:
    """Refuse (:class:`OutsideWorkspace`) a pyramid at ``out`` that :func:`recordable`
    would not record: nothing is recorded for a path the server would refuse to serve."""
    if not recordable(ws, out):
        roots = sorted({str(ws.root.resolve()), str(ws.data_root.resolve())})
        raise OutsideWorkspace(
            f"output {_absolute(out).resolve()} lies outside the workspace "
            f"({' and its data root '.join(roots)}), so its pyramid cannot be recorded or "
            "served; write it under the workspace's tiles/ or use a raster file as SOURCE"
        )


def list_pyramids(ws: Workspace) -> gpd.GeoDataFrame:
    """The newest record of every pyramid in the workspace."""
    return ws.store.read_frame(
        """
        SELECT fid, name, path, store, source, tms, minzoom, maxzoom, format, mode,
               classification, build, coalesce(state, 'published') AS state, build_id,
               built_at, tile_count, bytes, geom
        FROM pyramids p
        WHERE fid = (SELECT max(fid) FROM pyramids q WHERE q.path = p.path)
        ORDER BY path
        """
    )


def build_tiles(
    ws: Workspace,
    source: str,
    out: str | Path,
    *,
    tms: str | None = None,
    zoom: tuple[int, int] | None = None,
    fmt: str | None = None,
    mode: str | None = None,
    update: bool = False,
    overwrite: bool = False,
    workers: int | None = None,
    dask: str | None = None,
    block: int | None = None,
    max_memory_mb: int | None = None,
    name: str | None = None,
    progress: Progress | None = None,
) -> dict:
    """Build (or, with ``update``, bring up to date) the pyramid of ``source`` at ``out``.

    Args:
        ws: the workspace (its catalogue, and where the build is recorded).
        source: raster file, product code or dataset id.
        out: a directory, ``.mbtiles`` (WebMercatorQuad only), ``.pmtiles`` or ``.gpkg`` path.
        tms: ``WebMercatorQuad`` (default) or ``CGCS2000Quad``.
        zoom: (min, max); default from the data's resolution and extent.
        fmt: ``jpeg``, ``png`` (default) or ``webp``.
        mode: ``rgb`` (imagery), ``terrain-rgb`` (DEM default) or ``hillshade``.
        update: re-render only where datasets were added, superseded or removed since the
            last build of ``out``; settings default to that build's.
        overwrite: replace an existing ``out`` (a full build).
        workers: processes (default: CPU count); ``dask``: a scheduler address instead.
        block: window size in base tiles (power of two; default 8, ``[tiles] block``; on
            update: the last build's).
        max_memory_mb: peak resident memory of the build, MiB (default ``[tiles]
            max_memory_mb``; none: no limit); see :func:`geobase.tiles.pyramid.memory_plan`.
        name: pyramid name (default: the output's stem).
        progress: ``progress(done, total, rate=...)``.

    Returns:
        The pyramid's record (a dict), with the build statistics.
    """
    out = _absolute(out)
    check_recordable(ws, out)
    remove_tile_leftovers(ws, out)
    last = last_pyramid(ws, out) if update else None
    if update:
        if last is None or not out.exists():
            raise NotFoundError(
                f"no pyramid recorded at {out}; build it once without --update first"
            )
        tms, zoom, fmt, mode = _same_settings(last, tms, zoom, fmt, mode)
        if source != last["source"]:
            raise TileSettingsError(
                f"--update of {out}: SOURCE {source!r} differs from the pyramid's "
                f"{last['source']!r}; build without --update to change it"
            )
    elif out.exists() and not overwrite:
        raise OutputExistsError(f"{out} exists; pass --overwrite to replace it or --update")
    resolved = resolve_sources(ws, source)
    tiles_cfg = tiles_settings(ws.config.tiles)
    settings, refs, tilejson = _plan(resolved, out, tms, zoom, fmt, mode, tiles_cfg.jpeg_fill, name)
    rel = _rel(ws, out)
    cache_rel = (
        Path(ws.config.tiles_dir)
        / ".cache"
        / (hashlib.sha1(rel.encode()).hexdigest()[:16] + ".sqlite")
    )
    cache_path = ws.file(cache_rel)
    if update and block is None:
        # the windows of the build whose cache the update starts from
        block = (RawCache.stored_fingerprint(cache_path) or {}).get("block")
    block = int(block or tiles_cfg.block)
    name = tilejson["name"]
    region = None
    if update and last is not None:  # last is known when updating (checked above)
        on_disk = _build_on_disk(out)
        if on_disk != last.get("build_id"):
            # a build stopped between its files' move and its record: the files are not
            # the recorded build's, so an update has nothing to start from
            logger.warning(
                "the pyramid at %s is not the build its record names; rebuilding it whole", out
            )
            update = False
        elif not RawCache.matches(
            cache_path, cache_fingerprint(settings, block), last.get("build_id")
        ):
            # made by another version of the warp, for another build, or lost: a full
            # build replaces the pyramid (and writes a new cache), recorded as such
            logger.warning("no usable overview cache for %s; rebuilding it whole", out)
            update = False
    if update and last is not None:
        region = incremental.changed_region(
            last["source_footprints"], resolved, settings.tms.rasterio_crs
        )
        if not region:
            logger.info("%s is up to date", out)
            return {**last, "written_tiles": 0, "written_bytes": 0, "up_to_date": True}
    row = _row(name, rel, out, source, resolved, settings, tilejson, update)

    def publishing(stats: BuildStats) -> None:
        _insert(ws, {**row, **_stats_values(stats)}, resolved, guard=True)

    stats = build_pyramid(
        refs,
        out,
        settings,
        tilejson,
        region=region,
        cache_path=cache_path,
        block=block,
        workers=workers,
        dask=dask,
        max_memory_mb=max_memory_mb or tiles_cfg.max_memory_mb,
        progress=progress,
        before_swap=publishing,
    )
    if stats.cache_bytes:
        logger.info("overview cache: %d bytes (%.1f%% of the pyramid)", stats.cache_bytes,
                    100 * stats.cache_bytes / max(stats.bytes, 1))  # fmt: skip
    row = {**row, **_stats_values(stats), "cache": cache_rel.as_posix()}
    fid = _insert(ws, row, resolved, guard=False)
    return {
        "fid": fid,
        **row,
        "written_bytes": stats.written_bytes,
        "deleted_tiles": stats.deleted_tiles,
        "base_tiles_rendered": stats.base_tiles_rendered,
        "cache_bytes": stats.cache_bytes,
    }


def build_file(
    source: str | Path,
    out: str | Path,
    *,
    tms: str | None = None,
    zoom: tuple[int, int] | None = None,
    fmt: str | None = None,
    mode: str | None = None,
    overwrite: bool = False,
    workers: int | None = None,
    dask: str | None = None,
    block: int | None = None,
    max_memory_mb: int | None = None,
    name: str | None = None,
    progress: Progress | None = None,
) -> dict:
    """Build the pyramid of one raster file with no workspace (like gdal2tiles).

    Nothing is recorded; the overview cache is temporary (no ``--update`` later). The
    arguments are :func:`build_tiles`'s; the folder of ``out`` is created if missing.

    Returns:
        The pyramid's TileJSON and the build statistics (``tile_count``, ``bytes``,
        ``written_tiles``, ``seconds``, ``minzoom``, ``maxzoom``, ``tms``, ``format``).
    """
    path = Path(source)
    if not path.is_file():
        raise NotFoundError(
            f"SOURCE {str(source)!r} is not a raster file; product codes and dataset ids "
            "need a workspace (geobase init, or --workspace DIR)"
        )
    out = _absolute(out)
    remove_leftovers(out.parent, out.name)
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} exists; pass --overwrite to replace it")
    resolved = [_file_source(path.resolve())]
    defaults = TilesSettings()
    settings, refs, tilejson = _plan(resolved, out, tms, zoom, fmt, mode, defaults.jpeg_fill, name)
    stats = build_pyramid(
        refs,
        out,
        settings,
        tilejson,
        block=int(block or defaults.block),
        workers=workers,
        dask=dask,
        max_memory_mb=max_memory_mb,
        progress=progress,
    )
    return {
        **tilejson,
        "path": str(out),
        "store": store_kind(out),
        "tms": settings.tms.id,
        **_stats_values(stats),
        "written_bytes": stats.written_bytes,
    }


def _absolute(out: str | Path) -> Path:
    out = Path(out)
    return out if out.is_absolute() else Path.cwd() / out


def _plan(resolved, out, tms, zoom, fmt, mode, fill, name):
    """(settings, source refs, TileJSON with a new build id) of a build."""
    tms_obj = TMS.get(tms or "WebMercatorQuad")
    fmt = fmt or "png"
    if store_kind(out) == "mbtiles" and tms_obj.id != "WebMercatorQuad":
        from geobase.errors import TileStoreError

        raise TileStoreError(
            f"MBTiles holds WebMercatorQuad tiles only (its specification), not {tms_obj.id}; "
            "write a .pmtiles or .gpkg file or a directory instead"
        )
    crs = tms_obj.rasterio_crs
    bands = 0
    for r in resolved:
        with open_raster(str(r.path)) as src:
            bands = max(bands, src.count)
    refs = [source_ref(str(r.path), crs) for r in resolved]
    if mode is None:
        mode = "terrain-rgb" if all(r.kind == "dem" for r in resolved) else "rgb"
    if zoom is None:
        zoom = default_zooms(tms_obj, refs)
    settings = settings_for(
        tms_obj,
        minzoom=zoom[0],
        maxzoom=zoom[1],
        fmt=fmt,
        mode=mode,
        channels=channels_for(mode, bands),
        fill=fill,
    )
    tilejson = _tilejson(pyramid_name(name, out), settings, refs, resolved)
    return settings, refs, tilejson


def pyramid_name(name: str | None, out: Path) -> str:
    """The pyramid's name: ``name``, else the output's stem; either must be a name
    (:func:`geobase.names.check_name`), else :class:`InvalidName`."""
    if name is not None:
        return check_name(name, "pyramid name")
    try:
        return check_name(out.stem, "pyramid name")
    except InvalidName as exc:
        raise InvalidName(
            f"{exc} (the default, the output's stem); pass --name NAME to choose one"
        ) from None


def _same_settings(last, tms, zoom, fmt, mode):
    given = {"tms": tms, "zoom": zoom, "format": fmt, "mode": mode}
    recorded = {
        "tms": last["tms"],
        "zoom": (last["minzoom"], last["maxzoom"]),
        "format": last["format"],
        "mode": last["mode"],
    }
    for key, value in given.items():
        if value is None:
            continue
        if (tuple(value) if key == "zoom" else value) != recorded[key]:
            raise TileSettingsError(
                f"--update: --{key} {value} differs from the pyramid's {recorded[key]}; "
                "build without --update (and with --overwrite) to change it"
            )
    return recorded["tms"], recorded["zoom"], recorded["format"], recorded["mode"]


def _tilejson(name, settings, refs, resolved) -> dict:
    crs = settings.tms.rasterio_crs
    w = min(r.bounds[0] for r in refs)
    s = min(r.bounds[1] for r in refs)
    e = max(r.bounds[2] for r in refs)
    n = max(r.bounds[3] for r in refs)
    if crs.is_geographic:
        bounds = [w, s, e, n]
    else:
        bounds = list(transform_bounds(crs, "EPSG:4326", (w, s, e, n)))
    bounds = [round(v, 7) for v in bounds]
    ext = EXTENSIONS[settings.fmt]
    doc = {
        "tilejson": "3.0.0",
        "name": name,
        "version": "1.0.0",
        "scheme": "xyz",
        "tiles": [f"{{z}}/{{x}}/{{y}}.{ext}"],
        "minzoom": settings.minzoom,
        "maxzoom": settings.maxzoom,
        "bounds": bounds,
        "center": [
            round((bounds[0] + bounds[2]) / 2, 7),
            round((bounds[1] + bounds[3]) / 2, 7),
            settings.minzoom,
        ],
        "format": settings.fmt,
        "tilematrixset": settings.tms.id,
        "crs": f"EPSG:{crs.to_epsg()}",
        "mode": settings.mode,
        "sources": [r.key for r in resolved],
        "build_id": uuid.uuid4().hex,
    }
    if settings.mode == "terrain-rgb":
        doc["encoding"] = "mapbox"
    return doc


def _row(name, rel, out, source, resolved, settings, tilejson, update) -> dict:
    """A build's record, less its statistics."""
    return {
        "name": name,
        "path": rel,
        "store": store_kind(out),
        "source": source,
        "sources": json.dumps([r.key for r in resolved], ensure_ascii=False),
        "tms": settings.tms.id,
        "minzoom": settings.minzoom,
        "maxzoom": settings.maxzoom,
        "format": settings.fmt,
        "mode": settings.mode,
        "classification": most_restrictive(r.classification for r in resolved),
        "build": "update" if update else "full",
        "build_id": tilejson["build_id"],
        "tilejson": json.dumps(tilejson, ensure_ascii=False),
    }


def _stats_values(stats: BuildStats) -> dict:
    return {
        "seconds": round(stats.seconds, 3),
        "tile_count": stats.tiles,
        "bytes": stats.bytes,
        "written_tiles": stats.written_tiles,
    }


def _footprint(resolved) -> shapely.MultiPolygon:
    footprint = shapely.union_all([r.footprint for r in resolved if r.footprint is not None])
    if isinstance(footprint, shapely.Polygon):
        return shapely.MultiPolygon([footprint])
    if not isinstance(footprint, shapely.MultiPolygon):
        return shapely.MultiPolygon(
            [g for g in getattr(footprint, "geoms", []) if isinstance(g, shapely.Polygon)]
        )
    return footprint


def _insert(ws: Workspace, row: dict, resolved, *, guard: bool) -> int:
    """Record a build in one transaction; returns the record's fid.

    ``guard``: the ``publishing`` record committed before the build's files move, with
    the stricter of the pyramid's newest record's classification (whatever its state:
    the files at the path may be of either build) and the new build's.
    """
    row = {**row, "built_at": utc_now(), "state": PUBLISHING if guard else PUBLISHED}
    with ws.store.transaction() as tx:
        if guard:
            newest = tx.query_one(
                "SELECT classification FROM pyramids WHERE path = :p ORDER BY fid DESC LIMIT 1",
                {"p": row["path"]},
            )
            if newest is not None:
                row["classification"] = most_restrictive(
                    [newest["classification"], row["classification"]]
                )
        fid = tx.insert("pyramids", {**row, "geom": tx.geom(_footprint(resolved), 4490)})
        if not guard:
            tx.insert_many(
                "pyramid_sources",
                [
                    {"pyramid_fid": fid, "source": r.key, "footprint": r.footprint.wkt}
                    for r in resolved
                ],
            )
        tx.touch("pyramids")
    return fid


__all__ = [
    "ResolvedSource",
    "build_file",
    "build_tiles",
    "default_zooms",
    "last_pyramid",
    "list_pyramids",
    "remove_tile_leftovers",
    "resolve_sources",
]
