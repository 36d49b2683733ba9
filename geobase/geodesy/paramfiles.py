"""Parameter files: the CRSs a file carries, and hand-written 4p / 7p parameter files.

A parameter file always names the CRS its parameters come from and the one they go to
(``src_crs``, ``dst_crs``): the input is checked against the first (swapped axes, zone
prefixes) and the output is labelled with the second. A city grid without any CRS
definition is named explicitly as :data:`LOCAL` (``--from local``), never left out. A file
without them (written before this rule) is applied only when the CRSs are given on apply
(:func:`with_crs`).

Hand-written files
------------------
The seven or four parameters a provincial surveying office hands out are read from a
small TOML file (``key = value`` lines, ``#`` comments) or a JSON object with the same
keys. Every key is required unless marked optional; unknown keys are refused, so a typo
cannot pass silently. The rotation convention is always stated: ``position_vector``
(EPSG 9606, PROJ's default sense) or ``coordinate_frame`` (EPSG 9607); the same numbers
with the other convention are the known 0.5 m blunder.

Units are fixed, and ``crs apply`` states them: shifts in **metres**, rotations in
**arc-seconds**, scale in **ppm** (parts per million: ``ds = 4.0``, never the ratio
``1.000004``). Values impossible in these units are refused with the figures: a scale
within 1e-4 of 1 (a ratio), beyond 1000 ppm, a 7p rotation beyond 60 arc-seconds (a
datum shift between Chinese systems turns by a few), a 4p rotation beyond 180 degrees.
Rotations all below 0.0003 arc-seconds (under 1 cm) are warned as likely radians.

7p (Bursa-Wolf, on geocentric X, Y, Z)::

    model = "7p"
    from = "EPSG:4610"            # Xian 1980 (geographic; projected CRSs work too)
    to = "EPSG:4490"              # CGCS2000
    convention = "coordinate_frame"
    dx = -103.25                  # metres
    dy = -110.84
    dz = 48.62
    rx = 1.213                    # arc-seconds
    ry = -2.041
    rz = 3.307
    ds = 2.45                     # ppm
    description = "广东省 西安80 -> CGCS2000, 2019"   # optional

4p (plane similarity on projected coordinates)::

    model = "4p"
    from = "EPSG:2384"            # Xian 1980 / 3-degree GK CM 117E
    to = "EPSG:4548"              # CGCS2000 / 3-degree GK CM 117E
    convention = "position_vector"
    axes = "north_east"           # dx, dy along surveying x = north, y = east
    dx = -18.431                  # metres
    dy = 92.118
    rotation = 2.85               # arc-seconds
    scale = -4.12                 # ppm

With ``position_vector`` a 4p file means, in its own axis order (a, b) = (east, north)
for ``axes = "east_north"`` or (x, y) = (north, east) for ``"north_east"``:
a' = dx + k (a cos r - b sin r), b' = dy + k (a sin r + b cos r), k = 1 + scale 1e-6; the
usual Chinese four-parameter formula x' = dx + (1+m)(x cos a - y sin a),
y' = dy + (1+m)(x sin a + y cos a) is ``position_vector`` with ``north_east``.
``coordinate_frame`` turns the other way (r with the opposite sign).

Example:
    >>> params = parse_handwritten('''
    ... model = "4p"
    ... from = "EPSG:2384"
    ... to = "EPSG:4548"
    ... convention = "position_vector"
    ... axes = "east_north"
    ... dx = 10.0
    ... dy = -5.0
    ... rotation = 1.5
    ... scale = 2.0
    ... ''')
    >>> params.parameters.rotation, params.src_crs
    (1.5, 'EPSG:2384')
"""

from __future__ import annotations

import json
import logging
import math
import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError
from pyproj import CRS

from geobase.errors import ParameterFileError, SourceReadError
from geobase.geodesy.fit import (
    FORMAT,
    FORMAT_VERSION,
    LOCAL,
    BursaWolf,
    Helmert2D,
    TransformParameters,
    proj_pipeline,
)
from geobase.geodesy.zones import crs_label, resolve_crs
from geobase.tabular import decode

__all__ = [
    "LOCAL",
    "declared_crs",
    "parse_handwritten",
    "parse_parameters",
    "read_parameters",
    "units_line",
    "with_crs",
]

