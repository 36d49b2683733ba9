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

Example:
    >>> points = CommonPoints.read("common.csv")  # doctest: +SKIP
    >>> result = fit(points, "4p", check_ids=["K7"])  # doctest: +SKIP
    >>> write_parameters(result.parameters, "params.json")  # doctest: +SKIP
    >>> apply(result.parameters, east, north)  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pyproj import CRS, Transformer
from pyproj.crs import GeocentricCRS
from pyproj.exceptions import ProjError

from geobase.errors import FitError, ImplausibleFit, InvalidCoordinates, ParameterFileError
from geobase.geodesy.estimation import (
    ALPHA,
    GLOBAL_ALPHA,
    Rejected,
    global_test,
    robust_seed,
    snoop,
)
from geobase.geodesy.transform import check_coordinates, check_target
from geobase.geodesy.zones import crs_label, gk_system_of, resolve_crs

Model = Literal["4p", "7p", "affine", "poly2"]
Convention = Literal["coordinate_frame", "position_vector"]
Axes = Literal["east_north", "lon_lat"]
XY = Literal["gis", "survey"]

MODELS: tuple[str, ...] = ("4p", "7p", "affine", "poly2")
CONVENTIONS: tuple[str, ...] = ("coordinate_frame", "position_vector")
#: Fewest common points that determine each model.
MIN_POINTS: dict[str, int] = {"4p": 2, "7p": 3, "affine": 3, "poly2": 6}
_UNKNOWNS: dict[str, int] = {"4p": 4, "7p": 7, "affine": 6, "poly2": 12}
_DIMS: dict[str, int] = {"4p": 2, "7p": 3, "affine": 2, "poly2": 2}

FORMAT: Final = "geobase-transform-parameters"
#: The CRS name of a city grid without any CRS definition (``--from local``).
LOCAL = "local"
#: Version of the parameter file format this geobase writes and reads.
FORMAT_VERSION: Final = 1

ARCSEC = math.pi / (180.0 * 3600.0)

# singular values this small relative to the largest mean a degenerate point geometry
_DEGENERATE = 1e-7


# --- parameter file --------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Helmert2D(_Strict):
    """Plane similarity: shifts (m), rotation (arc-seconds, in ``convention``), scale (ppm).

    position_vector: E' = tx + k (E cos r - N sin r), N' = ty + k (E sin r + N cos r),
    k = 1 + scale_ppm 1e-6 (r turns points anticlockwise); coordinate_frame: r has the
    opposite sign.
    """

    model: Literal["4p"] = "4p"
    convention: Convention
    tx: float
    ty: float
    rotation: float
    scale_ppm: float


class BursaWolf(_Strict):
    """Seven parameters on geocentric coordinates: shifts (m), rotations (arc-seconds, in
    ``convention``), scale (ppm); the small-angle form PROJ's ``helmert`` uses."""

    model: Literal["7p"] = "7p"
    convention: Convention
    tx: float
    ty: float
    tz: float
    rx: float
    ry: float
    rz: float
    scale_ppm: float


class Affine(_Strict):
    """E' = xoff + s11 E + s12 N, N' = yoff + s21 E + s22 N."""

    model: Literal["affine"] = "affine"
    xoff: float
    yoff: float
    s11: float
    s12: float
    s21: float
    s22: float


class Poly2(_Strict):
    """E' = sum(cx[k] t_k), N' = sum(cy[k] t_k), t = (1, u, v, u^2, uv, v^2) with
    u = (E - origin[0]) / unit, v = (N - origin[1]) / unit."""

    model: Literal["poly2"] = "poly2"
    origin: tuple[float, float]
    unit: float = Field(gt=0)
    cx: tuple[float, float, float, float, float, float]
    cy: tuple[float, float, float, float, float, float]


Parameters = Annotated[Helmert2D | BursaWolf | Affine | Poly2, Field(discriminator="model")]


class ResidualRecord(_Strict):
    """One common point's residual (observed - predicted), metres.

    ``redundancy`` is the point's redundancy number (sum over its coordinates, 0..d; only
    for points in the fit); ``w`` its standardised residual against the reference sigma
    (for rejected and check points, the standardised prediction residual).
    """

    id: str
    role: Literal["fit", "rejected", "check"]
    de: float
    dn: float
    du: float | None = None
    residual: float
    redundancy: float | None = None
    w: float | None = None


