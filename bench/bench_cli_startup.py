"""CPU-seconds a one-record CLI command costs, this checkout against another (issue 17 item 8).

Each command runs as its own process (``python -c 'from geobase.cli import main; main()'``
with the checkout first on PYTHONPATH), alternating between the two sides, ``--runs``
times; the CPU time (user + sys) of each process is read from ``wait4``. Commands:
``geobase --help``, ``geobase control inspect --help`` and one ``geobase control inspect``
per run on a workspace with the demo's control points (one copy per side).

    python bench/bench_cli_startup.py --anchor /work/main --runs 7
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def cpu_seconds(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    """user + sys CPU seconds of one run of ``argv`` (the process and its children)."""
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[3:]} failed: {err.strip()[-300:]}")
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anchor", type=Path, required=True, help="another geobase checkout")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    sides = {"this": HERE, "anchor": args.anchor.resolve()}
    cli = [sys.executable, "-c", "from geobase.cli import main; main()"]
    tmp = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    try:
        spaces = {}
        for side, root in sides.items():
            env = {**os.environ, "PYTHONPATH": str(root)}
            ws = tmp / side
            subprocess.run([*cli, "init", str(ws)], env=env, check=True, capture_output=True)
            subprocess.run(
                [*cli, "control", "import", str(HERE / "control_points" / "points.csv")],
                env=env, cwd=ws, check=True, capture_output=True,
            )  # fmt: skip
            spaces[side] = (env, ws)
        commands = {
            "geobase --help": ["--help"],
            "geobase control inspect --help": ["control", "inspect", "--help"],
            "geobase control inspect ID ...": None,
        }
        times: dict[tuple[str, str], list[float]] = {}
        for run in range(args.runs):
            for name, extra in commands.items():
                for side, (env, ws) in spaces.items():
                    if extra is None:
                        day = f"2025-{1 + run // 28:02d}-{1 + run % 28:02d}"
                        extra_run = ["control", "inspect", "STCORS01", "-c", "intact",
                                     "-d", day, "-i", "bench"]  # fmt: skip
                    else:
                        extra_run = extra
                    times.setdefault((name, side), []).append(
                        cpu_seconds([*cli, *extra_run], env, ws)
                    )
        load = os.getloadavg()[0]
        print(f"CPU-seconds per command, median of {args.runs} (load average {load:.1f})")
        print(f"| command | this checkout | anchor ({sides['anchor']}) | ratio |")
        print("|---|---|---|---|")
        for name in commands:
            mine = statistics.median(times[(name, "this")])
            anchor = statistics.median(times[(name, "anchor")])
            print(f"| `{name}` | {mine:.3f} | {anchor:.3f} | {anchor / mine:.2f}x |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
