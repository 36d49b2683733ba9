"""Importing control points from CSV, Excel (.xlsx), GeoPackage and GeoJSON into the registry.

Every row is validated; a file with any bad row writes nothing (the whole import is one
transaction) unless ``skip_invalid`` is set, in which case the good rows are written and
the bad ones saved beside the input as ``<name>.rejects.csv`` with their line and reason.

Columns are recognised by their English or Chinese names (see :data:`COLUMN_ALIASES`).
``H`` is the 1985 normal height (高程) and ``h`` the ellipsoidal height (大地高), as
surveyors write them; ``X`` is the northing and ``Y`` the easting (surveying order).

Re-importing a point whose coordinates changed keeps the replaced values in
``control_point_history`` and bumps the record's version; re-importing an unchanged point
changes nothing, so an import can be repeated safely.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

from geobase.areas import deferred_warnings
from geobase.control.records import (
    GRADE_CODES,
    KIND_SCHEME,
    ControlPoint,
    parse_date,
    parse_epoch,
    parse_grades,
    parse_kind,
    parse_mark_type,
    parse_source,
)
from geobase.errors import (
    EmptyInputError,
    GeobaseError,
    SourceReadError,
    ValidationError,
)
from geobase.geodesy.transform import ZONE_OVERLAP, check_coordinates, transform, within_zone
from geobase.geodesy.zones import GKZone, gk_zone_of, resolve_crs, zone_for
from geobase.paths import atomic_output
from geobase.sheets import parse_angle, rect_sheet_codes, sheet_codes
from geobase.store import Workspace, utc_now
from geobase.tabular import FILE_ENCODING, encode_csv, read_csv, read_xlsx

logger = logging.getLogger(__name__)

AGREEMENT_M = 0.001  # B/L and x/y of one point must agree within 1 mm
MAX_ID_LENGTH = 64
Progress = Callable[[int, int | None], None]

# canonical field -> accepted column names (compared case-insensitively, blanks and
# underscores ignored), except "H"/"h" which are case-sensitive (normal / ellipsoidal).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "point_id": ("point_id", "id", "点号", "编号", "点编号", "点之记编号"),
    "name": ("name", "点名", "名称", "点名称"),
    "kind": ("kind", "type", "类型", "点类型", "类别"),
    "grade": ("grade", "grades", "等级"),
    "gnss_grade": ("gnss_grade", "gnss等级", "gps等级"),
    "level_grade": ("level_grade", "levelling_grade", "水准等级"),
    "cjj_grade": ("cjj_grade", "cjj等级", "城市等级"),
    "lat": ("lat", "latitude", "b", "纬度", "大地纬度"),
    "lon": ("lon", "lng", "longitude", "l", "经度", "大地经度"),
    "ellh": ("ellh", "ellipsoidal_height", "大地高"),
    "x_north": ("x", "x_north", "northing", "北坐标", "纵坐标", "x坐标"),
    "y_east": ("y", "y_east", "easting", "东坐标", "横坐标", "y坐标"),
    "normal_h": ("normal_h", "normal_height", "高程", "正常高", "水准高程"),
    "crs": ("crs", "epsg", "坐标系", "投影", "带号", "zone"),
    "source": ("source", "来源", "坐标来源"),
    "epoch": ("epoch", "历元", "坐标历元"),
    "geo_source": ("geo_source", "bl_source", "大地坐标来源"),
    "geo_epoch": ("geo_epoch", "bl_epoch"),
    "grid_source": ("grid_source", "xy_source", "平面坐标来源"),
    "grid_epoch": ("grid_epoch", "xy_epoch"),
    "height_source": ("height_source", "h_source", "高程来源"),
    "height_epoch": ("height_epoch",),
    "district": ("district", "区县", "行政区", "所在区", "所在区县"),
    "mark_type": ("mark_type", "标石类型", "标志类型", "标型"),
    "established": ("established", "date_established", "埋设日期", "建立日期", "建点日期"),
    "custodian": ("custodian", "保管人", "保管单位", "委托保管"),
    "site": ("site", "site_description", "点位说明", "所在地", "位置"),
    "route": ("route", "route_description", "交通路线", "路线", "交通情况"),
    "notes": ("notes", "remarks", "备注"),
}
_CASE_SENSITIVE = {"H": "normal_h", "h": "ellh"}


def _key(name: str) -> str:
    return re.sub(r"[\s_\-()（）]", "", str(name)).lower()


_ALIAS_INDEX = {_key(a): f for f, aliases in COLUMN_ALIASES.items() for a in aliases}


def map_columns(columns: Sequence[str]) -> dict[str, str]:
    """{canonical field: column} for the columns of an input that geobase recognises.

    Raises:
        ValidationError: two columns map to the same field.
    """
    out: dict[str, str] = {}
    for column in columns:
        name = str(column).strip()
        if name.startswith("__"):  # geometry columns added by read_source
            continue
        target = _CASE_SENSITIVE.get(name) or _ALIAS_INDEX.get(_key(name))
        if target is None:
            continue
        if target in out:
            raise ValidationError(
                f"columns {out[target]!r} and {name!r} both give {target}; keep one"
            )
        out[target] = name
    return out


@dataclass
class ImportResult:
    """What an import did."""

    source: Path
    rows: int = 0
    added: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)  # coordinates changed; history kept
    changed: list[str] = field(default_factory=list)  # other fields changed
    unchanged: int = 0
    rejected: list[tuple[int | None, str]] = field(default_factory=list)
    rejects_path: Path | None = None
    encoding: str | None = None

    def summary(self) -> str:
        parts = [
            f"{len(self.added)} added",
            f"{len(self.moved)} with new coordinates (old values kept as history)",
            f"{len(self.changed)} updated",
            f"{self.unchanged} unchanged",
        ]
        if self.rejected:
            parts.append(f"{len(self.rejected)} rejected (saved to {self.rejects_path})")
        return f"{self.source.name}: {self.rows} rows: " + ", ".join(parts)


# --- reading ------------------------------------------------------------------------------


def read_source(path: str | Path) -> tuple[pd.DataFrame, list[str], str | None]:
    """Read a CSV, Excel (.xlsx), GeoPackage or GeoJSON file as text columns.

    Every kind of file ends in the same frame of texts, checked by one validator
    (:func:`validate_rows`), so a row is refused for the same reason whatever its file.

    Returns:
        (frame of strings/None, a label per row (``line 3``, ``row 3``, ``feature 2``),
        encoding).
        Vector files give their geometry as ``__lon``/``__lat`` (geographic) or
        ``__x``/``__y`` (projected) columns with the CRS in ``__crs``.

    Raises:
        SourceReadError / EmptyInputError: missing, unreadable, truncated or empty file.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        frame = read_csv(path)
        labels = [f"line {n}" for n in frame.attrs["lines"]]
        return frame, labels, frame.attrs.get("encoding")
    if suffix == ".xlsx":
        frame = read_xlsx(path)
        return frame, [f"row {n}" for n in frame.attrs["lines"]], None
    if suffix not in (".gpkg", ".geojson", ".json"):
        raise SourceReadError(
            f"{path}: unsupported file type {suffix or '(none)'}: expected .csv, .xlsx, "
            ".gpkg or .geojson"
        )
    if not path.is_file():
        raise SourceReadError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise EmptyInputError(f"{path}: file is empty")
    import pyogrio

    try:
        with deferred_warnings():
            gdf = pyogrio.read_dataframe(path)
    except Exception as exc:  # GDAL reports truncated/corrupt files in many ways
        raise SourceReadError(
            f"{path}: cannot be read as {suffix[1:].upper()} ({exc}); is the file truncated?"
        ) from None
    if len(gdf) == 0:
        raise EmptyInputError(f"{path}: holds no features")
    frame = pd.DataFrame(index=range(len(gdf)))
    for column in gdf.columns:
        if column == gdf.geometry.name:
            continue
        values = gdf[column].tolist()
        frame[column] = [_text(v) for v in values]
    geoms = gdf.geometry.values
    if gdf.crs is not None and len(geoms):
        ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        types = set(shapely.get_type_id(geoms[ok]).tolist())
        if types - {0}:
            raise SourceReadError(f"{path}: control points must be point features")
        xs = np.full(len(geoms), np.nan)
        ys = np.full(len(geoms), np.nan)
        xs[ok] = shapely.get_x(geoms[ok])
        ys[ok] = shapely.get_y(geoms[ok])
        crs = gdf.crs
        text = [None if not o else repr(float(v)) for o, v in zip(ok, xs, strict=True)]
        text_y = [None if not o else repr(float(v)) for o, v in zip(ok, ys, strict=True)]
        if crs.is_geographic:
            frame["__lon"], frame["__lat"] = text, text_y
        else:
            frame["__y"], frame["__x"] = text, text_y  # east, north
            epsg = crs.to_epsg()
            frame["__crs"] = f"EPSG:{epsg}" if epsg else crs.to_wkt()
    labels = [f"feature {i + 1}" for i in range(len(gdf))]
    return frame, labels, None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        return None if math.isnan(value) else repr(value)
    if isinstance(value, dt.date | dt.datetime | pd.Timestamp):
        return value.isoformat()[:10]
    text = str(value).strip()
    return text or None


