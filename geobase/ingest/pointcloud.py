"""LAS / LAZ / COPC point clouds: header, chunked statistics, occupancy footprint, DEM.

Everything reads the file in chunks of :data:`CHUNK_POINTS` points with laspy (lazrs for
LAZ), so memory is bounded by the chunk and the grids, not by the point count. Grid cells
are computed on the raw integer coordinates, which is cheaper than scaling every point.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import laspy
import numpy as np
import shapely
from affine import Affine
from pyproj import CRS

from geobase import dates
from geobase.errors import MissingCRS, SourceReadError, UnsupportedInput
from geobase.ingest.footprint import polygonize, to_cgcs2000
from geobase.ingest.lasheader import check_header
from geobase.ingest.metadata import (
    EARLIEST_PLAUSIBLE,
    SECONDS_PER_WEEK,
    Acquired,
    gps_window,
    linear_unit_factor,
    vertical_datum,
)
from geobase.ingest.raster import translate

logger = logging.getLogger(__name__)

CHUNK_POINTS = 1_000_000
MAX_GRID = 1024  # longest side of the occupancy grid
POINTCLOUD_SUFFIXES = (".las", ".laz")
GROUND = 2  # ASPRS class "ground"
MAX_ADJUSTED_GPS = 4e9  # |adjusted standard GPS time| beyond this is no date (year 2138)

_READ_ERRORS: tuple[type[BaseException], ...] = (
    laspy.errors.LaspyException,
    ValueError,
    OSError,
    RuntimeError,
)


@dataclass
class PointCloudInfo:
    """What a LAS/LAZ header states."""

    path: Path
    crs: CRS
    crs_given: bool
    version: str
    point_format: int
    point_count: int
    mins: tuple[float, float, float]
    maxs: tuple[float, float, float]
    scales: tuple[float, float, float]
    offsets: tuple[float, float, float]
    creation_date: dt.date | None
    adjusted_gps: bool
    has_gps: bool
    compressed: bool
    copc: bool
    unit_m: float
    vertical_datum: str | None


@dataclass
class PointCloudStats:
    """What a chunked pass over the points found."""

    point_count: int
    classes: dict[int, int]
    z_range: tuple[float, float]
    gps_range: tuple[float, float] | None
    returns: dict[int, int]
    occupancy: np.ndarray = field(repr=False)
    grid_transform: Affine = field(repr=False)
    cell: float = 0.0


def _read_error(path: Path, exc: BaseException) -> SourceReadError:
    reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
    return SourceReadError(
        f"{path.name}: point records cannot be read ({reason}); likely a truncated or "
        "corrupt LAS/LAZ file"
    )


@contextlib.contextmanager
def open_las(path: Path) -> Iterator[laspy.LasReader]:
    """Open a LAS/LAZ file, turning laspy's failures into :class:`SourceReadError`."""
    try:
        reader = laspy.open(path)
    except _READ_ERRORS as exc:
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise SourceReadError(
            f"{path.name}: not a readable LAS/LAZ file ({reason}); likely empty, truncated "
            "or another format"
        ) from exc
    with reader:
        yield reader


