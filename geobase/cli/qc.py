"""``geobase qc FILES... --product CODE``: check a delivery before accepting it.

Thin shell over :func:`geobase.qc.check_delivery`. Exit 0: the delivery passes (no
blocking defect; minor ones are listed); 3: it has blocking defects (with ``--strict``,
any defect); 2: bad input.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from geobase.cli.options import (
    check_output,
    emit,
    format_option,
    info,
    open_workspace,
    progress_bar,
    workspace_option,
)

DEFECTS_EXIT = 3
REPORT_SUFFIXES = (".html", ".htm", ".gpkg")


def find_workspace(workspace_dir: Path | None):
    """The named workspace, the one holding the current directory, or None outside one."""
    from geobase.errors import WorkspaceNotFound

    if workspace_dir is not None:
        return open_workspace(workspace_dir)
    try:
        return open_workspace(None)
    except WorkspaceNotFound:
        return None


def plan_outputs(output: Path | None, overwrite: bool) -> tuple[Path | None, Path | None]:
    """(html, gpkg) to write: ``x.html`` with ``x.gpkg`` beside it, or only ``x.gpkg``;
    checked before the work (suffix, existing files)."""
    from geobase.errors import UnsupportedInput

    if output is None:
        return None, None
    suffix = output.suffix.lower()
    if suffix not in REPORT_SUFFIXES:
        raise UnsupportedInput(
            f"-o {output.name}: expected a .html report (a .gpkg of the defects is written "
            "beside it) or a .gpkg"
        )
    gpkg = output if suffix == ".gpkg" else output.with_suffix(".gpkg")
    html = None if suffix == ".gpkg" else output
    for target in (html, gpkg):
        if target is not None:
            check_output(target, overwrite)
    return html, gpkg


def defect_rows(report) -> list[dict]:
    rows = []
    for d in report.defects:
        c = d.geometry.centroid
        data = d.as_dict()
        rows.append(
            {
                "file": d.file,
                "check": d.check,
                "severity": d.severity,
                "value": data["value"],
                "threshold": data["threshold"],
                "lon": round(c.x, 6),
                "lat": round(c.y, 6),
                "message": d.message,
            }
        )
    return rows


@click.command("qc")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--product", "-p", required=True, help="Product code the delivery must meet.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Report: x.html (bilingual, with x.gpkg of the defect geometries beside it) or x.gpkg.",
)
@click.option("--overwrite", is_flag=True, help="Replace existing report files.")
@click.option(
    "--crs",
    default=None,
    help="CRS the delivery must be in (default: the workspace's, outside one EPSG:4548).",
)
@click.option(
    "--acquired",
    default=None,
    metavar="DATE[/DATE]",
    help="Stated acquisition window; point clouds' GPS times must lie in it "
    "(default: each file's sidecar).",
)
@click.option("--strict", is_flag=True, help="Minor defects fail the delivery too (exit 3).")
@format_option(default="table", choices=("table", "json"))
@workspace_option
@click.pass_context
def qc(ctx, files, product, output, overwrite, crs, acquired, strict, fmt, workspace_dir):
    """Check a delivery against its product's specification (成果质检).

    Orthophotos, DEMs, point clouds and vector maps: every defect with its place.
    Exit 0 when the delivery passes, 3 when it has blocking defects (with --strict,
    any defect), 2 for bad input.
    """
    from geobase.qc import check_delivery

    html, gpkg = plan_outputs(output, overwrite)
    ws = find_workspace(workspace_dir)
    try:
        with progress_bar("qc", len(files) + 1) as progress:
            report = check_delivery(
                list(files),
                product,
                workspace=ws,
                crs=crs,
                acquired=acquired,
                progress=progress,
            )
    finally:
        if ws is not None:
            ws.close()
    from geobase.qc.output import write_gpkg, write_html

    written = [write_gpkg(report, gpkg)] if gpkg is not None else []
    if html is not None:
        written.insert(0, write_html(report, html))
    if fmt == "json":
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    elif report.defects:
        emit(defect_rows(report), fmt)
    for note in report.notes:
        info(f"note: {note}")
    for path in written:
        info(f"wrote {path}")
    blocking = len(report.blocking)
    minor = len(report.defects) - blocking
    verdict = "passed" if report.passed else "returned"
    info(f"{verdict}: {blocking} blocking, {minor} minor defect(s) in {len(files)} file(s)")
    if blocking or (strict and minor):
        ctx.exit(DEFECTS_EXIT)
