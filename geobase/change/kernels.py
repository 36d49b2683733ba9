"""The per-pixel imagery score in one compiled pass (numba), and the switch to numpy.

:func:`score_window` fuses what :mod:`geobase.change.radiometry` does in several numpy
passes: AFTER resampled bilinearly by the sub-pixel shift, BEFORE mapped through the
normalisation's lookup table, the residual whitened (``inv_cov = L L^T``, statistic
``|L^T r|^2``) and compared with the threshold. The numpy path stays the reference
(``tests/test_change.py`` checks that both agree); ``GEOBASE_CHANGE_KERNEL=numpy`` or a
missing numba selects it.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

njit: Any
try:  # numba is a dependency; a broken or missing install falls back to numpy
    from numba import njit
except ImportError:  # pragma: no cover - exercised where numba is missing
    njit = None


def enabled() -> bool:
    """Whether the compiled kernel is used (numba present, not switched off)."""
    return njit is not None and os.environ.get("GEOBASE_CHANGE_KERNEL", "numba") != "numpy"


def _score_window(before, after, fx, fy, lut, white, inv_thr, vb, va, score, changed, value):
    nb, h, w = before.shape
    w00 = (1.0 - fy) * (1.0 - fx)
    w01 = (1.0 - fy) * fx
    w10 = fy * (1.0 - fx)
    w11 = fy * fx
    r = np.empty(nb, np.float32)
    for i in range(h):
        for j in range(w):
            if not (vb[i, j] and va[i, j] and va[i, j + 1] and va[i + 1, j] and va[i + 1, j + 1]):
                score[i, j] = 0.0
                changed[i, j] = False
                value[i, j] = 0.0
                continue
            total = 0.0
            for k in range(nb):
                a = (
                    w00 * after[k, i, j]
                    + w01 * after[k, i, j + 1]
                    + w10 * after[k, i + 1, j]
                    + w11 * after[k, i + 1, j + 1]
                )
                r[k] = a - lut[k, before[k, i, j]]
                total += r[k]
            value[i, j] = total / nb
            stat = 0.0
            for k in range(nb):
                z = 0.0
                for m in range(k, nb):
                    z += white[k, m] * r[m]
                stat += z * z
            s = stat * inv_thr
            score[i, j] = s
            changed[i, j] = s > 1.0


_compiled: Any = None


def score_window(
    before: np.ndarray,
    after: np.ndarray,
    shift: tuple[float, float],
    lut: np.ndarray,
    white: np.ndarray,
    threshold: float,
    vb: np.ndarray,
    va: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(score = statistic / threshold, changed, mean residual) of a window.

    Args:
        before: bands x h x w of 8 or 16-bit integers (indexes ``lut``).
        after: bands x (h + 1) x (w + 1), read at BEFORE's pixel plus the shift's
            integer part; ``shift`` is its fractional part (fx, fy) in [0, 1).
        lut: bands x levels, BEFORE's value mapped into AFTER's radiometry.
        white: upper-triangular ``L^T`` with ``L L^T`` the inverse residual covariance.
        threshold: the chi-square statistic that counts as change.
        vb, va: the valid masks of ``before`` and ``after``.
    """
    global _compiled
    if _compiled is None:
        _compiled = njit(cache=True, nogil=True, fastmath=True, error_model="numpy")(_score_window)
    _, h, w = before.shape
    score = np.empty((h, w), np.float32)
    changed = np.empty((h, w), np.bool_)
    value = np.empty((h, w), np.float32)
    _compiled(
        before,
        after,
        float(shift[0]),
        float(shift[1]),
        lut,
        white,
        1.0 / threshold,
        vb,
        va,
        score,
        changed,
        value,
    )
    return score, changed, value