def read_header(path: Path, crs: CRS | None = None) -> PointCloudInfo:
    """The header of a LAS/LAZ/COPC file.

    Raises:
        SourceReadError: the header cannot be read.
        MissingCRS: the file states no CRS (no WKT or GeoTIFF-keys VLR) and ``crs`` is None.
        UnsupportedInput: the file holds no points.
    """
    raw = check_header(path)
    with open_las(path) as reader:
        h = reader.header
        try:
            file_crs = h.parse_crs()
        except Exception as exc:
            logger.warning("%s: CRS VLR cannot be parsed (%s)", path.name, exc)
            file_crs = None
        given = False
        if file_crs is None:
            if crs is None:
                raise MissingCRS(
                    f"{path.name}: no coordinate reference system in the file (no WKT or "
                    "GeoTIFF-keys VLR); pass --crs (for example --crs EPSG:4548)"
                )
            file_crs, given = crs, True
        file_crs = CRS.from_user_input(file_crs)
        if file_crs.is_geographic:
            raise UnsupportedInput(
                f"{path.name}: point cloud in geographic coordinates ({file_crs.name}); "
                "expected a projected CRS in metres or feet"
            )
        if h.point_count == 0:
            raise UnsupportedInput(f"{path.name}: the header says the file holds no points")
        names = set(h.point_format.dimension_names)
        copc = any(getattr(v, "user_id", "") == "copc" for v in h.vlrs)
        horizontal = file_crs.sub_crs_list[0] if file_crs.is_compound else file_crs
        return PointCloudInfo(
            path=path,
            crs=file_crs,
            crs_given=given,
            version=str(h.version),
            point_format=h.point_format.id,
            point_count=int(h.point_count),
            mins=_xyz(h.mins),
            maxs=_xyz(h.maxs),
            scales=_xyz(h.scales),
            offsets=_xyz(h.offsets),
            creation_date=_plausible_creation_date(path, raw.creation_date),
            adjusted_gps=bool(h.global_encoding.gps_time_type),
            has_gps="gps_time" in names,
            compressed=path.suffix.lower() == ".laz",
            copc=copc,
            unit_m=linear_unit_factor(horizontal),
            vertical_datum=vertical_datum(file_crs),
        )


def _plausible_creation_date(path: Path, day: dt.date | None) -> dt.date | None:
    """The header's creation date, or None (with a warning) before 1990 or after today:
    zeroed or garbled fields (a COPC writer's 0001-01-01) must not date the data."""
    if day is None:
        return None
    limit = dates.today()
    if EARLIEST_PLAUSIBLE <= day <= limit:
        return day
    logger.warning(
        "%s: header creation date %s is outside %s..%s; ignored",
        path.name,
        day,
        EARLIEST_PLAUSIBLE,
        limit,
    )
    return None


def _grid(info: PointCloudInfo, cell: float | None) -> tuple[float, int, int]:
    width = info.maxs[0] - info.mins[0]
    height = info.maxs[1] - info.mins[1]
    if cell is None:
        area = max(width * height, 1e-9)
        spacing = math.sqrt(area / info.point_count)
        cell = max(max(width, height) / MAX_GRID, 3 * spacing)
    cols = max(1, math.ceil(width / cell) + 1)
    rows = max(1, math.ceil(height / cell) + 1)
    return cell, rows, cols


