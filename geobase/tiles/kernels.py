"""The fast warp's compiled kernel (numba): an exact area-weighted average per output pixel.

Each output pixel's footprint in the source is the axis-aligned rectangle between its
edges: the column coordinates of its left and right edges on its centre row, the row
coordinates of its top and bottom edges on its centre column (GDAL's ``average``
resampling takes the same rectangle). Source pixels are weighted by the area of their
overlap with it, invalid ones left out. The coordinates of the edges are bilinear between
the exactly transformed nodes of a lattice fixed to the zoom's global pixel grid (one node
every ``step`` pixels): a pixel depends only on its cell's nodes and its place in the
cell, never on the request it is warped in. IEEE arithmetic throughout (no fastmath), so
the bytes are the same on every run and in every worker.

Compiled once and cached on disk beside this file (numba's ``cache=True``); importing this
module costs ~0.3 s (numba) and the first call per process loads the cached machine code.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: share of a pixel's footprint that valid source pixels must cover for it to be valid
MIN_COVER = 0.5


@njit(cache=True, nogil=True)
def _edges(ncol, nrow, cy, cx, u0, u1, uc, v0, v1, vc):  # pragma: no cover - compiled
    """(xl, xr, yt, yb): a pixel's footprint from its cell's four nodes."""
    a = ncol[cy, cx] + (ncol[cy + 1, cx] - ncol[cy, cx]) * vc
    b = ncol[cy, cx + 1] + (ncol[cy + 1, cx + 1] - ncol[cy, cx + 1]) * vc
    xl = a + (b - a) * u0
    xr = a + (b - a) * u1
    a = nrow[cy, cx] + (nrow[cy, cx + 1] - nrow[cy, cx]) * uc
    b = nrow[cy + 1, cx] + (nrow[cy + 1, cx + 1] - nrow[cy + 1, cx]) * uc
    yt = a + (b - a) * v0
    yb = a + (b - a) * v1
    if xl > xr:
        xl, xr = xr, xl
    if yt > yb:
        yt, yb = yb, yt
    return xl, xr, yt, yb


@njit(cache=True, nogil=True)
def area_warp(
    ncol, nrow, ok, nx0, ny0, step, px0, py0, table, out, valid, rounded
):  # pragma: no cover
    """Warp output pixels [px0, px0 + w) x [py0, py0 + h) of the zoom's pixel grid.

    ``ncol``/``nrow``: (rows, cols) node coordinates in table units (the table's column
    and row, continuous: table cell i spans [i, i + 1)) of nodes ``nx0 + j`` and
    ``ny0 + i`` (node n at grid pixel n * step); ``ok``: where they transformed.
    ``table``: (H, W, L) source pixels, the last lane the validity (0 or 1), invalid
    pixels zero. ``out``: (L - 1, h, w), uint8 (rounded half up) or float32; ``valid``:
    (h, w) bool; ``rounded``: True for uint8 output. Pixels in a cell with an untransformed node stay invalid.
    """
    nb = out.shape[0]
    h = out.shape[1]
    w = out.shape[2]
    th = table.shape[0]
    tw = table.shape[1]
    lanes = table.shape[2]
    inv = 1.0 / step
    acc = np.zeros(lanes, np.float64)
    row_acc = np.zeros(lanes, np.float64)
    for y in range(h):
        gy = py0 + y
        cy = gy // step - ny0
        fy = gy % step
        v0 = fy * inv
        v1 = (fy + 1) * inv
        vc = (fy + 0.5) * inv
        for x in range(w):
            gx = px0 + x
            cx = gx // step - nx0
            if not (ok[cy, cx] and ok[cy, cx + 1] and ok[cy + 1, cx] and ok[cy + 1, cx + 1]):
                continue
            fx = gx % step
            xl, xr, yt, yb = _edges(ncol, nrow, cy, cx, fx * inv, (fx + 1) * inv,
                                    (fx + 0.5) * inv, v0, v1, vc)  # fmt: skip
            area = (xr - xl) * (yb - yt)
            if not area > 0.0:
                continue
            c_lo = max(math.floor(xl), 0)
            c_hi = min(math.ceil(xr), tw)
            r_lo = max(math.floor(yt), 0)
            r_hi = min(math.ceil(yb), th)
            acc[:] = 0.0
            for r in range(r_lo, r_hi):
                wy = min(yb, r + 1.0) - max(yt, float(r))
                if wy <= 0.0:
                    continue
                row_acc[:] = 0.0
                for c in range(c_lo, c_hi):
                    if table[r, c, lanes - 1] == 0:
                        continue
                    wx = min(xr, c + 1.0) - max(xl, float(c))
                    if wx <= 0.0:
                        continue
                    for i in range(lanes - 1):
                        row_acc[i] += wx * table[r, c, i]
                    row_acc[lanes - 1] += wx
                for i in range(lanes):
                    acc[i] += wy * row_acc[i]
            weight = acc[lanes - 1]
            if weight < MIN_COVER * area:
                continue
            valid[y, x] = True
            for i in range(nb):
                if rounded:
                    out[i, y, x] = min(255, int(acc[i] / weight + 0.5))
                else:
                    out[i, y, x] = acc[i] / weight
