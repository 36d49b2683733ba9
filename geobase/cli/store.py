"""``geobase store``: the workspace store itself (copy between GeoPackage and PostGIS)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import click

from geobase.cli.options import emit, format_option, info, overwrite_option, progress_bar


@click.group()
def store() -> None:
    """The workspace store (GeoPackage or PostGIS)."""


@store.command("copy")
@click.argument("src")
@click.argument("dst")
@overwrite_option
@click.option(
    "--files",
    type=click.Choice(["link", "copy", "none"]),
    default=None,
    help="When DST is a workspace folder: hard-link the files its records name under "
    "DST (default 'link'; copied where the filesystems cannot link), copy them, or "
    "'none' (a new DST uses SRC's files where they are).",
)
@click.option(
    "--data-root",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where SRC's files are (default: SRC's own data root, or the one its store "
    "recorded when it was copied).",
)
@format_option(default="table", choices=("table", "json", "csv"))
def copy(
    src: str,
    dst: str,
    overwrite: bool,
    files: Literal["link", "copy", "none"] | None,  # the click.Choice above
    data_root: Path | None,
    fmt: str,
) -> None:
    """Copy every record of the store at SRC to DST, GeoPackage <-> PostGIS.

    SRC and DST are each a workspace folder (the store its geobase.toml names), a .gpkg
    file (DST is created when missing) or a postgresql://user@host:port/database URL; a
    DST folder that is not a workspace yet becomes one (GeoPackage). Every table, every
    history row, fids and geometries travel; a DST that holds records is refused without
    --overwrite. Prints the rows copied per table, then where the copy's files are.

    \b
    Examples:
      geobase store copy . postgresql://geobase@db:5432/shantou
      geobase init /srv/shantou --store postgresql://geobase@db:5432/shantou
      geobase store copy postgresql://geobase@db:5432/shantou ./shantou-copy --files copy
    """
    from geobase.store.copy import copy_between

    with progress_bar("copying records") as update:
        result = copy_between(
            src, dst, overwrite=overwrite, files=files, data_root=data_root, progress=update
        )
    emit([{"table": t, "rows": n} for t, n in result.rows.items()], fmt)
    info(
        f"copied {sum(result.rows.values())} rows in {len(result.rows)} tables from "
        f"{result.source} to {result.destination}"
    )
    if result.workspace is not None:
        info(f"created workspace {result.workspace} (GeoPackage store workspace.gpkg)")
    if result.files is not None:
        moved = result.files
        info(
            f"files under {result.data_root}: {moved.linked} linked, {moved.copied} copied"
            + (f", {result.present} already there" if result.present else "")
        )
    if result.data_root is None:
        info(
            "the source does not record where its files are; give the data root of a "
            "workspace using this store with 'geobase init DIR --store ... --data-root PATH'"
        )
    elif result.kind in ("url", "gpkg"):
        info(
            f"the files stay under {result.data_root} (recorded in the store); a workspace "
            f"on this store finds them there: geobase init DIR --store {result.destination} "
            "(add --data-root PATH where that folder is mounted elsewhere)"
        )
    if result.shared:
        click.echo(
            f"both workspaces now use the files under {result.data_root}: ingest into one "
            "of them only (an ingest removes version folders its own catalogue does not name)",
            err=True,
        )
    if result.missing:
        shown = ", ".join(result.missing[:3])
        click.echo(
            f"warning: {len(result.missing)} paths the records name are not under "
            f"{result.data_root}: {shown}",
            err=True,
        )
