"""Importing control points from CSV, GeoPackage and GeoJSON into the registry.

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
from geobase.geodesy.transform import check_coordinates, transform
from geobase.geodesy.zones import GKZone, gk_zone_of, resolve_crs, zone_for
from geobase.sheets import parse_angle, rect_sheet_codes, sheet_codes
from geobase.store import Workspace, utc_now
from geobase.tabular import read_csv

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
    """Read a CSV, GeoPackage or GeoJSON file as text columns.

    Returns:
        (frame of strings/None, a label per row (``line 3``, ``feature 2``), encoding).
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
    if suffix not in (".gpkg", ".geojson", ".json"):
        raise SourceReadError(
            f"{path}: unsupported file type {suffix or '(none)'}: expected .csv, .gpkg or .geojson"
        )
    if not path.is_file():
        raise SourceReadError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise EmptyInputError(f"{path}: file is empty")
    import pyogrio

    try:
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
        return float(value)
    except ValueError:
        pass
    try:
        return float(parse_angle(value))
    except GeobaseError:
        raise _RowError(
            f"{column} {value!r} is not a number (decimal degrees or D°M'S\")"
        ) from None


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
        if y >= 1_000_000:
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
    kind_text = _value(row, fields_, "kind")
    try:
        kind = parse_kind(kind_text) if kind_text else None
        grades: dict[str, str] = {}
        for column in ("grade", "gnss_grade", "level_grade", "cjj_grade"):
            for scheme, code in parse_grades(_value(row, fields_, column), kind).items():
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
    try:
        common_source = _value(row, fields_, "source")
        common_source = parse_source(common_source) if common_source else None
        common_epoch = _value(row, fields_, "epoch")
        common_epoch = parse_epoch(common_epoch) if common_epoch else None

        def source(name: str) -> str | None:
            text = _value(row, fields_, name)
            return parse_source(text) if text else common_source

        def epoch(name: str) -> float | None:
            text = _value(row, fields_, name)
            return parse_epoch(text) if text else common_epoch

        geo_source, grid_source, height_source = (
            source("geo_source"),
            source("grid_source"),
            source("height_source"),
        )
        geo_epoch, grid_epoch, height_epoch = (
            epoch("geo_epoch"),
            epoch("grid_epoch"),
            epoch("height_epoch"),
        )
        mark = _value(row, fields_, "mark_type")
        mark_type = parse_mark_type(mark) if mark else None
        established_text = _value(row, fields_, "established")
        established = parse_date(established_text, "date established") if established_text else None
    except GeobaseError as exc:
        raise _RowError(str(exc)) from None
    if established is not None and established > ctx.today:
        raise _RowError(f"date established {established} is in the future")
    return {
        "point_id": point_id,
        "name": name,
        "kind": kind,
        "cors": kind == "cors" or "cors" in grades,
        "gnss_grade": grades.get("gnss"),
        "level_grade": grades.get("levelling"),
        "cjj_grade": grades.get("cjj"),
        "district": _value(row, fields_, "district"),
        "lat": lat,
        "lon": lon,
        "x_north": x,
        "y_east": y,
        "gk_epsg": epsg,
        "zone": zone,
        "ellh": ellh,
        "normal_h": normal_h,
        # given values default to "adjusted"; computed ones become "converted" below
        "geo_source": (geo_source or "adjusted") if lat is not None else None,
        "grid_source": (grid_source or "adjusted") if x is not None else None,
        "height_source": (height_source or "adjusted") if normal_h is not None else None,
        "geo_epoch": geo_epoch,
        "grid_epoch": grid_epoch,
        "height_epoch": height_epoch if normal_h is not None else None,
        "mark_type": mark_type,
        "established": established,
        "custodian": _value(row, fields_, "custodian"),
        "site": _value(row, fields_, "site"),
        "route": _value(row, fields_, "route"),
        "notes": _value(row, fields_, "notes"),
    }


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


