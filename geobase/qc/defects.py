"""A located defect and the result of checking a delivery.

Every defect names the file as it was given, a stable check id (``dom.nodata_hole``),
its severity (``blocking``: the delivery is returned; ``minor``: noted for the
contractor), the measured value and the threshold it broke, one English line, and
where it is: a shapely geometry in CGCS2000 longitude/latitude (EPSG:4490), the file's
footprint when the defect concerns the whole file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import shapely
from shapely.geometry.base import BaseGeometry

from geobase.errors import DefectError
from geobase.values import plain

Severity = Literal["blocking", "minor"]
SEVERITIES: tuple[str, ...] = ("blocking", "minor")
CHECK_ID = r"^[a-z0-9]+\.[a-z0-9_]+$"


@dataclass(frozen=True)
class Defect:
    """One defect of a delivery, with its place.

    Attributes:
        file: the file as given on the command line.
        check: stable id ``<kind>.<what>`` (``dom.nodata_hole``, ``las.header_bounds``).
        severity: ``blocking`` or ``minor``.
        value: what was measured (a number, or text such as a CRS name).
        threshold: what the product allows.
        message: one English line.
        geometry: where, in EPSG:4490 longitude/latitude.
    """

    file: str
    check: str
    severity: Severity
    value: Any
    threshold: Any
    message: str
    geometry: BaseGeometry

    def __post_init__(self) -> None:
        import re

        if self.severity not in SEVERITIES:
            raise DefectError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")
        if not re.match(CHECK_ID, self.check):
            raise DefectError(f"check id {self.check!r} is not <kind>.<name>")
        if self.geometry is None or self.geometry.is_empty:
            raise DefectError(f"defect {self.check} of {self.file} has no place")

    def as_dict(self) -> dict[str, Any]:
        """The defect as JSON-ready values, the geometry as GeoJSON."""
        return {
            "file": self.file,
            "check": self.check,
            "severity": self.severity,
            "value": _number(self.value),
            "threshold": _number(self.threshold),
            "message": self.message,
            "geometry": json.loads(shapely.to_geojson(shapely.set_precision(self.geometry, 1e-9))),
        }


def _number(value: Any) -> Any:
    value = plain(value)
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.6g}")
    return value


@dataclass
class QCReport:
    """What checking a delivery found.

    Attributes:
        product: the product code checked against.
        files: the files as given.
        footprints: each file's footprint (EPSG:4490), for maps.
        checks: the check ids that ran, per file.
        defects: every defect, in file order.
        notes: what could not be checked and why (a neighbour without overlap...).
    """

    product: str
    files: list[str]
    footprints: dict[str, BaseGeometry] = field(default_factory=dict)
    checks: dict[str, list[str]] = field(default_factory=dict)
    defects: list[Defect] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def blocking(self) -> list[Defect]:
        return [d for d in self.defects if d.severity == "blocking"]

    @property
    def passed(self) -> bool:
        """No blocking defect (minor ones are listed for the contractor to fix)."""
        return not self.blocking

    def for_file(self, file: str) -> list[Defect]:
        return [d for d in self.defects if d.file == file]

    def as_dict(self) -> dict[str, Any]:
        """One JSON object: product, passed, counts, files with their checks, defects."""
        return {
            "product": self.product,
            "passed": self.passed,
            "blocking": len(self.blocking),
            "minor": len(self.defects) - len(self.blocking),
            "files": [{"file": f, "checks": self.checks.get(f, [])} for f in self.files],
            "notes": self.notes,
            "defects": [d.as_dict() for d in self.defects],
        }


def summary(defects: Sequence[Defect]) -> dict[str, int]:
    """Defects counted per check id."""
    counts: dict[str, int] = {}
    for d in defects:
        counts[d.check] = counts.get(d.check, 0) + 1
    return counts


def merge(reports: Iterable[QCReport], product: str) -> QCReport:
    """One report from several (files in order)."""
    out = QCReport(product=product, files=[])
    for r in reports:
        out.files += r.files
        out.footprints.update(r.footprints)
        out.checks.update(r.checks)
        out.defects += r.defects
        out.notes += r.notes
    return out
