"""Thresholds of the acceptance checks, per product, with documented defaults.

Defaults follow the bureau's practice and the national standards (GB/T 24356 for the
classes of defects, CH/T 9008 for DLG/DEM/DOM, CH/T 8024 for airborne lidar); a
workspace overrides any of them per product in a ``[qc.<product>]`` table of
``geobase.toml``::

    [qc.dom02]
    hole_min_area_m2 = 4.0
    seam_offset_px = 1.0
    severity = { "dom.cog" = "blocking" }

    [qc.dlg500]
    snap_tolerance_m = 0.05
    schema = "qc/dlg500_codes.json"   # relative to the workspace folder

Keys unknown to a product's kind are refused (exit 2) naming the keys it knows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from geobase.store.config import parse_section

Level = Literal["blocking", "minor"]


class _Common(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # check id -> severity, overriding the check's default
    severity: dict[str, Level] = Field(default_factory=dict)
    # the CRS deliveries must be in (default: the workspace's, or --crs, EPSG:4548)
    crs: str | None = None
    # defects listed per check and file at most (the rest counted in the last one)
    max_defects_per_check: int = Field(default=50, ge=1)


class ImageryThresholds(_Common):
    """``[qc.<product>]`` of an imagery (DOM) product."""

    # ground resolution may exceed the product's by this factor (rounding in transforms)
    resolution_tolerance: float = Field(default=1.01, ge=1.0)
    bands: list[int] = Field(default_factory=lambda: [3, 4])  # RGB or RGB + NIR / alpha
    dtypes: list[str] = Field(default_factory=lambda: ["uint8", "uint16"])
    hole_min_area_m2: float = Field(default=25.0, gt=0)  # no-data holes inside the footprint
    patch_min_area_m2: float = Field(default=100.0, gt=0)  # blank or saturated patches
    blank_level: float = Field(default=2.0, ge=0)  # a cell no brighter is blank fill
    saturated_share: float = Field(default=0.9, gt=0, le=1)  # of a cell's pixels at the top
    seam_offset_px: float = Field(default=1.0, gt=0)  # geometric offset in an overlap
    seam_min_overlap_px: int = Field(default=32, ge=8)  # narrower overlaps are not measured
    radiometric_jump: float = Field(default=0.10, gt=0)  # relative mean difference
    cog_required: bool = True
    overview_min_size: int = Field(default=1024, ge=1)  # larger images need overviews
    metadata: list[str] = Field(default_factory=lambda: ["acquired", "sensor", "producer"])


class DemThresholds(_Common):
    """``[qc.<product>]`` of a DEM product."""

    void_min_area_m2: float = Field(default=25.0, gt=0)
    spike_k: float = Field(default=8.0, gt=0)  # robust z-score of a spike or pit
    spike_min_m: float = Field(default=3.0, ge=0)  # and at least this far from its neighbours
    z_min: float = -30.0  # Shantou: below the deepest polder and fish pond
    z_max: float = 1200.0  # above the highest peak (Dajianshan, about 1,016 m)
    step_m: float = Field(default=0.5, gt=0)  # median step across a shared tile edge
    vertical_datum: list[str] = Field(
        default_factory=lambda: ["China Vertical Datum 1985", "1985 National Height Datum"]
    )


class PointCloudThresholds(_Common):
    """``[qc.<product>]`` of a point-cloud product."""

    density_min: float = Field(default=4.0, gt=0)  # points per m2 (all returns)
    density_cell_m: float = Field(default=10.0, gt=0)
    density_low_share: float = Field(default=0.05, ge=0, le=1)  # of inner cells below it
    require_ground: bool = True
    bounds_tolerance_m: float = Field(default=0.01, ge=0)
    duplicate_share: float = Field(default=0.001, ge=0, le=1)
    scan_angle_max: float = Field(default=30.0, gt=0, le=180)  # degrees either side
    scan_angle_share: float = Field(default=0.01, ge=0, le=1)  # of points beyond it
    chunk_points: int = Field(default=1_000_000, ge=1000)


class VectorThresholds(_Common):
    """``[qc.<product>]`` of a vector (DLG) product."""

    # 0.2 mm at the map's scale when not given (0.1 m at 1:500)
    snap_tolerance_m: float | None = Field(default=None, gt=0)
    edge_tolerance_m: float | None = Field(default=None, gt=0)
    overlap_min_area_m2: float = Field(default=0.01, ge=0)
    # the code-list schema: a file path (relative to the workspace) or a shipped name
    schema_: str | None = Field(default=None, alias="schema")
    sheet_scale: int | None = Field(default=None, gt=0)  # default: the product's scale


THRESHOLDS: dict[str, type[_Common]] = {
    "imagery": ImageryThresholds,
    "dem": DemThresholds,
    "pointcloud": PointCloudThresholds,
    "vector": VectorThresholds,
}


def thresholds_for(
    kind: str, product: str, settings: Mapping[str, Any] | None
) -> ImageryThresholds | DemThresholds | PointCloudThresholds | VectorThresholds:
    """The thresholds of ``product`` (of ``kind``): defaults, overridden by the
    workspace's ``[qc.<product>]`` table.

    Raises:
        ConfigError: an unknown key or a bad value in the table.
    """
    table = (settings or {}).get(product)
    return parse_section(THRESHOLDS[kind], table, f"qc.{product}")  # type: ignore[return-value]


def severity(thresholds: _Common, check: str, default: Level) -> Level:
    """A check's severity: the product's override, else the check's default."""
    return thresholds.severity.get(check, default)