def _reconcile(parsed: list[dict], labels: list[str], ctx: _Context) -> dict[int, str]:
    """Fill in missing coordinate groups, check agreement and zones; returns problems."""
    problems: dict[int, str] = {}
    n = len(parsed)
    has_geo = np.array([p["lat"] is not None for p in parsed], dtype=bool)
    has_grid = np.array([p["x_north"] is not None for p in parsed], dtype=bool)
    lon = np.array([p["lon"] if p["lon"] is not None else np.nan for p in parsed], dtype=float)
    lat = np.array([p["lat"] if p["lat"] is not None else np.nan for p in parsed], dtype=float)
    x = np.array(
        [p["x_north"] if p["x_north"] is not None else np.nan for p in parsed], dtype=float
    )
    y = np.array([p["y_east"] if p["y_east"] is not None else np.nan for p in parsed], dtype=float)
    # geographic coordinates: plausible degrees, (lon, lat) not swapped
    idx = np.flatnonzero(has_geo)
    for i, msg in _check_group(lon[idx], lat[idx], 4490, None, ("L (lon)", "B (lat)")).items():
        problems[int(idx[i])] = msg
    # grid coordinates, per CRS
    epsgs = np.array([p["gk_epsg"] or 0 for p in parsed])
    for epsg in sorted(set(epsgs[has_grid].tolist())):
        idx = np.flatnonzero(has_grid & (epsgs == epsg))
        for i, msg in _check_group(
            y[idx], x[idx], epsg, None, ("Y (easting)", "X (northing)")
        ).items():
            problems.setdefault(int(idx[i]), msg)
    ok = np.array([i not in problems for i in range(n)], dtype=bool)
    # zone of points given by B/L only: the row's CRS, else the workspace's, else zone_for
    default_zone = gk_zone_of(ctx.default_crs)
    for i in np.flatnonzero(ok & has_geo & ~has_grid):
        p = parsed[i]
        if p["zone"] is None:
            zone = default_zone
            if zone is None or not (zone.west <= lon[i] < zone.east):
                try:
                    zone = zone_for(float(lon[i]), 3)
                except GeobaseError as exc:
                    problems[int(i)] = str(exc)
                    continue
            p["zone"], p["gk_epsg"] = zone, zone.epsg
        epsgs[i] = p["gk_epsg"]
    # the point must lie in its zone
    ok = np.array([i not in problems for i in range(n)], dtype=bool)
    for i in np.flatnonzero(ok & has_geo):
        zone = parsed[i]["zone"]
        if not (zone.west <= lon[i] <= zone.east):
            problems[int(i)] = (
                f"L {lon[i]:.6f} is outside {zone.width}-degree zone {zone.number} "
                f"({zone.west:g}E..{zone.east:g}E, EPSG:{zone.epsg}); give the coordinates "
                "in the zone that holds the point"
            )
    ok = np.array([i not in problems for i in range(n)], dtype=bool)
    out_lon, out_lat = lon.copy(), lat.copy()
    out_x, out_y = x.copy(), y.copy()
    for epsg in sorted(set(epsgs[ok].tolist())):
        group = ok & (epsgs == epsg)
        # grid -> geographic where B/L are missing
        idx = np.flatnonzero(group & has_grid & ~has_geo)
        if len(idx):
            e, nn = transform(y[idx], x[idx], epsg, 4490, check=False)
            out_lon[idx], out_lat[idx] = e, nn
            zone = parsed[idx[0]]["zone"]
            for j, i in enumerate(idx):
                if not (zone.west <= e[j] <= zone.east):
                    problems[int(i)] = (
                        f"X {x[i]:.3f}, Y {y[i]:.3f} lie outside {zone.width}-degree zone "
                        f"{zone.number} ({zone.west:g}E..{zone.east:g}E) at L {e[j]:.4f}; "
                        f"wrong zone or CRS (EPSG:{epsg})?"
                    )
        # geographic -> grid, for all rows with B/L (to fill or to compare)
        idx = np.flatnonzero(group & has_geo)
        if len(idx):
            e, nn = transform(lon[idx], lat[idx], 4490, epsg, check=False)
            both = has_grid[idx]
            if both.any():
                d = np.hypot(e[both] - y[idx][both], nn[both] - x[idx][both])
                for i, dist in zip(idx[both], d, strict=True):
                    if not dist <= AGREEMENT_M:
                        problems[int(i)] = (
                            f"X/Y disagree with B/L by {dist:.3f} m (allowed {AGREEMENT_M * 1000:.0f} mm) "
                            f"in EPSG:{epsg}; likely cause: wrong zone or CRS, a typing error, "
                            "or B/L and X/Y from different adjustments"
                        )
            fill = idx[~both]
            out_y[fill], out_x[fill] = e[~both], nn[~both]
    for i, p in enumerate(parsed):
        if i in problems:
            continue
        p["lon"], p["lat"] = float(out_lon[i]), float(out_lat[i])
        p["x_north"], p["y_east"] = float(out_x[i]), float(out_y[i])
        if not has_geo[i]:
            p["geo_source"], p["geo_epoch"] = "converted", p["grid_epoch"]
        if not has_grid[i]:
            p["grid_source"], p["grid_epoch"] = "converted", p["geo_epoch"]
    return problems


