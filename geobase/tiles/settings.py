"""Tile-building settings: the ``[tiles]`` table of ``geobase.toml``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from geobase.store.config import parse_section

Channel = Annotated[int, Field(ge=0, le=255, strict=True)]
MAX_BLOCK = 64


class TilesSettings(BaseModel):
    """What the ``[tiles]`` table may hold.

    Attributes:
        jpeg_fill: the RGB colour JPEG tiles show where the source has no data
            (JPEG has no transparency), three integers 0..255.
        block: the build window in base tiles, a power of two (1..64); it also sets
            what an update re-renders (whole windows) and the overview cache's size
            (about ``1 / (3 * block**2)`` of the base tiles).
        max_memory_mb: keep a build's peak resident memory (the main process and its
            workers) within this many MiB: fewer workers, fewer windows in flight and
            a smaller GDAL block cache (``--max-memory``); unset: no limit.
    """

    # strict per field: a TOML array is a list, which a strict tuple would refuse
    model_config = ConfigDict(extra="forbid")

    jpeg_fill: tuple[Channel, Channel, Channel] = (255, 255, 255)
    block: int = Field(default=8, ge=1, le=MAX_BLOCK, strict=True)
    max_memory_mb: int | None = Field(default=None, ge=256, strict=True)

    @field_validator("block")
    @classmethod
    def _power_of_two(cls, value: int) -> int:
        if value & (value - 1):
            raise ValueError(f"must be a power of two (1, 2, 4 ... {MAX_BLOCK})")
        return value


def tiles_settings(table: Mapping[str, Any] | None) -> TilesSettings:
    """Validate a workspace's ``[tiles]`` table.

    Raises:
        ConfigError: an unknown key or a bad value (named with its key).
    """
    return parse_section(TilesSettings, table, "tiles")
