"""Phase correlation (geobase.registration), the one home of the shift measurement that
change discovery (epochs) and delivery QC (seams) both use."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from geobase.registration import fourier_shift, phase_correlation


def _texture(size: int, seed: int) -> np.ndarray:
    """Smooth random texture, like imagery at a few pixels' correlation length."""
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.normal(size=(size, size)), 2)


@settings(max_examples=25, deadline=None)
@given(
    dx=st.floats(-8, 8, allow_nan=False),
    dy=st.floats(-8, 8, allow_nan=False),
    seed=st.integers(0, 2**16),
)
def test_recovers_a_planted_subpixel_shift(dx, dy, seed):
    img = _texture(300, seed)
    moved = ndimage.shift(img, (dy, dx), order=3)  # content moved (dx east, dy down)
    # crop inside: the blocks are not circular copies of each other, as in real images
    a, b = img[22:278, 22:278], moved[22:278, 22:278]
    found_dx, found_dy, peak = phase_correlation(a, b)
    assert (found_dx, found_dy) == pytest.approx((dx, dy), abs=0.06)
    assert peak > 0.2


@settings(max_examples=15, deadline=None)
@given(dx=st.integers(-12, 12), dy=st.integers(-12, 12), seed=st.integers(0, 2**16))
def test_recovers_a_whole_pixel_shift_despite_gain_and_offset(dx, dy, seed):
    img = _texture(160, seed)
    a = img[20:148, 20:148]
    b = 1.7 * img[20 - dy : 148 - dy, 20 - dx : 148 - dx] + 40  # a's content moved (dx, dy)
    found_dx, found_dy, peak = phase_correlation(a, b)
    assert (found_dx, found_dy) == pytest.approx((dx, dy), abs=0.05) and peak > 0.2


def test_refinement_removes_the_parabola_bias():
    img = _texture(300, 7)
    moved = ndimage.shift(img, (0.0, 0.4), order=3)
    a, b = img[22:278, 22:278], moved[22:278, 22:278]
    rough, _, _ = phase_correlation(a, b, iterations=0)
    fine, _, _ = phase_correlation(a, b)
    assert abs(fine - 0.4) < 0.03 < abs(rough - 0.4)


def test_unrelated_blocks_have_a_low_peak():
    _, _, peak = phase_correlation(_texture(128, 1), _texture(128, 2))
    assert peak < 0.1


def test_fourier_shift_moves_content_east_and_down():
    img = _texture(64, 3)
    assert np.allclose(fourier_shift(img, 3, -2), np.roll(img, (-2, 3), axis=(0, 1)))


def test_docstring_examples():
    import doctest

    import geobase.registration as module

    failures, tried = doctest.testmod(module, verbose=False)
    assert tried > 0 and failures == 0


def test_registration_is_foundation():
    """It imports no other geobase module: the domain packages import it, not each other."""
    code = (
        "import sys, geobase.registration;"
        "bad = [m for m in sys.modules if m.startswith('geobase.') "
        "and m != 'geobase.registration'];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
