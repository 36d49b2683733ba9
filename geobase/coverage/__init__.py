"""Coverage and currency per product, district and sheet, and progress against plan targets.

Coverage reads catalogue records (:func:`geobase.catalog.current_datasets`); it never
calls ingestion. Areas are computed in the workspace's projected CRS (EPSG:4548 by
default). The functions return GeoDataFrames and dataclasses for notebooks:

    >>> from geobase.coverage import district_coverage, product_sheets  # doctest: +SKIP
    >>> district_coverage(ws, "dlg500", as_of="2023-12-31")  # doctest: +SKIP
    >>> product_sheets(ws, "dlg500", "1:500")  # doctest: +SKIP
"""

from geobase.coverage.compute import (
    CITY,
    age_classes,
    age_pieces,
    coverage_layers,
    coverage_table,
    district_coverage,
    load_districts_area,
    load_footprints,
)
from geobase.coverage.page import render_html, write_html
from geobase.coverage.plan import Plan, check_plan, load_plan
from geobase.coverage.report import CoverageReport, build_report, report_json, write_json
from geobase.coverage.settings import CoverageSettings, coverage_settings, parse_as_of
from geobase.coverage.sheets import product_sheets, sheet_statuses, sheet_summary
from geobase.coverage.years import YearCoverage, coverage_by_year

__all__ = [
    "CITY",
    "CoverageReport",
    "CoverageSettings",
    "Plan",
    "YearCoverage",
    "age_classes",
    "age_pieces",
    "build_report",
    "check_plan",
    "coverage_by_year",
    "coverage_layers",
    "coverage_settings",
    "coverage_table",
    "district_coverage",
    "load_districts_area",
    "load_footprints",
    "load_plan",
    "parse_as_of",
    "product_sheets",
    "render_html",
    "report_json",
    "sheet_statuses",
    "sheet_summary",
    "write_html",
    "write_json",
]
