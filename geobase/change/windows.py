"""The work of one window: read both epochs, score, threshold, clean up, polygonise.

A window is read with a halo so that the morphological clean-up (an opening that removes
isolated pixels, then a closing that fills cracks, both 3 x 3) sees across its edges;
only its core is polygonised. Pieces of one change cut by window edges are merged by
:mod:`geobase.change.detect`. Jobs are plain data, so a process pool runs them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from affine import Affine
from rasterio import features
from scipy import ndimage  # type: ignore[import-untyped]

from geobase.change import kernels
from geobase.change.elevation import HeightModel
from geobase.change.epochs import Source
from geobase.change.grid import Grid, aligned, read_epoch
from geobase.change.radiometry import Normalisation

HALO = 4
_CROSS = ndimage.generate_binary_structure(2, 1)
_SQUARE = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class Modality:
    """What one kind of evidence needs in a window (plain data, picklable)."""

    kind: str  # imagery | elevation
    grid: Grid
    before: list[Source]
    after: list[Source]
    shift_before: tuple[float, float] = (0.0, 0.0)
    shift_after: tuple[float, float] = (0.0, 0.0)
    normalisation: Normalisation | None = None
    heights: HeightModel | None = None
    threshold: float = math.inf  # chi-square (imagery) or metres (elevation)
    min_pixels: int = 0  # regions smaller than this (and uncut by window edges) are dropped


@dataclass
class Piece:
    """A polygon found in one window's core, with sums to merge across windows."""

    geometry: Any  # shapely Polygon
    kind: str  # changed | new/raised | removed/lowered
    pixels: int
    score_sum: float  # statistic / threshold, summed over pixels
    value_sum: float  # imagery: mean residual over bands; elevation: height change (m)


@dataclass
class WindowResult:
    pieces: list[Piece] = field(default_factory=list)
    valid_before: int = 0
    valid_after: int = 0
    valid_both: int = 0
    changed_raw: int = 0  # pixels over the threshold before the clean-up


def _erode(m: np.ndarray) -> np.ndarray:
    """3 x 3 erosion; outside the array counts as set (a window's edge is not a change's
    edge: the halo in :func:`run_window` gives the context there)."""
    rows = m.copy()
    rows[1:] &= m[:-1]
    rows[:-1] &= m[1:]
    out = rows.copy()
    out[:, 1:] &= rows[:, :-1]
    out[:, :-1] &= rows[:, 1:]
    return out


def _dilate(m: np.ndarray) -> np.ndarray:
    rows = m.copy()
    rows[1:] |= m[:-1]
    rows[:-1] |= m[1:]
    out = rows.copy()
    out[:, 1:] |= rows[:, :-1]
    out[:, :-1] |= rows[:, 1:]
    return out


def clean(mask: np.ndarray) -> np.ndarray:
    """Opening (drops specks) then closing (fills cracks), 3 x 3, on the part of the
    mask's bounding box (plus a margin) that holds set pixels."""
    out = np.zeros_like(mask)
    rows = np.flatnonzero(mask.any(axis=1))
    if len(rows) == 0:
        return out
    cols = np.flatnonzero(mask.any(axis=0))
    r0, r1 = max(rows[0] - 3, 0), min(rows[-1] + 4, mask.shape[0])
    c0, c1 = max(cols[0] - 3, 0), min(cols[-1] + 4, mask.shape[1])
    box = mask[r0:r1, c0:c1]
    out[r0:r1, c0:c1] = _erode(_dilate(_dilate(_erode(box))))
    return out


def _polygons(
    mask: np.ndarray,
    kind: str,
    score: np.ndarray,
    value: np.ndarray,
    transform: Affine,
    min_pixels: int = 0,
) -> list[Piece]:
    """Polygons of the mask's 4-connected regions with their sums of score and value."""
    rows = np.flatnonzero(mask.any(axis=1))
    if len(rows) == 0:
        return []
    cols = np.flatnonzero(mask.any(axis=0))
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    full = mask.shape
    mask = mask[box]
    transform = transform @ Affine.translation(cols[0], rows[0])
    labels, count = ndimage.label(mask, structure=_CROSS)
    flat = labels[mask]
    pixels = np.bincount(flat, minlength=count + 1)[1:]
    scores = np.bincount(flat, score[box][mask], count + 1)[1:]
    values = np.bincount(flat, value[box][mask], count + 1)[1:]
    out = []
    # one small polygonisation per region (its bounding box), not one over the window;
    # a region under min_pixels that no window edge cuts is dropped here already
    for i, sl in enumerate(ndimage.find_objects(labels)):
        if sl is None:
            continue
        top, left = sl[0].start + rows[0], sl[1].start + cols[0]
        bottom, right = sl[0].stop + rows[0], sl[1].stop + cols[0]
        inner = top > 0 and left > 0 and bottom < full[0] and right < full[1]
        if inner and pixels[i] < min_pixels:
            continue
        part = labels[sl] == i + 1
        origin = transform @ Affine.translation(sl[1].start, sl[0].start)
        shapes = features.shapes(part.view(np.uint8), mask=part, transform=origin, connectivity=4)
        geom = next(iter(shapes))[0]
        out.append(
            Piece(
                shapely.geometry.shape(geom),
                kind,
                int(pixels[i]),
                float(scores[i]),
                float(values[i]),
            )
        )
    return out


