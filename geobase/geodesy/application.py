"""Applying fitted parameters: PROJ pipelines of the four models, and the checks on use.

Every model runs through pyproj: :func:`proj_pipeline` writes the PROJ pipeline of a
parameter set (``+proj=helmert``, ``cart`` + ``helmert`` for 7p, ``affine``, ``horner``
for poly2 with :func:`poly2_values` as its numpy reference), :func:`apply` runs it on
coordinate arrays, checks the input and the result against the CRSs named, and
:class:`HullCheck` / :func:`outside_hull` report points converted outside the common
points' hull (where the parameters extrapolate).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pyproj import CRS, Transformer
from pyproj.crs import GeocentricCRS
from pyproj.exceptions import ProjError

from geobase.errors import FitError, InvalidCoordinates, ParameterFileError
from geobase.geodesy.parameters import (
    LOCAL,
    Affine,
    BursaWolf,
    Helmert2D,
    Poly2,
    TransformParameters,
)
from geobase.geodesy.transform import check_coordinates, check_target
from geobase.geodesy.zones import crs_label, resolve_crs

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
