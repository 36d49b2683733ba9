"""``geobase init``, ``geobase status`` and ``geobase districts``."""

from __future__ import annotations

from pathlib import Path

import click

from geobase.cli.options import emit, format_option, info, open_workspace, workspace_option


@click.command()
@click.argument("directory", type=click.Path(path_type=Path), default=".")
@click.option(
    "--store",
    "store_url",
    default=None,
    help="Store URL (default: workspace.gpkg in DIR; postgresql://... for PostGIS).",
)
@click.option("--name", default=None, help="Workspace name (default: the folder's name).")
@click.option("--crs", default="EPSG:4548", show_default=True, help="Default projected CRS.")
@click.option(
    "--data-root",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder holding the workspace's files (data/, tiles/); default: the one a "
    "'store copy' recorded in the store, else DIR.",
)
def init(
    directory: Path, store_url: str | None, name: str | None, crs: str, data_root: Path | None
) -> None:
    """Create a workspace (GeoPackage store, or PostGIS by URL).

    A store made by 'geobase store copy WS URL' remembers where WS's files were; the new
    workspace takes that folder as its data root if it exists here, or --data-root names
    where they are mounted on this machine (recorded as data_root in geobase.toml).
    """
    from geobase.store import Workspace

    root = None if data_root is None else data_root.absolute()
    with Workspace.init(directory, name=name, store=store_url, crs=crs, data_root=root) as ws:
        info(f"Created workspace {ws.config.name!r} in {ws.root} (store: {ws.config.store})")
        if ws.config.data_root is not None:
            info(f"Its files (data/, tiles/) are under {ws.data_root}")


def workspace_status(ws) -> dict:
    """Counts of what a workspace holds, table by table."""
    from geobase.store.copy import store_tables

    with ws.store.read() as tx:
        tables = [t.name for t in store_tables(ws.store, tx)]
        counts = {
            t: tx.scalar(f"SELECT count(*) FROM {t}")
            for t in tables
            if not t.startswith("geobase_")
        }
    return {
        "workspace": ws.config.name,
        "root": str(ws.root),
        "store": ws.config.store,
        "data_root": str(ws.data_root),
        "crs": ws.config.crs,
        "schema_version": ws.store.schema_version,
        "records": counts,
    }


@click.command()
@workspace_option
@format_option(default="table", choices=("table", "json"))
def status(workspace_dir: Path | None, fmt: str) -> None:
    """What the workspace holds."""
    with open_workspace(workspace_dir) as ws:
        report = workspace_status(ws)
    if fmt == "json":
        emit(report, "json")
        return
    emit([{"table": k, "records": v} for k, v in report["records"].items()], "table")
    info(
        f"workspace {report['workspace']} at {report['root']}, store {report['store']}, "
        f"files under {report['data_root']}, schema v{report['schema_version']}"
    )


@click.group()
def districts() -> None:
    """Administrative boundaries (区县)."""


@districts.command("load")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--name-field", default=None, help="Field holding the district name (default: detected)."
)
@workspace_option
def districts_load(file: Path, name_field: str | None, workspace_dir: Path | None) -> None:
    """Load district boundaries from any vector file (replaces the layer)."""
    from geobase.store.districts import load_districts

    with open_workspace(workspace_dir) as ws:
        frame = load_districts(ws.store, file, name_field)
    info(f"Loaded {len(frame)} districts: {', '.join(frame['name'])}")


@districts.command("list")
@workspace_option
@format_option()
def districts_list(workspace_dir: Path | None, fmt: str) -> None:
    """List the loaded districts with their areas (km², computed in EPSG:4548)."""
    from geobase.store.districts import list_districts

    with open_workspace(workspace_dir) as ws:
        frame = list_districts(ws.store)
        frame["area_km2"] = (frame.to_crs(ws.config.crs).area / 1e6).round(2)
    if fmt != "geojson":
        frame = frame.drop(columns="geometry")
    emit(frame, fmt)
