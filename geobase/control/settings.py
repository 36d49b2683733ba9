"""Control-network settings: the ``[control]`` table of ``geobase.toml``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from geobase.control.records import GRADE_CODES
from geobase.store.config import parse_section

DEFAULT_CYCLE_DAYS = 365
# grades whose points are not published (override with [control] restricted_grades)
RESTRICTED_GRADES: tuple[str, ...] = ("CORS", "A", "B", "C", "L1", "L2")


class ControlSettings(BaseModel):
    """What the ``[control]`` table may hold.

    Attributes:
        inspection_cycle_days: a mark is overdue when its last inspection is older.
        restricted_grades: grades a public export leaves out.
        cjk_font: a TrueType font (.ttf/.ttc) for Chinese text in PDF datasheets
            (default: one installed on the system).
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    inspection_cycle_days: int = Field(default=DEFAULT_CYCLE_DAYS, gt=0, le=36_500)
    restricted_grades: list[str] = Field(default_factory=lambda: list(RESTRICTED_GRADES))
    cjk_font: str | None = Field(default=None, min_length=1)

    @field_validator("restricted_grades")
    @classmethod
    def _known_grades(cls, value: list[str]) -> list[str]:
        known = [code for codes in GRADE_CODES.values() for code in codes]
        unknown = [v for v in value if v not in known]
        if unknown:
            raise ValueError(f"unknown grade codes {unknown}; known: {', '.join(known)}")
        return value


def control_settings(table: Mapping[str, Any] | None) -> ControlSettings:
    """Validate a workspace's ``[control]`` table.

    Raises:
        ConfigError: an unknown key or a bad value (named with its key).
    """
    return parse_section(ControlSettings, table, "control")
