"""Generated epoch pairs with planted changes, for the change tests and the bench.

An imagery pair: a textured scene (fields, roads, standing buildings) photographed twice;
between the epochs some buildings are built and some demolished (5-40 m across), the
second camera has another per-band gain, offset and gamma, both have sensor noise, and
the second is shifted by a fraction of a pixel. An elevation pair: terrain with
buildings, new 3 m buildings and a 2 m excavation, and a vertical bias between epochs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import shapely
from affine import Affine
from scipy import ndimage

CRS = "EPSG:4548"
X0, Y0 = 467000.0, 2584000.0  # inside Shantou's Gauss-Kruger CM 117E grid


@dataclass
class Planted:
    geometry: shapely.Polygon
    kind: str  # new | removed


def _field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    f = ndimage.gaussian_filter(rng.normal(size=shape).astype(np.float32), sigma)
    return f / (f.std() + 1e-9)


def _free(occupied: np.ndarray, r: int, c: int, h: int, w: int, pad: int) -> bool:
    return not occupied[max(r - pad, 0) : r + h + pad, max(c - pad, 0) : c + w + pad].any()


def _rects(rng, shape, count, res, occupied, lo=5.0, hi=40.0):
    out = []
    for _ in range(count * 50):
        if len(out) == count:
            break
        h = int(rng.uniform(lo, hi) / res)
        w = int(rng.uniform(lo, min(hi, 2.5 * h * res)) / res)
        w = max(w, int(lo / res))
        r = int(rng.integers(4, shape[0] - h - 4))
        c = int(rng.integers(4, shape[1] - w - 4))
        if _free(occupied, r, c, h, w, pad=int(6 / res)):
            occupied[r : r + h, c : c + w] = True
            out.append((r, c, h, w))
    return out


def _poly(rect, res, x0=X0, y0=Y0) -> shapely.Polygon:
    r, c, h, w = rect
    return shapely.box(x0 + c * res, y0 - (r + h) * res, x0 + (c + w) * res, y0 - r * res)


def _write(path: Path, data: np.ndarray, res: float, nodata=None, x0=X0, y0=Y0) -> Path:
    profile = {
        "driver": "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": data.dtype,
        "crs": CRS,
        "transform": Affine(res, 0, x0, 0, -res, y0),
        "nodata": nodata,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def scene(rng: np.random.Generator, shape: tuple[int, int], res: float) -> np.ndarray:
    """Ground: fields of several scales and a few roads, 3 bands in 0..1."""
    base = 0.45 + 0.10 * _field(rng, shape, 30 / res) + 0.04 * _field(rng, shape, 3 / res)
    detail = 0.03 * _field(rng, shape, 0.6 / res)
    bands = np.stack([base + detail, 0.9 * base + 0.05 + detail, 0.8 * base + 0.03 + 0.5 * detail])
    for _ in range(max(1, shape[0] // 300)):
        r = int(rng.integers(0, shape[0] - 20))
        bands[:, r : r + int(8 / res), :] = np.array([0.35, 0.35, 0.37])[:, None, None]
    return np.clip(bands, 0.02, 0.98).astype(np.float32)


def _roof(rng) -> np.ndarray:
    choices = np.array(
        [[0.85, 0.82, 0.80], [0.70, 0.25, 0.20], [0.25, 0.40, 0.75], [0.20, 0.20, 0.22]]
    )
    return choices[rng.integers(0, len(choices))] + rng.normal(0, 0.02, 3)


def imagery_pair(
    folder: Path,
    *,
    size: int = 600,
    res: float = 0.5,
    seed: int = 7,
    shift: tuple[float, float] = (0.35, -0.45),  # after's content moved (dx, dy) px
    new: int = 10,
    removed: int = 8,
    standing: int = 10,
    noise: float = 3.0,
    gains=(1.15, 0.90, 1.05),
    offsets=(10.0, -5.0, 8.0),
    gammas=(0.85, 1.10, 0.95),
) -> tuple[Path, Path, list[Planted]]:
    """Write before.tif and after.tif (uint8, 3 bands) in ``folder``; the planted changes."""
    rng = np.random.default_rng(seed)
    shape = (size, size)
    ground = scene(rng, shape, res)
    occupied = np.zeros(shape, dtype=bool)
    kept = _rects(rng, shape, standing, res, occupied)
    gone = _rects(rng, shape, removed, res, occupied)
    built = _rects(rng, shape, new, res, occupied)
    before = ground.copy()
    after = ground.copy()
    for rect in kept + gone:
        r, c, h, w = rect
        roof = _roof(rng)[:, None, None]
        before[:, r : r + h, c : c + w] = roof
        if rect in kept:
            after[:, r : r + h, c : c + w] = roof
    for r, c, h, w in built:
        after[:, r : r + h, c : c + w] = _roof(rng)[:, None, None]
    # the second camera: sub-pixel shift, its own radiometry, and both cameras' noise
    after = np.stack(
        [ndimage.shift(b, (shift[1], shift[0]), order=3, mode="nearest") for b in after]
    )
    dn_before = before * 200 + 20
    dn_after = np.empty_like(after)
    for i in range(3):
        dn_after[i] = gains[i] * 255 * np.clip(after[i] * 200 / 255 + 20 / 255, 0, 1) ** gammas[i]
        dn_after[i] += offsets[i]
    dn_before += rng.normal(0, noise, dn_before.shape)
    dn_after += rng.normal(0, noise, dn_after.shape)
    out_b = np.clip(dn_before, 1, 255).round().astype(np.uint8)
    out_a = np.clip(dn_after, 1, 255).round().astype(np.uint8)
    planted = [Planted(_poly(r, res), "removed") for r in gone]
    planted += [Planted(_poly(r, res), "new") for r in built]
    return (
        _write(folder / "before.tif", out_b, res, nodata=0),
        _write(folder / "after.tif", out_a, res, nodata=0),
        planted,
    )


def elevation_pair(
    folder: Path,
    *,
    size: int = 600,
    res: float = 0.5,
    seed: int = 11,
    bias: float = 0.3,
    noise: float = 0.05,
) -> tuple[Path, Path, list[Planted]]:
    """Write dem_before.tif and dem_after.tif (float32); planted new 3 m buildings and a
    2 m excavation; AFTER is ``bias`` metres higher everywhere."""
    rng = np.random.default_rng(seed)
    shape = (size, size)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    terrain = 12 + 0.01 * xx + 0.004 * yy + 1.5 * _field(rng, shape, 40 / res)
    occupied = np.zeros(shape, dtype=bool)
    standing = _rects(rng, shape, 8, res, occupied)
    built = _rects(rng, shape, 6, res, occupied)
    pit = _rects(rng, shape, 1, res, occupied, lo=20.0, hi=35.0)
    before = terrain.copy()
    for r, c, h, w in standing:
        before[r : r + h, c : c + w] += rng.uniform(6, 20)
    after = before.copy()
    for r, c, h, w in built:
        after[r : r + h, c : c + w] += 3.0
    for r, c, h, w in pit:
        after[r : r + h, c : c + w] -= 2.0
    before = before + rng.normal(0, noise, shape)
    after = after + bias + rng.normal(0, noise, shape)
    planted = [Planted(_poly(r, res), "new") for r in built]
    planted += [Planted(_poly(r, res), "removed") for r in pit]
    return (
        _write(folder / "dem_before.tif", before[None].astype(np.float32), res, nodata=-9999.0),
        _write(folder / "dem_after.tif", after[None].astype(np.float32), res, nodata=-9999.0),
        planted,
    )


def score(detected, planted: list[Planted]) -> tuple[float, float]:
    """(share of planted changes at least half covered, share of detected area that is
    planted change)."""
    found = shapely.union_all(np.asarray(list(detected), dtype=object))
    truth = shapely.union_all([p.geometry for p in planted])
    hits = sum(
        1 for p in planted if shapely.intersection(p.geometry, found).area >= 0.5 * p.geometry.area
    )
    precision = shapely.intersection(found, truth).area / found.area if found.area else 0.0
    return hits / len(planted), precision


def plain_difference(before: Path, after: Path, min_area: float) -> list[shapely.Polygon]:
    """The naive detector: |after - before| averaged over bands, above its mean + 3 sigma,
    cleaned up and polygonised like the real one."""
    from rasterio import features

    from geobase.change.windows import clean

    with rasterio.open(before) as b, rasterio.open(after) as a:
        diff = np.abs(a.read().astype(np.float32) - b.read().astype(np.float32)).mean(axis=0)
        transform = b.transform
    mask = clean(diff > diff.mean() + 3 * diff.std())
    polys = [
        shapely.geometry.shape(g)
        for g, v in features.shapes(mask.astype(np.uint8), mask=mask, transform=transform)
    ]
    return [p for p in polys if p.area >= min_area]
