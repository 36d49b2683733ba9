"""What changed since a pyramid's last build: the region an update must re-render.

A dataset version painted last time but not current now (superseded or removed) changes
the tiles under its old footprint; a current one not painted last time (added, or the new
version of a superseded one) changes those under its new footprint. The region is the
union of those footprints, in the tile matrix set's CRS; the builder adds the ancestors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import shapely
from rasterio.warp import transform
from shapely.geometry.base import BaseGeometry


def changed_keys(old: Mapping[str, object], new: Sequence) -> tuple[set[str], set[str]]:
    """(keys painted last time and gone now, keys current now and not painted last time)."""
    now = {r.key for r in new}
    return set(old) - now, now - set(old)


def changed_region(
    old: Mapping[str, BaseGeometry | None], new: Sequence, crs
) -> list[BaseGeometry]:
    """Footprints (EPSG:4490) of the changed datasets, transformed to ``crs``.

    Args:
        old: ``dataset_id@version`` -> footprint, as recorded at the last build.
        new: the current sources (objects with ``key`` and ``footprint``).
        crs: the tile matrix set's CRS (anything pyproj accepts).
    """
    gone, added = changed_keys(old, new)
    footprints = [old[k] for k in sorted(gone)]
    footprints += [r.footprint for r in new if r.key in added]
    kept = [f for f in footprints if f is not None and not f.is_empty]
    if not kept:
        return []
    out = []
    for geom in kept:
        # about 100 m steps: straight edges in degrees bend a little in Web Mercator
        dense = shapely.segmentize(geom, 0.001)
        out.append(shapely.transform(dense, lambda xy: _xy(crs, xy)))
    return out


def _xy(crs, xy):
    # GDAL's transformer (rasterio), not pyproj's: GDAL keeps its transformations
    # cached, where pyproj.Transformer.from_crs costs ~70 ms on every update
    x, y = transform("EPSG:4490", crs, xy[:, 0], xy[:, 1])
    return np.column_stack([x, y])