logger = logging.getLogger(__name__)

Convention = Literal["coordinate_frame", "position_vector"]


def declared_crs(value: str | None) -> CRS | None:
    """The CRS a parameter file names (None for :data:`LOCAL` or none named)."""
    if value is None or value == LOCAL:
        return None
    return resolve_crs(value)


def _same(a: str, b: str) -> bool:
    if LOCAL in (a, b):
        return a == b
    return resolve_crs(a).equals(resolve_crs(b))


def with_crs(
    params: TransformParameters,
    src: str | None = None,
    dst: str | None = None,
    *,
    source: str = "parameters",
) -> TransformParameters:
    """The parameters with both CRSs named, ready to apply.

    Args:
        params: Parameters as read from a file.
        src: The source CRS given on apply (``--from``), or :data:`LOCAL`.
        dst: The target CRS given on apply (``--to``), or :data:`LOCAL`.
        source: The file's name in messages.

    Returns:
        ``params`` with ``src_crs`` and ``dst_crs`` filled from ``src`` / ``dst`` where
        the file names none.

    Raises:
        ParameterFileError: a CRS named neither by the file nor on apply, or one given
            on apply that differs from the file's.
        UnknownCRS: ``src`` or ``dst`` is not a CRS.
    """
    update = {}
    for side, given, flag in (("src_crs", src, "--from"), ("dst_crs", dst, "--to")):
        stored = getattr(params, side)
        if given is not None and given != LOCAL:
            resolve_crs(given)
        if stored is None and given is None:
            what = "source" if side == "src_crs" else "target"
            raise ParameterFileError(
                f"{source} does not say which CRS its parameters are for ({side} missing; "
                f"written by an older geobase or by hand?); pass the {what} CRS with {flag} "
                "(or 'local' for a city grid without a CRS definition)"
            )
        if stored is None:
            update[side] = given
        elif given is not None and not _same(stored, given):
            shown = stored if stored == LOCAL else crs_label(resolve_crs(stored))
            raise ParameterFileError(
                f"{source} is for {side} {shown} but {flag} {given} was given; leave {flag} "
                "out or use parameters fitted for that CRS"
            )
    return params.model_copy(update=update) if update else params


