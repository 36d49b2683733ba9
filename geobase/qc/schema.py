"""The code-list schema of a vector product: which field holds the feature
classification code, which attributes are required, which layers are coverages (no
overlaps, no gaps) and which codes exist (GB/T 13923 for DLG, shipped as package data)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from geobase.errors import ConfigError

DEFAULT_SCHEMA = "dlg.json"


class CodeSchema(BaseModel):
    """A product's code-list schema file."""

    model_config = ConfigDict(extra="forbid")

    name: str
    note: str = ""
    code_fields: list[str] = Field(min_length=1)
    required: list[str] = Field(default_factory=list)
    coverage_layers: list[str] = Field(default_factory=list)
    prefix_match: bool = False
    codes: dict[str, str] = Field(min_length=1)

    def code_field(self, fields: list[str]) -> str | None:
        """The first of :attr:`code_fields` a layer has."""
        return next((f for f in self.code_fields if f in fields), None)

    def known(self, code: str) -> bool:
        """Whether a code is in the list (or its class is, with prefix matching)."""
        code = code.strip()
        if code.endswith(".0"):
            code = code[:-2]  # a code stored as a real number
        if code in self.codes:
            return True
        return self.prefix_match and len(code) == 6 and code[:4] + "00" in self.codes


def load_schema(name: str | None, root: Path | None = None) -> CodeSchema:
    """The schema shipped as ``name`` (default :data:`DEFAULT_SCHEMA`), or a file path
    (relative to ``root``, the workspace).

    Raises:
        ConfigError: the file is missing, not JSON or not a schema.
    """
    name = name or DEFAULT_SCHEMA
    path = Path(name)
    shipped = resources.files("geobase.qc").joinpath("schemas", name)
    try:
        if shipped.is_file():
            text = shipped.read_text(encoding="utf-8")
        else:
            if not path.is_absolute() and root is not None:
                path = root / path
            text = path.read_text(encoding="utf-8-sig")
        return CodeSchema.model_validate(json.loads(text))
    except OSError as exc:
        raise ConfigError(f"code-list schema {name}: cannot be read ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"code-list schema {name}: not JSON ({exc.msg}, line {exc.lineno})"
        ) from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"code-list schema {name}: {where}: {first['msg']}") from exc
