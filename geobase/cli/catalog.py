"""``geobase catalog list|search|show|remove|stac``: the dataset catalogue.

Thin shell over :mod:`geobase.catalog`.
"""

from __future__ import annotations

from pathlib import Path

import click

from geobase.classification import CLASSIFICATIONS
from geobase.cli.options import (
    as_of_option,
    emit,
    format_option,
    info,
    open_workspace,
    workspace_option,
)

LIST_COLUMNS = [
    "dataset_id",
    "version",
    "product",
    "kind",
    "acquired_start",
    "acquired_end",
    "classification",
    "owner",
    "epsg",
    "resolution",
    "point_count",
    "path",
]


def _bbox(ctx, param, value):
    if value is None:  # click calls back for options not given too
        return None
    from geobase.geodesy.lonlat import parse_bbox

    return parse_bbox(value, "--bbox")


def _frame(frame, fmt):
    from geobase.catalog.records import INTEGER_COLUMNS

    for col in sorted(INTEGER_COLUMNS):
        if col in frame.columns:
            frame[col] = frame[col].astype("Int64")
    if fmt in ("geojson",):
        return frame
    cols = [c for c in LIST_COLUMNS if c in frame.columns]
    return frame[cols] if fmt == "table" else frame.drop(columns=["metadata"], errors="ignore")


@click.group("catalog")
def catalog():
    """The dataset catalogue (资源目录): list, search, show, remove, STAC export."""


@catalog.command("list")
@click.option("--product", "-p", multiple=True, help="Product code (repeatable).")
@as_of_option("The catalogue as it stood on this date (YYYY-MM-DD).")
@format_option()
@workspace_option
def list_(product, as_of, fmt, workspace_dir):
    """The current version of every dataset."""
    from geobase.catalog.search import search

    with open_workspace(workspace_dir) as ws:
        frame = search(ws.store, product=list(product) or None, as_of=as_of)
    emit(_frame(frame, fmt), fmt)


@catalog.command("search")
@click.option(
    "--bbox",
    callback=_bbox,
    default=None,
    metavar="W,S,E,N",
    help="Footprints meeting this box (EPSG:4490 degrees).",
)
@click.option("--product", "-p", multiple=True, help="Product code (repeatable).")
@click.option("--from", "start", default=None, metavar="DATE", help="Acquired on or after.")
@click.option("--to", "end", default=None, metavar="DATE", help="Acquired on or before.")
@click.option(
    "--classification",
    multiple=True,
    type=click.Choice(CLASSIFICATIONS),
    help="Classification (repeatable).",
)
@format_option()
@workspace_option
def search_(bbox, product, start, end, classification, fmt, workspace_dir):
    """Datasets by area, product, acquisition dates and classification."""
    from geobase.catalog.search import search

    with open_workspace(workspace_dir) as ws:
        frame = search(
            ws.store,
            bbox=bbox,
            product=list(product) or None,
            start=start,
            end=end,
            classification=list(classification) or None,
        )
    emit(_frame(frame, fmt), fmt)


