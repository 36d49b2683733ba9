"""Tile serving: ``geobase serve`` against nginx on the same tile directory, same run.

Builds a public and a restricted WebMercatorQuad pyramid (directory stores) in
``bench/out/server``, warms the servers on every public tile, then runs wrk (Debian) for
``--seconds`` at ``--connections`` on each, cycling through the same tile URLs. geobase
runs with as many uvicorn workers as nginx has worker processes. Two more servers are
nginx configured by ``geobase serve --emit-nginx`` in front of that geobase, with the
bare nginx's tuning: with ``[server] nginx_public_marks`` (anonymous public tiles sent
from disk on geobase's marks) and without (``auth_request`` for every tile, anonymous
answers cached 5 s). After the load every restricted tile is asked through both
deployments without a token, with wrong ones and with the right one. Reports requests
per second, the ratios (targets: geobase >= 0.5 x nginx, the nginx deployment >= 0.9 x
nginx with no restricted tile sent without its token), errors (target: none) and p50/p99
latency, and rewrites the "Tile service" section of ``bench/RESULTS.md``.

    PYTHONPATH=. .venv/bin/python bench/bench_server.py [--seconds 30] [--connections 64] [--workers 2]
                                           [--rounds 2]

Needs wrk and nginx on PATH (``apt-get install wrk nginx-light``); not part of the tests.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "server"
RESULTS = ROOT / "bench" / "RESULTS.md"
BEGIN = "<!-- bench_server: begin -->"
END = "<!-- bench_server: end -->"
PYRAMID = "bench"
RESTRICTED = "bench-restricted"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout:.0f} s")


def build_workspace() -> tuple[Path, list[str], list[str], str]:
    """A workspace with one public pyramid and one restricted one (directory stores);
    returns its root, the public and the restricted tile URL paths, and a token that
    may see the restricted one."""
    import numpy as np
    import rasterio
    from affine import Affine

    from geobase.catalog.access import create_token
    from geobase.store import Workspace
    from geobase.tiles.build import build_tiles
    from geobase.tiles.stores import open_pyramid

    root = OUT / "ws"
    if root.exists():
        shutil.rmtree(root)
    ws = Workspace.init(root, name="bench")
    try:
        rng = np.random.default_rng(6)
        h = w = 2048
        yy, xx = np.mgrid[0:h, 0:w]
        noise = rng.integers(0, 40, size=(h, w))
        data = np.stack([(xx // 8 + noise) % 256, (yy // 8 + noise) % 256, (xx + yy) // 16 % 256])
        west, south, east, north = 116.55, 23.25, 116.80, 23.50
        profile = {
            "driver": "GTiff", "width": w, "height": h, "count": 3, "dtype": "uint8",
            "crs": "EPSG:4490",
            "transform": Affine((east - west) / w, 0, west, 0, -(north - south) / h, north),
        }  # fmt: skip
        with rasterio.open(root / "src.tif", "w", **profile) as dst:
            dst.write(data.astype("uint8"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            build_tiles(
                ws, "src.tif", root / "tiles" / PYRAMID, tms="WebMercatorQuad", zoom=(10, 15),
                fmt="png", name=PYRAMID,
            )  # fmt: skip
            build_tiles(
                ws, "src.tif", root / "tiles" / RESTRICTED, tms="WebMercatorQuad",
                zoom=(10, 13), fmt="png", name=RESTRICTED,
            )  # fmt: skip
        with ws.store.transaction() as tx:
            tx.execute("UPDATE pyramids SET classification = 'public'")
            tx.execute(
                "UPDATE pyramids SET classification = 'restricted' WHERE name = :n",
                {"n": RESTRICTED},
            )
        _, token = create_token(ws.store, "bench", "restricted")
        with open_pyramid(root / "tiles" / PYRAMID) as reader:
            paths = [f"/tiles/{PYRAMID}/{z}/{x}/{y}.png" for z, x, y in reader.tiles()]
        with open_pyramid(root / "tiles" / RESTRICTED) as reader:
            hidden = [f"/tiles/{RESTRICTED}/{z}/{x}/{y}.png" for z, x, y in reader.tiles()]
    finally:
        ws.close()
    return root, paths, hidden, token


def status_of(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def restricted_check(base: str, hidden: list[str], token: str, tiles: Path) -> dict:
    """Every restricted tile through the nginx deployment: without a token, with a wrong
    one (header and ?token=) and with the right one. Counts tiles sent that must not
    be, and checks that the right token gets the very bytes on disk."""
    wrong = "gbt_" + "x" * 43
    asks = {
        "anonymous": ({}, ""),
        "wrong token (header)": ({"Authorization": f"Bearer {wrong}"}, ""),
        "wrong token (?token=)": ({}, f"?token={wrong}"),
        "right token (header)": ({"Authorization": f"Bearer {token}"}, ""),
        "right token (?token=)": ({}, f"?token={token}"),
    }
    out = {}
    for label, (headers, query) in asks.items():
        statuses: dict[int, int] = {}
        leaked = 0
        for path in hidden:
            status, body = status_of(base + path + query, headers)
            statuses[status] = statuses.get(status, 0) + 1
            on_disk = (tiles / path.split("/", 3)[3]).read_bytes()
            if "right" in label:
                leaked += status != 200 or body != on_disk  # here: counts failures
            else:
                leaked += status == 200 or body == on_disk
        out[label] = {"statuses": statuses, "bad": leaked}
    return out


NGINX_CONF = """
worker_processes {workers};
daemon off;
user root;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    open_file_cache max=10000 inactive=60s;
    types {{ image/png png; }}
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp;
    scgi_temp_path {prefix}/tmp;
{server}
}}
"""
BARE_SERVER = """
    server {{
        listen 127.0.0.1:{port};
        location /tiles/{name}/ {{
            alias {tiles}/;
            etag on;
            add_header Cache-Control "public, max-age=3600";
        }}
    }}
