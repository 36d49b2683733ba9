"""Transformation parameters fitted from common points (重合点), and their application.

Models (DOMAIN.md section 3):

``4p``
    Plane similarity (dx, dy, rotation, scale) on projected coordinates. Applied with PROJ
    ``+proj=helmert`` (2D form: x' = x0 + s (x cos t + y sin t), y' = y0 + s (-x sin t +
    y cos t), which is the coordinate-frame sense of t).
``7p``
    Bursa-Wolf on geocentric coordinates (3 shifts, 3 small rotations, scale), with the
    rotation convention explicit: ``position_vector`` (EPSG 9606) or ``coordinate_frame``
    (EPSG 9607, the usual form in Chinese practice and geobase's default; the same
    numbers with the other convention are a known 0.5 m blunder). Each side is taken from
    its CRS to geocentric with PROJ (``+proj=cart``), so the sides may be geographic or
    projected, on any ellipsoid. Needs ellipsoidal heights on both sides.
``affine``
    Six-parameter affine on projected coordinates, applied with PROJ ``+proj=affine``.
``poly2``
    Second-order polynomial per axis (12 parameters) in normalised coordinates, for
    distorted local grids. Applied with PROJ ``+proj=horner`` (degree 2, the
    normalisation folded into the coefficients; see :func:`poly2_horner`).

Estimation is linear least squares in normalised coordinates (the 7-parameter model is
linear in (T, k, k*r)), with blunders found by iterative data snooping seeded by a robust
estimate (:mod:`geobase.geodesy.estimation`): each point's standardised residual
w = sqrt(v' Q_vv^-1 v) / sigma and redundancy number are reported, the worst point beyond
the critical value is rejected and the fit repeated, one at a time, with the reason and
figures recorded. sigma is the a-priori precision of one coordinate where given
(``sigma``, ``--sigma``; the fit then also gets a global chi-square test), else, for
each point, the sigma0 of the fit without it (externally studentised), which its own
blunder does not inflate; starting from the robust estimate's points keeps a neighbouring
blunder from inflating it (the sigma0 of all points: two neighbours hide each other).
Testing stops while at least one redundant point is left (two more points than the
model's minimum). The geometry (points close to a line, clustered, the condition of the
normal equations) and the plausibility of the parameters for the CRSs given are checked.

Residuals are reported as (east, north[, up]) in metres, observed minus predicted.
``rms`` is per coordinate, sqrt(sum v^2 / (d n)); ``point_rms`` = sqrt(d) rms is the RMS
of the point residual lengths; ``sigma0`` = sqrt(sum v^2 / redundancy).

This module owns the fit itself (:func:`fit`, :class:`FitResult`) and re-exports what
used to live here: the parameter records and file (:mod:`geobase.geodesy.parameters`),
the PROJ pipelines and :func:`apply` (:mod:`geobase.geodesy.application`), the common
points (:mod:`geobase.geodesy.commonpoints`), the models' design matrices and solutions
(:mod:`geobase.geodesy.models`) and the geometry and plausibility checks
(:mod:`geobase.geodesy.fitchecks`).

Example:
    >>> points = CommonPoints.read("common.csv")  # doctest: +SKIP
    >>> result = fit(points, "4p", check_ids=["K7"])  # doctest: +SKIP
    >>> write_parameters(result.parameters, "params.json")  # doctest: +SKIP
    >>> apply(result.parameters, east, north)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from pyproj import CRS

from geobase.errors import FitError
from geobase.geodesy.application import (
    HORNER_RANGE,
    HULL_TOLERANCE,
    HullCheck,
    apply,
    check_apply_input,
    check_apply_output,
    hull_note,
    outside_hull,
    pipeline_steps,
    poly2_horner,
    poly2_values,
    proj_pipeline,
)
from geobase.geodesy.commonpoints import CommonPoints
from geobase.geodesy.estimation import (
    ALPHA,
    GLOBAL_ALPHA,
    Rejected,
    global_test,
    robust_seed,
    snoop,
)
from geobase.geodesy.fitchecks import (
    BW_SCALE_REFUSE,
    BW_SCALE_WARN,
    CLUSTER_WARN,
    CONDITION_REFUSE,
    CONDITION_WARN,
    GK_ROTATION_REFUSE,
    GK_ROTATION_WARN,
    GK_SCALE_REFUSE,
    GK_SCALE_WARN,
    GK_SHIFT_REFUSE,
    GK_SHIFT_WARN,
    LINE_REFUSE,
    LINE_WARN,
    LOCAL_SCALE_WARN,
    RMS_REFUSE,
    RMS_WARN,
    _check_degenerate,
    _geometry,
    _hull,
    _plausibility,
)
from geobase.geodesy.models import _design, _Normalised, _parameters, _to_enu, _to_geocentric
from geobase.geodesy.parameters import (
    _DIMS,
    _UNKNOWNS,
    ARCSEC,
    CONVENTIONS,
    FORMAT,
    FORMAT_VERSION,
    LOCAL,
    MIN_POINTS,
    MODELS,
    XY,
    Affine,
    Axes,
    BursaWolf,
    Convention,
    FitReport,
    GlobalTestRecord,
    Helmert2D,
    Model,
    Parameters,
    Poly2,
    Rejection,
    ResidualRecord,
    TransformParameters,
    _crs_text,
    write_parameters,
)
from geobase.geodesy.transform import check_coordinates
from geobase.geodesy.zones import crs_label, resolve_crs

__all__ = [
    "ARCSEC",
    "BW_SCALE_REFUSE",
    "BW_SCALE_WARN",
    "CLUSTER_WARN",
    "CONDITION_REFUSE",
    "CONDITION_WARN",
    "CONVENTIONS",
    "FORMAT",
    "FORMAT_VERSION",
    "GK_ROTATION_REFUSE",
    "GK_ROTATION_WARN",
    "GK_SCALE_REFUSE",
    "GK_SCALE_WARN",
    "GK_SHIFT_REFUSE",
    "GK_SHIFT_WARN",
    "HORNER_RANGE",
    "HULL_TOLERANCE",
    "LINE_REFUSE",
    "LINE_WARN",
    "LOCAL",
    "LOCAL_SCALE_WARN",
    "LOW_REDUNDANCY",
    "MDB_POWER_Z",
    "MIN_POINTS",
    "MODELS",
    "RMS_REFUSE",
    "RMS_WARN",
    "XY",
    "Affine",
    "Axes",
    "BursaWolf",
    "CommonPoints",
    "Convention",
    "FitReport",
    "FitResult",
    "GlobalTestRecord",
    "Helmert2D",
    "HullCheck",
    "Model",
    "Parameters",
    "Poly2",
    "Rejection",
    "ResidualRecord",
    "TransformParameters",
    "apply",
    "check_apply_input",
    "check_apply_output",
    "fit",
    "hull_note",
    "outside_hull",
    "pipeline_steps",
    "poly2_horner",
    "poly2_values",
    "proj_pipeline",
    "write_parameters",
]


# --- fitting ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FitResult:
    """Fitted parameters with the report of the fit.

    Attributes:
        parameters: The parameter file content (its ``fit`` holds the report).
    """

    parameters: TransformParameters

    @property
    def report(self) -> FitReport:
        """Residuals, RMS and rejections."""
        assert self.parameters.fit is not None
        return self.parameters.fit

    @property
    def rms(self) -> float:
        """Per-coordinate RMS of the fit points' residuals, metres."""
        return self.report.rms

    @property
    def rejected(self) -> list[str]:
        """Ids of the points rejected as blunders, in the order they were rejected."""
        return self.report.rejected

    def residuals_frame(self) -> pd.DataFrame:
        """The residuals as a DataFrame (id, role, de, dn[, du], residual, redundancy, w)."""
        frame = pd.DataFrame([r.model_dump() for r in self.report.residuals])
        if self.parameters.model != "7p" and "du" in frame:
            frame = frame.drop(columns="du")
        return frame


