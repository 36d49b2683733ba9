"""The transformation parameter set: the four models' records, the fit report, the file.

What a fit produces and a parameter file holds (the ``geobase-transform-parameters``
JSON, version :data:`FORMAT_VERSION`): the pydantic records of the models (``4p``
:class:`Helmert2D`, ``7p`` :class:`BursaWolf`, :class:`Affine`, :class:`Poly2`), the
residual and rejection records of the :class:`FitReport`, and :func:`write_parameters`.
Reading and hand-written files are :mod:`geobase.geodesy.paramfiles`; the fit itself is
:mod:`geobase.geodesy.fit`.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pyproj import CRS

from geobase.errors import ParameterFileError
from geobase.geodesy.zones import resolve_crs

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