# --- validation ---------------------------------------------------------------------------


class _RowError(Exception):
    pass


def _number(row: dict, fields_: dict[str, str], name: str) -> float | None:
    column = fields_.get(name)
    value = row.get(column) if column else None
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise _RowError(f"{column} {value!r} is not a number") from None
    if not math.isfinite(number):
        raise _RowError(f"{column} {value!r} is not a finite number")
    return number


def _angle(row: dict, fields_: dict[str, str], name: str) -> float | None:
    column = fields_.get(name)
    value = row.get(column) if column else None
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        try:
            number = float(parse_angle(value))
        except GeobaseError:
            raise _RowError(
                f"{column} {value!r} is not a number (decimal degrees or D°M'S\")"
            ) from None
    if not math.isfinite(number):
        raise _RowError(f"{column} {value!r} is not a finite number")
    return number


def _value(row: dict, fields_: dict[str, str], name: str) -> str | None:
    column = fields_.get(name)
    return row.get(column) if column else None


@dataclass
class _Context:
    default_crs: Any
    districts: Any  # GeoDataFrame or None
    today: dt.date


_crs_cache: dict[str, Any] = {}


def _grid_zone(spec: str | None, y: float, default_crs: Any) -> tuple[int, GKZone | None]:
    """(EPSG code, GK zone or None) of a row's grid coordinates."""
    if spec is None:
        if 1_000_000 <= y < 1e9:
            number = int(y // 1_000_000)
            for width in (3, 6):
                try:
                    zone = GKZone(width, number, True)
                except GeobaseError:
                    continue
                return zone.epsg, zone
            # no zone has this prefix: check against the workspace CRS, which explains
            # the likely cause (swapped X/Y, a wrong prefix)
        zone = gk_zone_of(default_crs)
        if zone is None:
            raise _RowError(
                "x/y given without a CRS column and the workspace CRS is no Gauss-Kruger system"
            )
        return zone.epsg, zone
    text = spec.strip()
    if text.isdigit() and int(text) < 100:
        number = int(text)
        for width in (3, 6):
            try:
                zone = GKZone(width, number, y >= 1_000_000)
            except GeobaseError:
                continue
            return zone.epsg, zone
        raise _RowError(f"zone {text} is no CGCS2000 3- or 6-degree Gauss-Kruger zone")
    if text not in _crs_cache:
        try:
            _crs_cache[text] = resolve_crs(text)
        except GeobaseError as exc:
            raise _RowError(str(exc)) from None
    crs = _crs_cache[text]
    zone = gk_zone_of(crs)
    if zone is None:
        raise _RowError(f"CRS {text!r} is not a CGCS2000 Gauss-Kruger system (EPSG:4491..4554)")
    return zone.epsg, zone


def _kind_grades(kind_text: str | None, grade_texts: tuple) -> tuple[str, dict[str, str]]:
    """A row's kind and {scheme: code} from its kind and grade cells."""
    try:
        kind = parse_kind(kind_text) if kind_text else None
        grades: dict[str, str] = {}
        for text in grade_texts:
            for scheme, code in parse_grades(text, kind).items():
                if scheme in grades and grades[scheme] != code:
                    raise _RowError(f"two {scheme} grades: {grades[scheme]} and {code}")
                grades[scheme] = code
    except GeobaseError as exc:
        raise _RowError(str(exc)) from None
    if kind is None:
        kind = next(
            (
                k
                for k, s in (
                    ("cors", "cors"),
                    ("gnss", "gnss"),
                    ("levelling", "levelling"),
                    ("city", "cjj"),
                )
                if s in grades
            ),
            None,
        )
        if kind is None:
            raise _RowError(
                "missing grade (等级): give a GNSS, levelling or CJJ grade, or kind cors"
            )
    own = KIND_SCHEME[kind]
    if own != "cors" and own not in grades:
        allowed = ", ".join(GRADE_CODES[own])
        raise _RowError(f"missing grade (等级): a {kind} point needs a {own} grade ({allowed})")
    return kind, grades


_PROVENANCE_FIELDS = (
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


def _provenance(texts: tuple, today: dt.date) -> tuple:
    """(geo, grid, height source; geo, grid, height epoch; mark type; date established)
    from the cells of :data:`_PROVENANCE_FIELDS`."""
    source, epoch, *sources_epochs, mark, established_text = texts
    try:
        common_source = parse_source(source) if source else None
        common_epoch = parse_epoch(epoch) if epoch else None
        sources = [parse_source(t) if t else common_source for t in sources_epochs[:3]]
        epochs = [parse_epoch(t) if t else common_epoch for t in sources_epochs[3:]]
        mark_type = parse_mark_type(mark) if mark else None
        established = parse_date(established_text, "date established") if established_text else None
    except GeobaseError as exc:
        raise _RowError(str(exc)) from None
    if established is not None and established > today:
        raise _RowError(f"date established {established} is in the future")
    return (*sources, *epochs, mark_type, established)


def _parse_row(row: dict, fields_: dict[str, str], ctx: _Context) -> dict[str, Any]:
    """One input row as record values (coordinates not yet reconciled)."""
    point_id = _value(row, fields_, "point_id")
    if point_id is None:
        raise _RowError("missing point id (点号)")
    if any(c.isspace() for c in point_id) or len(point_id) > MAX_ID_LENGTH:
        raise _RowError(f"point id {point_id!r} has blanks or is longer than {MAX_ID_LENGTH}")
    name = _value(row, fields_, "name")
    if name is None:
        raise _RowError(f"point {point_id}: missing name (点名)")
    kind, grades = _kind_grades(
        _value(row, fields_, "kind"), tuple(_value(row, fields_, c) for c in _GRADE_FIELDS)
    )
    lat = _angle(row, fields_, "lat")
    lon = _angle(row, fields_, "lon")
    if lat is None and lon is None and "__lon" in row:
        lat = _number(row, {"lat": "__lat"}, "lat")
        lon = _number(row, {"lon": "__lon"}, "lon")
    x = _number(row, fields_, "x_north")
    y = _number(row, fields_, "y_east")
    crs_text = _value(row, fields_, "crs")
    if x is None and y is None and "__x" in row:
        x = _number(row, {"x": "__x"}, "x")
        y = _number(row, {"y": "__y"}, "y")
        crs_text = crs_text or row.get("__crs")
    if (lat is None) != (lon is None):
        raise _RowError("give both latitude (B, 纬度) and longitude (L, 经度), or neither")
    if (x is None) != (y is None):
        raise _RowError("give both X (northing) and Y (easting), or neither")
    if lat is None and x is None:
        raise _RowError("no coordinates: give B/L (纬度/经度) or X/Y")
    epsg = zone = None
    if x is not None:
        epsg, zone = _grid_zone(crs_text, y, ctx.default_crs)
    elif crs_text is not None:
        epsg, zone = _grid_zone(crs_text, 0.0, ctx.default_crs)
    ellh = _number(row, fields_, "ellh")
    normal_h = _number(row, fields_, "normal_h")
    (
        geo_source,
        grid_source,
        height_source,
        geo_epoch,
        grid_epoch,
        height_epoch,
        mark_type,
        established,
    ) = _provenance(tuple(_value(row, fields_, f) for f in _PROVENANCE_FIELDS), ctx.today)
    return _record_values(
        point_id=point_id,
        name=name,
        kind=kind,
        cors=kind == "cors" or "cors" in grades,
        gnss_grade=grades.get("gnss"),
        level_grade=grades.get("levelling"),
        cjj_grade=grades.get("cjj"),
        district=_value(row, fields_, "district"),
        lat=lat,
        lon=lon,
        x_north=x,
        y_east=y,
        gk_epsg=epsg,
        zone=zone,
        ellh=ellh,
        normal_h=normal_h,
        geo_source=geo_source,
        grid_source=grid_source,
        height_source=height_source,
        geo_epoch=geo_epoch,
        grid_epoch=grid_epoch,
        height_epoch=height_epoch,
        mark_type=mark_type,
        established=established,
        custodian=_value(row, fields_, "custodian"),
        site=_value(row, fields_, "site"),
        route=_value(row, fields_, "route"),
        notes=_value(row, fields_, "notes"),
    )


_GRADE_FIELDS = ("grade", "gnss_grade", "level_grade", "cjj_grade")


def _record_values(**v: Any) -> dict[str, Any]:
    # given values default to "adjusted"; computed ones become "converted" in _reconcile
    v["geo_source"] = (v["geo_source"] or "adjusted") if v["lat"] is not None else None
    v["grid_source"] = (v["grid_source"] or "adjusted") if v["x_north"] is not None else None
    has_h = v["normal_h"] is not None
    v["height_source"] = (v["height_source"] or "adjusted") if has_h else None
    v["height_epoch"] = v["height_epoch"] if has_h else None
    return v


# --- the vectorised common case of _parse_row ----------------------------------------------
#
# Every row is parsed column by column: numbers through numpy, text cells (grades, kinds,
# sources, CRS names) once per distinct value. A row any step of which fails or is unusual
# is not "clean" and goes through _parse_row, which reports its first problem exactly as
# before; clean rows get the values _parse_row would give them.

_FLOAT_FIELDS = ("lat", "lon", "x_north", "y_east", "ellh", "normal_h")
_COLUMNS = (
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
    "geo_source",
    "grid_source",
    "height_source",
    "geo_epoch",
    "grid_epoch",
    "height_epoch",
    "mark_type",
    "established",
    "custodian",
    "site",
    "route",
    "notes",
)


def _cells(data: dict[str, np.ndarray], n: int, column: str | None) -> np.ndarray:
    """A column's cells as an object array (None where missing or no such column)."""
    if column is None or column not in data:
        return np.full(n, None, dtype=object)
    values = data[column].copy()
    values[pd.isna(values)] = None
    return values


def _floats(cells: np.ndarray, angles: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(numbers, ok): ``float(cell)`` (or a D°M'S" angle), NaN where empty; ok is False where
    a cell is no finite number."""
    out = np.full(len(cells), np.nan)
    present = np.flatnonzero(cells != None)  # noqa: E711 - elementwise
    ok = np.ones(len(cells), dtype=bool)
    texts = cells[present]
    try:
        out[present] = texts.astype(float)
    except (ValueError, TypeError):
        for i, text in zip(present.tolist(), texts.tolist(), strict=True):
            try:
                out[i] = float(text)
            except (ValueError, TypeError):
                if not angles:
                    ok[i] = False
                    continue
                try:
                    out[i] = float(parse_angle(text))
                except GeobaseError:
                    ok[i] = False
    ok[present] &= np.isfinite(out[present])
    return out, ok


def _per_value(keys: list, fn: Callable[[Any], Any]) -> list:
    """``fn(key)`` for each key, computed once per distinct key; None where it raises."""
    cache: dict[Any, Any] = {}
    for key in set(keys):
        try:
            cache[key] = fn(key)
        except _RowError:
            cache[key] = None
    return [cache[key] for key in keys]


def _parse_frame(
    frame: pd.DataFrame, fields_: dict[str, str], ctx: _Context
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Vectorised :func:`_parse_row`: (column -> values, mask of the clean rows)."""
    n = len(frame)
    # the cells once, as arrays (a frame's columns would each deep-copy its attrs)
    table = frame.to_numpy(dtype=object)
    data = {str(name): table[:, k] for k, name in enumerate(frame.columns)}
    cell = {name: _cells(data, n, fields_.get(name)) for name in COLUMN_ALIASES}
    out: dict[str, np.ndarray] = {}
    ids = pd.Series(cell["point_id"], dtype=object)
    clean = ids.notna().to_numpy(dtype=bool, copy=True)
    text_ids = ids[clean].astype(str)
    clean[clean] = ~(
        text_ids.str.contains(r"\s", regex=True) | (text_ids.str.len() > MAX_ID_LENGTH)
    ).to_numpy(dtype=bool)
    clean &= cell["name"] != None  # noqa: E711 - elementwise
    out["point_id"], out["name"] = cell["point_id"], cell["name"]

    keys = list(zip(cell["kind"].tolist(), *(cell[c].tolist() for c in _GRADE_FIELDS), strict=True))
    kinds = _per_value(keys, lambda k: _kind_grades(k[0], k[1:]))
    clean &= np.array([k is not None for k in kinds], dtype=bool)
    kinds = [k if k is not None else ("gnss", {}) for k in kinds]
    out["kind"] = np.array([k for k, _ in kinds], dtype=object)
    out["cors"] = np.array([k == "cors" or "cors" in g for k, g in kinds], dtype=bool)
    for name, scheme in (
        ("gnss_grade", "gnss"),
        ("level_grade", "levelling"),
        ("cjj_grade", "cjj"),
    ):
        out[name] = np.array([g.get(scheme) for _, g in kinds], dtype=object)

    lat, ok_lat = _floats(cell["lat"], angles=True)
    lon, ok_lon = _floats(cell["lon"], angles=True)
    clean &= ok_lat & ok_lon
    if "__lon" in frame.columns:
        alt = (cell["lat"] == None) & (cell["lon"] == None)  # noqa: E711
        vlat, ok1 = _floats(_cells(data, n, "__lat"))
        vlon, ok2 = _floats(_cells(data, n, "__lon"))
        clean &= ~alt | (ok1 & ok2)
        lat, lon = np.where(alt, vlat, lat), np.where(alt, vlon, lon)
    x, ok_x = _floats(cell["x_north"])
    y, ok_y = _floats(cell["y_east"])
    clean &= ok_x & ok_y
    crs = cell["crs"]
    if "__x" in frame.columns:
        alt = (cell["x_north"] == None) & (cell["y_east"] == None)  # noqa: E711
        vx, ok1 = _floats(_cells(data, n, "__x"))
        vy, ok2 = _floats(_cells(data, n, "__y"))
        clean &= ~alt | (ok1 & ok2)
        x, y = np.where(alt, vx, x), np.where(alt, vy, y)
        crs = np.where(alt & (crs == None), _cells(data, n, "__crs"), crs)  # noqa: E711
    has_geo, has_grid = ~np.isnan(lat), ~np.isnan(x)
    clean &= (has_geo == ~np.isnan(lon)) & (has_grid == ~np.isnan(y)) & (has_geo | has_grid)
    out.update(lat=lat, lon=lon, x_north=x, y_east=y)

    # the grid zone depends on the CRS cell and, without one, on the easting's prefix
    finite_y = np.isfinite(y)
    prefix = np.where(
        has_grid & finite_y & (y >= 1_000_000) & (y < 1e9),
        np.floor_divide(np.where(finite_y, y, 0.0), 1e6),
        -1,
    )
    wanted = has_grid | (crs != None)  # noqa: E711
    zone_keys = [
        (c, int(p)) if w else None
        for c, p, w in zip(crs.tolist(), prefix.tolist(), wanted.tolist(), strict=True)
    ]

    def zone_of(key):
        if key is None:
            return (0, None)
        spec, p = key
        return _grid_zone(spec, p * 1_000_000.0 if p >= 0 else 0.0, ctx.default_crs)

    zones = _per_value(zone_keys, zone_of)
    clean &= np.array([z is not None for z in zones], dtype=bool)
    out["gk_epsg"] = np.array([z[0] if z else 0 for z in zones], dtype=np.int64)
    out["zone"] = np.array([z[1] if z else None for z in zones], dtype=object)

    for name in ("ellh", "normal_h"):
        out[name], ok = _floats(cell[name])
        clean &= ok
    keys = list(zip(*(cell[f].tolist() for f in _PROVENANCE_FIELDS), strict=True))
    prov = _per_value(keys, lambda k: _provenance(k, ctx.today))
    clean &= np.array([p is not None for p in prov], dtype=bool)
    prov = [p if p is not None else (None,) * 8 for p in prov]
    names = (
        "geo_source",
        "grid_source",
        "height_source",
        "geo_epoch",
        "grid_epoch",
        "height_epoch",
        "mark_type",
        "established",
    )
    for k, name in enumerate(names):
        out[name] = np.array([p[k] for p in prov], dtype=object)
    has_h = ~np.isnan(out["normal_h"])
    for name, given in (
        ("geo_source", has_geo),
        ("grid_source", has_grid),
        ("height_source", has_h),
    ):
        values = out[name]
        values[given & (values == None)] = "adjusted"  # noqa: E711
        values[~given] = None
    out["height_epoch"][~has_h] = None
    for name in ("district", "custodian", "site", "route", "notes"):
        out[name] = cell[name]
    out["has_geo"], out["has_grid"] = has_geo, has_grid
    return out, clean


def _merge_row(cols: dict[str, np.ndarray], i: int, p: dict[str, Any]) -> None:
    """Put one _parse_row result into row ``i`` of the columns."""
    for name in _COLUMNS:
        value = p[name]
        if name in _FLOAT_FIELDS:
            value = np.nan if value is None else value
        elif name == "gk_epsg":
            value = value or 0
        cols[name][i] = value
    cols["has_geo"][i] = p["lat"] is not None
    cols["has_grid"][i] = p["x_north"] is not None


def _check_group(east, north, crs, labels, names) -> dict[int, str]:
    """Row index -> problem for coordinates implausible in ``crs`` (vectorised common case)."""
    try:
        check_coordinates(east, north, crs, names=names)
        return {}
    except GeobaseError:
        pass
    problems = {}
    for i in range(len(east)):
        try:
            check_coordinates(east[i : i + 1], north[i : i + 1], crs, names=names)
        except GeobaseError as exc:
            problems[i] = str(exc).removeprefix("point 0: ")
    return problems


def _zone_attrs(zones: np.ndarray) -> dict[str, np.ndarray]:
    """west, east, number, width, prefixed of each row's zone (NaN/0 where None)."""
    codes, uniques = pd.factorize(pd.Series(zones, dtype=object), use_na_sentinel=True)
    attrs = {}
    for name in ("west", "east", "number", "width", "prefixed"):
        table = np.array([float(getattr(z, name)) for z in uniques] + [np.nan])
        attrs[name] = table[codes]
    return attrs


def _reconcile(c: dict[str, np.ndarray], ctx: _Context) -> dict[int, str]:
    """Fill in missing coordinate groups, check agreement and zones; returns problems."""
    problems: dict[int, str] = {}
    n = len(c["point_id"])
    has_geo, has_grid = c["has_geo"], c["has_grid"]
    lon, lat, x, y = c["lon"], c["lat"], c["x_north"], c["y_east"]
    # geographic coordinates: plausible degrees, (lon, lat) not swapped
    idx = np.flatnonzero(has_geo)
    for i, msg in _check_group(lon[idx], lat[idx], 4490, None, ("L (lon)", "B (lat)")).items():
        problems[int(idx[i])] = msg
    # grid coordinates, per CRS
    epsgs = c["gk_epsg"]
    for epsg in sorted(set(epsgs[has_grid].tolist())):
        idx = np.flatnonzero(has_grid & (epsgs == epsg))
        for i, msg in _check_group(
            y[idx], x[idx], epsg, None, ("Y (easting)", "X (northing)")
        ).items():
            problems.setdefault(int(idx[i]), msg)

    def ok_mask() -> np.ndarray:
        ok = np.ones(n, dtype=bool)
        ok[list(problems)] = False
        return ok

    # zone of points given by B/L only: the row's CRS, else the workspace's, else zone_for
    zones = c["zone"]
    default_zone = gk_zone_of(ctx.default_crs)
    pick = ok_mask() & has_geo & ~has_grid & (zones == None)  # noqa: E711
    if default_zone is not None:
        inside = (default_zone.west <= lon) & (lon < default_zone.east)
        zones[pick & inside] = default_zone
        epsgs[pick & inside] = default_zone.epsg
        pick &= ~inside
    for i in np.flatnonzero(pick).tolist():
        try:
            zone = zone_for(float(lon[i]), 3)
        except GeobaseError as exc:
            problems[i] = str(exc)
            continue
        zones[i], epsgs[i] = zone, zone.epsg
    # the point must lie in its zone (the shared rule, overlap included; grid coordinates
    # were checked against their zone by check_coordinates above)
    z = _zone_attrs(zones)
    check = ok_mask() & has_geo
    for i in np.flatnonzero(check & ~within_zone(lon, z["west"], z["east"])).tolist():
        zone = zones[i]
        problems[i] = (
            f"L {lon[i]:.6f} is outside {zone.width}-degree zone {zone.number} "
            f"({zone.west:g}E..{zone.east:g}E, EPSG:{zone.epsg}, with {ZONE_OVERLAP:g} "
            "degrees of overlap); give the coordinates in the zone that holds the point"
        )
    ok = ok_mask()
    out_lon, out_lat = lon.copy(), lat.copy()
    out_x, out_y = x.copy(), y.copy()
    for epsg in sorted(set(epsgs[ok].tolist())):
        group = ok & (epsgs == epsg)
        # grid -> geographic where B/L are missing
        idx = np.flatnonzero(group & has_grid & ~has_geo)
        if len(idx):
            e, nn = transform(y[idx], x[idx], epsg, 4490, check=False)
            out_lon[idx], out_lat[idx] = e, nn
        # geographic -> grid, for all rows with B/L (to fill or to compare)
        idx = np.flatnonzero(group & has_geo)
        if len(idx):
            e, nn = transform(lon[idx], lat[idx], 4490, epsg, check=False)
            both = has_grid[idx]
            if both.any():
                d = np.hypot(e[both] - y[idx][both], nn[both] - x[idx][both])
                bad = ~(d <= AGREEMENT_M)
                for i, dist in zip(idx[both][bad].tolist(), d[bad].tolist(), strict=True):
                    problems[i] = (
                        f"X/Y disagree with B/L by {dist:.3f} m (allowed {AGREEMENT_M * 1000:.0f} mm) "
                        f"in EPSG:{epsg}; likely cause: wrong zone or CRS, a typing error, "
                        "or B/L and X/Y from different adjustments"
                    )
            fill = idx[~both]
            out_y[fill], out_x[fill] = e[~both], nn[~both]
    ok = ok_mask()
    for name, values in (("lon", out_lon), ("lat", out_lat), ("x_north", out_x), ("y_east", out_y)):
        c[name][ok] = values[ok]
    geo_fill = ok & ~has_geo
    c["geo_source"][geo_fill] = "converted"
    c["geo_epoch"][geo_fill] = c["grid_epoch"][geo_fill]
    grid_fill = ok & ~has_grid
    c["grid_source"][grid_fill] = "converted"
    c["grid_epoch"][grid_fill] = c["geo_epoch"][grid_fill]
    return problems


def _assign_districts(c: dict[str, np.ndarray], rows: np.ndarray, ctx: _Context) -> dict[int, str]:
    problems: dict[int, str] = {}
    districts = ctx.districts
    if districts is None or districts.empty or not len(rows):
        return problems
    names = districts["name"].tolist()
    english = {str(e).lower(): n for e, n in zip(districts["name_en"], names, strict=True) if e}
    lon, lat = c["lon"][rows], c["lat"][rows]
    points = shapely.points(lon, lat)
    tree = shapely.STRtree(districts.geometry.values)
    pi, di = tree.query(points, predicate="intersects")
    found = np.full(len(rows), None, dtype=object)
    found[pi] = np.asarray(names, dtype=object)[di]
    given = c["district"][rows]
    canon = {
        g: (g if g in names else english.get(g.lower()))
        for g in set(given.tolist())
        if g is not None
    }
    canonical = np.array([canon.get(g) if g is not None else None for g in given], dtype=object)
    has_given = given != None  # noqa: E711
    has_found = found != None  # noqa: E711
    fine = np.where(has_given, (canonical != None) & has_found & (found == canonical), has_found)  # noqa: E711
    for j in np.flatnonzero(~fine).tolist():
        i = int(rows[j])
        where = f"B {lat[j]:.6f}, L {lon[j]:.6f}"
        if given[j] is not None:
            if canonical[j] is None:
                problems[i] = f"unknown district {given[j]!r}: expected one of {', '.join(names)}"
            elif found[j] is not None:
                problems[i] = (
                    f"{where} lie in {found[j]}, not in {canonical[j]}; "
                    "wrong district or wrong coordinates?"
                )
            else:
                problems[i] = (
                    f"{where} lie outside {canonical[j]} (and every "
                    "district of the workspace); wrong coordinates?"
                )
        else:
            problems[i] = (
                f"{where} lie outside every district of the "
                "workspace; wrong coordinates, or swapped B/L?"
            )
    keep = rows[fine]
    c["district"][keep] = np.where(has_given, canonical, found)[fine]
    return problems


def _invalid_records(c: dict[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
    """Rows whose record :class:`ControlPoint` would refuse (the checks it makes that the
    parsing above does not already guarantee)."""
    lon, lat = c["lon"][rows], c["lat"][rows]
    fine = (lon >= -180.0) & (lon <= 180.0) & (lat >= -90.0) & (lat <= 90.0)
    for name in ("x_north", "y_east"):
        fine &= np.isfinite(c[name][rows])
    for name in ("ellh", "normal_h"):
        v = c[name][rows]
        fine &= np.isnan(v) | np.isfinite(v)
    return rows[~fine]


def _record_dict(c: dict[str, np.ndarray], i: int) -> dict[str, Any]:
    """Row ``i`` of the columns as ControlPoint keyword arguments."""
    out = {}
    for name in _RECORD_FIELDS:
        value = c[name][i]
        if name in _FLOAT_FIELDS:
            value = None if np.isnan(value) else float(value)
        elif name == "gk_epsg":
            value = int(value)
        elif name == "cors":
            value = bool(value)
        out[name] = value
    return out


_RECORD_FIELDS = (*(f for f in _COLUMNS if f != "zone"), "sheet_10k", "sheet_500")


def _validate(
    frame: pd.DataFrame, labels: list[str], ws: Workspace
) -> tuple[dict[str, np.ndarray], np.ndarray, list[tuple[int, str]]]:
    """Validate an input frame, column by column.

    Returns:
        (record columns, each indexed by input row; the good rows; [(row index, reason)]).
    """
    from geobase.store.districts import list_districts

    fields_ = map_columns(frame.columns)
    if "point_id" not in fields_:
        raise ValidationError(
            f"no point-id column among {list(frame.columns)}: expected 点号 or point_id"
        )
    districts = list_districts(ws.store)
    ctx = _Context(
        default_crs=resolve_crs(ws.config.crs),
        districts=None if districts.empty else districts,
        today=dt.date.today(),
    )
    problems: dict[int, str] = {}
    cols, clean = _parse_frame(frame, fields_, ctx)
    unclean = np.flatnonzero(~clean).tolist()
    if unclean:
        rows_ = frame.iloc[unclean].to_dict("records")
        for i, row in zip(unclean, rows_, strict=True):
            try:
                _merge_row(cols, i, _parse_row(row, fields_, ctx))
            except _RowError as exc:
                problems[i] = str(exc)
    parsed = np.ones(len(frame), dtype=bool)
    parsed[list(problems)] = False
    # duplicate ids among the parsed rows: each after the first is refused
    idx = np.flatnonzero(parsed)
    codes, _ = pd.factorize(pd.Series(cols["point_id"][idx], dtype=object))
    _, first = np.unique(codes, return_index=True)
    first_of = idx[first][codes]
    for i, f in zip(idx[first_of != idx].tolist(), first_of[first_of != idx].tolist(), strict=True):
        problems[i] = f"duplicate point id {cols['point_id'][i]!r} (first on {labels[f]})"
    good = np.array([i for i in idx.tolist() if i not in problems], dtype=np.int64)
    sub = {name: values[good] for name, values in cols.items()}
    for j, msg in _reconcile(sub, ctx).items():
        problems[int(good[j])] = msg
    for name, values in sub.items():
        cols[name][good] = values
    good = np.array([i for i in good.tolist() if i not in problems], dtype=np.int64)
    problems.update(_assign_districts(cols, good, ctx))
    good = np.array([i for i in good.tolist() if i not in problems], dtype=np.int64)
    cols["sheet_10k"] = np.full(len(frame), None, dtype=object)
    cols["sheet_500"] = np.full(len(frame), None, dtype=object)
    if len(good):
        lon, lat = cols["lon"][good], cols["lat"][good]
        cols["sheet_10k"][good] = sheet_codes(lon, lat, 10_000).astype(str).astype(object)
        z = _zone_attrs(cols["zone"][good])
        y_plain = cols["y_east"][good] - np.where(z["prefixed"] == 1.0, z["number"] * 1_000_000, 0)
        s500 = rect_sheet_codes(y_plain, cols["x_north"][good], 500)
        cols["sheet_500"][good] = s500.astype(str).astype(object)
        for i in _invalid_records(cols, good).tolist():
            try:
                ControlPoint(**_record_dict(cols, i))
            except GeobaseError as exc:
                problems[i] = str(exc)
        good = np.array([i for i in good.tolist() if i not in problems], dtype=np.int64)
    return cols, good, sorted(problems.items())


def validate_rows(
    frame: pd.DataFrame, labels: list[str], ws: Workspace
) -> tuple[list[ControlPoint], list[int], list[tuple[int, str]]]:
    """Validate an input frame.

    Returns:
        (records, the row index of each record, [(row index, reason)] for bad rows).
    """
    cols, good, problems = _validate(frame, labels, ws)
    rows = good.tolist()
    return [ControlPoint(**_record_dict(cols, i)) for i in rows], rows, problems


# --- writing ------------------------------------------------------------------------------

_COORD_FIELDS = (
    "lon",
    "lat",
    "ellh",
    "geo_source",
    "geo_epoch",
    "x_north",
    "y_east",
    "gk_epsg",
    "grid_source",
    "grid_epoch",
    "normal_h",
    "height_source",
    "height_epoch",
)
_ATTR_FIELDS = (
    "name",
    "kind",
    "cors",
    "gnss_grade",
    "level_grade",
    "cjj_grade",
    "district",
    "mark_type",
    "established",
    "custodian",
    "site",
    "route",
    "notes",
    "sheet_10k",
    "sheet_500",
)


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return abs(float(a) - float(b)) <= 1e-10 * max(1.0, abs(float(a)))
    return str(a) == str(b)


def _db_value(name: str, value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if name == "cors":
        return int(bool(value))
    return value


def write_records(
    ws: Workspace, records: Sequence[ControlPoint], source_file: str | None = None
) -> tuple[list[str], list[str], list[str], int]:
    """Insert new points and update changed ones, in one transaction.

    Returns:
        (added ids, ids with changed coordinates, ids with other changes, unchanged count).

    Raises:
        ValidationError: a point was retired (moved) and cannot take new coordinates.
    """
    values = {
        f: [_db_value(f, getattr(r, f)) for r in records]
        for f in ("point_id", *_ATTR_FIELDS, *_COORD_FIELDS, "replaces")
    }
    return _write(ws, values, source_file)


def _db_columns(cols: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, list]:
    """The database values of the validated rows ``rows``, one list per field."""
    out: dict[str, list] = {}
    for f in ("point_id", *_ATTR_FIELDS, *_COORD_FIELDS):
        v = cols[f][rows]
        if f in _FLOAT_FIELDS:
            values = v.astype(object)
            values[np.isnan(v)] = None
            out[f] = values.tolist()
        elif f in ("gk_epsg", "cors"):
            out[f] = v.astype(np.int64).tolist()
        elif f == "established":
            out[f] = [None if d is None else d.isoformat() for d in v.tolist()]
        else:
            out[f] = v.tolist()
    out["replaces"] = [None] * len(rows)
    return out


def _write(
    ws: Workspace, values: dict[str, list], source_file: str | None
) -> tuple[list[str], list[str], list[str], int]:
    """:func:`write_records` for database values given as one list per field."""
    now = utc_now()
    moved: list[str] = []
    changed: list[str] = []
    unchanged = 0
    ids = values["point_id"]
    with ws.store.transaction() as tx:
        existing: dict[str, dict] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            params = {f"p{k}": v for k, v in enumerate(chunk)}
            marks = ", ".join(f":{k}" for k in params)
            for row in tx.query(
                f"SELECT * FROM control_points WHERE point_id IN ({marks})", params
            ):
                existing[row["point_id"]] = row
        fields_ = list(values)
        new = [k for k, pid in enumerate(ids) if pid not in existing]
        added = [ids[k] for k in new]
        if new:
            pick = np.asarray(new)
            lon = np.asarray(values["lon"], dtype=float)[pick]
            lat = np.asarray(values["lat"], dtype=float)[pick]
            geoms = tx.geoms(shapely.points(lon, lat), 4490)
            names = [*fields_, "geom", "version", "source_file", "created_at", "updated_at"]
            columns = [[values[f][k] for k in new] for f in fields_]
            tail = (1, source_file, now, now)
            tx.insert_many(
                "control_points",
                [
                    dict(zip(names, (*row, g, *tail), strict=True))
                    for row, g in zip(zip(*columns, strict=True), geoms, strict=True)
                ],
            )
        problems = []
        for k, pid in enumerate(ids):
            old = existing.get(pid)
            if old is None:
                continue
            coords_changed = any(not _same(old[f], values[f][k]) for f in _COORD_FIELDS)
            attrs_changed = any(not _same(old[f], values[f][k]) for f in _ATTR_FIELDS)
            if not coords_changed and not attrs_changed:
                unchanged += 1
                continue
            if old["retired_on"] is not None and coords_changed:
                problems.append(
                    (
                        None,
                        f"point {pid} was retired on {old['retired_on']} (moved, "
                        f"replaced by {old['replaced_by']}); a moved mark gets a new id",
                    )
                )
                continue
            update = {f: values[f][k] for f in _ATTR_FIELDS}
            version = old["version"]
            if coords_changed:
                history = {f: old[f] for f in _COORD_FIELDS}
                history.update(
                    point_id=pid,
                    version=version,
                    source_file=old["source_file"],
                    valid_from=old["updated_at"],
                    superseded_at=now,
                )
                tx.insert("control_point_history", history)
                update.update({f: values[f][k] for f in _COORD_FIELDS})
                update["geom"] = tx.geom(shapely.Point(values["lon"][k], values["lat"][k]), 4490)
                version += 1
                moved.append(pid)
            else:
                changed.append(pid)
            update.update(version=version, updated_at=now, source_file=source_file, pid=pid)
            sets = ", ".join(f"{key} = :{key}" for key in update if key != "pid")
            tx.execute(f"UPDATE control_points SET {sets} WHERE point_id = :pid", update)
        if problems:
            raise ValidationError(problems[0][1], problems)
        tx.touch("control_points")
    return added, moved, changed, unchanged


def import_points(
    ws: Workspace,
    path: str | Path,
    *,
    skip_invalid: bool = False,
    progress: Progress | None = None,
) -> ImportResult:
    """Import control points from a CSV (UTF-8 or GBK), Excel (.xlsx), GeoPackage or GeoJSON file.

    Args:
        ws: the workspace.
        path: the input file.
        skip_invalid: write the good rows and save the bad ones to ``<name>.rejects.csv``
            beside the input; by default any bad row makes the import write nothing.
        progress: called with (rows done, total).

    Raises:
        ValidationError: bad rows (``problems`` lists each row's line and reason) and not
            ``skip_invalid``.
        SourceReadError / EmptyInputError: unreadable, truncated or empty file.

    Example:
        >>> import_points(ws, "control_points/points.csv").summary()  # doctest: +SKIP
        'points.csv: 396 rows: 396 added, ...'
    """
    path = Path(path)
    frame, labels, encoding = read_source(path)
    result = ImportResult(source=path, rows=len(frame), encoding=encoding)
    cols, good, problems = _validate(frame, labels, ws)
    if progress:
        progress(len(frame) // 2, len(frame))
    reported = [(_line(labels[i]), f"{labels[i]}: {msg}") for i, msg in problems]
    if problems and not skip_invalid:
        raise ValidationError(
            f"{path.name}: {len(problems)} of {len(frame)} rows are invalid, nothing imported "
            f"(first: {reported[0][1]}); fix them or pass --skip-invalid",
            reported,
        )
    if problems:
        result.rejected = reported
        result.rejects_path = _write_rejects(path, frame, labels, problems)
    if len(good):
        result.added, result.moved, result.changed, result.unchanged = _write(
            ws, _db_columns(cols, good), path.name
        )
    if progress:
        progress(len(frame), len(frame))
    logger.info(result.summary())
    return result


def _line(label: str) -> int | None:
    match = re.search(r"(\d+)$", label)
    return int(match.group(1)) if match else None


def rejects_path_for(path: Path) -> Path:
    """Where ``--skip-invalid`` saves the rejected rows of ``path``."""
    return path.with_name(f"{path.stem}.rejects.csv")


def _write_rejects(
    path: Path, frame: pd.DataFrame, labels: list[str], problems: list[tuple[int, str]]
) -> Path:
    out = rejects_path_for(path)
    index = [i for i, _ in problems]
    rejects = frame.iloc[index].copy()
    rejects = rejects[[c for c in rejects.columns if not str(c).startswith("__")]]
    rejects.insert(0, "reason", [msg for _, msg in problems])
    rejects.insert(0, "where", [labels[i] for i in index])
    with atomic_output(out) as tmp:  # OutputWriteError names ``out`` if it cannot be written
        Path(tmp).write_bytes(encode_csv(rejects, FILE_ENCODING, str(out)))
    return out
