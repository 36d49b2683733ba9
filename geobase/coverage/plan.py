"""Plan targets: the baseline and yearly targets per product and district, from a TOML file.

A plan file (the Shantou 2021-2025 plan ships as ``datasets/plan/shantou_2021_2025.toml``)::

    name = "汕头市基础测绘“十四五”规划"
    name_en = "Shantou basic surveying plan 2021-2025"
    start = 2021
    end = 2025
    baseline_date = 2020-12-31

    [products.dlg500]
    measure = "covered"            # covered | current | in_period
    sheet_scale = 500              # rectangular sheets the remaining work is counted in
    baseline = { km2 = 360.1, share = 0.16 }
    targets = { 2021 = 0.33, 2022 = 0.50, 2023 = 0.66, 2024 = 0.83, 2025 = 1.0 }

    [products.dom005.districts."澄海区"]
    baseline = { km2 = 81.5 }
    targets = { 2025 = 1.0 }

Targets are shares (0-1) of the land area of the scope (the whole city, or one district)
reached by the end of each year. Measures: ``covered`` (any current data), ``current``
(data younger than the product's update cycle, e.g. satellite imagery every year),
``in_period`` (data acquired since the plan started, e.g. a "whole city once" campaign).
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from geobase.errors import PlanError
from geobase.sheets import RECT_SCALES

Measure = Literal["covered", "current", "in_period"]


class Label(NamedTuple):
    """A label in Chinese and English (``str()`` gives both, as tables show them)."""

    zh: str
    en: str
    note: str = ""

    def __str__(self) -> str:
        return f"{self.zh} {self.en}" + (f" ({self.note})" if self.note else "")


MEASURE_LABELS = {
    "covered": Label("覆盖", "covered"),
    "current": Label("现势", "current", "younger than the update cycle"),
    "in_period": Label("规划期内", "acquired in the plan period"),
}


class Baseline(BaseModel):
    """The state at the start of the plan (from the plan's text)."""

    model_config = ConfigDict(extra="forbid")

    km2: float | None = Field(default=None, ge=0)
    share: float | None = Field(default=None, ge=0, le=1)
    note: str = ""


class ScopePlan(BaseModel):
    """Baseline and yearly targets for one district."""

    model_config = ConfigDict(extra="forbid")

    baseline: Baseline | None = None
    targets: dict[int, float] = Field(default_factory=dict)
    note: str = ""

    @field_validator("targets")
    @classmethod
    def _shares(cls, value: dict[int, float]) -> dict[int, float]:
        for year, share in value.items():
            if not 0 <= share <= 1:
                raise ValueError(f"target for {year} is {share}; targets are shares from 0 to 1")
        return dict(sorted(value.items()))


class ProductPlan(ScopePlan):
    """A product's plan: the city-wide baseline and targets, and per-district ones."""

    measure: Measure = "covered"
    sheet_scale: int | None = None
    districts: dict[str, ScopePlan] = Field(default_factory=dict)

    @field_validator("sheet_scale")
    @classmethod
    def _scale(cls, value: int | None) -> int | None:
        if value is not None and value not in RECT_SCALES:
            allowed = ", ".join(str(s) for s in RECT_SCALES)
            raise ValueError(f"sheet_scale {value} has no rectangular sheets; use one of {allowed}")
        return value


class Plan(BaseModel):
    """A coverage plan (规划): period, baseline and targets per product and district."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    name_en: str = ""
    source: str = ""
    start: int = Field(ge=1900, le=2200)
    end: int = Field(ge=1900, le=2200)
    baseline_date: dt.date | None = None
    products: dict[str, ProductPlan] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _years(self) -> Plan:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        for code, product in self.products.items():
            scopes = [
                ("", product),
                *((f" district {k!r}", v) for k, v in product.districts.items()),
            ]
            for where, scope in scopes:
                for year in scope.targets:
                    if not self.start <= year <= self.end:
                        raise ValueError(
                            f"products.{code}{where}: target year {year} is outside the plan "
                            f"period {self.start}-{self.end}"
                        )
        return self

    def target(
        self, product: str, year: int, district: str | None = None
    ) -> tuple[int, float] | None:
        """This year's target (year, share) for a product and scope: the target set for the
        year, or else the latest earlier one; None before the first target."""
        plan = self.products[product]
        scope = plan if district is None else plan.districts.get(district)
        if scope is None:
            return None
        years = [y for y in scope.targets if y <= year]
        return (years[-1], scope.targets[years[-1]]) if years else None


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file.

    Raises:
        PlanError: missing or unreadable file, bad TOML, unknown keys or bad values.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError(f"plan file {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"plan file {path}: cannot be read ({exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"plan file {path}: not valid TOML ({exc})") from None
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        msg = first["msg"].removeprefix("Value error, ")
        raise PlanError(f"plan file {path}: {where}: {msg}") from None


def check_plan(plan: Plan, products, districts: list[str], *, source: str = "plan") -> None:
    """Check that a plan names known products and districts.

    Raises:
        PlanError: an unknown product code or district name.
    """
    for code, product in plan.products.items():
        if code not in products:
            raise PlanError(
                f"{source}: unknown product {code!r}; known products: {', '.join(products.list())}"
            )
        for name in product.districts:
            if name not in districts:
                raise PlanError(
                    f"{source}: products.{code}: unknown district {name!r}; "
                    f"loaded districts: {', '.join(districts) or '(none)'}"
                )


def sheet_scale_for(plan: ProductPlan, product) -> int:
    """The rectangular-sheet scale a product's remaining work is counted in."""
    if plan.sheet_scale is not None:
        return plan.sheet_scale
    if product.scale in RECT_SCALES:
        return int(product.scale)
    return 2000


def acquired_since(plan: Plan, measure: Measure, cycle: float, as_of: dt.date) -> dt.date | None:
    """The earliest acquisition date that counts for a measure (None: any date)."""
    if measure == "in_period":
        return dt.date(plan.start, 1, 1)
    if measure == "current":
        # younger than the cycle: age = days / 365.25 < cycle
        return as_of - dt.timedelta(days=math.ceil(cycle * 365.25) - 1)
    return None


def scope_progress(
    sheets: pd.DataFrame,
    *,
    target_share: float | None,
) -> dict:
    """Where one scope stands: measured area and share, remaining km2 and sheets.

    Args:
        sheets: the scope's sheet rows (one per sheet part, :func:`sheet_statuses` with
            ``by_district``), judged on the data that count for the measure.
        target_share: the year's target share (None: no target).

    Returns:
        area_km2, measured_km2, measured_share, target_km2, remaining_km2, sheets,
        sheets_open (not yet covered: missing or partial), remaining_sheets (the fewest
        open sheets whose completion reaches the target, largest gaps first).
    """
    area = float(sheets["area_km2"].sum())
    measured = float(sheets["covered_km2"].sum())
    gaps = (
        (sheets["area_km2"] - sheets["covered_km2"])
        .groupby(sheets["code"])
        .sum()
        .to_numpy(dtype=float)
    )
    open_status = sheets.groupby("code")["status"].agg(lambda s: bool((s != "covered").any()))
    out = {
        "area_km2": area,
        "measured_km2": measured,
        "measured_share": measured / area if area else 0.0,
        "sheets": int(sheets["code"].nunique()),
        "sheets_open": int(open_status.sum()),
        "target_share": target_share,
        "target_km2": None,
        "remaining_km2": None,
        "remaining_sheets": None,
        "met": None,
    }
    if target_share is not None:
        target_km2 = target_share * area
        remaining = max(target_km2 - measured, 0.0)
        gaps = np.sort(gaps[gaps > 0])[::-1]
        needed = int(np.searchsorted(np.cumsum(gaps), remaining * (1 - 1e-12))) + 1
        out.update(
            target_km2=target_km2,
            remaining_km2=remaining,
            remaining_sheets=0 if remaining <= 1e-9 else min(needed, len(gaps)),
            met=remaining <= 1e-9,
        )
    return out