class Rejection(_Strict):
    """A point rejected as a blunder, with the figures of the test that rejected it.

    ``redundancy`` is None for a point the robust estimate left out (it was tested by its
    prediction residual against the fit of the others).
    """

    id: str
    w: float
    critical: float
    residual: float
    redundancy: float | None
    reason: str


class GlobalTestRecord(_Strict):
    """The chi-square test of the fit against the a-priori sigma (two-sided, 5%)."""

    statistic: float
    dof: int
    lower: float
    upper: float
    passed: bool


class FitReport(_Strict):
    """How the parameters were estimated: points, residuals, RMS, tests, rejections.

    ``sigma_reference`` is the sigma of the blunder tests: ``sigma_apriori`` where given,
    else sigma0 of the final fit (with ``sigma_dof`` degrees of freedom; each point is
    judged by that of the fit without it). ``reject_factor`` and
    ``reject_floor`` are read from files written by geobase before data snooping.
    """

    n_points: int
    n_fit: int
    n_check: int
    redundancy: int
    rms: float
    point_rms: float
    sigma0: float | None
    check_rms: float | None = None
    check_point_rms: float | None = None
    rejected: list[str] = []
    rejections: list[Rejection] = []
    sigma_apriori: float | None = None
    sigma_reference: float | None = None
    sigma_dof: int | None = None
    alpha: float | None = None
    critical_w: float | None = None
    global_test: GlobalTestRecord | None = None
    condition: float | None = None
    spread_ratio: float | None = None
    reject_factor: float | None = None
    reject_floor: float | None = None
    residuals: list[ResidualRecord] = []
    warnings: list[str] = []


class TransformParameters(_Strict):
    """A versioned transformation parameter file (JSON).

    ``proj_pipeline`` is the equivalent PROJ pipeline; it is regenerated from
    ``parameters`` on reading, and a file whose pipeline was edited apart from its
    parameters is refused (a poly2 file written before poly2 had a pipeline gets one).
    ``hull`` is the convex hull of the common points of the fit (source side, closed
    ring), so that points converted far outside it are flagged (:func:`outside_hull`).
    """

    format: Literal["geobase-transform-parameters"] = FORMAT
    version: Literal[1] = FORMAT_VERSION
    created: datetime
    software: str
    src_crs: str | None = None
    dst_crs: str | None = None
    src_axes: Axes = "east_north"
    dst_axes: Axes = "east_north"
    parameters: Parameters
    proj_pipeline: str | None = None
    fit: FitReport | None = None
    hull: list[tuple[float, float]] | None = None

    @field_validator("src_crs", "dst_crs")
    @classmethod
    def _known_crs(cls, value: str | None) -> str | None:
        if value is not None and value != LOCAL:
            resolve_crs(value)  # raises UnknownCRS, a ValueError pydantic reports
        return value

    @property
    def model(self) -> str:
        """The model name (``4p``, ``7p``, ``affine``, ``poly2``)."""
        return self.parameters.model

    def to_json(self) -> str:
        """The file's text: indented JSON, UTF-8."""
        return self.model_dump_json(indent=2) + "\n"


def _crs_text(crs: CRS | None) -> str | None:
    if crs is None:
        return None
    code = crs.to_epsg(min_confidence=100)
    return f"EPSG:{code}" if code is not None else crs.to_wkt()


def write_parameters(parameters: TransformParameters, path: str | Path) -> Path:
    """Write a parameter file (UTF-8 JSON); returns the path.

    Raises:
        ParameterFileError: the parameters do not name both CRSs (a file always carries
            them; :data:`LOCAL` names a city grid without a CRS definition).
    """
    missing = [side for side in ("src_crs", "dst_crs") if getattr(parameters, side) is None]
    if missing:
        raise ParameterFileError(
            f"{path}: parameters without {' and '.join(missing)} are not written; a parameter "
            "file names both CRSs (--from and --to; 'local' for a city grid without a CRS "
            "definition)"
        )
    from geobase.paths import atomic_output

    path = Path(path)
    text = parameters.to_json()
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


# --- PROJ pipelines ----------------------------------------------------------------------


def pipeline_steps(pipeline: str) -> str:
    """The ``+step ...`` part of a PROJ string (a single operation becomes one step)."""
    text = " ".join(pipeline.split())
    if text.startswith("+proj=pipeline"):
        return text[len("+proj=pipeline") :].strip()
    return f"+step {text}"


