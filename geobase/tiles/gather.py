"""The fast warp's source-pixel arithmetic: where each output pixel lies in a source, and
how its value is made from the source pixels there.

Two methods, both exact on a lattice of nodes fixed to the zoom's global pixel grid (so a
pixel's bytes never depend on the request it is warped in):

- :func:`area_warp_source` (a base pixel covers at most ``MAX_OVERSAMPLE`` source pixels
  a side, the common case): the exact area-weighted average of the source pixels under
  the pixel's footprint, compiled (:mod:`geobase.tiles.kernels`), as ``gdalwarp -r
  average`` computes it;
- :func:`gather_warp` (a base zoom far coarser than the data): k x k nearest samples per
  pixel of f x f block means of the source, gathered and averaged with numpy.

The plain reference both are tested against is rasterio's ``reproject`` (see
:mod:`geobase.tiles.warp`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from affine import Affine

from geobase.tiles.sources import packed_table, read_reduced, transformer

#: output pixels between the exactly transformed nodes of the lattice; the nodes sit at
#: multiples of it on the zoom's global pixel grid, whatever the request
COORD_STEP = 16
#: k x k samples of output pixels warped in one gather at most (its packed source window
#: and indices take ~8 bytes a sample): larger requests are warped in bands of rows
GATHER_SAMPLES = 1 << 24
_SENTINEL = -1e15  # where a node does not transform: every sample near it falls outside
#: lattice cell rows warped at once: the coordinates and indices of a strip's samples stay
#: in the CPU's cache (whole-request arrays of them cost more in memory traffic and page
#: faults than in arithmetic); the bytes do not depend on it
STRIP_CELLS = 4


@dataclass(frozen=True)
class _Lattice:
    """Where a request's k x k samples per output pixel lie in the source.

    Source (column, row) coordinates are exact (pyproj) on the nodes at multiples of
    ``COORD_STEP`` pixels of the zoom's global pixel grid and bilinear in between: along
    the lattice rows in float64 (``along``, per output column), then down the cell in
    float32 (``along + down * t``). Sample (a, b) of a pixel takes its column at sample
    column b on the pixel's centre row, and its row at sample row a on the pixel's centre
    column: k + k coordinate planes instead of 2 k^2, the samples' grid following the
    source's rotation across the pixel only to first order (off by ~0.001 px for a degree
    of rotation). Every step is elementwise, so a sample depends only on its cell's nodes
    and its place in the cell, never on the request. Coordinates are stored plus one (the
    source's padded border, column/row -1, is 0): truncating them is then their floor.
    """

    #: per sample column b: the column coordinate (along, down): (cells + 1, width), (cells, width)
    cols: list[tuple[np.ndarray, np.ndarray]]
    rows: tuple[np.ndarray, np.ndarray]  # the row coordinate on the pixels' centre columns
    t_centre: np.ndarray  # (COORD_STEP,) place of the pixels' centre rows down a cell
    t_rows: list[np.ndarray]  # per sample row a: (COORD_STEP,)
    offset: int  # the request's first row within its first cell
    height: int
    bounds: tuple[float, float, float, float]  # (lo_c, lo_r, hi_c, hi_r) of finite nodes, +1
    partial: bool  # some nodes did not transform (samples near them must be clipped)

    def strips(self) -> Iterator[tuple[int, int, slice]]:
        """(first cell row, end cell row, output rows) of each strip."""
        cells = -(-(self.offset + self.height) // COORD_STEP)
        for i0 in range(0, cells, STRIP_CELLS):
            i1 = min(cells, i0 + STRIP_CELLS)
            y0 = max(0, i0 * COORD_STEP - self.offset)
            y1 = min(self.height, i1 * COORD_STEP - self.offset)
            yield i0, i1, slice(y0, y1)

    def index(self, plane, t, i0: int, i1: int, rows: slice, lo: int, hi: int, clip: bool):
        """Integer coordinates (int64, floored, minus ``lo``) of one plane's samples on
        output ``rows`` of cell rows [i0, i1); clipped to [lo, hi] if ``clip``."""
        along, down = plane
        buf = down[i0:i1, None, :] * t[None, :, None]
        buf += along[i0:i1, None, :]
        start = self.offset if i0 == 0 else 0
        buf = buf.reshape(-1, buf.shape[-1])[start : start + rows.stop - rows.start]
        if clip:
            np.clip(buf, lo, hi, out=buf)
        out = buf.astype(np.int64)  # truncation: the floor (all >= 0)
        out -= lo
        return out


@dataclass(frozen=True)
class Nodes:
    """The lattice nodes of a request, transformed into a source: node (i, j) is pixel
    ((nx0 + j) * COORD_STEP, (ny0 + i) * COORD_STEP) of the zoom's grid."""

    col: np.ndarray  # (rows, cols) float64 source column + 1 (the padded border is 0)
    row: np.ndarray  # source row + 1
    finite: np.ndarray  # (rows, cols) bool: where the node transformed
    nx0: int
    ny0: int

    def bounds(self) -> tuple[float, float, float, float]:
        """(lo_c, lo_r, hi_c, hi_r) of the finite nodes (source coordinates + 1)."""
        c, r = self.col[self.finite], self.row[self.finite]
        return float(c.min()), float(r.min()), float(c.max()), float(r.max())


def lattice_nodes(src_crs: Any, src_transform: Affine, crs: Any, anchor: tuple[float, float],
                  res: float, px0: int, py0: int, width: int, height: int) -> Nodes | None:  # fmt: skip
    """The :class:`Nodes` around output pixels [px0, px0 + width) x [py0, py0 + height)
    (counted from the zoom grid's ``anchor``, its left and top); None if none transforms."""
    step = COORD_STEP
    nx0, ny0 = px0 // step, py0 // step
    nx1, ny1 = -(-(px0 + width) // step), -(-(py0 + height) // step)
    ix = np.arange(nx0, nx1 + 1, dtype=np.int64) * step
    iy = np.arange(ny0, ny1 + 1, dtype=np.int64) * step
    gx, gy = np.meshgrid(anchor[0] + ix * res, anchor[1] - iy * res)
    sx, sy = transformer(crs, src_crs).transform(gx, gy)
    inv = ~src_transform
    col = inv.a * sx + inv.b * sy + inv.c + 1.0
    row = inv.d * sx + inv.e * sy + inv.f + 1.0
    finite = np.isfinite(col) & np.isfinite(row)
    if not finite.any():
        return None
    col = np.where(finite, col, _SENTINEL)
    row = np.where(finite, row, _SENTINEL)
    return Nodes(col, row, finite, nx0, ny0)


def _lattice(nodes: Nodes, px0: int, py0: int, width: int, height: int, k: int) -> _Lattice:
    """The :class:`_Lattice` of k x k samples per output pixel on ``nodes``."""
    step = COORD_STEP
    gcol = px0 + np.arange(width)
    cell = gcol // step - nodes.nx0

    def plane(node: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        along = node[:, cell] + (node[:, cell + 1] - node[:, cell]) * t
        along = along.astype(np.float32)
        return along, np.diff(along, axis=0)

    span = step * k
    within = np.arange(step)
    return _Lattice(
        cols=[plane(nodes.col, ((gcol % step) * k + b + 0.5) / span) for b in range(k)],
        rows=plane(nodes.row, ((gcol % step) + 0.5) / step),
        t_centre=((within + 0.5) / step).astype(np.float32),
        t_rows=[((within * k + a + 0.5) / span).astype(np.float32) for a in range(k)],
        offset=py0 % step,
        height=height,
        bounds=nodes.bounds(),
        partial=not nodes.finite.all(),
    )


def _window(
    bounds: tuple[float, float, float, float], sw: int, sh: int
) -> tuple[int, int, int, int] | None:
    """The source window (c0, r0, c1, r1) that holds every sample between nodes of
    ``bounds`` (one pixel more, for rounding); None if it misses the source."""
    lo_c, lo_r, hi_c, hi_r = (v - 1.0 for v in bounds)
    c0, r0 = max(0, math.floor(lo_c) - 1), max(0, math.floor(lo_r) - 1)
    c1, r1 = min(sw, math.floor(hi_c) + 2), min(sh, math.floor(hi_r) + 2)
    if c0 >= c1 or r0 >= r1:
        return None
    return c0, r0, c1, r1


def area_warp_source(src: Any, bands: list[int], crs: Any, anchor: tuple[float, float],
                     res: float, px0: int, py0: int, width: int, height: int,
                     dtype: Any, decoder: str | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The exact area-weighted average of one source's pixels under each output pixel
    (see :mod:`geobase.tiles.kernels`); ``decoder``: see :func:`packed_table`. Returns
    (data, valid)."""
    from geobase.tiles.kernels import area_warp, area_warp_packed

    nb = len(bands)
    data = np.zeros((nb, height, width), dtype)
    valid = np.zeros((height, width), bool)
    nodes = lattice_nodes(src.crs, src.transform, crs, anchor, res, px0, py0, width, height)
    if nodes is None:
        return data, valid
    window = _window(nodes.bounds(), src.width, src.height)
    if window is None:
        return data, valid
    c0, r0, c1, r1 = window
    h, w = r1 - r0 + 2, c1 - c0 + 2
    # node coordinates in table units: the table's column 0 is source column c0 - 1
    col = nodes.col - c0
    row = nodes.row - r0
    if dtype == np.uint8:
        # every band and the validity in one 8-byte pixel (unused bands zero)
        packed = packed_table(src, bands, window, 1, decoder).view(np.int64).reshape(h, w)
        area_warp_packed(col, row, nodes.finite, nodes.nx0, nodes.ny0, COORD_STEP, px0, py0,
                         packed, data, valid)  # fmt: skip
        return data, valid
    pix, ok = read_reduced(src, bands, window, 1, dtype)
    table = np.zeros((h, w, 4), np.float64)
    table[1:-1, 1:-1, :nb] = np.moveaxis(pix, 0, -1)
    table[1:-1, 1:-1, 3] = ok
    area_warp(col, row, nodes.finite, nodes.nx0, nodes.ny0, COORD_STEP, px0, py0, table, data,
              valid, False)  # fmt: skip
    return data, valid


def gather_warp(src: Any, bands: list[int], crs: Any, anchor: tuple[float, float], res: float,
                px0: int, py0: int, width: int, height: int, k: int, f: int,
                dtype: Any) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """k x k nearest samples per output pixel from one windowed read (of f x f block means
    of the source where f > 1), averaged over the valid ones: uint8 rounded half up,
    float64 then float32. Returns (data, valid)."""
    nb = len(bands)
    data = np.zeros((nb, height, width), dtype)
    valid = np.zeros((height, width), bool)
    src_transform = src.transform @ Affine.scale(f)
    sw, sh = -(-src.width // f), -(-src.height // f)
    nodes = lattice_nodes(src.crs, src_transform, crs, anchor, res, px0, py0, width, height)
    if nodes is None:
        return data, valid
    lat = _lattice(nodes, px0, py0, width, height, k)
    # the samples lie within their cells' nodes: the nodes' range bounds the window, so no
    # sample in the source falls outside it
    window = _window(lat.bounds, sw, sh)
    if window is None:
        return data, valid
    c0, r0, c1, r1 = window
    # samples can leave the window only where it was cut to the source's edge
    clip = lat.partial or c0 == 0 or r0 == 0 or c1 == sw or r1 == sh
    kk = k * k
    stride = c1 - c0 + 2

    def indices(i0, i1, rows):
        """Flat table indices of the k x k sample planes of one strip."""
        cs = [lat.index(lat.cols[b], lat.t_centre, i0, i1, rows, c0, c1 + 1, clip)
              for b in range(k)]  # fmt: skip
        for a in range(k):
            r = lat.index(lat.rows, lat.t_rows[a], i0, i1, rows, r0, r1 + 1, clip)
            r *= stride
            for c in cs:
                yield r + c

    if dtype == np.uint8:
        table = packed_table(src, bands, window, f)
        for i0, i1, rows in lat.strips():
            total: Any = None
            for idx in indices(i0, i1, rows):
                if total is None:
                    total = table[idx]
                else:
                    total += table[idx]
            sums = total.view(np.uint16).reshape(*total.shape, 4)
            count = sums[..., 3]
            valid[rows] = count > 0
            if bool((count == kk).all()):
                part = sums[..., :nb] + np.uint16(kk // 2)
                if kk & (kk - 1):
                    part //= np.uint16(kk)
                else:
                    part >>= kk.bit_length() - 1
            else:
                safe = np.maximum(count, 1).astype(np.uint32)[..., None]
                part = (2 * sums[..., :nb].astype(np.uint32) + safe) // (2 * safe)
            data[:, rows] = part.transpose(2, 0, 1)
        return data, valid
    pix, ok = read_reduced(src, bands, window, f, dtype)
    w, h = c1 - c0, r1 - r0
    padded = np.zeros((nb, h + 2, w + 2), np.float64)
    padded[:, 1:-1, 1:-1] = pix
    vals = padded.reshape(nb, -1)
    okp2 = np.zeros((h + 2, w + 2), np.uint16)  # counts reach k * k = 256
    okp2[1:-1, 1:-1] = ok
    okp = okp2.ravel()
    for i0, i1, rows in lat.strips():
        ftotal: Any = None
        fcount: Any = None
        for idx in indices(i0, i1, rows):
            if ftotal is None:
                ftotal, fcount = vals[:, idx], okp[idx]
            else:
                ftotal += vals[:, idx]
                fcount += okp[idx]
        ok_rows = fcount > 0
        valid[rows] = ok_rows
        part = (ftotal / np.maximum(fcount, 1)).astype(np.float32)
        part[:, ~ok_rows] = 0
        data[:, rows] = part
    return data, valid
