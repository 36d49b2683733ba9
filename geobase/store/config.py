"""The workspace configuration file, ``geobase.toml``.

:class:`WorkspaceConfig` is its one schema: the fields' annotations, defaults and
``metadata`` (pydantic's ``Field`` arguments) say what each key takes.

Every command opens a workspace, so reading ``geobase.toml`` is on the path of every
one-record command (issue 17 item 8). A file whose values are all of the exact types the
fields name is taken as it is (:func:`_plain`: the checks pydantic would make, derived
from the annotations); anything else (a missing name, an unknown key, a value of another
type that pydantic might coerce or refuse) goes through pydantic's validator of the same
dataclass (:func:`_schema`), which refuses it with its one-line message or returns the
coerced values. pydantic is imported only then, or for a domain section
(:func:`parse_section`).
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import UnionType
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, Union, get_args, get_origin

from geobase.errors import ConfigError, WorkspaceError

if TYPE_CHECKING:
    from pydantic import BaseModel, TypeAdapter, ValidationError

CONFIG_NAME = "geobase.toml"
Section = TypeVar("Section", bound="BaseModel")


def config_error(
    known: Iterable[str], section: str | None, exc: ValidationError, file: str = CONFIG_NAME
) -> ConfigError:
    """One line naming the first bad key of a ``geobase.toml`` table, its value and the
    rule it breaks (or the keys the table knows, for an unknown key)."""
    first = exc.errors()[0]
    loc = [str(p) for p in first["loc"]]
    where = f"[{section}] " if section else ""
    key = ".".join(loc) or "(table)"
    # a model's unknown key, and a dataclass's (WorkspaceConfig)
    if first["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
        names = ", ".join(known) or "none"
        return ConfigError(f"{file} {where}{key}: unknown key (known keys: {names})")
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
        raise config_error(model.model_fields, section, exc) from exc


def _exactly(hint: Any) -> Callable[[Any], bool]:
    """A check that a value is exactly of the type ``hint`` names, so that pydantic
    would take it as it is; a type this does not know checks nothing as plain."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return lambda value: True
    if hint in (str, int, float, bool, type(None)):
        return lambda value: type(value) is hint
    if origin in (Union, UnionType):
        options = [_exactly(arg) for arg in args]
        return lambda value: any(check(value) for check in options)
    if origin is dict and len(args) == 2:
        key_ok, item_ok = _exactly(args[0]), _exactly(args[1])
        return lambda value: (
            type(value) is dict and all(key_ok(k) and item_ok(v) for k, v in value.items())
        )
    if origin is list and len(args) == 1:
        item_ok = _exactly(args[0])
        return lambda value: type(value) is list and all(item_ok(v) for v in value)
    return lambda value: False


def _field_check(hint: Any, metadata: Mapping[str, Any]) -> Callable[[Any], bool]:
    """:func:`_exactly` and the field's constraints (its ``metadata``, as pydantic reads
    it); a constraint other than ``min_length`` checks nothing as plain."""
    exact = _exactly(hint)
    if not metadata:
        return exact
    if set(metadata) != {"min_length"}:
        return lambda value: False
    least = metadata["min_length"]
    return lambda value: (
        exact(value) and (value is None or (hasattr(value, "__len__") and len(value) >= least))
    )


@cache
def _field_checks() -> tuple[dict[str, Callable[[Any], bool]], frozenset[str]]:
    """Per field of :class:`WorkspaceConfig`, from its annotation: the check of a plain
    value; and the fields without a default."""
    fields = dataclasses.fields(WorkspaceConfig)
    # the annotations are text (``from __future__ import annotations``), a few kinds
    hints = {text: eval(text, globals()) for text in {str(f.type) for f in fields}}
    checks = {f.name: _field_check(hints[str(f.type)], f.metadata) for f in fields}
    missing = dataclasses.MISSING
    required = frozenset(
        f.name for f in fields if f.default is missing and f.default_factory is missing
    )
    return checks, required


def _plain(data: Mapping[str, Any]) -> bool:
    """Whether ``data`` passes the schema as it is: known keys, the required ones there,
    and every value of exactly the type its field names, within its constraints (no
    coercion to make).

    False says nothing about validity: such data goes through pydantic.
    """
    checks, required = _field_checks()
    if not required <= data.keys():
        return False
    for key, value in data.items():
        check = checks.get(key)
        if check is None or not check(value):
            return False
    return True


@cache
def _schema() -> TypeAdapter[WorkspaceConfig]:
    """pydantic's validator of :class:`WorkspaceConfig` (made, and pydantic imported, on
    first need)."""
    from pydantic import TypeAdapter

    class Validated(WorkspaceConfig):
        """WorkspaceConfig as pydantic makes it: its values are checked already (and
        checking them again would come back here)."""

        def __post_init__(self) -> None:
            pass

    return TypeAdapter(Validated)


@dataclass
class WorkspaceConfig:
    """What ``geobase.toml`` holds (checked on creation; see the module's docstring).

    The domain sections (``control``, ``products``, ``coverage``, ``tiles``, ``server``,
    ``qc``) are read by their own packages, each with its own model.

    Raises:
        ConfigError: on creation, an unknown key, a missing or empty name, a value of
            the wrong type.
    """

    # pydantic's configuration of this class, for the values that are not plain (a plain
    # dict: pydantic.ConfigDict is one, and importing pydantic here would cost every command)
    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}

    name: str = field(metadata={"min_length": 1})  # pydantic's Field arguments
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
        """``data`` through pydantic: its values, or its refusal."""
        from pydantic import ValidationError

        try:
            return _schema().validate_python(dict(data)).model_dump()
        except ValidationError as exc:
            known = [f.name for f in dataclasses.fields(WorkspaceConfig)]
            raise config_error(known, None, exc, file) from exc

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
