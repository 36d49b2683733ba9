"""``geobase coverage``: coverage and currency per product, district and sheet; plan targets."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from geobase.cli.options import (
    as_of_option,
    check_output,
    emit,
    format_option,
    info,
    open_workspace,
    overwrite_option,
    progress_bar,
    workspace_option,
)

_as_of = as_of_option(
    "Recompute for this date (YYYY-MM-DD): data acquired on or before it, aged from it."
)


def _scale(ctx, param, value):
    from geobase.errors import SheetCodeError
    from geobase.sheets import parse_scale

    try:
        return parse_scale(value)
    except SheetCodeError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group()
def coverage() -> None:
    """Coverage and currency (现势性) per product, district and sheet; plan targets."""


@coverage.command()
@workspace_option
@_as_of
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Report file (default: coverage-report.html; JSON to stdout with --format json).",
)
@format_option(default="html", choices=("html", "json"))
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Plan file (TOML; default: [coverage] plan in geobase.toml).",
)
@click.option("--product", "products", multiple=True, help="Only these products (repeatable).")
@overwrite_option
def report(workspace_dir, as_of, output, fmt, plan_file, products, overwrite) -> None:
    """Write the coverage report: HTML with maps and charts, or JSON."""
    from geobase.coverage import build_report, report_json, write_html, write_json

    if output is None and fmt == "html":
        output = Path("coverage-report.html")
    if output is not None:
        check_output(output, overwrite)
    if plan_file is not None and not plan_file.is_file():
        raise click.BadParameter(f"{plan_file}: no such file", param_hint="--plan")
    with open_workspace(workspace_dir) as ws, progress_bar("coverage", None) as bar:
        result = build_report(
            ws, as_of=as_of, plan=plan_file, products=list(products) or None, progress=bar
        )
    if fmt == "json":
        if output is None:
            emit(report_json(result), "json")
            return
        write_json(result, output)
    else:
        write_html(result, output)
    info(f"wrote {output} ({len(result.products)} products, as of {result.reference_date})")


@coverage.command()
@workspace_option
@click.option(
    "--scale",
    required=True,
    callback=_scale,
    help="Sheet scale: 1:500, 1:1000, 1:2000, 1:5000 (rectangular), 1:10000 and smaller "
    "(national).",
)
@click.option(
    "--kind",
    type=click.Choice(["rect", "national"]),
    default=None,
    help="Rectangular (矩形分幅) or national GB/T 13989 sheets [default: rect where the "
    "scale has them, else national; 1:5000 has both].",
)
@click.option("--product", required=True, help="Product code (dlg500, dom02, ...).")
@_as_of
@click.option(
    "--district", default=None, help="Only this district (sheets judged on their part in it)."
)
@click.option(
    "--by-district",
    is_flag=True,
    help="One row per sheet and district (a sheet cut by a boundary is judged per part).",
)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(["covered", "partial", "missing"]),
    help="List only sheets with this status (repeatable).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write a GeoPackage (.gpkg) or GeoJSON (.geojson) layer instead of listing.",
)
@click.option(
    "--layer",
    default=None,
    help="Layer name in the GeoPackage (default: sheets_<product>_<scale>[_national]).",
)
@format_option(default="table", choices=("table", "json", "csv", "geojson"))
@overwrite_option
def sheets(
    workspace_dir,
    scale,
    kind,
    product,
    as_of,
    district,
    by_district,
    statuses,
    output,
    layer,
    fmt,
    overwrite,
) -> None:
    """Every sheet of a scale over the city with its status, newest date and age.

    Rectangular sheets at 1:500 to 1:5000, national GB/T 13989 sheets at 1:10000 and
    smaller (and at any scale with --kind national).
    """
    from geobase.coverage import product_sheets, sheet_summary
    from geobase.coverage.sheets import sheet_grid
    from geobase.sheets import RECT_SCALES

    _, kind = sheet_grid(scale, kind)

    if output is not None:
        check_output(output, overwrite)
        if output.suffix.lower() not in (".gpkg", ".geojson", ".json"):
            raise click.BadParameter(
                f"{output}: expected a .gpkg or .geojson file", param_hint="-o/--output"
            )
    with open_workspace(workspace_dir) as ws, progress_bar("sheets", None) as bar:
        frame = product_sheets(
            ws,
            product,
            scale,
            as_of=as_of,
            district=district,
            by_district=by_district,
            progress=bar,
            kind=kind,
        )
    if statuses:
        frame = frame[frame["status"].isin(statuses)]
    summary = sheet_summary(frame)
    message = (
        f"{summary['sheets']:,} sheets at 1:{scale} ({kind}) for {product}: "
        f"{summary['covered']:,} covered, "
        f"{summary['partial']:,} partial, {summary['missing']:,} missing "
        f"({summary['covered_km2']:.2f} of {summary['area_km2']:.2f} km2"
        f"{', as of ' + as_of.isoformat() if isinstance(as_of, dt.date) else ''})"
    )
    if output is None:
        out = frame if fmt == "geojson" else frame.drop(columns="geometry")
        if fmt == "geojson":
            out = out.to_crs(4326)
        emit(out, fmt)
        info(message)
        return
    suffix = "_national" if kind == "national" and scale in RECT_SCALES else ""
    name = layer or f"sheets_{product}_{scale}{suffix}"
    from geobase.paths import atomic_output

    with atomic_output(output) as tmp:
        if output.suffix.lower() == ".gpkg":
            from geobase.coverage.sheets import write_sheet_layer

            write_sheet_layer(frame, tmp, name)
        else:
            frame.to_crs(4326).to_file(tmp, driver="GeoJSON")
    info(f"wrote {output} (layer {name}): {message}")


@coverage.command()
@workspace_option
@click.option("--product", "products", multiple=True, help="Only these products (repeatable).")
@_as_of
@format_option(default="table", choices=("table", "json", "csv", "geojson"))
def show(workspace_dir, products, as_of, fmt) -> None:
    """Coverage, currency and age distribution per product and district."""
    from geobase.coverage import district_coverage

    with open_workspace(workspace_dir) as ws:
        frame = district_coverage(ws, list(products) or None, as_of=as_of)
    if fmt != "geojson":
        frame = frame.drop(columns="geometry")
        if fmt == "table":
            keep = [
                "product",
                "district",
                "area_km2",
                "covered_km2",
                "covered_share",
                "current_share",
                "datasets",
                "newest",
            ]
            frame = frame[keep].round(4)
    emit(frame, fmt)


@coverage.command()
@workspace_option
@_as_of
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Plan file (TOML; default: [coverage] plan in geobase.toml).",
)
@click.option(
    "--changes",
    "changes_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A 'geobase change detect' GeoPackage: list instead the sheets whose map is older "
    "than a change found in them (update candidates).",
)
@click.option("--product", "map_products", multiple=True,
              help="With --changes: map products to judge (default: the plan's vector "
              "products, else dlg500).")  # fmt: skip
@format_option(default="table", choices=("table", "json", "csv"))
def plan(workspace_dir, as_of, plan_file, changes_file, map_products, fmt) -> None:
    """Where each planned product stands against this year's target, and what remains.

    With --changes, the update candidates instead: the sheets of each map product's scale
    where the change run found change newer than the sheet's current map.
    """
    from geobase.coverage import build_report

    if changes_file is not None:
        _candidates(workspace_dir, as_of, plan_file, changes_file, map_products, fmt)
        return
    with open_workspace(workspace_dir) as ws:
        result = build_report(ws, as_of=as_of, plan=plan_file, products=[])
    if result.plan is None:
        raise click.UsageError("no plan: pass --plan FILE or set [coverage] plan in geobase.toml")
    frame = result.progress
    if fmt == "table":
        keep = [
            "product",
            "scope",
            "measure",
            "target_year",
            "measured_share",
            "target_share",
            "remaining_km2",
            "sheet_scale",
            "remaining_sheets",
            "sheets_open",
        ]
        frame = frame[keep].round(4)
    emit(frame, fmt)


def _candidates(workspace_dir, as_of, plan_file, changes_file, products, fmt) -> None:
    import pandas as pd

    from geobase.catalog.products import products_for
    from geobase.coverage.changes import read_changes, update_candidates
    from geobase.coverage.plan import load_plan
    from geobase.coverage.settings import coverage_settings, plan_path

    changes = read_changes(changes_file)
    with open_workspace(workspace_dir) as ws:
        if not products:
            path = plan_file or plan_path(ws.root, coverage_settings(ws.config.coverage))
            registry = products_for(ws.config.products)
            planned = load_plan(path).products if path is not None else {}
            products = tuple(
                code
                for code in planned
                if code in registry and registry.get(code).kind == "vector"
                and registry.get(code).scale
            ) or ("dlg500",)  # fmt: skip
        frames = [update_candidates(ws, changes, code, as_of=as_of) for code in products]
    frame = pd.concat(frames, ignore_index=True)
    emit(frame, fmt)
    info(
        f"{len(frame)} sheets of {', '.join(products)} have change newer than their map "
        f"({changes_file}, {len(changes)} change polygons)"
    )
