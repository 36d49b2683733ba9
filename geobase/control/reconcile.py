"""Coordinates and districts of parsed control rows: fill, agree, zone, district, sheets.

Works on the columns :func:`geobase.control.rows.parse_rows` gives (one array per field,
indexed by input row); each function returns ``{row index: problem}`` for the rows it
refuses and fills the others in place.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from geobase.control.rows import Context
from geobase.errors import GeobaseError
from geobase.geodesy.transform import ZONE_OVERLAP, check_coordinates, transform, within_zone
from geobase.geodesy.zones import gk_zone_of, zone_for

AGREEMENT_M = 0.001  # B/L and x/y of one point must agree within 1 mm


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


def zone_attrs(zones: np.ndarray) -> dict[str, np.ndarray]:
    """west, east, number, width, prefixed of each row's zone (NaN/0 where None)."""
    codes, uniques = pd.factorize(pd.Series(zones, dtype=object), use_na_sentinel=True)
    attrs = {}
    for name in ("west", "east", "number", "width", "prefixed"):
        table = np.array([float(getattr(z, name)) for z in uniques] + [np.nan])
        attrs[name] = table[codes]
    return attrs


def reconcile(c: dict[str, np.ndarray], ctx: Context) -> dict[int, str]:
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
    z = zone_attrs(zones)
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


def assign_districts(c: dict[str, np.ndarray], rows: np.ndarray, ctx: Context) -> dict[int, str]:
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


def invalid_records(c: dict[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
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
