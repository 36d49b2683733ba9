"""The one validator of control-point rows: text cells in, record values or a problem out.

Every import path (CSV in UTF-8 or GBK, Excel .xlsx, GeoPackage, GeoJSON, the new position
of a moved mark) reads its rows into a frame of text cells
(:func:`geobase.control.sources.read_source`) and hands it to :func:`parse_rows`, so a row
is accepted or refused for the same reason whatever its file.

The rules run column by column, in a fixed order; a row's problem is the first rule it
breaks (:class:`_Problems`), so a row with several faults is always refused for the same
one. Number cells are ``float(text)`` (numpy applies the same conversion to a whole column
at once), angles also accept D°M'S", and text cells that need a lookup (kind and grades,
CRS, provenance) are parsed once per distinct value. Rows are then reconciled
(coordinates, zones, districts) by :mod:`geobase.control.reconcile`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from geobase.control.columns import COLUMN_ALIASES
from geobase.control.records import (
    GRADE_CODES,
    KIND_SCHEME,
    parse_epoch,
    parse_grades,
    parse_kind,
    parse_mark_type,
    parse_source,
)
from geobase.dates import parse_date
from geobase.errors import GeobaseError, ValidationError
from geobase.geodesy.zones import GKZone, gk_zone_of, resolve_crs
from geobase.sheets import parse_angle

MAX_ID_LENGTH = 64
FLOAT_FIELDS = ("lat", "lon", "x_north", "y_east", "ellh", "normal_h")
GRADE_FIELDS = ("grade", "gnss_grade", "level_grade", "cjj_grade")
PROVENANCE_FIELDS = (
    "source",
    "epoch",
    "geo_source",
    "grid_source",
    "height_source",
    "geo_epoch",
    "grid_epoch",
    "height_epoch",
    "mark_type",
    "established",
)
_PROVENANCE_OUT = (
    "geo_source",
    "grid_source",
    "height_source",
    "geo_epoch",
    "grid_epoch",
    "height_epoch",
    "mark_type",
    "established",
)
#: the record columns :func:`parse_rows` gives (besides ``has_geo`` and ``has_grid``)
COLUMNS = (
    "point_id",
    "name",
    "kind",
    "cors",
    "gnss_grade",
    "level_grade",
    "cjj_grade",
    "district",
    "lat",
    "lon",
    "x_north",
    "y_east",
    "gk_epsg",
    "zone",
    "ellh",
    "normal_h",
    *_PROVENANCE_OUT,
    "custodian",
    "site",
    "route",
    "notes",
)
_TEXT_FIELDS = ("district", "custodian", "site", "route", "notes")
_WIDTHS: tuple[Literal[3, 6], ...] = (3, 6)


@dataclass(frozen=True)
class Context:
    """What rows are checked against: the workspace CRS, its districts, today."""

    default_crs: Any
    districts: Any  # GeoDataFrame or None
    today: dt.date


# --- cells ---------------------------------------------------------------------------------


def number(text: Any, column: str) -> float:
    """A number cell: ``float(text)``, finite.

    Raises:
        ValidationError: not a number, or NaN/infinite.
    """
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValidationError(f"{column} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValidationError(f"{column} {text!r} is not a finite number")
    return value


def angle(text: Any, column: str) -> float:
    """An angle cell: decimal degrees or D°M'S" (:func:`geobase.sheets.parse_angle`), finite.

    Raises:
        ValidationError: neither, or NaN/infinite.
    """
    try:
        value = float(text)
    except (TypeError, ValueError):
        try:
            value = float(parse_angle(text))
        except GeobaseError:
            raise ValidationError(
                f"{column} {text!r} is not a number (decimal degrees or D°M'S\")"
            ) from None
    if not math.isfinite(value):
        raise ValidationError(f"{column} {text!r} is not a finite number")
    return value


def grid_zone(
    spec: str | None, prefix: int | None, prefixed: bool, default_crs: Any
) -> tuple[int, GKZone]:
    """(EPSG code, GK zone) of a row's grid coordinates.

    Args:
        spec: the row's CRS cell (an EPSG code or name, or a zone number), or None.
        prefix: the easting's leading zone number where the easting lies in
            1,000,000..1e9 (``int(y // 1e6)``), else None.
        prefixed: the easting is 1,000,000 or more.
        default_crs: the workspace CRS, used where neither the cell nor a prefix says.

    Raises:
        ValidationError: no such zone, or a CRS that is no CGCS2000 Gauss-Kruger system.
    """
    if spec is None:
        if prefix is not None:
            for width in _WIDTHS:
                try:
                    zone = GKZone(width, prefix, True)
                except GeobaseError:
                    continue
                return zone.epsg, zone
            # no zone has this prefix: check against the workspace CRS, which explains
            # the likely cause (swapped X/Y, a wrong prefix)
        default = gk_zone_of(default_crs)
        if default is None:
            raise ValidationError(
                "x/y given without a CRS column and the workspace CRS is no Gauss-Kruger system"
            )
        return default.epsg, default
    text = spec.strip()
    if text.isdigit() and int(text) < 100:
        for width in _WIDTHS:
            try:
                zone = GKZone(width, int(text), prefixed)
            except GeobaseError:
                continue
            return zone.epsg, zone
        raise ValidationError(f"zone {text} is no CGCS2000 3- or 6-degree Gauss-Kruger zone")
    found = gk_zone_of(resolve_crs(text))  # UnknownCRS names the text
    if found is None:
        raise ValidationError(
            f"CRS {text!r} is not a CGCS2000 Gauss-Kruger system (EPSG:4491..4554)"
        )
    return found.epsg, found


def kind_grades(kind_text: str | None, grade_texts: tuple) -> tuple[str, dict[str, str]]:
    """A row's kind and {scheme: code} from its kind and grade cells.

    Raises:
        ValidationError, UnknownGrade: an unknown kind or grade, two grades of one scheme,
            or no grade of the kind's own scheme.
    """
    kind = parse_kind(kind_text) if kind_text else None
    grades: dict[str, str] = {}
    for text in grade_texts:
        for scheme, code in parse_grades(text, kind).items():
            if scheme in grades and grades[scheme] != code:
                raise ValidationError(f"two {scheme} grades: {grades[scheme]} and {code}")
            grades[scheme] = code
    if kind is None:
        order = (("cors", "cors"), ("gnss", "gnss"), ("levelling", "levelling"), ("city", "cjj"))
        kind = next((k for k, s in order if s in grades), None)
        if kind is None:
            raise ValidationError(
                "missing grade (等级): give a GNSS, levelling or CJJ grade, or kind cors"
            )
    own = KIND_SCHEME[kind]
    if own != "cors" and own not in grades:
        allowed = ", ".join(GRADE_CODES[own])
        raise ValidationError(
            f"missing grade (等级): a {kind} point needs a {own} grade ({allowed})"
        )
    return kind, grades


def provenance(texts: tuple, today: dt.date) -> tuple:
    """(geo, grid, height source; geo, grid, height epoch; mark type; date established)
    from the cells of :data:`PROVENANCE_FIELDS`.

    Raises:
        ValidationError: an unknown source or mark type, a bad epoch or date, or a date
            established in the future.
    """
    source, epoch, *sources_epochs, mark, established_text = texts
    common_source = parse_source(source) if source else None
    common_epoch = parse_epoch(epoch) if epoch else None
    sources = [parse_source(t) if t else common_source for t in sources_epochs[:3]]
    epochs = [parse_epoch(t) if t else common_epoch for t in sources_epochs[3:]]
    mark_type = parse_mark_type(mark) if mark else None
    established = (
        parse_date(established_text, "date established", partial=True) if established_text else None
    )
    if established is not None and established > today:
        raise ValidationError(f"date established {established} is in the future")
    return (*sources, *epochs, mark_type, established)


# --- columns -------------------------------------------------------------------------------


class _Problems:
    """The first problem of each row: rules run in order and never replace an earlier one."""

    def __init__(self) -> None:
        self.by_row: dict[int, str] = {}

    def add(self, rows: Iterable[int], message: str | Callable[[int], str]) -> None:
        for i in rows:
            if i not in self.by_row:
                self.by_row[i] = message(i) if callable(message) else message

    def update(self, found: dict[int, str]) -> None:
        for i, message in found.items():
            self.by_row.setdefault(i, message)


def _cells(data: dict[str, np.ndarray], n: int, column: str | None) -> np.ndarray:
    """A column's cells as an object array (None where empty or no such column)."""
    if column is None or column not in data:
        return np.full(n, None, dtype=object)
    values = data[column].copy()
    values[pd.isna(values)] = None
    for i, value in enumerate(values.tolist()):
        if isinstance(value, str) and (not value or value[0].isspace() or value[-1].isspace()):
            values[i] = value.strip() or None  # as every reader gives it
    return values


def _present(cells: np.ndarray) -> np.ndarray:
    return cells != None  # noqa: E711 - elementwise


def _per_value(keys: Sequence[Hashable], fn: Callable[[Any], Any]) -> tuple[list, dict[int, str]]:
    """``fn(key)`` for each row's key, computed once per distinct key: (values, None where
    ``fn`` refused; {row: the refusal})."""
    cache: dict[Hashable, tuple[Any, str | None]] = {}
    for key in set(keys):
        try:
            cache[key] = (fn(key), None)
        except GeobaseError as exc:
            cache[key] = (None, str(exc))
    values = [cache[key][0] for key in keys]
    problems = {i: cache[k][1] for i, k in enumerate(keys) if cache[k][1] is not None}
    return values, problems  # type: ignore[return-value]


def _numbers(
    cells: np.ndarray, column: str, parse: Callable[[Any, str], float] = number
) -> tuple[np.ndarray, dict[int, str]]:
    """A column of number (or angle) cells: (values, NaN where empty or refused; {row:
    problem}). ``parse`` decides each cell; numpy's ``astype(float)`` (the same
    ``float(text)``) settles a column of plain finite numbers at once."""
    out = np.full(len(cells), np.nan)
    present = np.flatnonzero(_present(cells))
    texts = cells[present]
    try:
        fast = texts.astype(float)
    except (TypeError, ValueError):
        fast = None
    if fast is not None and np.isfinite(fast).all():
        out[present] = fast
        return out, {}
    values, problems = _per_value(texts.tolist(), lambda text: parse(text, column))
    out[present] = [np.nan if v is None else v for v in values]
    return out, {int(present[k]): msg for k, msg in problems.items()}


def parse_rows(
    frame: pd.DataFrame, fields: dict[str, str], ctx: Context
) -> tuple[dict[str, np.ndarray], dict[int, str]]:
    """Parse a frame of text cells (one row per input record) into record columns.

    Args:
        frame: a DataFrame of strings or None (:func:`geobase.control.sources.read_source`).
        fields: {canonical field: column} (:func:`geobase.control.columns.map_columns`).
        ctx: the workspace CRS, districts and today.

    Returns:
        (column -> values, one per input row; {row index: the row's first problem}).
        Coordinates are as given (not yet reconciled); rows with a problem hold
        placeholder values.
    """
    n = len(frame)
    table = frame.to_numpy(dtype=object)
    data = {str(name): table[:, k] for k, name in enumerate(frame.columns)}
    cell = {name: _cells(data, n, fields.get(name)) for name in COLUMN_ALIASES}
    problems = _Problems()
    out: dict[str, np.ndarray] = {}

    ids = cell["point_id"]
    problems.add(np.flatnonzero(~_present(ids)).tolist(), "missing point id (点号)")
    bad_ids = [
        i
        for i, pid in enumerate(ids.tolist())
        if pid is not None and (any(c.isspace() for c in str(pid)) or len(str(pid)) > MAX_ID_LENGTH)
    ]
    problems.add(
        bad_ids, lambda i: f"point id {ids[i]!r} has blanks or is longer than {MAX_ID_LENGTH}"
    )
    problems.add(
        np.flatnonzero(~_present(cell["name"])).tolist(),
        lambda i: f"point {ids[i]}: missing name (点名)",
    )
    out["point_id"], out["name"] = ids, cell["name"]

    keys = list(zip(cell["kind"].tolist(), *(cell[c].tolist() for c in GRADE_FIELDS), strict=True))
    kinds, found = _per_value(keys, lambda k: kind_grades(k[0], tuple(k[1:])))
    problems.update(found)
    kinds = [k if k is not None else ("gnss", {}) for k in kinds]
    out["kind"] = np.array([k for k, _ in kinds], dtype=object)
    out["cors"] = np.array([k == "cors" or "cors" in g for k, g in kinds], dtype=bool)
    for name, scheme in (
        ("gnss_grade", "gnss"),
        ("level_grade", "levelling"),
        ("cjj_grade", "cjj"),
    ):
        out[name] = np.array([g.get(scheme) for _, g in kinds], dtype=object)

    # B/L as typed, else a vector file's geographic point geometry
    lat, found = _numbers(cell["lat"], fields.get("lat", ""), angle)
    problems.update(found)
    lon, found = _numbers(cell["lon"], fields.get("lon", ""), angle)
    problems.update(found)
    if "__lon" in data:
        alt = ~_present(cell["lat"]) & ~_present(cell["lon"])
        for target, column, label in (
            (lat, "__lat", "point latitude"),
            (lon, "__lon", "point longitude"),
        ):
            values, found = _numbers(_cells(data, n, column), label)
            problems.update({i: m for i, m in found.items() if alt[i]})
            target[alt] = values[alt]
    # X/Y as typed, else a vector file's projected point geometry and its CRS
    x, found = _numbers(cell["x_north"], fields.get("x_north", ""))
    problems.update(found)
    y, found = _numbers(cell["y_east"], fields.get("y_east", ""))
    problems.update(found)
    crs = cell["crs"]
    if "__x" in data:
        alt = ~_present(cell["x_north"]) & ~_present(cell["y_east"])
        for target, column, label in ((x, "__x", "point northing"), (y, "__y", "point easting")):
            values, found = _numbers(_cells(data, n, column), label)
            problems.update({i: m for i, m in found.items() if alt[i]})
            target[alt] = values[alt]
        geometry_crs = _cells(data, n, "__crs")
        crs = np.where(alt & ~_present(crs), geometry_crs, crs)

    has_lat, has_lon = ~np.isnan(lat), ~np.isnan(lon)
    has_grid, has_y = ~np.isnan(x), ~np.isnan(y)
    problems.add(
        np.flatnonzero(has_lat != has_lon).tolist(),
        "give both latitude (B, 纬度) and longitude (L, 经度), or neither",
    )
    problems.add(
        np.flatnonzero(has_grid != has_y).tolist(),
        "give both X (northing) and Y (easting), or neither",
    )
    has_geo = has_lat & has_lon
    has_grid &= has_y
    problems.add(
        np.flatnonzero(~has_geo & ~has_grid).tolist(),
        "no coordinates: give B/L (纬度/经度) or X/Y",
    )
    out.update(lat=lat, lon=lon, x_north=x, y_east=y, has_geo=has_geo, has_grid=has_grid)

    # the grid zone depends on the CRS cell and, without one, on the easting's prefix
    ys = np.where(has_grid, y, 0.0)
    in_prefix_range = (ys >= 1_000_000) & (ys < 1e9)
    prefixes = np.floor_divide(np.where(in_prefix_range, ys, 0.0), 1e6).astype(np.int64)
    wanted = has_grid | _present(crs)
    zone_keys: list[Hashable] = [
        (c, int(p) if r else None, bool(big)) if w else None
        for c, p, r, big, w in zip(
            crs.tolist(),
            prefixes.tolist(),
            in_prefix_range.tolist(),
            (ys >= 1_000_000).tolist(),
            wanted.tolist(),
            strict=True,
        )
    ]

    def zone_of(key: Any) -> tuple[int, GKZone | None]:
        if key is None:
            return (0, None)
        spec, prefix, prefixed = key
        return grid_zone(spec, prefix, prefixed, ctx.default_crs)

    zones, found = _per_value(zone_keys, zone_of)
    problems.update(found)
    out["gk_epsg"] = np.array([z[0] if z else 0 for z in zones], dtype=np.int64)
    out["zone"] = np.array([z[1] if z else None for z in zones], dtype=object)

    for name in ("ellh", "normal_h"):
        out[name], found = _numbers(cell[name], fields.get(name, ""))
        problems.update(found)

    keys = list(zip(*(cell[f].tolist() for f in PROVENANCE_FIELDS), strict=True))
    prov, found = _per_value(keys, lambda k: provenance(k, ctx.today))
    problems.update(found)
    prov = [p if p is not None else (None,) * len(_PROVENANCE_OUT) for p in prov]
    for k, name in enumerate(_PROVENANCE_OUT):
        out[name] = np.array([p[k] for p in prov], dtype=object)
    # given values default to "adjusted"; computed ones become "converted" in reconcile
    has_h = ~np.isnan(out["normal_h"])
    for name, given in (
        ("geo_source", has_geo),
        ("grid_source", has_grid),
        ("height_source", has_h),
    ):
        values = out[name]
        values[given & ~_present(values)] = "adjusted"
        values[~given] = None
    out["height_epoch"][~has_h] = None
    for name in _TEXT_FIELDS:
        out[name] = cell[name]
    return out, problems.by_row
