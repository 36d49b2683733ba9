"""The Shantou demo workspace, built end to end on the embedded store.

This module orchestrates the domain packages (it sits beside ``cli/`` and ``server/``
above them; no library module imports it). Each step is idempotent, so running the demo
twice is safe: the second run finds the work done and keeps it.

The demo's inputs are the repository's top-level data folders (``datasets/``,
``control_points/``, the real sample files in ``datasets/real/``): the demo runs from a
geobase clone (``scripts/install.sh`` installs it editable, so the package finds them
beside itself).
"""

from __future__ import annotations

import contextvars
import importlib.util
import logging
import os
import shutil
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from geobase.errors import DemoDataMissing
from geobase.store import Workspace
from geobase.store.districts import list_districts, load_districts

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
Progress = Callable[[str], None]

# Where the demo puts things inside the workspace.
DATASETS_DIR = "datasets"  # the deliveries: generated/ (synthetic) and real/ (samples)
REPORT_HTML = "reports/coverage.html"

# progress messages inside a step (the step's name is reported by build_demo itself)
_say: contextvars.ContextVar[Progress | None] = contextvars.ContextVar("_say", default=None)


def _report(message: str) -> None:
    say = _say.get()
    if say is not None:
        say(message)
    logger.info("demo: %s", message)


@dataclass(frozen=True)
class DemoStep:
    name: str
    run: Callable[[Workspace, Path], str]


