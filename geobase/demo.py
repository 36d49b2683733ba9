"""The Shantou demo workspace, built end to end on the embedded store.

This module orchestrates the domain packages (it sits beside ``cli/`` and ``server/``
above them; no library module imports it). Each step is idempotent, so running the demo
twice is safe: the second run finds the work done and keeps it.

The demo's inputs are the repository's top-level data folders (``datasets/``,
``control_points/``) and the real sample files in ``../shared/data/real``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from geobase.store import Workspace
from geobase.store.districts import list_districts, load_districts

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
Progress = Callable[[str], None]


@dataclass(frozen=True)
class DemoStep:
    name: str
    run: Callable[[Workspace, Path], str]


@dataclass
class DemoResult:
    workspace: Path
    steps: list[tuple[str, str]] = field(default_factory=list)


def _districts(ws: Workspace, data: Path) -> str:
    if not list_districts(ws.store).empty:
        return "districts already loaded"
    source = data / "datasets" / "districts" / "shantou_districts.geojson"
    frame = load_districts(ws.store, source)
    ws.config.districts = str(source)
    ws.save_config()
    return f"{len(frame)} districts (approximate demo boundaries)"


def _control_points(ws: Workspace, data: Path) -> str:
    from geobase.control.demo_data import load_demo

    return load_demo(ws, data / "control_points")


STEPS: list[DemoStep] = [
    DemoStep("districts", _districts),
    DemoStep("control points", _control_points),
]


def build_demo(
    path: str | Path, *, data: Path | None = None, progress: Progress | None = None
) -> DemoResult:
    """Build (or complete) the Shantou demo workspace in ``path``.

    Args:
        path: the workspace folder; created if missing, completed if it exists.
        data: the folder holding ``datasets/`` and ``control_points/`` (default: the
            geobase repository).
        progress: called with each step's name before it runs.
    """
    data = Path(data or REPO_ROOT)
    result = DemoResult(Path(path).absolute())
    with Workspace.init(path, name="shantou", exist_ok=True) as ws:
        for step in STEPS:
            if progress:
                progress(step.name)
            outcome = step.run(ws, data)
            logger.info("demo step %s: %s", step.name, outcome)
            result.steps.append((step.name, outcome))
    return result
