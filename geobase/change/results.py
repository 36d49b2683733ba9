"""Change results read back: a ``geobase change detect`` GeoPackage as a servable layer.

:func:`read_result` reads the ``changes`` layer of a result (checking it is one) in
degrees, with the epochs it compares; :func:`source_classification` is who may see it:
the strictest classification of the catalogue datasets it derives from (as a pyramid
takes the strictest of its sources'). An epoch given as a raster file has no catalogue
record, so nothing says who may see it: such a result counts as ``restricted``
(failing closed, but still visible to the bureau's highest clearance).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geobase.errors import ChangeResultError
from geobase.store import Store

LAYER = "changes"
# the columns of that layer, as geobase.change.detect writes them (besides the geometry)
COLUMNS = (
    "change_id",
    "kind",
    "direction",
    "evidence",
    "area_m2",
    "score",
    "height_m",
    "before_date",
    "after_date",
    "before_ids",
    "after_ids",
)
# what a viewer needs of each change (the columns geobase.change.detect writes)
REQUIRED = ("change_id", "kind", "evidence", "area_m2", "before_ids", "after_ids")
STRICTEST = "restricted"


@dataclass(frozen=True)
class ChangeLayer:
    """A change result as read back.

    Attributes:
        path: the GeoPackage.
        changes: the change polygons (GeoDataFrame, EPSG:4490 degrees), largest first.
        before_ids, after_ids: the datasets (or file names) of each epoch.
        before_dates, after_dates: their acquisition dates (ISO text), oldest first.
    """

    path: Path
    changes: Any
    before_ids: tuple[str, ...]
    after_ids: tuple[str, ...]
    before_dates: tuple[str, ...]
    after_dates: tuple[str, ...]

    @property
    def source_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.before_ids + self.after_ids))

    @property
    def bounds(self) -> tuple[float, float, float, float] | None:
        """(west, south, east, north) in degrees; None without changes."""
        if not len(self.changes):
            return None
        return tuple(round(float(v), 7) for v in self.changes.total_bounds)  # type: ignore[return-value]


def _split(values: Any) -> tuple[str, ...]:
    out: dict[str, None] = {}
    for value in values:
        if isinstance(value, str):
            for part in value.split(","):
                if part.strip():
                    out[part.strip()] = None
    return tuple(out)


def _dates(values: Any) -> tuple[str, ...]:
    found = set()
    for value in values:
        if isinstance(value, dt.date):
            found.add(value.isoformat()[:10])
        elif isinstance(value, str) and value.strip():
            found.update(p.strip()[:10] for p in value.split(",") if p.strip())
    return tuple(sorted(found))


def read_result(path: str | Path) -> ChangeLayer:
    """The change result in the GeoPackage at ``path``.

    Raises:
        ChangeResultError: the file cannot be read, has no ``changes`` layer, lacks its
            columns or has no CRS.
    """
    import pyogrio

    path = Path(path)
    try:
        layers = {str(name) for name, _ in pyogrio.list_layers(path)}
        if LAYER not in layers:
            raise ChangeResultError(
                f"{path.name}: no {LAYER!r} layer (layers: {', '.join(sorted(layers)) or 'none'});"
                " not a 'geobase change detect' result"
            )
        frame = pyogrio.read_dataframe(path, layer=LAYER)
    except pyogrio.errors.DataSourceError as err:
        raise ChangeResultError(f"{path.name}: not a readable GeoPackage ({err})") from err
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ChangeResultError(
            f"{path.name}: layer {LAYER!r} lacks {', '.join(missing)}; not a change result"
        )
    if len(frame) and frame.crs is None:
        raise ChangeResultError(f"{path.name}: layer {LAYER!r} states no CRS")
    if len(frame):
        frame = frame.to_crs(4490)
    return ChangeLayer(
        path=path,
        changes=frame,
        before_ids=_split(frame["before_ids"]),
        after_ids=_split(frame["after_ids"]),
        before_dates=_dates(frame["before_date"]) if "before_date" in frame else (),
        after_dates=_dates(frame["after_date"]) if "after_date" in frame else (),
    )


def source_classification(store: Store, ids: tuple[str, ...]) -> str:
    """The strictest classification of the catalogue datasets ``ids`` (any version);
    ``restricted`` if one is not in the catalogue (a raster file) or ``ids`` is empty."""
    from geobase.classification import CLASSIFICATIONS, rank

    if not ids:
        return STRICTEST
    params = {f"i{n}": v for n, v in enumerate(ids)}
    marks = ", ".join(f":{k}" for k in params)
    with store.read() as tx:
        rows = tx.query(
            f"SELECT dataset_id, classification FROM datasets WHERE dataset_id IN ({marks})",
            params,
        )
    if {r["dataset_id"] for r in rows} != set(ids):
        return STRICTEST
    worst = max(rank(r["classification"]) for r in rows)
    # a misspelt level ranks above all: nobody sees it (geobase.classification.rank)
    return CLASSIFICATIONS[worst] if worst < len(CLASSIFICATIONS) else "unknown"
