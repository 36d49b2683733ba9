"""Offline validation of an exported STAC catalogue against schemas shipped with geobase.

pystac's own validator fetches extension schemas from stac-extensions.github.io, which on
a bureau network waits for a timeout and fails. Here pystac's
:class:`~pystac.validation.stac_validator.JsonSchemaSTACValidator` is given every schema it
needs up front (the core and GeoJSON schemas pystac ships, the extension schemas in
``geobase/catalog/stac_schemas``) and refuses any other URI instead of fetching it, so
validation never touches the network and gives the same answer anywhere.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema.exceptions
import jsonschema.validators
import pystac
from pystac.validation import validate_dict
from pystac.validation.stac_validator import GetSchemaError, JsonSchemaSTACValidator
from referencing import Registry, Resource

from geobase.errors import StoreError

SCHEMA_FILES = (
    "projection-v2.0.0.json",
    "file-v2.1.0.json",
    "raster-v1.1.0.json",
    "eo-v1.1.0.json",
    "pointcloud-v1.0.0.json",
)


class SchemaNotShipped(StoreError, LookupError):
    """A STAC object names a schema that geobase does not ship (nothing is fetched)."""


class StacInvalid(StoreError, ValueError):
    """A STAC object does not validate against its schemas."""


@cache
def shipped_schemas() -> dict[str, dict[str, Any]]:
    """The extension schemas shipped with geobase, keyed by the URI in their ``$id``."""
    folder = resources.files("geobase.catalog.stac_schemas")
    schemas = {}
    for name in SCHEMA_FILES:
        schema = json.loads(folder.joinpath(name).read_text(encoding="utf-8"))
        schemas[schema["$id"]] = schema
    return schemas


class OfflineValidator(JsonSchemaSTACValidator):
    """pystac's JSON Schema validator with every schema local; unknown URIs are refused.

    pystac checks each schema against its metaschema and rebuilds its reference registry
    for every object it validates; here both are done once per schema, which makes a
    catalogue of a hundred objects validate in a fraction of a second.
    """

    def __init__(self) -> None:
        super().__init__()
        self.schema_cache.update(shipped_schemas())
        self._registry = Registry().with_resources(
            (uri, Resource.from_contents(schema)) for uri, schema in self.schema_cache.items()
        )
        self._validators: dict[str, Any] = {}

    def _validate_from_uri(
        self,
        stac_dict: dict[str, Any],
        stac_object_type: Any,
        schema_uri: str,
        href: str | None = None,
    ) -> None:
        validator = self._validators.get(schema_uri)
        if validator is None:
            schema = self._get_schema(schema_uri)
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            validator = self._validators[schema_uri] = cls(schema, registry=self._registry)
        errors = list(validator.iter_errors(stac_dict))
        if errors:
            best = jsonschema.exceptions.best_match(errors)
            raise pystac.STACValidationError(
                f"Validation failed for {stac_object_type} with ID {stac_dict.get('id')} "
                f"against schema at {schema_uri}\n{best}",
                source=errors,
            )

    def _get_schema(self, schema_uri: str) -> dict[str, Any]:
        try:
            return self.schema_cache[schema_uri]
        except KeyError:
            raise GetSchemaError(
                schema_uri, LookupError("not shipped with geobase; nothing is fetched")
            ) from None


def _reason(exc: pystac.STACValidationError) -> str:
    """The deepest schema error (where in the object, and what), on one line.

    jsonschema's best match for an object that fails a ``oneOf`` (Item or Collection) is
    the ``oneOf`` itself, with the whole object in its message; the deepest error inside
    names the field that is wrong.
    """
    errors = list(exc.source or [])
    deepest = None
    while errors:
        error = errors.pop()
        if deepest is None or len(error.absolute_path) > len(deepest.absolute_path):
            deepest = error
        errors.extend(error.context or [])
    if deepest is None:
        return str(exc).splitlines()[0]
    where = "/".join(str(p) for p in deepest.absolute_path) or "(the object)"
    return f"{where}: {deepest.message}"[:300]


def validate(root: str | Path) -> dict[str, Any]:
    """Validate every object of an exported STAC catalogue, core and extensions, offline.

    Returns:
        ``{"objects": n, "extensions": [schema URIs checked]}``

    Raises:
        StacInvalid: an object does not validate (its id and the first reason).
        SchemaNotShipped: an object names an extension schema geobase does not ship.
    """
    catalog = pystac.read_file(str(root))
    if not isinstance(catalog, pystac.Catalog):
        raise StacInvalid(f"{root}: a {catalog.STAC_OBJECT_TYPE.value} is not a catalogue")
    objects: list[pystac.STACObject] = [catalog]
    for child in catalog.get_children():
        objects.append(child)
        objects.extend(child.get_items())
    validator = OfflineValidator()
    used: set[str] = set()
    for obj in objects:
        d = obj.to_dict(include_self_link=False, transform_hrefs=False)
        for uri in d.get("stac_extensions", []):
            if uri not in validator.schema_cache:
                raise SchemaNotShipped(
                    f"STAC {obj.STAC_OBJECT_TYPE} {obj.id} names the schema {uri}, which "
                    "geobase does not ship; validate it online or add the schema"
                )
        try:
            validate_dict(d, validator=validator, href=obj.get_self_href())
        except pystac.STACValidationError as exc:
            schema = str(exc).splitlines()[0].rsplit(" against schema at ", 1)[-1]
            raise StacInvalid(
                f"STAC {type(obj).__name__.lower()} {obj.id} does not validate against "
                f"{schema}: {_reason(exc)}"
            ) from exc
        used.update(d.get("stac_extensions", []))
    return {"objects": len(objects), "extensions": sorted(used)}