@functools.lru_cache(maxsize=64)
def _cart_steps(crs: CRS, inverse: bool) -> str:
    """PROJ steps from a CRS (east, north / lon, lat in degrees, h) to geocentric, or back."""
    if crs.datum is None or not (crs.is_geographic or crs.is_projected):
        raise FitError(f"{crs_label(crs)} is neither geographic nor projected on a datum")
    geocentric = GeocentricCRS(datum=crs.datum)
    try:
        if inverse:
            text = Transformer.from_crs(geocentric, crs, always_xy=True).to_proj4()
        else:
            text = Transformer.from_crs(crs, geocentric, always_xy=True).to_proj4()
    except ProjError as exc:
        raise FitError(f"{crs_label(crs)}: no PROJ conversion to geocentric ({exc})") from None
    return pipeline_steps(text)


#: Half-width (metres) of the square around a poly2 origin where PROJ's horner
#: evaluates; large enough never to refuse a point (extrapolation is judged elsewhere).
HORNER_RANGE = 1e10


def poly2_horner(p: Poly2) -> str:
    """A poly2 model as PROJ's ``+proj=horner`` (degree 2, real coefficients).

    horner evaluates in (dE, dN) = (E, N) - origin without a unit, so the normalisation
    u = dE / unit, v = dN / unit is folded into the coefficients (c / unit for linear
    terms, c / unit^2 for quadratic ones), in horner's order: for E'
    (1, dE, dE^2, dN, dE dN, dN^2), for N' (1, dN, dN^2, dE, dE dN, dE^2). PROJ inverts
    it by iteration (GDAL's warper needs the inverse).
    """
    k = p.unit
    cx, cy = p.cx, p.cy
    fwd_u = (cx[0], cx[1] / k, cx[3] / k**2, cx[2] / k, cx[4] / k**2, cx[5] / k**2)
    fwd_v = (cy[0], cy[2] / k, cy[5] / k**2, cy[1] / k, cy[4] / k**2, cy[3] / k**2)

    def text(values: Sequence[float]) -> str:
        return ",".join(repr(float(v)) for v in values)

    return (
        f"+proj=horner +deg=2 +range={HORNER_RANGE!r} "
        f"+fwd_origin={p.origin[0]!r},{p.origin[1]!r} +fwd_u={text(fwd_u)} +fwd_v={text(fwd_v)}"
    )


