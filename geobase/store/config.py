"""The workspace configuration file, ``geobase.toml``.

Every command opens a workspace, so reading ``geobase.toml`` is on the path of every
one-record command (issue 17 item 8). A file whose values are all of the exact types the
schema names is taken as it is (:func:`_plain`: the checks pydantic would make, made by
hand); anything else (a missing name, an unknown key, a value of another type that
pydantic might coerce or refuse) goes through the pydantic schema
(:mod:`geobase.store.config_schema`), which refuses it with its one-line message or
returns the coerced values. pydantic is imported only then, or for a domain section
(:func:`parse_section`).
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from geobase.errors import ConfigError, WorkspaceError

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

CONFIG_NAME = "geobase.toml"
Section = TypeVar("Section", bound="BaseModel")


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
    from pydantic import ValidationError

    if table is not None and not isinstance(table, Mapping):
        raise ConfigError(f"{CONFIG_NAME} [{section}]: expected a table, got {table!r}")
    try:
        return model.model_validate(dict(table or {}))
    except ValidationError as exc:
        raise config_error(model, section, exc) from exc


TEXT_FIELDS = ("name", "crs", "store", "tiles_dir")
OPTIONAL_TEXT_FIELDS = ("data_root", "districts")
TABLE_FIELDS = ("control", "coverage", "tiles", "server")
TABLES_FIELDS = ("products", "qc")  # tables of tables: [products.dom02], [qc.dom02]


def _plain(data: Mapping[str, Any]) -> bool:
    """Whether ``data`` passes the schema as it is: known keys, a non-empty name, and
    every value of exactly the type the schema names (no coercion to make).

    False says nothing about validity: such data goes through the pydantic schema.
    """
    known = {f.name for f in dataclasses.fields(WorkspaceConfig)}
    if not set(data) <= known:
        return False
    name = data.get("name")
    if type(name) is not str or not name:
        return False
    for key, value in data.items():
        if key in TEXT_FIELDS:
            ok = type(value) is str
        elif key in OPTIONAL_TEXT_FIELDS:
            ok = value is None or type(value) is str
        elif key in TABLE_FIELDS:
            ok = type(value) is dict and all(type(k) is str for k in value)
        else:  # TABLES_FIELDS
            ok = (
                type(value) is dict
                and all(type(k) is str for k in value)
                and all(type(v) is dict and all(type(k) is str for k in v) for v in value.values())
            )
        if not ok:
            return False
    return True


@dataclass
class WorkspaceConfig:
    """What ``geobase.toml`` holds (checked on creation; see the module's docstring).

    The domain sections (``control``, ``products``, ``coverage``, ``tiles``, ``server``,
    ``qc``) are read by their own packages, each with its own model.

    Raises:
        ConfigError: on creation, an unknown key, a missing or empty name, a value of
            the wrong type.
    """

    name: str
    crs: str = "EPSG:4548"
    store: str = "workspace.gpkg"
    # the folder under which the workspace's files (data/, tiles/, evidence/) lie; the
    # store records their paths relative to it. Default: the workspace folder; a relative
    # value is relative to the workspace folder (a PostGIS workspace on another machine
    # names where the archive is mounted there)
    data_root: str | None = None
    tiles_dir: str = "tiles"
    districts: str | None = None
    control: dict[str, Any] = field(default_factory=dict)
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    coverage: dict[str, Any] = field(default_factory=dict)
    tiles: dict[str, Any] = field(default_factory=dict)
    server: dict[str, Any] = field(default_factory=dict)
    qc: dict[str, dict[str, Any]] = field(default_factory=dict)  # [qc.<product>] thresholds

    def __post_init__(self) -> None:
        values = self.model_dump()
        if not _plain(values):
            for key, value in self._validated(values, CONFIG_NAME).items():
                setattr(self, key, value)

    @staticmethod
    def _validated(data: Mapping[str, Any], file: str) -> dict[str, Any]:
        """``data`` through the pydantic schema: its values, or its refusal."""
        from pydantic import ValidationError

        from geobase.store.config_schema import WorkspaceSchema

        try:
            return WorkspaceSchema.model_validate(dict(data)).model_dump()
        except ValidationError as exc:
            raise config_error(WorkspaceSchema, None, exc, file) from exc

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], file: str = CONFIG_NAME) -> WorkspaceConfig:
        """A configuration from a parsed ``geobase.toml`` (``file`` names it in errors)."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{file}: expected a table, got {data!r}")
        return cls(**(dict(data) if _plain(data) else cls._validated(data, file)))

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
        return cls.from_mapping(data, str(path))

    def model_dump(self, exclude_none: bool = False) -> dict[str, Any]:
        """The values as a dict (as pydantic's method of that name)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {k: v for k, v in values.items() if v is not None} if exclude_none else values

    def model_copy(self, update: Mapping[str, Any] | None = None) -> WorkspaceConfig:
        """A copy with some values replaced, checked again (as pydantic's method)."""
        return dataclasses.replace(self, **dict(update or {}))

    def write(self, path: Path) -> None:
        """Write the configuration (atomically: a temporary file renamed into place)."""
        import tomli_w

        from geobase.paths import atomic_output

        text = tomli_w.dumps(self.model_dump(exclude_none=True))
        with atomic_output(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
