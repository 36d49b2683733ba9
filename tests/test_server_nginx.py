"""``geobase serve --emit-nginx``: a real nginx (Debian's, non-daemon, temp prefix, free
loopback port) in front of geobase on uvicorn: public directory tiles sent by nginx from
disk byte for byte as geobase sends them, everything not public only with a token, and a
pyramid reclassified from public to restricted refused at once by nginx.

Skips where nginx is not installed (``scripts/install-system-deps.sh test`` installs
``nginx-light``), except in CI (``CI`` set), where a missing nginx is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.server_support import PYRAMIDS, make_workspace, running

AUTH_CACHE_S = 1  # nginx keeps anonymous answers this long
REFRESH_S = 0.2  # geobase re-reads the pyramid table this often


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if found is None:
        reason = "nginx is not installed (apt-get install nginx-light)"
        if os.environ.get("CI"):
            pytest.fail(f"nginx tests cannot run in CI: {reason}")
        pytest.skip(reason)
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main_conf(prefix: Path, snippet: Path) -> str:
    """A whole nginx.conf around the emitted snippet, everything under ``prefix``."""
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read pytest's tmp
    temps = "\n".join(
        f"    {kind}_temp_path {prefix / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}daemon off;\nworker_processes 1;\npid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'error.log'} warn;\n"
        "events { worker_connections 256; }\n"
        f"http {{\n    access_log off;\n{temps}\n    include {snippet};\n}}\n"
    )


@pytest.fixture(scope="module", params=["ask", "marks"])
def deployed(request, tmp_path_factory):
    """nginx as emitted, in front of geobase: asking geobase for every tile ("ask"), or
    sending anonymous tiles of pyramids geobase keeps marked public ("marks",
    ``[server] nginx_public_marks``)."""
    from geobase.server import ServerSettings, create_app
    from geobase.server.nginx import nginx_config
    from geobase.store import Workspace

    binary = nginx_binary()
    info = make_workspace(tmp_path_factory.mktemp("nginx") / "ws")
    prefix = tmp_path_factory.mktemp("nginx-prefix")
    marks = prefix / "marks" if request.param == "marks" else None
    app = create_app(ServerSettings.for_workspace(info["ws_root"], nginx_public_marks=marks))
    app.state.service.layers.refresh_s = REFRESH_S
    with running(app) as geobase:
        port = free_port()
        with Workspace.open(info["ws_root"]) as ws:
            config = nginx_config(
                ws,
                upstream=geobase.removeprefix("http://"),
                listen=f"127.0.0.1:{port}",
                cache_dir=prefix / "auth-cache",
                access_log=prefix / "access.log",
                auth_cache_s=AUTH_CACHE_S,
                marks_dir=marks,
            )
        assert config.direct == ("inner", "merc") and config.proxied == ("cgcs", "secret")
        text = config.text
        (prefix / "geobase.conf").write_text(text, encoding="utf-8")
        conf = prefix / "nginx.conf"
        conf.write_text(main_conf(prefix, prefix / "geobase.conf"), encoding="utf-8")
        check = subprocess.run(
            [binary, "-t", "-p", str(prefix), "-c", str(conf)], capture_output=True, text=True
        )
        assert check.returncode == 0, check.stderr
        proc = subprocess.Popen(
            [binary, "-p", str(prefix), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        log = (prefix / "error.log").read_text(errors="replace")
                        raise RuntimeError(f"nginx did not start: {log}") from None
                    time.sleep(0.05)
            with (
                httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) as nginx,
                httpx.Client(base_url=geobase, timeout=20) as direct,
            ):
                yield {
                    **info,
                    "nginx": nginx,
                    "direct": direct,
                    "config": text,
                    "prefix": prefix,
                    "marks": marks,
                }
        finally:
            proc.terminate()
            proc.wait(10)


def tiles_of(deployed, name: str) -> list[str]:
    from geobase.tiles.stores import open_pyramid

    ext = "jpg" if PYRAMIDS[name][3] == "jpeg" else PYRAMIDS[name][3]
    with open_pyramid(deployed["ws_root"] / PYRAMIDS[name][0]) as reader:
        return [f"/tiles/{name}/{z}/{x}/{y}.{ext}" for z, x, y in reader.tiles()]


def bearer(deployed, level: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {deployed['tokens'][level]}"}


def from_disk(response: httpx.Response) -> bool:
    """Sent by nginx's static module (geobase sends no Last-Modified)."""
    return "last-modified" in response.headers


