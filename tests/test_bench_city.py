"""bench/bench_city.py: the synthetic 0.05 m mosaic is seeded, continuous and textured."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import numpy as np
from PIL import Image


def _bench():
    path = Path(__file__).resolve().parents[1] / "bench" / "bench_city.py"
    spec = importlib.util.spec_from_file_location("bench_city", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _patch(b, left, top, n=512, seed=0):
    cols = left + (np.arange(n) + 0.5) * b.RES
    rows = top - (np.arange(n) + 0.5) * b.RES
    x, y = np.meshgrid(cols, rows)
    return b._scene(x, y, np.random.default_rng(seed))


def test_scene_is_seeded_runs_across_file_edges_and_compresses_like_imagery():
    b = _bench()
    e0, n0 = b.origin()
    assert (e0, n0) == (467300.0, 2583300.0)  # 116.68E 23.35N in EPSG:4548, to 100 m
    edge = e0 + b.SIDE_PX * b.RES  # the seam between the first two files of a row
    one = _patch(b, edge - 12.8, n0)
    assert np.array_equal(one, _patch(b, edge - 12.8, n0))
    # the same ground drawn from the next file's side: only the sensor noise differs
    shifted = _patch(b, edge, n0)
    diff = one[:, :, 256:].astype(int) - shifted[:, :, :256].astype(int)
    assert np.abs(diff).mean() < 8 and diff.std() < 10
    # many distinct surfaces (roads, roofs, parks), and JPEG q90 sizes of real imagery
    big = _patch(b, e0 + 40.0, n0 - 30.0)
    buf = io.BytesIO()
    Image.fromarray(np.moveaxis(big, 0, -1)).save(buf, "JPEG", quality=90)
    bits = 8 * buf.tell() / big.shape[1] / big.shape[2]
    assert 1.0 < bits < 5.0, bits
    assert len(np.unique(big.reshape(3, -1) // 32, axis=1).T) > 20