def read_parameters(path: str | Path) -> TransformParameters:
    """Read and validate a parameter file: geobase JSON, or a hand-written 4p/7p file
    (see the module docstring), UTF-8 or GBK.

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
    try:  # hand-written files from Chinese offices are often GBK
        text, _ = decode(raw, str(path))
    except SourceReadError as err:
        raise ParameterFileError(str(err)) from err
    return parse_parameters(text, source=str(path))


def parse_parameters(text: str, source: str = "parameters") -> TransformParameters:
    """Validate the text of a parameter file; see :func:`read_parameters`.

    The text is read into data once (:func:`_load`: JSON, or TOML), then dispatched: with
    ``"format"`` it is a file geobase wrote, checked against its format and PROJ
    pipeline; without, a hand-written 4p/7p file (:func:`parse_handwritten`).
    """
    data = _load(text, source)
    if "format" not in data:
        return _handwritten(data, source)
    return _written(data, source)


def _written(data: dict, source: str) -> TransformParameters:
    """A parameter file geobase wrote (``"format": "geobase-transform-parameters"``)."""
    if data.get("format") != FORMAT:
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
    except PydanticError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "file"
        raise ParameterFileError(
            f"{source}: invalid {where}: {first['msg']} ({exc.error_count()} problem(s))"
        ) from exc
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


# --- hand-written files ------------------------------------------------------------------


class _Handwritten(BaseModel):
    # TOML and JSON both spell nan and inf; a parameter that is not finite is refused
    # here, naming the key, not later as "point 0 cannot be transformed"
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )

    src: str = Field(alias="from")
    dst: str = Field(alias="to")
    convention: Convention
    description: str | None = None


class _SevenParameters(_Handwritten):
    model: Literal["7p"]
    dx: float
    dy: float
    dz: float
    rx: float
    ry: float
    rz: float
    ds: float


class _FourParameters(_Handwritten):
    model: Literal["4p"]
    axes: Literal["east_north", "north_east"]
    dx: float
    dy: float
    rotation: float
    scale: float


def _load(text: str, source: str) -> dict:
    """A parameter file's text as data: a JSON object, or TOML ``key = value`` lines.

    The one reader of parameter-file text; :func:`parse_parameters` dispatches on it.
    """
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ParameterFileError(
                f"{source}: not valid JSON ({exc.msg}, line {exc.lineno})"
            ) from None
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ParameterFileError(
                f"{source}: neither a geobase parameter file (JSON) nor a hand-written 4p/7p "
                f"file (TOML key = value lines): {exc}"
            ) from None
    if not isinstance(data, dict):
        raise ParameterFileError(f"{source}: expected an object of keys, got {type(data).__name__}")
    return data


# Plausible sizes of hand-written parameters in their stated units. A provincial office's
# Beijing 1954 / Xian 1980 -> CGCS2000 7p has shifts of tens to hundreds of metres,
# rotations of a few arc-seconds and a scale of a few ppm.
MAX_ROTATION_7P = 60.0  # arc-seconds: 1.9 km at the Earth's radius
MAX_ROTATION_4P = 648_000.0  # arc-seconds (180 degrees): a 4p may turn a rotated city grid
MAX_SCALE_PPM = 1000.0  # 0.1 %: beyond any datum or projection-height scale
RADIAN_LIKE = 3e-4  # arc-seconds: 9 mm at the Earth's radius; as radians, 62 arc-seconds
RATIO_LIKE = 1e-4  # ds within this of 1 (but not 1): the 1 + ppm/1e6 ratio, not ppm
ARCSEC_PER_RADIAN = 180 / math.pi * 3600


def _check_units(given: _SevenParameters | _FourParameters, source: str) -> None:
    """Refuse values impossible in the stated units, warn on ones that look like another.

    Raises:
        ParameterFileError: a scale that is a ratio (1.000004) or beyond 1000 ppm, a
            rotation beyond :data:`MAX_ROTATION_7P` (7p) or 180 degrees (4p).
    """
    if isinstance(given, _SevenParameters):
        model, scale_key, limit = "7p", "ds", MAX_ROTATION_7P
        rotations = {"rx": given.rx, "ry": given.ry, "rz": given.rz}
        scale = given.ds
    else:
        model, scale_key, limit = "4p", "scale", MAX_ROTATION_4P
        rotations = {"rotation": given.rotation}
        scale = given.scale
    if scale != 1.0 and abs(scale - 1.0) <= RATIO_LIKE:
        raise ParameterFileError(
            f"{source}: {scale_key} = {scale!r} looks like a ratio; give ppm "
            f"({scale_key} = {(scale - 1.0) * 1e6:.6g}): the scale of a {model} file is in ppm"
        )
    if abs(scale) > MAX_SCALE_PPM:
        raise ParameterFileError(
            f"{source}: {scale_key} = {scale:g} ppm is {abs(scale) / 1e4:g} %, beyond "
            f"{MAX_SCALE_PPM:g} ppm; the scale of a {model} file is in ppm (a few ppm between "
            "Chinese datums)"
        )
    for key, value in rotations.items():
        if abs(value) > limit:
            raise ParameterFileError(
                f"{source}: {key} = {value:g} arc-seconds is beyond {limit:g} "
                f"({abs(value) / 3600:.4g} degrees); rotations of a {model} file are "
                "arc-seconds (a few between Chinese datums): another unit?"
            )
    largest = max(abs(v) for v in rotations.values())
    if 0 < largest <= RADIAN_LIKE:
        shown = ", ".join(f"{k} = {v:g}" for k, v in rotations.items())
        logger.warning(
            "%s: %s arc-seconds move points by at most %.2g mm at the Earth's radius; "
            "if they are radians they are %.4g arc-seconds: rotations are arc-seconds",
            source,
            shown,
            largest / ARCSEC_PER_RADIAN * 6_378_137 * 1000,
            largest * ARCSEC_PER_RADIAN,
        )


def units_line(params: TransformParameters) -> str | None:
    """The units the parameters are read in, for ``crs apply``; None for affine/poly2."""
    parameters = params.parameters
    if isinstance(parameters, BursaWolf):
        return (
            "7p: shifts in metres, rotations in arc-seconds "
            f"({parameters.convention}), scale in ppm"
        )
    if isinstance(parameters, Helmert2D):
        return (
            f"4p: shifts in metres, rotation in arc-seconds ({parameters.convention}), scale in ppm"
        )
    return None


def _side(value: str, source: str, key: str) -> tuple[str, str]:
    """(CRS text, axes) of one side of a hand-written file."""
    if value == LOCAL:
        raise ParameterFileError(
            f"{source}: {key} = 'local' is not allowed in a hand-written 4p/7p file; name the CRS"
        )
    try:
        crs = resolve_crs(value)
    except ValueError as exc:
        raise ParameterFileError(f"{source}: {key}: {exc}") from None
    return value, "lon_lat" if crs.is_geographic else "east_north"


def parse_handwritten(text: str, source: str = "parameters") -> TransformParameters:
    """Read a hand-written 4p or 7p parameter file (see the module docstring).

    Args:
        text: The file's text (TOML, or a JSON object with the same keys).
        source: The file's name in messages.

    Returns:
        The parameters, with their PROJ pipeline, CRSs and no fit report.

    Raises:
        ParameterFileError: not TOML/JSON, a missing, unknown or invalid key, a
            convention or axis order not stated, CRSs that do not fit the model.
    """
    return _handwritten(_load(text, source), source)


def _handwritten(data: dict, source: str) -> TransformParameters:
    """A hand-written 4p/7p file's data (:func:`_load`) as parameters."""
    model = data.get("model")
    schemas: dict[object, type[_SevenParameters | _FourParameters]] = {
        "7p": _SevenParameters,
        "4p": _FourParameters,
    }
    schema = schemas.get(model)
    if model is None:
        raise ParameterFileError(
            f'{source}: not a geobase parameter file (no "format": "{FORMAT}") nor a '
            'hand-written 4p/7p file (no model = "7p" or "4p")'
        )
    if schema is None:
        raise ParameterFileError(
            f"{source}: model {model!r} is not a hand-written model; expected model = "
            '"7p" or "4p" (fitted affine / poly2 files come from geobase crs fit)'
        )
    try:
        given = schema.model_validate(data)
    except PydanticError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "file"
        message = first["msg"]
        if first["type"] == "missing":
            missing = [".".join(map(str, e["loc"])) for e in exc.errors() if e["type"] == "missing"]
            where, message = ", ".join(missing), "missing"
        raise ParameterFileError(
            f"{source}: {model} file: {where}: {message} ({exc.error_count()} problem(s))"
        ) from exc
    _check_units(given, source)
    src, src_axes = _side(given.src, source, "from")
    dst, dst_axes = _side(given.dst, source, "to")
    if isinstance(given, _SevenParameters):
        parameters: Helmert2D | BursaWolf = BursaWolf(
            convention=given.convention,
            tx=given.dx,
            ty=given.dy,
            tz=given.dz,
            rx=given.rx,
            ry=given.ry,
            rz=given.rz,
            scale_ppm=given.ds,
        )
    else:
        if "lon_lat" in (src_axes, dst_axes):
            raise ParameterFileError(
                f"{source}: a 4p file works on projected coordinates but "
                f"{'from' if src_axes == 'lon_lat' else 'to'} is geographic; name the "
                "Gauss-Kruger CRSs (e.g. EPSG:2384 -> EPSG:4548)"
            )
        north_first = given.axes == "north_east"
        # (x, y) = (north, east): swapping the axes swaps the shifts and turns the
        # rotation the other way (a mirror); the convention keeps its meaning
        parameters = Helmert2D(
            convention=given.convention,
            tx=given.dy if north_first else given.dx,
            ty=given.dx if north_first else given.dy,
            rotation=-given.rotation if north_first else given.rotation,
            scale_ppm=given.scale,
        )
    params = TransformParameters(
        created=datetime.now(UTC),
        software=f"hand-written ({given.description})" if given.description else "hand-written",
        src_crs=src,
        dst_crs=dst,
        src_axes=src_axes,  # type: ignore[arg-type]
        dst_axes=dst_axes,  # type: ignore[arg-type]
        parameters=parameters,
    )
    return params.model_copy(update={"proj_pipeline": proj_pipeline(params)})
