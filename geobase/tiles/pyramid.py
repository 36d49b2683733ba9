"""The pyramid builder: plan blocks, render them on workers, build the upper zooms, store.

The base zoom is cut into *windows* of ``block x block`` tiles (default 8: 2048 px),
aligned in tile space so that each window also holds whole tiles of the ``log2(block)``
zooms above; a worker warps one window at once and returns its encoded tiles and the
quadrant (2 x 2 means) of the window's top tile, all its parent needs of it. Zooms above
the windows' top level (``zlow``) are made in the main process from their four children;
their raw tiles go to the overview cache (:mod:`geobase.tiles.cache`), compressed: about
1/192 of the base tiles at the default block, instead of the third of the base zoom's
raw pixels that a cache of every zoom would take.

An update (``region`` given) re-renders the windows that hold base tiles meeting the
region (encoding and writing only those tiles and their ancestors inside the window) and
rebuilds their ancestors above the windows; the quadrants of windows that did not change
come from the parents the last build made, held in the cache. Blocks, averaging and
encoder settings are fixed, so the bytes of every tile are the same whatever the number
of workers, the order windows finish in, or full vs update.

Workers: a process pool (``workers``), or a Dask distributed cluster (``dask`` = scheduler
address). Sources must then be readable at the same paths on the workers. At most
``in_flight`` windows are handed out at a time (by default twice the workers): the main
process never holds more results than that, whatever the pyramid's size.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from morecantile.models import TileMatrixSet
from shapely.geometry.base import BaseGeometry

from geobase.errors import TileBuildError, TileSettingsError
from geobase.tiles.cache import CODEC as CACHE_CODEC
from geobase.tiles.cache import RawCache
from geobase.tiles.jpegtiles import TILE_CACHE_BYTES as TILE_CACHE
from geobase.tiles.render import (
    TILE,
    WARP_CHUNK,
    BlockJob,
    BlockResult,
    Quadrant,
    RenderSettings,
    SourceRef,
    close_sources,
    downsample,
    encode_for,
    grid,
    merge_quadrants,
    prepare_transformers,
    render_block,
    unpack_raw,
    warp_version,
)
from geobase.tiles.stores import open_writer, store_kind, write_tile_file

logger = logging.getLogger(__name__)

Progress = Callable[..., None]


@dataclass(frozen=True)
class BuildStats:
    """What a build did."""

    tiles: int  # tiles in the pyramid afterwards
    bytes: int  # their total size
    written_tiles: int  # tiles (re)written by this build
    written_bytes: int  # bytes written to the store by this build
    deleted_tiles: int
    base_tiles_rendered: int
    seconds: float
    cache_bytes: int = 0  # the overview cache's tile data afterwards


def plan_windows(
    settings: RenderSettings, sources: Sequence[SourceRef], block: int
) -> list[BlockJob]:
    """The window jobs of a full build, in a fixed (row, column) order."""
    g = grid(settings.tms, settings.maxzoom)
    levels = window_levels(settings, block)
    # windows of one tile make no parents: the main process makes them from quadrants
    quadrants = levels == 0 and settings.maxzoom > settings.minzoom
    windows: set[tuple[int, int]] = set()
    for ref in sources:
        rng = g.tile_range(ref.bounds)
        if rng is None:
            continue
        x0, y0, x1, y1 = rng
        for wy in range(y0 // block, (y1 - 1) // block + 1):
            for wx in range(x0 // block, (x1 - 1) // block + 1):
                windows.add((wx, wy))
    jobs = []
    for wx, wy in sorted(windows, key=lambda w: (w[1], w[0])):
        x0, y0 = wx * block, wy * block
        x1, y1 = min(x0 + block, g.width), min(y0 + block, g.height)
        jobs.append(_job(g, x0, y0, x1, y1, levels, sources, None, quadrants))
    return jobs


def window_levels(settings: RenderSettings, block: int) -> int:
    """Zooms a window makes above the base zoom: log2(block), within the zoom range."""
    return min(int(math.log2(block)), settings.maxzoom - settings.minzoom)


def _job(g, x0, y0, x1, y1, levels, sources, only, quadrants) -> BlockJob:
    span = g.res * TILE
    bounds = (
        g.left + x0 * span,
        g.top - y1 * span,
        g.left + x1 * span,
        g.top - y0 * span,
    )
    margin = 2 * g.res
    mine = tuple(
        s
        for s in sources
        if s.bounds[0] <= bounds[2] + margin
        and s.bounds[2] >= bounds[0] - margin
        and s.bounds[1] <= bounds[3] + margin
        and s.bounds[3] >= bounds[1] - margin
    )
    return BlockJob(x0, y0, x1, y1, levels, mine, only, quadrants)


def dirty_base_tiles(
    settings: RenderSettings, region: Sequence[BaseGeometry]
) -> set[tuple[int, int]]:
    """Base-zoom tiles (x, y) meeting any of the region's geometries (in the TMS's CRS)."""
    g = grid(settings.tms, settings.maxzoom)
    span = g.res * TILE
    found: set[tuple[int, int]] = set()
    for geom in region:
        if geom is None or shapely.is_empty(geom):
            continue
        geom = shapely.buffer(geom, 2 * g.res)  # average resampling reaches past the edge
        rng = g.tile_range(geom.bounds)
        if rng is None:
            continue
        x0, y0, x1, y1 = rng
        grid_x, grid_y = np.meshgrid(np.arange(x0, x1), np.arange(y0, y1))
        xs, ys = grid_x.ravel(), grid_y.ravel()
        boxes = shapely.box(
            g.left + xs * span, g.top - (ys + 1) * span, g.left + (xs + 1) * span, g.top - ys * span
        )
        hit = shapely.intersects(boxes, geom)
        found.update(zip(xs[hit].tolist(), ys[hit].tolist(), strict=True))
    return found


def plan_update(
    settings: RenderSettings,
    sources: Sequence[SourceRef],
    dirty: set[tuple[int, int]],
    block: int,
) -> list[BlockJob]:
    """Jobs re-rendering the windows that hold ``dirty`` base tiles.

    A window's top tile is a function of all its base tiles, and the cache holds only the
    zooms above the windows, so a window with one changed tile is rendered whole; only
    the ``dirty`` tiles and their ancestors inside the window are encoded and reported
    (blank ones as None: deleted). The windows are those of a full build (same origin,
    size and levels), so every tile gets a full build's bytes.
    """
    g = grid(settings.tms, settings.maxzoom)
    z = settings.maxzoom
    levels = window_levels(settings, block)
    quadrants = levels == 0 and settings.maxzoom > settings.minzoom
    by_window: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for x, y in dirty:
        by_window.setdefault((x // block, y // block), []).append((x, y))
    jobs = []
    for wx, wy in sorted(by_window, key=lambda w: (w[1], w[0])):
        only = {(z - lv, x >> lv, y >> lv) for x, y in by_window[(wx, wy)]
                for lv in range(levels + 1)}  # fmt: skip
        x0, y0 = wx * block, wy * block
        x1, y1 = min(x0 + block, g.width), min(y0 + block, g.height)
        jobs.append(_job(g, x0, y0, x1, y1, levels, sources, frozenset(only), quadrants))
    return jobs


# --- execution ------------------------------------------------------------------------

_SETTINGS: RenderSettings | None = None
_STORE: tuple[str, str] | None = None

MiB = 1 << 20
#: resident memory of a process before it renders (Python, numpy, rasterio and GDAL,
#: pyproj, shapely), measured on bench/bench_tiles_disk.py's builds
PROCESS_BASE = 200 * MiB
#: the warp's transient arrays at most (a gather of GATHER_SAMPLES, ~8 bytes a sample)
WARP_PEAK = 8 * (1 << 24)
#: GDAL's block cache in each worker under a memory limit (its default is 5% of the RAM);
#: with the JPEG tiles a worker keeps decoded itself (:data:`TILE_CACHE`) 64 MiB
GDAL_CACHE = 32 * MiB


@dataclass(frozen=True)
class MemoryPlan:
    """How a build stays within a memory limit: workers, windows handed out at once, and
    GDAL's block cache per worker (bytes; None: GDAL's default)."""

    workers: int
    in_flight: int
    gdal_cache: int | None


def memory_plan(
    settings: RenderSettings, block: int, workers: int | None, max_memory_mb: int | None
) -> MemoryPlan:
    """The workers and windows in flight that keep a build's peak resident memory (the
    main process and its workers together) within ``max_memory_mb`` MiB.

    Each worker: :data:`PROCESS_BASE`, GDAL's cache (:data:`GDAL_CACHE`), the decoded
    JPEG tiles (:data:`TILE_CACHE`), the warp's transients (:data:`WARP_PEAK`) and its
    window three times over (pixels, mask, the zooms above and their encoding); the main
    process: :data:`PROCESS_BASE`, the quadrants it keeps (:data:`KEEP_QUADRANTS`) and the
    results of the windows in flight.
    None: no limit (workers as asked, twice as many windows in flight, GDAL's default).

    Raises:
        TileSettingsError: the limit is below what the main process and one worker need.
    """
    n = _pool_size(workers)
    if max_memory_mb is None:
        return MemoryPlan(n, 2 * n, None)
    pixel = settings.channels * np.dtype(settings.dtype).itemsize + 1
    window = block * block * TILE * TILE * pixel
    worker = PROCESS_BASE + GDAL_CACHE + TILE_CACHE + WARP_PEAK + 3 * window
    result = window // 8  # encoded tiles of a window and its top tile's quadrant, at most
    main = PROCESS_BASE + KEEP_QUADRANTS * (TILE // 2) ** 2 * pixel
    limit = max_memory_mb * MiB
    fit = (limit - main - 2 * result) // (worker + 2 * result)
    if fit < 1:
        need = (main + worker + 4 * result) / MiB
        raise TileSettingsError(
            f"max memory {max_memory_mb} MiB is below what a build with windows of {block} "
            f"tiles needs with one worker (~{need:.0f} MiB); raise it or lower the block"
        )
    n = min(n, int(fit))
    return MemoryPlan(n, 2 * n, GDAL_CACHE)


def _init_worker(
    settings: RenderSettings, gdal_cache: int | None = None, store: tuple[str, str] | None = None
) -> None:
    global _SETTINGS, _STORE
    _SETTINGS, _STORE = settings, store
    if gdal_cache is not None:
        from rasterio.env import set_gdal_config

        set_gdal_config("GDAL_CACHEMAX", gdal_cache)  # rasterio resizes GDAL's cache


def render_window(
    settings: RenderSettings, job: BlockJob, store: tuple[str, str] | None = None
) -> BlockResult:
    """:func:`render_block`, with what the main process needs of the window's raw tiles
    only: the quadrant of its top tile (``quadrants``: (x, y) at the window's top zoom),
    computed where the pixels are, so that no raw tile travels back to the caller.

    ``store``: (staging folder, extension) of a directory pyramid: the tiles are written
    there by this worker and reported by size (an int in place of their bytes).
    """
    result = render_block(settings, job)
    if store is not None:
        root, ext = store
        stored: list[Any] = [
            (z, x, y, data if data is None else write_tile_file(root, ext, z, x, y, data))
            for z, x, y, data in result.tiles
        ]
        result.tiles = stored
    if job.levels > 0:
        top = settings.maxzoom - job.levels
        result.quadrants = [
            (x, y, None if blob is None else downsample(*unpack_raw(blob, settings.channels,
                                                                     settings.dtype)))
            for z, x, y, blob in result.raw
            if z == top
        ]  # fmt: skip
    result.raw = []
    return result


def _run_job(job: BlockJob) -> BlockResult:
    assert _SETTINGS is not None
    return render_window(_SETTINGS, job, _STORE)


def run_jobs(
    settings: RenderSettings,
    jobs: Sequence[BlockJob],
    *,
    workers: int | None = None,
    dask: str | None = None,
    in_flight: int | None = None,
    gdal_cache: int | None = None,
    store: tuple[str, str] | None = None,
) -> Iterator[BlockResult]:
    """Render jobs inline, on a process pool or on a Dask cluster; yields results as done.

    ``in_flight``: jobs handed out at once at most (default: twice the workers); the next
    one is handed out as a result comes back, so results never pile up in this process.
    ``gdal_cache``: GDAL's block cache in each worker process, bytes (None: as it is).
    ``store``: workers write a directory pyramid's tiles themselves (:func:`render_window`).
    """
    started = _start_jobs(settings, jobs, workers=workers, dask=dask, in_flight=in_flight,
                          gdal_cache=gdal_cache, store=store)  # fmt: skip
    next(started)
    for result in started:
        assert result is not None  # only the first item is None
        yield result


def _start_jobs(
    settings, jobs, *, workers, dask, in_flight=None, gdal_cache=None, store=None
) -> Generator[BlockResult | None, None, None]:
    """Like :func:`run_jobs`, but first yields None once the first jobs are handed to the
    pool (or cluster), so that the caller can do its own set-up while they run."""
    if dask:
        yield None
        yield from _run_dask(settings, jobs, dask, in_flight, store)
        return
    workers = _pool_size(workers)
    if workers <= 1 or len(jobs) <= 1:
        yield None
        import rasterio

        options = {} if gdal_cache is None else {"GDAL_CACHEMAX": gdal_cache}
        with rasterio.Env(**options):
            for job in jobs:
                yield render_window(settings, job, store)
        return
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    if sys.version_info < (3, 12) and "fork" in mp.get_all_start_methods():
        # cheapest (no re-import) and the workers are the caller's children, so their CPU
        # time shows in its rusage; from 3.12 fork warns in threaded processes
        ctx: Any = mp.get_context("fork")
    else:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["geobase.tiles.render"])
    workers = min(workers, len(jobs))
    limit = max(workers, in_flight or 2 * workers)
    todo = iter(jobs)
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(settings, gdal_cache, store),
    ) as pool:
        pending: set = set()

        def hand_out() -> None:
            while len(pending) < limit:
                job = next(todo, None)
                if job is None:
                    return
                pending.add(pool.submit(_run_job, job))

        try:
            hand_out()
            yield None
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                pending.difference_update(done)
                hand_out()
                for future in done:
                    yield future.result()
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def _pool_size(workers: int | None) -> int:
    return workers if workers is not None else (os.cpu_count() or 1)


def _run_dask(settings, jobs, address, in_flight=None, store=None) -> Iterator[BlockResult]:
    """Jobs on a Dask cluster: the settings sent to every worker once (not with every
    task), at most ``in_flight`` tasks handed to the scheduler at a time (default: twice
    the cluster's threads), each result released as soon as it is read."""
    try:
        from distributed import Client, as_completed
    except ImportError as exc:
        raise TileBuildError(
            f"--dask needs dask.distributed: pip install 'geobase[dask]' ({exc})"
        ) from None
    try:
        client = Client(address, timeout="3s", set_as_default=False)
    except OSError as exc:
        raise TileBuildError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    try:
        threads = sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())
        limit = in_flight or 2 * max(threads, 1)
        [shared] = client.scatter([settings], broadcast=True, hash=False)
        todo = iter(jobs)
        with client.as_current():  # as_completed looks the client up
            done = as_completed()
        for job in itertools.islice(todo, limit):
            done.add(client.submit(render_window, shared, job, store, pure=False))
        for future in done:
            result = future.result()
            future.release()
            job = next(todo, None)
            if job is not None:
                done.add(client.submit(render_window, shared, job, store, pure=False))
            yield result
    finally:
        client.close()


#: an update re-rendering at most this many base tiles renders them in this process: on
#: the bench's 2-core machine (WebP, JPEG ortho + patch, ~10 ms a tile inline) 12 tiles
#: took 0.12 s inline against 0.15-0.35 s on 2 workers, and 25 tiles 0.25 against
#: 0.34-0.42 s: the fork, each worker decoding the same JPEG blocks again into a cold
#: block cache, and the pickled results cost more than the second core saves on a few tiles
INLINE_UPDATE_TILES = 32


def cache_fingerprint(settings: RenderSettings, block: int = 8) -> dict:
    """What the overview cache's pixels and zooms depend on: an update uses a cache only
    if equal (``block`` sets the windows, and so the zooms the cache holds)."""
    return {
        "block": block,
        "levels": window_levels(settings, block),
        "codec": CACHE_CODEC,
        "tms": settings.tms.id,
        "minzoom": settings.minzoom,
        "maxzoom": settings.maxzoom,
        "mode": settings.mode,
        "channels": settings.channels,
        "fill": list(settings.fill),
        "chunk": WARP_CHUNK,
        "warp": warp_version(settings.warp, settings.decoder),
    }


def build_pyramid(
    sources: Sequence[SourceRef],
    out: str | Path,
    settings: RenderSettings,
    tilejson: dict,
    *,
    region: Sequence[BaseGeometry] | None = None,
    cache_path: str | Path | None = None,
    block: int = 8,
    workers: int | None = None,
    dask: str | None = None,
    max_memory_mb: int | None = None,
    progress: Progress | None = None,
    before_swap: Callable[[BuildStats], None] | None = None,
) -> BuildStats:
    """Build (or update) a pyramid into ``out``.

    Args:
        sources: rasters in painting order (oldest first; the last is on top), each with
            its bounds in the tile matrix set's CRS.
        out: output directory, ``.mbtiles`` or ``.pmtiles`` path.
        settings: grid, zooms, format, mode.
        tilejson: the TileJSON document to store with the pyramid.
        region: for an update, the changed areas (geometries in the TMS's CRS); the
            existing pyramid and its cache are updated where they meet them. None: a
            full build.
        cache_path: where the overview cache lives (needed for later updates); None: a
            temporary cache, removed afterwards.
        block: window size in tiles (a power of two; 8 = 2048 px).
        workers, dask: see :func:`run_jobs`.
        max_memory_mb: keep the build's peak resident memory (this process and its
            workers) within this many MiB (:func:`memory_plan`); None: no limit.
        progress: ``progress(done, total, rate=tiles_per_second)``.
        before_swap: called with the build's statistics once every tile is staged and
            before anything at ``out`` changes (to record what is about to be published);
            if it raises, the build is dropped and ``out`` is left as it was.

    The overview cache is committed after the swap and names the build of
    ``tilejson["build_id"]`` (see :mod:`geobase.tiles.cache`).
    """
    if block < 1 or block & (block - 1):
        raise TileSettingsError(f"block must be a power of two, got {block}")
    start = time.perf_counter()
    update = region is not None
    fingerprint = cache_fingerprint(settings, block)
    temp_dir = None
    if cache_path is None:
        temp_dir = tempfile.TemporaryDirectory(prefix="geobase-tiles-")
        cache_path = Path(temp_dir.name) / "cache.sqlite"
    plan = memory_plan(settings, block, workers, max_memory_mb)
    workers = plan.workers
    zlow = settings.maxzoom - window_levels(settings, block)
    if region is not None:
        jobs = plan_update(settings, sources, dirty_base_tiles(settings, region), block)
        if sum((j.x1 - j.x0) * (j.y1 - j.y0) for j in jobs) <= INLINE_UPDATE_TILES:
            workers = 1
    else:
        jobs = plan_windows(settings, sources, block)
    low = _window_tiles(jobs, settings.maxzoom, zlow)
    # windows along a Z-order curve: the four children of a parent above the windows come
    # back close together, so few quadrants wait in memory for their siblings; the order
    # changes no byte. The stores open while the first windows render.
    order = sorted(jobs, key=lambda j: _morton(j.x0, j.y0))
    prepare_transformers(sources, settings.tms.rasterio_crs)
    writer = cache = None
    store = None
    if store_kind(out) == "directory":
        # the workers write the tiles into the staging folder themselves (shared with
        # them: the same machine, or a folder a cluster mounts at the same path)
        writer = open_writer(out, settings.tms, settings.fmt, update=update)
        store = (str(writer.staging), writer.ext)
    results = _start_jobs(settings, order, workers=workers, dask=dask,
                          in_flight=None if dask else plan.in_flight,
                          gdal_cache=plan.gdal_cache, store=store)  # fmt: skip
    done = written = deleted = rendered = 0
    total = _estimate(jobs, settings)
    try:
        next(results)
        if writer is None:
            writer = open_writer(out, settings.tms, settings.fmt, update=update)
        cache = RawCache(
            Path(cache_path), fingerprint, update=update, build_id=tilejson.get("build_id")
        )
        upper = _UpperZooms(settings, writer, cache, low, zlow, update)
        for result in results:
            assert result is not None  # only the first item is None
            for z, x, y, data in result.tiles:
                if data is None:
                    writer.delete(z, x, y)
                    deleted += 1
                elif isinstance(data, int):  # written by the worker (a directory)
                    writer.stored(data)
                    written += 1
                else:
                    writer.put(z, x, y, data)
                    written += 1
            upper.quadrants.update(((zlow, x, y), q) for x, y, q in result.quadrants)
            rendered += result.base_tiles
            done += len(result.tiles)
            # parents whose children are all final now are made while the workers run on
            upper.ready(result.window)
            _report(progress, done, total, start)
        w2, d2 = upper.finish()
        written += w2
        deleted += d2
        _report(progress, done + w2 + d2, done + w2 + d2, start)
        tiles, size = writer.finish(tilejson)
        stats = BuildStats(
            tiles=tiles,
            bytes=size,
            written_tiles=written,
            written_bytes=writer.written,
            deleted_tiles=deleted,
            base_tiles_rendered=rendered,
            seconds=time.perf_counter() - start,
            cache_bytes=cache.size(),
        )
        if before_swap is not None:
            before_swap(stats)
        writer.swap()
        writer = None  # in place: nothing to abort any more
        cache.commit()
    except BaseException:
        results.close()  # cancels what has not run yet and shuts the pool down
        if writer is not None:
            writer.abort()
        if cache is not None:
            cache.abort()
        raise
    finally:
        close_sources()  # those the inline jobs opened
        if temp_dir is not None:
            temp_dir.cleanup()
    return stats


def _morton(x: int, y: int) -> int:
    """The position of (x, y) on a Z-order curve."""
    key = 0
    for bit in range(32):
        key |= ((x >> bit) & 1) << (2 * bit) | ((y >> bit) & 1) << (2 * bit + 1)
    return key


def _window_tiles(jobs, z, zlow) -> set[tuple[int, int]]:
    f = 2 ** (z - zlow)
    tiles = set()
    for job in jobs:
        for y in range(job.y0 // f, max(job.y0 // f + 1, job.y1 // f)):
            for x in range(job.x0 // f, max(job.x0 // f + 1, job.x1 // f)):
                tiles.add((x, y))
    return tiles


#: quadrants of the tiles made in the main process kept for their parents at most (a
#: little over 64 MB of RGB); past it, the parents read them back from the overview cache
KEEP_QUADRANTS = 1024


class _UpperZooms:
    """Zooms above the windows (below ``zlow``) made in the main process, each parent as
    soon as all of its children are final (while the workers still render), not all at
    the end.

    A parent is the :func:`merge_quadrants` of its children's quadrants (their 2 x 2
    means), which come from: the quadrants the jobs return for their windows' top tiles
    (``quadrants``); those of the tiles made here, kept (bounded); the raw children in
    the cache; and, for a window's top tile that an update did not re-render, the
    quadrant of the parent the last build made (the cache holds no zoom of the windows).
    A parent depends only on its children's pixels, so the bytes do not depend on the
    order the jobs finish in, nor on where a quadrant came from.
    """

    def __init__(self, settings, writer, cache, low, zlow, update):
        self.settings, self.writer, self.cache = settings, writer, cache
        self.zlow, self.update = zlow, update
        self.low = set(low)
        self.quadrants: dict[tuple[int, int, int], Quadrant] = {}
        self.waiting: dict[tuple[int, int, int], set[tuple[int, int, int]]] = {}
        level = self.low
        for z in range(zlow - 1, settings.minzoom - 1, -1):
            parents: set[tuple[int, int]] = set()
            for x, y in level:
                self.waiting.setdefault((z, x // 2, y // 2), set()).add((z + 1, x, y))
                parents.add((x // 2, y // 2))
            level = parents
        self.written = self.deleted = 0

    def ready(self, window) -> None:
        """The job rendering base tiles ``window`` (x0, y0, x1, y1) has reported."""
        x0, y0, x1, y1 = window
        f = 2 ** (self.settings.maxzoom - self.zlow)
        for y in range(y0 // f, -(-y1 // f)):
            for x in range(x0 // f, -(-x1 // f)):
                if (x, y) in self.low:
                    self._child_done((self.zlow, x, y))

    def _child_done(self, child) -> None:
        z, x, y = child
        key = (z - 1, x // 2, y // 2)
        waiting = self.waiting.get(key)
        if waiting is None or child not in waiting:
            self.quadrants.pop(child, None)  # the top zoom: nothing above needs it
            return
        waiting.discard(child)
        if not waiting:
            del self.waiting[key]
            self._make(*key)
            self._child_done(key)

    def finish(self) -> tuple[int, int]:
        if self.waiting:  # pragma: no cover - every job reports its window
            raise TileBuildError(f"{len(self.waiting)} overview tiles never got their children")
        return self.written, self.deleted

    def _raw(self, z, x, y):
        return self.cache.get(z, x, y, self.settings.channels, self.settings.dtype)

    def _make(self, z, px, py) -> None:
        settings, cache, writer = self.settings, self.cache, self.writer
        children = [(dx, dy, (z + 1, 2 * px + dx, 2 * py + dy)) for dy in (0, 1) for dx in (0, 1)]
        old = None
        if (
            self.update
            and z + 1 == self.zlow
            and any(c not in self.quadrants for *_, c in children)
        ):
            old = self._raw(z, px, py)  # the parent the last build made (before it is replaced)
        quadrants = []
        for dx, dy, child in children:
            if child in self.quadrants:
                quadrant = self.quadrants.pop(child)
            elif z + 1 == self.zlow:  # a window not rendered now (update) or blank
                quadrant = None if old is None else _quarter(old[0], old[1], dx, dy)
            else:
                raw = self._raw(*child)
                quadrant = None if raw is None else downsample(*raw)
            quadrants.append((dx, dy, quadrant))
        data, mask = merge_quadrants(quadrants, settings.channels, settings.dtype)
        keep = z > settings.minzoom and len(self.quadrants) < KEEP_QUADRANTS
        if not mask.any():
            if keep:
                self.quadrants[(z, px, py)] = None
            cache.put(z, px, py, None)
            if self.update:
                writer.delete(z, px, py)
                self.deleted += 1
            return
        if keep:
            self.quadrants[(z, px, py)] = downsample(data, mask)
        writer.put(z, px, py, encode_for(settings, data, mask))
        cache.put(z, px, py, (data, mask))
        self.written += 1


def _quarter(data, mask, dx, dy) -> tuple[np.ndarray, np.ndarray]:
    """Quadrant (dx, dy) of a raw tile."""
    half = TILE // 2
    rows, cols = slice(dy * half, (dy + 1) * half), slice(dx * half, (dx + 1) * half)
    return data[:, rows, cols], mask[rows, cols]


def _estimate(jobs, settings) -> int:
    total = 0
    for job in jobs:
        n = (job.x1 - job.x0) * (job.y1 - job.y0)
        total += len(job.only) if job.only is not None else int(n * 4 / 3)
    return max(total, 1)


def _report(progress, done, total, start) -> None:
    if progress is None:
        return
    elapsed = time.perf_counter() - start
    progress(done, max(total, done), rate=done / elapsed if elapsed > 0 else 0.0)


def settings_for(
    tms: TileMatrixSet,
    *,
    minzoom: int,
    maxzoom: int,
    fmt: str,
    mode: str,
    channels: int,
    fill: tuple[int, int, int] = (255, 255, 255),
) -> RenderSettings:
    """Validated :class:`RenderSettings`."""
    from geobase.tiles.encode import FORMATS
    from geobase.tiles.render import MODES
    from geobase.tiles.tms import maxzoom as tms_max
    from geobase.tiles.tms import minzoom as tms_min

    if fmt not in FORMATS:
        raise TileSettingsError(
            f"unknown tile format {fmt!r}; expected one of {', '.join(FORMATS)}"
        )
    if mode not in MODES:
        raise TileSettingsError(f"unknown render mode {mode!r}; expected one of {', '.join(MODES)}")
    lo, hi = tms_min(tms), tms_max(tms)
    if not (lo <= minzoom <= maxzoom <= hi):
        raise TileSettingsError(
            f"zoom range {minzoom}-{maxzoom} is not within {tms.id}'s levels {lo}-{hi} "
            "(or the first zoom is above the second)"
        )
    if mode == "terrain-rgb" and fmt == "jpeg":
        raise TileSettingsError("terrain-RGB needs a lossless format (png or webp), not jpeg")
    return RenderSettings(tms, fmt, mode, channels, minzoom, maxzoom, (fill[0], fill[1], fill[2]))
