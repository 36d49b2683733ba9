"""Coverage and currency per product and district, as of a date.

Coverage of a product is the union of the valid-data footprints of its current datasets
(:func:`geobase.catalog.current_datasets`, which applies the as-of rules: data acquired on
or before the date, the newest version so acquired, removals recorded after the date
ignored). Currency (现势性) is the age of the newest data covering a place, measured from
the as-of date to the dataset's ``acquired_end``.

Areas are computed in the workspace's projected CRS (default EPSG:4548, CGCS2000
Gauss-Kruger, central meridian 117°E, the city's working system): footprints and
boundaries are densified in EPSG:4490 and projected, so areas are in square metres on the
plane, never in degrees. Over Shantou (at most about 0.7° from the central meridian) the
Gauss-Kruger area scale differs from 1 by less than 1e-4.

The age distribution of a district is exact: with ``C(t)`` the union of the footprints
younger than ``t`` years, the area whose newest data falls in ``[a, b)`` is
``|C(b) ∩ d| - |C(a) ∩ d|``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from geobase.catalog import current_datasets, products_for
from geobase.coverage.settings import CoverageSettings, age_years, coverage_settings, parse_as_of
from geobase.errors import NotFoundError, UnknownCRS, WorkspaceError
from geobase.store.districts import list_districts

logger = logging.getLogger(__name__)

CITY = "全市"
CITY_EN = "whole city"


@dataclass(frozen=True)
class AgeClass:
    """One age class ``[low, high)`` in years (``high`` None: open; both None: unknown)."""

    key: str
    low: float | None
    high: float | None

    @property
    def label_zh(self) -> str:
        """The class in Chinese, built from its bounds."""
        if self.low is None and self.high is None:
            return "未知"
        if self.high is None:
            return f"{self.low:g}年以上"
        if not self.low:
            return f"{self.high:g}年内"
        return f"{self.low:g}-{self.high:g}年"

    @property
    def label_en(self) -> str:
        """The class in English, built from its bounds."""
        if self.low is None and self.high is None:
            return "unknown"
        if self.high is None:
            return f"≥{self.low:g} y"
        if not self.low:
            return f"<{self.high:g} y"
        return f"{self.low:g}-{self.high:g} y"

    @property
    def label(self) -> str:
        """Chinese label with English alongside."""
        return f"{self.label_zh} {self.label_en}"


def age_classes(bins: Sequence[float]) -> list[AgeClass]:
    """The age classes for ascending bin edges, plus the open class and "unknown".

    Example:
        >>> [c.key for c in age_classes([1, 5])]
        ['0-1y', '1-5y', '5y+', 'unknown']
    """
    edges = [0.0, *map(float, bins)]
    classes = [AgeClass(f"{lo:g}-{hi:g}y", lo, hi) for lo, hi in itertools.pairwise(edges)]
    classes.append(AgeClass(f"{edges[-1]:g}y+", edges[-1], None))
    classes.append(AgeClass("unknown", None, None))
    return classes


# --- inputs from the workspace ----------------------------------------------------------


def area_crs(crs: str) -> CRS:
    """The projected CRS areas are computed in (the workspace CRS; geographic is refused)."""
    try:
        result = CRS.from_user_input(crs)
    except Exception as exc:  # pyproj raises CRSError, a ValueError subclass, or others
        raise UnknownCRS(f"workspace CRS {crs!r} is not understood: {exc}") from None
    if not result.is_projected:
        raise WorkspaceError(
            f"workspace CRS {crs} is not projected; coverage areas need a Gauss-Kruger or "
            "equal-area system such as EPSG:4548"
        )
    return result


def to_area_crs(frame: gpd.GeoDataFrame, crs: CRS | str, densify_deg: float) -> gpd.GeoDataFrame:
    """Valid polygons densified in their geographic CRS and projected to ``crs``.

    Footprints are made valid as they enter coverage, before densifying (GEOS repairs an
    invalid polygon it densifies by buffering it: a bow-tie would keep one triangle) and
    again after the projection.
    """
    geoms = np.asarray(valid_polygons(frame.geometry.values), dtype=object)
    if frame.crs is not None and frame.crs.is_geographic:
        geoms = shapely.segmentize(geoms, densify_deg)
    out = gpd.GeoDataFrame(frame.drop(columns="geometry"), geometry=list(geoms), crs=frame.crs)
    out = out.to_crs(crs)
    return out.set_geometry(valid_polygons(out.geometry.values), crs=out.crs)


def to_geographic(frame: gpd.GeoDataFrame, simplify_m: float | None = None) -> gpd.GeoDataFrame:
    """Coverage polygons (in the area CRS) in EPSG:4490 for maps and GeoJSON, valid.

    Valid polygons can self-intersect once projected (two ring segments a few nanometres
    apart on the plane cross after the rounding of degrees) or simplified, and a union of
    such polygons fails in GEOS; they are made valid again after the projection.
    """
    if simplify_m and len(frame):
        frame = frame.set_geometry(frame.geometry.simplify(simplify_m))
    out = frame.to_crs(4490)
    return out.set_geometry(valid_polygons(out.geometry.values), crs=out.crs)


def valid_polygons(geoms) -> list[BaseGeometry]:
    """Each geometry made valid (``shapely.make_valid``), keeping only its polygonal part.

    A self-intersecting footprint (a bow-tie) becomes the polygons it encloses; parts
    that collapse to lines or points are dropped (an empty polygon when nothing is left).
    """
    geoms = np.asarray(geoms, dtype=object)
    present = ~shapely.is_missing(geoms)
    geoms[present] = shapely.make_valid(geoms[present])
    return list(_polygonal(geoms))


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Keep the polygonal part of each geometry (make_valid may add lines or points)."""
    out = np.array(geoms, dtype=object)
    types = shapely.get_type_id(out)
    for i in np.flatnonzero(types == 7):  # GeometryCollection
        parts = shapely.get_parts(out[i])
        polys = parts[np.isin(shapely.get_type_id(parts), (3, 6))]
        out[i] = shapely.union_all(polys) if len(polys) else shapely.Polygon()
    for i in np.flatnonzero(~np.isin(types, (-1, 3, 6, 7))):  # lines, points
        out[i] = shapely.Polygon()
    return out


