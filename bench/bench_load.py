"""APIs and editors under load (issue 17 item 8), this code beside an anchor checkout.

On the demo workspace (``geobase demo``, built once into ``bench/out/load/demo``):

- **catalogue search**: wrk at ``--connections`` on ``/api/catalog/search``, cycling
  through 240 seeded queries (bbox in and around Shantou, a third with a product, a
  third with an acquisition interval, a few with a paging offset) so that no single
  answer is repeated back to back;
- **WMTS GetCapabilities** (KVP) and a **TileJSON** document, wrk at the same load;
- **CLI writers**: ``--writers`` processes, each running ``geobase control inspect``
  ``--records`` times in a row (one record per command, the way a field team's script
  records inspections), and the same number of processes each recording inspections
  through one open workspace (an editor's session: the library call the CLI makes);
  records per second of each writer;
- **readers beside a writer**: ``geobase catalog search`` while another process holds
  the workspace's write transaction (a long import), against the same command with the
  store idle: a read-only command must not wait.

Each measurement runs against this checkout and, with ``--anchor DIR``, against another
checkout of geobase (e.g. ``git worktree add /tmp/anchor main``) alternately in the
same run, with ``geobase serve --workers`` uvicorn workers for both; the servers run from
``PYTHONPATH=<checkout>`` with this interpreter.

    .venv/bin/python bench/bench_load.py [--anchor DIR] [--seconds 10] [--connections 64]
                                         [--workers 2] [--rounds 2] [--write]

Needs wrk (``apt-get install wrk``). Exits 1 when a target of issue 17 is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import update_section

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "load"
PRODUCTS = ("dom2", "dom02", "dom005", "dem", "dlg500", "dlg1000", "pointcloud", "imagery")
WRK_SCRIPT = """
local paths = {{}}
for line in io.lines("{paths}") do paths[#paths + 1] = line end
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter % #paths) + 1])
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(code: Path) -> list[str]:
    return [sys.executable, "-P", "-c", "from geobase.cli import main; main()"]


def env_for(code: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(code), "PYTHONWARNINGS": "ignore"}


def demo_workspace(fresh: bool) -> Path:
    root = OUT / "demo"
    if fresh and root.exists():
        shutil.rmtree(root)
    if not (root / "geobase.toml").exists():
        OUT.mkdir(parents=True, exist_ok=True)
        subprocess.run([*cli(ROOT), "-q", "demo", str(root)], env=env_for(ROOT), check=True)
    return root


def side_workspace(demo: Path, side: str) -> Path:
    """A copy of the demo workspace for one side (its files hard-linked, its store
    copied): each side's geobase migrates and writes its own store."""
    dest = OUT / f"ws-{side}"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(demo, dest, copy_function=os.link)
    for name in ("workspace.gpkg", "workspace.gpkg-wal", "workspace.gpkg-shm"):
        if (dest / name).exists():
            (dest / name).unlink()
            shutil.copy2(demo / name, dest / name)
    return dest


def search_paths(n: int = 240, seed: int = 17) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        w = rng.uniform(116.3, 117.1)
        s = rng.uniform(23.0, 23.6)
        size = rng.uniform(0.02, 0.4)
        query = [f"bbox={w:.4f},{s:.4f},{w + size:.4f},{s + size * 0.8:.4f}"]
        if i % 3 == 1:
            query.append(f"product={rng.choice(PRODUCTS)}")
        if i % 3 == 2:
            year = rng.randint(2015, 2024)
            query.append(f"datetime={year}-01-01/..")
        if i % 10 == 9:
            query.append("limit=5&offset=1")
        out.append("/api/catalog/search?" + "&".join(query))
    return out


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout:.0f} s")