#: A point in the fit with less than this share of its coordinates' redundancy is hardly
#: controlled by the others.
LOW_REDUNDANCY = 0.25
#: Standard normal quantile of the 80% power at which a weak point's minimal detectable
#: blunder is stated.
MDB_POWER_Z = 0.8416


def fit(
    points: CommonPoints,
    model: Model,
    *,
    src_crs: str | int | CRS | None = None,
    dst_crs: str | int | CRS | None = None,
    convention: Convention = "coordinate_frame",
    check_ids: Iterable[str] = (),
    reject: bool = True,
    sigma: float | None = None,
    alpha: float = ALPHA,
) -> FitResult:
    """Estimate transformation parameters from common points by least squares.

    Blunders are found by iterative data snooping seeded by a robust estimate (see
    :mod:`geobase.geodesy.estimation`): with ``sigma`` the tests use that a-priori
    precision and the fit gets a global chi-square test; without it they use the robust
    sigma, sigma0 of the points the robust (IGG-III) estimate keeps, which blunders do
    not inflate. The geometry of the points (close to a line, clustered, condition of the
    normal equations) and the plausibility of the parameters for the CRSs given (scale,
    mirror, shift and residuals between two Gauss-Kruger grids) are checked.

    Args:
        points: The common points.
        model: ``4p``, ``7p``, ``affine`` or ``poly2``.
        src_crs: Source CRS. Required for 7p (its ellipsoid); optional for plane models,
            where it is recorded in the file and used to check the coordinates.
        dst_crs: Target CRS, likewise.
        convention: Rotation sign convention of 4p and 7p parameters.
        check_ids: Ids of independent check points (检核点), held out of the fit and
            reported with their residuals.
        reject: Reject blunders (False: test and report only).
        sigma: A-priori precision of one coordinate of a common point, metres (both
            sides together); None: estimated robustly from the points.
        alpha: Family-wise significance level of the blunder tests.

    Returns:
        The parameters and the report.

    Raises:
        FitError: unknown model or convention, too few points, collinear or coincident
            points, points close to a line (other than 4p), singular normal equations,
            unknown check ids, geographic coordinates for a plane model, missing
            heights or CRS for 7p.
        ImplausibleFit: parameters impossible for the given CRSs (a mirror, a scale of
            thousands of ppm between two Gauss-Kruger grids, residuals of 100 m).
        AxisOrderError, ZonePrefixError, OutsideZoneError, InvalidCoordinates:
            coordinates implausible for the given CRSs.
    """
    if model not in MODELS:
        raise FitError(f"unknown model {model!r}: expected one of {', '.join(MODELS)}")
    if convention not in CONVENTIONS:
        raise FitError(f"unknown convention {convention!r}: expected {' or '.join(CONVENTIONS)}")
    if sigma is not None and not (sigma > 0 and math.isfinite(sigma)):
        raise FitError(f"sigma {sigma!r}: expected a precision in metres > 0")
    if not 0 < alpha < 0.5:
        raise FitError(f"alpha {alpha!r}: expected a significance level 0 < alpha < 0.5")
    src = resolve_crs(src_crs) if src_crs is not None else None
    dst = resolve_crs(dst_crs) if dst_crs is not None else None
    check_set = {str(c).strip() for c in check_ids if str(c).strip()}
    unknown = sorted(check_set - set(points.ids))
    if unknown:
        raise FitError(
            f"check point(s) {', '.join(unknown)} not among the common points ({len(points)} ids)"
        )
    dims = _DIMS[model]
    labels = (
        [f"line {line}" for line in points.lines]
        if points.lines is not None
        else [f"point {pid}" for pid in points.ids]
    )
    for side, crs, axes, coords in (
        ("src", src, points.src_axes, points.src),
        ("dst", dst, points.dst_axes, points.dst),
    ):
        if crs is not None:
            kind = "lon_lat" if crs.is_geographic else "east_north"
            if crs.is_geographic or crs.is_projected:
                if kind != axes:
                    raise FitError(
                        f"{side} coordinates are {axes.replace('_', '/')} but {crs_label(crs)} is "
                        f"{'geographic' if crs.is_geographic else 'projected'}"
                    )
                check_coordinates(coords[:, 0], coords[:, 1], crs, labels=labels)
        if model != "7p" and axes == "lon_lat":
            raise FitError(
                f"the {model} model works on plane coordinates (east/north in metres) but the "
                f"{side} side is lon/lat; project it first (geobase crs transform) or use the "
                "7p model"
            )
    if model == "7p":
        if src is None or dst is None:
            raise FitError("the 7p model needs the source and target CRS (their ellipsoids)")
        if not points.has_heights:
            raise FitError(
                "the 7p model needs ellipsoidal heights on both sides (src_h, dst_h columns); "
                "for plane coordinates use the 4p model"
            )
        work_src = _to_geocentric(points.src, points.src_h, src)
        work_dst = _to_geocentric(points.dst, points.dst_h, dst)
    else:
        work_src, work_dst = points.src, points.dst

    is_check = np.array([pid in check_set for pid in points.ids])
    fit_idx = np.flatnonzero(~is_check)
    n_fit = len(fit_idx)
    need = MIN_POINTS[model]
    if n_fit < need:
        held = f" ({len(check_set)} more held out as check points)" if check_set else ""
        raise FitError(f"the {model} model needs at least {need} common points, got {n_fit}{held}")
    fit_ids = [points.ids[i] for i in fit_idx]
    _check_degenerate(model, work_src[fit_idx], fit_ids)
    what = (
        "poly2 model: spread the points over the area (a 2nd-order polynomial needs at "
        "least 6 points, not on one conic)"
        if model == "poly2"
        else f"{model} model: spread the points over the area"
    )

    norm = _Normalised(work_src[fit_idx], work_dst[fit_idx])
    a = _design(model, norm.u(work_src))
    obs = work_dst - norm.dst_center
    in_fit = ~is_check
    warnings_: list[str] = []
    seed = robust_seed(a, obs, in_fit, need, sigma=sigma)
    snooping = snoop(
        a,
        obs,
        in_fit,
        sigma=sigma,
        min_points=need,
        alpha=alpha,
        reject=reject,
        what=what,
        start=None if seed is None or not reject else seed.weights > 0,
    )
    final = snooping.final
    active = final.active
    ref_sigma, ref_dof = snooping.sigma, snooping.sigma_dof
    w_all = snooping.w if snooping.w is not None else np.full(len(points), np.nan)
    n_used = int(active.sum())
    redundancy = final.dof
    rejected = [points.ids[r.index] for r in snooping.rejected]
    if redundancy == 0:
        warnings_.append(
            f"no redundancy: {n_used} points determine the {_UNKNOWNS[model]} unknowns "
            "exactly; residuals are zero and blunders cannot be detected"
        )
    elif n_used < need + 2 and not rejected:
        warnings_.append(
            f"too few points to test for blunders ({n_used}; at least {need + 2} are needed)"
        )
    if reject:
        for i in snooping.untested:
            warnings_.append(
                f"{points.ids[i]} looks like a blunder (w = {w_all[i]:.1f} > "
                f"{snooping.critical_in:.2f}) but was kept: no redundant point would be left"
            )
    else:
        # what the tests would reject: the blunders, not the points they pull off
        shadow = snoop(
            a,
            obs,
            in_fit,
            sigma=sigma,
            min_points=need,
            alpha=alpha,
            what=what,
            start=None if seed is None else seed.weights > 0,
        )
        for r in shadow.rejected:
            warnings_.append(
                f"{points.ids[r.index]} looks like a blunder (w = {r.w:.1f} > {r.critical:.2f}, "
                f"residual {r.residual:.4f} m) but was kept: rejection is off"
            )
    units = "m" if model == "7p" or points.src_axes == "east_north" else "degrees"
    geometry_points = work_src[active]
    spread_ratio, geometry_warnings = _geometry(model, geometry_points, final.condition, units)
    warnings_ += geometry_warnings

    parameters = _parameters(model, final.x, norm, convention)
    params = TransformParameters(
        created=datetime.now(UTC).replace(microsecond=0),
        software=_software(),
        src_crs=_crs_text(src),
        dst_crs=_crs_text(dst),
        src_axes=points.src_axes,
        dst_axes=points.dst_axes,
        parameters=parameters,
        fit=None,
        hull=_hull(points.src[active]),
    )
    pipeline = proj_pipeline(params)
    # residuals of every point against the final model, in east/north(/up) metres
    delta = final.v
    if model == "7p":
        delta = _to_enu(delta, work_dst, dst)  # type: ignore[arg-type]
    lengths = np.sqrt((delta**2).sum(axis=1))
    red = final.redundancy()
    weak = np.flatnonzero(active & (red < LOW_REDUNDANCY * dims))
    if len(weak):
        names = ", ".join(points.ids[i] for i in weak)
        numbers = ", ".join(f"{red[i]:.3f}" for i in weak)
        verb = "is" if len(weak) == 1 else "are"
        hidden = ""
        if ref_sigma is not None and snooping.critical_in is not None:
            # the smallest blunder the test finds with 80% power in the weakest direction:
            # noncentrality (critical + 0.84)^2 = |b|^2 lambda_min(Q_vv,i) / sigma^2
            q = np.eye(dims)[None] - final.h[weak]
            smallest = np.linalg.eigvalsh(q)[:, 0].clip(min=1e-12)
            mdb = ref_sigma * (snooping.critical_in + MDB_POWER_Z) / np.sqrt(smallest)
            hidden = (
                f"; a blunder of up to about {', '.join(f'{b:.2f}' for b in mdb)} m there may "
                "go undetected"
            )
        warnings_.append(
            f"{names} {verb} hardly controlled by the other points (redundancy number "
            f"{numbers} of {dims}{hidden}): the fit follows them, and a blunder there would "
            "hardly show; add common points around them"
        )
    roles = np.where(is_check, "check", np.where(active, "fit", "rejected"))
    records = [
        ResidualRecord(
            id=points.ids[i],
            role=roles[i],
            de=float(delta[i, 0]),
            dn=float(delta[i, 1]),
            du=float(delta[i, 2]) if dims == 3 else None,
            residual=float(lengths[i]),
            redundancy=float(red[i]) if np.isfinite(red[i]) else None,
            w=float(w_all[i]) if np.isfinite(w_all[i]) else None,
        )
        for i in range(len(points))
    ]

    def judged_by(r: Rejected) -> str:
        if r.scale_dof is None:
            return f"a-priori sigma {r.scale:g} m"
        return f"sigma {r.scale:.4g} m of the fit without it, {r.scale_dof} degrees of freedom"

    rejections = [
        Rejection(
            id=points.ids[r.index],
            w=r.w,
            critical=r.critical,
            residual=r.residual,
            redundancy=None if r.robust else r.redundancy,
            reason=(
                f"left out by the robust estimate, and its standardised prediction residual "
                f"against the fit of the others w = {r.w:.2f} > {r.critical:.2f} (residual "
                f"{r.residual:.4f} m; {judged_by(r)}, alpha {alpha:g} over the points)"
                if r.robust
                else f"standardised residual w = {r.w:.2f} > {r.critical:.2f} (residual "
                f"{r.residual:.4f} m, redundancy number {r.redundancy:.2f} of {dims}; "
                f"{judged_by(r)}, alpha {alpha:g} over the points tested)"
            ),
        )
        for r in snooping.rejected
    ]
    sse = final.sse
    rms = math.sqrt(sse / (dims * n_used))
    sigma0 = math.sqrt(sse / redundancy) if redundancy > 0 else None
    test = None
    if sigma is not None and redundancy > 0:
        result = global_test(sse, redundancy, sigma)
        test = GlobalTestRecord(
            statistic=result.statistic,
            dof=result.dof,
            lower=result.lower,
            upper=result.upper,
            passed=result.passed,
        )
        if result.statistic > result.upper:
            warnings_.append(
                f"global test fails: sigma0 {sigma0:.4f} m against the a-priori sigma "
                f"{sigma:g} m (sum v'v/sigma^2 = {result.statistic:.1f} > {result.upper:.1f}, "
                f"chi-square {redundancy} dof, {100 * (1 - GLOBAL_ALPHA / 2):g}%): the points "
                "are less precise than --sigma says, the model does not fit them (a distorted "
                "grid: try affine or poly2), or blunders remain"
            )
        elif result.statistic < result.lower:
            warnings_.append(
                f"global test: sigma0 {sigma0:.4f} m is well below the a-priori sigma "
                f"{sigma:g} m (sum v'v/sigma^2 = {result.statistic:.1f} < {result.lower:.1f}): "
                "--sigma is pessimistic, and the blunder tests less sensitive than they could be"
            )
    check_rms = None
    if is_check.any():
        check_rms = math.sqrt(float((delta[is_check] ** 2).sum()) / (dims * int(is_check.sum())))
    warnings_ += _plausibility(model, parameters, points, active, src, dst, rms * math.sqrt(dims))
    report = FitReport(
        n_points=len(points),
        n_fit=n_used,
        n_check=int(is_check.sum()),
        redundancy=redundancy,
        rms=rms,
        point_rms=rms * math.sqrt(dims),
        sigma0=sigma0,
        check_rms=check_rms,
        check_point_rms=None if check_rms is None else check_rms * math.sqrt(dims),
        rejected=rejected,
        rejections=rejections,
        sigma_apriori=sigma,
        sigma_reference=ref_sigma,
        sigma_dof=ref_dof,
        alpha=alpha,
        critical_w=snooping.critical_in,
        global_test=test,
        condition=final.condition,
        spread_ratio=spread_ratio,
        residuals=records,
        warnings=warnings_,
    )
    return FitResult(params.model_copy(update={"proj_pipeline": pipeline, "fit": report}))


def _software() -> str:
    from geobase import __version__

    return f"geobase {__version__}"
