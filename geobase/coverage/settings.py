"""Coverage settings (the ``[coverage]`` table of ``geobase.toml``) and the as-of date."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from geobase import dates
from geobase.store.config import parse_section


class CoverageSettings(BaseModel):
    """What the ``[coverage]`` table of ``geobase.toml`` may hold.

    Attributes:
        plan: the plan file (TOML, see :mod:`geobase.coverage.plan`), relative to the
            workspace folder; None: reports without targets.
        age_bins: edges of the age classes in years (ascending); the classes are
            ``[0, e1)``, ``[e1, e2)`` ... ``[e_last, inf)``.
        sheet_tolerance: a sheet whose uncovered share is at most this is "covered",
            one whose covered share is at most this is "missing" (absorbs the slivers that
            reprojection leaves along shared edges).
        densify_deg: footprints and boundaries (EPSG:4490) are densified to this spacing
            in degrees before they are projected to the area CRS.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    plan: str | None = Field(default=None, min_length=1)
    age_bins: list[float] = Field(default_factory=lambda: [1.0, 2.0, 3.0, 5.0, 8.0])
    sheet_tolerance: float = Field(default=1e-4, ge=0.0, lt=0.5)
    densify_deg: float = Field(default=0.001, gt=0.0, le=0.1)

    @field_validator("age_bins")
    @classmethod
    def _ascending(cls, value: list[float]) -> list[float]:
        if not value or any(v <= 0 for v in value) or sorted(set(value)) != list(value):
            raise ValueError("must be positive, strictly ascending years, e.g. [1, 2, 3, 5, 8]")
        return value


def coverage_settings(table: Mapping[str, Any] | None) -> CoverageSettings:
    """Validate a workspace's ``[coverage]`` table.

    Raises:
        ConfigError: an unknown key or a bad value (named with its key).
    """
    return parse_section(CoverageSettings, table, "coverage")


def plan_path(root: Path, settings: CoverageSettings) -> Path | None:
    """The plan file a workspace names, resolved against its folder."""
    if settings.plan is None:
        return None
    path = Path(settings.plan)
    return path if path.is_absolute() else root / path


def parse_as_of(value: dt.date | str | None, *, allow_future: bool = True) -> dt.date | None:
    """An as-of date from a date or its text; None stays None (today's state).

    Raises:
        InvalidDate: text that is not a calendar date (see :func:`geobase.dates.parse_date`).
        FutureDate: a date after today where ``allow_future`` is False.

    Example:
        >>> parse_as_of("2023-12-31")
        datetime.date(2023, 12, 31)
    """
    if value is None:
        return None
    return dates.parse_date(value, "as-of date", allow_future=allow_future)


def age_years(dates, reference: dt.date):
    """Age in years (days / 365.25) of ``YYYY-MM-DD`` dates at ``reference``; NaN if unknown."""
    import numpy as np
    import pandas as pd

    parsed = pd.to_datetime(pd.Series(list(dates), dtype=object), errors="coerce", format="mixed")
    days = (pd.Timestamp(reference) - parsed).dt.days.to_numpy(dtype=float)
    return np.asarray(days / 365.25, dtype=float)
