"""The coverage report's numbers: a dataclass and its JSON.

:func:`build_report` computes everything for one date: coverage and currency per product
and district, the covered area split by age for the maps, and, when a plan is given,
where each planned product stands against this year's target with what remains in km2
and in sheets. :func:`report_json` gives the numbers for machines; the HTML page is
:mod:`geobase.coverage.page` (its template ``report.html`` lies beside it), with the
charts in :mod:`geobase.coverage.figures` and the maps in :mod:`geobase.coverage.maps`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from geobase.catalog import products_for
from geobase.coverage.compute import (
    CITY,
    CITY_EN,
    age_classes,
    age_pieces,
    area_crs,
    coverage_table,
    load_districts_area,
    load_footprints,
    to_geographic,
)
from geobase.coverage.plan import (
    Plan,
    acquired_since,
    check_plan,
    load_plan,
    scope_progress,
    sheet_scale_for,
)
from geobase.coverage.settings import coverage_settings, parse_as_of, plan_path
from geobase.coverage.sheets import sheet_statuses, sheet_summary
from geobase.paths import atomic_output
from geobase.values import plain

logger = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]

AREA_METHOD = (
    "面积在 {crs} ({name}) 平面上计算 Areas are computed on the plane of {crs} ({name}), "
    "footprints densified to {densify}° in EPSG:4490 before projection; never in degrees."
)


@dataclass
class ProductCoverage:
    """One product's numbers in a report."""

    code: str
    name_zh: str
    name_en: str
    update_cycle_years: float
    datasets: int
    table: pd.DataFrame  # coverage_table rows (districts, then 全市)
    layers: gpd.GeoDataFrame  # age pieces, EPSG:4490


@dataclass
class CoverageReport:
    """Everything a coverage report shows, for one date."""

    as_of: dt.date | None
    reference_date: dt.date
    generated_at: str
    crs: str
    area_method: str
    age_bins: list[float]
    districts: gpd.GeoDataFrame  # name, name_en, area_km2, geometry (EPSG:4490)
    district_source: str | None
    products: list[ProductCoverage]
    plan: Plan | None = None
    plan_source: str | None = None
    progress: pd.DataFrame = field(default_factory=pd.DataFrame)
    sheets: dict[str, dict[str, Any]] = field(default_factory=dict)


def _resolve_plan(ws, plan: Plan | str | Path | None, use_workspace_plan: bool):
    if isinstance(plan, Plan):
        return plan, "(given)"
    if plan is not None:
        return load_plan(plan), str(plan)
    if use_workspace_plan:
        path = plan_path(ws.root, coverage_settings(ws.config.coverage))
        if path is not None:
            return load_plan(path), str(path)
    return None, None


