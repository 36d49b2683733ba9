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
from scipy import ndimage

from geobase.change.elevation import HeightModel
from geobase.change.epochs import Source
from geobase.change.grid import Grid, read_epoch
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


def clean(mask: np.ndarray) -> np.ndarray:
    """Opening (drops specks) then closing (fills cracks), 3 x 3."""
    out = ndimage.binary_opening(mask, structure=_SQUARE)
    return ndimage.binary_closing(out, structure=_SQUARE)


def _polygons(
    mask: np.ndarray,
    kind: str,
    score: np.ndarray,
    value: np.ndarray,
    transform: Affine,
) -> list[Piece]:
    labels, count = ndimage.label(mask, structure=_CROSS)
    if count == 0:
        return []
    flat = labels.ravel()
    pixels = np.bincount(flat, minlength=count + 1)[1:]
    scores = np.bincount(flat, score.ravel(), count + 1)[1:]
    values = np.bincount(flat, value.ravel(), count + 1)[1:]
    out = []
    for geom, label in features.shapes(
        labels.astype(np.int32), mask=labels > 0, transform=transform, connectivity=4
    ):
        i = int(label) - 1
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


def run_window(modality: Modality, window: tuple[int, int, int, int]) -> WindowResult:
    """Detect changes in one window (row, col, h, w) of ``modality.grid``."""
    row, col, h, w = window
    grid = modality.grid
    r0, c0 = max(row - HALO, 0), max(col - HALO, 0)
    r1, c1 = min(row + h + HALO, grid.height), min(col + w + HALO, grid.width)
    hh, ww = r1 - r0, c1 - c0
    before, vb = read_epoch(modality.before, grid, r0, c0, hh, ww, modality.shift_before)
    after, va = read_epoch(modality.after, grid, r0, c0, hh, ww, modality.shift_after)
    valid = vb & va
    core = (slice(row - r0, row - r0 + h), slice(col - c0, col - c0 + w))
    result = WindowResult(
        valid_before=int(vb[core].sum()),
        valid_after=int(va[core].sum()),
        valid_both=int(valid[core].sum()),
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
        changed = (stat > thr) & valid
        result.changed_raw = int(changed[core].sum())
        mask = clean(changed) & valid
        value = residuals.mean(axis=0)
        result.pieces = _polygons(mask[core], "changed", (stat / thr)[core], value[core], transform)
        return result
    heights = modality.heights
    assert heights is not None
    diff = after[0] - before[0] - np.float32(heights.offset)
    diff[~valid] = 0
    up, down = (diff > thr) & valid, (diff < -thr) & valid
    result.changed_raw = int(up[core].sum() + down[core].sum())
    score = np.abs(diff) / thr
    for kind, mask in (("new/raised", clean(up) & valid), ("removed/lowered", clean(down) & valid)):
        result.pieces += _polygons(mask[core], kind, score[core], diff[core], transform)
    return result


def windows(grid: Grid, size: int) -> list[tuple[int, int, int, int]]:
    """The grid cut into windows of ``size`` pixels (row, col, h, w)."""
    return [
        (r, c, min(size, grid.height - r), min(size, grid.width - c))
        for r in range(0, grid.height, size)
        for c in range(0, grid.width, size)
    ]
