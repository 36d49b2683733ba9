"""The workspace configuration file, ``geobase.toml``."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from geobase.errors import WorkspaceError

CONFIG_NAME = "geobase.toml"


class WorkspaceConfig(BaseModel):
    """What ``geobase.toml`` holds.

    The domain sections (``control``, ``products``, ``coverage``, ``tiles``, ``server``)
    are read by their own packages, each with its own model.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    crs: str = "EPSG:4548"
    store: str = "workspace.gpkg"
    # the folder under which the workspace's files (data/, tiles/, evidence/) lie; the
    # store records their paths relative to it. Default: the workspace folder; a relative
    # value is relative to the workspace folder (a PostGIS workspace on another machine
    # names where the archive is mounted there)
    data_root: str | None = None
    tiles_dir: str = "tiles"
    districts: str | None = None
    control: dict[str, Any] = Field(default_factory=dict)
    products: dict[str, dict[str, Any]] = Field(default_factory=dict)
    coverage: dict[str, Any] = Field(default_factory=dict)
    tiles: dict[str, Any] = Field(default_factory=dict)
    server: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> WorkspaceConfig:
        """Read and validate a ``geobase.toml``."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise WorkspaceError(f"{path}: cannot be read ({exc})") from None
        except tomllib.TOMLDecodeError as exc:
            raise WorkspaceError(f"{path}: not valid TOML ({exc})") from None
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(top)"
            raise WorkspaceError(f"{path}: {where}: {first['msg']}") from None

    def write(self, path: Path) -> None:
        """Write the configuration (atomically: a temporary file renamed into place)."""
        data = self.model_dump(exclude_none=True)
        tmp = path.with_suffix(".toml.tmp")
        tmp.write_text(tomli_w.dumps(data), encoding="utf-8")
        tmp.replace(path)
