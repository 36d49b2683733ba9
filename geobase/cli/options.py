"""Shared options and output helpers for the command groups (after rasterio's rio/options).

Commands stay thin: they parse input, call the library and hand the result to
:func:`emit`. Data goes to stdout, messages and progress to stderr.
"""

from __future__ import annotations

import functools
import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import click

from geobase.values import json_default, plain

FORMATS = ("table", "json", "csv", "geojson")


def workspace_option(f: Callable) -> Callable:
    """``--workspace DIR`` (or ``GEOBASE_WORKSPACE``); default: walk up from the cwd."""
    return click.option(
        "--workspace",
        "workspace_dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="GEOBASE_WORKSPACE",
        default=None,
        help="Workspace folder (default: the one holding the current directory).",
    )(f)


def open_workspace(workspace_dir: Path | None):
    """Open the workspace named on the command line, or the one holding the cwd."""
    from geobase.store import Workspace

    if workspace_dir is not None:
        return Workspace.open(workspace_dir)
    return Workspace.find(Path.cwd())


#: where :func:`format_option` leaves ``--encoding`` for :func:`emit` (click's ``ctx.meta``)
_CSV_ENCODING = "geobase.csv_encoding"


def format_option(default: str = "table", choices: Iterable[str] = FORMATS) -> Callable:
    """``--format`` with the given choices, validated by click.

    Where ``csv`` is a choice, ``--encoding`` comes with it (the one place every command
    writing CSV to stdout gets it): :func:`emit` writes ``--format csv`` in that encoding,
    under :mod:`geobase.tabular`'s policy. Given with another format, it is refused
    (exit 2) before the command runs.
    """
    choices = list(choices)
    option = click.option(
        "--format",
        "fmt",
        type=click.Choice(choices),
        default=default,
        show_default=True,
        help="Output format.",
    )
    if "csv" not in choices:
        return option

    def decorator(f: Callable) -> Callable:
        @functools.wraps(f)
        def wrapper(*args: Any, csv_encoding: str | None = None, **kwargs: Any) -> Any:
            if csv_encoding is not None and kwargs.get("fmt") != "csv":
                raise click.UsageError(
                    f"--encoding {csv_encoding} applies to --format csv only "
                    f"(the format is {kwargs.get('fmt')})"
                )
            click.get_current_context().meta[_CSV_ENCODING] = csv_encoding
            return f(*args, **kwargs)

        wrapper = click.option(
            "--encoding",
            "csv_encoding",
            type=click.Choice(["utf-8", "utf-8-sig", "gbk"]),
            default=None,
            help="Encoding of --format csv on stdout: utf-8 (the default), utf-8-sig (with "
            "a BOM, for Excel) or gbk (a character GBK lacks is refused).",
        )(wrapper)
        return option(wrapper)

    return decorator


def encoding_option(same: bool = False) -> Callable:
    """``--encoding`` of an output CSV file (the policy in :mod:`geobase.tabular`).

    Unset, a file is written as UTF-8 with a BOM (what Excel on a Chinese Windows reads
    right) and stdout as plain UTF-8 (a BOM in a pipe ends up in a script's first column
    name). ``same`` (where offered) keeps the input file's encoding.
    """
    choices = (["same"] if same else []) + ["utf-8-sig", "utf-8", "gbk"]
    return click.option(
        "--encoding",
        type=click.Choice(choices),
        default=None,
        help="Encoding of an output CSV: utf-8-sig (UTF-8 with BOM, the default for a "
        "file), utf-8 (the default for stdout) or gbk (a character GBK lacks is refused)"
        + ("; same: the input's." if same else "."),
    )