@dataclass
class DemoResult:
    """What the demo did: each step's outcome and the seconds it took."""

    workspace: Path
    steps: list[tuple[str, str]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def report(self) -> Path | None:
        """The coverage report (HTML), if the demo wrote one."""
        path = self.workspace / REPORT_HTML
        return path if path.is_file() else None


def _districts(ws: Workspace, data: Path) -> str:
    if not list_districts(ws.store).empty:
        return "districts already loaded"
    source = data / "datasets" / "districts" / "shantou_districts.geojson"
    frame = load_districts(ws.store, source)
    ws.config.districts = str(source)
    ws.save_config()
    return f"{len(frame)} districts (approximate demo boundaries)"


def _control_points(ws: Workspace, data: Path) -> str:
    from geobase.control.demo_data import load_demo, write_inspection_stream

    summary = load_demo(ws, data / "control_points")
    stream = ws.root / "inspections.jsonl"
    if not stream.exists():  # a sample for 'control inspect --from' (kept if edited)
        write_inspection_stream(stream)
    return summary


def _coverage_report(ws: Workspace, data: Path) -> str:
    from geobase.coverage import build_report, write_html, write_json

    plan = data / "datasets" / "plan" / "shantou_2021_2025.toml"
    if ws.config.coverage.get("plan") is None and plan.is_file():
        ws.config.coverage = {**ws.config.coverage, "plan": str(plan)}
        ws.save_config()
    report = build_report(ws)  # works on an empty or sparse catalogue too
    folder = ws.path("reports")
    folder.mkdir(exist_ok=True)
    write_html(report, folder / "coverage.html")
    write_json(report, folder / "coverage.json")
    return f"coverage of {len(report.products)} products: reports/coverage.html, coverage.json"


def real_data_dir(data: Path) -> Path:
    """The real sample files, committed with the repository: ``datasets/real``."""
    return Path(data) / DATASETS_DIR / "real"


def demo_data_root() -> Path:
    """The folder holding the demo's inputs: the clone this package runs from.

    The package's own repository when it is installed editable (``scripts/install.sh``),
    else the current folder when it is a geobase clone. Raises DemoDataMissing when
    neither holds ``datasets/generate.py`` (a wheel installed elsewhere has no inputs).
    """
    for root in (REPO_ROOT, Path.cwd()):
        if (root / DATASETS_DIR / "generate.py").is_file():
            return root
    raise DemoDataMissing(
        f"the demo's inputs (datasets/, control_points/) are neither beside the package "
        f"({REPO_ROOT}) nor in the current folder; run the demo from a geobase clone"
    )


def _load_generator(data: Path):
    path = data / DATASETS_DIR / "generate.py"
    if not path.is_file():
        raise DemoDataMissing(f"the demo data generator {path} is missing; the clone is incomplete")
    name = "geobase_demo_generate"
    module = sys.modules.get(name)
    if module is not None and Path(module.__file__ or "") == path:
        return module
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


# Real sample files and how the demo ingests them: (product, classification, acquired).
# RGB.byte.tif is a Landsat 7 scene of unknown date: the window runs from the satellite's
# launch to the file's first appearance in rasterio's test data. autzen_trim.laz dates
# itself (GPS time). shade.tif (a hillshade of unknown date) and simple.las/.laz (no
# CRS) are copied but not ingested: geobase never guesses a date or a CRS.
REAL_SAMPLES = {
    "RGB.byte.tif": ("imagery", "public", "1999-04-15/2013-12-31"),
    "autzen_trim.laz": ("pointcloud", "public", None),
}
REFUSED_SAMPLE = "corrupt.tif"
# what the demo's service calls itself (another workspace's comes from its own name)
DEMO_SERVER = {
    "title": "数字汕头 Digital Shantou — 地理信息公共服务",
    "attribution": "汕头市基础测绘 Shantou basic surveying",
}


def _datasets(ws: Workspace, data: Path) -> str:
    """Generate the synthetic deliveries and copy the real samples into the workspace."""
    folder = ws.path(DATASETS_DIR)
    generator = _load_generator(data)
    deliveries = generator.generate(folder / "generated", progress=_report)
    copied = 0
    real = real_data_dir(data)
    (folder / "real").mkdir(parents=True, exist_ok=True)
    for src in sorted(real.iterdir()):  # the samples with their README and licence texts
        dst = folder / "real" / src.name
        if src.is_file() and not (dst.exists() and dst.stat().st_size == src.stat().st_size):
            shutil.copyfile(src, dst)
            copied += 1
    note = (
        f"{copied} files (real samples, their README and licences) copied into {DATASETS_DIR}/real/"
    )
    return f"{len(deliveries)} synthetic deliveries in {DATASETS_DIR}/generated/; {note}"


def _ingest(ws: Workspace, data: Path) -> str:
    """Ingest every delivery (all-or-nothing per product; unchanged files are skipped)."""
    from geobase.errors import GeobaseError
    from geobase.ingest import ingest

    folder = ws.path(DATASETS_DIR)
    generator = _load_generator(data)
    groups: dict[tuple[str, str], list[Path]] = defaultdict(list)
    for d in generator.generate(folder / "generated"):
        groups[(d.product, d.classification)].append(folder / "generated" / d.path)
    counts: dict[str, int] = defaultdict(int)
    for (product, classification), paths in groups.items():
        _report(f"ingest {len(paths)} {product} ({classification})")
        for result in ingest(ws, paths, product=product, classification=classification):
            counts[result.status] += 1
    real = folder / "real"
    notes = []
    for name, (product, classification, acquired) in REAL_SAMPLES.items():
        if (real / name).is_file():
            _report(f"ingest real sample {name}")
            for result in ingest(
                ws,
                [real / name],
                product=product,
                classification=classification,
                acquired=acquired,
            ):
                counts[result.status] += 1
    if (real / REFUSED_SAMPLE).is_file():
        try:
            ingest(ws, [real / REFUSED_SAMPLE], product="imagery", acquired="2020-01-01")
        except GeobaseError as exc:
            notes.append(f"{REFUSED_SAMPLE} refused as it should be ({type(exc).__name__})")
        else:
            notes.append(f"{REFUSED_SAMPLE} was NOT refused (unexpected; see the catalogue)")
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    return "; ".join([f"deliveries: {summary}", *notes])


# The demo's pyramids: (name, SOURCE, grid, zooms, format). The 30 m city overview is the
# public base map; the 0.2 m Chaoyang orthophotos (product dom02) show the finest data.
PYRAMIDS = (
    ("overview_webmercator", "shantou_overview_30m_2020", "WebMercatorQuad", (8, 13), "jpeg"),
    ("overview_cgcs2000", "shantou_overview_30m_2020", "CGCS2000Quad", (8, 13), "jpeg"),
    ("dom02_webmercator", "dom02", "WebMercatorQuad", (14, 19), "jpeg"),
    ("dom02_cgcs2000", "dom02", "CGCS2000Quad", (14, 19), "jpeg"),
)


def _tiles(ws: Workspace, data: Path) -> str:
    """Tile pyramids (PMTiles) in Web Mercator and in the CGCS2000 grid; updated on rerun."""
    from geobase.tiles.build import build_tiles, last_pyramid

    folder = ws.data_path(ws.config.tiles_dir)
    folder.mkdir(parents=True, exist_ok=True)
    done = []
    for name, source, tms, zoom, fmt in PYRAMIDS:
        out = folder / f"{name}.pmtiles"
        update = out.exists() and last_pyramid(ws, out) is not None
        _report(f"tiles {name} ({tms}, zoom {zoom[0]}-{zoom[1]})" + (" update" if update else ""))
        record = build_tiles(
            ws,
            source,
            out,
            tms=None if update else tms,
            zoom=None if update else zoom,
            fmt=None if update else fmt,
            update=update,
            overwrite=not update,
            workers=min(2, os.cpu_count() or 1),
            name=name,
        )
        state = "up to date" if record.get("up_to_date") else f"{record['tile_count']} tiles"
        done.append(f"{name} ({state})")
    return f"{ws.config.tiles_dir}/: " + ", ".join(done)


STEPS: list[DemoStep] = [
    DemoStep("districts", _districts),
    DemoStep("control points", _control_points),
    DemoStep("sample datasets", _datasets),
    DemoStep("ingest", _ingest),
    DemoStep("tile pyramids", _tiles),
    DemoStep("coverage report", _coverage_report),
]


def build_demo(
    path: str | Path, *, data: Path | None = None, progress: Progress | None = None
) -> DemoResult:
    """Build (or complete) the Shantou demo workspace in ``path``.

    Args:
        path: the workspace folder; created if missing, completed if it exists.
        data: the folder holding ``datasets/`` and ``control_points/`` (default:
            ``demo_data_root()``, the geobase clone).
        progress: called with each step's name before it runs.
    """
    data = Path(data) if data is not None else demo_data_root()
    real = real_data_dir(data)
    if not real.is_dir():  # part of the repository: checked before anything is written
        raise DemoDataMissing(f"the real sample files {real} are missing; the clone is incomplete")
    result = DemoResult(Path(path).absolute())
    token = _say.set((lambda message: progress(f"  {message}")) if progress else None)
    try:
        with Workspace.init(path, name="shantou", exist_ok=True) as ws:
            if "title" not in ws.config.server:
                ws.config.server = {**ws.config.server, **DEMO_SERVER}
                ws.save_config()
            for step in STEPS:
                if progress:
                    progress(step.name)
                start = time.perf_counter()
                outcome = step.run(ws, data)
                result.seconds[step.name] = time.perf_counter() - start
                logger.info("demo step %s: %s", step.name, outcome)
                result.steps.append((step.name, outcome))
    finally:
        _say.reset(token)
    return result