def _assign_districts(parsed: list[dict], rows: list[int], ctx: _Context) -> dict[int, str]:
    problems: dict[int, str] = {}
    districts = ctx.districts
    if districts is None or districts.empty or not rows:
        return problems
    names = districts["name"].tolist()
    english = {str(e).lower(): n for e, n in zip(districts["name_en"], names, strict=True) if e}
    lon = np.array([parsed[i]["lon"] for i in rows])
    lat = np.array([parsed[i]["lat"] for i in rows])
    points = shapely.points(lon, lat)
    tree = shapely.STRtree(districts.geometry.values)
    pi, di = tree.query(points, predicate="intersects")
    found = np.full(len(rows), None, dtype=object)
    found[pi] = np.asarray(names, dtype=object)[di]
    for j, i in enumerate(rows):
        p = parsed[i]
        given = p["district"]
        if given is not None:
            canonical = given if given in names else english.get(given.lower())
            if canonical is None:
                problems[i] = f"unknown district {given!r}: expected one of {', '.join(names)}"
                continue
            if found[j] is not None and found[j] != canonical:
                problems[i] = (
                    f"B {p['lat']:.6f}, L {p['lon']:.6f} lie in {found[j]}, not in {canonical}; "
                    "wrong district or wrong coordinates?"
                )
                continue
            if found[j] is None:
                problems[i] = (
                    f"B {p['lat']:.6f}, L {p['lon']:.6f} lie outside {canonical} (and every "
                    "district of the workspace); wrong coordinates?"
                )
                continue
            p["district"] = canonical
        elif found[j] is None:
            problems[i] = (
                f"B {p['lat']:.6f}, L {p['lon']:.6f} lie outside every district of the "
                "workspace; wrong coordinates, or swapped B/L?"
            )
        else:
            p["district"] = found[j]
    return problems


