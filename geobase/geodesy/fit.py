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
linear in (T, k, k*r)). Blunders are rejected iteratively: a point whose residual, scaled
for its leverage (v / sqrt(1 - h)), exceeds ``reject_factor`` times the point RMS of the
fit without that point (or ``reject_floor`` metres, whichever is larger) is rejected,
worst first, and the fit repeated. Taking the RMS without the point matters: with the RMS
of all n points, no residual can exceed sqrt(n) RMS, so a 3 x RMS rule could never reject
anything among 9 or fewer points. Rejection stops while at least one redundant point is
left (two more points than the model's minimum).

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
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pyproj import CRS, Transformer
from pyproj.crs import GeocentricCRS
from pyproj.exceptions import ProjError

from geobase.errors import FitError, InvalidCoordinates, ParameterFileError
from geobase.geodesy.transform import check_coordinates
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

FORMAT = "geobase-transform-parameters"
#: The CRS name of a city grid without any CRS definition (``--from local``).
LOCAL = "local"
#: Version of the parameter file format this geobase writes and reads.
FORMAT_VERSION = 1

ARCSEC = math.pi / (180.0 * 3600.0)
POLY2_TERMS = ("1", "u", "v", "u2", "uv", "v2")

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
    """One common point's residual (observed - predicted), metres."""

    id: str
    role: Literal["fit", "rejected", "check"]
    de: float
    dn: float
    du: float | None = None
    residual: float


class FitReport(_Strict):
    """How the parameters were estimated: points, residuals, RMS, rejections."""

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
    reject_factor: float
    reject_floor: float
    residuals: list[ResidualRecord] = []
    warnings: list[str] = []


class TransformParameters(_Strict):
    """A versioned transformation parameter file (JSON).

    ``proj_pipeline`` is the equivalent PROJ pipeline; it is regenerated from
    ``parameters`` on reading, and a file whose pipeline was edited apart from its
    parameters is refused (a poly2 file written before poly2 had a pipeline gets one).
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
    path = Path(path)
    path.write_text(parameters.to_json(), encoding="utf-8")
    return path


def read_parameters(path: str | Path) -> TransformParameters:
    """Read and validate a parameter file: geobase JSON, or a hand-written 4p/7p file
    (:mod:`geobase.geodesy.paramfiles`), UTF-8 or GBK.

    Raises:
        ParameterFileError: missing, unreadable, not a geobase or hand-written parameter
            file, another version, invalid values, or a PROJ pipeline that does not match
            the parameters.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ParameterFileError(f"{path}: no such parameter file") from None
    except OSError as exc:
        raise ParameterFileError(f"{path}: cannot be read ({exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:  # hand-written files from Chinese offices are often GBK
            text = raw.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise ParameterFileError(f"{path}: neither UTF-8 nor GBK text ({exc})") from None
    return parse_parameters(text, source=str(path))


def parse_parameters(text: str, source: str = "parameters") -> TransformParameters:
    """Validate the text of a parameter file; see :func:`read_parameters`.

    A geobase file is JSON with ``"format": "geobase-transform-parameters"``; TOML, or a
    JSON object without ``format``, is read as a hand-written 4p/7p file
    (:func:`geobase.geodesy.paramfiles.parse_handwritten`).
    """
    from geobase.geodesy.paramfiles import parse_handwritten

    if not text.lstrip().startswith("{"):
        return parse_handwritten(text, source)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParameterFileError(
            f"{source}: not valid JSON ({exc.msg}, line {exc.lineno})"
        ) from None
    if isinstance(data, dict) and "format" not in data:
        return parse_handwritten(text, source)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ParameterFileError(
            f'{source}: not a geobase parameter file (expected "format": "{FORMAT}")'
        )
    version = data.get("version")
    if version != FORMAT_VERSION:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        raise ParameterFileError(
            f"{source}: parameter file version {version!r} is not supported (this geobase "
            f"reads version {FORMAT_VERSION}" + ("; upgrade geobase)" if newer else ")")
        )
    try:
        params = TransformParameters.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "file"
        raise ParameterFileError(
            f"{source}: invalid {where}: {first['msg']} ({exc.error_count()} problem(s))"
        ) from None
    expected = proj_pipeline(params)
    if params.proj_pipeline is None and params.model == "poly2":
        return params.model_copy(update={"proj_pipeline": expected})
    if _comparable(params.proj_pipeline, params) != _comparable(expected, params):
        raise ParameterFileError(
            f"{source}: proj_pipeline does not match the parameters (edited by hand?); "
            f"expected {expected!r}"
        )
    return params


def _comparable(pipeline: str | None, params: TransformParameters) -> str | None:
    """The part of a pipeline that must match the parameters.

    For 7p only the helmert step: the steps to and from geocentric come from PROJ's
    description of the CRSs, which may be worded differently by another PROJ version.
    """
    if pipeline is None:
        return None
    text = " ".join(pipeline.split())
    if params.model == "7p":
        match = re.search(r"\+step \+proj=helmert [^+]*(?:\+(?!step)[^+]*)*", text)
        return match.group(0).strip() if match else text
    return text


# --- PROJ pipelines ----------------------------------------------------------------------


def _steps(pipeline: str) -> str:
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
    return _steps(text)


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
    terms = (1.0, u, v, u * u, u * v, v * v)
    out_e = sum(c * t for c, t in zip(p.cx, terms, strict=True)) + np.zeros_like(u)
    out_n = sum(c * t for c, t in zip(p.cy, terms, strict=True)) + np.zeros_like(u)
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


def apply(
    params: TransformParameters,
    east: ArrayLike,
    north: ArrayLike,
    h: ArrayLike | None = None,
    *,
    check: bool = True,
    labels: Sequence[Any] | None = None,
) -> tuple[NDArray[np.float64], ...]:
    """Apply fitted parameters to coordinate arrays.

    Every model runs through pyproj (the file's PROJ pipeline; poly2 as ``horner``).

    Args:
        params: The parameters (from :func:`fit` or :func:`read_parameters`).
        east: Source eastings (or longitudes where the source side is geographic).
        north: Source northings (or latitudes).
        h: Source ellipsoidal heights (7p only; taken as 0 when omitted).
        check: Check the input against the source CRS, where the file names one.
        labels: Names of the points for error messages.

    Returns:
        ``(east, north)``, or ``(east, north, h)`` when ``h`` is given to a 7p model.

    Raises:
        InvalidCoordinates: shapes differ, values implausible for the source CRS, or
            points PROJ cannot transform.
    """
    e = np.atleast_1d(np.asarray(east, dtype=np.float64))
    n = np.atleast_1d(np.asarray(north, dtype=np.float64))
    if e.shape != n.shape:
        raise InvalidCoordinates(f"east has shape {e.shape} but north has shape {n.shape}")
    if check and params.src_crs not in (None, LOCAL):
        check_coordinates(e, n, params.src_crs, labels=labels)
    p = params.parameters
    transformer = _pipeline_transformer(proj_pipeline(params))
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

    def subset(self, mask: NDArray[np.bool_]) -> CommonPoints:
        """The points where ``mask`` is True."""
        idx = np.flatnonzero(mask)
        return CommonPoints(
            ids=tuple(self.ids[i] for i in idx),
            src=self.src[idx],
            dst=self.dst[idx],
            src_h=None if self.src_h is None else self.src_h[idx],
            dst_h=None if self.dst_h is None else self.dst_h[idx],
            src_axes=self.src_axes,
            dst_axes=self.dst_axes,
            lines=None if self.lines is None else tuple(self.lines[i] for i in idx),
        )

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
        """The residuals as a DataFrame (id, role, de, dn[, du], residual)."""
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


@dataclass
class _Solution:
    x: NDArray[np.float64]  # unknowns in normalised form
    residuals: NDArray[np.float64]  # (n_active, d) observed - predicted
    hat: NDArray[np.float64]  # (n_active, d, d) diagonal blocks of the hat matrix


def _solve(a: NDArray, obs: NDArray, model: str, describe: str) -> _Solution:
    n, d, u = a.shape
    flat = a.reshape(n * d, u)
    x, _, rank, _sv = np.linalg.lstsq(flat, obs.reshape(-1), rcond=None)
    if rank < u:
        raise FitError(
            f"the common points do not determine the {model} model (rank {rank} of {u}): {describe}"
        )
    residuals = obs - np.einsum("ndu,u->nd", a, x)
    cov = np.linalg.inv(flat.T @ flat)
    hat = np.einsum("ndu,uv,nev->nde", a, cov, a)
    return _Solution(x, residuals, hat)


def _check_geometry(model: str, points: NDArray[np.float64], ids: Sequence[str]) -> None:
    centred = points - points.mean(axis=0)
    sv = np.linalg.svd(centred, compute_uv=False)
    n = len(points)
    if sv[0] / math.sqrt(n) < 1e-6:
        raise FitError(
            f"all {n} common points coincide ({', '.join(ids[:5])}"
            f"{', ...' if n > 5 else ''}); they must be spread over the area"
        )
    if model != "4p" and sv[1] / sv[0] < _DEGENERATE:
        spread = sv[1] / math.sqrt(n)
        raise FitError(
            f"the {n} common points are collinear (within {spread:.3g} m of a line); the "
            f"{model} model needs points spread in two directions over the area"
        )


def fit(
    points: CommonPoints,
    model: Model,
    *,
    src_crs: str | int | CRS | None = None,
    dst_crs: str | int | CRS | None = None,
    convention: Convention = "coordinate_frame",
    check_ids: Iterable[str] = (),
    reject: bool = True,
    reject_factor: float = 3.0,
    reject_floor: float = 0.01,
) -> FitResult:
    """Estimate transformation parameters from common points by least squares.

    Args:
        points: The common points.
        model: ``4p``, ``7p``, ``affine`` or ``poly2``.
        src_crs: Source CRS. Required for 7p (its ellipsoid); optional for plane models,
            where it is recorded in the file and used to check the coordinates.
        dst_crs: Target CRS, likewise.
        convention: Rotation sign convention of 4p and 7p parameters.
        check_ids: Ids of independent check points (检核点), held out of the fit and
            reported with their residuals.
        reject: Reject blunders iteratively (see the module docstring).
        reject_factor: Multiple of the other points' RMS beyond which a point is rejected.
        reject_floor: Residuals below this many metres are never rejected, so that
            noise-free data does not reject everything.

    Returns:
        The parameters and the report.

    Raises:
        FitError: unknown model or convention, too few points, collinear or coincident
            points, unknown check ids, geographic coordinates for a plane model, missing
            heights or CRS for 7p.
        AxisOrderError, ZonePrefixError, InvalidCoordinates: coordinates implausible for
            the given CRSs.
    """
    if model not in MODELS:
        raise FitError(f"unknown model {model!r}: expected one of {', '.join(MODELS)}")
    if convention not in CONVENTIONS:
        raise FitError(f"unknown convention {convention!r}: expected {' or '.join(CONVENTIONS)}")
    if not (reject_factor > 0 and reject_floor >= 0):
        raise FitError(
            f"reject_factor {reject_factor} / reject_floor {reject_floor}: expected > 0 / >= 0"
        )
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
    _check_geometry(model, work_src[fit_idx], fit_ids)
    describe = (
        "spread the points over the area (a 2nd-order polynomial needs at least 6 points, "
        "not on one conic)"
        if model == "poly2"
        else "spread the points over the area"
    )

    active = np.zeros(len(points), dtype=bool)
    active[fit_idx] = True
    rejected: list[str] = []
    warnings_: list[str] = []
    unknowns = _UNKNOWNS[model]
    while True:
        norm = _Normalised(work_src[active], work_dst[active])
        a = _design(model, norm.u(work_src[active]))
        solution = _solve(a, work_dst[active] - norm.dst_center, model, describe)
        n_active = int(active.sum())
        if not reject or n_active - 1 < need + 1:
            break
        worst = _worst_blunder(solution, dims, unknowns, reject_factor, reject_floor)
        if worst is None:
            break
        index = int(np.flatnonzero(active)[worst])
        active[index] = False
        rejected.append(points.ids[index])

    redundancy = int(active.sum()) * dims - unknowns
    if redundancy == 0:
        warnings_.append(
            f"no redundancy: {int(active.sum())} points determine the {unknowns} unknowns "
            "exactly; residuals are zero and blunders cannot be detected"
        )
    elif reject and int(active.sum()) - 1 < need + 1 and not rejected:
        warnings_.append(
            f"too few points to test for blunders ({int(active.sum())}; at least {need + 2} "
            "are needed)"
        )
    parameters = _parameters(model, solution.x, norm, convention)
    params = TransformParameters(
        created=datetime.now(UTC).replace(microsecond=0),
        software=_software(),
        src_crs=_crs_text(src),
        dst_crs=_crs_text(dst),
        src_axes=points.src_axes,
        dst_axes=points.dst_axes,
        parameters=parameters,
        fit=None,
    )
    pipeline = proj_pipeline(params)
    # residuals of every point against the final model, in east/north(/up) metres
    predicted = _predict(model, solution.x, norm, work_src)
    delta = work_dst - predicted
    if model == "7p":
        delta = _to_enu(delta, work_dst, dst)  # type: ignore[arg-type]
    lengths = np.sqrt((delta**2).sum(axis=1))
    roles = np.where(is_check, "check", np.where(active, "fit", "rejected"))
    records = [
        ResidualRecord(
            id=points.ids[i],
            role=roles[i],
            de=float(delta[i, 0]),
            dn=float(delta[i, 1]),
            du=float(delta[i, 2]) if dims == 3 else None,
            residual=float(lengths[i]),
        )
        for i in range(len(points))
    ]
    sse = float((delta[active] ** 2).sum())
    n_used = int(active.sum())
    rms = math.sqrt(sse / (dims * n_used))
    check_rms = None
    if is_check.any():
        check_rms = math.sqrt(float((delta[is_check] ** 2).sum()) / (dims * int(is_check.sum())))
    report = FitReport(
        n_points=len(points),
        n_fit=n_used,
        n_check=int(is_check.sum()),
        redundancy=redundancy,
        rms=rms,
        point_rms=rms * math.sqrt(dims),
        sigma0=math.sqrt(sse / redundancy) if redundancy > 0 else None,
        check_rms=check_rms,
        check_point_rms=None if check_rms is None else check_rms * math.sqrt(dims),
        rejected=rejected,
        reject_factor=reject_factor if reject else 0.0,
        reject_floor=reject_floor,
        residuals=records,
        warnings=warnings_,
    )
    return FitResult(params.model_copy(update={"proj_pipeline": pipeline, "fit": report}))


def _worst_blunder(
    solution: _Solution, dims: int, unknowns: int, factor: float, floor: float
) -> int | None:
    """Index (among active points) of the worst point beyond its threshold, or None.

    A point's test size is its residual scaled for its leverage, sqrt(v' (I - H_ii)^-1 v)
    (the externally studentised form, in metres); its threshold is ``factor`` times the
    point RMS of the fit without it (redundancy-corrected), or ``floor``.
    """
    v = solution.residuals
    n = len(v)
    dof_others = dims * (n - 1) - unknowns
    if dof_others <= 0:
        return None
    m = np.eye(dims)[None, :, :] - solution.hat
    # points with (nearly) full leverage cannot be tested: the others fit them exactly
    testable = np.linalg.det(m) > 1e-10
    if not testable.any():
        return None
    vt = v[testable]
    deleted = np.linalg.solve(m[testable], vt[..., None])[..., 0]  # leave-one-out residual
    size2 = np.maximum(np.einsum("nd,nd->n", vt, deleted), 0.0)
    sse_others = np.maximum(float((v**2).sum()) - size2, 0.0)
    rms_others = np.sqrt(dims * sse_others / dof_others)
    threshold = np.maximum(factor * rms_others, floor)
    ratio = np.sqrt(size2) / threshold
    best = int(np.argmax(ratio))
    if ratio[best] <= 1.0:
        return None
    return int(np.flatnonzero(testable)[best])


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


def _predict(model: str, x: NDArray, norm: _Normalised, src: NDArray) -> NDArray:
    """The fitted model at source points, in the working space (plane or geocentric)."""
    a = _design(model, norm.u(src))
    return np.einsum("ndu,u->nd", a, x) + norm.dst_center


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