def scan(
    info: PointCloudInfo,
    *,
    cell: float | None = None,
    chunk_points: int = CHUNK_POINTS,
    progress: Callable[[int, int], None] | None = None,
) -> PointCloudStats:
    """One chunked pass: counts per class and return number, z and GPS-time ranges, and an
    occupancy grid.

    Args:
        info: the header.
        cell: occupancy cell size in CRS units (default: three times the mean point
            spacing, at most :data:`MAX_GRID` cells on the longer side).
        chunk_points: points per chunk.
        progress: called with (points read, points in the file).

    Raises:
        SourceReadError: the points cannot be decoded, or fewer than the header states.
    """
    cell, rows, cols = _grid(info, cell)
    sx, sy = info.scales[0], info.scales[1]
    # raw integer origin and cell size: X_raw = (x - offset) / scale
    x0 = math.floor((info.mins[0] - info.offsets[0]) / sx)
    y0 = math.floor((info.mins[1] - info.offsets[1]) / sy)
    cx, cy = cell / sx, cell / sy
    counts = np.zeros(rows * cols, dtype=np.int64)
    classes = np.zeros(256, dtype=np.int64)
    returns = np.zeros(16, dtype=np.int64)
    zmin, zmax = math.inf, -math.inf
    tmin, tmax = math.inf, -math.inf
    read = 0
    with open_las(info.path) as reader:
        try:
            for chunk in reader.chunk_iterator(chunk_points):
                n = len(chunk)
                if n == 0:
                    break
                # clipped before the cast: points outside the header's bounds (a header
                # that lies) land in the edge cells instead of overflowing the cast
                ix = np.clip((chunk.X - x0) / cx, 0, cols - 1).astype(np.int64)
                iy = np.clip((chunk.Y - y0) / cy, 0, rows - 1).astype(np.int64)
                flat = (rows - 1 - iy) * cols + ix
                counts += np.bincount(flat, minlength=rows * cols)
                classes += np.bincount(np.asarray(chunk.classification), minlength=256)[:256]
                returns += np.bincount(np.asarray(chunk.return_number), minlength=16)[:16]
                z = chunk.Z
                zmin = min(zmin, int(z.min()))
                zmax = max(zmax, int(z.max()))
                if info.has_gps:
                    t = chunk.gps_time
                    tmin = min(tmin, float(t.min()))
                    tmax = max(tmax, float(t.max()))
                read += n
                if progress is not None:
                    progress(read, info.point_count)
        except _READ_ERRORS as exc:
            raise _read_error(info.path, exc) from exc
    if read < info.point_count:
        raise SourceReadError(
            f"{info.path.name}: {read} point records read, the header states "
            f"{info.point_count}; likely a truncated file"
        )
    sz, oz = info.scales[2], info.offsets[2]
    transform = Affine(
        cell, 0, info.offsets[0] + x0 * sx, 0, -cell, info.offsets[1] + y0 * sy + rows * cell
    )
    return PointCloudStats(
        point_count=read,
        classes={int(c): int(k) for c, k in enumerate(classes) if k},
        z_range=(zmin * sz + oz, zmax * sz + oz),
        gps_range=(tmin, tmax) if info.has_gps else None,
        returns={int(r): int(k) for r, k in enumerate(returns) if k},
        occupancy=(counts > 0).reshape(rows, cols),
        grid_transform=transform,
        cell=cell,
    )


def local_footprint(stats: PointCloudStats, *, fill_holes_cells: float = 4.0):
    """The occupied cells as polygons in the cloud's CRS; holes smaller than
    ``fill_holes_cells`` cells (gaps between scan lines) are filled."""
    geom = polygonize(stats.occupancy, stats.grid_transform)
    limit = fill_holes_cells * stats.cell * stats.cell
    polys = []
    for poly in shapely.get_parts(geom):
        holes = [r for r in poly.interiors if shapely.Polygon(r).area >= limit]
        polys.append(shapely.Polygon(poly.exterior, holes))
    return shapely.MultiPolygon(polys)


def _xyz(values: Any) -> tuple[float, float, float]:
    """A header's x, y, z triple (mins, maxs, scales, offsets) as floats."""
    x, y, z = (float(v) for v in values)
    return x, y, z


def gps_time_type(info: PointCloudInfo, stats: PointCloudStats) -> str | None:
    """``"week"`` or ``"adjusted standard"`` as the header's flag says, None without times.

    The flag decides wherever the values fit it: seconds in 0 .. 604800 are GPS week time
    and equally adjusted standard GPS time of one week of September 2011, so they follow
    the flag (:func:`acquired_from` warns when the header's creation date contradicts).
    Only values impossible under the flag override it: the week flag with times outside
    a week is adjusted standard time (writers set the flag wrongly). Any value is
    possible as adjusted time (those naming no plausible date leave the data undated).
    """
    if stats.gps_range is None:
        return None
    tmin, tmax = stats.gps_range
    if not (math.isfinite(tmin) and math.isfinite(tmax)):
        return None
    if info.adjusted_gps or not (tmin >= 0 and tmax < SECONDS_PER_WEEK):
        return "adjusted standard"
    return "week"


# how long after the flight a header's creation date may plausibly lie (processing,
# re-processing); beyond it, September-2011 adjusted times that could be week seconds
# are reported as doubtful
MAX_CREATION_LAG = dt.timedelta(days=366)