def load_districts_area(ws, settings: CoverageSettings | None = None) -> gpd.GeoDataFrame:
    """The workspace's districts in its area CRS (name, name_en, geometry).

    Raises:
        NotFoundError: no districts are loaded.
    """
    settings = settings or coverage_settings(ws.config.coverage)
    districts = list_districts(ws.store)
    if districts.empty:
        raise NotFoundError(
            "no districts loaded; coverage is reported per district: run "
            "'geobase districts load FILE' first"
        )
    frame = districts[["name", "name_en", "geometry"]]
    return to_area_crs(frame, area_crs(ws.config.crs), settings.densify_deg)


def load_footprints(
    ws,
    product: str | Iterable[str] | None = None,
    *,
    as_of: dt.date | str | None = None,
    settings: CoverageSettings | None = None,
) -> gpd.GeoDataFrame:
    """Footprints of the current datasets (as of a date) in the workspace's area CRS.

    Columns: dataset_id, version, product, acquired_end, age_years (at ``as_of`` or
    today; NaN when the catalogue has no acquisition date), geometry.

    Raises:
        NotFoundError: an unknown product code.
        ValidationError: a malformed as-of date.
    """
    settings = settings or coverage_settings(ws.config.coverage)
    as_of = parse_as_of(as_of)
    registry = products_for(ws.config.products)
    codes = None
    if product is not None:
        codes = [product] if isinstance(product, str) else list(product)
        for code in codes:
            registry.get(code)  # raises NotFoundError with the known codes
    records = current_datasets(ws.store, product=codes, as_of=as_of)
    frame = records[["dataset_id", "version", "product", "acquired_end", "geometry"]]
    frame = frame[~frame.geometry.isna()]
    reference = as_of or dt.date.today()
    out = to_area_crs(frame, area_crs(ws.config.crs), settings.densify_deg)
    out["age_years"] = age_years(out["acquired_end"], reference)
    out = out[~shapely.is_empty(np.asarray(out.geometry.values, dtype=object))]
    return out.reset_index(drop=True)


