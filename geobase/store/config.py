"""The workspace configuration file, ``geobase.toml``."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from geobase.errors import ConfigError, WorkspaceError

CONFIG_NAME = "geobase.toml"
Section = TypeVar("Section", bound=BaseModel)


def config_error(
    model: type[BaseModel], section: str | None, exc: ValidationError, file: str = CONFIG_NAME
) -> ConfigError:
    """One line naming the first bad key of a ``geobase.toml`` table, its value and the
    rule it breaks (or the keys the table knows, for an unknown key)."""
    first = exc.errors()[0]
    loc = [str(p) for p in first["loc"]]
    where = f"[{section}] " if section else ""
    key = ".".join(loc) or "(table)"
    if first["type"] == "extra_forbidden":
        known = ", ".join(model.model_fields) or "none"
        return ConfigError(f"{file} {where}{key}: unknown key (known keys: {known})")
    if first["type"] == "missing":
        return ConfigError(f"{file} {where}{key}: required key missing")
    value = first.get("input")
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:60] + "..."
    return ConfigError(f"{file} {where}{key} = {shown}: {first['msg']}")


def parse_section(model: type[Section], table: Mapping[str, Any] | None, section: str) -> Section:
    """Validate one table of ``geobase.toml`` (``[tiles]``, ``[products.dom02]``) with the
    model of the package that reads it.

    Raises:
        ConfigError: an unknown key, a value of the wrong type or out of range.
    """
    if table is not None and not isinstance(table, Mapping):
        raise ConfigError(f"{CONFIG_NAME} [{section}]: expected a table, got {table!r}")
    try:
        return model.model_validate(dict(table or {}))
    except ValidationError as exc:
        raise config_error(model, section, exc) from exc


class WorkspaceConfig(BaseModel):
    """What ``geobase.toml`` holds.

    The domain sections (``control``, ``products``, ``coverage``, ``tiles``, ``server``,
    ``qc``)
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
    qc: dict[str, dict[str, Any]] = Field(default_factory=dict)  # [qc.<product>] thresholds

    @classmethod
    def read(cls, path: Path) -> WorkspaceConfig:
        """Read and validate a ``geobase.toml``."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise WorkspaceError(f"{path}: cannot be read ({exc})") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not UTF-8 text; save it as UTF-8") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise config_error(cls, None, exc, str(path)) from exc

    def write(self, path: Path) -> None:
        """Write the configuration (atomically: a temporary file renamed into place)."""
        from geobase.paths import atomic_output

        text = tomli_w.dumps(self.model_dump(exclude_none=True))
        with atomic_output(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