def acquired_from(info: PointCloudInfo, stats: PointCloudStats) -> Acquired | None:
    """The acquisition window from the points' GPS time (see :func:`metadata.gps_window`),
    of the type :func:`gps_time_type` gives; week time is placed by the header's creation
    date. Times that give no date between 1990 and today leave the data undated (with a
    warning), never dated to a wrong year.
    """
    kind = gps_time_type(info, stats)
    if kind is None or stats.gps_range is None:
        if stats.gps_range is not None:
            logger.warning("%s: GPS times are not finite numbers; no date taken", info.path.name)
        return None
    tmin, tmax = stats.gps_range
    if tmin == 0 and tmax == 0:
        return None
    adjusted = kind == "adjusted standard"
    if adjusted != info.adjusted_gps:
        logger.warning(
            "%s: GPS times %.1f..%.1f read as adjusted standard GPS time despite the header "
            "flag (GPS week time): they lie outside one week's 0..%d s",
            info.path.name,
            tmin,
            tmax,
            SECONDS_PER_WEEK,
        )
    window = None
    if not adjusted or max(abs(tmin), abs(tmax)) <= MAX_ADJUSTED_GPS:
        window = gps_window(tmin, tmax, adjusted=adjusted, reference=info.creation_date)
    if window is not None and window.start >= EARLIEST_PLAUSIBLE and window.end <= dates.today():
        if adjusted and tmin >= 0 and tmax < SECONDS_PER_WEEK:
            _doubt_september_2011(info, tmin, tmax, window)
        return window
    if window is not None or adjusted:
        logger.warning(
            "%s: GPS times %.1f..%.1f give no date between %s and today; the data stay undated",
            info.path.name,
            tmin,
            tmax,
            EARLIEST_PLAUSIBLE,
        )
    return None


def _doubt_september_2011(info: PointCloudInfo, tmin: float, tmax: float, window) -> None:
    """Warn when the header's creation date contradicts adjusted times that are also
    week seconds (the flag is followed; the week reading is named for the user)."""
    created = info.creation_date
    if created is None or window.start <= created <= window.end + MAX_CREATION_LAG:
        return
    week = gps_window(tmin, tmax, adjusted=False, reference=created)
    logger.warning(
        "%s: GPS times %.1f..%.1f, flagged adjusted standard GPS time, date the data %s, but "
        "the header was created %s; if the flag is wrong (GPS week time) they date %s. "
        "Dated as flagged; set --acquired if not",
        info.path.name,
        tmin,
        tmax,
        window.start,
        created,
        week.start if week else "unknown",
    )


def describe(info: PointCloudInfo, stats: PointCloudStats, local) -> dict[str, Any]:
    """Record fields: point count, spacing (as resolution, metres), density and classes."""
    area_m2 = local.area * info.unit_m**2
    density = stats.point_count / area_m2 if area_m2 > 0 else None
    return {
        "point_count": stats.point_count,
        "resolution": math.sqrt(1 / density) if density else None,
        "metadata": {
            "las_version": info.version,
            "point_format": info.point_format,
            "compressed": info.compressed,
            "copc": info.copc,
            "density_per_m2": density,
            "footprint_area_m2": area_m2,
            "classes": {str(k): v for k, v in stats.classes.items()},
            "returns": {str(k): v for k, v in stats.returns.items()},
            "z_range": list(stats.z_range),
            "gps_time_range": list(stats.gps_range) if stats.gps_range else None,
            "gps_time_type": gps_time_type(info, stats),
            "horizontal_unit_m": info.unit_m,
            "crs_given": info.crs_given,
            "occupancy_cell": stats.cell,
        },
    }


def footprint(info: PointCloudInfo, stats: PointCloudStats):
    """The occupancy footprint in EPSG:4490 and in the cloud's own CRS."""
    local = local_footprint(stats)
    return to_cgcs2000(local, info.crs), local


# --- DEM from ground points -----------------------------------------------------------