def _finish(
    min_pixels: int,
    result: WindowResult,
    changed: np.ndarray,
    valid: np.ndarray,
    core: tuple[slice, slice],
    score: np.ndarray,
    value: np.ndarray,
    transform: Affine,
) -> WindowResult:
    result.changed_raw = int(np.count_nonzero(changed[core]))
    if result.changed_raw == 0:
        return result
    mask = clean(changed)
    mask &= valid
    result.pieces = _polygons(
        mask[core], "changed", score[core], value[core], transform, min_pixels
    )
    return result


def _kernel_fits(modality: Modality) -> bool:
    return (
        modality.kind == "imagery"
        and kernels.enabled()
        and modality.shift_before == (0.0, 0.0)
        and all(aligned(s, modality.grid) is not None for s in modality.before + modality.after)
        and all(s.dtype in ("uint8", "uint16") for s in modality.before)
    )


def _imagery_kernel(
    modality: Modality, window: tuple[int, int, int, int], box: tuple[int, int, int, int]
) -> WindowResult:
    """The imagery window through the compiled kernel (:mod:`geobase.change.kernels`)."""
    row, col, h, w = window
    r0, c0, hh, ww = box
    grid = modality.grid
    norm = modality.normalisation
    assert norm is not None
    before, vb = read_epoch(modality.before, grid, r0, c0, hh, ww)
    dx, dy = modality.shift_after
    ix, iy = math.floor(dx), math.floor(dy)
    after, va = read_epoch(modality.after, grid, r0 + iy, c0 + ix, hh + 1, ww + 1)
    valid = vb & va[:-1, :-1] & va[:-1, 1:] & va[1:, :-1] & va[1:, 1:]
    core = (slice(row - r0, row - r0 + h), slice(col - c0, col - c0 + w))
    result = WindowResult(
        valid_before=int(np.count_nonzero(vb[core])),
        valid_after=int(np.count_nonzero(va[:-1, :-1][core])),
        valid_both=int(np.count_nonzero(valid[core])),
    )
    if result.valid_both == 0:
        return result
    score, changed, value = kernels.score_window(
        before,
        after,
        (dx - ix, dy - iy),
        norm.lookups(before.dtype),
        norm.white,
        modality.threshold,
        vb,
        va,
    )
    transform = grid.window_transform(row, col)
    return _finish(modality.min_pixels, result, changed, valid, core, score, value, transform)


def run_window(modality: Modality, window: tuple[int, int, int, int]) -> WindowResult:
    """Detect changes in one window (row, col, h, w) of ``modality.grid``."""
    row, col, h, w = window
    grid = modality.grid
    r0, c0 = max(row - HALO, 0), max(col - HALO, 0)
    r1, c1 = min(row + h + HALO, grid.height), min(col + w + HALO, grid.width)
    hh, ww = r1 - r0, c1 - c0
    if _kernel_fits(modality):
        return _imagery_kernel(modality, window, (r0, c0, hh, ww))
    before, vb = read_epoch(modality.before, grid, r0, c0, hh, ww, modality.shift_before)
    after, va = read_epoch(modality.after, grid, r0, c0, hh, ww, modality.shift_after)
    valid = vb & va
    core = (slice(row - r0, row - r0 + h), slice(col - c0, col - c0 + w))
    result = WindowResult(
        valid_before=int(np.count_nonzero(vb[core])),
        valid_after=int(np.count_nonzero(va[core])),
        valid_both=int(np.count_nonzero(valid[core])),
    )
    if result.valid_both == 0:
        return result
    dx, dy = modality.shift_before
    transform = grid.window_transform(row, col) @ Affine.translation(dx, dy)
    thr = np.float32(modality.threshold)
    if modality.kind == "imagery":
        norm = modality.normalisation
        assert norm is not None
        residuals = norm.residuals(before, after)
        stat = norm.statistic(residuals)
        stat /= thr
        value = residuals.mean(axis=0)
        changed = stat > 1
        changed &= valid
        return _finish(modality.min_pixels, result, changed, valid, core, stat, value, transform)
    heights = modality.heights
    assert heights is not None
    diff = after[0].astype(np.float32) - before[0].astype(np.float32)
    diff -= np.float32(heights.offset)
    diff[~valid] = 0
    up, down = (diff > thr) & valid, (diff < -thr) & valid
    result.changed_raw = int(up[core].sum() + down[core].sum())
    score = np.abs(diff) / thr
    for kind, mask in (("new/raised", clean(up) & valid), ("removed/lowered", clean(down) & valid)):
        result.pieces += _polygons(
            mask[core], kind, score[core], diff[core], transform, modality.min_pixels
        )
    return result


def windows(grid: Grid, size: int) -> list[tuple[int, int, int, int]]:
    """The grid cut into windows of ``size`` pixels (row, col, h, w)."""
    return [
        (r, c, min(size, grid.height - r), min(size, grid.width - c))
        for r in range(0, grid.height, size)
        for c in range(0, grid.width, size)
    ]
