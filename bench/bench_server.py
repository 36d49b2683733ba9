"""Tile serving: ``geobase serve`` against nginx on the same tile directory, same run.

Builds a public WebMercatorQuad pyramid (directory store) in ``bench/out/server``, warms
the servers on every tile, then runs wrk (Debian) for ``--seconds`` at
``--connections`` on each, cycling through the same tile URLs. geobase runs with as many
uvicorn workers as nginx has worker processes. The third server is nginx configured by
``geobase serve --emit-nginx`` in front of that geobase (tiles from disk after geobase's
cached ``auth_request``), with the bare nginx's tuning. Reports requests per second, the
ratios (targets: geobase >= 0.5 x nginx, the nginx deployment >= 0.9 x nginx), errors
(target: none) and p50/p99 latency, and rewrites the "Tile service" section of
``bench/RESULTS.md``.

    .venv/bin/python bench/bench_server.py [--seconds 30] [--connections 64] [--workers 2]
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
import urllib.request
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "server"
RESULTS = ROOT / "bench" / "RESULTS.md"
BEGIN = "<!-- bench_server: begin -->"
END = "<!-- bench_server: end -->"
PYRAMID = "bench"


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


def build_workspace() -> tuple[Path, list[str]]:
    """A workspace with one public pyramid; returns its root and the tile URL paths."""
    import numpy as np
    import rasterio
    from affine import Affine

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
        with ws.store.transaction() as tx:
            tx.execute("UPDATE pyramids SET classification = 'public'")
        with open_pyramid(root / "tiles" / PYRAMID) as reader:
            paths = [f"/tiles/{PYRAMID}/{z}/{x}/{y}.png" for z, x, y in reader.tiles()]
    finally:
        ws.close()
    return root, paths


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
    root, paths = build_workspace()
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
    # nginx as `geobase serve --emit-nginx` configures it, in front of the same geobase
    front_prefix = OUT / "nginx-front"
    (front_prefix / "tmp").mkdir(parents=True, exist_ok=True)
    front_port = free_port()
    snippet = front_prefix / "geobase.conf"
    subprocess.run(
        [str(Path(sys.executable).parent / "geobase"), "-q", "serve", "--workspace", str(root),
         "--port", str(geobase_port), "--emit-nginx", str(snippet),
         "--nginx-listen", f"127.0.0.1:{front_port}", "--nginx-auth-cache", "5"],
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
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    cmd = [str(Path(sys.executable).parent / "geobase"), "-q", "serve", "--workspace", str(root),
           "--port", str(geobase_port), "--workers", str(args.workers), "--log-level", "warning"]  # fmt: skip
    bases = {
        "nginx": f"http://127.0.0.1:{nginx_port}",
        "geobase": f"http://127.0.0.1:{geobase_port}",
        "front": f"http://127.0.0.1:{front_port}",
    }
    procs = [
        subprocess.Popen([nginx, "-p", str(prefix), "-c", str(conf)]),
        subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL),
        subprocess.Popen([nginx, "-p", str(front_prefix), "-c", str(front_conf)]),
    ]
    rounds: dict[str, list[dict]] = {"nginx": [], "geobase": [], "front": []}
    try:
        wait_http(bases["nginx"] + paths[0])
        wait_http(bases["geobase"] + "/health")
        wait_http(bases["front"] + paths[0])
        warm(bases["nginx"], paths)
        warm(bases["front"], paths)
        for _ in range(args.workers * 3):  # each worker process has its own tile cache
            warm(bases["geobase"], paths)
        for i in range(args.rounds):
            order = ("nginx", "front", "geobase") if i % 2 == 0 else ("geobase", "front", "nginx")
            for name in order:
                r = run_wrk(bases[name], script, args.seconds, args.connections, args.threads)
                rounds[name].append(r)
                print(f"round {i + 1} {name:8s} {r['rps']:9.0f} req/s  errors {r['errors']}  "
                      f"p99 {r['p99']}", flush=True)  # fmt: skip
    finally:
        procs[0].send_signal(signal.SIGQUIT)
        procs[1].send_signal(signal.SIGINT)
        procs[2].send_signal(signal.SIGQUIT)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    results = {name: combine(rs) for name, rs in rounds.items()}

    g, n, f = results["geobase"], results["nginx"], results["front"]
    ratio = g["rps"] / n["rps"]
    verdict = "meets" if ratio >= 0.5 and g["errors"] == 0 else "MISSES"
    front_ratio = f["rps"] / n["rps"]
    front_verdict = "meets" if front_ratio >= 0.9 and f["errors"] == 0 else "MISSES"
    for name, r in results.items():
        print(
            f"{name:8s} {r['rps']:10.0f} req/s  errors {r['errors']}  p50 {r['p50']}  p99 {r['p99']}"
        )
    print(f"ratio geobase / nginx = {ratio:.2f} ({verdict} the 0.5 target)")
    print(f"ratio nginx deployment / nginx = {front_ratio:.2f} ({front_verdict} the 0.9 target)")
    text = textwrap.dedent(
        f"""\
        ## Tile service (`geobase serve` vs nginx)

        {dt.date.today().isoformat()}, {platform.machine()}, {os.cpu_count()} CPUs (shared
        with other work), {len(paths)} cached 256 px PNG tiles of one WebMercatorQuad pyramid
        (directory store), cycled by a wrk Lua script; {args.workers} uvicorn workers vs
        {args.workers} nginx worker processes serving the same directory; wrk {args.threads}
        threads, {args.connections} connections, {args.seconds} s per run, {args.rounds} runs
        per server in alternation (requests/s: mean of the runs; p50/p99: the worst run's).

        | server | requests/s | runs | requests | errors | p50 | p99 |
        |---|---:|---|---:|---:|---:|---:|
        | nginx (sendfile, open_file_cache) | {n["rps"]:.0f} | {n["each"]} | {n["requests"]} | {n["errors"]} | {n["p50"]} | {n["p99"]} |
        | geobase serve (uvicorn, httptools) | {g["rps"]:.0f} | {g["each"]} | {g["requests"]} | {g["errors"]} | {g["p50"]} | {g["p99"]} |
        | nginx by `serve --emit-nginx` (auth_request, cached) | {f["rps"]:.0f} | {f["each"]} | {f["requests"]} | {f["errors"]} | {f["p50"]} | {f["p99"]} |

        Ratio geobase / nginx: **{ratio:.2f}** ({verdict} the target of 0.5, errors must be 0).
        Ratio nginx deployment / nginx: **{front_ratio:.2f}** ({front_verdict} the target of 0.9).
        Load average at the end: {", ".join(f"{v:.1f}" for v in os.getloadavg())} (the machine
        is shared with other work: expect run-to-run differences of tens of percent).

        Command: `.venv/bin/python bench/bench_server.py --seconds {args.seconds} --connections {args.connections} --workers {args.workers} --rounds {args.rounds}`
        (wrk: `{g["command"].replace(str(ROOT) + "/", "")}`)
        """
    )
    if not args.no_write:
        write_results(text)
    return 0 if verdict == front_verdict == "meets" else 1


if __name__ == "__main__":
    sys.exit(main())