# --- the computation on plain data -----------------------------------------------------


def _union(geoms) -> BaseGeometry:
    geoms = np.asarray(geoms, dtype=object)
    if len(geoms) == 0:
        return shapely.Polygon()
    return shapely.union_all(geoms)


def cumulative_unions(
    footprints: gpd.GeoDataFrame, thresholds: Sequence[float]
) -> tuple[dict[float, BaseGeometry], BaseGeometry, BaseGeometry]:
    """Unions of the footprints younger than each threshold, of all dated ones, and of all.

    Returns:
        ({threshold: union of footprints with age < threshold}, union of every footprint
        with a known age, union of every footprint).
    """
    ages = footprints["age_years"].to_numpy(dtype=float)
    geoms = np.asarray(footprints.geometry.values, dtype=object)
    known = ~np.isnan(ages)
    order = np.argsort(np.where(known, ages, np.inf), kind="stable")
    cum: dict[float, BaseGeometry] = {}
    current: BaseGeometry = shapely.Polygon()
    done = 0
    sorted_ages = ages[order]
    for t in sorted(thresholds):
        upto = int(np.searchsorted(sorted_ages[: known.sum()], t, side="left"))
        if upto > done:
            current = _union([current, _union(geoms[order[done:upto]])])
            done = upto
        cum[t] = current
    all_known = _union([current, _union(geoms[order[done : known.sum()]])])
    everything = _union([all_known, _union(geoms[~known])])
    return cum, all_known, everything


def coverage_table(
    footprints: gpd.GeoDataFrame,
    districts: gpd.GeoDataFrame,
    *,
    update_cycle_years: float,
    bins: Sequence[float] = (1, 2, 3, 5, 8),
) -> pd.DataFrame:
    """Covered area, currency and age distribution per district (and the whole city).

    Args:
        footprints: polygons in a projected CRS with ``age_years`` and ``acquired_end``.
        districts: polygons in the same CRS with ``name`` (and optionally ``name_en``).
        update_cycle_years: data younger than this is current (现势).
        bins: age-class edges in years.

    Returns:
        One row per district, then the city (``全市``): district, name_en, area_km2,
        covered_km2, covered_share, current_km2, current_share, datasets, newest,
        oldest, and ``age_<class>_km2`` for each age class.
    """
    classes = age_classes(bins)
    thresholds = sorted({*map(float, bins), float(update_cycle_years)})
    cum, all_known, everything = cumulative_unions(footprints, thresholds)
    names = list(districts["name"])
    names_en = list(districts["name_en"]) if "name_en" in districts else [None] * len(names)
    dgeoms = list(districts.geometry.values)
    city = _union(dgeoms)
    scopes = [*zip(names, names_en, dgeoms, strict=True), (CITY, CITY_EN, city)]

    fgeoms = np.asarray(footprints.geometry.values, dtype=object)
    dates = footprints["acquired_end"].to_numpy(dtype=object)
    rows = []
    for name, name_en, geom in scopes:
        shapely.prepare(geom)
        area = float(shapely.area(geom))

        def inside(g, geom=geom) -> float:
            return float(shapely.area(shapely.intersection(g, geom))) if not g.is_empty else 0.0

        covered = inside(everything)
        current = inside(cum[float(update_cycle_years)])
        row = {
            "district": name,
            "name_en": name_en,
            "area_km2": area / 1e6,
            "covered_km2": covered / 1e6,
            "covered_share": covered / area if area else 0.0,
            "current_km2": current / 1e6,
            "current_share": current / area if area else 0.0,
        }
        hit = np.flatnonzero(shapely.intersects(geom, fgeoms)) if len(fgeoms) else np.zeros(0, int)
        if len(hit):
            hit = hit[shapely.area(shapely.intersection(fgeoms[hit], geom)) > 0]
        known_dates = sorted(d for d in dates[hit] if isinstance(d, str) and d)
        row["datasets"] = len(hit)
        row["newest"] = known_dates[-1] if known_dates else None
        row["oldest"] = known_dates[0] if known_dates else None
        below = 0.0
        for c in classes:
            if c.key == "unknown":
                value = covered - inside(all_known)
            elif c.high is None:
                value = inside(all_known) - below
            else:
                upto = inside(cum[c.high])
                value, below = upto - below, upto
            row[f"age_{c.key}_km2"] = max(value, 0.0) / 1e6
        rows.append(row)
    return pd.DataFrame(rows)


