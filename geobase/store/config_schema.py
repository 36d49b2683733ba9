"""The pydantic schema of ``geobase.toml`` (:class:`geobase.store.config.WorkspaceConfig`).

Imported only when a file's values are not all of the exact types it names: pydantic
then coerces them or refuses the file with its one-line message.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class WorkspaceSchema(BaseModel):
    """The keys of ``geobase.toml`` and their types (see WorkspaceConfig)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    crs: str = "EPSG:4548"
    store: str = "workspace.gpkg"
    data_root: str | None = None
    tiles_dir: str = "tiles"
    districts: str | None = None
    control: dict[str, Any] = Field(default_factory=dict)
    products: dict[str, dict[str, Any]] = Field(default_factory=dict)
    coverage: dict[str, Any] = Field(default_factory=dict)
    tiles: dict[str, Any] = Field(default_factory=dict)
    server: dict[str, Any] = Field(default_factory=dict)
    qc: dict[str, dict[str, Any]] = Field(default_factory=dict)
