"""The overview cache's tile codec and a build's memory plan."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geobase.errors import TileSettingsError
from geobase.tiles.cache import decode_raw, encode_raw
from geobase.tiles.pyramid import memory_plan, settings_for
from geobase.tiles.tms import TMS


@settings(max_examples=25, deadline=None)
@given(
    kind=st.sampled_from([(3, np.uint8), (1, np.uint8), (1, np.float32)]),
    seed=st.integers(0, 2**32 - 1),
    valid=st.floats(0.0, 1.0),
)
def test_cached_tiles_come_back_exactly(kind, seed, valid):
    """Lossless: every value (those under the mask too) and the mask come back."""
    channels, dtype = kind
    rng = np.random.default_rng(seed)
    if dtype == np.uint8:
        data = rng.integers(0, 256, size=(channels, 256, 256), dtype=np.uint8)
    else:
        data = (rng.normal(0, 500, size=(channels, 256, 256))).astype(np.float32)
    mask = rng.random((256, 256)) < valid
    got, got_mask = decode_raw(encode_raw(data, mask), channels, dtype)
    assert got.dtype == dtype and got.shape == data.shape
    np.testing.assert_array_equal(got, data)
    np.testing.assert_array_equal(got_mask, mask)


def test_imagery_compresses_to_about_a_third():
    """Smooth imagery with noise (like a 2 x 2 mean of an orthophoto): well under half."""
    yy, xx = np.mgrid[0:256, 0:256]
    rng = np.random.default_rng(0)
    data = np.stack([100 + 60 * np.sin(xx / (20 + 5 * b)) + 30 * np.cos(yy / 31) for b in range(3)])
    data = np.clip(data + rng.normal(0, 1.5, data.shape), 0, 255).astype(np.uint8)
    assert len(encode_raw(data, np.ones((256, 256), bool))) < 0.45 * data.nbytes


def test_memory_plan_fits_the_limit():
    s = settings_for(TMS.get("WebMercatorQuad"), minzoom=12, maxzoom=21, fmt="jpeg",
                     mode="rgb", channels=3)  # fmt: skip
    free = memory_plan(s, 8, 4, None)
    assert (free.workers, free.in_flight, free.gdal_cache) == (4, 8, None)
    one = memory_plan(s, 8, 4, 900)
    two = memory_plan(s, 8, 4, 1400)
    assert 1 <= one.workers < two.workers <= 4 and one.gdal_cache
    assert memory_plan(s, 8, 16, 64_000).workers == 16
    with pytest.raises(TileSettingsError, match="max memory 300 MiB is below"):
        memory_plan(s, 8, 2, 300)
    assert memory_plan(s, 2, 2, 700).workers >= 1  # smaller windows fit a smaller limit
