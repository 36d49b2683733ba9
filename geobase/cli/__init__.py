"""The ``geobase`` command.

One click group; each command group lives in its own module under ``geobase.cli`` and is
imported only when it is used, so ``geobase --help`` stays fast. Library errors are mapped
to exit codes by one table (:data:`EXIT_CODES`): 2 for bad input or usage, 1 for a failure
of the work.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from geobase import __version__
from geobase.errors import GeobaseError

# command name -> (module under geobase.cli, attribute). A module that is not there yet
# is left out of the listing.
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
    "status": ("workspace", "status"),
}

# Library error class -> exit code; the first matching entry wins (most specific first).
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (ValueError, 2),
    (LookupError, 2),
    (PermissionError, 2),
    (OSError, 2),
    (GeobaseError, 1),
)


def exit_code_for(exc: BaseException) -> int:
    """The exit code for a library error (see :data:`EXIT_CODES`)."""
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return 1


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._load(name) is not None)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target
        try:
            module = importlib.import_module(f"geobase.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"geobase.cli.{module_name}":
                return None
            raise
        return getattr(module, attr, None)


class GeobaseCLI(LazyGroup):
    """Maps library errors to a one-line message and an exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GeobaseError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exit_code_for(exc))


@click.group(cls=GeobaseCLI, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="geobase")
@click.option("-v", "--verbose", count=True, help="More log output (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="No progress or informational output.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """geobase: the city's basic-surveying data, from control points to published tiles."""
    level = (
        logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    )
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    ctx.ensure_object(dict)
    ctx.obj["quiet"] = quiet


def main() -> None:
    """Console-script entry point."""
    cli(obj={})