def validate_rows(
    frame: pd.DataFrame, labels: list[str], ws: Workspace
) -> tuple[list[ControlPoint], list[int], list[tuple[int, str]]]:
    """Validate an input frame.

    Returns:
        (records, the row index of each record, [(row index, reason)] for bad rows).
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
    parsed: list[dict | None] = []
    first_seen: dict[str, int] = {}
    records_raw = frame.to_dict("records")
    for i, row in enumerate(records_raw):
        try:
            p = _parse_row(row, fields_, ctx)
        except _RowError as exc:
            problems[i] = str(exc)
            parsed.append(None)
            continue
        if p["point_id"] in first_seen:
            problems[i] = (
                f"duplicate point id {p['point_id']!r} (first on {labels[first_seen[p['point_id']]]})"
            )
            parsed.append(None)
            continue
        first_seen[p["point_id"]] = i
        parsed.append(p)
    good = [i for i, p in enumerate(parsed) if p is not None]
    sub = [parsed[i] for i in good]
    for j, msg in _reconcile(sub, [labels[i] for i in good], ctx).items():
        problems[good[j]] = msg
    good = [i for i in good if i not in problems]
    problems.update(_assign_districts(parsed, good, ctx))
    good = [i for i in good if i not in problems]
    records: list[ControlPoint] = []
    rows: list[int] = []
    if good:
        lon = np.array([parsed[i]["lon"] for i in good])
        lat = np.array([parsed[i]["lat"] for i in good])
        s10k = sheet_codes(lon, lat, 10_000)
        y_plain = np.array(
            [
                parsed[i]["y_east"]
                - (parsed[i]["zone"].number * 1_000_000 if parsed[i]["zone"].prefixed else 0)
                for i in good
            ]
        )
        s500 = rect_sheet_codes(y_plain, np.array([parsed[i]["x_north"] for i in good]), 500)
        for j, i in enumerate(good):
            p = dict(parsed[i])
            p.pop("zone")
            try:
                records.append(ControlPoint(**p, sheet_10k=str(s10k[j]), sheet_500=str(s500[j])))
                rows.append(i)
            except GeobaseError as exc:
                problems[i] = str(exc)
    return records, rows, sorted(problems.items())


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
    now = utc_now()
    added: list[str] = []
    moved: list[str] = []
    changed: list[str] = []
    unchanged = 0
    with ws.store.transaction() as tx:
        existing: dict[str, dict] = {}
        ids = [r.point_id for r in records]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            params = {f"p{k}": v for k, v in enumerate(chunk)}
            marks = ", ".join(f":{k}" for k in params)
            for row in tx.query(
                f"SELECT * FROM control_points WHERE point_id IN ({marks})", params
            ):
                existing[row["point_id"]] = row
        new = [r for r in records if r.point_id not in existing]
        if new:
            geoms = tx.geoms(shapely.points([r.lon for r in new], [r.lat for r in new]), 4490)
            rows = []
            for r, g in zip(new, geoms, strict=True):
                row = {
                    f: _db_value(f, getattr(r, f))
                    for f in ("point_id", *_ATTR_FIELDS, *_COORD_FIELDS)
                }
                row.update(
                    geom=g,
                    version=1,
                    source_file=source_file,
                    created_at=now,
                    updated_at=now,
                    replaces=r.replaces,
                )
                rows.append(row)
            tx.insert_many("control_points", rows)
            added = [r.point_id for r in new]
        problems = []
        for r in records:
            old = existing.get(r.point_id)
            if old is None:
                continue
            coords_changed = any(
                not _same(old[f], _db_value(f, getattr(r, f))) for f in _COORD_FIELDS
            )
            attrs_changed = any(
                not _same(old[f], _db_value(f, getattr(r, f))) for f in _ATTR_FIELDS
            )
            if not coords_changed and not attrs_changed:
                unchanged += 1
                continue
            if old["retired_on"] is not None and coords_changed:
                problems.append(
                    (
                        None,
                        f"point {r.point_id} was retired on {old['retired_on']} (moved, "
                        f"replaced by {old['replaced_by']}); a moved mark gets a new id",
                    )
                )
                continue
            update = {f: _db_value(f, getattr(r, f)) for f in _ATTR_FIELDS}
            version = old["version"]
            if coords_changed:
                history = {f: old[f] for f in _COORD_FIELDS}
                history.update(
                    point_id=r.point_id,
                    version=version,
                    source_file=old["source_file"],
                    valid_from=old["updated_at"],
                    superseded_at=now,
                )
                tx.insert("control_point_history", history)
                update.update({f: _db_value(f, getattr(r, f)) for f in _COORD_FIELDS})
                update["geom"] = tx.geom(shapely.Point(r.lon, r.lat), 4490)
                version += 1
                moved.append(r.point_id)
            else:
                changed.append(r.point_id)
            update.update(version=version, updated_at=now, source_file=source_file, pid=r.point_id)
            sets = ", ".join(f"{k} = :{k}" for k in update if k != "pid")
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
    """Import control points from a CSV (UTF-8 or GBK), GeoPackage or GeoJSON file.

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
    records, _rows, problems = validate_rows(frame, labels, ws)
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
    if records:
        result.added, result.moved, result.changed, result.unchanged = write_records(
            ws, records, path.name
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
    try:
        rejects.to_csv(out, index=False, encoding="utf-8-sig", lineterminator="\n")
    except OSError as exc:
        raise SourceReadError(f"cannot write rejected rows to {out}: {exc.strerror}") from None
    return out
