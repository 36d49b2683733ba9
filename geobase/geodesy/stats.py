"""Tail probabilities and critical values of the chi-square and F distributions.

What the tests of a least-squares fit need (:mod:`geobase.geodesy.fit`): the global test
of the variance factor (chi-square) and the outlier tests of data snooping (chi-square
with a known a-priori sigma, F with an estimated one). Written out from the regularised
incomplete gamma and beta functions (series and continued fractions, as in Numerical
Recipes) so that geobase needs no SciPy for a handful of quantiles.

Example:
    >>> round(chi2_isf(0.05, 10), 3)
    18.307
    >>> round(f_isf(0.001, 2, 10), 2)
    14.91
"""

from __future__ import annotations

import math

from geobase.errors import InvalidOption

_EPS = 1e-15
_TINY = 1e-300


def _gamma_p(a: float, x: float) -> float:
    """Regularised lower incomplete gamma P(a, x)."""
    if x <= 0:
        return 0.0
    if x < a + 1:
        term = total = 1.0 / a
        ap = a
        for _ in range(10_000):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * _EPS:
                break
        return total * math.exp(-x + a * math.log(x) - math.lgamma(a))
    return 1.0 - _gamma_q_cf(a, x)


def _gamma_q_cf(a: float, x: float) -> float:
    """Regularised upper incomplete gamma Q(a, x) by continued fraction (x >= a + 1)."""
    b = x + 1 - a
    c = 1 / _TINY
    d = 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = _TINY if abs(d) < _TINY else d
        c = b + an / c
        c = _TINY if abs(c) < _TINY else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < _EPS:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def chi2_sf(x: float, dof: float) -> float:
    """P(X > x) for X chi-square with ``dof`` degrees of freedom."""
    if x <= 0:
        return 1.0
    a, half = dof / 2, x / 2
    if half < a + 1:
        return 1.0 - _gamma_p(a, half)
    return _gamma_q_cf(a, half)


def _beta_cf(a: float, b: float, x: float) -> float:
    qab, qap, qam = a + b, a + 1, a - 1
    c = 1.0
    d = 1 - qab * x / qap
    d = _TINY if abs(d) < _TINY else d
    d = 1 / d
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1 + aa * d
        d = _TINY if abs(d) < _TINY else d
        c = 1 + aa / c
        c = _TINY if abs(c) < _TINY else c
        d = 1 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1 + aa * d
        d = _TINY if abs(d) < _TINY else d
        c = 1 + aa / c
        c = _TINY if abs(c) < _TINY else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < _EPS:
            break
    return h


def _beta_i(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1) / (a + b + 2):
        return front * _beta_cf(a, b, x) / a
    return 1 - front * _beta_cf(b, a, 1 - x) / b


def f_sf(x: float, d1: float, d2: float) -> float:
    """P(X > x) for X F-distributed with (d1, d2) degrees of freedom."""
    if x <= 0:
        return 1.0
    return _beta_i(d2 / 2, d1 / 2, d2 / (d2 + d1 * x))


def _isf(sf, alpha: float) -> float:
    """The x with sf(x) = alpha, for a decreasing sf on (0, inf), by bisection."""
    if not 0 < alpha < 1:
        raise InvalidOption(f"significance level {alpha!r}: expected 0 < alpha < 1")
    lo, hi = 0.0, 1.0
    while sf(hi) > alpha:
        lo, hi = hi, hi * 2
        if hi > 1e12:
            return math.inf
    for _ in range(200):
        mid = (lo + hi) / 2
        if sf(mid) > alpha:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * hi:
            break
    return (lo + hi) / 2


def chi2_isf(alpha: float, dof: float) -> float:
    """The critical value c with P(chi-square(dof) > c) = alpha."""
    return _isf(lambda x: chi2_sf(x, dof), alpha)


def f_isf(alpha: float, d1: float, d2: float) -> float:
    """The critical value c with P(F(d1, d2) > c) = alpha."""
    return _isf(lambda x: f_sf(x, d1, d2), alpha)
