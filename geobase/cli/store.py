"""``geobase store``: the workspace store itself (copy between GeoPackage and PostGIS)."""

from __future__ import annotations

import click

from geobase.cli.options import emit, format_option, info, overwrite_option, progress_bar


@click.group()
def store() -> None:
    """The workspace store (GeoPackage or PostGIS)."""


@store.command("copy")
@click.argument("src")
@click.argument("dst")
@overwrite_option
@format_option(default="table", choices=("table", "json", "csv"))
def copy(src: str, dst: str, overwrite: bool, fmt: str) -> None:
    """Copy every record of the store at SRC to DST, GeoPackage <-> PostGIS.

    SRC and DST are each a workspace folder (the store its geobase.toml names), a .gpkg
    file (DST is created when missing) or a postgresql://user@host:port/database URL.
    Every table, every history row, fids and geometries travel; a DST that holds
    records is refused without --overwrite. Prints the rows copied per table.
    """
    from geobase.store.copy import copy_between

    with progress_bar("copying records") as update:
        shown_src, shown_dst, copied = copy_between(src, dst, overwrite=overwrite, progress=update)
    emit([{"table": t, "rows": n} for t, n in copied.items()], fmt)
    info(
        f"copied {sum(copied.values())} rows in {len(copied)} tables from {shown_src} to {shown_dst}"
    )
