"""The ``geobase`` command.

One click group; each command group lives in its own module under ``geobase.cli`` and is
imported only when it is used, so ``geobase --help`` stays fast. :class:`GeobaseCLI` is the
one boundary that turns any failure into one line on stderr and an exit code, by one table
(:data:`EXIT_CODES`): 2 for bad input, usage or environment (read-only folder, full disk),
1 for a failure of the work or of geobase itself (``--debug`` shows the traceback).
"""

from __future__ import annotations

import errno
import importlib
import logging
import signal
import sys
import traceback

import click

from geobase import __version__
from geobase.errors import GeobaseError, StoreError, TileBuildError, describe_os_error

# command name -> (module under geobase.cli, attribute). Every entry must exist: a missing
# module or attribute is an ImportError (a broken installation), never a hidden command.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("workspace", "init"),
    "demo": ("demo", "demo"),
    "crs": ("crs", "crs"),
    "height": ("crs", "height"),
    "sheets": ("sheets", "sheets"),
    "control": ("control", "control"),
    "ingest": ("ingest", "ingest"),
    "catalog": ("catalog", "catalog"),
    "districts": ("workspace", "districts"),
    "coverage": ("coverage", "coverage"),
    "tiles": ("tiles", "tiles"),
    "serve": ("server", "serve"),
    "publish": ("server", "publish"),
    "token": ("server", "token"),
    "store": ("store", "store"),
    "emergency": ("emergency", "emergency"),
    "change": ("change", "change"),
    "status": ("workspace", "status"),
    "qc": ("qc", "qc"),
}

# The CLI's one table: library error (or OSError) class -> exit code; the first matching
# entry wins. 2: the input or the environment is at fault and the user can fix it (a bad
# value or file, a missing or read-only folder, a full disk, a file-size limit, an
# unreachable store, a malformed workspace); 1: the work failed (the store, a tile build).
# Only the GeobaseError family and OSError are expected: anything else is a bug, exit
# UNEXPECTED_EXIT with one line and a hint to rerun with --debug. Click's usage errors
# exit 2 on their own; `qc` exits 3 for defects.
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (OSError, 2),
    (ValueError, 2),
    (LookupError, 2),
    (StoreError, 1),
    (TileBuildError, 1),
    (GeobaseError, 2),
)
UNEXPECTED_EXIT = 1

# An optional package a command needs but the installation lacks is the environment's
# fault too (exit 2): top-level module -> the extra that installs it.
OPTIONAL_PACKAGES = {
    "fastapi": "server",
    "starlette": "server",
    "uvicorn": "server",
    "psycopg": "postgis",
    "psycopg_pool": "postgis",
    "dask": "dask",
    "distributed": "dask",
    "reportlab": "pdf",
}


def _missing_extra(exc: BaseException) -> str | None:
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        return OPTIONAL_PACKAGES.get(exc.name.split(".")[0])
    return None


def exit_code_for(exc: BaseException) -> int:
    """The exit code for an exception (see :data:`EXIT_CODES`)."""
    if _missing_extra(exc):
        return 2
    if isinstance(exc, GeobaseError | OSError):
        for cls, code in EXIT_CODES:
            if isinstance(exc, cls):
                return code
    return UNEXPECTED_EXIT


def failure_message(exc: BaseException) -> str:
    """The one line the CLI prints for a failure (without the ``Error:`` prefix)."""
    extra = _missing_extra(exc)
    if extra:
        text = (
            f"this command needs the optional package {exc.name!r} "  # type: ignore[attr-defined]
            f"(pip install 'geobase[{extra}]')"
        )
    elif isinstance(exc, GeobaseError):
        text = str(exc) or type(exc).__doc__ or type(exc).__name__
    elif isinstance(exc, OSError):
        text = describe_os_error(exc)
    else:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        text = (
            f"unexpected {type(exc).__name__}{': ' + first[:300] if first else ''} "
            "(rerun with --debug for the traceback, and report it)"
        )
    return " ".join(str(text).split())


# Options of the root group that may also be given after the subcommand
# ("geobase crs transform a.csv b.csv --to gk3:39 --quiet"); no subcommand may define them.
GLOBAL_FLAGS = ("-q", "--quiet", "--debug", "-v", "-vv", "--verbose")


def hoist_global_flags(args: list[str]) -> list[str]:
    """Move the global flags found anywhere before ``--`` to the front of ``args``."""
    flags: list[str] = []
    rest: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            rest.extend(args[i:])
            break
        (flags if arg in GLOBAL_FLAGS else rest).append(arg)
    return flags + rest


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (``geobase --help`` stays fast)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return load_command(cmd_name)


def load_command(name: str) -> click.Command | None:
    """The command registered as ``name`` in :data:`COMMANDS`, imported now; None if none is.

    Raises:
        ImportError: its module or attribute is missing: the installation is broken, which
            must show rather than the command quietly vanish from ``geobase --help``.
            A third-party package missing inside the module propagates as it is, so the
            boundary can name the extra that installs it.
    """
    target = COMMANDS.get(name)
    if target is None:
        return None
    module_name, attr = target
    path = f"geobase.cli.{module_name}"
    try:
        module = importlib.import_module(path)
    except ModuleNotFoundError as exc:
        if exc.name != path:
            raise
        raise ImportError(
            f"command {name!r}: module {path} is missing; the installation is incomplete"
        ) from exc
    command = getattr(module, attr, None)
    if not isinstance(command, click.Command):
        raise ImportError(f"command {name!r}: {path} defines no click command {attr!r}")
    return command


class GeobaseCLI(LazyGroup):
    """The CLI's one boundary: every failure becomes one line on stderr and an exit code.

    Global flags work before or after the subcommand (:data:`GLOBAL_FLAGS`); ``--debug``
    prints the traceback before the line.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_flags(list(args)))

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise  # stdout closed by the reader (| head): click ends quietly
            self._fail(ctx, exc)
        except Exception as exc:
            self._fail(ctx, exc)

    @staticmethod
    def _fail(ctx: click.Context, exc: Exception) -> None:
        if ctx.params.get("debug"):
            traceback.print_exception(exc, file=sys.stderr)
        click.echo(f"Error: {failure_message(exc)}", err=True)
        ctx.exit(exit_code_for(exc))


@click.group(cls=GeobaseCLI, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="geobase")
@click.option("-v", "--verbose", count=True, help="More log output (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="No progress or informational output.")
@click.option("--debug", is_flag=True, help="Show the traceback of a failure.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool, debug: bool) -> None:
    """geobase: the city's basic-surveying data, from control points to published tiles."""
    level = (
        logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    )
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    ctx.ensure_object(dict)
    ctx.obj["quiet"] = quiet
    ctx.obj["debug"] = debug


def main() -> None:
    """Console-script entry point."""
    if hasattr(signal, "SIGXFSZ"):
        # past a file-size limit (ulimit -f) a write fails with EFBIG, which the boundary
        # reports, instead of the signal killing the process mid-file
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    cli(obj={})
