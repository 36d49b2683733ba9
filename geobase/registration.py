"""Image registration: the shift between two images of the same place by phase correlation.

The normalised cross-power spectrum of two blocks has its inverse-FFT peak at their
relative shift; gain, offset and most of a gamma change do not move it. Both blocks are
Hann-windowed (their edges do not correlate), the peak is refined to sub-pixel by a
parabola through its neighbours, then iterated (the second block Fourier-shifted by the
estimate, the remainder measured again) until the remainder is below 0.01 px, which
removes the parabola's bias.

The one home of the method: change discovery (:mod:`geobase.change.register`) measures the
residual shift between epochs with it, delivery QC (:mod:`geobase.qc.seams`) the offset
of two orthophotos in their overlap. Foundation: numpy only, no knowledge of either.
"""

from __future__ import annotations

import numpy as np

#: a refinement step smaller than this (px, on both axes) ends the iteration
CONVERGED_PX = 0.01


def _parabola(cm: float, c0: float, cp: float) -> float:
    denom = cm - 2 * c0 + cp
    return 0.0 if denom == 0 else float(0.5 * (cm - cp) / denom)


def fourier_shift(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``image`` moved by (+dx, +dy) pixels (x east, y down), circularly, by the Fourier
    shift theorem (exact for band-limited content, any sub-pixel amount)."""
    h, w = image.shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    ramp = np.exp(-2j * np.pi * (fx * dx + fy * dy))
    return np.fft.irfft2(np.fft.rfft2(image) * ramp, s=image.shape)


def _peak(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """(dx, dy, height) of one phase correlation of b against a (b = a moved by dx, dy)."""
    win = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))
    fa = np.fft.rfft2((a - a.mean()) * win)
    fb = np.fft.rfft2((b - b.mean()) * win)
    cross = fb * np.conj(fa)
    cross /= np.maximum(np.abs(cross), 1e-12)
    corr = np.fft.irfft2(cross, s=a.shape)
    h, w = corr.shape
    iy, ix = np.unravel_index(int(np.argmax(corr)), corr.shape)
    sy = _parabola(corr[(iy - 1) % h, ix], corr[iy, ix], corr[(iy + 1) % h, ix])
    sx = _parabola(corr[iy, (ix - 1) % w], corr[iy, ix], corr[iy, (ix + 1) % w])
    py = iy + sy if iy <= h // 2 else iy + sy - h
    px = ix + sx if ix <= w // 2 else ix + sx - w
    return float(px), float(py), float(corr[iy, ix])


def phase_correlation(
    a: np.ndarray, b: np.ndarray, iterations: int = 3
) -> tuple[float, float, float]:
    """The shift (dx, dy) of ``b``'s content against ``a``'s, in pixels (x east, y down):
    ``b`` at (c + dx, r + dy) shows what ``a`` shows at (c, r). With it, the height of the
    first correlation peak (1: identical up to the shift, ~0: nothing in common).

    Both blocks are 2-D float arrays of the same shape, without gaps (fill them first).
    ``iterations`` refinement steps at most (0: the parabola's estimate alone).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> a = rng.normal(size=(64, 64))
        >>> b = np.roll(a, (2, -3), axis=(0, 1))  # content moved 3 px west, 2 px down
        >>> [round(v, 2) for v in phase_correlation(a, b)[:2]]
        [-3.0, 2.0]
    """
    px, py, height = _peak(a, b)
    total_x, total_y = px, py
    for _ in range(iterations):
        moved = fourier_shift(b, -total_x, -total_y)
        rx, ry, _ = _peak(a, moved)
        total_x += rx
        total_y += ry
        if abs(rx) < CONVERGED_PX and abs(ry) < CONVERGED_PX:
            break
    return total_x, total_y, height
