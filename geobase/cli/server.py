"""``geobase serve``, ``geobase publish`` and ``geobase token``: thin shells over
:mod:`geobase.server`, :mod:`geobase.catalog.publications` and
:mod:`geobase.catalog.access`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from geobase.classification import CLASSIFICATIONS
from geobase.cli.options import (
    emit,
    format_option,
    info,
    open_workspace,
    workspace_option,
)
from geobase.values import plain

# geobase.catalog.publications.KINDS (listed here so that --help stays fast)
PUBLICATION_KINDS = (
    "catalogue",
    "imagery",
    "entities",
    "placenames",
    "model3d",
    "dem",
    "pointcloud",
    "vector",
    "tiles",
    "control",
    "other",
)


@click.command()
@workspace_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port."
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes (more than one: uvicorn's process manager).",
)
@click.option("--public-url", default=None, help="Base URL clients see (behind a proxy).")
@click.option(
    "--log-level", default="info", type=click.Choice(["debug", "info", "warning", "error"])
)
@click.option(
    "--emit-nginx",
    "nginx_path",
    type=click.Path(dir_okay=False, allow_dash=True),
    default=None,
    help="Write (replace) an nginx configuration to PATH ('-': stdout) in which nginx sends "
    "directory pyramids' tiles from disk once this server (at --host:--port) allows them; "
    "then exit.",
)
@click.option(
    "--nginx-listen", default="80", show_default=True, help="nginx's listen (with --emit-nginx)."
)
@click.option(
    "--nginx-auth-cache",
    "nginx_auth_cache",
    type=click.IntRange(0, 3600),
    default=0,
    show_default=True,
    help="Seconds nginx may reuse this server's answer for anonymous tiles (with "
    "--emit-nginx). 0 asks for every tile; more is cheaper, but for that long after a "
    "stricter rebuild of a folder pyramid nginx may still send its tiles.",
)
@click.option(
    "--changes",
    "change_paths",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="A change result (geobase change detect's GeoPackage) or a folder of them, for the "
    "viewer to show over its two epochs (repeatable; besides [server] changes, by default "
    "the workspace's changes/ folder).",
)
def serve(
    workspace_dir,
    host,
    port,
    workers,
    public_url,
    log_level,
    nginx_path,
    nginx_listen,
    nginx_auth_cache,
    change_paths,
):
    """Serve the workspace: viewer at /, tiles, WMTS, TileJSON and /api/ (OpenAPI at
    /api/openapi.json), health at /health."""
    import os

    import uvicorn

    from geobase.server.app import CHANGES_ENV, WORKSPACE_ENV, create_app
    from geobase.server.settings import ServerSettings

    for path in change_paths:
        if path.is_file():  # a folder's files are looked at while serving (and logged)
            from geobase.change.results import read_result

            read_result(path)  # ChangeResultError: not a change result (exit 2)
    ws = open_workspace(workspace_dir)
    root = ws.root
    if nginx_path is not None:
        from geobase.server.nginx import nginx_config, upstream_for

        settings = ServerSettings.for_workspace(root)
        with ws:
            config = nginx_config(
                ws,
                upstream=upstream_for(host, port),
                listen=nginx_listen,
                auth_cache_s=nginx_auth_cache,
                cors_origins=settings.cors_origins,
                marks_dir=settings.nginx_public_marks,
                tile_max_age=settings.tile_max_age,
            )
        _write_text(nginx_path, config.text)
        info(f"nginx sends {len(config.direct)} pyramid(s) from disk: {', '.join(config.direct)}")
        if config.proxied:
            info(
                f"{len(config.proxied)} pyramid(s) in PMTiles/MBTiles go through geobase: "
                f"{', '.join(config.proxied)} (build them as folders for nginx to send them)"
            )
        info(f"wrote {nginx_path}: include it in nginx's http {{}}; run geobase serve as well")
        return
    ws.close()
    settings = ServerSettings.for_workspace(root, public_url=public_url)
    extra = [p.resolve() for p in change_paths]
    settings = settings.model_copy(update={"changes": [*settings.changes, *extra]})
    info(f"serving {root} at http://{host}:{port}/ (Ctrl-C stops)")
    options = {"host": host, "port": port, "log_level": log_level, "server_header": False}
    if workers > 1:
        os.environ[WORKSPACE_ENV] = str(root)
        if public_url:
            os.environ["GEOBASE_SERVER_PUBLIC_URL"] = public_url
        if extra:
            os.environ[CHANGES_ENV] = os.pathsep.join(str(p) for p in extra)
        uvicorn.run("geobase.server.app:app_from_env", factory=True, workers=workers, **options)
    else:
        uvicorn.run(create_app(settings), **options)


def _write_text(path: str, text: str) -> None:
    """``text`` to ``path`` under a temporary name, then renamed (or to stdout for ``-``)."""
    from geobase.paths import atomic_output

    if path == "-":
        click.echo(text, nl=False)
        return
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


# --- publication log -----------------------------------------------------------------


@click.group()
def publish():
    """The publication log (发布记录): record releases, list them, check the plan's cadence."""


