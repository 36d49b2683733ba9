"""3D model deliveries described by a 3D Tiles ``tileset.json``.

The footprint comes from the root tile's bounding volume: a ``region`` (radians on the
WGS 84 ellipsoid, taken as CGCS2000: the two frames agree to centimetres), or a ``box`` /
``sphere`` in the root tile's frame, carried to Earth-centred coordinates by the root
``transform``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer

from geobase.errors import SourceReadError, UnsupportedInput
from geobase.ingest.footprint import as_multipolygon

EARTH_SCALE = 6.0e6  # an ECEF coordinate of a point on Earth is at least this far from 0


@dataclass
class TilesetInfo:
    """A 3D Tiles tileset and the files of its delivery."""

    path: Path
    root_dir: Path
    data: dict[str, Any]
    files: list[Path]


def is_tileset(path: Path) -> bool:
    """A ``tileset.json`` file, or a folder that holds one."""
    if path.is_dir():
        return (path / "tileset.json").is_file()
    return path.name.lower() == "tileset.json" or (
        path.suffix.lower() == ".json" and _looks_like_tileset(path)
    )


def _looks_like_tileset(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8") as f:
            head = f.read(4096)
    except (OSError, UnicodeDecodeError):
        return False
    return '"asset"' in head and '"root"' in head and '"FeatureCollection"' not in head


def read_info(path: Path) -> TilesetInfo:
    """Parse a tileset and list the files of its folder.

    Raises:
        SourceReadError: the JSON cannot be read.
        UnsupportedInput: not a 3D Tiles tileset (no ``asset`` or ``root``).
    """
    if path.is_dir():
        path = path / "tileset.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SourceReadError(f"{path}: cannot be read ({exc.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceReadError(
            f"{path.name}: not valid JSON ({exc}); likely a truncated tileset"
        ) from None
    if not isinstance(data, dict) or "asset" not in data or not isinstance(data.get("root"), dict):
        raise UnsupportedInput(
            f"{path.name}: not a 3D Tiles tileset (expected 'asset' and 'root' members)"
        )
    root_dir = path.parent
    files = sorted(p for p in root_dir.rglob("*") if p.is_file())
    return TilesetInfo(path=path, root_dir=root_dir, data=data, files=files)


def _ecef_to_lonlat(xyz: np.ndarray) -> np.ndarray:
    t = Transformer.from_crs(4479, 4490, always_xy=True)  # CGCS2000 geocentric -> geographic
    lon, lat, _h = t.transform(xyz[:, 0], xyz[:, 1], xyz[:, 2])
    return np.column_stack([lon, lat])


def footprint(info: TilesetInfo):
    """The root bounding volume's footprint in EPSG:4490.

    Raises:
        UnsupportedInput: no bounding volume, or one that is not placed on the Earth.
    """
    root = info.data["root"]
    volume = root.get("boundingVolume")
    name = info.path.name
    if not isinstance(volume, dict) or not volume:
        raise UnsupportedInput(
            f"{name}: the root tile has no boundingVolume; the delivery cannot be located "
            "(likely an incomplete export), or ingest a footprint file with --product model3d"
        )
    if "region" in volume:
        west, south, east, north = (math.degrees(v) for v in volume["region"][:4])
        if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
            raise UnsupportedInput(f"{name}: boundingVolume.region is not a valid region")
        return as_multipolygon(shapely.box(west, south, east, north))
    matrix = np.eye(4)
    if "transform" in root:
        matrix = np.array(root["transform"], dtype=float).reshape(4, 4).T  # column-major
    if "box" in volume:
        b = np.array(volume["box"], dtype=float)
        if b.size != 12:
            raise UnsupportedInput(f"{name}: boundingVolume.box needs 12 numbers, got {b.size}")
        center, axes = b[:3], b[3:].reshape(3, 3)
        signs = np.array([[i, j, k] for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)])
        local = center + signs @ axes
    elif "sphere" in volume:
        s = np.array(volume["sphere"], dtype=float)
        center, radius = s[:3], s[3]
        signs = np.array([[i, j, k] for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)])
        local = center + signs * radius
    else:
        raise UnsupportedInput(
            f"{name}: boundingVolume {sorted(volume)} is not region, box or sphere"
        )
    ecef = (matrix @ np.column_stack([local, np.ones(len(local))]).T).T[:, :3]
    if np.linalg.norm(ecef.mean(axis=0)) < EARTH_SCALE:
        raise UnsupportedInput(
            f"{name}: the bounding volume is in a local frame with no root transform to "
            "Earth-centred coordinates; the tileset is not georeferenced"
        )
    lonlat = _ecef_to_lonlat(ecef)
    return as_multipolygon(shapely.convex_hull(shapely.multipoints(lonlat)))


def describe(info: TilesetInfo) -> dict[str, Any]:
    """Record fields for a tileset."""
    asset = info.data.get("asset", {})
    return {
        "metadata": {
            "format": "3D Tiles",
            "tileset_version": asset.get("version"),
            "geometric_error": info.data.get("geometricError"),
            "files": len(info.files),
        }
    }
