"""Co-registration check: the residual shift between two epochs.

Each block pair is measured by phase correlation (:func:`geobase.registration.phase_correlation`,
sub-pixel, insensitive to gain and offset); several blocks give a median and a spread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geobase.registration import phase_correlation


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


def estimate_shift(
    blocks: list[tuple[np.ndarray, np.ndarray]], res: float, iterations: int = 3
) -> Shift | None:
    """The median shift over blocks (pairs of gap-free 2-D arrays), or None without any."""
    found = []
    for a, b in blocks:
        if min(a.shape) < 32 or a.std() == 0 or b.std() == 0:
            continue
        found.append(phase_correlation(a, b, iterations))
    if not found:
        return None
    arr = np.array(found)
    dx, dy = float(np.median(arr[:, 0])), float(np.median(arr[:, 1]))
    spread = float(np.max(np.hypot(arr[:, 0] - dx, arr[:, 1] - dy)))
    return Shift(dx, dy, res, spread, len(found), float(arr[:, 2].min()))