@publish.command("record")
@workspace_option
@click.argument("subject")
@click.option(
    "--kind",
    required=True,
    type=click.Choice(list(PUBLICATION_KINDS)),
    help="What kind of release (the cadence it counts towards).",
)
@click.option(
    "--classification",
    required=True,
    type=click.Choice(CLASSIFICATIONS),
    help="Classification assigned by the review.",
)
@click.option("--reviewer", required=True, help="Who made the classification review.")
@click.option(
    "--decision",
    "review_decision",
    default="approved",
    show_default=True,
    help="The review's decision (only approved releases are recorded).",
)
@click.option("--review-date", required=True, help="Date of the review (YYYY-MM-DD).")
@click.option("--by", "released_by", required=True, help="Who releases it.")
@click.option("--at", "released_at", default=None, help="When (ISO date/time; default now).")
@click.option("--notes", default=None, help="Free text.")
@format_option(default="table", choices=["table", "json"])
def publish_record(workspace_dir, fmt, **fields):
    """Record that SUBJECT (catalogue, pyramid:NAME, dataset:ID, ...) was released."""
    from geobase.catalog.publications import record_publication

    with open_workspace(workspace_dir) as ws:
        release = record_publication(ws.store, **fields)
    info(
        f"recorded release #{release.fid}: {release.subject} ({release.kind}, "
        f"{release.classification})"
    )
    emit(plain(release), fmt)


@publish.command("log")
@workspace_option
@click.option("--kind", default=None, help="Only this kind.")
@click.option("--since", default=None, help="Only releases on or after this date.")
@click.option("--until", default=None, help="Only releases on or before this date.")
@format_option(default="table", choices=["table", "json", "csv"])
def publish_log(workspace_dir, kind, since, until, fmt):
    """List the releases, newest first."""
    from geobase.catalog.publications import publication_log

    with open_workspace(workspace_dir) as ws:
        releases = publication_log(ws.store, kind=kind, since=since, until=until)
    emit(plain(releases), fmt)


@publish.command("check")
@workspace_option
@click.option("--as-of", default=None, help="Judge as of this date (default today).")
@click.option(
    "--period",
    default="2021-01-01/2025-12-31",
    show_default=True,
    help="The plan period START/END.",
)
@format_option(default="table", choices=["table", "json", "csv"])
def publish_check(workspace_dir, as_of, period, fmt):
    """Check the log against the plan's cadence (catalogue quarterly, imagery yearly,
    entities and place names twice, 3D once in the period). Exits 1 if a release was
    missed."""
    from geobase.catalog.publications import check_cadence

    start, sep, end = period.partition("/")
    if not sep:
        raise click.BadParameter(
            "expected START/END, e.g. 2021-01-01/2025-12-31", param_hint="--period"
        )
    with open_workspace(workspace_dir) as ws:
        rows = check_cadence(ws.store, as_of=as_of, period=(start, end))
    records = []
    for status in rows:
        rec = dataclasses.asdict(status)
        rec["missed"] = ", ".join(status.missed)
        records.append(rec)
    emit(records, fmt)
    missed = [s.kind for s in rows if s.status == "missed"]
    if missed:
        click.echo(f"Error: cadence missed for {', '.join(missed)}", err=True)
        raise SystemExit(1)


# --- access tokens ---------------------------------------------------------------------


@click.group()
def token():
    """Bearer tokens for what is not public (stored hashed; shown once)."""


@token.command("create")
@workspace_option
@click.argument("name")
@click.option(
    "--max-classification",
    default="internal",
    show_default=True,
    type=click.Choice(CLASSIFICATIONS),
    help="The highest classification the token may see.",
)
@click.option("--by", "created_by", default=None, help="Who creates it.")
def token_create(workspace_dir, name, max_classification, created_by):
    """Create a token for NAME and print it (once: only its hash is stored)."""
    from geobase.catalog.access import create_token

    with open_workspace(workspace_dir) as ws:
        record, secret = create_token(ws.store, name, max_classification, created_by=created_by)
    info(
        f"token #{record.id} for {record.name!r} (up to {record.max_classification}); "
        "store it now, it cannot be shown again"
    )
    click.echo(secret)


@token.command("list")
@workspace_option
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked tokens.")
@format_option(default="table", choices=["table", "json", "csv"])
def token_list(workspace_dir, include_revoked, fmt):
    """List tokens (never their secrets)."""
    from geobase.catalog.access import list_tokens

    with open_workspace(workspace_dir) as ws:
        rows = [
            dataclasses.asdict(t) for t in list_tokens(ws.store, include_revoked=include_revoked)
        ]
    emit(rows, fmt)


@token.command("revoke")
@workspace_option
@click.argument("name")
def token_revoke(workspace_dir, name):
    """Revoke the active token(s) of NAME."""
    from geobase.catalog.access import revoke_token

    with open_workspace(workspace_dir) as ws:
        revoked = revoke_token(ws.store, name)
    info(f"revoked {len(revoked)} token(s) of {name!r}")
