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

Imagery (uint8) takes :func:`area_warp_packed`: the same footprints with their edges on a
grid of 1/``QUANTA`` source pixel, summed in integers, every band and the validity at once
in the 16-bit lanes of one 64-bit word per source pixel (the packed table of
:func:`geobase.tiles.sources.packed_table`), three source columns and rows a pixel without
a branch where the footprint spans at most three: ~17 ns a base pixel against ~32 for
:func:`area_warp` on the city bench's mosaic, within one grey level of it (the edges move by 1/128 source pixel
at most, against up to 1/8 for GDAL's approximate transformer). Elevations keep the float
kernel, :func:`area_warp`, which is also the exact reference the packed one is tested
against.

Compiled once and cached on disk beside this file (numba's ``cache=True``); importing this
module costs ~0.3 s (numba) and the first call per process loads the cached machine code.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: share of a pixel's footprint that valid source pixels must cover for it to be valid
MIN_COVER = 0.5
#: footprint edges of :func:`area_warp_packed` per source pixel (a power of two): its
#: 16-bit lanes hold a row of three source pixels, 3 * QUANTA * 255 < 2**16
QUANTA = 64
_QSHIFT = 6
_LANES_02 = np.int64(0x0000FFFF0000FFFF)  # lanes 0 and 2 of four 16-bit lanes
_LOW32 = np.int64(0xFFFFFFFF)


@njit(cache=True, nogil=True, error_model="numpy")
def area_warp(
    ncol, nrow, ok, nx0, ny0, step, px0, py0, table, out, valid, rounded
):  # pragma: no cover
    """Warp output pixels [px0, px0 + w) x [py0, py0 + h) of the zoom's pixel grid.

    ``ncol``/``nrow``: (rows, cols) node coordinates in table units (the table's column
    and row, continuous: table cell i spans [i, i + 1)) of nodes ``nx0 + j`` and
    ``ny0 + i`` (node n at grid pixel n * step); ``ok``: where they transformed.
    ``table``: (H, W, 4) source pixels, lanes 0-2 the bands (unused ones zero), lane 3
    the validity (0 or 1), invalid pixels zero. ``out``: (bands, h, w), uint8 (rounded
    half up, ``rounded`` True) or float32; ``valid``: (h, w) bool. Pixels in a cell with
    an untransformed node stay invalid.

    Where every table pixel inside its one-pixel border is valid (the usual case), a
    footprint within that border takes its weight from the column and row weights alone
    (the same products and sums as the validity lane gives: the same bits), which skips
    a quarter of the inner loop.
    """
    nb = out.shape[0]
    h = out.shape[1]
    w = out.shape[2]
    th = table.shape[0]
    tw = table.shape[1]
    inv = 1.0 / step
    wx = np.empty(tw, np.float64)
    full = True
    for r in range(1, th - 1):
        for c in range(1, tw - 1):
            if table[r, c, 3] != 1:
                full = False
                break
        if not full:
            break
    for y in range(h):
        gy = py0 + y
        cy = gy // step - ny0
        fy = gy % step
        v0 = fy * inv
        v1 = (fy + 1) * inv
        vc = (fy + 0.5) * inv
        # the cell and the place in it, stepped along the row (no division per pixel)
        cx = px0 // step - nx0 - 1
        fx = px0 % step - 1
        cell_ok = False
        ca = 0.0
        cb = 0.0
        n00 = 0.0
        n01 = 0.0
        n10 = 0.0
        n11 = 0.0
        for x in range(w):
            fx += 1
            if x == 0 or fx == step:
                if x > 0:
                    fx = 0
                cx += 1
                # the footprint's terms that depend on the cell alone, once a cell
                cell_ok = ok[cy, cx] and ok[cy, cx + 1] and ok[cy + 1, cx] and ok[cy + 1, cx + 1]
                ca = ncol[cy, cx] + (ncol[cy + 1, cx] - ncol[cy, cx]) * vc
                cb = ncol[cy, cx + 1] + (ncol[cy + 1, cx + 1] - ncol[cy, cx + 1]) * vc
                n00 = nrow[cy, cx]
                n01 = nrow[cy, cx + 1]
                n10 = nrow[cy + 1, cx]
                n11 = nrow[cy + 1, cx + 1]
            if not cell_ok:
                continue
            u0 = fx * inv
            u1 = (fx + 1) * inv
            uc = (fx + 0.5) * inv
            xl = ca + (cb - ca) * u0
            xr = ca + (cb - ca) * u1
            a = n00 + (n01 - n00) * uc
            b = n10 + (n11 - n10) * uc
            yt = a + (b - a) * v0
            yb = a + (b - a) * v1
            # (xl, xr, yt, yb): the footprint, bilinear between the cell's four nodes
            if xl > xr:
                xl, xr = xr, xl
            if yt > yb:
                yt, yb = yb, yt
            area = (xr - xl) * (yb - yt)
            if not area > 0.0:
                continue
            c_lo = max(math.floor(xl), 0)
            c_hi = min(math.ceil(xr), tw)
            r_lo = max(math.floor(yt), 0)
            r_hi = min(math.ceil(yb), th)
            s0 = 0.0
            s1 = 0.0
            s2 = 0.0
            weight = 0.0
            if full and c_lo >= 1 and r_lo >= 1 and c_hi <= tw - 1 and r_hi <= th - 1:
                sx = 0.0
                for c in range(c_lo, c_hi):
                    a = min(xr, c + 1.0) - max(xl, float(c))
                    wx[c - c_lo] = a
                    sx += a
                for r in range(r_lo, r_hi):
                    wy = min(yb, r + 1.0) - max(yt, float(r))
                    t0 = 0.0
                    t1 = 0.0
                    t2 = 0.0
                    for c in range(c_lo, c_hi):
                        a = wx[c - c_lo]
                        t0 += a * table[r, c, 0]
                        t1 += a * table[r, c, 1]
                        t2 += a * table[r, c, 2]
                    s0 += wy * t0
                    s1 += wy * t1
                    s2 += wy * t2
                    weight += wy * sx
            else:
                for c in range(c_lo, c_hi):
                    wx[c - c_lo] = min(xr, c + 1.0) - max(xl, float(c))
                for r in range(r_lo, r_hi):
                    wy = min(yb, r + 1.0) - max(yt, float(r))
                    t0 = 0.0
                    t1 = 0.0
                    t2 = 0.0
                    tv = 0.0
                    for c in range(c_lo, c_hi):
                        a = wx[c - c_lo]
                        t0 += a * table[r, c, 0]
                        t1 += a * table[r, c, 1]
                        t2 += a * table[r, c, 2]
                        tv += a * table[r, c, 3]
                    s0 += wy * t0
                    s1 += wy * t1
                    s2 += wy * t2
                    weight += wy * tv
            if weight < MIN_COVER * area:
                continue
            valid[y, x] = True
            if rounded:
                out[0, y, x] = min(255, int(s0 / weight + 0.5))
                if nb > 1:
                    out[1, y, x] = min(255, int(s1 / weight + 0.5))
                if nb > 2:
                    out[2, y, x] = min(255, int(s2 / weight + 0.5))
            else:
                out[0, y, x] = s0 / weight
                if nb > 1:
                    out[1, y, x] = s1 / weight
                if nb > 2:
                    out[2, y, x] = s2 / weight


@njit(cache=True, nogil=True, error_model="numpy")
def area_warp_packed(
    ncol, nrow, ok, nx0, ny0, step, px0, py0, table, out, valid
):  # pragma: no cover
    """:func:`area_warp` of uint8 imagery from its packed table, in integers.

    ``table``: (H, W) int64, a source pixel's bands in 16-bit lanes 0-2 (unused ones
    zero) and its validity (0 or 1) in lane 3, invalid pixels zero. ``out``: (bands, h,
    w) uint8 and ``valid`` (h, w) bool, every pixel written. The footprint is
    :func:`area_warp`'s, its edges rounded to the nearest 1/``QUANTA`` source pixel
    (half up). Lane arithmetic: a row's columns weighted by their overlap (in quanta)
    sum all four lanes in one multiply-add a pixel (each lane < 2**16); the rows,
    weighted likewise, sum lanes 0 and 2 and lanes 1 and 3 in two words of 32-bit lanes.
    The value is the sum over the valid area rounded half up: (2 s + a) // (2 a), exact
    in float64 (both below 2**53, and a quotient's distance to the next integer is at
    least 1 / (2 a), far above its rounding).
    """
    nb = out.shape[0]
    h = out.shape[1]
    w = out.shape[2]
    th = table.shape[0]
    tw = table.shape[1]
    tab = table.reshape(th * tw)
    inv = 1.0 / step
    q = float(QUANTA)
    # edge x (0 <= x <= w) is the left of pixel x; an edge is a function of its place on
    # the zoom's grid alone (its lattice cell and place in it), so that neighbours share
    # it exactly and no request sees other bytes than another
    jx = np.empty(w + 1, np.int64)
    fx = np.empty(w + 1, np.int64)
    for x in range(w + 1):
        g = px0 + x
        jx[x] = g // step - nx0
        fx[x] = g % step
    uc = np.empty(w, np.float64)  # the pixels' centres in their cells
    for x in range(w):
        uc[x] = (fx[x] + 0.5) * inv
    ncell = ncol.shape[1]
    centre = np.empty(ncell, np.float64)  # column coordinates of the nodes on a row
    top = np.empty(w, np.float64)  # row coordinates on the pixels' centre columns, on
    bottom = np.empty(w, np.float64)  # the cell's top and bottom node rows
    cell_ok = np.empty(w, np.bool_)
    cols = np.empty(w + 1, np.int64)  # a row's column edges and
    rows_top = np.empty(w, np.int64)  # its top and bottom edges, in quanta
    rows_bottom = np.empty(w, np.int64)
    xl = np.empty(w, np.int64)  # the footprints' edges, in quanta
    xr = np.empty(w, np.int64)
    yt = np.empty(w, np.int64)
    yb = np.empty(w, np.int64)
    sums = np.empty((4, w), np.int64)  # a pixel's sums of the bands and of the validity
    last_cy = -1
    for y in range(h):
        gy = py0 + y
        cy = gy // step - ny0
        fy = gy % step
        if cy != last_cy:
            last_cy = cy
            for x in range(w):
                j = jx[x]
                n00 = nrow[cy, j]
                n10 = nrow[cy + 1, j]
                top[x] = n00 + (nrow[cy, j + 1] - n00) * uc[x]
                bottom[x] = n10 + (nrow[cy + 1, j + 1] - n10) * uc[x]
                cell_ok[x] = ok[cy, j] and ok[cy, j + 1] and ok[cy + 1, j] and ok[cy + 1, j + 1]
        if y == 0:
            v = fy * inv
            for x in range(w):
                rows_top[x] = math.floor((top[x] + (bottom[x] - top[x]) * v) * q + 0.5)
        else:  # the row above's bottom edge (the same arithmetic)
            rows_top, rows_bottom = rows_bottom, rows_top
        if fy + 1 == step:  # the next cell's top: its nodes' own values
            for x in range(w):
                rows_bottom[x] = math.floor(bottom[x] * q + 0.5)
        else:
            v = (fy + 1) * inv
            for x in range(w):
                rows_bottom[x] = math.floor((top[x] + (bottom[x] - top[x]) * v) * q + 0.5)
        vc = (fy + 0.5) * inv
        for j in range(ncell):
            centre[j] = ncol[cy, j] + (ncol[cy + 1, j] - ncol[cy, j]) * vc
        for x in range(w + 1):
            j = jx[x]
            e = centre[j]
            if fx[x] > 0:
                e += (centre[j + 1] - e) * (fx[x] * inv)
            cols[x] = math.floor(e * q + 0.5)
        for x in range(w):
            xl[x] = min(cols[x], cols[x + 1])
            xr[x] = max(cols[x], cols[x + 1])
            yt[x] = min(rows_top[x], rows_bottom[x])
            yb[x] = max(rows_top[x], rows_bottom[x])
        for x in range(w):
            left = xl[x]
            right = xr[x]
            upper = yt[x]
            lower = yb[x]
            c0 = left >> _QSHIFT
            r0 = upper >> _QSHIFT
            if not (c0 >= 0 and r0 >= 0 and c0 + 3 <= tw and r0 + 3 <= th
                    and right <= (c0 + 3) * QUANTA and lower <= (r0 + 3) * QUANTA):  # fmt: skip
                _packed_sums(left, right, upper, lower, tab, tw, th, sums[:, x])
                continue
            # the usual footprint: three columns and rows, zero weights past it
            e1 = (c0 + 1) * QUANTA
            e2 = e1 + QUANTA
            a0 = min(right, e1) - left
            a1 = max(0, min(right, e2) - e1)
            a2 = max(0, right - e2)
            e1 = (r0 + 1) * QUANTA
            e2 = e1 + QUANTA
            b0 = min(lower, e1) - upper
            b1 = max(0, min(lower, e2) - e1)
            b2 = max(0, lower - e2)
            i = r0 * tw + c0
            t = a0 * tab[i] + a1 * tab[i + 1] + a2 * tab[i + 2]
            se = b0 * (t & _LANES_02)
            so = b0 * ((t >> 16) & _LANES_02)
            i += tw
            t = a0 * tab[i] + a1 * tab[i + 1] + a2 * tab[i + 2]
            se += b1 * (t & _LANES_02)
            so += b1 * ((t >> 16) & _LANES_02)
            i += tw
            t = a0 * tab[i] + a1 * tab[i + 1] + a2 * tab[i + 2]
            se += b2 * (t & _LANES_02)
            so += b2 * ((t >> 16) & _LANES_02)
            sums[0, x] = se & _LOW32
            sums[1, x] = so & _LOW32
            sums[2, x] = se >> 32
            sums[3, x] = so >> 32
        s0 = sums[0]
        s1 = sums[1]
        s2 = sums[2]
        s3 = sums[3]
        for x in range(w):
            area = (xr[x] - xl[x]) * (yb[x] - yt[x])
            cover = s3[x]
            good = cell_ok[x] and area > 0 and 2 * cover >= area  # MIN_COVER
            d = 2.0 * max(cover, 1)
            valid[y, x] = good
            out[0, y, x] = _level((2 * s0[x] + cover) / d, good)
            if nb == 3:  # (2 bands: a source whose third band is its alpha)
                out[1, y, x] = _level((2 * s1[x] + cover) / d, good)
                out[2, y, x] = _level((2 * s2[x] + cover) / d, good)
            elif nb == 2:
                out[1, y, x] = _level((2 * s1[x] + cover) / d, good)


@njit(cache=True, inline="always")
def _level(value, good):  # pragma: no cover - compiled
    """floor(value) as a grey level where ``good``, else 0 (a select, no branch)."""
    return np.uint8(min(255.0, math.floor(value)) if good else 0.0)


@njit(cache=True, nogil=True, error_model="numpy")
def _packed_sums(left, right, upper, lower, tab, tw, th, sums):  # pragma: no cover - compiled
    """The sums of :func:`area_warp_packed` (bands 0-2 and the validity, into ``sums``)
    for a footprint of any size (edges in quanta), clipped to the table. A row's columns
    are summed in 32-bit lanes (below 2**32 up to ~4000 source pixels), the rows each
    lane apart in 64 bits: exact for any footprint a warp meets (a distorted one too)."""
    c_lo = max(left >> _QSHIFT, 0)
    c_hi = min(-((-right) >> _QSHIFT), tw)
    r_lo = max(upper >> _QSHIFT, 0)
    r_hi = min(-((-lower) >> _QSHIFT), th)
    sums[:] = 0
    for r in range(r_lo, r_hi):
        wy = min(lower, (r + 1) * QUANTA) - max(upper, r * QUANTA)
        te = 0
        to = 0
        for c in range(c_lo, c_hi):
            a = min(right, (c + 1) * QUANTA) - max(left, c * QUANTA)
            v = tab[r * tw + c]
            te += a * (v & _LANES_02)
            to += a * ((v >> 16) & _LANES_02)
        sums[0] += wy * (te & _LOW32)
        sums[1] += wy * (to & _LOW32)
        sums[2] += wy * (te >> 32)
        sums[3] += wy * (to >> 32)


@njit(cache=True, nogil=True)
def pack_pixels(pix, valid, every, out):  # pragma: no cover - compiled
    """Pack uint8 bands ``pix`` (bands <= 3, h, w) into ``out`` (h + 2, w + 2) int64, the
    packed table's inside: band b in 16-bit lane b, the validity (``valid`` (h, w), or
    every pixel where ``every``) in lane 3, invalid pixels zero; the border untouched."""
    nb = pix.shape[0]
    h = pix.shape[1]
    w = pix.shape[2]
    one = np.int64(1) << 48
    for r in range(h):
        row = out[r + 1, 1 : w + 1]
        if nb == 3:  # the usual case, one pass a row
            p0 = pix[0, r]
            p1 = pix[1, r]
            p2 = pix[2, r]
            for c in range(w):
                row[c] = one | np.int64(p0[c]) | (np.int64(p1[c]) << 16) | (np.int64(p2[c]) << 32)
        else:
            for c in range(w):
                v = one
                for b in range(nb):
                    v |= np.int64(pix[b, r, c]) << (16 * b)
                row[c] = v
        if not every:
            for c in range(w):
                if not valid[r, c]:
                    row[c] = 0


@njit(cache=True, nogil=True, error_model="numpy")
def downsample_u8(data, mask, out, out_mask):  # pragma: no cover - compiled
    """2 x 2 mean of the valid pixels of uint8 ``data`` (bands, 2h, 2w) with ``mask``
    (2h, 2w) into ``out`` (bands, h, w) and ``out_mask`` (h, w): (2 * sum + n) // (2 * n)
    over the n valid pixels (rounded half up), 0 where none is; one pass, the same
    integers as :func:`geobase.tiles.render.downsample_reference`."""
    nb = out.shape[0]
    h = out.shape[1]
    w = out.shape[2]
    for y in range(h):
        for x in range(w):
            out_mask[y, x] = (
                mask[2 * y, 2 * x] or mask[2 * y, 2 * x + 1]
                or mask[2 * y + 1, 2 * x] or mask[2 * y + 1, 2 * x + 1]
            )  # fmt: skip
    for b in range(nb):
        for y in range(h):
            for x in range(w):
                n = (
                    np.int32(mask[2 * y, 2 * x]) + np.int32(mask[2 * y, 2 * x + 1])
                    + np.int32(mask[2 * y + 1, 2 * x]) + np.int32(mask[2 * y + 1, 2 * x + 1])
                )  # fmt: skip
                if n == 0:
                    out[b, y, x] = 0
                    continue
                t = (
                    np.int32(data[b, 2 * y, 2 * x]) + np.int32(data[b, 2 * y, 2 * x + 1])
                    + np.int32(data[b, 2 * y + 1, 2 * x]) + np.int32(data[b, 2 * y + 1, 2 * x + 1])
                )  # fmt: skip
                if n == 4:  # the usual case: (2t + 4) // 8 without an integer division
                    out[b, y, x] = (t + 2) >> 2
                else:
                    out[b, y, x] = (2 * t + n) // (2 * n)


def load() -> None:
    """Compile (or load from the cache) the elevations' :func:`area_warp`,
    :func:`area_warp_packed`, :func:`pack_pixels` and :func:`downsample_u8` in this process
    (~0.3 s from the cache), so that forked workers inherit them instead of each paying it."""
    nodes = np.zeros((2, 2), np.float64)
    ok = np.zeros((2, 2), np.bool_)
    valid = np.zeros((1, 1), np.bool_)
    table = np.zeros((1, 1, 4), np.float64)  # elevations (imagery takes the packed kernel)
    area_warp(nodes, nodes, ok, 0, 0, 16, 0, 0, table, np.zeros((1, 1, 1), np.float32), valid,
              False)  # fmt: skip
    area_warp_packed(nodes, nodes, ok, 0, 0, 16, 0, 0, np.zeros((1, 1), np.int64),
                     np.zeros((3, 1, 1), np.uint8), valid)  # fmt: skip
    block = np.zeros((3, 2, 2), np.uint8)
    for pix in (block, block.transpose(1, 2, 0).copy().transpose(2, 0, 1)):  # GDAL's, Pillow's
        pack_pixels(pix, np.zeros((2, 2), np.bool_), True, np.zeros((4, 4), np.int64))
    downsample_u8(block, np.zeros((2, 2), np.bool_), np.zeros((3, 1, 1), np.uint8), valid)
