"""Reading the control-point registry: one point, its history, and search.

Spatial searches use the store's R-tree: a radius search turns the radius into a
generous bounding box (from the geodesic, on the CGCS2000 ellipsoid), lets the R-tree pick
the candidates, and keeps those whose geodesic distance is within the radius; a district
or polygon search lets the R-tree pick the candidates in the polygon's box and keeps those
inside the polygon.

:func:`radius_fids` (and :func:`within_radius`) has a fast path on the GeoPackage store,
the *SQL distance bracket*: the R-tree query itself bounds each candidate's distance and
settles those clearly inside or outside, and only a thin band around the circle is
measured exactly. Its reference is the brute-force geodesic distance (pyproj ``Geod`` on
the CGCS2000 ellipsoid) from the centre to every mark, :func:`radius_fids_geodesic`. The
switch: ``method="geodesic"`` (or the environment variable
``GEOBASE_RADIUS_METHOD=geodesic``, which changes the default) uses the reference;
``method="bracket"`` (the default) the fast path. Both return the same set
(``tests/test_control_radius.py`` checks it on generated points).

Example:
    >>> frame = search(ws, near=(116.682, 23.354), radius=5000, grade="C")  # doctest: +SKIP
    >>> frame[["point_id", "name", "distance_m"]]  # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import math
import os
from typing import Any, Literal

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geobase.control.records import ControlPoint, parse_grade, parse_kind
from geobase.dates import parse_date
from geobase.errors import InvalidCoordinates, NotFoundError, ValidationError
from geobase.geodesy.constants import CGCS2000
from geobase.store import Workspace
from geobase.store.base import Store, Transaction

GEOD = CGCS2000.geod()
_AZIMUTHS = np.arange(0.0, 360.0, 10.0)
# sampling the circle every 10 degrees underestimates its extent by at most 1 - cos(5°)
_PAD = 1.01

USABILITY_FILTERS = ("usable", "unusable", "gnss", "levelling", "both", "none", "uninspected")

POINT_COLUMNS = (
    "point_id, name, kind, cors, gnss_grade, level_grade, cjj_grade, district, lon, lat, "
    "ellh, geo_source, geo_epoch, x_north, y_east, gk_epsg, grid_source, grid_epoch, "
    "normal_h, height_source, height_epoch, mark_type, established, custodian, site, route, "
    "notes, sheet_10k, sheet_500, replaces, replaced_by, retired_on, version"
)

# the latest inspection of each mark (inspected_on, then the order of recording)
LATEST_INSPECTION = (
    "SELECT i.point_id, i.condition, i.usability, i.inspected_on FROM control_inspections i "
    "WHERE i.fid = (SELECT j.fid FROM control_inspections j WHERE j.point_id = i.point_id "
    "ORDER BY j.inspected_on DESC, j.fid DESC LIMIT 1)"
)


def _none(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and value != value:
        return None
    return value


def row_to_point(row: dict[str, Any]) -> ControlPoint:
    """A registry row (as read from the store) as a :class:`ControlPoint`."""
    values = {k: _none(row.get(k)) for k in POINT_COLUMNS.replace(" ", "").split(",")}
    for name in ("established", "retired_on"):
        if values[name] is not None:
            values[name] = parse_date(values[name], partial=True)
    values["cors"] = bool(values["cors"])
    values["gk_epsg"] = int(values["gk_epsg"])
    values["version"] = int(values["version"])
    return ControlPoint(**values)


def get_point(ws: Workspace, point_id: str) -> ControlPoint:
    """One control point by its id.

    Raises:
        NotFoundError: no point has this id.
    """
    with ws.store.read() as tx:
        row = tx.query_one(
            f"SELECT {POINT_COLUMNS} FROM control_points WHERE point_id = :id", {"id": point_id}
        )
    if row is None:
        raise NotFoundError(f"no control point {point_id!r} in the registry")
    return row_to_point(row)


def coordinate_history(ws: Workspace, point_id: str) -> list[dict[str, Any]]:
    """The coordinates a point had before later imports replaced them (oldest first)."""
    get_point(ws, point_id)
    with ws.store.read() as tx:
        return tx.query(
            "SELECT * FROM control_point_history WHERE point_id = :id ORDER BY version",
            {"id": point_id},
        )


# the ellipsoid's radii of curvature give the box analytically; beyond this radius (or
# near a pole) the geodesic circle is sampled instead
_ANALYTIC_MAX_M = 300_000.0
_A = CGCS2000.a
_E2 = CGCS2000.e2


def radius_bbox(lon: float, lat: float, radius: float) -> tuple[float, float, float, float]:
    """A box (degrees) that holds every point within ``radius`` metres of (lon, lat).

    Generous by 2 % (plus a micro-degree), so that the R-tree (float32 bounds) never
    misses a point the geodesic keeps.
    """
    lon, lat, radius = float(lon), float(lat), float(radius)
    if radius <= _ANALYTIC_MAX_M and abs(lat) < 80.0:
        s = math.sin(math.radians(lat))
        w = math.sqrt(1.0 - _E2 * s * s)
        meridian = _A * (1.0 - _E2) / (w * w * w)  # M, smallest radius near the point
        dlat = math.degrees(radius * 1.02 / meridian)
        poleward = min(abs(lat) + dlat, 89.0)
        sp = math.sin(math.radians(poleward))
        normal = _A / math.sqrt(1.0 - _E2 * sp * sp)  # N at the poleward edge
        dlon = math.degrees(radius * 1.02 / (normal * math.cos(math.radians(poleward))))
        return (lon - dlon - 1e-6, lat - dlat - 1e-6, lon + dlon + 1e-6, lat + dlat + 1e-6)
    n = len(_AZIMUTHS)
    lons, lats, _ = GEOD.fwd(np.full(n, lon), np.full(n, lat), _AZIMUTHS, np.full(n, radius * _PAD))
    lons = np.where(lons - lon > 180, lons - 360, np.where(lons - lon < -180, lons + 360, lons))
    return (
        float(lons.min()) - 1e-9,
        max(float(lats.min()), -90.0) - 1e-9,
        float(lons.max()) + 1e-9,
        min(float(lats.max()), 90.0) + 1e-9,
    )


def geodesic_distance(lon: float, lat: float, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """Geodesic distances (m, CGCS2000 ellipsoid) from (lon, lat) to each point."""
    n = len(lons)
    if n == 0:
        return np.empty(0)
    _, _, dist = GEOD.inv(np.full(n, float(lon)), np.full(n, float(lat)), lons, lats)
    return np.asarray(dist, dtype=float)


# the fast path of radius_fids: a local (mid-latitude) ellipsoidal approximation decides
# every candidate that is clearly inside or outside; a band around the circle, wider than
# the approximation's error, is decided by the exact geodesic
_FAST_MAX_M = 50_000.0
_FAST_MAX_LAT = 60.0
_FAST_REL_BAND = 5e-4  # the approximation errs by < 2e-4 of the distance here (tested)


def _local_d2(lon: float, lat: float, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """Approximate squared distances (m²) by the mid-latitude formula on the ellipsoid.

    The radii of curvature are taken at ``lat`` (they change by < 1e-4 over 50 km); the
    parallel's scale uses each pair's mid-latitude.
    """
    s = math.sin(math.radians(lat))
    w = math.sqrt(1.0 - _E2 * s * s)
    per_degree = math.pi / 180.0
    ky = _A * (1.0 - _E2) / (w * w * w) * per_degree
    kx = np.cos(np.radians(lats * 0.5 + lat * 0.5)) * (_A / w * per_degree)
    dx = (lons - lon) * kx
    dy = (lats - lat) * ky
    return dx * dx + dy * dy


RadiusMethod = Literal["bracket", "geodesic"]
RADIUS_METHODS: tuple[str, ...] = ("bracket", "geodesic")
#: environment variable that changes the default of ``method`` (see the module docstring)
RADIUS_METHOD_ENV = "GEOBASE_RADIUS_METHOD"


def radius_method(method: str | None = None) -> str:
    """The radius-search method to use: ``method``, else ``$GEOBASE_RADIUS_METHOD``, else
    ``bracket``.

    Raises:
        ValidationError: not one of :data:`RADIUS_METHODS`.
    """
    chosen = method or os.environ.get(RADIUS_METHOD_ENV) or "bracket"
    if chosen not in RADIUS_METHODS:
        where = "method" if method else RADIUS_METHOD_ENV
        raise ValidationError(f"{where} {chosen!r}: expected one of {', '.join(RADIUS_METHODS)}")
    return chosen


def radius_fids_geodesic(tx: Transaction, lon: float, lat: float, radius: float) -> np.ndarray:
    """Reference of :func:`radius_fids`: the geodesic distance to every mark, no index.

    Row ids (``fid``, sorted) of the marks within ``radius`` metres of (lon, lat).
    """
    if not radius >= 0:
        raise InvalidCoordinates(f"radius {radius!r} m: expected a distance >= 0")
    rows = tx.execute("SELECT fid, lon, lat FROM control_points").fetchall()
    if not rows:
        return np.empty(0, dtype=np.int64)
    fids, lons, lats = (np.array(c) for c in zip(*rows, strict=True))
    near = geodesic_distance(lon, lat, lons.astype(float), lats.astype(float)) <= float(radius)
    return np.sort(fids[near].astype(np.int64))


def radius_fids(
    tx: Transaction,
    lon: float,
    lat: float,
    radius: float,
    method: RadiusMethod | None = None,
) -> np.ndarray:
    """Row ids (``fid``) of the marks within ``radius`` metres (geodesic) of (lon, lat).

    The exact set a geodesic distance check over all marks returns. On the GeoPackage
    store the R-tree's own envelopes (float32, rounded outward) decide every candidate
    that is clearly inside or outside the circle, and only those within a thin band
    around it are read from the registry and measured exactly; elsewhere (other stores,
    radii over 50 km, latitudes beyond 60°) every candidate is measured exactly.

    Args:
        tx: a read transaction of the store.
        lon, lat: the centre (degrees, CGCS2000).
        radius: metres.
        method: ``bracket`` (the fast path above) or ``geodesic`` (the reference,
            :func:`radius_fids_geodesic`); None: :func:`radius_method`'s default.

    Raises:
        InvalidCoordinates: a negative or NaN radius.
        ValidationError: an unknown method.
    """
    if not radius >= 0:
        raise InvalidCoordinates(f"radius {radius!r} m: expected a distance >= 0")
    if radius_method(method) == "geodesic":
        return radius_fids_geodesic(tx, lon, lat, radius)
    lon, lat, radius = float(lon), float(lat), float(radius)
    box = radius_bbox(lon, lat, radius)
    if tx.dialect != "gpkg" or radius > _FAST_MAX_M or abs(lat) > _FAST_MAX_LAT:
        condition, params = tx.bbox_filter("control_points", box, alias="p")
        rows = tx.execute(
            f"SELECT p.fid, p.lon, p.lat FROM control_points p WHERE {condition}", params
        ).fetchall()
        if not rows:
            return np.empty(0, dtype=np.int64)
        fids, lons, lats = (np.array(c) for c in zip(*rows, strict=True))
        return fids[geodesic_distance(lon, lat, lons.astype(float), lats.astype(float)) <= radius]
    # scales (m per degree) bounding those of every pair in the box, so that the SQL
    # below brackets the mid-latitude distance of each candidate
    _, miny, _, maxy = box
    far = max(abs(miny), abs(maxy))
    near = 0.0 if miny <= 0.0 <= maxy else min(abs(miny), abs(maxy))
    per_degree = math.pi / 180.0

    def m_and_n(phi: float) -> tuple[float, float]:
        s = math.sin(math.radians(phi))
        w = math.sqrt(1.0 - _E2 * s * s)
        return _A * (1.0 - _E2) / (w * w * w) * per_degree, _A / w * per_degree

    m_near, n_near = m_and_n(near)
    m_far, n_far = m_and_n(far)
    kx_lo = n_near * math.cos(math.radians(far))
    kx_hi = n_far * math.cos(math.radians(near))
    # the R-tree holds float32 bounds rounded outward: a point's lower corner is within one
    # float32 step (per axis) of the point
    steps = math.hypot(_f32_step(abs(lon) + 1.0), _f32_step(abs(lat) + 1.0))
    band = _FAST_REL_BAND * radius + 112_000.0 * steps + 0.005
    low = max(radius - band, 0.0)
    rows = tx.execute(
        _RTREE_SQL,
        (lon, lat, kx_hi, m_far, low * low, kx_lo, m_near, (radius + band) ** 2, *box),
    ).fetchall()
    if not rows:
        return np.empty(0, dtype=np.int64)
    flags = np.fromiter(itertools.chain.from_iterable(rows), np.int64, 2 * len(rows))
    fids, inside = flags[0::2], flags[1::2].astype(bool)
    unsure = ~inside
    if not unsure.any():
        return fids[inside]
    check = fids[unsure].tolist()
    marks = ", ".join("?" * len(check))
    exact = tx.execute(
        f"SELECT fid, lon, lat FROM control_points WHERE fid IN ({marks})", check
    ).fetchall()
    ef, elon, elat = (np.array(c) for c in zip(*exact, strict=True))
    keep = ef[geodesic_distance(lon, lat, elon.astype(float), elat.astype(float)) <= radius]
    return np.sort(np.concatenate([fids[inside], keep.astype(np.int64)]))


def _f32_step(value: float) -> float:
    """The spacing of float32 numbers at ``value`` (degrees; an upper bound near it)."""
    return 2.0 ** (math.frexp(value)[1] - 24)


# candidates of the box whose upper-bound distance is within the inner radius (flag 1:
# inside for sure) or whose lower-bound distance is within the outer radius (flag 0: to be
# measured exactly); ?1 lon, ?2 lat, ?3/?4 upper scales, ?5 inner radius², ?6/?7 lower
# scales, ?8 outer radius², ?9..?12 the box
_RTREE_SQL = (
    "SELECT id, ((minx - ?1) * ?3) * ((minx - ?1) * ?3) + ((miny - ?2) * ?4) * ((miny - ?2) * ?4)"
    " <= ?5 FROM rtree_control_points_geom WHERE maxx >= ?9 AND minx <= ?11 AND maxy >= ?10"
    " AND miny <= ?12 AND ((minx - ?1) * ?6) * ((minx - ?1) * ?6)"
    " + ((miny - ?2) * ?7) * ((miny - ?2) * ?7) <= ?8"
)


def within_radius(
    tx: Transaction, lon: float, lat: float, radius: float, method: RadiusMethod | None = None
) -> tuple[list[str], np.ndarray]:
    """Ids of the marks within ``radius`` metres (geodesic) of (lon, lat) and their exact
    distances, nearest first (see :func:`radius_fids` for ``method``)."""
    fids = radius_fids(tx, lon, lat, radius, method)
    if len(fids) == 0:
        return [], np.empty(0)
    out: list[tuple[str, float, float]] = []
    values = fids.tolist()
    for start in range(0, len(values), 900):
        chunk = values[start : start + 900]
        out += tx.execute(
            "SELECT point_id, lon, lat FROM control_points WHERE fid IN "
            f"({', '.join('?' * len(chunk))})",
            chunk,
        ).fetchall()
    ids, lons, lats = zip(*out, strict=True)
    dist = geodesic_distance(lon, lat, np.array(lons, dtype=float), np.array(lats, dtype=float))
    order = np.lexsort((np.array(ids), dist))
    return [ids[i] for i in order], dist[order]


def _grade_condition(grade: str, kind: str | None) -> tuple[str, dict[str, str]]:
    parsed = parse_grade(grade, kind)
    column = {
        "gnss": "p.gnss_grade",
        "levelling": "p.level_grade",
        "cjj": "p.cjj_grade",
    }.get(parsed.scheme)
    if column is None:
        return "p.cors = 1", {}
    return f"{column} = :grade", {"grade": parsed.code}


def _usability_condition(usability: str) -> str:
    if usability not in USABILITY_FILTERS:
        raise ValidationError(
            f"unknown usability filter {usability!r}: expected one of {', '.join(USABILITY_FILTERS)}"
        )
    return {
        "usable": "s.usability IN ('gnss', 'levelling', 'both')",
        "unusable": "s.usability = 'none'",
        "gnss": "s.usability IN ('gnss', 'both')",
        "levelling": "s.usability IN ('levelling', 'both')",
        "both": "s.usability = 'both'",
        "none": "s.usability = 'none'",
        "uninspected": "s.point_id IS NULL",
    }[usability]


def search(
    ws: Workspace,
    *,
    point_id: str | None = None,
    name: str | None = None,
    near: tuple[float, float] | None = None,
    near_id: str | None = None,
    radius: float | None = None,
    district: str | None = None,
    polygon: BaseGeometry | None = None,
    kind: str | None = None,
    grade: str | None = None,
    usability: str | None = None,
    include_retired: bool = False,
    limit: int | None = None,
):
    """Search the registry; all given criteria must hold.

    Args:
        ws: the workspace.
        point_id: exact id.
        name: part of the name (Chinese or not, case-insensitive for ASCII).
        near: (lon, lat) centre of a radius search, or ``near_id``: a mark's id.
        radius: metres (geodesic, CGCS2000 ellipsoid); needs ``near`` or ``near_id``.
        district: a district name (the point must lie inside its polygon).
        polygon: a shapely polygon in EPSG:4490.
        kind: cors, gnss, levelling or city (Chinese names accepted).
        grade: any grade spelling (``C``, ``C级``, ``三等水准``, ``一级``, ``CORS``).
        usability: current usability from the latest inspection: usable, unusable, gnss,
            levelling, both, none or uninspected.
        include_retired: also return retired (moved) marks.
        limit: at most this many rows.

    Returns:
        A GeoDataFrame (EPSG:4490) with the point's fields, its current ``condition``,
        ``usability`` and ``last_inspected``, and ``distance_m`` for a radius search,
        sorted by distance or by id.

    Raises:
        ValidationError: inconsistent criteria; NotFoundError: unknown ``near_id`` or
        district; UnknownGrade: unknown grade.
    """
    import geopandas as gpd

    from geobase.store.districts import district_geometry

    store = ws.store
    conditions: list[str] = []
    params: dict[str, Any] = {}
    if kind is not None:
        kind = parse_kind(kind)
        conditions.append("p.kind = :kind")
        params["kind"] = kind
    if grade is not None:
        sql, extra = _grade_condition(grade, kind)
        conditions.append(sql)
        params.update(extra)
    if point_id is not None:
        conditions.append("p.point_id = :point_id")
        params["point_id"] = point_id
    if name is not None:
        conditions.append("p.name LIKE :name ESCAPE '\\'")
        escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params["name"] = f"%{escaped}%"
    if not include_retired:
        conditions.append("p.retired_on IS NULL")
    if usability is not None:
        conditions.append(_usability_condition(usability))
    if (near is not None or near_id is not None) and radius is None:
        raise ValidationError("a search near a point needs a radius in metres")
    if radius is not None and near is None and near_id is None:
        raise ValidationError("a radius needs a centre: near=(lon, lat) or near_id")
    if near is not None and near_id is not None:
        raise ValidationError("give near or near_id, not both")
    if near_id is not None:
        centre = get_point(ws, near_id)
        near = (centre.lon, centre.lat)
    if near is not None:
        lon, lat = float(near[0]), float(near[1])
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise InvalidCoordinates(f"centre {lon}, {lat} is not lon, lat in degrees (lon first)")
    areas: list[Any] = []  # shapely geometries (its stubs lack the attributes used here)
    if district is not None:
        areas.append(district_geometry(store, district))
    if polygon is not None:
        shape: Any = polygon
        if shape.geom_type not in ("Polygon", "MultiPolygon") or shape.is_empty:
            raise ValidationError(f"search area must be a polygon, got a {shape.geom_type}")
        areas.append(polygon)
    boxes = [area.bounds for area in areas]
    if near is not None:
        boxes.append(radius_bbox(near[0], near[1], float(radius or 0.0)))
    with store.read() as tx:
        if boxes:
            # one R-tree condition: the intersection of every spatial criterion's box
            box = (
                max(b[0] for b in boxes),
                max(b[1] for b in boxes),
                min(b[2] for b in boxes),
                min(b[3] for b in boxes),
            )
            if box[0] > box[2] or box[1] > box[3]:
                conditions.append("1 = 0")
            else:
                sql, bbox_params = tx.bbox_filter("control_points", box, alias="p")
                conditions.append(sql)
                params.update(bbox_params)
        where = " AND ".join(conditions) or "1 = 1"
        sql = (
            f"SELECT p.{POINT_COLUMNS.replace(', ', ', p.')}, s.condition, s.usability, "
            f"s.inspected_on AS last_inspected, p.geom FROM control_points p "
            f"LEFT JOIN ({LATEST_INSPECTION}) s ON s.point_id = p.point_id WHERE {where} "
            "ORDER BY p.point_id"
        )
        rows = tx.query(sql, params)
    frame = _frame(store, rows)
    if len(frame):
        lons, lats = frame["lon"].to_numpy(float), frame["lat"].to_numpy(float)
        keep = np.ones(len(frame), dtype=bool)
        for area in areas:
            keep &= shapely.intersects_xy(area, lons, lats)
        if near is not None:
            dist = geodesic_distance(near[0], near[1], lons, lats)
            keep &= dist <= radius
            frame = frame.assign(distance_m=dist)
        frame = frame[keep]
        if near is not None:
            frame = frame.sort_values(["distance_m", "point_id"], kind="stable")
    elif near is not None:
        frame = frame.assign(distance_m=[])
    if limit is not None:
        frame = frame.head(limit)
    return gpd.GeoDataFrame(frame.reset_index(drop=True), geometry="geometry", crs=4490)


def _frame(store: Store, rows: list[dict[str, Any]]):
    import geopandas as gpd
    import pandas as pd

    columns = [
        *POINT_COLUMNS.replace(" ", "").split(","),
        "condition",
        "usability",
        "last_inspected",
    ]
    if not rows:
        return gpd.GeoDataFrame(
            pd.DataFrame(columns=columns), geometry=gpd.GeoSeries([], crs=4490), crs=4490
        )
    geoms = store.read_geoms([r.pop("geom") for r in rows])
    frame = pd.DataFrame(rows, columns=columns)
    frame["cors"] = frame["cors"].astype(bool)
    return gpd.GeoDataFrame(frame, geometry=list(geoms), crs=4490)


def nearest(ws: Workspace, point: ControlPoint, count: int = 5, max_m: float = 20_000.0):
    """The ``count`` nearest other active marks within ``max_m`` metres, nearest first."""
    frame = search(ws, near=(point.lon, point.lat), radius=max_m)
    frame = frame[frame["point_id"] != point.point_id]
    return frame.head(count)
