"""``geobase control``: the control-point registry, inspections, datasheets and exports.

Thin shell over :mod:`geobase.control`. A rejected import prints every bad row
(``line N: reason``) on stderr when there are several, then the one-line error, and exits 2.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import sys
from pathlib import Path
from typing import Any

import click

from geobase.cli.options import (
    as_of_option,
    check_output,
    emit,
    encoding_option,
    format_option,
    info,
    open_workspace,
    overwrite_option,
    workspace_option,
)
from geobase.errors import ValidationError

MAX_PROBLEMS_SHOWN = 50

SHOW_COLUMNS = [
    "point_id",
    "name",
    "kind",
    "grade",
    "district",
    "lon",
    "lat",
    "normal_h",
    "condition",
    "usability",
    "last_inspected",
]


def _report_problems(f):
    """Print each problem of a ValidationError (line: reason) before the one-line error.

    One problem is named by the error line itself, so it is not listed twice.
    """

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        try:
            return f(*args, **kwargs)
        except ValidationError as exc:
            problems = exc.problems if len(exc.problems) > 1 else []
            for _, reason in problems[:MAX_PROBLEMS_SHOWN]:
                click.echo(f"  {reason}", err=True)
            if len(problems) > MAX_PROBLEMS_SHOWN:
                click.echo(f"  ... and {len(problems) - MAX_PROBLEMS_SHOWN} more", err=True)
            raise

    return wrapper


# click calls back for options not given too: geobase.geodesy (pyproj, numpy, pandas) is
# imported only for a value to parse
def _lonlat(ctx, param, value):
    if value is None:
        return None
    from geobase.geodesy.lonlat import parse_lonlat

    return parse_lonlat(value, param.opts[0])


def _pair(ctx, param, value):
    if value is None:
        return None
    from geobase.geodesy.lonlat import parse_numbers

    return parse_numbers(value, param.opts[0], 2)


@click.group()
def control() -> None:
    """The control-point registry (控制点), inspections (巡查) and datasheets (点之记)."""


@control.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Write the good rows and save the bad ones beside FILE as NAME.rejects.csv.",
)
@click.option(
    "--what",
    type=click.Choice(["auto", "points", "inspections"]),
    default="auto",
    show_default=True,
    help="What FILE holds (auto: a CSV with a condition column holds inspections).",
)
@click.option(
    "--encoding",
    type=click.Choice(["auto", "utf-8", "utf-8-sig", "gbk"]),
    default="auto",
    show_default=True,
    help="Encoding of a CSV FILE (auto: UTF-8 with or without BOM, else GBK); force gbk "
    "for a GBK file that auto reads wrong. Excel, GeoPackage and GeoJSON carry their own.",
)
@workspace_option
@_report_problems
def import_(
    file: Path, skip_invalid: bool, what: str, encoding: str, workspace_dir: Path | None
) -> None:
    """Add / update control points (CSV in UTF-8 or GBK, Excel .xlsx, GeoPackage, GeoJSON), or inspections."""
    from geobase.control.importer import ImportResult, import_points
    from geobase.control.inspection_import import (
        InspectionImport,
        import_inspections,
        is_inspection_table,
    )

    forced = None if encoding == "auto" else encoding
    with open_workspace(workspace_dir) as ws:
        if what == "auto" and file.suffix.lower() == ".csv" and file.is_file():
            from geobase.tabular import read_csv

            columns = read_csv(file, forced).columns
            what = "inspections" if is_inspection_table(columns) else "points"
        result: ImportResult | InspectionImport
        if what == "inspections":
            result = import_inspections(ws, file, skip_invalid=skip_invalid, encoding=forced)
        else:
            result = import_points(ws, file, skip_invalid=skip_invalid, encoding=forced)
    for _, reason in result.rejected[:MAX_PROBLEMS_SHOWN]:
        info(f"  rejected {reason}")
    info(result.summary())


def _search_options(f):
    options = [
        click.option("--id", "point_id", help="Exact point id."),
        click.option("--name", help="Part of the name (Chinese too)."),
        click.option(
            "--near", callback=_lonlat, help="Centre LON,LAT (degrees) of a radius search."
        ),
        click.option("--near-id", help="Centre a radius search on this mark."),
        click.option("--radius", type=click.FloatRange(min=0), help="Radius in metres (geodesic)."),
        click.option("--district", help="Inside this district (name as in 'geobase districts')."),
        click.option(
            "--polygon",
            type=click.Path(dir_okay=False, exists=True, path_type=Path),
            help="Inside the polygon(s) of this GeoJSON / GeoPackage file.",
        ),
        click.option("--kind", help="cors, gnss, levelling or city (Chinese names accepted)."),
        click.option("--grade", help="A grade in any spelling: C, C级, 三等水准, 一级, CORS."),
        click.option(
            "--usability",
            type=click.Choice(
                ["usable", "unusable", "gnss", "levelling", "both", "none", "uninspected"]
            ),
            help="Current usability (from the latest inspection).",
        ),
        click.option("--include-retired", is_flag=True, help="Also list retired (moved) marks."),
        click.option("--limit", type=click.IntRange(min=1), help="At most this many rows."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _with_grade(frame):
    from geobase.control.records import grade_label

    grades = []
    for cors, *codes in zip(
        frame["cors"], frame["gnss_grade"], frame["level_grade"], frame["cjj_grade"], strict=True
    ):
        parts = (["CORS"] if cors else []) + [grade_label(c) for c in codes if isinstance(c, str)]
        grades.append("; ".join(parts))
    return frame.assign(grade=grades)


@control.command()
@_search_options
@format_option()
@workspace_option
def search(fmt: str, workspace_dir: Path | None, polygon: Path | None, **criteria) -> None:
    """Search the registry: by id, name, radius, district, polygon, kind, grade, usability."""
    from geobase.control.registry import search as run_search

    with open_workspace(workspace_dir) as ws:
        area = None
        if polygon is not None:
            from geobase.areas import read_polygon

            area = read_polygon(polygon, "polygon file")
        frame = run_search(ws, polygon=area, **criteria)
    frame = _with_grade(frame)
    if fmt == "table":
        columns = [*SHOW_COLUMNS, *(["distance_m"] if "distance_m" in frame.columns else [])]
        table = frame[columns].copy()
        if "distance_m" in table.columns:
            table["distance_m"] = table["distance_m"].round(1)
        table["lon"] = table["lon"].map(lambda v: f"{v:.6f}")
        table["lat"] = table["lat"].map(lambda v: f"{v:.6f}")
        emit(table, fmt)
    else:
        emit(frame, fmt)
    info(f"{len(frame)} marks")


@control.command()
@click.argument("point_id")
@format_option(default="table", choices=["table", "json"])
@workspace_option
def show(point_id: str, fmt: str, workspace_dir: Path | None) -> None:
    """One mark: its record, current status, inspections and coordinate history."""
    from geobase.control.datasheet import datasheet_fields
    from geobase.control.inspections import current_status, inspection_history
    from geobase.control.registry import coordinate_history, get_point

    with open_workspace(workspace_dir) as ws:
        point = get_point(ws, point_id)
        status = current_status(ws, point_id)
        inspections = inspection_history(ws, point_id)
        history = coordinate_history(ws, point_id)
    if fmt == "json":
        emit(
            {
                **point.as_dict(),
                "grades": point.grades,
                "status": status,
                "inspections": [
                    {
                        "inspected_on": i.inspected_on,
                        "inspector": i.inspector,
                        "condition": i.condition,
                        "usability": i.usability,
                        "notes": i.notes,
                        "new_point_id": i.new_point_id,
                        "evidence": [e.__dict__ for e in i.evidence],
                    }
                    for i in inspections
                ],
                "coordinate_history": history,
            },
            "json",
        )
        return
    emit([{"field": k, "value": v} for k, v in datasheet_fields(point)], "table")
    if inspections:
        click.echo()
        emit(
            [
                {
                    "date": i.inspected_on,
                    "inspector": i.inspector,
                    "condition": i.condition,
                    "usability": i.usability,
                    "notes": i.notes or "",
                    "evidence": len(i.evidence),
                }
                for i in inspections
            ],
            "table",
        )
    else:
        info("no inspections recorded")
    if history:
        info(f"{len(history)} earlier coordinate versions (see --format json)")


INSPECT_EPILOG = """With --from, FILE (or - for stdin) holds one JSON object a line with the keys of the
options (point_id, condition, date, inspector, usability, notes, evidence, new_id,
new_position, new_xy, crs, source; the Chinese column names of 'control import' too).
The workspace is opened once; each line is recorded in its own transaction as it
arrives and acknowledged by one line on stdout once committed. A bad line stops the
stream (exit 2) and records nothing; the lines acknowledged before it stay recorded.
Evidence paths are relative to FILE's folder (the current folder for stdin).
"""


@control.command(epilog=INSPECT_EPILOG)
@click.argument("point_id", required=False)
@click.option(
    "--condition",
    "-c",
    help="intact, damaged, destroyed, 'not found' or moved (完好/损坏/毁坏/未找到/移动).",
)
@click.option("--date", "-d", "date", help="Inspection date YYYY-MM-DD.")
@click.option("--inspector", "-i", help="Who inspected.")
@click.option("--usability", "-u", help="gnss, levelling, both or none (default from condition).")
@click.option("--notes", "-n", help="Free text.")
@click.option(
    "--evidence",
    "-e",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Evidence file (photo), repeatable; copied into the workspace.",
)
@click.option("--new-id", help="For a moved mark: the id of the new mark.")
@click.option("--new-position", callback=_lonlat, help="For a moved mark: LON,LAT of the new mark.")
@click.option("--new-xy", callback=_pair, help="For a moved mark: X,Y (northing, easting).")
@click.option("--crs", help="CRS of --new-xy (default: the workspace CRS).")
@click.option(
    "--source",
    type=click.Choice(["adjusted", "converted", "scaled"]),
    default="scaled",
    show_default=True,
    help="Provenance of the moved mark's new position.",
)
@click.option(
    "--from",
    "from_file",
    metavar="FILE",
    help="Record a stream of inspections, one JSON object a line, from FILE or - (stdin).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Acknowledgement of each record on stdout: a line of text or a JSON object "
    "(without --from, json writes the one record's and text nothing).",
)
@workspace_option
def inspect(
    point_id: str | None,
    condition: str | None,
    date: str | None,
    inspector: str | None,
    usability: str | None,
    notes: str | None,
    evidence: tuple[Path, ...],
    new_id: str | None,
    new_position,
    new_xy,
    crs: str | None,
    source: str,
    from_file: str | None,
    fmt: str,
    workspace_dir: Path | None,
) -> None:
    """Record an inspection of mark POINT_ID (appended to its history), or a stream of
    them with --from."""
    from geobase.control.inspection_stream import InspectionEntry, record_entry

    if from_file is not None:
        given = {
            "POINT_ID": point_id,
            "--condition": condition,
            "--date": date,
            "--inspector": inspector,
            "--usability": usability,
            "--notes": notes,
            "--evidence": evidence,
            "--new-id": new_id,
            "--new-position": new_position,
            "--new-xy": new_xy,
            "--crs": crs,
            "--source": _given(click.get_current_context(), "source"),
        }
        clash = [name for name, value in given.items() if value]
        if clash:
            raise click.UsageError(
                f"--from reads every field from its lines; {', '.join(clash)} cannot be "
                "given with it"
            )
        _inspect_stream(from_file, fmt, workspace_dir)
        return
    missing = [
        name
        for name, value in (
            ("POINT_ID", point_id),
            ("--condition", condition),
            ("--date", date),
            ("--inspector", inspector),
        )
        if value is None
    ]
    if missing:
        raise click.UsageError(f"missing {', '.join(missing)} (or --from FILE for a stream)")
    assert point_id and condition and date and inspector is not None
    entry = InspectionEntry(
        point_id=point_id,
        condition=condition,
        date=date,
        inspector=inspector,
        usability=usability,
        notes=notes,
        evidence=tuple(str(p) for p in evidence),
        new_id=new_id,
        new_position=new_position,
        new_xy=new_xy,
        crs=crs,
        source=source,
    )
    with open_workspace(workspace_dir) as ws:
        inspection, new = record_entry(ws, entry)
    if new is not None:
        info(
            f"{point_id} retired (moved); new mark {new.point_id} at B {new.lat:.7f}, L {new.lon:.7f}"
        )
    info(
        f"recorded: {inspection.point_id} {inspection.inspected_on} {inspection.condition}, "
        f"usable for {inspection.usability}"
        + (f", {len(inspection.evidence)} evidence file(s)" if inspection.evidence else "")
    )
    if fmt == "json":
        click.echo(_ack_json(None, inspection, new))


def _given(ctx: click.Context, name: str) -> bool:
    from click.core import ParameterSource

    return ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)


def _ack_json(line: int | None, inspection, new) -> str:
    import json

    record = {
        **({"line": line} if line is not None else {}),
        "inspection": inspection.fid,
        "point_id": inspection.point_id,
        "date": inspection.inspected_on.isoformat(),
        "inspector": inspection.inspector,
        "condition": inspection.condition,
        "usability": inspection.usability,
        "evidence": len(inspection.evidence),
        "new_point_id": new.point_id if new is not None else None,
        "recorded_at": inspection.recorded_at,
    }
    return json.dumps(record, ensure_ascii=False)


def _inspect_stream(from_file: str, fmt: str, workspace_dir: Path | None) -> None:
    """``inspect --from``: each line recorded, then acknowledged on stdout (flushed)."""
    from geobase.control.inspection_stream import record_stream

    recorded: list[int] = []

    def ack(line: int, inspection, new) -> None:
        recorded.append(line)
        if fmt == "json":
            text = _ack_json(line, inspection, new)
        else:
            text = (
                f"line {line}: recorded {inspection.point_id} {inspection.inspected_on} "
                f"{inspection.condition}, usable for {inspection.usability}"
                + (f", {len(inspection.evidence)} evidence file(s)" if inspection.evidence else "")
                + (f"; new mark {new.point_id}" if new is not None else "")
                + f" (inspection {inspection.fid})"
            )
        click.echo(text)  # click flushes: the caller may rely on it once it reads the line

    name = "stdin" if from_file == "-" else from_file
    done = False
    try:
        if from_file == "-":
            stream: Any = contextlib.nullcontext(sys.stdin.buffer)
            base = None
        else:
            path = Path(from_file)
            if path.is_dir():
                raise click.BadParameter(f"{path} is a folder", param_hint="--from")
            stream = path.open("rb")
            base = path.parent
        with stream as lines, open_workspace(workspace_dir) as ws:
            record_stream(ws, lines, base=base, on_recorded=ack)
        done = True
    finally:
        if done:
            info(f"{len(recorded)} inspection(s) recorded from {name}")
        elif recorded:
            info(
                f"{len(recorded)} inspection(s) recorded from {name} (lines {recorded[0]}-"
                f"{recorded[-1]}) before the stream stopped; those stay recorded"
            )


@control.command()
@as_of_option()
@click.option(
    "--cycle-days",
    type=click.IntRange(min=1),
    help="Inspection cycle in days (default [control] inspection_cycle_days or 365).",
)
@format_option()
@workspace_option
def overdue(
    as_of: dt.date | None, cycle_days: int | None, fmt: str, workspace_dir: Path | None
) -> None:
    """Marks whose last inspection is older than the inspection cycle."""
    from geobase.control.health import overdue as list_overdue

    with open_workspace(workspace_dir) as ws:
        frame = list_overdue(ws, as_of=as_of, cycle=cycle_days)
    emit(frame, fmt)
    info(f"{len(frame)} marks overdue for inspection")


@control.command()
@as_of_option()
@click.option("--cycle-days", type=click.IntRange(min=1), help="Inspection cycle in days.")
@format_option(choices=["table", "json", "csv"])
@workspace_option
def stats(
    as_of: dt.date | None, cycle_days: int | None, fmt: str, workspace_dir: Path | None
) -> None:
    """Per district: marks, inspected this cycle, usable marks and the usable rate."""
    from geobase.control.health import district_stats

    with open_workspace(workspace_dir) as ws:
        frame = district_stats(ws, as_of=as_of, cycle=cycle_days)
    emit(frame, fmt)


@control.command()
@click.argument("point_id")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="OUT.html or OUT.pdf.",
)
@overwrite_option
@workspace_option
def datasheet(point_id: str, output: Path, overwrite: bool, workspace_dir: Path | None) -> None:
    """Write the point description record (点之记) of POINT_ID as HTML or PDF."""
    from geobase.control.datasheet import write_datasheet

    if output.suffix.lower() not in (".html", ".htm", ".pdf"):
        raise click.BadParameter(f"{output}: expected a .html or .pdf file", param_hint="-o")
    check_output(output, overwrite)
    with open_workspace(workspace_dir) as ws:
        path = write_datasheet(ws, point_id, output, overwrite=overwrite)
    info(f"wrote {path}")


@control.command()
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--public",
    is_flag=True,
    help="Drop restricted grades and round positions to 0.001° (publishing rules).",
)
@click.option("--include-retired", is_flag=True, help="Also export retired (moved) marks.")
@encoding_option()
@overwrite_option
@workspace_option
def export(
    output: Path,
    public: bool,
    include_retired: bool,
    encoding: str | None,
    overwrite: bool,
    workspace_dir: Path | None,
) -> None:
    """Export the registry to OUTPUT (.csv, .geojson or .gpkg)."""
    from geobase.control.export import DRIVERS, export_points

    if output.suffix.lower() not in DRIVERS:
        raise click.BadParameter(f"{output}: expected .csv, .geojson or .gpkg", param_hint="OUTPUT")
    check_output(output, overwrite)
    with open_workspace(workspace_dir) as ws:
        count = export_points(
            ws,
            output,
            public=public,
            include_retired=include_retired,
            overwrite=overwrite,
            encoding=encoding,
        )
    info(f"exported {count} marks to {output}" + (" (public, generalised)" if public else ""))
