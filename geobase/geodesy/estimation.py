"""Least squares with blunder detection that blunders cannot mask.

The estimation behind :func:`geobase.geodesy.fit.fit`, on plain arrays: design blocks
``a`` of shape (n points, d coordinates, u unknowns) and observations ``y`` of shape
(n, d), every coordinate of equal a-priori precision sigma.

1. **Robust seed.** Minimal subsets (every subset when there are at most
   :data:`MAX_SUBSETS`, else that many drawn with a fixed seed) are solved exactly and
   scored by their sum of truncated squared residuals (MSAC, cut at the 0.999 quantile of
   the scale: the a-priori sigma, else the least median of squares); the best
   :data:`LO_CANDIDATES` are refined by least squares on the points within the cut
   (LO-MSAC: a minimal solution is noisy, and one through a blunder may win by chance),
   and the refined solution of least truncated cost, which blunders cannot pull, is
   refined by IGG-III reweighting (weights 1 up to :data:`IGG_K0`, falling to 0 at
   :data:`IGG_K1` standardised residuals). The points it keeps (weight > 0) are where
   data snooping starts.
2. **Iterative data snooping** (Baarda). The points left out by the seed are let back in
   one at a time while the fit of the others predicts them within the critical value;
   then least squares on the points in; each point's standardised residual
   w_i = sqrt(v_i' Q_vv,i^-1 v_i) / sigma (for one coordinate: v / (sigma sqrt(q_vv))),
   with Q_vv,i = I - A_i N^-1 A_i' and redundancy number r_i = trace(Q_vv,i) (0..d: how
   much of a blunder shows in the residual); the point with the largest w beyond the
   critical value is removed and the fit repeated, one point at a time. The critical value
   holds the family-wise error rate ``alpha`` over the points tested (Bonferroni): w^2
   against chi-square(d) with an a-priori sigma. Without one, each point is judged by a
   sigma it does not enter (externally studentised): sigma0 of the fit without it, of
   f - d degrees of freedom, w^2 against d F(d, f - d); a blunder cannot inflate the sigma
   it is judged by, and starting from the robust set keeps it from inflating its
   neighbour's.
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
MAX_SUBSETS = 500
#: Best minimal solutions refined by least squares on their inliers (LO-MSAC), and the
#: refinement steps of each.
LO_CANDIDATES, LO_STEPS = 20, 3
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
    x = np.linalg.lstsq(design, obs, rcond=None)[0].astype(np.float64, copy=False)
    ninv = np.linalg.inv(design.T @ design)
    v = y - np.einsum("ndu,u->nd", a, x)
    h = np.einsum("ndu,uv,nev->nde", a, ninv, a)
    if weights is not None:
        h = h * np.where(sel, w, 1.0)[:, None, None]
    return LeastSquares(x, v, h, active.copy(), float((sv[0] / sv[-1]) ** 2))


@dataclass
class RobustSeed:
    """The robust estimate: weights of the points.

    Attributes:
        weights: IGG-III weight of each point (0 for points out of the fit).
        subsets: How many minimal subsets were tried.
    """

    weights: NDArray[np.float64]
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
    """LO-MSAC over minimal subsets (scale: sigma or LMedS), refined by IGG-III reweighting.

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
    transposed = design.transpose(0, 2, 1)
    normal = transposed @ design
    rhs = (transposed @ obs[..., None])[..., 0]
    ev = np.linalg.eigvalsh(normal)  # ascending; the normal matrices are symmetric
    ok = ev[:, 0] > ev[:, -1] * _SUBSET_RCOND
    if not ok.any():
        return None
    xs = np.linalg.solve(normal[ok], rhs[ok][..., None])[..., 0]
    flat = aa.reshape(n * d, u)

    def squares(x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Squared residual length of each point for each solution row of x: (k, n)."""
        pred = (flat @ np.atleast_2d(x).T).reshape(n, d, -1)
        return ((yy[..., None] - pred) ** 2).sum(axis=1).T

    r2 = squares(xs)
    median_chi2 = chi2_isf(0.5, d)
    # the scale: a-priori, else from the least median of squares; then the subset whose
    # solution has the most points within it (MSAC: truncated squares), so that a
    # solution through a blunder on a weakly controlled point does not win a tie
    if sigma is not None:
        scale0 = sigma
    else:
        # the least median of the squared residuals of the points outside each subset
        # (its own residuals are 0 and would pull the median down)
        middle = minimal + (n - minimal - 1) // 2
        small = float(np.partition(r2, middle, axis=1)[:, middle].min())
        scale0 = max(math.sqrt(small / median_chi2), SIGMA_FLOOR)
    cut = chi2_isf(ALPHA, d) * scale0**2
    cost = np.minimum(r2, cut).sum(axis=1)
    # local optimisation (LO-MSAC): the best minimal solutions are noisy, a blunder's among
    # them may win by chance; each of the best is refined by least squares on the points
    # within the cut, and the refined solution of least truncated cost wins
    best_x, best_cost = xs[int(np.argmin(cost))], float(cost.min())
    tried: set[bytes] = set()
    for j in np.argsort(cost)[:LO_CANDIDATES]:
        x = xs[j]
        for _ in range(LO_STEPS):
            inliers = squares(x)[0] < cut
            key = inliers.tobytes()
            if key in tried or int(inliers.sum()) * d < u:
                break
            tried.add(key)
            rows = np.repeat(inliers, d)
            x = np.linalg.lstsq(flat[rows], yy.reshape(-1)[rows], rcond=None)[0]
            refined = float(np.minimum(squares(x)[0], cut).sum())
            if refined < best_cost:
                best_x, best_cost = x, refined
    x = best_x
    # IGG-III reweighting; its scale: the a-priori sigma, else the median of the residuals
    # with the small-sample factor of least median of squares
    weights = np.ones(n)
    for _ in range(30):
        v2 = squares(x)[0]
        if sigma is not None:
            scale = sigma
        else:
            scale = math.sqrt(float(np.median(v2)) / median_chi2)
            scale = max(scale * (1 + 5 / max(n - minimal, 1)), SIGMA_FLOOR)
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
    out = np.zeros(len(active))
    out[idx] = weights
    return RobustSeed(out, k)


@dataclass
class Rejected:
    """One point removed, with the figures of its test.

    ``robust``: left out by the robust estimate and refused back in (``w`` is its
    standardised prediction residual against the fit of the others, ``redundancy`` NaN);
    else removed by data snooping (``w`` its standardised residual in the fit). ``scale``:
    the sigma it was judged by, with ``scale_dof`` degrees of freedom (None: a-priori).
    """

    index: int
    w: float
    critical: float
    residual: float
    redundancy: float
    robust: bool = False
    scale: float = math.nan
    scale_dof: int | None = None


@dataclass
class Snooping:
    """The result of :func:`snoop`.

    ``w`` and ``critical``: each point's standardised residual in the final fit (in it, or
    predicted for points out of it) and its critical value; ``sigma``: the a-priori sigma,
    or sigma0 of the final fit (``sigma_dof`` degrees of freedom; None for an a-priori one).
    ``critical_in``: the critical value of the points in the final fit.
    """

    final: LeastSquares
    rejected: list[Rejected] = field(default_factory=list)
    sigma: float | None = None
    sigma_dof: int | None = None
    critical_in: float | None = None
    untested: list[int] = field(default_factory=list)
    w: NDArray[np.float64] | None = None
    critical: NDArray[np.float64] | None = None


def critical_w(n_tested: int, d: int, alpha: float, sigma_dof: int | None) -> float:
    """Critical standardised residual: family-wise ``alpha`` over ``n_tested`` points."""
    level = alpha / max(n_tested, 1)
    if sigma_dof is None:
        return math.sqrt(chi2_isf(level, d))
    return math.sqrt(d * f_isf(level, d, sigma_dof))


@dataclass
class PointTests:
    """Each point's standardised residual ``w``, its critical value, and the sigma it is
    judged by with that sigma's degrees of freedom (-1 for an a-priori sigma); NaN where
    untestable."""

    w: NDArray[np.float64]
    critical: NDArray[np.float64]
    scale: NDArray[np.float64]
    dof: NDArray[np.int64]


def point_tests(ls: LeastSquares, sigma: float | None, alpha: float, n_tested: int) -> PointTests:
    """Each point's standardised residual and critical value (NaN where untestable).

    With an a-priori sigma: w_i = sqrt(v_i' Q_i^-1 v_i) / sigma against chi-square(d).
    Without, every point is judged by a sigma it does not enter (externally studentised,
    so that a blunder cannot inflate the sigma it is judged by): a point in the fit by
    sigma0 of the fit without it, s_i^2 = (v'v - v_i' Q_i^-1 v_i) / (f - d), against
    d F(d, f - d); a point out of it (prediction) by sigma0 of the fit, against d F(d, f).
    """
    d = ls.h.shape[1]
    stat = ls.statistic()
    n = len(stat)
    if sigma is not None:
        return PointTests(
            np.sqrt(stat) / sigma,
            np.full(n, critical_w(n_tested, d, alpha, None)),
            np.full(n, sigma),
            np.full(n, -1),
        )
    out = PointTests(np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, int))
    f, sse, inside = ls.dof, ls.sse, ls.active
    if f - d >= 1:
        out.scale[inside] = np.sqrt(np.maximum((sse - stat[inside]) / (f - d), SIGMA_FLOOR**2))
        out.critical[inside] = critical_w(n_tested, d, alpha, f - d)
        out.dof[inside] = f - d
    if f >= 1:
        out.scale[~inside] = max(math.sqrt(sse / f), SIGMA_FLOOR)
        out.critical[~inside] = critical_w(n_tested, d, alpha, f)
        out.dof[~inside] = f
    out.w = np.sqrt(stat) / out.scale
    return out


def snoop(
    a: NDArray[np.float64],
    y: NDArray[np.float64],
    active: NDArray[np.bool_],
    *,
    sigma: float | None,
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
        sigma: A-priori sigma of one coordinate; None: each point judged by the sigma0 of
            the fit without it (see :func:`point_tests`).
        min_points: Fewest points the model needs; testing stops while one redundant
            point beyond them is left.
        start: The points a robust estimate keeps (see above); None: plain data snooping
            from all points.
        alpha: Family-wise significance level per step.
        reject: Remove points (False: only test and report).
        what: The model's name for messages.
    """
    active = active.copy()
    n_points = int(active.sum())
    rejected: list[Rejected] = []
    if start is not None and reject:
        current = active & start
        if int(current.sum()) < min_points + 1:
            current = active.copy()
        while True:
            ls = least_squares(a, y, current, what=what)
            suspects = np.flatnonzero(active & ~current)
            if not len(suspects):
                break
            t = point_tests(ls, sigma, alpha, n_points)
            ws = np.where(np.isfinite(t.w[suspects]), t.w[suspects], 0.0)
            best = int(np.argmin(ws))
            if not ws[best] > t.critical[suspects[best]]:  # NaN critical: untestable, let in
                current[suspects[best]] = True
                continue
            rejected = [
                Rejected(
                    index=int(i),
                    w=float(t.w[i]),
                    critical=float(t.critical[i]),
                    residual=float(np.sqrt((ls.v[i] ** 2).sum())),
                    redundancy=float("nan"),
                    robust=True,
                    scale=float(t.scale[i]),
                    scale_dof=None if t.dof[i] < 0 else int(t.dof[i]),
                )
                for i in suspects[np.argsort(-ws)]
            ]
            break
        active = current
        final = ls
    else:
        final = least_squares(a, y, active, what=what)
    result = Snooping(final, rejected)
    while True:
        ls = result.final
        n_active = int(active.sum())
        tested = active & np.isfinite(ls.statistic())
        t = point_tests(ls, sigma, alpha, int(tested.sum()))
        result.w, result.critical = t.w, t.critical
        critical = t.critical
        w_in = np.where(tested & np.isfinite(t.w), t.w, -1.0)
        if n_active < min_points + 2 or not (w_in >= 0).any():
            break
        worst = int(np.argmax(w_in))
        result.critical_in = float(critical[worst])
        if w_in[worst] <= critical[worst]:
            break
        if not reject or n_active - 1 < min_points + 1:
            result.untested = [int(i) for i in np.flatnonzero(w_in > critical)]
            break
        result.rejected.append(
            Rejected(
                index=worst,
                w=float(w_in[worst]),
                critical=float(critical[worst]),
                residual=float(np.sqrt((ls.v[worst] ** 2).sum())),
                redundancy=float(ls.redundancy()[worst]),
                scale=float(t.scale[worst]),
                scale_dof=None if t.dof[worst] < 0 else int(t.dof[worst]),
            )
        )
        active[worst] = False
        result.final = least_squares(a, y, active, what=what)
    final = result.final
    if sigma is not None:
        result.sigma = sigma
    elif final.dof > 0:
        result.sigma = max(math.sqrt(final.sse / final.dof), SIGMA_FLOOR)
        result.sigma_dof = final.dof
    return result


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
