"""Plain records describing CRSs, Gauss-Kruger zones and fitted parameters.

What ``geobase crs info``, ``crs zone`` and ``crs fit`` show, as dicts and tables that any
boundary (command line, web service, report) can render.

Example:
    >>> [row["epsg"] for row in zones_at(116.682, 23.354)]
    ['EPSG:4527', 'EPSG:4548', 'EPSG:4498', 'EPSG:4509']
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from geobase.geodesy.lonlat import check_lonlat
from geobase.geodesy.transform import CRSLike, check_coordinates, transform
from geobase.geodesy.zones import (
    GKZone,
    Width,
    crs_label,
    gk_system_of,
    gk_zone_of,
    resolve_crs,
    zone_for,
)

if TYPE_CHECKING:
    import pandas as pd

    from geobase.geodesy.fit import FitResult


def describe_crs(spec: CRSLike) -> dict[str, Any]:
    """The properties of a CRS, with its Gauss-Kruger zone where it is one.

    Args:
        spec: Anything :func:`resolve_crs` accepts (``EPSG:4548``, ``gk3:39``, ...).

    Returns:
        An ordered dict: name, EPSG code, datum, ellipsoid, axes, geobase's axis order,
        zone properties and area of use.

    Raises:
        UnknownCRS: the CRS is not understood.
    """
    crs_ = resolve_crs(spec)
    record: dict[str, Any] = {
        "input": spec if isinstance(spec, str | int) else crs_label(crs_),
        "name": crs_.name,
        "crs": crs_label(crs_),
        "epsg": crs_.to_epsg(min_confidence=100),
        "type": crs_.type_name,
    }
    if crs_.datum is not None:
        record["datum"] = crs_.datum.name
    if crs_.ellipsoid is not None:
        record["ellipsoid"] = crs_.ellipsoid.name
        record["semi_major_axis"] = crs_.ellipsoid.semi_major_metre
        record["inverse_flattening"] = crs_.ellipsoid.inverse_flattening
    record["axes_epsg_order"] = ", ".join(
        f"{a.name} ({a.direction}, {a.unit_name})" for a in crs_.axis_info
    )
    if crs_.is_geographic:
        record["geobase_order"] = "lon, lat (always_xy)"
    elif crs_.is_projected:
        record["geobase_order"] = "east, north (always_xy)"
    zone = gk_zone_of(crs_)
    system = gk_system_of(crs_) if zone is None else None
    if system is not None:  # a legacy datum's Gauss-Kruger system
        other = system.with_prefix(not system.prefixed)
        record.update(
            {
                "gauss_kruger": f"{system.width}-degree zone {system.number}",
                "central_meridian": system.central_meridian,
                "false_easting": system.false_easting,
                "zone_prefix": system.prefixed,
                "zone_west": system.west,
                "zone_east": system.east,
                "counterpart": f"{other.label} ({'with' if other.prefixed else 'without'} "
                "zone prefix)",
                "survey_axes": "x = north, y = east",
            }
        )
    if zone is not None:
        twin = zone.with_prefix(not zone.prefixed)
        record.update(
            {
                "gauss_kruger": f"{zone.width}-degree zone {zone.number}",
                "central_meridian": zone.central_meridian,
                "false_easting": zone.false_easting,
                "zone_prefix": zone.prefixed,
                "short_name": zone.short_name,
                "zone_west": zone.west,
                "zone_east": zone.east,
                "counterpart": f"EPSG:{twin.epsg} ({'with' if twin.prefixed else 'without'} "
                "zone prefix)",
                "survey_axes": "x = north, y = east",
                "proj4": zone.proj4,
            }
        )
    area = crs_.area_of_use
    if area is not None:
        record["area_of_use"] = area.name
        record["bounds"] = ", ".join(f"{v:g}" for v in area.bounds)
    return record


def zones_at(lon: float, lat: float) -> list[dict[str, Any]]:
    """The 3- and 6-degree zones holding a CGCS2000 point, with and without prefix.

    Args:
        lon: Longitude, degrees.
        lat: Latitude, degrees.

    Returns:
        One record per system: width, zone, central meridian, prefix, EPSG code, short
        name and the point's east/north (0.1 mm).

    Raises:
        InvalidCoordinates, AxisOrderError: the point is implausible or outside China's
            zones.
    """
    if not (math.isfinite(lon) and math.isfinite(lat)):
        check_lonlat(lon, lat, "point")  # refuses NaN / Infinity in one line
    check_coordinates([lon], [lat], 4490)
    rows = []
    widths: tuple[Width, ...] = (3, 6)
    for width in widths:
        zone = zone_for(lon, width)
        for prefixed in (True, False):
            system = GKZone(zone.width, zone.number, prefixed)
            east, north = transform([lon], [lat], 4490, system, check=False)
            rows.append(
                {
                    "width": f"{width}-degree",
                    "zone": system.number,
                    "central_meridian": system.central_meridian,
                    "prefix": "yes" if prefixed else "no",
                    "epsg": f"EPSG:{system.epsg}",
                    "short_name": system.short_name,
                    "east": round(float(east[0]), 4),
                    "north": round(float(north[0]), 4),
                }
            )
    return rows


def parse_ids(text: str | None) -> list[str]:
    """Point ids from a list separated by commas (also ``，``), semicolons or blanks."""
    if not text:
        return []
    return [part for part in re.split(r"[,，;\s]+", text) if part]


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.10g}" if math.isfinite(value) else str(value)
    if isinstance(value, tuple | list):
        return ", ".join(_show(v) for v in value)
    return str(value)


def fit_summary(result: FitResult) -> list[dict[str, str]]:
    """The parameters and accuracy of a fit as ``parameter, value`` rows of text."""
    report = result.report
    params = result.parameters.parameters
    summary: dict[str, Any] = {"model": params.model, **params.model_dump(exclude={"model"})}
    summary.update(
        {
            "points": f"{report.n_fit} fit, {len(report.rejected)} rejected, "
            f"{report.n_check} check",
            "rms_m": f"{report.rms:.4f} per coordinate, {report.point_rms:.4f} per point",
            "sigma0_m": "-" if report.sigma0 is None else f"{report.sigma0:.4f}",
        }
    )
    if report.sigma_reference is not None:
        source = (
            "a-priori (--sigma)"
            if report.sigma_apriori is not None
            else f"sigma0 of the fit, {report.sigma_dof} dof; each point judged by the fit "
            "without it"
        )
        summary["test_sigma_m"] = f"{report.sigma_reference:.4f} ({source})"
    if report.critical_w is not None:
        summary["critical_w"] = f"{report.critical_w:.2f} (alpha {report.alpha:g})"
    if report.global_test is not None:
        test = report.global_test
        summary["global_test"] = (
            f"{'passed' if test.passed else 'FAILED'}: sum v'v/sigma^2 = {test.statistic:.2f}, "
            f"chi-square({test.dof}) 95% range {test.lower:.2f}..{test.upper:.2f}"
        )
    if report.condition is not None:
        summary["condition"] = f"{report.condition:.3g}"
    if report.spread_ratio is not None:
        summary["spread_ratio"] = f"{report.spread_ratio:.3g} (across / along the main axis)"
    if report.check_rms is not None:
        summary["check_rms_m"] = (
            f"{report.check_rms:.4f} per coordinate, {report.check_point_rms:.4f} per point"
        )
    return [{"parameter": k, "value": _show(v)} for k, v in summary.items()]


def residuals_table(result: FitResult) -> pd.DataFrame:
    """The residuals of a fit with metres as text to 0.1 mm."""
    residuals = result.residuals_frame()
    for column in ("de", "dn", "du", "residual"):
        if column in residuals:
            residuals[column] = residuals[column].map(lambda v: f"{v:.4f}")
    for column, digits in (("redundancy", 3), ("w", 2)):
        if column in residuals:
            residuals[column] = residuals[column].map(
                lambda v, k=digits: "-" if v is None or v != v else f"{v:.{k}f}"
            )
    return residuals
