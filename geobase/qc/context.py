"""What every check needs: the product, its thresholds, the CRS the bureau requires, the
workspace (or none) and a way to add defects with their severity and cap."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from geobase.catalog.products import Product
from geobase.ingest.metadata import Acquired
from geobase.qc.defects import Defect, QCReport
from geobase.qc.settings import Level, severity
from geobase.store import Workspace

Progress = Callable[[int, int | None], None]


@dataclass
class Context:
    """The frame of one run of the checks."""

    product: Product
    thresholds: Any
    required_crs: CRS
    report: QCReport
    workspace: Workspace | None = None
    acquired: Acquired | None = None
    progress: Progress | None = None
    _counts: dict[tuple[str, str], int] = field(default_factory=dict)

    def ran(self, file: str, *checks: str) -> None:
        """Note that ``checks`` ran on ``file``."""
        done = self.report.checks.setdefault(file, [])
        done += [c for c in checks if c not in done]

    def add(
        self,
        file: str,
        check: str,
        default: Level,
        value: Any,
        threshold: Any,
        message: str,
        geometry: BaseGeometry,
    ) -> None:
        """Add a defect (its severity the product's override or ``default``); past
        ``max_defects_per_check`` for this file and check, only counted."""
        self.ran(file, check)
        key = (file, check)
        n = self._counts.get(key, 0) + 1
        self._counts[key] = n
        cap = self.thresholds.max_defects_per_check
        if n > cap:
            if n == cap + 1:
                self.report.notes.append(
                    f"{file}: more than {cap} {check} defects; the first {cap} are listed"
                )
            return
        self.report.defects.append(
            Defect(
                file=file,
                check=check,
                severity=severity(self.thresholds, check, default),
                value=value,
                threshold=threshold,
                message=message,
                geometry=geometry,
            )
        )

    def note(self, file: str, text: str) -> None:
        self.report.notes.append(f"{file}: {text}")