def run_wrk(base: str, paths: list[str], seconds: int, connections: int, threads: int) -> dict:
    paths_file = OUT / f"paths-{abs(hash(tuple(paths)))}.txt"
    paths_file.write_text("\n".join(paths) + "\n", encoding="utf-8")
    script = paths_file.with_suffix(".lua")
    script.write_text(WRK_SCRIPT.format(paths=paths_file), encoding="utf-8")
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
           "-s", str(script), base]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (
        sum(int(g) for g in sock.groups()) if sock else 0
    )

    def pct(p: str) -> float:
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\b", out, re.M)
        if not m:
            return float("nan")
        return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]

    return {"rps": rps, "errors": errors, "p50": pct("50"), "p99": pct("99")}


class Server:
    def __init__(self, code: Path, root: Path, workers: int):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        cmd = [*cli(code), "-q", "serve", "--workspace", str(root), "--port", str(self.port),
               "--workers", str(workers), "--log-level", "error"]  # fmt: skip
        self.proc = subprocess.Popen(cmd, env=env_for(code), stdout=subprocess.DEVNULL)
        wait_http(self.base + "/health")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def cpu_of(pid: int) -> float:
    """user+sys seconds of a process and its children (alive ones, from /proc)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            continue
    return total


# --- writers -------------------------------------------------------------------------------

CLI_WRITER = """
import subprocess, sys, time
cmd, root, worker, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
points = ["CHD01", "CHD02", "CHD03"]
t0 = time.monotonic()
for k in range(count):
    subprocess.run([sys.executable, "-P", "-c", cmd, "-q", "control", "inspect", points[k % 3],
                    "-c", "intact", "-d", f"2024-{1 + k % 12:02d}-{1 + worker:02d}",
                    "-i", f"bench{worker}", "-n", f"cli {worker}-{k}", "--workspace", root],
                   check=True)
print(count / (time.monotonic() - t0))
"""

LIB_WRITER = """
import datetime as dt, sys, time
from geobase.control.inspections import record_inspection
from geobase.store import Workspace
root, worker, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with Workspace.open(root) as ws:
    t0 = time.monotonic()
    for k in range(count):
        record_inspection(ws, ("CHD01", "CHD02", "CHD03")[k % 3],
                          date=dt.date(2024, 1, 1) + dt.timedelta(days=k),
                          inspector=f"bench{worker}", condition="intact", notes=f"lib {worker}-{k}")
    print(count / (time.monotonic() - t0))
"""

OPEN_WRITER = """
import datetime as dt, sys, time
from geobase.control.inspections import record_inspection
from geobase.store import Workspace
root, worker, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t0 = time.monotonic()
for k in range(count):
    with Workspace.open(root) as ws:
        record_inspection(ws, ("CHD01", "CHD02", "CHD03")[k % 3],
                          date=dt.date(2023, 1, 1) + dt.timedelta(days=k),
                          inspector=f"bench{worker}", condition="intact", notes=f"open {worker}-{k}")
print(count / (time.monotonic() - t0))
"""


def writers(code: Path, root: Path, n: int, records: int, kind: str) -> list[float]:
    cmd = "from geobase.cli import main; main()"
    procs = []
    for w in range(n):
        if kind == "cli":
            args = [sys.executable, "-P", "-c", CLI_WRITER, cmd, str(root), str(w), str(records)]
        else:
            script = LIB_WRITER if kind == "lib" else OPEN_WRITER
            count = records if kind == "cli" else records * 10
            args = [sys.executable, "-P", "-c", script, str(root), str(w), str(count)]
        procs.append(subprocess.Popen(args, env=env_for(code), stdout=subprocess.PIPE, text=True))
    rates = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"a {kind} writer failed")
        rates.append(float(out.strip().splitlines()[-1]))
    return rates


def command_cpu(code: Path, root: Path) -> float:
    """CPU seconds (user + sys) of one ``geobase control inspect`` on an idle store."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [*cli(code), "-q", "control", "inspect", "CHD01", "-c", "intact", "-d", "2022-01-01",
         "-i", "bench", "-n", "cpu", "--workspace", str(root)], env=env_for(code), check=True,
    )  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO geobase_meta (key, value) VALUES ('bench-holder', 'x')")
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


