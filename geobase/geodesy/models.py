"""The models' algebra: design matrices in normalised coordinates, and solutions as records.

:class:`_Normalised` centres and scales the common points so the normal equations stay
well conditioned; :func:`_design` builds each model's design blocks (the 7-parameter
model linear in (T, k, k*r)); :func:`_parameters` turns a least-squares solution back
into a parameter record in the file's units and rotation convention. The geocentric
(``+proj=cart``) and east/north/up conversions of the 7p model live here too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pyproj import CRS

from geobase.errors import FitError
from geobase.geodesy.application import _cart_steps, _pipeline_transformer
from geobase.geodesy.parameters import ARCSEC, Affine, BursaWolf, Helmert2D, Poly2
from geobase.geodesy.zones import crs_label


@dataclass
class _Normalised:
    """Centred and scaled coordinates for a well-conditioned design matrix."""

    src: NDArray[np.float64]  # (n, d) working source coordinates (plane or geocentric)
    dst: NDArray[np.float64]
    src_center: NDArray[np.float64] = field(init=False)
    dst_center: NDArray[np.float64] = field(init=False)
    unit: float = field(init=False)

    def __post_init__(self) -> None:
        self.src_center = self.src.mean(axis=0)
        self.dst_center = self.dst.mean(axis=0)
        spread = self.src - self.src_center
        self.unit = float(np.sqrt((spread**2).sum(axis=1).mean())) or 1.0

    def u(self, src: NDArray) -> NDArray:
        return (src - self.src_center) / self.unit


def _design(model: str, u: NDArray[np.float64]) -> NDArray[np.float64]:
    """Design matrix blocks, shape (n, d, unknowns), for normalised source coordinates."""
    n = len(u)
    if model == "4p":
        a = np.zeros((n, 2, 4))
        a[:, 0, 0] = 1
        a[:, 1, 1] = 1
        a[:, 0, 2], a[:, 0, 3] = u[:, 0], -u[:, 1]
        a[:, 1, 2], a[:, 1, 3] = u[:, 1], u[:, 0]
        return a
    if model == "affine":
        a = np.zeros((n, 2, 6))
        a[:, 0, 0] = a[:, 1, 3] = 1
        a[:, 0, 1], a[:, 0, 2] = u[:, 0], u[:, 1]
        a[:, 1, 4], a[:, 1, 5] = u[:, 0], u[:, 1]
        return a
    if model == "poly2":
        x, y = u[:, 0], u[:, 1]
        terms = np.column_stack([np.ones(n), x, y, x * x, x * y, y * y])
        a = np.zeros((n, 2, 12))
        a[:, 0, :6] = terms
        a[:, 1, 6:] = terms
        return a
    # 7p, position-vector form: X' = T + k X + w x X, unknowns (T, k, w)
    x, y, z = u[:, 0], u[:, 1], u[:, 2]
    a = np.zeros((n, 3, 7))
    a[:, 0, 0] = a[:, 1, 1] = a[:, 2, 2] = 1
    a[:, 0, 3], a[:, 1, 3], a[:, 2, 3] = x, y, z
    a[:, 0, 5], a[:, 0, 6] = z, -y
    a[:, 1, 4], a[:, 1, 6] = -z, x
    a[:, 2, 4], a[:, 2, 5] = y, -x
    return a


def _parameters(model: str, x: NDArray, norm: _Normalised, convention: str) -> Any:
    c, cd, unit = norm.src_center, norm.dst_center, norm.unit
    if model == "4p":
        a, b = x[2] / unit, x[3] / unit
        tx = x[0] + cd[0] - a * c[0] + b * c[1]
        ty = x[1] + cd[1] - b * c[0] - a * c[1]
        k = math.hypot(a, b)
        angle = math.atan2(b, a) / ARCSEC  # position-vector sense
        return Helmert2D(
            convention=convention,  # type: ignore[arg-type]
            tx=float(tx),
            ty=float(ty),
            rotation=float(angle if convention == "position_vector" else -angle),
            scale_ppm=float((k - 1.0) * 1e6),
        )
    if model == "affine":
        s11, s12, s21, s22 = x[1] / unit, x[2] / unit, x[4] / unit, x[5] / unit
        return Affine(
            xoff=float(x[0] + cd[0] - s11 * c[0] - s12 * c[1]),
            yoff=float(x[3] + cd[1] - s21 * c[0] - s22 * c[1]),
            s11=float(s11),
            s12=float(s12),
            s21=float(s21),
            s22=float(s22),
        )
    if model == "poly2":
        cx = x[:6].copy()
        cy = x[6:].copy()
        cx[0] += cd[0]
        cy[0] += cd[1]
        return Poly2(
            origin=(float(c[0]), float(c[1])),
            unit=unit,
            cx=tuple(float(v) for v in cx),  # type: ignore[arg-type]
            cy=tuple(float(v) for v in cy),  # type: ignore[arg-type]
        )
    k = x[3] / unit
    w = x[4:7] / unit
    t = x[:3] + cd - k * c - np.cross(w, c)
    r = w / k / ARCSEC  # position-vector rotations, arc-seconds
    if convention == "coordinate_frame":
        r = -r
    return BursaWolf(
        convention=convention,  # type: ignore[arg-type]
        tx=float(t[0]),
        ty=float(t[1]),
        tz=float(t[2]),
        rx=float(r[0]),
        ry=float(r[1]),
        rz=float(r[2]),
        scale_ppm=float((k - 1.0) * 1e6),
    )


def _to_geocentric(coords: NDArray, h: NDArray | None, crs: CRS) -> NDArray:
    transformer = _pipeline_transformer("+proj=pipeline " + _cart_steps(crs, False))
    x, y, z = transformer.transform(coords[:, 0], coords[:, 1], h)
    out = np.column_stack([x, y, z])
    if not np.isfinite(out).all():
        raise FitError(f"common points cannot be converted from {crs_label(crs)} to geocentric")
    return out


def _to_enu(delta: NDArray, xyz: NDArray, crs: CRS) -> NDArray:
    """Rotate geocentric residual vectors to local east/north/up at the target points."""
    ellipsoid = crs.ellipsoid
    if ellipsoid is None:
        raise FitError(f"{crs_label(crs)} has no ellipsoid to turn residuals east/north/up")
    transformer = _pipeline_transformer(
        f"+proj=pipeline +step +inv +proj=cart +a={ellipsoid.semi_major_metre!r} "
        f"+b={ellipsoid.semi_minor_metre!r} +step +proj=unitconvert +xy_in=rad +xy_out=deg"
    )
    lon, lat, _ = transformer.transform(xyz[:, 0], xyz[:, 1], xyz[:, 2])
    lam, phi = np.radians(lon), np.radians(lat)
    sl, cl, sp, cp = np.sin(lam), np.cos(lam), np.sin(phi), np.cos(phi)
    dx, dy, dz = delta[:, 0], delta[:, 1], delta[:, 2]
    east = -sl * dx + cl * dy
    north = -sp * cl * dx - sp * sl * dy + cp * dz
    up = cp * cl * dx + cp * sl * dy + sp * dz
    return np.column_stack([east, north, up])