@catalog.command("show")
@click.argument("dataset_id")
@click.option("--version", type=int, default=None, help="A version (default: the newest).")
@click.option("--history", "with_history", is_flag=True, help="List every version instead.")
@format_option(default="json", choices=("json", "table", "csv"))
@workspace_option
def show(dataset_id, version, with_history, fmt, workspace_dir):
    """One dataset's record (or its version history).

    The record lists its files: the delivery as delivered (role 'delivery', checksum
    as recorded) and what geobase derived from it ('derived': the web-optimised COG
    that tiles and packages read). The table format prints the record one field a line,
    then its files.
    """
    from geobase.catalog.search import history
    from geobase.catalog.search import show as show_record

    with open_workspace(workspace_dir) as ws:
        if with_history:
            frame = history(ws.store, dataset_id)
            cols = [
                "version",
                "status",
                "product",
                "acquired_start",
                "acquired_end",
                "ingested_at",
                "checksum",
                "path",
                "removed_at",
                "removed_reason",
            ]
            emit(frame[cols], fmt)
            return
        record = show_record(ws.store, dataset_id, version)
    footprint = record.pop("footprint")
    record["footprint_wkt"] = None if footprint is None else footprint.wkt
    if fmt == "json":
        emit(record, fmt)
        return
    record.pop("crs_wkt", None)
    files = record.pop("files")
    qc = record.pop("qc", None)
    row = {k: v for k, v in record.items() if not isinstance(v, dict | list)}
    row["qc"] = _qc_summary(qc)
    if fmt == "csv":
        row["files"] = "; ".join(f"{f['role']}={f['path']}" for f in files)
        emit([row], fmt)
        return
    # one field a line (a record has some thirty), then its files
    emit([{"field": k, "value": v} for k, v in row.items()], fmt)
    click.echo()
    emit([{k: f[k] for k in ("role", "path", "size", "sha256")} for f in files], fmt)
    if qc and qc["defects"]:
        click.echo()
        emit(qc["defects"], fmt)


def _qc_summary(qc: dict | None) -> str | None:
    """One line for a version's acceptance checks (``ingest --qc``), None without."""
    if qc is None:
        return None
    counts = f"{qc['blocking']} blocking, {qc['minor']} minor defect(s)"
    if qc["passed"]:
        return f"passed {qc['product']} checks ({counts}) {qc['checked_at']}"
    return f"accepted with {counts} {qc['checked_at']}: {qc['accepted_reason']}"


@catalog.command("remove")
@click.argument("dataset_id")
@click.option("--version", type=int, default=None, help="A version (default: the current one).")
@click.option("--reason", default=None, help="Why (kept in the history).")
@click.option("--by", "by_user", default=None, help="Who removes it.")
@click.option("--purge", is_flag=True, help="Also delete the version's stored files.")
@workspace_option
def remove(dataset_id, version, reason, by_user, purge, workspace_dir):
    """Remove a dataset version from the current catalogue (it stays in the history)."""
    from geobase.catalog.search import remove as remove_version

    with open_workspace(workspace_dir) as ws:
        event = remove_version(
            ws, dataset_id, version=version, reason=reason, by_user=by_user, purge=purge
        )
    info(f"removed {dataset_id} v{event['version']}" + (" (files purged)" if purge else ""))


@catalog.command("stac")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--product", "-p", multiple=True, help="Only these products (repeatable).")
@click.option("--overwrite", is_flag=True, help="Replace an existing export.")
@click.option(
    "--link",
    is_flag=True,
    help="Hard-link the data files instead of copying them (same filesystem; never edit them).",
)
@click.option(
    "--validate/--no-validate",
    default=True,
    show_default=True,
    help="Validate against the STAC schemas shipped with geobase (offline).",
)
@click.option(
    "--max-classification",
    type=click.Choice(CLASSIFICATIONS),
    default="internal",
    show_default=True,
    help="Most secret level exported; restricted (涉密) datasets only when asked for.",
)
@workspace_option
def stac(out, product, overwrite, link, validate, max_classification, workspace_dir):
    """Write a self-contained STAC catalogue: a Collection per product, an Item per
    dataset, its files beside it, every href relative."""
    from geobase.catalog.stac import export
    from geobase.catalog.stac_validation import validate as validate_stac

    if out.exists() and any(out.iterdir()) and not overwrite:
        raise click.UsageError(f"{out} exists and is not empty; pass --overwrite to replace it")
    with open_workspace(workspace_dir) as ws:
        root, withheld = export(
            ws,
            out,
            products=list(product) or None,
            link=link,
            max_classification=max_classification,
        )
    if withheld:
        info(
            f"withheld {withheld} dataset(s) above {max_classification} "
            "(--max-classification to include them)"
        )
    if validate:
        report = validate_stac(root)
        info(
            f"validated {report['objects']} STAC objects "
            f"(core and {len(report['extensions'])} extensions, offline)"
        )
    info(f"wrote {root}")
