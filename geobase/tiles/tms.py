"""Tile matrix sets: WebMercatorQuad and CGCS2000Quad (Tianditu "c"), as a registry value.

``CGCS2000Quad`` is the CGCS2000 geographic grid of Tianditu's ``_c`` services
(DOMAIN.md section 8): EPSG:4490, top-left corner 90°N 180°W, 256 px tiles, level ``L``
has ``2^L x 2^(L-1)`` tiles (level 1 is 2 x 1), ``0.703125° / 2^(L-1)`` per pixel and OGC
scale denominator ``279541132.0143589 / 2^(L-1)``. morecantile ships ``WorldCRS84Quad``
(the same grid in CRS84, numbered from 0, so Tianditu level ``L`` = its zoom ``L-1``) but
no CGCS2000 grid; this one is built explicitly, with Tianditu's level numbers as matrix
ids and EPSG:4490's latitude-first axis order, as OGC TMS 2.0 writes it.

Example:
    >>> from geobase.tiles.tms import TMS
    >>> TMS.get("CGCS2000Quad").tile(116.68, 23.35, 18)
    Tile(x=216035, y=48533, z=18)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import morecantile
from morecantile.models import TileMatrixSet

from geobase.errors import NotFoundError, TileSettingsError

CGCS2000_MINLEVEL = 1
CGCS2000_MAXLEVEL = 24
#: OGC scale denominator of level 1 (0.703125° per pixel, 0.28 mm pixels, a = 6378137 m).
CGCS2000_SCALE_L1 = 279541132.0143589


def cgcs2000_quad(maxlevel: int = CGCS2000_MAXLEVEL) -> TileMatrixSet:
    """The Tianditu "c" grid on CGCS2000 (EPSG:4490), levels 1..``maxlevel``."""
    matrices = [
        {
            "id": str(level),
            "scaleDenominator": CGCS2000_SCALE_L1 / 2 ** (level - 1),
            "cellSize": 0.703125 / 2 ** (level - 1),
            "cornerOfOrigin": "topLeft",
            "pointOfOrigin": [90.0, -180.0],  # latitude, longitude (EPSG axis order)
            "tileWidth": 256,
            "tileHeight": 256,
            "matrixWidth": 2**level,
            "matrixHeight": 2 ** (level - 1),
        }
        for level in range(CGCS2000_MINLEVEL, maxlevel + 1)
    ]
    return TileMatrixSet.model_validate(
        {
            "id": "CGCS2000Quad",
            "title": "CGCS2000 geographic quad grid (Tianditu c / 天地图经纬度投影)",
            "crs": "http://www.opengis.net/def/crs/EPSG/0/4490",
            "orderedAxes": ["Lat", "Lon"],
            "tileMatrices": matrices,
        }
    )


@dataclass(frozen=True)
class TMSRegistry:
    """An immutable registry of tile matrix sets (after morecantile's ``tms``)."""

    sets: Mapping[str, TileMatrixSet] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sets", MappingProxyType(dict(self.sets)))

    def get(self, name: str) -> TileMatrixSet:
        """The tile matrix set called ``name``; NotFoundError names the known ones."""
        try:
            return self.sets[name]
        except KeyError:
            raise NotFoundError(
                f"unknown tile matrix set {name!r}; known: {', '.join(self.list())}"
            ) from None

    def list(self) -> list[str]:
        """Names of the registered tile matrix sets."""
        return list(self.sets)

    def __contains__(self, name: object) -> bool:
        return name in self.sets

    def register(self, tms: TileMatrixSet, *, overwrite: bool = False) -> TMSRegistry:
        """A new registry with ``tms`` added under its id."""
        if tms.id is None:
            raise TileSettingsError("a tile matrix set needs an id to be registered")
        if tms.id in self.sets and not overwrite:
            raise TileSettingsError(f"tile matrix set {tms.id!r} is already registered")
        return TMSRegistry({**self.sets, tms.id: tms})


TMS = TMSRegistry(
    {
        "WebMercatorQuad": morecantile.tms.get("WebMercatorQuad"),
        "CGCS2000Quad": cgcs2000_quad(),
    }
)


def tms_json(tms: TileMatrixSet) -> str:
    """The OGC TMS 2.0 JSON document of a tile matrix set."""
    return (
        json.dumps(tms.model_dump(mode="json", exclude_none=True), indent=2, ensure_ascii=False)
        + "\n"
    )


def tms_id(tms: TileMatrixSet) -> str:
    """The id of a tile matrix set geobase uses: every registered set has one
    (:meth:`TMSRegistry.register` refuses a set without), so that it names the set in
    URLs, records and capabilities.

    Raises:
        TileSettingsError: the set has no id.
    """
    if tms.id is None:
        raise TileSettingsError(f"tile matrix set {tms.title!r} has no id; give it one")
    return tms.id


def minzoom(tms: TileMatrixSet) -> int:
    return int(tms.tileMatrices[0].id)


def maxzoom(tms: TileMatrixSet) -> int:
    return int(tms.tileMatrices[-1].id)
