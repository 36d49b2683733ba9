"""Height differences between elevation epochs: vertical offset, precision, threshold.

Two DEMs (or DSMs) of one place differ by a vertical offset (a datum or a geoid
realisation, a survey's bias) and by noise; real change is what stands out of both. The
offset is the median of AFTER - BEFORE over the common valid area (robust: the changed
areas are a minority); the precision is the robust sigma of the differences
(1.4826 x their median absolute deviation from the offset). A pixel is raised or lowered
where the offset-free difference passes the two-sided normal quantile of the p-value
times that sigma (or a threshold the user gives).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm  # type: ignore[import-untyped]

from geobase.errors import ChangeInputError

MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class HeightModel:
    """The vertical offset removed, the precision and the threshold (metres)."""

    offset: float
    sigma: float
    threshold: float
    samples: int
    from_data: bool  # the threshold comes from sigma (not given by the user)


def fit_heights(
    diff: np.ndarray, *, p_value: float, min_threshold: float = 0.0, given: float | None = None
) -> HeightModel:
    """The :class:`HeightModel` of a sample of AFTER - BEFORE differences.

    Raises:
        ChangeInputError: no finite difference in the sample.
    """
    d = diff[np.isfinite(diff)]
    if d.size == 0:
        raise ChangeInputError("no valid height difference in the sample")
    offset = float(np.median(d))
    sigma = float(MAD_TO_SIGMA * np.median(np.abs(d - offset)))
    if given is not None:
        return HeightModel(offset, sigma, float(given), int(d.size), False)
    z = float(norm.isf(p_value / 2))
    return HeightModel(offset, sigma, max(z * sigma, min_threshold), int(d.size), True)