def test_config_names_directory_pyramids_only(deployed):
    text = deployed["config"]
    assert 'location ~ "^/tiles/merc/' in text and 'location ~ "^/tiles/inner/' in text
    assert "/tiles/cgcs/" not in text and "/tiles/secret/" not in text  # archives: geobase
    body = text.split("server {", 1)[1]
    if deployed["marks"] is None:
        assert "public" not in body  # no classification baked in
    else:  # every directory pyramid has its mark checked, whatever it is classified
        assert f'"" "{deployed["marks"]}";' in text
        for name in ("merc", "inner"):
            assert f'if (!-f "$geobase_marks/{name}.public")' in body


def test_marks_follow_the_registry(deployed):
    """The marks name exactly the public directory pyramids whose folders hold the
    recorded build; nginx sends their anonymous tiles from disk without asking."""
    if deployed["marks"] is None:
        pytest.skip("no marks in this deployment")
    deployed["direct"].get("/health")
    deadline = time.monotonic() + 5
    while not (deployed["marks"] / "merc.public").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(p.name for p in deployed["marks"].iterdir()) == ["merc.public"]
    nginx, path = deployed["nginx"], tiles_of(deployed, "merc")[0]
    plain = nginx.get(path)
    assert plain.status_code == 200 and from_disk(plain)
    assert "access-control-allow-origin" not in plain.headers  # as geobase without Origin
    cors = nginx.get(path, headers={"Origin": "https://maps.example.org"})
    assert cors.headers["access-control-allow-origin"] == "*" and from_disk(cors)
    # a token or any query is asked for, and still sent from disk when allowed
    for headers, query in ((bearer(deployed, "internal"), ""), ({}, "?v=1")):
        asked = nginx.get(path + query, headers=headers)
        assert asked.status_code == 200 and from_disk(asked)
        assert asked.content == plain.content
    bad = nginx.get(path, headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401


def test_public_tiles_come_from_disk_byte_identical(deployed):
    paths = tiles_of(deployed, "merc")
    assert len(paths) > 3
    for path in paths:
        via, direct = deployed["nginx"].get(path), deployed["direct"].get(path)
        assert via.status_code == direct.status_code == 200, path
        assert from_disk(via) and not from_disk(direct)
        assert via.content == direct.content
        assert via.headers["content-type"] == direct.headers["content-type"] == "image/png"
        assert via.headers["cache-control"] == direct.headers["cache-control"]
        assert via.headers["cache-control"].startswith("public")
    head = deployed["nginx"].head(paths[0])
    assert head.status_code == 200 and head.content == b""


def test_missing_public_tile_is_geobase_404(deployed):
    path = "/tiles/merc/12/0/0.png"
    via, direct = deployed["nginx"].get(path), deployed["direct"].get(path)
    assert via.status_code == direct.status_code == 404
    assert via.json() == direct.json()


def test_internal_directory_tiles_need_a_token(deployed):
    nginx = deployed["nginx"]
    for path in tiles_of(deployed, "inner"):
        anonymous = nginx.get(path)
        assert anonymous.status_code == 404, path  # as geobase: like a missing pyramid
        assert anonymous.json() == deployed["direct"].get(path).json()
        for headers, query in (
            (bearer(deployed, "internal"), ""),
            (bearer(deployed, "restricted"), ""),
            ({}, f"?token={deployed['tokens']['internal']}"),
        ):
            via = nginx.get(path + query, headers=headers)
            direct = deployed["direct"].get(path + query, headers=headers)
            assert via.status_code == direct.status_code == 200
            assert from_disk(via) and via.content == direct.content
            assert via.headers["cache-control"].startswith("private")
            assert "Authorization" in via.headers["vary"]
        # the token answers are not cached for anonymous callers afterwards
        assert nginx.get(path).status_code == 404


def test_access_endpoint_is_internal_and_tokens_stay_out_of_the_log(deployed):
    from geobase.server.nginx import AUTH_PATH

    nginx = deployed["nginx"]
    path = tiles_of(deployed, "inner")[0]
    headers = {"X-Original-URI": path, "X-Geobase-Pyramid": "inner"}
    assert nginx.get(AUTH_PATH, headers=headers).status_code == 404
    assert nginx.get(f"{AUTH_PATH}/inner", headers=headers).status_code == 404
    secret = deployed["tokens"]["internal"]
    assert nginx.get(f"{path}?token={secret}", headers={"Referer": f"/?token={secret}"}).is_success
    deadline = time.monotonic() + 5  # nginx writes the log line after the response
    log = ""
    while path not in log and time.monotonic() < deadline:
        log = (deployed["prefix"] / "access.log").read_text(encoding="utf-8", errors="replace")
        time.sleep(0.05)
    assert path in log and secret not in log


def test_bad_tokens_get_geobase_401(deployed):
    path = tiles_of(deployed, "inner")[0]
    for headers in (bearer(deployed, "revoked"), {"Authorization": "Bearer gbt_nonsense"}):
        via = deployed["nginx"].get(path, headers=headers)
        assert via.status_code == 401
        assert via.json() == deployed["direct"].get(path, headers=headers).json()


def test_archive_pyramids_are_served_by_geobase(deployed):
    nginx, direct = deployed["nginx"], deployed["direct"]
    public = tiles_of(deployed, "cgcs")[-1]
    assert nginx.get(public).content == direct.get(public).content
    assert not from_disk(nginx.get(public))
    secret = tiles_of(deployed, "secret")[-1]
    assert nginx.get(secret).status_code == 404
    allowed = nginx.get(secret, headers=bearer(deployed, "restricted"))
    assert allowed.status_code == 200
    assert allowed.content == direct.get(secret, headers=bearer(deployed, "restricted")).content
    names = [p["name"] for p in nginx.get("/api/pyramids").json()["pyramids"]]
    assert names == [p["name"] for p in direct.get("/api/pyramids").json()["pyramids"]]
    assert names == ["cgcs", "merc"]  # the public ones, with links through nginx
    listed = nginx.get("/api/pyramids").json()["pyramids"][1]["tiles"]
    assert listed.startswith(str(nginx.base_url).rstrip("/") + "/tiles/merc/")


def test_moved_pyramid_is_not_sent_from_its_old_folder(deployed):
    """The auth endpoint refuses when nginx's folder is no longer the pyramid's."""
    from geobase.server.nginx import AUTH_PATH

    path = tiles_of(deployed, "merc")[0]
    store = str(deployed["ws_root"] / "tiles" / "merc")
    client = deployed["direct"]
    headers = {"X-Original-URI": path, "X-Geobase-Pyramid": "merc"}
    ok = client.get(AUTH_PATH, headers={**headers, "X-Geobase-Store": store})
    assert ok.status_code == 204 and ok.headers["cache-control"].startswith("public")
    moved = client.get(AUTH_PATH, headers={**headers, "X-Geobase-Store": store + "-old"})
    assert moved.status_code == 403
    other = client.get(AUTH_PATH, headers={**headers, "X-Geobase-Pyramid": "inner"})
    assert other.status_code == 403


def test_build_swapped_into_the_folder_is_not_sent_on_the_old_answer(deployed):
    """A build swapped into a directory pyramid before geobase's registry sees its record
    (a restricted rebuild over a public one) is refused by the auth endpoint at once."""
    from geobase.server.nginx import AUTH_PATH

    path = tiles_of(deployed, "merc")[0]
    folder = deployed["ws_root"] / "tiles" / "merc"
    headers = {"X-Original-URI": path, "X-Geobase-Pyramid": "merc", "X-Geobase-Store": str(folder)}
    client = deployed["direct"]
    assert client.get(AUTH_PATH, headers=headers).status_code == 204
    marker = folder / "tilejson.json"
    original = marker.read_bytes()
    swapped = json.loads(original)
    swapped["build_id"] = "another-build"
    try:
        marker.write_text(json.dumps(swapped), encoding="utf-8")
        assert client.get(AUTH_PATH, headers=headers).status_code == 403
    finally:
        marker.write_bytes(original)
    assert client.get(AUTH_PATH, headers=headers).status_code == 204


def test_a_build_swapped_in_loses_its_mark_until_geobase_sees_its_record(deployed):
    """Marks: another build in the folder (its record not yet seen) takes the mark away
    within a refresh, so nginx no longer sends the folder's files; back, it is marked."""
    if deployed["marks"] is None:
        pytest.skip("no marks in this deployment")
    mark = deployed["marks"] / "merc.public"
    folder = deployed["ws_root"] / "tiles" / "merc"
    marker = folder / "tilejson.json"
    original = marker.read_bytes()
    swapped = json.loads(original)
    swapped["build_id"] = "another-build"
    path = tiles_of(deployed, "merc")[0]

    def wait_for(present: bool) -> bool:
        deadline = time.monotonic() + 5
        while mark.exists() != present and time.monotonic() < deadline:
            time.sleep(0.05)
        return mark.exists() == present

    assert wait_for(True)
    try:
        marker.write_text(json.dumps(swapped), encoding="utf-8")
        assert wait_for(False)
        # within nginx's one-second file cache of the mark (and its one-second cache of
        # anonymous access answers) nginx no longer sends it from disk: it asks, is
        # refused, and hands the request to geobase, which answers from the build its
        # record describes
        deadline = time.monotonic() + 2.5
        while from_disk(deployed["nginx"].get(path)) and time.monotonic() < deadline:
            time.sleep(0.1)
        answer = deployed["nginx"].get(path)
        assert answer.status_code == 200 and not from_disk(answer)
    finally:
        marker.write_bytes(original)
    assert wait_for(True)


def test_reclassified_pyramid_is_refused_by_nginx(deployed):
    """public -> restricted: within geobase's refresh plus the auth cache, no tile is
    served anonymously (last: it changes the workspace)."""
    from geobase.store import Workspace

    nginx = deployed["nginx"]
    paths = tiles_of(deployed, "merc")
    assert all(nginx.get(p).status_code == 200 for p in paths)  # anonymous answers cached
    with Workspace.open(deployed["ws_root"]) as ws, ws.store.transaction() as tx:
        tx.execute("UPDATE pyramids SET classification = 'restricted' WHERE name = 'merc'")
    # the registry refresh, then nginx's auth cache or (marks) its one-second file cache;
    # the marks are refreshed by geobase's own thread, with no request to trigger it
    time.sleep(REFRESH_S + max(AUTH_CACHE_S, 1.0 + 1.0) + 0.8)
    if deployed["marks"] is not None:
        assert not (deployed["marks"] / "merc.public").exists()
    for path in paths:
        assert nginx.get(path).status_code == 404, path
        assert nginx.get(path, headers=bearer(deployed, "internal")).status_code == 404
        allowed = nginx.get(path, headers=bearer(deployed, "restricted"))
        assert allowed.status_code == 200 and from_disk(allowed)
        assert allowed.headers["cache-control"].startswith("private")


def test_module_examples():
    import doctest

    from geobase.server import nginx

    assert doctest.testmod(nginx).failed == 0


def test_cli_emits_the_config_and_refuses_bad_listen(deployed, tmp_path):
    from click.testing import CliRunner

    from geobase.cli import cli

    out = tmp_path / "geobase.conf"
    ws = str(deployed["ws_root"])
    result = CliRunner().invoke(
        cli, ["serve", "--workspace", ws, "--port", "8123", "--emit-nginx", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "nginx sends 2 pyramid(s) from disk: inner, merc" in result.stderr
    assert "2 pyramid(s) in PMTiles/MBTiles go through geobase: cgcs, secret" in result.stderr
    text = out.read_text(encoding="utf-8")
    assert "server 127.0.0.1:8123;" in text and "listen 80;" in text
    assert str(deployed["ws_root"] / "tiles" / "merc") in text
    assert not list(tmp_path.glob(".*partial*"))
    wildcard = CliRunner().invoke(
        cli, ["serve", "--workspace", ws, "--host", "0.0.0.0", "--emit-nginx", "-"]
    )
    assert "server 127.0.0.1:8000;" in wildcard.stdout
    bad = CliRunner().invoke(
        cli, ["serve", "--workspace", ws, "--emit-nginx", "-", "--nginx-listen", "80; evil"]
    )
    assert bad.exit_code == 2
    assert "cannot go into an nginx file" in bad.output
