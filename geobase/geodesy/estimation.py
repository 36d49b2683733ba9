"""Least squares with blunder detection that blunders cannot mask.

The estimation behind :func:`geobase.geodesy.fit.fit`, on plain arrays: design blocks
``a`` of shape (n points, d coordinates, u unknowns) and observations ``y`` of shape
(n, d), every coordinate of equal a-priori precision sigma.

1. **Robust seed.** Minimal subsets (every subset when there are at most
   :data:`MAX_SUBSETS`, else that many drawn with a fixed seed) are solved exactly; the
   one whose solution leaves the smallest sum of truncated squared residuals (MSAC, cut
   at the 0.999 quantile of the scale: the a-priori sigma, else the least median of
   squares) gives a solution that blunders cannot pull; IGG-III reweighting (weights 1 up to
   :data:`IGG_K0`, falling to 0 at :data:`IGG_K1` standardised residuals) refines it.
   The points it keeps (weight > 0) give the *robust sigma*: sigma0 of their least-squares
   fit, with its degrees of freedom. Without an a-priori sigma, this is the reference the
   blunder tests use: unlike the sigma0 of all points, a blunder does not inflate it, so
   it cannot hide itself or its neighbour.
2. **Iterative data snooping** (Baarda). Least squares on the points still in; each
   point's standardised residual w_i = sqrt(v_i' Q_vv,i^-1 v_i) / sigma (for one
   coordinate: v / (sigma sqrt(q_vv))), with Q_vv,i = I - A_i N^-1 A_i' and redundancy
   number r_i = trace(Q_vv,i) (0..d: how much of a blunder shows in the residual); the
   point with the largest w beyond the critical value is removed and the fit repeated,
   one point at a time. The critical value holds the family-wise error rate ``alpha``
   over the points tested (Bonferroni): w^2 against chi-square(d) with a known sigma,
   against d F(d, f) with the robust sigma of f degrees of freedom.
3. **Global test** of the final fit with a known sigma: sum v'v / sigma^2 against
   chi-square(redundancy), two-sided at :data:`GLOBAL_ALPHA`.

Points out of the fit (rejected, check points) get the standardised *prediction*
residual, with Q = I + A_i N^-1 A_i'.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from geobase.errors import FitError
from geobase.geodesy.stats import chi2_isf, chi2_sf, f_isf

#: Family-wise significance level of the blunder tests.
ALPHA = 0.001
#: Significance level of the global test (two-sided).
GLOBAL_ALPHA = 0.05
#: IGG-III limits, in standardised residuals per coordinate: full weight up to K0,
#: falling to zero at K1.
IGG_K0, IGG_K1 = 1.5, 3.0
#: Smallest sigma estimated from the data, metres: residuals below are rounding.
SIGMA_FLOOR = 1e-4
#: Most minimal subsets the robust seed tries.
MAX_SUBSETS = 2000
#: Reciprocal condition below which a minimal subset is degenerate (not tried).
_SUBSET_RCOND = 1e-10


@dataclass
class LeastSquares:
    """A least-squares fit to the points in ``active``, evaluated at every point.

    Attributes:
        x: The unknowns.
        v: (n, d) residuals of every point, observed - predicted.
        h: (n, d, d) blocks A_i N^-1 A_i' of every point.
        active: The points in the fit.
        condition: Condition number of the normal equations N.
    """

    x: NDArray[np.float64]
    v: NDArray[np.float64]
    h: NDArray[np.float64]
    active: NDArray[np.bool_]
    condition: float

    @property
    def dof(self) -> int:
        """Redundancy: observations minus unknowns."""
        d = self.h.shape[1]
        return int(self.active.sum()) * d - len(self.x)

    @property
    def sse(self) -> float:
        """Sum of squared residuals of the points in the fit."""
        return float((self.v[self.active] ** 2).sum())

    def redundancy(self) -> NDArray[np.float64]:
        """Redundancy number of each point in the fit, trace(I - H_ii) (NaN out of it)."""
        d = self.h.shape[1]
        r = d - np.trace(self.h, axis1=1, axis2=2)
        return np.where(self.active, r, np.nan)

    def statistic(self) -> NDArray[np.float64]:
        """v_i' Q_i^-1 v_i of each point (NaN where untestable: no redundancy).

        In the fit Q_i = I - H_ii; out of it (prediction) Q_i = I + H_ii.
        """
        d = self.h.shape[1]
        eye = np.eye(d)[None]
        q = np.where(self.active[:, None, None], eye - self.h, eye + self.h)
        out = np.full(len(q), np.nan)
        ok = np.linalg.det(q) > 1e-10
        if ok.any():
            solved = np.linalg.solve(q[ok], self.v[ok][..., None])[..., 0]
            out[ok] = np.maximum(np.einsum("nd,nd->n", self.v[ok], solved), 0.0)
        return out


def least_squares(
    a: NDArray[np.float64],
    y: NDArray[np.float64],
    active: NDArray[np.bool_],
    *,
    weights: NDArray[np.float64] | None = None,
    what: str = "model",
) -> LeastSquares:
    """Weighted least squares on the active points (per-point weights, default 1).

    Raises:
        FitError: the active points do not determine the unknowns.
    """
    u = a.shape[2]
    w = np.where(active, 1.0 if weights is None else weights, 0.0)
    sel = w > 0
    root = np.sqrt(w[sel])
    design = (a[sel] * root[:, None, None]).reshape(-1, u)
    obs = (y[sel] * root[:, None]).reshape(-1)
    sv = np.linalg.svd(design, compute_uv=False)
    rank = int((sv > sv[0] * 1e-12).sum()) if sv.size and sv[0] > 0 else 0
    if rank < u:
        raise FitError(f"the common points do not determine the {what} (rank {rank} of {u})")
    x = np.linalg.lstsq(design, obs, rcond=None)[0]
    ninv = np.linalg.inv(design.T @ design)
    v = y - np.einsum("ndu,u->nd", a, x)
    h = np.einsum("ndu,uv,nev->nde", a, ninv, a)
    if weights is not None:
        h = h * np.where(sel, w, 1.0)[:, None, None]
    return LeastSquares(x, v, h, active.copy(), float((sv[0] / sv[-1]) ** 2))


@dataclass
class RobustSeed:
    """The robust estimate: weights of the points and the sigma of those kept.

    Attributes:
        weights: IGG-III weight of each point (0 for points out of the fit).
        sigma: sigma0 of the least-squares fit to the points kept (weight > 0), floored
            at :data:`SIGMA_FLOOR`.
        dof: Its degrees of freedom.
        subsets: How many minimal subsets were tried.
    """

    weights: NDArray[np.float64]
    sigma: float
    dof: int
    subsets: int


def _igg3(u: NDArray[np.float64]) -> NDArray[np.float64]:
    w = np.ones_like(u)
    mid = (u > IGG_K0) & (u <= IGG_K1)
    w[mid] = IGG_K0 / u[mid] * ((IGG_K1 - u[mid]) / (IGG_K1 - IGG_K0)) ** 2
    w[u > IGG_K1] = 0.0
    return w


def robust_seed(
    a: NDArray[np.float64],
    y: NDArray[np.float64],
    active: NDArray[np.bool_],
    minimal: int,
    *,
    sigma: float | None = None,
) -> RobustSeed | None:
    """MSAC over minimal subsets (scale: sigma or LMedS), refined by IGG-III reweighting.

    Args:
        a: Design blocks (n, d, u).
        y: Observations (n, d).
        active: The points to use.
        minimal: Points in a minimal subset.
        sigma: A-priori sigma of one coordinate, the scale of the IGG-III residuals;
            None: the robust scale of the residuals (from their median).

    Returns:
        The seed, or None where the points leave no redundancy beyond a minimal subset.
    """
    idx = np.flatnonzero(active)
    n = len(idx)
    _, d, u = a.shape
    if n <= minimal or n * d - u <= 0:
        return None
    aa, yy = a[idx], y[idx]
    total = math.comb(n, minimal)
    if total <= MAX_SUBSETS:
        subsets = np.array(list(itertools.combinations(range(n), minimal)))
    else:
        rng = np.random.default_rng(20240601)
        subsets = np.sort(rng.random((MAX_SUBSETS, n)).argsort(axis=1)[:, :minimal], axis=1)
        subsets = np.unique(subsets, axis=0)
    k = len(subsets)
    design = aa[subsets].reshape(k, minimal * d, u)
    obs = yy[subsets].reshape(k, minimal * d)
    normal = np.einsum("kru,krv->kuv", design, design)
    rhs = np.einsum("kru,kr->ku", design, obs)
    sv = np.linalg.svd(normal, compute_uv=False)
    ok = sv[:, -1] > sv[:, 0] * _SUBSET_RCOND
    if not ok.any():
        return None
    xs = np.linalg.solve(normal[ok], rhs[ok][..., None])[..., 0]
    r2 = ((yy[None] - np.einsum("ndu,ku->knd", aa, xs)) ** 2).sum(axis=2)
    median_chi2 = chi2_isf(0.5, d)
    # the scale: a-priori, else from the least median of squares; then the subset whose
    # solution has the most points within it (MSAC: truncated squares), so that a
    # solution through a blunder on a weakly controlled point does not win a tie
    if sigma is not None:
        scale0 = sigma
    else:
        small = float(np.median(r2, axis=1).min())
        scale0 = math.sqrt(small / median_chi2) * (1 + 5 / max(n - minimal, 1))
        scale0 = max(scale0, SIGMA_FLOOR)
    cut = chi2_isf(ALPHA, d) * scale0**2
    x = xs[int(np.argmin(np.minimum(r2, cut).sum(axis=1)))]
    weights = np.ones(n)
    for _ in range(30):
        v2 = ((yy - np.einsum("ndu,u->nd", aa, x)) ** 2).sum(axis=1)
        if sigma is not None:
            scale = sigma
        else:
            scale = math.sqrt(float(np.median(v2)) / median_chi2) * (1 + 5 / max(n - minimal, 1))
            scale = max(scale, SIGMA_FLOOR)
        new = _igg3(np.sqrt(v2 / d) / scale)
        if int((new > 0).sum()) * d - u <= 0:
            break
        try:
            x_new = least_squares(aa, yy, new > 0, weights=new).x
        except FitError:
            break
        converged = np.array_equal(new > 0, weights > 0) and np.allclose(new, weights, atol=1e-6)
        weights, x = new, x_new
        if converged:
            break
    kept = np.zeros(len(active), dtype=bool)
    kept[idx[weights > 0]] = True
    clean = least_squares(a, y, kept)
    dof = clean.dof
    sigma = math.sqrt(clean.sse / dof) if dof > 0 else scale
    out = np.zeros(len(active))
    out[idx] = weights
    return RobustSeed(out, max(sigma, SIGMA_FLOOR), dof, k)


@dataclass
class Rejected:
    """One point removed, with the figures of its test.

    ``robust``: left out by the robust estimate and refused back in (``w`` is its
    standardised prediction residual against the fit of the others, ``redundancy`` NaN);
    else removed by data snooping (``w`` its standardised residual in the fit).
    """

    index: int
    w: float
    critical: float
    residual: float
    redundancy: float
    robust: bool = False


@dataclass
class Snooping:
    """The result of :func:`snoop`."""

    final: LeastSquares
    rejected: list[Rejected] = field(default_factory=list)
    sigma: float | None = None
    sigma_dof: int | None = None
    critical: float | None = None
    untested: list[int] = field(default_factory=list)


def critical_w(n_tested: int, d: int, alpha: float, sigma_dof: int | None) -> float:
    """Critical standardised residual: family-wise ``alpha`` over ``n_tested`` points."""
    level = alpha / max(n_tested, 1)
    if sigma_dof is None:
        return math.sqrt(chi2_isf(level, d))
    return math.sqrt(d * f_isf(level, d, sigma_dof))


def snoop(
    a: NDArray[np.float64],
    y: NDArray[np.float64],
    active: NDArray[np.bool_],
    *,
    sigma: float | None,
    sigma_dof: int | None,
    min_points: int,
    alpha: float = ALPHA,
    reject: bool = True,
    what: str = "model",
    start: NDArray[np.bool_] | None = None,
) -> Snooping:
    """Iterative data snooping: remove the worst point beyond the critical value, re-fit.

    With ``start`` (the points a robust estimate keeps), the points it leaves out are
    first let back in one at a time, the one the fit of the others predicts best first,
    while their standardised prediction residual stays within the critical value; those
    still out are rejected (``robust``), and data snooping goes on from there. Starting
    from the robust set is what keeps blunders from masking each other: a blunder never
    pulls the fit its neighbour is judged by.

    Args:
        a: Design blocks (n, d, u).
        y: Observations (n, d).
        active: The points to fit.
        sigma: Reference sigma of one coordinate (a-priori, or the robust estimate);
            None: no test (too few points).
        sigma_dof: Degrees of freedom of an estimated sigma; None for an a-priori one.
        min_points: Fewest points the model needs; testing stops while one redundant
            point beyond them is left.
        start: The points a robust estimate keeps (see above); None: plain data snooping
            from all points.
        alpha: Family-wise significance level per step.
        reject: Remove points (False: only test and report).
        what: The model's name for messages.
    """
    active = active.copy()
    d = a.shape[1]
    n_points = int(active.sum())
    if start is not None and reject and sigma is not None:
        current = active & start
        if int(current.sum()) < min_points + 1:
            current = active.copy()
        rejected: list[Rejected] = []
        while True:
            ls = least_squares(a, y, current, what=what)
            suspects = np.flatnonzero(active & ~current)
            if not len(suspects):
                break
            critical = critical_w(n_points, d, alpha, sigma_dof)
            w = np.sqrt(ls.statistic()[suspects]) / sigma
            best = int(np.argmin(w))
            if w[best] <= critical:
                current[suspects[best]] = True
                continue
            rejected = [
                Rejected(
                    index=int(suspects[k]),
                    w=float(w[k]),
                    critical=critical,
                    residual=float(np.sqrt((ls.v[suspects[k]] ** 2).sum())),
                    redundancy=float("nan"),
                    robust=True,
                )
                for k in np.argsort(-w)
            ]
            break
        active = current
        result = Snooping(ls, rejected, sigma, sigma_dof)
    else:
        result = Snooping(least_squares(a, y, active, what=what), sigma=sigma, sigma_dof=sigma_dof)
    while True:
        ls = result.final
        n_active = int(active.sum())
        if sigma is None or n_active < min_points + 2:
            return result
        stat = ls.statistic()
        tested = active & np.isfinite(stat)
        critical = critical_w(int(tested.sum()), d, alpha, sigma_dof)
        result.critical = critical
        w = np.sqrt(np.where(tested, stat, 0.0)) / sigma
        worst = int(np.argmax(w))
        if w[worst] <= critical:
            return result
        if not reject or n_active - 1 < min_points + 1:
            result.untested = [int(i) for i in np.flatnonzero(w > critical)]
            return result
        result.rejected.append(
            Rejected(
                index=worst,
                w=float(w[worst]),
                critical=critical,
                residual=float(np.sqrt((ls.v[worst] ** 2).sum())),
                redundancy=float(ls.redundancy()[worst]),
            )
        )
        active[worst] = False
        result.final = least_squares(a, y, active, what=what)


@dataclass
class GlobalTest:
    """sum v'v / sigma^2 against chi-square(dof), two-sided."""

    statistic: float
    dof: int
    lower: float
    upper: float
    p_upper: float

    @property
    def passed(self) -> bool:
        return self.lower <= self.statistic <= self.upper


def global_test(sse: float, dof: int, sigma: float, alpha: float = GLOBAL_ALPHA) -> GlobalTest:
    """The chi-square test of the variance factor against an a-priori sigma."""
    statistic = sse / sigma**2
    return GlobalTest(
        statistic=statistic,
        dof=dof,
        lower=chi2_isf(1 - alpha / 2, dof),
        upper=chi2_isf(alpha / 2, dof),
        p_upper=chi2_sf(statistic, dof),
    )
