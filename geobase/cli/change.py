"""``geobase change``: change discovery between two epochs (变化发现)."""

from __future__ import annotations

from pathlib import Path

import click

from geobase.cli.options import (
    check_output,
    emit,
    format_option,
    info,
    open_workspace,
    overwrite_option,
    progress_bar,
    workspace_option,
)


def _scale(ctx, param, value):
    from geobase.errors import SheetCodeError
    from geobase.sheets import RECT_SCALES, parse_scale

    try:
        scale = parse_scale(value)
    except SheetCodeError as exc:
        raise click.BadParameter(str(exc)) from None
    if scale not in RECT_SCALES:
        allowed = ", ".join(f"1:{s}" for s in RECT_SCALES)
        raise click.BadParameter(f"1:{scale} has no rectangular sheets; use one of {allowed}")
    return scale


def _date(ctx, param, value):
    if value is None:
        return None
    from geobase.dates import parse_date
    from geobase.errors import InvalidDate

    try:
        return parse_date(value, param.opts[0])
    except InvalidDate as exc:
        raise click.BadParameter(str(exc)) from None


@click.group()
def change() -> None:
    """Change discovery between epochs (变化发现): change polygons, sheets to update."""


@change.command()
@click.argument("before")
@click.argument("after")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="GeoPackage to write (layers changes and sheets).",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="HTML summary (default: the output's name with .html).",
)
@click.option("--no-html", is_flag=True, help="Write no HTML summary.")
@click.option("--scale", default="1:500", show_default=True, callback=_scale,
              help="Sheet scale of the update priorities (1:500 .. 1:5000).")  # fmt: skip
@click.option("--map-product", default=None,
              help="Map product whose age the sheets show (default: the vector product of "
              "the scale, e.g. dlg500).")  # fmt: skip
@click.option("--p-value", type=float, default=1e-3, show_default=True,
              help="Per-pixel false-alarm probability the thresholds are set at.")  # fmt: skip
@click.option("--min-area", type=float, default=10.0, show_default=True,
              help="Drop change polygons (and holes) smaller than this (m²).")  # fmt: skip
@click.option("--max-shift", type=float, default=2.0, show_default=True,
              help="Refuse imagery shifted by more (pixels); smaller shifts are corrected.")  # fmt: skip
@click.option("--height-threshold", type=float, default=None,
              help="Height change (m) that counts; default from the data's precision.")  # fmt: skip
@click.option("--window", type=click.IntRange(64, 8192), default=1024, show_default=True,
              help="Window side (pixels); memory grows with its square.")  # fmt: skip
@click.option("--workers", type=click.IntRange(1, 256), default=None,
              help="Processes (default: CPU count).")  # fmt: skip
@click.option("--before-date", callback=_date, default=None,
              help="Acquisition date of BEFORE files that carry none (YYYY-MM-DD).")  # fmt: skip
@click.option("--after-date", callback=_date, default=None,
              help="Acquisition date of AFTER files that carry none (YYYY-MM-DD).")  # fmt: skip
@format_option(default="table", choices=("table", "json"))
@overwrite_option
@workspace_option
def detect(
    before,
    after,
    output,
    html_path,
    no_html,
    scale,
    map_product,
    p_value,
    min_area,
    max_shift,
    height_threshold,
    window,
    workers,
    before_date,
    after_date,
    fmt,
    overwrite,
    workspace_dir,
) -> None:
    """Find what changed between BEFORE and AFTER; rank the sheets to update.

    BEFORE and AFTER are each a raster file, a catalogue dataset id or PRODUCT@DATE
    (the product's datasets current on that date, e.g. dom02@2023-12-31); join parts
    with commas to give an epoch both imagery and elevation. Writes the change polygons
    and the ranked sheets to OUTPUT, an HTML summary beside it, and prints the sheets
    (or everything as JSON with --format json).
    """
    from geobase.change import detect_changes
    from geobase.change.epochs import resolve_epoch
    from geobase.change.output import result_json, write_geopackage, write_html
    from geobase.change.sheets import map_footprints, map_product_for, sheet_priorities
    from geobase.errors import WorkspaceNotFound

    if output.suffix.lower() != ".gpkg":
        raise click.BadParameter(f"{output}: expected a .gpkg file", param_hint="-o/--output")
    check_output(output, overwrite)
    if html_path is None and not no_html:
        html_path = output.with_suffix(".html")
    if html_path is not None and not no_html:
        check_output(html_path, overwrite)
    try:
        ws = open_workspace(workspace_dir)
    except WorkspaceNotFound:
        if workspace_dir is not None:
            raise
        ws = None
    try:
        b = resolve_epoch(before, "before", ws, date=before_date)
        a = resolve_epoch(after, "after", ws, date=after_date)
        with progress_bar("change") as bar:
            result = detect_changes(
                b,
                a,
                p_value=p_value,
                min_area=min_area,
                max_shift=max_shift,
                height_threshold=height_threshold,
                window=window,
                workers=workers,
                progress=bar,
            )
        maps = None
        if ws is not None:
            map_product = map_product or map_product_for(ws, scale)
            if map_product is not None:
                maps = map_footprints(ws, map_product)
        crs = ws.config.crs if ws is not None else "EPSG:4548"
        sheets = sheet_priorities(
            result.changes, scale, maps=maps, map_product=map_product, crs=crs
        )
    finally:
        if ws is not None:
            ws.close()
    write_geopackage(result, sheets, output)
    if html_path is not None and not no_html:
        write_html(result, sheets, html_path)
    for kind, ev in result.summary["evidence"].items():
        reg = ev["registration"]
        if kind == "imagery" and not reg.get("checked"):
            info(f"warning: imagery co-registration not checked ({reg.get('why')})")
        share = ev.get("normalisation", {}).get("invariant_share")
        if share is not None and share < 0.5:
            info(
                f"warning: only {share:.0%} of the imagery sample looks unchanged; the "
                "radiometric normalisation rests on few pixels (epochs of different "
                "seasons or places?): check the changes found"
            )
        if reg.get("checked"):
            info(
                f"{kind}: shift {reg['shift_px'][0]:+.2f}, {reg['shift_px'][1]:+.2f} px "
                f"({reg['shift_m']:.2f} m) corrected, residual {reg.get('residual_px', 0):.2f} px"
            )
        if kind == "elevation":
            info(
                f"elevation: vertical offset {ev['vertical_offset_m']:+.3f} m removed, sigma "
                f"{ev['sigma_m']:.3f} m, threshold {ev['threshold_m']:.3f} m"
            )
    s = result.summary
    info(
        f"wrote {output}: {s['changes']} changes ({s['changed_m2']:,.1f} m²), "
        f"{len(sheets)} sheets at 1:{scale}"
        + (f"; summary {html_path}" if html_path is not None and not no_html else "")
    )
    if fmt == "json":
        emit(result_json(result, sheets), "json")
    else:
        emit(sheets.drop(columns="geometry").head(20), "table")
