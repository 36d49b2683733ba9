"""Co-registration check: the residual shift between two epochs by phase correlation.

The normalised cross-power spectrum of two blocks has its inverse-FFT peak at their
relative shift; gain, offset and most of a gamma change do not move it. The peak is
refined to sub-pixel by a parabola through its neighbours, then iterated (the second
block Fourier-shifted by the estimate, the remainder measured again) until the
remainder is below 0.01 px, which removes the parabola's bias. Several blocks give a
median and a spread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Shift:
    """How far AFTER's content lies from BEFORE's (grid pixels, x east, y down): AFTER at
    (c + dx, r + dy) shows what BEFORE shows at (c, r)."""

    dx: float
    dy: float
    res: float
    spread: float  # px, the largest distance of a block's estimate from the median
    blocks: int
    peak: float  # the weakest block's peak height (1 = perfect match)

    @property
    def px(self) -> float:
        return float(np.hypot(self.dx, self.dy))

    @property
    def metres(self) -> float:
        return self.px * self.res


def _parabola(cm: float, c0: float, cp: float) -> float:
    denom = cm - 2 * c0 + cp
    return 0.0 if denom == 0 else float(0.5 * (cm - cp) / denom)


def _fourier_shift(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``image`` moved by (+dx, +dy) pixels (circular)."""
    h, w = image.shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    ramp = np.exp(-2j * np.pi * (fx * dx + fy * dy))
    return np.fft.irfft2(np.fft.rfft2(image) * ramp, s=image.shape)


def _window(shape: tuple[int, int]) -> np.ndarray:
    return np.outer(np.hanning(shape[0]), np.hanning(shape[1]))


def _peak(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """(dx, dy, height) of the phase correlation of b against a (b = a moved by dx, dy)."""
    win = _window(a.shape)
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


def block_shift(a: np.ndarray, b: np.ndarray, iterations: int = 3) -> tuple[float, float, float]:
    """The shift (dx, dy) of ``b``'s content against ``a``'s (``b`` at (c + dx, r + dy)
    shows what ``a`` shows at (c, r)), and the first peak's height.

    Both blocks are 2-D float arrays of the same shape, without gaps.
    """
    px, py, height = _peak(a, b)
    total_x, total_y = px, py
    for _ in range(iterations):
        moved = _fourier_shift(b, -total_x, -total_y)
        rx, ry, _ = _peak(a, moved)
        total_x += rx
        total_y += ry
        if abs(rx) < 0.01 and abs(ry) < 0.01:
            break
    return total_x, total_y, height


def estimate_shift(
    blocks: list[tuple[np.ndarray, np.ndarray]], res: float, iterations: int = 3
) -> Shift | None:
    """The median shift over blocks (pairs of gap-free 2-D arrays), or None without any."""
    found = []
    for a, b in blocks:
        if min(a.shape) < 32 or a.std() == 0 or b.std() == 0:
            continue
        found.append(block_shift(a, b, iterations))
    if not found:
        return None
    arr = np.array(found)
    dx, dy = float(np.median(arr[:, 0])), float(np.median(arr[:, 1]))
    spread = float(np.max(np.hypot(arr[:, 0] - dx, arr[:, 1] - dy)))
    return Shift(dx, dy, res, spread, len(found), float(arr[:, 2].min()))
