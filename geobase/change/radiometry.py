"""Radiometric normalisation and the per-pixel change score of two imagery epochs.

1. IR-MAD (Nielsen 2007, "The regularized iteratively reweighted MAD method for change
   detection in multi- and hyperspectral data", IEEE TIP 16(2)) on a sample of pixels
   valid in both epochs: canonical correlation of the two epochs' bands, MAD variates
   U - V, their chi-square, and each pixel reweighted by its probability of no change
   until the canonical correlations settle. What stays heavy are the pseudo-invariant
   pixels (Canty & Nielsen 2008, "Automatic radiometric normalization of multitemporal
   satellite imagery with the iteratively re-weighted MAD transformation").
2. On those weights, each AFTER band is fitted as a cubic polynomial of the same BEFORE
   band: a global gain and offset, a gamma change, a different sensor response.
3. The residuals' covariance (again reweighted by their own no-change probability) turns
   each pixel's residual vector into a Mahalanobis distance, chi-square distributed with
   as many degrees of freedom as bands where nothing changed. The change threshold is
   that distribution's quantile for the chosen p-value: a statistic, not a magic number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg  # type: ignore[import-untyped]
from scipy.special import chdtrc  # type: ignore[import-untyped]
from scipy.stats import chi2  # type: ignore[import-untyped]

from geobase.errors import ChangeInputError

DEGREE = 3  # the polynomial that maps a BEFORE band to the AFTER band


@dataclass(frozen=True)
class IRMAD:
    """The result of IR-MAD on a sample."""

    rho: np.ndarray  # canonical correlations, descending
    weights: np.ndarray  # no-change probability per sample pixel
    iterations: int


def _weighted_cov(z: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sw = w.sum()
    mean = (z * w[:, None]).sum(axis=0) / sw
    d = z - mean
    cov = (d * w[:, None]).T @ d / sw
    return mean, cov


def irmad(x: np.ndarray, y: np.ndarray, *, max_iter: int = 25, tol: float = 1e-3) -> IRMAD:
    """IR-MAD on samples ``x``, ``y`` (n pixels x p bands each).

    Raises:
        ChangeInputError: fewer pixels than needed, or bands without variance.
    """
    n, p = x.shape
    if n < 10 * (p + 1):
        raise ChangeInputError(f"IR-MAD needs more than {10 * (p + 1)} valid pixels, got {n}")
    z = np.hstack([x, y]).astype(np.float64)
    w = np.ones(n)
    rho_old = np.zeros(p)
    rho = rho_old
    it = 0
    while it < max_iter:
        it += 1
        mean, cov = _weighted_cov(z, w)
        sxx, syy, sxy = cov[:p, :p], cov[p:, p:], cov[:p, p:]
        reg = 1e-9 * np.trace(cov) / (2 * p)
        sxx = sxx + reg * np.eye(p)
        syy = syy + reg * np.eye(p)
        # generalised eigenproblem  Sxy Syy^-1 Syx a = rho^2 Sxx a
        m = sxy @ linalg.solve(syy, sxy.T, assume_a="pos")
        rho2, a = linalg.eigh(m, sxx)
        order = np.argsort(rho2)[::-1]
        rho2, a = rho2[order], a[:, order]
        rho = np.sqrt(np.clip(rho2, 0, 1 - 1e-12))
        b = linalg.solve(syy, sxy.T @ a, assume_a="pos")
        b /= np.sqrt(np.einsum("ij,ij->j", b, syy @ b))[None, :]
        a /= np.sqrt(np.einsum("ij,ij->j", a, sxx @ a))[None, :]
        sign = np.sign(np.einsum("ij,ij->j", a, sxy @ b))
        b *= np.where(sign == 0, 1, sign)[None, :]
        u = (x - mean[:p]) @ a
        v = (y - mean[p:]) @ b
        mad = u - v
        var = np.maximum(2 * (1 - rho), 1e-12)
        stat = (mad**2 / var[None, :]).sum(axis=1)
        w = chdtrc(p, stat)
        if np.max(np.abs(rho - rho_old)) < tol:
            break
        rho_old = rho
    return IRMAD(rho=rho, weights=w, iterations=it)


def _design(values: np.ndarray, lo: float, span: float) -> np.ndarray:
    t = (values - lo) / span
    return np.stack([t**k for k in range(DEGREE + 1)], axis=-1)


@dataclass(frozen=True)
class Normalisation:
    """BEFORE -> AFTER per band (cubic), and the residual covariance where nothing changed."""

    coef: np.ndarray  # bands x (DEGREE + 1)
    lo: np.ndarray  # per band: the polynomial's variable is (x - lo) / span
    span: np.ndarray
    inv_cov: np.ndarray  # bands x bands
    cov: np.ndarray
    rho: np.ndarray
    invariant_share: float  # share of the sample within the no-change 99 % (sf > 0.01)

    @property
    def bands(self) -> int:
        return len(self.lo)

    @property
    def white(self) -> np.ndarray:
        """Upper-triangular ``L^T`` with ``L L^T = inv_cov``: the statistic is
        ``|white @ r|^2``."""
        return np.ascontiguousarray(np.linalg.cholesky(self.inv_cov).T)

    def lookups(self, dtype: np.dtype) -> np.ndarray:
        """:meth:`lookup` of every band, bands x levels."""
        return np.stack([self.lookup(i, dtype) for i in range(self.bands)])

    def lookup(self, band: int, dtype: np.dtype) -> np.ndarray:
        """The band's mapping tabulated for every value of an 8 or 16-bit integer type."""
        t = (np.arange(np.iinfo(dtype).max + 1, dtype=np.float64) - self.lo[band]) / self.span[band]
        return np.polyval(self.coef[band][::-1], t).astype(np.float32)

    def residuals(self, before: np.ndarray, after: np.ndarray) -> np.ndarray:
        """AFTER minus BEFORE mapped into AFTER's radiometry (bands x ...), float32.

        BEFORE of 8 or 16-bit integers goes through a lookup table."""
        out = np.empty(after.shape, dtype=np.float32)
        if before.dtype in (np.uint8, np.uint16):
            for i in range(self.bands):
                np.subtract(after[i], self.lookup(i, before.dtype)[before[i]], out=out[i])
            return out
        for i in range(self.bands):
            t = (before[i] - np.float32(self.lo[i])) * np.float32(1 / self.span[i])
            c = self.coef[i].astype(np.float32)
            pred = c[DEGREE] * t
            for k in range(DEGREE - 1, 0, -1):
                pred += c[k]
                pred *= t
            pred += c[0]
            np.subtract(after[i], pred, out=out[i])
        return out

    def score(self, before: np.ndarray, after: np.ndarray) -> np.ndarray:
        """The chi-square change statistic per pixel (float32, shape of one band)."""
        return self.statistic(self.residuals(before, after))

    def statistic(self, r: np.ndarray) -> np.ndarray:
        """The chi-square statistic of residuals (:meth:`residuals`)."""
        inv = self.inv_cov.astype(np.float32)
        stat = np.zeros(r.shape[1:], dtype=np.float32)
        for i in range(self.bands):
            acc = r[0] * inv[i, 0]
            for j in range(1, self.bands):
                acc += r[j] * inv[i, j]
            acc *= r[i]
            stat += acc
        return stat