"""

WRK_SCRIPT = """
local paths = {{}}
for line in io.lines("{paths}") do paths[#paths + 1] = line end
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter % #paths) + 1])
end
"""


def warm(base: str, paths: list[str]) -> None:
    for path in paths:
        with urllib.request.urlopen(base + path, timeout=10) as r:
            if r.status != 200:
                raise RuntimeError(f"{base}{path}: HTTP {r.status}")
            r.read()


def run_wrk(base: str, script: Path, seconds: int, connections: int, threads: int) -> dict:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
           "-s", str(script), base]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (
        sum(int(g) for g in sock.groups()) if sock else 0
    )

    def pct(p: str) -> str:
        m = re.search(rf"^\s+{p}%\s+(\S+)", out, re.M)
        return m.group(1) if m else "?"

    return {"rps": rps, "requests": total, "errors": errors, "p50": pct("50"), "p99": pct("99"),
            "command": " ".join(cmd), "raw": out}  # fmt: skip


def cpu_of(pids: list[int]) -> float:
    """user + sys seconds of these processes and their direct children (alive ones)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        for p in (pid, *map(int, children)):
            try:
                fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
            except OSError:
                continue
    return total


def combine(runs: list[dict]) -> dict:
    """Several wrk runs of one server: total requests over total time, worst p99."""

    def ms(text: str) -> float:
        m = re.match(r"([\d.]+)(us|ms|s)$", text)
        if not m:
            return float("nan")
        return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]

    return {
        "rps": sum(r["rps"] for r in runs) / len(runs),
        "requests": sum(r["requests"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "p50": max(runs, key=lambda r: ms(r["p50"]))["p50"],
        "p99": max(runs, key=lambda r: ms(r["p99"]))["p99"],
        "each": [round(r["rps"]) for r in runs],
        # requests answered per CPU-second of the serving processes (robust to other load)
        "per_cpu": sum(r["requests"] for r in runs) / max(sum(r["cpu"] for r in runs), 1e-9),
        "command": runs[0]["command"],
    }


def write_results(text: str) -> None:
    section = f"{BEGIN}\n{text.rstrip()}\n{END}\n"
    current = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmarks\n\n"
    if BEGIN in current and END in current:
        head, rest = current.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        current = head + section + ("\n" + tail if tail else "")
    else:
        current = current.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(current, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers = nginx workers")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs per server")
    parser.add_argument("--no-write", action="store_true", help="do not touch bench/RESULTS.md")
    args = parser.parse_args()
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            print(f"{tool} is not installed (apt-get install wrk nginx-light)", file=sys.stderr)
            return 2
    OUT.mkdir(parents=True, exist_ok=True)
    root, paths, hidden, token = build_workspace()
    paths_file = OUT / "paths.txt"
    paths_file.write_text("\n".join(paths) + "\n", encoding="utf-8")
    script = OUT / "tiles.lua"
    script.write_text(WRK_SCRIPT.format(paths=paths_file), encoding="utf-8")

    # nginx on the same directory, and geobase; both up, measured in alternation so
    # that the load of the shared machine falls on both alike
    prefix = OUT / "nginx"
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    nginx_port = free_port()
    conf = prefix / "nginx.conf"
    server = BARE_SERVER.format(port=nginx_port, name=PYRAMID, tiles=root / "tiles" / PYRAMID)
    conf.write_text(NGINX_CONF.format(workers=args.workers, prefix=prefix, server=server),
                    encoding="utf-8")  # fmt: skip
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    geobase_port = free_port()
    # nginx as `geobase serve --emit-nginx` configures it, in front of the same geobase:
    # "front" with [server] nginx_public_marks (anonymous public tiles sent on geobase's
    # marks, everything else asked for each tile), "front-ask" without marks, asking
    # geobase for every tile with its anonymous answers cached 5 s (--nginx-auth-cache 5)
    marks = OUT / "marks"
    toml = root / "geobase.toml"
    geobase_bin = str(Path(sys.executable).parent / "geobase")
    fronts = {}
    for name, auth_cache in (("front-ask", "5"), ("front", "0")):
        if name == "front":  # the marks folder from now on: emitted, and kept by geobase
            text = toml.read_text(encoding="utf-8")
            toml.write_text(
                text.replace("[server]\n", f'[server]\nnginx_public_marks = "{marks}"\n', 1),
                encoding="utf-8",
            )
        front_prefix = OUT / f"nginx-{name}"
        (front_prefix / "tmp").mkdir(parents=True, exist_ok=True)
        front_port = free_port()
        snippet = front_prefix / "geobase.conf"
        subprocess.run(
            [geobase_bin, "-q", "serve", "--workspace", str(root),
             "--port", str(geobase_port), "--emit-nginx", str(snippet),
             "--nginx-listen", f"127.0.0.1:{front_port}", "--nginx-auth-cache", auth_cache],
            check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )  # fmt: skip
        text = snippet.read_text(encoding="utf-8")
        text = text.replace("/var/cache/nginx/geobase", str(front_prefix / "cache"))
        # no access log, as the bare nginx
        text = re.sub(r'access_log "[^"]*" geobase_redacted;', "access_log off;", text)
        snippet.write_text(text, encoding="utf-8")
        front_conf = front_prefix / "nginx.conf"
        front_conf.write_text(NGINX_CONF.format(workers=args.workers, prefix=front_prefix,
                                                server=f"    include {snippet};"),
                              encoding="utf-8")  # fmt: skip
        fronts[name] = (front_port, front_prefix, front_conf)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    cmd = [geobase_bin, "-q", "serve", "--workspace", str(root),
           "--port", str(geobase_port), "--workers", str(args.workers), "--log-level", "warning"]  # fmt: skip
    bases = {
        "nginx": f"http://127.0.0.1:{nginx_port}",
        "geobase": f"http://127.0.0.1:{geobase_port}",
        **{name: f"http://127.0.0.1:{port}" for name, (port, _, _) in fronts.items()},
    }
    procs = [
        subprocess.Popen([nginx, "-p", str(prefix), "-c", str(conf)]),
        subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL),
        *(subprocess.Popen([nginx, "-p", str(fp), "-c", str(fc)]) for _, fp, fc in fronts.values()),
    ]
    names = ("nginx", "front", "front-ask", "geobase")
    # the processes serving each: a deployment is its nginx and the geobase behind it
    tree = {
        "nginx": [procs[0]],
        "geobase": [procs[1]],
        "front": [procs[3], procs[1]],
        "front-ask": [procs[2], procs[1]],
    }
    rounds: dict[str, list[dict]] = {name: [] for name in names}
    try:
        wait_http(bases["nginx"] + paths[0])
        wait_http(bases["geobase"] + "/health")
        for name in ("front", "front-ask"):
            wait_http(bases[name] + paths[0])
        time.sleep(2)  # geobase's first registry refresh has written the marks
        for name in ("nginx", "front", "front-ask"):
            warm(bases[name], paths)
        for _ in range(args.workers * 3):  # each worker process has its own tile cache
            warm(bases["geobase"], paths)
        for i in range(args.rounds):
            for name in names if i % 2 == 0 else names[::-1]:
                serving = [p.pid for p in tree[name]]
                cpu0 = cpu_of(serving)
                r = run_wrk(bases[name], script, args.seconds, args.connections, args.threads)
                r["cpu"] = cpu_of(serving) - cpu0
                rounds[name].append(r)
                print(f"round {i + 1} {name:9s} {r['rps']:9.0f} req/s  errors {r['errors']}  "
                      f"p99 {r['p99']}", flush=True)  # fmt: skip
        # right after the load (anonymous answers cached, marks in place), then again
        # after geobase's registry refresh and nginx's auth cache expired
        tiles_dir = root / "tiles" / RESTRICTED
        access = {n: restricted_check(bases[n], hidden, token, tiles_dir) for n in fronts}
        time.sleep(6)
        access_later = {n: restricted_check(bases[n], hidden, token, tiles_dir) for n in fronts}
        marked = sorted(p.name for p in marks.iterdir())
    finally:
        procs[1].send_signal(signal.SIGINT)
        for proc in (procs[0], *procs[2:]):
            proc.send_signal(signal.SIGQUIT)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    results = {name: combine(rs) for name, rs in rounds.items()}

    g, n, f, a = (results[k] for k in ("geobase", "nginx", "front", "front-ask"))
    ratio = g["rps"] / n["rps"]
    verdict = "meets" if ratio >= 0.5 and g["errors"] == 0 else "MISSES"
    front_ratio, ask_ratio = f["rps"] / n["rps"], a["rps"] / n["rps"]
    front_cpu, ask_cpu = f["per_cpu"] / n["per_cpu"], a["per_cpu"] / n["per_cpu"]

    def wrong(checks: dict, right: bool) -> int:
        return sum(v["bad"] for k, v in checks.items() if ("right" in k) == right)

    leaks = {k: wrong(access[k], False) + wrong(access_later[k], False) for k in fronts}
    leaks_later = sum(wrong(access_later[k], False) for k in fronts)
    refused_right = {k: wrong(access[k], True) + wrong(access_later[k], True) for k in fronts}
    front_verdict = (
        "meets"
        if min(front_ratio, front_cpu) >= 0.9 and f["errors"] == 0 and not any(leaks.values())
        and not any(refused_right.values())
        else "MISSES"
    )  # fmt: skip
    access_rows = "\n".join(
        f"| {front} | {label} | {len(hidden)} | "
        f"{', '.join(f'{n} x {c}' for c, n in sorted(v['statuses'].items()))} | "
        f"{v['bad']} |"
        for front in fronts
        for label, v in access[front].items()
    )
    print(access_rows)
    for name, r in results.items():
        print(
            f"{name:9s} {r['rps']:10.0f} req/s  errors {r['errors']}  p50 {r['p50']}  p99 {r['p99']}"
        )
    print(f"ratio geobase / nginx = {ratio:.2f} ({verdict} the 0.5 target)")
    print(f"ratio nginx deployment / nginx = {front_ratio:.2f} ({front_verdict} the 0.9 target)")
    print(f"ratio nginx deployment without marks / nginx = {ask_ratio:.2f}; marks: {marked}")
    print(f"per CPU-second: deployment {front_cpu:.2f}, without marks {ask_cpu:.2f}")

    def row(label: str, r: dict) -> str:
        return (
            f"| {label} | {r['rps']:.0f} | {r['each']} | {r['requests']} | {r['errors']} | "
            f"{r['p50']} | {r['p99']} | {r['per_cpu']:.0f} |"
        )

    rows = "\n".join(
        (
            row("nginx (sendfile, open_file_cache)", n),
            row("geobase serve (uvicorn, httptools)", g),
            row("nginx by `serve --emit-nginx`, `[server] nginx_public_marks` set", f),
            row("nginx by `serve --emit-nginx --nginx-auth-cache 5`, no marks", a),
        )
    )
    text = textwrap.dedent(
        f"""\
        ## Tile service (`geobase serve` vs nginx)

        {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {os.cpu_count()} CPUs
        (shared with other sessions), {len(paths)} cached 256 px PNG tiles of one public
        WebMercatorQuad pyramid (directory store), cycled by a wrk Lua script;
        {args.workers} uvicorn workers vs {args.workers} nginx worker processes serving the
        same directory; wrk {args.threads} threads, {args.connections} connections,
        {args.seconds} s per run, {args.rounds} runs per server in alternation (requests/s:
        mean of the runs; p50/p99: the worst run's). Both nginx deployments stand in front
        of the same geobase; with marks, nginx sends an anonymous request's tile from disk
        while geobase keeps the pyramid's mark (public, and its folder holds the recorded
        build: checked at every registry refresh by a thread of the server), and asks
        geobase (`auth_request`, not cached) for everything else; without marks it asks for
        every tile and reuses anonymous answers for 5 s.

        | server | requests/s | runs | requests | errors | p50 | p99 | requests per CPU-s |
        |---|---:|---|---:|---:|---:|---:|---:|
        @@ROWS@@

        Ratio geobase / nginx: **{ratio:.2f}** ({verdict} the target of 0.5, errors must be 0).
        Ratio nginx deployment (marks) / nginx: **{front_ratio:.2f}** in requests/s,
        **{front_cpu:.2f}** in requests per CPU-second of the serving processes (its nginx
        and the geobase behind it; this one does not depend on what else the machine runs)
        ({front_verdict} the target of 0.9 with no restricted tile sent without its token);
        without marks (auth cache 5 s): {ask_ratio:.2f} and {ask_cpu:.2f}. Marks geobase
        kept: {", ".join(marked) or "none"}.

        Restricted pyramid `{RESTRICTED}` (a directory pyramid too) through each deployment
        right after the load, every tile asked each way ("wrong": a tile sent that must not
        be, or for the right token a tile not sent or not the bytes on disk), and again
        after the registry refresh and the auth cache expired (wrong then: {leaks_later}).

        | deployment | request | tiles | answers (count x status) | wrong |
        |---|---|---:|---|---:|
        @@ACCESS_ROWS@@

        Tiles sent without a valid token: **{sum(leaks.values())}**; refused to the right
        token: {sum(refused_right.values())}. Load average at the end:
        {", ".join(f"{v:.1f}" for v in os.getloadavg())} (the machine is shared with other
        work: expect run-to-run differences of tens of percent).

        Command: `PYTHONPATH=. .venv/bin/python bench/bench_server.py --seconds {args.seconds} --connections {args.connections} --workers {args.workers} --rounds {args.rounds}`
        (wrk: `{g["command"].replace(str(ROOT) + "/", "")}`)
        """
    )
    text = text.replace("@@ROWS@@", rows).replace("@@ACCESS_ROWS@@", access_rows)
    if not args.no_write:
        write_results(text)
    return 0 if verdict == front_verdict == "meets" else 1


if __name__ == "__main__":
    sys.exit(main())