def poly2_values(
    p: Poly2, east: NDArray[np.float64], north: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """A poly2 model evaluated with numpy in its normalised form (the reference for the
    horner pipeline, and what the fit computed)."""
    u = (east - p.origin[0]) / p.unit
    v = (north - p.origin[1]) / p.unit
    terms: tuple[float | NDArray[np.float64], ...] = (1.0, u, v, u * u, u * v, v * v)
    # from zeros: 0 + c0 is c0 exactly, so this sums in the order of the fit
    out_e, out_n = np.zeros_like(u), np.zeros_like(u)
    for ce, cn, t in zip(p.cx, p.cy, terms, strict=True):
        out_e = out_e + ce * t
        out_n = out_n + cn * t
    return out_e, out_n


def proj_pipeline(params: TransformParameters) -> str:
    """The PROJ pipeline equivalent to the parameters.

    4p: ``+proj=helmert`` 2D, always written with the coordinate-frame rotation PROJ
    implements (``+convention=coordinate_frame``), converting a position-vector rotation.
    7p: src -> ``+proj=cart`` -> ``+proj=helmert ... +convention=...`` -> inverse cart ->
    dst. affine: ``+proj=affine``. poly2: ``+proj=horner`` (:func:`poly2_horner`).
    """
    p = params.parameters
    if isinstance(p, Helmert2D):
        theta = p.rotation if p.convention == "coordinate_frame" else -p.rotation
        scale = 1.0 + p.scale_ppm * 1e-6
        return (
            f"+proj=helmert +x={p.tx!r} +y={p.ty!r} +theta={theta!r} +s={scale!r} "
            "+convention=coordinate_frame"
        )
    if isinstance(p, BursaWolf):
        if params.src_crs in (None, LOCAL) or params.dst_crs in (None, LOCAL):
            raise ParameterFileError(
                "a 7p parameter file needs src_crs and dst_crs (CRSs, not local)"
            )
        src, dst = resolve_crs(params.src_crs), resolve_crs(params.dst_crs)
        helmert = (
            f"+step +proj=helmert +x={p.tx!r} +y={p.ty!r} +z={p.tz!r} +rx={p.rx!r} "
            f"+ry={p.ry!r} +rz={p.rz!r} +s={p.scale_ppm!r} +convention={p.convention}"
        )
        return f"+proj=pipeline {_cart_steps(src, False)} {helmert} {_cart_steps(dst, True)}"
    if isinstance(p, Affine):
        return (
            f"+proj=affine +xoff={p.xoff!r} +yoff={p.yoff!r} +s11={p.s11!r} +s12={p.s12!r} "
            f"+s21={p.s21!r} +s22={p.s22!r}"
        )
    return poly2_horner(p)


@functools.lru_cache(maxsize=32)
def _pipeline_transformer(pipeline: str) -> Transformer:
    try:
        return Transformer.from_pipeline(pipeline)
    except ProjError as exc:
        raise ParameterFileError(f"PROJ refuses the pipeline {pipeline!r}: {exc}") from None


# --- applying -------------------------------------------------------------------------


#: Points converted further outside the common points' hull than this fraction of the
#: hull's diameter are reported: the parameters extrapolate there.
HULL_TOLERANCE = 0.05


def apply(
    params: TransformParameters,
    east: ArrayLike,
    north: ArrayLike,
    h: ArrayLike | None = None,
    *,
    check: bool = True,
    labels: Sequence[Any] | None = None,
    notify: Callable[[str], None] | None = None,
) -> tuple[NDArray[np.float64], ...]:
    """Apply fitted parameters to coordinate arrays.

    Every model runs through pyproj (the file's PROJ pipeline; poly2 as ``horner``).

    Args:
        params: The parameters (from :func:`fit` or :func:`geobase.geodesy.paramfiles.read_parameters`).
        east: Source eastings (or longitudes where the source side is geographic).
        north: Source northings (or latitudes).
        h: Source ellipsoidal heights (7p only; taken as 0 when omitted).
        check: Check the input against the source CRS, and a Gauss-Kruger result against
            its zone, where the file names the CRSs.
        labels: Names of the points for error messages.
        notify: Told (one line) when points lie outside the common points' hull by more
            than :data:`HULL_TOLERANCE` of its diameter, with how far.

    Returns:
        ``(east, north)``, or ``(east, north, h)`` when ``h`` is given to a 7p model.

    Raises:
        InvalidCoordinates: shapes differ, values implausible for the source CRS (or the
            result for the target CRS), or points PROJ cannot transform.
    """
    e = np.atleast_1d(np.asarray(east, dtype=np.float64))
    n = np.atleast_1d(np.asarray(north, dtype=np.float64))
    if e.shape != n.shape:
        raise InvalidCoordinates(f"east has shape {e.shape} but north has shape {n.shape}")
    if check:
        check_apply_input(params, e, n, labels)
    if notify is not None:
        note = hull_note(params, e, n, labels)
        if note is not None:
            notify(note)
    out = _apply(params, e, n, h, labels)
    if check:
        check_apply_output(params, out[0], out[1], labels)
    return out


def check_apply_input(
    params: TransformParameters,
    east: NDArray[np.float64],
    north: NDArray[np.float64],
    labels: Sequence[Any] | None = None,
) -> None:
    """The check of :func:`apply` on its input: plausible for the source CRS, if named.

    Raises:
        InvalidCoordinates: see :func:`~geobase.geodesy.check_coordinates`.
    """
    if params.src_crs not in (None, LOCAL):
        check_coordinates(east, north, params.src_crs, labels=labels)


def check_apply_output(
    params: TransformParameters,
    east: NDArray[np.float64],
    north: NDArray[np.float64],
    labels: Sequence[Any] | None = None,
) -> None:
    """The check of :func:`apply` on its result: inside a Gauss-Kruger target's zone.

    Raises:
        OutsideZoneError: see :func:`~geobase.geodesy.transform.check_target`.
    """
    if params.dst_crs not in (None, LOCAL):
        check_target(east, north, params.dst_crs, labels=labels)


class HullCheck:
    """Points converted outside the common points' hull, gathered over batches of a file:
    one note for them all (:meth:`note`)."""

    def __init__(self, params: TransformParameters) -> None:
        self.params = params
        self.points = self.far = 0
        self.worst = -1.0
        self.worst_name = ""
        self.diameter = math.nan
        if params.hull is not None:
            ring = np.asarray(params.hull)
            if params.src_axes == "lon_lat":
                lat0 = math.radians(float(ring[:, 1].mean()))
                ring = ring * np.array([111_320.0 * math.cos(lat0), 110_574.0])
            self.diameter = float(np.sqrt(((ring[:, None] - ring[None]) ** 2).sum(axis=2)).max())

    def add(
        self,
        east: NDArray[np.float64],
        north: NDArray[np.float64],
        labels: Sequence[Any] | None = None,
    ) -> HullCheck:
        """Take in a batch of source coordinates (``labels``: their names for the note)."""
        if self.params.hull is None or not len(east):
            return self
        distance = outside_hull(self.params, east, north)
        far = distance > HULL_TOLERANCE * self.diameter
        if far.any():
            worst = int(np.nanargmax(np.where(far, distance, -1.0)))
            if distance[worst] > self.worst:
                self.worst = float(distance[worst])
                self.worst_name = (
                    str(labels[worst]) if labels is not None else f"point {self.points + worst}"
                )
        self.points += int(far.size)
        self.far += int(far.sum())
        return self

    def note(self) -> str | None:
        """A one-line note on the points outside the hull, or None where there are none."""
        if not self.far:
            return None
        return (
            f"{self.far} of {self.points} points lie outside the common points' hull "
            f"(diameter {self.diameter:,.0f} m) by more than {100 * HULL_TOLERANCE:g}% of it, "
            f"up to {self.worst:,.0f} m ({self.worst_name}): the {self.params.model} "
            "parameters extrapolate there"
        )


def hull_note(
    params: TransformParameters,
    east: NDArray[np.float64],
    north: NDArray[np.float64],
    labels: Sequence[Any] | None = None,
) -> str | None:
    """A one-line note on points outside the common points' hull, or None."""
    return HullCheck(params).add(east, north, labels).note()


def _apply(
    params: TransformParameters,
    e: NDArray[np.float64],
    n: NDArray[np.float64],
    h: ArrayLike | None,
    labels: Sequence[Any] | None,
) -> tuple[NDArray[np.float64], ...]:
    p = params.parameters
    transformer = _pipeline_transformer(proj_pipeline(params))
    out: tuple[Any, ...]
    if isinstance(p, BursaWolf) and h is not None:
        z = np.atleast_1d(np.asarray(h, dtype=np.float64))
        if z.shape != e.shape:
            raise InvalidCoordinates(f"h has shape {z.shape} but east has shape {e.shape}")
        out = transformer.transform(e, n, z)
    elif isinstance(p, BursaWolf):
        out = transformer.transform(e, n, np.zeros_like(e))[:2]
    else:
        out = transformer.transform(e, n)
    bad = ~np.isfinite(out[0]) | ~np.isfinite(out[1])
    bad &= np.isfinite(e) & np.isfinite(n)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        where = f"{labels[i]}: " if labels is not None else f"point {i}: "
        raise InvalidCoordinates(
            f"{where}({e[i]:.9g}, {n[i]:.9g}) cannot be transformed with the {p.model} "
            f"parameters ({int(bad.sum())} of {bad.size} points)"
        )
    return tuple(np.asarray(a, dtype=np.float64) for a in out)


# --- common points -----------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CommonPoints:
    """Points known in both systems (重合点), in (east, north) / (lon, lat) order.

    Attributes:
        ids: Point ids, unique.
        src: (n, 2) source coordinates.
        dst: (n, 2) target coordinates.
        src_h: Source ellipsoidal heights, or None.
        dst_h: Target ellipsoidal heights, or None.
        src_axes: ``east_north`` (projected) or ``lon_lat`` (geographic, degrees).
        dst_axes: Same for the target side.
        lines: File line of each point, for messages (None when not read from a file).

    Raises:
        FitError: shapes differ, values are missing, or ids repeat.
    """

    ids: tuple[str, ...]
    src: NDArray[np.float64]
    dst: NDArray[np.float64]
    src_h: NDArray[np.float64] | None = None
    dst_h: NDArray[np.float64] | None = None
    src_axes: Axes = "east_north"
    dst_axes: Axes = "east_north"
    lines: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        src = np.asarray(self.src, dtype=np.float64)
        dst = np.asarray(self.dst, dtype=np.float64)
        n = len(self.ids)
        if src.shape != (n, 2) or dst.shape != (n, 2):
            raise FitError(
                f"common points: src {src.shape} and dst {dst.shape} for {n} ids; "
                f"expected ({n}, 2) each"
            )
        for name in ("src_h", "dst_h"):
            value = getattr(self, name)
            if value is not None:
                value = np.asarray(value, dtype=np.float64)
                if value.shape != (n,):
                    raise FitError(
                        f"common points: {name} has shape {value.shape}, expected ({n},)"
                    )
                object.__setattr__(self, name, value)
        if (self.src_h is None) != (self.dst_h is None):
            raise FitError("common points: heights on one side only; give src_h and dst_h")
        ids = tuple(str(i).strip() for i in self.ids)
        if any(not i for i in ids):
            raise FitError(f"common points: {self._where(ids.index(''))}empty id")
        seen: dict[str, int] = {}
        dups = []
        for i, pid in enumerate(ids):
            if pid in seen:
                dups.append(pid)
            seen.setdefault(pid, i)
        if dups:
            shown = ", ".join(sorted(set(dups))[:10])
            raise FitError(
                f"common points: duplicate ids {shown}; each common point must appear once"
            )
        for name, arr in (("src", src), ("dst", dst), ("src_h", self.src_h), ("dst_h", self.dst_h)):
            if arr is not None and not np.isfinite(arr).all():
                i = int(np.flatnonzero(~np.isfinite(arr).reshape(n, -1).all(axis=1))[0])
                raise FitError(f"common points: {self._where(i)}{name} is missing or not finite")
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "src", src)
        object.__setattr__(self, "dst", dst)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def has_heights(self) -> bool:
        """Whether both sides carry ellipsoidal heights."""
        return self.src_h is not None

    def _where(self, i: int) -> str:
        if self.lines is not None:
            return f"line {self.lines[i]}: "
        return f"point {self.ids[i]!r}: " if i < len(self.ids) and self.ids[i] else f"point {i}: "

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        xy: XY | None = None,
        src_crs: str | int | CRS | None = None,
        dst_crs: str | int | CRS | None = None,
        source: str = "common points",
    ) -> CommonPoints:
        """Common points from a table with ``id`` and per side ``<side>_east,<side>_north``
        or ``<side>_lon,<side>_lat`` or ``<side>_x,<side>_y``, plus ``src_h,dst_h``.

        Args:
            frame: The table (strings or numbers; column names matched without case).
            xy: How ``_x,_y`` columns are read: ``survey`` (x = north) or ``gis``
                (x = east). Default: survey, unless that side's CRS is given and is not a
                Gauss-Kruger system.
            src_crs: Source CRS, used only to choose the ``xy`` default.
            dst_crs: Target CRS, likewise.
            source: Name of the input for messages.

        Raises:
            FitError: missing columns, values that are not numbers, duplicate ids.
        """
        columns = {str(c).strip().lower(): c for c in frame.columns}
        lines = frame.attrs.get("lines")
        if lines is not None and len(lines) != len(frame):
            lines = None

        def where(i: int) -> str:
            return f"line {lines[i]}: " if lines is not None else f"row {i + 1}: "

        def numbers(name: str) -> NDArray[np.float64]:
            column = columns[name]
            raw = frame[column]
            values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
            bad = ~np.isfinite(values)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                value = raw.iloc[i]
                what = (
                    "no value" if value is None or value != value else f"{value!r} is not a number"
                )
                raise FitError(f"{source}: {where(i)}{column}: {what}")
            return values

        if "id" not in columns:
            raise FitError(
                f"{source}: no id column; expected id, src_east, src_north, dst_east, dst_north "
                f"(or _lon/_lat, _x/_y); found {', '.join(map(str, frame.columns))}"
            )
        sides: dict[str, tuple[NDArray, str]] = {}
        for side, crs in (("src", src_crs), ("dst", dst_crs)):
            if {f"{side}_lon", f"{side}_lat"} <= columns.keys():
                east, north, axes = f"{side}_lon", f"{side}_lat", "lon_lat"
            elif {f"{side}_east", f"{side}_north"} <= columns.keys():
                east, north, axes = f"{side}_east", f"{side}_north", "east_north"
            elif {f"{side}_x", f"{side}_y"} <= columns.keys():
                mode = xy or _default_xy(crs)
                axes = "east_north"
                if mode == "survey":
                    east, north = f"{side}_y", f"{side}_x"
                else:
                    east, north = f"{side}_x", f"{side}_y"
            else:
                raise FitError(
                    f"{source}: no {side} coordinate columns; expected {side}_east,{side}_north "
                    f"or {side}_lon,{side}_lat (or {side}_x,{side}_y); found "
                    f"{', '.join(map(str, frame.columns))}"
                )
            sides[side] = (np.column_stack([numbers(east), numbers(north)]), axes)
        heights = [f"{s}_h" for s in ("src", "dst") if f"{s}_h" in columns]
        if len(heights) == 1:
            missing = "dst_h" if heights == ["src_h"] else "src_h"
            raise FitError(f"{source}: {heights[0]} is given but {missing} is not")
        ids_column = frame[columns["id"]]
        empty = ids_column.isna() | (ids_column.astype(str).str.strip() == "")
        if empty.any():
            raise FitError(f"{source}: {where(int(np.flatnonzero(empty.to_numpy())[0]))}no id")
        return cls(
            ids=tuple(str(v).strip() for v in ids_column),
            src=sides["src"][0],
            dst=sides["dst"][0],
            src_h=numbers("src_h") if heights else None,
            dst_h=numbers("dst_h") if heights else None,
            src_axes=sides["src"][1],  # type: ignore[arg-type]
            dst_axes=sides["dst"][1],  # type: ignore[arg-type]
            lines=tuple(int(v) for v in lines) if lines is not None else None,
        )

    @classmethod
    def read(
        cls,
        path: str | Path,
        *,
        xy: XY | None = None,
        src_crs: str | int | CRS | None = None,
        dst_crs: str | int | CRS | None = None,
    ) -> CommonPoints:
        """Common points from a CSV file (UTF-8 or GBK); see :meth:`from_frame`.

        Raises:
            SourceReadError: the file is missing, empty or undecodable.
            FitError: see :meth:`from_frame`.
        """
        from geobase.tabular import read_csv

        return cls.from_frame(
            read_csv(path), xy=xy, src_crs=src_crs, dst_crs=dst_crs, source=str(path)
        )