def name_callback(what: str) -> Callable:
    """A click callback that checks a name option (:func:`geobase.names.check_name`);
    a bad name is one line and exit 2 at the boundary, before any work."""

    def callback(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        from geobase.names import check_name

        return None if value is None else check_name(value, what)

    return callback


overwrite_option = click.option(
    "--overwrite", is_flag=True, help="Replace the output if it exists."
)


def check_output(path: Path | str, overwrite: bool) -> Path:
    """Refuse to replace an existing output without ``--overwrite``."""
    path = Path(path)
    if str(path) != "-" and path.exists() and not overwrite:
        raise click.UsageError(f"{path} exists; pass --overwrite to replace it")
    return path


def is_quiet() -> bool:
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx else None
    return bool(root and root.obj and root.obj.get("quiet"))


def info(message: str) -> None:
    """An informational message on stderr, silent with ``--quiet``."""
    if not is_quiet():
        click.echo(message, err=True)


@contextmanager
def progress_bar(description: str, total: int | None = None) -> Iterator[Callable[..., None]]:
    """A rich progress bar on stderr; yields a callback ``(done, total=None, **info)``.

    Silent with ``--quiet`` or when stderr is not a terminal.
    """
    if is_quiet() or not sys.stderr.isatty():
        yield lambda *args, **kwargs: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = [
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        task = progress.add_task(description, total=total, rate="")

        def update(done: int, total: int | None = None, **fields: Any) -> None:
            if total is not None:
                progress.update(task, total=total)
            rate = fields.get("rate")
            progress.update(task, completed=done, rate=f"{rate:.0f}/s" if rate else "")

        yield update


def cell_text(value: Any) -> str:
    """One output cell as text for a table or CSV: empty when missing (the one rule of
    :func:`geobase.values.plain`, which the service's JSON uses too)."""
    if isinstance(value, float) and math.isinf(value):  # numpy floats are floats
        return str(float(value))
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def emit(records: Any, fmt: str, out: TextIO | None = None, encoding: str | None = None) -> None:
    """Write records (a GeoDataFrame, DataFrame, list of dicts or one dict) to stdout.

    ``table`` is for people, ``json``/``csv`` for scripts, ``geojson`` needs geometries.
    ``csv`` is written under :mod:`geobase.tabular`'s policy in ``encoding``, by default
    the command's ``--encoding`` (see :func:`format_option`), else plain UTF-8.
    """
    stream: TextIO = out if out is not None else sys.stdout
    if encoding is None:
        ctx = click.get_current_context(silent=True)
        encoding = ctx.meta.get(_CSV_ENCODING) if ctx is not None else None
    import pandas as pd

    if isinstance(records, Mapping):
        if fmt == "json":
            stream.write(json.dumps(plain(records), ensure_ascii=False, indent=2) + "\n")
            return
        records = [records]
    frame = records if isinstance(records, pd.DataFrame) else pd.DataFrame(list(records))
    geometry = None
    if "geometry" in frame.columns:
        import geopandas as gpd

        if fmt == "geojson":
            gdf = frame if isinstance(frame, gpd.GeoDataFrame) else gpd.GeoDataFrame(frame)
            stream.write(gdf.to_json(ensure_ascii=False, default=json_default) + "\n")
            return
        geometry = frame.geometry
        frame = pd.DataFrame(frame.drop(columns="geometry"))
    elif fmt == "geojson":
        raise click.UsageError("--format geojson needs records with geometries")
    if fmt == "json":
        rows = [plain(row) for row in frame.to_dict("records")]
        if geometry is not None:
            for row, geom in zip(rows, geometry, strict=True):
                row["geometry"] = None if geom is None else geom.wkt
        stream.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
    elif fmt == "csv":
        from geobase.tabular import write_csv

        text = pd.DataFrame({c: [cell_text(v) for v in frame[c]] for c in frame.columns})
        write_csv(text if len(frame.columns) else frame, stream, encoding)
    else:
        _table(frame, stream)


def _table(frame, out) -> None:
    from rich.console import Console
    from rich.table import Table

    if frame.empty:
        click.echo("(no records)", err=True)
        return
    table = Table(show_edge=False, header_style="bold")
    for column in frame.columns:
        table.add_column(str(column))
    for row in frame.itertuples(index=False):
        table.add_row(*(cell_text(v) for v in row))
    width = int(os.environ.get("COLUMNS", "160"))
    Console(file=out, width=max(width, 80), soft_wrap=False).print(table)


def as_of_option(help_text: str = "Reference date YYYY-MM-DD (default today).") -> Callable:
    """``--as-of DATE`` (a :class:`datetime.date`) and ``--allow-future``.

    An as-of date after today is refused (exit 2) unless ``--allow-future`` is given: a
    typo such as 2099 for 2019 would otherwise judge everything against a far future.
    """
    import functools

    def parse(ctx, param, value):
        from geobase.dates import parse_date

        return None if value is None else parse_date(value, "--as-of")

    def decorator(f: Callable) -> Callable:
        @functools.wraps(f)
        def wrapper(*args: Any, as_of=None, allow_future: bool = False, **kwargs: Any) -> Any:
            if as_of is not None and not allow_future:
                from geobase.dates import check_not_future

                check_not_future(as_of, "--as-of")
            return f(*args, as_of=as_of, **kwargs)

        wrapper = click.option(
            "--allow-future",
            is_flag=True,
            help="Accept an --as-of date after today (a projection; refused by default).",
        )(wrapper)
        return click.option(
            "--as-of", "as_of", callback=parse, default=None, metavar="DATE", help=help_text
        )(wrapper)

    return decorator
