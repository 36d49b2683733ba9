"""APIs and editors under load (issue 17 item 8), this code beside an anchor checkout.

On the demo workspace (``geobase demo``, built once into ``bench/out/load/demo``):

- **catalogue search**: wrk at ``--connections`` on ``/api/catalog/search``, cycling
  through 240 seeded queries (bbox in and around Shantou, a third with a product, a
  third with an acquisition interval, a few with a paging offset) so that no single
  answer is repeated back to back;
- **WMTS GetCapabilities** (KVP) and a **TileJSON** document, wrk at the same load;
- **CLI writers**: ``--writers`` processes, each running ``geobase control inspect``
  ``--records`` times in a row (one record per command); the same number each running ONE
  ``geobase control inspect --from -`` fed ``10 x --records`` records, the next as soon as
  the last is acknowledged (the way a field team's script or logger streams inspections);
  and the same number recording inspections through the library, opening the workspace
  for each record or keeping one open (an editor's session); records per second of each
  writer, the stream's with and without its start-up;
- **readers beside a writer**: ``geobase catalog search`` while another process holds
  the workspace's write transaction (a long import), against the same command with the
  store idle: a read-only command must not wait.

Each measurement runs against this checkout and, with ``--anchor DIR``, against another
checkout of geobase (e.g. ``git worktree add /tmp/anchor main``) alternately in the
same run, with ``geobase serve --workers`` uvicorn workers for both; the servers run from
``PYTHONPATH=<checkout>`` with this interpreter.

    .venv/bin/python bench/bench_load.py [--anchor DIR] [--seconds 10] [--connections 64]
                                         [--workers 2] [--rounds 2] [--write]
    .venv/bin/python bench/bench_load.py --writers-only [--anchor DIR] [--writers 8]
                                         [--records 5] [--write]

``--writers-only`` skips the HTTP part (no wrk needed) and writes its own section. An
anchor without ``--from`` gets "n/a" for the stream.

Needs wrk (``apt-get install wrk``) but for ``--writers-only``. Exits 1 when a target of
issue 17 is missed.
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


STREAM_WRITER = """
import json, subprocess, sys, time
cmd, root, worker, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
points = ["CHD01", "CHD02", "CHD03"]
t0 = time.monotonic()
proc = subprocess.Popen([sys.executable, "-P", "-c", cmd, "-q", "control", "inspect", "--from",
                         "-", "--workspace", root], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
first = None
for k in range(count):
    record = {"point_id": points[k % 3], "condition": "完好", "inspector": f"巡查{worker}",
              "date": f"2022-{1 + k % 12:02d}-{1 + worker:02d}", "notes": f"stream {worker}-{k}"}
    proc.stdin.write((json.dumps(record, ensure_ascii=False) + "\\n").encode())
    proc.stdin.flush()
    if not proc.stdout.readline().startswith(f"line {k + 1}: recorded".encode()):
        sys.exit(f"writer {worker}: no acknowledgement of record {k + 1}")
    first = first or time.monotonic()
last = time.monotonic()
proc.stdin.close()
if proc.wait() != 0:
    sys.exit(f"writer {worker}: exit {proc.returncode}")
print(count / (last - t0), (count - 1) / (last - first))
"""


def writers(
    code: Path, root: Path, n: int, records: int, kind: str, during=None
) -> tuple[list[list[float]], float | None]:
    """Records/s of each of ``n`` concurrent writers (stream: with and without start-up),
    and what ``during()`` returned, called once all of them have started."""
    cmd = "from geobase.cli import main; main()"
    procs = []
    for w in range(n):
        if kind == "cli":
            args = [sys.executable, "-P", "-c", CLI_WRITER, cmd, str(root), str(w), str(records)]
        elif kind == "stream":
            args = [sys.executable, "-P", "-c", STREAM_WRITER, cmd, str(root), str(w),
                    str(records)]  # fmt: skip
        else:
            script = LIB_WRITER if kind == "lib" else OPEN_WRITER
            args = [sys.executable, "-P", "-c", script, str(root), str(w), str(records)]
        procs.append(subprocess.Popen(args, env=env_for(code), stdout=subprocess.PIPE, text=True))
    extra = during() if during is not None else None
    rates = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"a {kind} writer failed")
        rates.append([float(v) for v in out.strip().splitlines()[-1].split()])
    return rates, extra


def has_stream(code: Path) -> bool:
    """Whether a checkout's ``control inspect`` takes ``--from`` (the anchor may not)."""
    return (code / "geobase" / "control" / "inspection_stream.py").is_file()


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


LONG_STREAM = 4000  # records of each streaming writer while a reader runs beside them

WRITER_KINDS = (
    ("cli", "`geobase control inspect`, one record per command"),
    ("stream", "one `geobase control inspect --from -`, fed a record per acknowledgement"),
    ("open", "`Workspace.open` + `record_inspection` + close per record"),
    ("lib", "one open workspace, `record_inspection` per record"),
)


def measure_writers(code: Path, root: Path, args: argparse.Namespace) -> dict:
    """The writers of one side: each kind's rates, one command's CPU, readers' seconds."""
    out: dict = {}
    for kind, _ in WRITER_KINDS:
        if kind == "stream" and not has_stream(code):
            out[kind] = None
            print(code, "has no 'control inspect --from': stream writers skipped", flush=True)
            continue
        count = args.records if kind == "cli" else args.records * 10
        rates, _ = writers(code, root, args.writers, count, kind)
        out[kind] = rates
        print(code, kind, [[round(v, 2) for v in r] for r in rates], flush=True)
    if has_stream(code):
        # a read-only command while the streaming writers run: long streams (LONG_STREAM
        # records each), the reader started once they are up and writing
        def during() -> float:
            time.sleep(2.0)
            return reader_seconds(code, root, None)

        rates, out["beside_streams"] = writers(
            code, root, args.writers, LONG_STREAM, "stream", during
        )
        out["long_stream"] = rates
        print(code, "long stream", [[round(v, 2) for v in r] for r in rates], flush=True)
    out["cpu"] = statistics.median(command_cpu(code, root) for _ in range(3))
    out["idle"] = statistics.median(reader_seconds(code, root, None) for _ in range(3))
    out["held"] = reader_seconds(code, root, 8.0)
    print(code, f"reader idle {out['idle']:.2f} s, beside a writer {out['held']:.2f} s", flush=True)
    return out


def writers_body(write: dict, order: list[str], args: argparse.Namespace) -> tuple[str, bool]:
    """The writers' part of the results (markdown) and whether its targets are met."""
    wrows = []
    for side in order:
        for kind, label in WRITER_KINDS:
            rates = write[side][kind]
            if rates is None:
                wrows.append(f"| {label} | {side} | n/a (no `--from`) | | | |")
                continue
            first = [r[0] for r in rates]
            steady = [r[1] for r in rates] if len(rates[0]) > 1 else None
            wrows.append(
                f"| {label} | {side} | {min(first):.2f} | {statistics.median(first):.2f} | "
                + (f"{min(steady):.2f} | {statistics.median(steady):.2f} |" if steady else "| |")
            )
    rrows = [
        f"| {side} | {write[side]['idle']:.2f} | {write[side]['held']:.2f} | "
        + (f"{write[side]['beside_streams']:.2f} |" if "beside_streams" in write[side] else "|")
        for side in order
    ]
    this = write["this"]
    lib_ok = min(r[0] for r in this["lib"]) >= 5 and min(r[0] for r in this["open"]) >= 5
    cli_ok = min(r[0] for r in this["cli"]) >= 5
    stream_ok = this["stream"] is not None and min(r[0] for r in this["stream"]) >= 5
    reader_ok = this["held"] < this["idle"] + 1.0
    cli_cpu = this["cpu"]
    n = args.writers
    long_line = ""
    if this.get("long_stream"):
        steady = [r[1] for r in this["long_stream"]]
        long_line = (
            f"\nThe streaming writers beside that reader ran {LONG_STREAM} records each: "
            f"steady records/s slowest {min(steady):.1f}, median {statistics.median(steady):.1f}.\n"
        )
    body = f"""
{n} concurrent writers (inspections of demo marks), {args.records} records each by command,
{args.records * 10} each by the stream and the library. Records/s of each writer: "from the
start" counts from the writer's start (the stream's process start-up included: its first
record is written at once and waits for the command to come up), "steady" from the first
record's acknowledgement to the last's (stream only).

| writer | side | slowest, from the start | median, from the start | slowest, steady | median, steady |
|---|---|---:|---:|---:|---:|
{chr(10).join(wrows)}

- {n} streaming writers (`control inspect --from -`) at least 5 records/s each, start-up
  included: **{"meets" if stream_ok else "MISSES"}**.
- Writers opening the workspace for each record, and editors' sessions, at least
  5 records/s each: **{"meets" if lib_ok else "MISSES"}**; one command per record:
  **{"meets" if cli_ok else "MISSES"}** (each command starts Python and imports
  geobase: {cli_cpu:.2f} CPU-s alone, measured below).

CPU seconds of one `geobase control inspect` on an idle store (interpreter, imports, open,
one record): {", ".join(f"{side} {write[side]['cpu']:.2f}" for side in order)}. {n} such
commands at 5 records/s each would need {n * 5 * cli_cpu:.1f} CPU-seconds per second.

`geobase catalog search` (read-only), wall seconds: store idle, while another process holds
the GeoPackage's write transaction for 8 s, and while {n} streaming writers of {LONG_STREAM}
records each run (they share the two CPUs: that one measures CPU contention as well):

| side | idle | beside a held write transaction | beside {n} streaming writers |
|---|---:|---:|---:|
{chr(10).join(rrows)}

- A read-only command does not wait on a writer: **{"meets" if reader_ok else "MISSES"}**.
{long_line}"""
    return body, stream_ok and lib_ok and reader_ok


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
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--http-only", action="store_true", help="skip the writers")
    only.add_argument(
        "--writers-only",
        action="store_true",
        help="skip the HTTP part; --write records the writers in a section of their own",
    )
    parser.add_argument("--fresh", action="store_true", help="rebuild the demo workspace")
    parser.add_argument("--write", action="store_true", help="record in bench/RESULTS.md")
    args = parser.parse_args()
    if not args.writers_only and shutil.which("wrk") is None:
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
    for i in range(0 if args.writers_only else args.rounds):
        for side in order if i % 2 == 0 else order[::-1]:
            r = measure(sides[side], roots[side], args)
            http[side].append(r)
            print(side, {k: (round(v["rps"]), round(v["p50"], 1), v["errors"]) for k, v in r.items()},
                  flush=True)  # fmt: skip
    write: dict[str, dict] = {}
    for side in [] if args.http_only else order:
        write[side] = measure_writers(sides[side], roots[side], args)
    load1 = os.getloadavg()
    machine = (
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {os.cpu_count()} "
        f"CPUs shared with other sessions (load average {load0[0]:.1f} at the start, "
        f"{load1[0]:.1f} at the end)"
    )
    anchor = sides.get("anchor", "DIR")
    if args.writers_only:
        body, ok = writers_body(write, order, args)
        body = (
            f'{machine}, demo workspace. "this" is this checkout, "anchor" `{anchor}`.\n'
            + body
            + f"\nCommand: `.venv/bin/python bench/bench_load.py --writers-only --anchor {anchor}"
            f" --writers {args.writers} --records {args.records} --write`\n"
        )
        print(body)
        if args.write:
            update_section("load-writers", "CLI writers under load (issue 17 item 8)", body)
        return 0 if ok else 1

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
    this = "this"
    search_ok = med(this, "search", "p50") < 50 and errs(this, "search") == 0
    caps_ratio = (
        med(this, "capabilities", "rps") / med("anchor", "capabilities", "rps")
        if "anchor" in sides
        else float("nan")
    )
    wbody, writers_ok = writers_body(write, order, args)
    body = f"""
{machine}, demo workspace,
`geobase serve --workers {args.workers}`; wrk {args.threads} threads, {args.connections} connections,
{args.seconds} s per run, {args.rounds} runs per side alternating (medians of the runs).
"this" is this checkout, "anchor" `{anchor}`.

| document | side | requests/s | p50 ms | p99 ms | errors | server CPU ms/request |
|---|---|---:|---:|---:|---:|---:|
{chr(10).join(rows)}

- Catalogue search median under 50 ms with 0 errors: **{"meets" if search_ok else "MISSES"}**.
- WMTS capabilities rate this / anchor: **{caps_ratio:.1f}x** (target >= 10x).
{wbody}
Command: `.venv/bin/python bench/bench_load.py --anchor {anchor} --seconds {args.seconds} --connections {args.connections} --workers {args.workers} --rounds {args.rounds} --writers {args.writers} --records {args.records} --write`
"""
    print(body)
    if args.write:
        update_section("load", "APIs and editors under load (issue 17 item 8)", body)
    return 0 if search_ok and writers_ok and caps_ratio >= 10 else 1


if __name__ == "__main__":
    sys.exit(main())
