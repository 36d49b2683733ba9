"""Point-cloud checks (LAS/LAZ, chunked): spatial reference, density per cell against
the specification, ASPRS classification codes and ground present, header bounds and
counts against the points, duplicate points, GPS time inside the stated acquisition
window and the scan-angle range.

One pass over the points, ``chunk_points`` at a time, fills a grid of cells (counts,
invalid codes, points out of window or beyond the scan angle) and keeps an 8-byte key
per point for duplicates (a point's cell in the high bits, a hash of its integer
coordinates in the low ones), so memory is the grid plus 8 bytes a point.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from affine import Affine

from geobase.ingest import pointcloud
from geobase.ingest.metadata import Acquired, read_sidecar
from geobase.qc import rasters
from geobase.qc.context import Context
from geobase.qc.places import cells_to_polygons, to_lonlat
from geobase.qc.settings import PointCloudThresholds

MAX_GRID = 4096
GPS_EPOCH = dt.datetime(1980, 1, 6, tzinfo=dt.UTC)
ADJUSTED_OFFSET = 1e9  # adjusted standard GPS time = GPS seconds - 1e9
# ASPRS classes defined by LAS 1.4 R15: formats 0-5 (5-bit field) and 6-10
DEFINED_LEGACY = frozenset(range(13))  # 0..12 (8 model key-point, 12 overlap)
DEFINED_MODERN = frozenset(range(23)) | frozenset(range(64, 256))  # 23..63 reserved
_HASH_BITS = 40


@dataclass
class _Pass:
    counts: np.ndarray
    bad_code: np.ndarray
    out_window: np.ndarray
    wide_angle: np.ndarray
    classes: np.ndarray = field(default_factory=lambda: np.zeros(256, dtype=np.int64))
    returns: np.ndarray = field(default_factory=lambda: np.zeros(16, dtype=np.int64))
    mins: np.ndarray = field(default_factory=lambda: np.full(3, np.inf))
    maxs: np.ndarray = field(default_factory=lambda: np.full(3, -np.inf))
    keys: list[np.ndarray] = field(default_factory=list)
    n_out_window: int = 0
    n_wide: int = 0
    read: int = 0


def _window_seconds(acquired: Acquired | None) -> tuple[float, float] | None:
    """The stated acquisition window as adjusted standard GPS time (whole days; the 18
    leap seconds GPS time runs ahead of UTC are within the day's margin)."""
    if acquired is None:
        return None
    start = dt.datetime.combine(acquired.start, dt.time(), dt.UTC)
    end = dt.datetime.combine(acquired.end + dt.timedelta(days=1), dt.time(), dt.UTC)
    return (
        (start - GPS_EPOCH).total_seconds() - ADJUSTED_OFFSET,
        (end - GPS_EPOCH).total_seconds() - ADJUSTED_OFFSET,
    )


def _mix(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    h = x.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    h ^= y.astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
    h ^= z.astype(np.uint64) * np.uint64(0x165667B19E3779F9)
    h ^= h >> np.uint64(29)
    return h & np.uint64((1 << _HASH_BITS) - 1)


def check(ctx: Context, given: str, path: Path) -> None:
    """Every point-cloud check on one file."""
    t: PointCloudThresholds = ctx.thresholds
    info = pointcloud.read_header(path, crs=ctx.required_crs)
    unit = info.unit_m or 1.0
    cell = t.density_cell_m / unit
    width, height = info.maxs[0] - info.mins[0], info.maxs[1] - info.mins[1]
    cell = max(cell, max(width, height) / MAX_GRID)
    cols, rows = max(1, math.ceil(width / cell)), max(1, math.ceil(height / cell))
    origin = Affine(cell, 0, info.mins[0], 0, -cell, info.mins[1] + rows * cell)
    acquired = ctx.acquired or read_sidecar(path).get("acquired")
    window = _window_seconds(acquired) if info.has_gps and info.adjusted_gps else None
    defined = DEFINED_LEGACY if info.point_format < 6 else DEFINED_MODERN
    valid_code = np.zeros(256, dtype=bool)
    valid_code[list(defined)] = True
    p = _Pass(
        counts=np.zeros(rows * cols, dtype=np.int64),
        bad_code=np.zeros(rows * cols, dtype=bool),
        out_window=np.zeros(rows * cols, dtype=bool),
        wide_angle=np.zeros(rows * cols, dtype=bool),
    )
    with pointcloud.open_las(path) as reader:
        try:
            for chunk in reader.chunk_iterator(t.chunk_points):
                if len(chunk) == 0:
                    break
                _chunk(p, chunk, info, origin, rows, cols, window, valid_code, t)
                if ctx.progress is not None:
                    ctx.progress(p.read, info.point_count)
        except pointcloud._READ_ERRORS as exc:
            raise pointcloud._read_error(path, exc) from exc
    occupied = (p.counts > 0).reshape(rows, cols)
    local_fp = shapely.unary_union(cells_to_polygons(occupied, origin)) or shapely.box(
        *info.mins[:2], *info.maxs[:2]
    )
    fp = to_lonlat(local_fp, info.crs)
    ctx.report.footprints[given] = fp
    rasters.check_crs(ctx, given, info.crs, info.crs_given, fp, "las")
    _header(ctx, given, info, reader_header_counts(path), p, fp, t)
    _density(ctx, given, info, p, origin, rows, cols, t)
    _classes(ctx, given, info, p, origin, rows, cols, fp, t)
    _duplicates(ctx, given, info, p, origin, rows, cols, t)
    _gps(ctx, given, info, p, origin, rows, cols, acquired, fp)
    _angles(ctx, given, info, p, origin, rows, cols, t)


def reader_header_counts(path: Path) -> list[int]:
    with pointcloud.open_las(path) as reader:
        return [int(v) for v in reader.header.number_of_points_by_return]


def _chunk(p: _Pass, chunk, info, origin: Affine, rows, cols, window, valid_code, t) -> None:
    x, y, z = np.asarray(chunk.x), np.asarray(chunk.y), np.asarray(chunk.z)
    for i, v in enumerate((x, y, z)):
        p.mins[i] = min(p.mins[i], float(v.min()))
        p.maxs[i] = max(p.maxs[i], float(v.max()))
    col = np.clip(((x - origin.c) / origin.a).astype(np.int64), 0, cols - 1)
    row = np.clip(((y - origin.f) / origin.e).astype(np.int64), 0, rows - 1)
    flat = row * cols + col
    p.counts += np.bincount(flat, minlength=rows * cols)
    cls = np.asarray(chunk.classification).astype(np.int64)
    p.classes += np.bincount(cls, minlength=256)[:256]
    p.returns += np.bincount(np.asarray(chunk.return_number), minlength=16)[:16]
    bad = ~valid_code[cls]
    if bad.any():
        p.bad_code[flat[bad]] = True
    if window is not None:
        tt = np.asarray(chunk.gps_time)
        out = (tt < window[0]) | (tt >= window[1])
        p.n_out_window += int(out.sum())
        p.out_window[flat[out]] = True
    if info.point_format >= 6:
        angle = np.abs(np.asarray(chunk.scan_angle).astype(np.float64) * 0.006)
    else:
        angle = np.abs(np.asarray(chunk.scan_angle_rank).astype(np.float64))
    wide = angle > t.scan_angle_max
    p.n_wide += int(wide.sum())
    p.wide_angle[flat[wide]] = True
    key = (flat.astype(np.uint64) << np.uint64(_HASH_BITS)) | _mix(chunk.X, chunk.Y, chunk.Z)
    p.keys.append(key)
    p.read += len(chunk)


def _cells(mask_flat: np.ndarray, rows: int, cols: int, origin: Affine, info):
    polys = cells_to_polygons(mask_flat.reshape(rows, cols), origin)
    if not polys:
        return None
    return to_lonlat(shapely.union_all(polys), info.crs)


def _header(ctx, given, info, by_return, p: _Pass, fp, t: PointCloudThresholds) -> None:
    """``las.header_bounds`` and ``las.header_counts``."""
    ctx.ran(given, "las.header_bounds", "las.header_counts")
    tol = max(t.bounds_tolerance_m / (info.unit_m or 1.0), max(info.scales))
    head_min, head_max = np.array(info.mins), np.array(info.maxs)
    worst = float(max(np.max(np.abs(head_min - p.mins)), np.max(np.abs(head_max - p.maxs))))
    if worst > tol:
        stated = shapely.box(head_min[0], head_min[1], head_max[0], head_max[1])
        actual = shapely.box(p.mins[0], p.mins[1], p.maxs[0], p.maxs[1])
        where = to_lonlat(shapely.union(stated.boundary, actual.boundary), info.crs)
        ctx.add(
            given,
            "las.header_bounds",
            "blocking",
            round(worst * (info.unit_m or 1.0), 3),
            t.bounds_tolerance_m,
            f"header bounds disagree with the points by up to {worst:.3f} CRS units "
            f"(header x {head_min[0]:.2f}..{head_max[0]:.2f}, points "
            f"{p.mins[0]:.2f}..{p.maxs[0]:.2f})",
            where,
        )
    actual = [int(v) for v in p.returns[1 : len(by_return) + 1]]
    if any(by_return) and actual != by_return[: len(actual)]:
        ctx.add(
            given,
            "las.header_counts",
            "blocking",
            str(actual),
            str(by_return),
            f"points by return {actual} differ from the header's {by_return}",
            fp,
        )


def _density(ctx, given, info, p: _Pass, origin, rows, cols, t: PointCloudThresholds) -> None:
    """``las.density``: the share of inner cells (all eight neighbours hold points) below
    the specified density, above ``density_low_share``."""
    ctx.ran(given, "las.density")
    counts = p.counts.reshape(rows, cols)
    occ = counts > 0
    pad = np.pad(occ, 1)
    inner = occ.copy()
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            inner &= pad[1 + di : 1 + di + rows, 1 + dj : 1 + dj + cols]
    if not inner.any():
        ctx.note(given, "too few cells with full neighbours to judge the density")
        return
    area_m2 = (origin.a * (info.unit_m or 1.0)) ** 2
    density = counts / area_m2
    low = inner & (density < t.density_min)
    share = float(low.sum() / inner.sum())
    if share > t.density_low_share:
        where = _cells(low.ravel(), rows, cols, origin, info)
        ctx.add(
            given,
            "las.density",
            "blocking",
            round(share, 4),
            t.density_low_share,
            f"{share:.1%} of the cells ({int(low.sum())} of {int(inner.sum())}) hold fewer "
            f"than {t.density_min} points/m2 (lowest {float(density[low].min()):.2f})",
            where,
        )


def _classes(ctx, given, info, p: _Pass, origin, rows, cols, fp, t) -> None:
    """``las.class_code`` (codes the ASPRS table does not define) and ``las.ground``."""
    ctx.ran(given, "las.class_code", "las.ground")
    defined = DEFINED_LEGACY if info.point_format < 6 else DEFINED_MODERN
    bad = {c: int(n) for c, n in enumerate(p.classes) if n and c not in defined}
    if bad:
        ctx.add(
            given,
            "las.class_code",
            "blocking",
            ", ".join(map(str, bad)),
            f"ASPRS codes of point format {info.point_format}",
            f"classification codes {sorted(bad)} are not defined by ASPRS for point format "
            f"{info.point_format} ({sum(bad.values())} points)",
            _cells(p.bad_code, rows, cols, origin, info) or fp,
        )
    if t.require_ground and p.classes[2] == 0:
        ctx.add(
            given,
            "las.ground",
            "blocking",
            0,
            "> 0",
            "no ground points (class 2): the cloud is unclassified or ground is missing",
            fp,
        )


def _duplicates(ctx, given, info, p: _Pass, origin, rows, cols, t) -> None:
    """``las.duplicates``: points with the same integer X, Y, Z."""
    ctx.ran(given, "las.duplicates")
    keys = np.concatenate(p.keys) if p.keys else np.zeros(0, dtype=np.uint64)
    p.keys.clear()
    keys.sort()
    dup = keys[1:] == keys[:-1]
    n = int(dup.sum())
    share = n / max(p.read, 1)
    if share > t.duplicate_share:
        flat = np.zeros(rows * cols, dtype=bool)
        flat[(keys[1:][dup] >> np.uint64(_HASH_BITS)).astype(np.int64)] = True
        ctx.add(
            given,
            "las.duplicates",
            "minor",
            round(share, 5),
            t.duplicate_share,
            f"{n} duplicate points ({share:.2%}) with the same X, Y and Z",
            _cells(flat, rows, cols, origin, info),
        )


def _gps(ctx, given, info, p: _Pass, origin, rows, cols, acquired, fp) -> None:
    """``las.gps_time``: points timed outside the stated acquisition window."""
    if acquired is None:
        return
    if not info.has_gps or not info.adjusted_gps:
        ctx.note(
            given,
            "GPS time is week time or absent: not placed in the acquisition window",
        )
        return
    ctx.ran(given, "las.gps_time")
    if p.n_out_window:
        ctx.add(
            given,
            "las.gps_time",
            "blocking",
            p.n_out_window,
            f"{acquired.start}/{acquired.end}",
            f"{p.n_out_window} points timed outside the acquisition window "
            f"{acquired.start}..{acquired.end}",
            _cells(p.out_window, rows, cols, origin, info) or fp,
        )


def _angles(ctx, given, info, p: _Pass, origin, rows, cols, t) -> None:
    """``las.scan_angle``: a share of points beyond the maximum scan angle."""
    ctx.ran(given, "las.scan_angle")
    share = p.n_wide / max(p.read, 1)
    if share > t.scan_angle_share:
        ctx.add(
            given,
            "las.scan_angle",
            "minor",
            round(share, 4),
            t.scan_angle_share,
            f"{share:.1%} of the points beyond {t.scan_angle_max} degrees of scan angle",
            _cells(p.wide_angle, rows, cols, origin, info),
        )