def fit_normalisation(x: np.ndarray, y: np.ndarray, *, rounds: int = 5) -> Normalisation:
    """Fit :class:`Normalisation` on samples ``x`` (BEFORE) and ``y`` (AFTER), n x bands.

    Raises:
        ChangeInputError: too few pixels, or a band without variance.
    """
    _n, p = x.shape
    if np.any(x.std(axis=0) == 0) or np.any(y.std(axis=0) == 0):
        raise ChangeInputError("a band has the same value everywhere in the sample")
    mad = irmad(x, y)
    w = mad.weights
    lo = np.percentile(x, 1, axis=0)
    span = np.maximum(np.percentile(x, 99, axis=0) - lo, 1e-6)
    coef = np.zeros((p, DEGREE + 1))
    cov = np.eye(p)
    for _ in range(rounds):
        for i in range(p):
            a = _design(x[:, i], lo[i], span[i]) * np.sqrt(w)[:, None]
            coef[i] = np.linalg.lstsq(a, y[:, i] * np.sqrt(w), rcond=None)[0]
        pred = np.stack([_design(x[:, i], lo[i], span[i]) @ coef[i] for i in range(p)], axis=1)
        r = y - pred
        # reweighting truncates the no-change tails; weights of sf > 0.01 keep 99 % of
        # them, and the covariance is inflated for the 1 % cut off (chi-square moment)
        keep = w > 0.01
        cov = np.cov(r[keep].T, aweights=None).reshape(p, p)
        cov *= p / chi2.expect(lambda s: s, args=(p,), ub=chi2.isf(0.01, p), conditional=True)
        stat = np.einsum("ij,jk,ik->i", r, np.linalg.inv(cov), r)
        w = chdtrc(p, stat)
    return Normalisation(
        coef=coef,
        lo=lo,
        span=span,
        inv_cov=np.linalg.inv(cov),
        cov=cov,
        rho=mad.rho,
        invariant_share=float(np.mean(w > 0.01)),
    )


def threshold(p_value: float, bands: int) -> float:
    """The chi-square statistic above which a pixel is changed at ``p_value``."""
    return float(chi2.isf(p_value, bands))