def reader_seconds(code: Path, root: Path, hold: float | None) -> float:
    """Wall seconds of ``geobase catalog search`` (optionally while a writer holds the store)."""
    holder = None
    if hold is not None:
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(root / "workspace.gpkg"), str(hold)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        holder.stdout.readline()
    t0 = time.monotonic()
    subprocess.run(
        [*cli(code), "-q", "catalog", "search", "--bbox", "116.6,23.3,116.8,23.5", "--workspace",
         str(root)], env=env_for(code), check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    took = time.monotonic() - t0
    if holder is not None:
        holder.wait()
    return took


def measure(code: Path, root: Path, args: argparse.Namespace) -> dict:
    server = Server(code, root, args.workers)
    out: dict = {}
    try:
        docs = {
            "search": search_paths(),
            "capabilities": ["/wmts?SERVICE=WMTS&REQUEST=GetCapabilities"],
            "tilejson": ["/tiles/overview_webmercator/tilejson.json"],
        }
        for name, paths in docs.items():
            for p in paths[:20]:
                wait_http(server.base + p)
            cpu0 = cpu_of(server.proc.pid)
            r = run_wrk(server.base, paths, args.seconds, args.connections, args.threads)
            r["cpu_per_request_ms"] = (
                (cpu_of(server.proc.pid) - cpu0) / max(r["rps"] * args.seconds, 1) * 1e3
            )
            out[name] = r
    finally:
        server.stop()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--anchor", type=Path, help="another geobase checkout to compare")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--records", type=int, default=10)
    parser.add_argument("--http-only", action="store_true", help="skip the writers")
    parser.add_argument("--fresh", action="store_true", help="rebuild the demo workspace")
    parser.add_argument("--write", action="store_true", help="record in bench/RESULTS.md")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    demo = demo_workspace(args.fresh)
    sides = {"this": ROOT}
    if args.anchor is not None:
        sides["anchor"] = args.anchor.resolve()
    roots = {side: side_workspace(demo, side) for side in sides}
    load0 = os.getloadavg()
    http: dict[str, list[dict]] = {s: [] for s in sides}
    order = list(sides)
    for i in range(args.rounds):
        for side in order if i % 2 == 0 else order[::-1]:
            r = measure(sides[side], roots[side], args)
            http[side].append(r)
            print(side, {k: (round(v["rps"]), round(v["p50"], 1), v["errors"]) for k, v in r.items()},
                  flush=True)  # fmt: skip
    write: dict[str, dict] = {s: {} for s in sides}
    for side in [] if args.http_only else order:
        for kind in ("cli", "open", "lib"):
            write[side][kind] = writers(sides[side], roots[side], args.writers, args.records, kind)
            print(side, kind, [round(v, 2) for v in write[side][kind]], flush=True)
        write[side]["cpu"] = statistics.median(
            command_cpu(sides[side], roots[side]) for _ in range(3)
        )
        write[side]["idle"] = statistics.median(
            reader_seconds(sides[side], roots[side], None) for _ in range(3)
        )
        write[side]["held"] = reader_seconds(sides[side], roots[side], 8.0)
        idle, held = write[side]["idle"], write[side]["held"]
        print(side, f"reader idle {idle:.2f} s, beside a writer {held:.2f} s", flush=True)
    load1 = os.getloadavg()

    def med(side: str, doc: str, key: str) -> float:
        return statistics.median(r[doc][key] for r in http[side])

    def errs(side: str, doc: str) -> int:
        return sum(r[doc]["errors"] for r in http[side])

    rows = []
    for doc, label in (("search", "catalogue search (240 queries cycled)"),
                       ("capabilities", "WMTS GetCapabilities (KVP)"),
                       ("tilejson", "TileJSON of a pyramid")):  # fmt: skip
        for side in order:
            rows.append(
                f"| {label} | {side} | {med(side, doc, 'rps'):.0f} | {med(side, doc, 'p50'):.1f} | "
                f"{med(side, doc, 'p99'):.1f} | {errs(side, doc)} | "
                f"{med(side, doc, 'cpu_per_request_ms'):.2f} |"
            )
    if args.http_only:
        print("\n".join(rows))
        return 0
    wrows = []
    for side in order:
        for kind, label in (("cli", "`geobase control inspect`, one record per command"),
                            ("open", "`Workspace.open` + `record_inspection` + close per record"),
                            ("lib", "one open workspace, `record_inspection` per record")):  # fmt: skip
            rates = write[side][kind]
            wrows.append(
                f"| {label} | {side} | {min(rates):.2f} | {statistics.median(rates):.2f} |"
            )
    rrows = [
        f"| {side} | {write[side]['idle']:.2f} | {write[side]['held']:.2f} |" for side in order
    ]
    this = "this"
    search_ok = med(this, "search", "p50") < 50 and errs(this, "search") == 0
    caps_ratio = (
        med(this, "capabilities", "rps") / med("anchor", "capabilities", "rps")
        if "anchor" in sides
        else float("nan")
    )
    lib_ok = min(write[this]["lib"]) >= 5 and min(write[this]["open"]) >= 5
    cli_ok = min(write[this]["cli"]) >= 5
    cli_cpu = write[this]["cpu"]
    reader_ok = write[this]["held"] < write[this]["idle"] + 1.0
    body = f"""
{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {os.cpu_count()} CPUs shared with
other sessions (load average {load0[0]:.1f} at the start, {load1[0]:.1f} at the end), demo workspace,
`geobase serve --workers {args.workers}`; wrk {args.threads} threads, {args.connections} connections,
{args.seconds} s per run, {args.rounds} runs per side alternating (medians of the runs).
"this" is this checkout, "anchor" `{sides.get("anchor", "-")}`.

| document | side | requests/s | p50 ms | p99 ms | errors | server CPU ms/request |
|---|---|---:|---:|---:|---:|---:|
{chr(10).join(rows)}

- Catalogue search median under 50 ms with 0 errors: **{"meets" if search_ok else "MISSES"}**.
- WMTS capabilities rate this / anchor: **{caps_ratio:.1f}x** (target >= 10x).

{args.writers} concurrent writers (inspections of demo marks), {args.records} records each by
command, {args.records * 10} each by the library:

| writer | side | slowest writer, records/s | median writer, records/s |
|---|---|---:|---:|
{chr(10).join(wrows)}

- Writers opening the workspace for each record, and editors' sessions, at least
  5 records/s each: **{"meets" if lib_ok else "MISSES"}**; one command per record:
  **{"meets" if cli_ok else "MISSES"}** (each command starts Python and imports
  geobase: {cli_cpu:.2f} CPU-s alone, measured below).

CPU seconds of one `geobase control inspect` on an idle store (interpreter, imports, open,
one record): {", ".join(f"{side} {write[side]['cpu']:.2f}" for side in order)}. Eight such
commands at 5 records/s each would need {8 * 5 * cli_cpu:.1f} CPU-seconds per second.

`geobase catalog search` (read-only), wall seconds, store idle vs while another process holds
the GeoPackage's write transaction for 8 s:

| side | idle | beside a writer |
|---|---:|---:|
{chr(10).join(rrows)}

- A read-only command does not wait on a writer: **{"meets" if reader_ok else "MISSES"}**.

Command: `.venv/bin/python bench/bench_load.py --anchor {sides.get("anchor", "DIR")} --seconds {args.seconds} --connections {args.connections} --workers {args.workers} --rounds {args.rounds} --writers {args.writers} --records {args.records} --write`
"""
    print(body)
    if args.write:
        update_section("load", "APIs and editors under load (issue 17 item 8)", body)
    return 0 if search_ok and lib_ok and reader_ok and caps_ratio >= 10 else 1


if __name__ == "__main__":
    sys.exit(main())