def _default_xy(crs: str | int | CRS | None) -> XY:
    if crs is None:
        return "survey"
    resolved = resolve_crs(crs)
    return "survey" if gk_system_of(resolved) is not None else "gis"


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


#: Common points whose spread across their main axis is below these fractions of the
#: spread along it lie "close to a line": refused (except for 4p), or warned about.
LINE_REFUSE, LINE_WARN = 0.02, 0.2
#: Condition number of the (normalised) normal equations beyond which a fit is refused
#: (numerically undetermined) or warned about (poorly determined).
CONDITION_REFUSE, CONDITION_WARN = 1e10, 1e4
#: Half the points within this fraction of the largest distance from their centre (the
#: coordinate-wise median): clustered.
CLUSTER_WARN = 0.1
#: A point in the fit with less than this share of its coordinates' redundancy is hardly
#: controlled by the others.
LOW_REDUNDANCY = 0.25
#: Standard normal quantile of the 80% power at which a weak point's minimal detectable
#: blunder is stated.
MDB_POWER_Z = 0.8416


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


def outside_hull(
    params: TransformParameters, east: ArrayLike, north: ArrayLike
) -> NDArray[np.float64]:
    """How far points lie outside the convex hull of the common points of a fit.

    Args:
        params: Fitted parameters with a ``hull`` (parameters without one: all NaN).
        east: Source eastings (or longitudes where the source side is lon/lat).
        north: Source northings (or latitudes).

    Returns:
        Distances in metres (0 inside the hull; for a lon/lat source side, metres on a
        local equirectangular approximation), NaN where unknown.
    """
    import shapely

    e = np.atleast_1d(np.asarray(east, dtype=np.float64))
    n = np.atleast_1d(np.asarray(north, dtype=np.float64))
    if params.hull is None:
        return np.full(e.shape, np.nan)
    ring = np.asarray(params.hull, dtype=np.float64)
    if params.src_axes == "lon_lat":
        lat0 = math.radians(float(ring[:, 1].mean()))
        scale = np.array([111_320.0 * math.cos(lat0), 110_574.0])
        ring = ring * scale
        e, n = e * scale[0], n * scale[1]
    polygon = shapely.Polygon(ring)
    pts = shapely.points(e, n)
    return np.where(np.isfinite(e) & np.isfinite(n), shapely.distance(polygon, pts), np.nan)


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


def _software() -> str:
    from geobase import __version__

    return f"geobase {__version__}"
