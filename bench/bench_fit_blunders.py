"""Monte-Carlo acceptance of blunder detection in ``geobase.geodesy.fit``.

Seeded draws of common points (a 10 km city block in EPSG:4548, a Beijing 1954 ->
CGCS2000 style 4p or affine relation, 15 mm noise per coordinate) with planted blunders
of 20 sigma (the displacement of a point, random direction):

- ``one``: one blunder among 8 points;
- ``two-neighbours``: two blunders on nearest neighbours, in the same direction, among 12;
- ``three``: three blunders on random points among 15.

Each draw is fitted with and without ``sigma`` (the a-priori 15 mm); a draw succeeds when
every planted blunder is rejected and no innocent point is. The acceptance bar (issue 16):
at least 99 of 100 draws succeed in every scenario. ``tests/test_geodesy_fit.py`` runs a
smaller seeded version of the same draws in the suite.

Usage::

    .venv/bin/python bench/bench_fit_blunders.py                # 100 draws per case
    .venv/bin/python bench/bench_fit_blunders.py --draws 1000 --write
"""

from __future__ import annotations

import argparse
import math
import platform
import shlex
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from geobase.geodesy import CommonPoints, fit

SECTION = "fit-blunders"
TITLE = "fit: blunder detection, Monte-Carlo acceptance"
SIGMA = 0.015
BLUNDER = 20.0  # in sigma
#: A point with a redundancy number below this (of 2) shows less than a quarter of a
#: blunder in its residual: 20 sigma may then be below what any test can detect.
WEAK = 0.5
#: scenario -> (points, blunders, neighbours in the same direction)
SCENARIOS: dict[str, tuple[int, int, bool]] = {
    "one": (8, 1, False),
    "two-neighbours": (12, 2, True),
    "three": (15, 3, False),
}


@dataclass
class Draw:
    points: CommonPoints
    blunders: set[str]


def draw(scenario: str, model: str, rng: np.random.Generator) -> Draw:
    """One seeded set of common points with planted blunders."""
    n, k, neighbours = SCENARIOS[scenario]
    src = np.column_stack([rng.uniform(460_000, 470_000, n), rng.uniform(2_575_000, 2_585_000, n)])
    angle = math.radians(1.8 / 3600)
    scale = 1 - 6.5e-6
    c, s = scale * math.cos(angle), scale * math.sin(angle)
    m = np.array([[c, -s], [s, c]])
    if model == "affine":
        m = m + np.array([[4e-6, -3e-6], [2e-6, 5e-6]])
    dst = src @ m.T + np.array([-35.2, 61.8]) + rng.normal(0, SIGMA, (n, 2))
    if neighbours:
        first = int(rng.integers(n))
        distance = np.hypot(*(src - src[first]).T)
        distance[first] = np.inf
        chosen = [first, int(np.argmin(distance))]
        direction = rng.uniform(0, 2 * math.pi)
        directions = [direction] * k
    else:
        chosen = [int(i) for i in rng.choice(n, k, replace=False)]
        directions = list(rng.uniform(0, 2 * math.pi, k))
    for i, t in zip(chosen, directions, strict=True):
        dst[i] += BLUNDER * SIGMA * np.array([math.cos(t), math.sin(t)])
    ids = [f"P{i:02d}" for i in range(n)]
    return Draw(CommonPoints(ids, src, dst), {ids[i] for i in chosen})


@dataclass
class Tally:
    draws: int = 0
    success: int = 0
    missed: int = 0  # draws where a planted blunder was not rejected
    innocent: int = 0  # draws where an innocent point was rejected
    weak: int = 0  # failed draws with a blunder on a point of redundancy number < WEAK

    def add(self, rejected: set[str], d: Draw, model: str) -> None:
        self.draws += 1
        missed = bool(d.blunders - rejected)
        innocent = bool(rejected - d.blunders)
        self.missed += missed
        self.innocent += innocent
        self.success += not (missed or innocent)
        if missed or innocent:
            plain = fit(d.points, model, reject=False).report.residuals  # type: ignore[arg-type]
            self.weak += min(r.redundancy for r in plain if r.id in d.blunders) < WEAK


def monte_carlo(scenario: str, model: str, draws: int, seed: int = 16) -> tuple[Tally, Tally]:
    """(without sigma, with sigma) tallies over ``draws`` seeded draws."""
    rng = np.random.default_rng([seed, list(SCENARIOS).index(scenario), model == "affine"])
    robust, apriori = Tally(), Tally()
    for _ in range(draws):
        d = draw(scenario, model, rng)
        robust.add(set(fit(d.points, model).rejected), d, model)  # type: ignore[arg-type]
        apriori.add(set(fit(d.points, model, sigma=SIGMA).rejected), d, model)  # type: ignore[arg-type]
    return robust, apriori


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=100)
    parser.add_argument("--write", action="store_true", help="record in bench/RESULTS.md")
    args = parser.parse_args(argv)
    rows = []
    ok = True
    start = time.perf_counter()
    for model in ("4p", "affine"):
        for scenario, (n, k, neighbours) in SCENARIOS.items():
            robust, apriori = monte_carlo(scenario, model, args.draws)
            for mode, tally in (("robust sigma", robust), (f"--sigma {SIGMA}", apriori)):
                rate = tally.success / tally.draws
                if model == "4p":
                    ok &= rate >= 0.99
                rows.append(
                    f"| {model} | {scenario}: {k} among {n}"
                    f"{' (neighbours, same direction)' if neighbours else ''} | {mode} | "
                    f"{tally.success} / {tally.draws} | {tally.missed} | {tally.innocent} | "
                    f"{tally.weak} |"
                )
                print(rows[-1], flush=True)
    elapsed = time.perf_counter() - start
    body = "\n".join(
        [
            f"**{'Meets' if ok else 'MISSES'} the bar** with the 4p model (the city-extent "
            "model of DOMAIN.md): every planted blunder named and no innocent point rejected "
            "in at least 99% of the draws, in every case, with and without --sigma. The "
            "affine rows show mostly the limit of geometry, not of the tests: six unknowns on 8 "
            "random points leave some points almost uncontrolled (redundancy number well "
            "below 1), where a 20 sigma blunder hardly shows in any residual; the last "
            f"column counts the failed draws with a blunder on a point of redundancy < {WEAK:g}. "
            "`geobase crs fit` warns about such points by name.",
            "",
            "| model | planted blunders (20 sigma) | test sigma | draws all right | draws "
            "with a blunder kept | draws with an innocent point rejected | failures on a "
            "weak point |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
            f"- Points: a 10 km block in EPSG:4548, 15 mm noise per coordinate, blunders "
            f"displace a point by {BLUNDER:g} sigma ({BLUNDER * SIGMA:.2f} m) in a random "
            "direction; seeded draws (seed 16).",
            "- Tests: iterative data snooping, alpha 0.001 over the points, started from the "
            "robust set (MSAC over minimal subsets, then IGG-III); test sigma the a-priori one "
            "or the robust sigma (sigma0 of the points the robust estimate keeps).",
            f"- {len(rows) * args.draws} fits in {elapsed:.1f} s "
            f"({1000 * elapsed / (len(rows) * args.draws):.1f} ms a fit).",
            f"- Machine: {platform.machine()}, Python {platform.python_version()}, numpy "
            f"{np.__version__}.",
            f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
            f"- Command: `python bench/bench_fit_blunders.py {shlex.join(argv or sys.argv[1:])}`",
        ]
    )
    print(body)
    if args.write:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from results import update_section

        update_section(SECTION, TITLE, body)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
