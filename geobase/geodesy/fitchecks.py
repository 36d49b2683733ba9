"""Checks on a fit: the common points' geometry and the plausibility of the parameters.

Refusals (:class:`~geobase.errors.FitError`, :class:`~geobase.errors.ImplausibleFit`)
and warnings with figures: coincident or collinear points, points close to a line,
clustered points, ill-conditioned normal equations (:func:`_geometry`), and parameters
impossible or suspicious between the CRSs given (a mirror, a scale of thousands of ppm
between two Gauss-Kruger grids; :func:`_plausibility`). Also the hull of the fit points
recorded in the parameter file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pyproj import CRS

from geobase.errors import FitError, ImplausibleFit
from geobase.geodesy.commonpoints import CommonPoints
from geobase.geodesy.parameters import ARCSEC, Affine, BursaWolf, Helmert2D, Poly2
from geobase.geodesy.zones import crs_label, gk_system_of

# singular values this small relative to the largest mean a degenerate point geometry
_DEGENERATE = 1e-7


#: Common points whose spread across their main axis is below these fractions of the
#: spread along it lie "close to a line": refused (except for 4p), or warned about.
LINE_REFUSE, LINE_WARN = 0.02, 0.2
#: Condition number of the (normalised) normal equations beyond which a fit is refused
#: (numerically undetermined) or warned about (poorly determined).
CONDITION_REFUSE, CONDITION_WARN = 1e10, 1e4
#: Half the points within this fraction of the largest distance from their centre (the
#: coordinate-wise median): clustered.
CLUSTER_WARN = 0.1


def _principal_spread(points: NDArray[np.float64]) -> NDArray[np.float64]:
    """RMS spread of points along their principal axes, largest first."""
    centred = points - points.mean(axis=0)
    return np.linalg.svd(centred, compute_uv=False) / math.sqrt(len(points))


def _check_degenerate(model: str, points: NDArray[np.float64], ids: Sequence[str]) -> None:
    """Refuse coincident points, and collinear ones for models other than 4p."""
    spread = _principal_spread(points)
    n = len(points)
    if spread[0] < 1e-6:
        raise FitError(
            f"all {n} common points coincide ({', '.join(ids[:5])}"
            f"{', ...' if n > 5 else ''}); they must be spread over the area"
        )
    if model != "4p" and spread[1] / spread[0] < _DEGENERATE:
        raise FitError(
            f"the {n} common points are collinear (within {spread[1]:.3g} m of a line); the "
            f"{model} model needs points spread in two directions over the area"
        )


def _geometry(
    model: str, points: NDArray[np.float64], condition: float, units: str
) -> tuple[float, list[str]]:
    """Ratio of the points' spread across / along their main axis, and warnings.

    Raises:
        FitError: points close to a line for a model other than 4p, or normal equations
            too ill-conditioned to trust.
    """
    n = len(points)
    spread = _principal_spread(points)
    ratio = float(spread[1] / spread[0])
    warnings_: list[str] = []
    figures = (
        f"spread {spread[1]:.4g} {units} across the line against {spread[0]:.4g} {units} along "
        f"it (RMS), ratio {ratio:.3g}"
    )
    if model != "4p":
        if ratio < LINE_REFUSE:
            raise FitError(
                f"the {n} common points lie close to a line ({figures} < {LINE_REFUSE:g}): "
                f"the {model} model would extrapolate across it, by metres a few kilometres "
                "off the line; add points off the line, or use the 4p model"
            )
        if ratio < LINE_WARN:
            warnings_.append(
                f"the common points lie close to a line ({figures} < {LINE_WARN:g}): the "
                f"{model} parameters are poorly determined across it; add points off the line"
            )
    if condition > CONDITION_REFUSE:
        raise FitError(
            f"the normal equations of the {model} fit are numerically singular (condition "
            f"number {condition:.3g} > {CONDITION_REFUSE:.0e}): spread the common points over "
            "the area, or use a simpler model"
        )
    if condition > CONDITION_WARN:
        warnings_.append(
            f"the normal equations are ill-conditioned (condition number {condition:.3g} > "
            f"{CONDITION_WARN:.0e}): the {model} parameters are poorly determined by these "
            "points; spread them over the area, or use a simpler model"
        )
    distance = np.sqrt(((points - np.median(points, axis=0)) ** 2).sum(axis=1))
    if n >= 5 and distance.max() > 0:
        median = float(np.median(distance))
        if median < CLUSTER_WARN * distance.max():
            warnings_.append(
                f"the common points are clustered: half of them lie within {median:.4g} "
                f"{units} of their centre, the farthest {distance.max():.4g} {units} away; the "
                "few outlying points alone control the fit far from the cluster"
            )
    return ratio, warnings_


def _hull(points: NDArray[np.float64]) -> list[tuple[float, float]] | None:
    """The convex hull of the fit points (source side), as a closed ring."""
    import shapely

    hull = shapely.MultiPoint(points[:, :2]).convex_hull
    if not isinstance(hull, shapely.Polygon):
        return None
    return [(float(x), float(y)) for x, y in shapely.get_coordinates(hull.exterior)]


#: Between two Chinese Gauss-Kruger grids on the same central meridian (ellipsoids within
#: 108 m of each other): scale in ppm, rotation in arc-seconds, shift in metres and point
#: RMS in metres beyond which a fit is suspicious (warned) or impossible (refused).
GK_SCALE_WARN, GK_SCALE_REFUSE = 200.0, 5000.0
GK_ROTATION_WARN, GK_ROTATION_REFUSE = 60.0, 3600.0
GK_SHIFT_WARN, GK_SHIFT_REFUSE = 2_000.0, 50_000.0
RMS_WARN, RMS_REFUSE = 1.0, 100.0
#: 7p between any two datums: scale in ppm.
BW_SCALE_WARN, BW_SCALE_REFUSE = 100.0, 10_000.0
#: Plane fits where a side is not a known grid: scale in ppm beyond which a warning says so.
LOCAL_SCALE_WARN = 100_000.0


def _linear_part(parameters: Any) -> NDArray[np.float64] | None:
    """The 2 x 2 linear part of a plane model (at the origin of poly2)."""
    p = parameters
    if isinstance(p, Helmert2D):
        k = 1 + p.scale_ppm * 1e-6
        t = p.rotation * ARCSEC * (1 if p.convention == "position_vector" else -1)
        return k * np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    if isinstance(p, Affine):
        return np.array([[p.s11, p.s12], [p.s21, p.s22]])
    if isinstance(p, Poly2):
        return np.array([[p.cx[1], p.cx[2]], [p.cy[1], p.cy[2]]]) / p.unit
    return None


def _plausibility(
    model: str,
    parameters: Any,
    points: CommonPoints,
    active: NDArray[np.bool_],
    src: CRS | None,
    dst: CRS | None,
    point_rms: float,
) -> list[str]:
    """Warnings for suspicious parameters; raises ImplausibleFit for impossible ones."""
    warnings_: list[str] = []
    between = f"between {crs_label(src)} and {crs_label(dst)}" if src and dst else ""
    if isinstance(parameters, BursaWolf):
        scale = abs(parameters.scale_ppm)
        if scale > BW_SCALE_REFUSE:
            raise ImplausibleFit(
                f"7p scale {parameters.scale_ppm:,.0f} ppm {between} is impossible for two "
                f"geodetic datums (a few ppm); likely cause: a wrong CRS, or heights or "
                "coordinates in the wrong columns"
            )
        if point_rms > RMS_REFUSE:
            raise ImplausibleFit(
                f"7p fit {between} leaves a point RMS of {point_rms:,.1f} m, impossible for a "
                "datum change; likely cause: a wrong CRS, or coordinates in the wrong columns"
            )
        if scale > BW_SCALE_WARN:
            warnings_.append(
                f"7p scale {parameters.scale_ppm:,.1f} ppm {between} is large for two geodetic "
                "datums (a few ppm): check the CRSs and the heights"
            )
    else:
        m = _linear_part(parameters)
        assert m is not None
        det = float(np.linalg.det(m))
        sv = np.linalg.svd(m, compute_uv=False)
        scale_ppm = float(max(abs(sv[0] - 1), abs(sv[1] - 1)) * 1e6)
        rotation = math.degrees(math.atan2(m[1, 0] - m[0, 1], m[0, 0] + m[1, 1])) * 3600
        gk_src = gk_system_of(src) if src is not None else None
        gk_dst = gk_system_of(dst) if dst is not None else None
        described = (
            f"{model} fit {between}: scale {scale_ppm * (1 if det > 0 else -1):,.0f} ppm, "
            f'rotation {rotation:,.1f}", point RMS {point_rms:,.3f} m'
        )
        if gk_src is not None and gk_dst is not None:
            if det <= 0:
                raise ImplausibleFit(
                    f"the {described} mirrors the plane (determinant {det:.3g}); likely cause: "
                    "swapped east/north (survey x/y read as GIS x/y) on one side"
                )
            if scale_ppm > GK_SCALE_REFUSE:
                raise ImplausibleFit(
                    f"the {described} is impossible: two Gauss-Kruger grids on near-identical "
                    f"ellipsoids differ by less than {GK_SCALE_WARN:g} ppm; likely cause: "
                    "swapped columns, a wrong CRS, or another unit"
                )
            same_cm = gk_src.central_meridian == gk_dst.central_meridian
            src_local = points.src[active] - np.array([gk_src.false_easting, 0.0])
            dst_local = points.dst[active] - np.array([gk_dst.false_easting, 0.0])
            shift = float(np.hypot(*(dst_local.mean(axis=0) - src_local.mean(axis=0))))
            if same_cm and (abs(rotation) > GK_ROTATION_REFUSE or shift > GK_SHIFT_REFUSE):
                raise ImplausibleFit(
                    f"the {described}, shift {shift:,.0f} m is impossible for two grids on "
                    f"central meridian {gk_src.central_meridian:g}E; likely cause: points of "
                    "another zone, or a wrong CRS"
                )
            if point_rms > RMS_REFUSE:
                raise ImplausibleFit(
                    f"the {described} leaves residuals no datum change between Chinese grids "
                    "has; likely cause: swapped columns, mixed zones or a wrong CRS"
                )
            if not same_cm:
                warnings_.append(
                    f"the sides are on different central meridians ({gk_src.central_meridian:g}E "
                    f"and {gk_dst.central_meridian:g}E): a plane fit across zones absorbs the "
                    "meridian convergence only approximately; transform one side to the other's "
                    "zone first (geobase crs transform)"
                )
            elif (
                scale_ppm > GK_SCALE_WARN
                or abs(rotation) > GK_ROTATION_WARN
                or shift > GK_SHIFT_WARN
            ):
                warnings_.append(
                    f"the {described}, shift {shift:,.0f} m is suspicious between two grids on "
                    f"central meridian {gk_src.central_meridian:g}E (expected within "
                    f'{GK_SCALE_WARN:g} ppm, {GK_ROTATION_WARN:g}", {GK_SHIFT_WARN:,.0f} m); '
                    "check the CRSs and the columns"
                )
        else:
            if det <= 0:
                warnings_.append(
                    f"the {described} mirrors the plane (determinant {det:.3g}): are east and "
                    "north swapped on one side?"
                )
            if scale_ppm > LOCAL_SCALE_WARN:
                warnings_.append(
                    f"the {described} is implausible for two metric grids: another unit, or "
                    "swapped columns?"
                )
    if point_rms > RMS_WARN:
        warnings_.append(
            f"point RMS {point_rms:,.3f} m after blunder rejection is large for common points: "
            "check the CRSs, the columns and the point ids on both sides"
        )
    return warnings_