def ground_dem(
    info: PointCloudInfo,
    dst: Path,
    resolution_m: float,
    *,
    chunk_points: int = CHUNK_POINTS,
    fill_cells: int = 3,
    nodata: float = -9999.0,
) -> dict[str, Any]:
    """Grid the mean height of ground points (class 2) at ``resolution_m`` and write it as
    a lossless cloud-optimised GeoTIFF.

    The points are read in chunks; only the grid of sums and counts is held in memory.
    Cells with no ground point within ``fill_cells`` cells stay nodata.

    Raises:
        UnsupportedInput: the cloud has no ground-classified point, or the grid would be
            too large.
        SourceReadError: the points cannot be decoded.
    """
    import rasterio
    from rasterio.fill import fillnodata
    from rasterio.io import MemoryFile
    from rio_cogeo.cogeo import cog_validate
    from rio_cogeo.profiles import cog_profiles

    if resolution_m <= 0:
        raise UnsupportedInput(f"DEM resolution must be positive, got {resolution_m}")
    cell = resolution_m / info.unit_m
    width = info.maxs[0] - info.mins[0]
    height = info.maxs[1] - info.mins[1]
    cols = max(1, math.ceil(width / cell))
    rows = max(1, math.ceil(height / cell))
    if rows * cols > 400_000_000:
        raise UnsupportedInput(
            f"a {resolution_m} m DEM of {info.path.name} needs {rows} x {cols} cells; "
            "choose a coarser resolution"
        )
    west = math.floor(info.mins[0] / cell) * cell
    north = math.ceil(info.maxs[1] / cell) * cell
    cols = max(1, math.ceil((info.maxs[0] - west) / cell))
    rows = max(1, math.ceil((north - info.mins[1]) / cell))
    sums = np.zeros(rows * cols, dtype=np.float64)
    counts = np.zeros(rows * cols, dtype=np.int64)
    ground = 0
    with open_las(info.path) as reader:
        try:
            for chunk in reader.chunk_iterator(chunk_points):
                keep = np.asarray(chunk.classification) == GROUND
                if not keep.any():
                    continue
                x = np.asarray(chunk.x)[keep]
                y = np.asarray(chunk.y)[keep]
                z = np.asarray(chunk.z)[keep]
                col = np.clip(((x - west) / cell).astype(np.int64), 0, cols - 1)
                row = np.clip(((north - y) / cell).astype(np.int64), 0, rows - 1)
                flat = row * cols + col
                sums += np.bincount(flat, weights=z, minlength=rows * cols)
                counts += np.bincount(flat, minlength=rows * cols)
                ground += int(keep.sum())
        except _READ_ERRORS as exc:
            raise _read_error(info.path, exc) from exc
    if ground == 0:
        raise UnsupportedInput(
            f"{info.path.name}: no ground points (class 2); classify the cloud before "
            "deriving a DEM"
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        grid = np.where(counts > 0, sums / np.maximum(counts, 1), nodata).astype(np.float32)
    grid = grid.reshape(rows, cols)
    valid = counts.reshape(rows, cols) > 0
    del sums, counts
    if fill_cells > 0 and not valid.all():
        grid = fillnodata(grid, mask=valid.astype(np.uint8), max_search_distance=fill_cells)
        grid[np.isnan(grid)] = nodata
    transform = Affine(cell, 0, west, 0, -cell, north)
    profile = {
        "driver": "GTiff",
        "width": cols,
        "height": rows,
        "count": 1,
        "dtype": "float32",
        "crs": rasterio.crs.CRS.from_wkt(info.crs.to_wkt()),
        "transform": transform,
        "nodata": nodata,
    }
    cog = dict(cog_profiles.get("deflate"))
    cog["predictor"] = 3
    with MemoryFile() as mem:
        with mem.open(**profile) as tmp:
            tmp.write(grid, 1)
        with mem.open() as src:
            translate(src, dst, cog, quiet=True, overview_resampling="average")
    ok, errors, _ = cog_validate(str(dst), quiet=True)
    if not ok:
        raise UnsupportedInput(f"{dst.name}: the DEM written is not a valid COG: {errors}")
    return {
        "width": cols,
        "height": rows,
        "cell": cell,
        "nodata": nodata,
        "ground_points": ground,
        "resolution_m": resolution_m,
        "valid_cells": int(valid.sum()),
    }