def build_report(
    ws,
    *,
    as_of: dt.date | str | None = None,
    plan: Plan | str | Path | None = None,
    use_workspace_plan: bool = True,
    products: list[str] | None = None,
    progress: Progress | None = None,
) -> CoverageReport:
    """Compute a coverage report for a workspace.

    Args:
        ws: the workspace (districts must be loaded).
        as_of: recompute for this date (default: today's state).
        plan: a plan, or the path of a plan file (default: the workspace's
            ``[coverage] plan``, unless ``use_workspace_plan`` is False).
        products: product codes to report (default: the plan's products and every product
            with current datasets).
        progress: called with (done, total) per product.

    Raises:
        NotFoundError: no districts, or an unknown product.
        PlanError: a bad plan file, or one naming unknown products or districts.
        ValidationError: a malformed as-of date.
    """
    settings = coverage_settings(ws.config.coverage)
    as_of = parse_as_of(as_of)
    reference = as_of or dt.date.today()
    registry = products_for(ws.config.products)
    plan_obj, plan_source = _resolve_plan(ws, plan, use_workspace_plan)
    districts = load_districts_area(ws, settings)
    if plan_obj is not None:
        check_plan(plan_obj, registry, list(districts["name"]), source=f"plan {plan_source}")
    for code in products or ():
        registry.get(code)  # unknown codes fail before any work
    footprints = load_footprints(ws, None, as_of=as_of, settings=settings)
    if products is None:
        wanted = set(footprints["product"]) | set(plan_obj.products if plan_obj else ())
        codes = [code for code in registry.list() if code in wanted]
    else:
        codes = list(products)
    crs = area_crs(ws.config.crs)

    result: list[ProductCoverage] = []
    total = len(codes) + (len(plan_obj.products) if plan_obj else 0)
    done = 0
    for code in codes:
        product = registry.get(code)
        fp = footprints[footprints["product"] == code]
        table = coverage_table(
            fp, districts, update_cycle_years=product.update_cycle_years, bins=settings.age_bins
        )
        layers = to_geographic(age_pieces(fp, settings.age_bins), simplify_m=2.0)
        result.append(
            ProductCoverage(
                code,
                product.name_zh,
                product.name_en,
                product.update_cycle_years,
                len(fp),
                table,
                layers,
            )
        )
        done += 1
        if progress:
            progress(done, total)

    rows, sheets = [], {}
    if plan_obj is not None:
        for code, pplan in plan_obj.products.items():
            product = registry.get(code)
            since = acquired_since(plan_obj, pplan.measure, product.update_cycle_years, reference)
            fp = footprints[footprints["product"] == code]
            if since is not None and len(fp):
                dates = pd.to_datetime(fp["acquired_end"], errors="coerce")
                fp = fp[dates >= pd.Timestamp(since)]
            scale = sheet_scale_for(pplan, product)
            grid = sheet_statuses(
                fp,
                districts,
                scale,
                as_of=reference,
                tolerance=settings.sheet_tolerance,
                by_district=True,
            )
            sheets[code] = {"scale": scale, **sheet_summary(grid)}
            scopes = [(None, pplan), *pplan.districts.items()]
            for name, scope in scopes:
                part = grid if name is None else grid[grid["district"] == name]
                target = plan_obj.target(code, reference.year, name)
                numbers = scope_progress(part, target_share=None if target is None else target[1])
                baseline = scope.baseline
                rows.append(
                    {
                        "product": code,
                        "scope": CITY if name is None else name,
                        "measure": pplan.measure,
                        "sheet_scale": scale,
                        "baseline_km2": baseline.km2 if baseline else None,
                        "baseline_share": baseline.share if baseline else None,
                        "target_year": None if target is None else target[0],
                        **numbers,
                    }
                )
            done += 1
            if progress:
                progress(done, total)

    boundaries = districts[["name", "name_en"]].copy()
    boundaries["area_km2"] = districts.geometry.area.to_numpy() / 1e6
    boundaries = to_geographic(
        gpd.GeoDataFrame(boundaries, geometry=districts.geometry.values, crs=districts.crs),
        simplify_m=5.0,
    )
    with ws.store.read() as tx:
        source = tx.scalar("SELECT source FROM districts LIMIT 1")
    return CoverageReport(
        as_of=as_of,
        reference_date=reference,
        generated_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        crs=ws.config.crs,
        area_method=AREA_METHOD.format(
            crs=ws.config.crs, name=crs.name, densify=settings.densify_deg
        ),
        age_bins=list(settings.age_bins),
        districts=boundaries,
        district_source=source,
        products=result,
        plan=plan_obj,
        plan_source=plan_source,
        progress=_progress_frame(rows),
        sheets=sheets,
    )


def _progress_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for column in ("target_year", "remaining_sheets", "sheets", "sheets_open", "sheet_scale"):
        if column in frame:
            frame[column] = frame[column].astype("Int64")
    return frame


# --- JSON -----------------------------------------------------------------------------


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    frame = frame.drop(columns="geometry", errors="ignore")
    return [plain(r) for r in frame.to_dict("records")]


def report_json(report: CoverageReport) -> dict[str, Any]:
    """The report's numbers as plain JSON-ready data (:func:`geobase.values.plain`)."""
    out: dict[str, Any] = {
        "as_of": report.as_of,
        "reference_date": report.reference_date,
        "generated_at": report.generated_at,
        "crs": report.crs,
        "area_method": report.area_method,
        "district_source": report.district_source,
        "age_classes": [
            {"key": c.key, "label": c.label, "low": c.low, "high": c.high}
            for c in age_classes(report.age_bins)
        ],
        "districts": _records(report.districts),
        "products": [
            {
                "code": p.code,
                "name_zh": p.name_zh,
                "name_en": p.name_en,
                "update_cycle_years": p.update_cycle_years,
                "datasets": p.datasets,
                "districts": _records(p.table),
            }
            for p in report.products
        ],
        "plan": None,
    }
    if report.plan is not None:
        out["plan"] = {
            "name": report.plan.name,
            "name_en": report.plan.name_en,
            "source": report.plan_source,
            "start": report.plan.start,
            "end": report.plan.end,
            "year": report.reference_date.year,
            "progress": _records(report.progress),
            "sheets": report.sheets,
        }
    return plain(out)


def write_json(report: CoverageReport, path: str | Path) -> Path:
    """Write the report's numbers as JSON (atomically); returns the path."""
    path = Path(path)
    text = json.dumps(report_json(report), ensure_ascii=False, indent=2)
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


__all__ = [
    "CITY",
    "CITY_EN",
    "CoverageReport",
    "ProductCoverage",
    "build_report",
    "report_json",
    "write_json",
]