def age_pieces(
    footprints: gpd.GeoDataFrame, bins: Sequence[float] = (1, 2, 3, 5, 8)
) -> gpd.GeoDataFrame:
    """The covered area split by the age class of its newest data (for maps).

    Returns:
        GeoDataFrame (the footprints' CRS) with key, label, low, high, area_km2 and the
        geometry of the area whose newest data falls in each class (empty classes left out).
    """
    classes = age_classes(bins)
    cum, all_known, everything = cumulative_unions(footprints, [float(b) for b in bins])
    rows, geoms = [], []
    below: BaseGeometry = shapely.Polygon()
    for c in classes:
        if c.key == "unknown":
            piece = shapely.difference(everything, all_known)
        elif c.high is None:
            piece = shapely.difference(all_known, below)
        else:
            piece = shapely.difference(cum[c.high], below)
            below = cum[c.high]
        if piece.is_empty or shapely.area(piece) <= 0:
            continue
        rows.append(
            {
                "key": c.key,
                "label": c.label,
                "low": c.low,
                "high": c.high,
                "area_km2": shapely.area(piece) / 1e6,
            }
        )
        geoms.append(piece)
    columns = ["key", "label", "low", "high", "area_km2"]
    return gpd.GeoDataFrame(pd.DataFrame(rows, columns=columns), geometry=geoms, crs=footprints.crs)


# --- workspace-level API -------------------------------------------------------------


def district_coverage(
    ws,
    products: str | Iterable[str] | None = None,
    *,
    as_of: dt.date | str | None = None,
) -> gpd.GeoDataFrame:
    """Coverage and currency per product and district, as of a date.

    Args:
        ws: the workspace.
        products: product codes (default: every product with current datasets, in the
            registry's order).
        as_of: recompute for this date (data acquired on or before it, aged relative to
            it); default: today's state.

    Returns:
        GeoDataFrame (EPSG:4490, district boundaries) with one row per product and
        district plus a ``全市`` (whole city) row per product: product, update_cycle_years
        and the columns of :func:`coverage_table`.

    Raises:
        NotFoundError: unknown product, or no districts loaded.
        ValidationError: malformed as-of date.

    Example:
        >>> district_coverage(ws, "dlg500", as_of="2023-12-31")  # doctest: +SKIP
    """
    settings = coverage_settings(ws.config.coverage)
    as_of = parse_as_of(as_of)
    registry = products_for(ws.config.products)
    districts = load_districts_area(ws, settings)
    footprints = load_footprints(ws, products, as_of=as_of, settings=settings)
    if products is None:
        present = set(footprints["product"])
        codes = [code for code in registry.list() if code in present]
    else:
        codes = [products] if isinstance(products, str) else list(products)
    frames = []
    for code in codes:
        product = registry.get(code)
        table = coverage_table(
            footprints[footprints["product"] == code],
            districts,
            update_cycle_years=product.update_cycle_years,
            bins=settings.age_bins,
        )
        table.insert(0, "product", code)
        table.insert(1, "update_cycle_years", product.update_cycle_years)
        frames.append(table)
    city = _union(list(districts.geometry.values))
    boundaries = [*districts.geometry.values, city]
    columns = ["product", "update_cycle_years", "district"]
    result = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    geometry = [boundaries[i % len(boundaries)] for i in range(len(result))]
    return to_geographic(gpd.GeoDataFrame(result, geometry=geometry, crs=districts.crs))


def coverage_layers(ws, product: str, *, as_of: dt.date | str | None = None) -> gpd.GeoDataFrame:
    """A product's covered area split by the age of its newest data (EPSG:4490)."""
    settings = coverage_settings(ws.config.coverage)
    footprints = load_footprints(ws, product, as_of=as_of, settings=settings)
    return to_geographic(age_pieces(footprints, settings.age_bins))
