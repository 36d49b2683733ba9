"""Change results (``geobase change detect``) for the viewer: ``/api/changes``.

Where results come from: the ``[server] changes`` setting, a list of GeoPackages or
folders of them (relative to the workspace; default ``changes/``, so a result written
as ``changes/2024.gpkg`` in the workspace is served without more ado), plus any given to
``geobase serve --changes PATH``. Folders are looked at again on every listing, and a
file is read again when it changes, so a result written while the service runs appears
without a restart. A result's id is its file name without ``.gpkg``.

Who sees a result: the strictest classification of the datasets it derives from
(:func:`geobase.change.results.source_classification`; an epoch given as a raster
file counts as restricted). A result the caller may not see answers as one that does
not exist. With each result come the pyramids the caller may see that paint its
epochs' datasets, so that the viewer can put the two epochs side by side.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from geobase.classification import may_see
from geobase.errors import NotFoundError
from geobase.names import check_name, is_name
from geobase.server.deps import Service, clearance_of, get, service_of
from geobase.values import plain

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api")


class ChangeRegistry:
    """The change results named by the settings, read once per version of each file."""

    def __init__(self, paths: list[Path]):
        self.paths = paths
        self._read: dict[Path, tuple[tuple[int, int], Any]] = {}
        self._lock = threading.Lock()

    def files(self) -> dict[str, Path]:
        """Result id -> file, in the order the settings name them (the first of two
        files with one name wins)."""
        found: dict[str, Path] = {}
        for entry in self.paths:
            candidates = sorted(entry.glob("*.gpkg")) if entry.is_dir() else [entry]
            for path in candidates:
                name = path.stem
                if not path.is_file():
                    logger.warning("change result %s does not exist; not served", path)
                elif not is_name(name):
                    logger.warning("change result %s: name not usable in URLs; not served", path)
                elif name in found:
                    logger.warning("change result %s: %s has its name; not served", path, name)
                else:
                    found[name] = path
        return found

    def result(self, path: Path) -> Any:
        """The result in ``path`` (a :class:`geobase.change.results.ChangeLayer`), or
        None where it is not one (logged)."""
        from geobase.change.results import read_result
        from geobase.errors import ChangeResultError

        stat = path.stat()
        version = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            hit = self._read.get(path)
        if hit is not None and hit[0] == version:
            return hit[1]
        try:
            value = read_result(path)
        except ChangeResultError as exc:
            logger.warning("change result %s not served: %s", path, exc)
            value = None
        with self._lock:
            self._read[path] = (version, value)
        return value

    def visible(self, service: Service, clearance: str) -> dict[str, tuple[Any, str]]:
        """Result id -> (result, classification) for the results ``clearance`` reaches."""
        from geobase.change.results import source_classification

        out = {}
        for name, path in self.files().items():
            try:
                result = self.result(path)
            except OSError as exc:  # removed while listing
                logger.warning("change result %s: %s", path, exc)
                continue
            if result is None:
                continue
            level = source_classification(service.ws.store, result.source_ids)
            if may_see(level, clearance):
                out[name] = (result, level)
        return out


def registry_of(service: Service) -> ChangeRegistry:
    """The service's change registry (made on first use from its settings)."""
    if service.changes is None:
        root = service.settings.workspace
        paths = [p if p.is_absolute() else root / p for p in service.settings.changes]
        service.changes = ChangeRegistry(paths)
    return service.changes


def _pyramids(service: Service, clearance: str, ids: tuple[str, ...]) -> list[str]:
    """The visible pyramids painting any of the datasets ``ids``."""
    wanted = set(ids)
    return [
        layer.name
        for layer in service.layers.visible(clearance)
        if wanted.intersection(layer.datasets)
    ]


@get(router, "/changes", summary="Change results / 变化发现结果")
def changes(
    request: Request,
    service: Annotated[Service, Depends(service_of)],
    clearance: Annotated[str, Depends(clearance_of)],
) -> Response:
    """The change results the caller may see: epochs, counts, bounds and the pyramids of
    each epoch (to show them side by side)."""
    base = service.base_url(request)
    rows = []
    for name, (result, level) in registry_of(service).visible(service, clearance).items():
        frame = result.changes
        by_kind = {str(k): int(v) for k, v in frame["kind"].value_counts().items()}
        rows.append(
            {
                "id": name,
                "title": f"{name}: {'/'.join(result.before_dates) or '?'} → "
                f"{'/'.join(result.after_dates) or '?'}",
                "before_dates": list(result.before_dates),
                "after_dates": list(result.after_dates),
                "before_ids": list(result.before_ids),
                "after_ids": list(result.after_ids),
                "changes": len(frame),
                "changed_m2": round(float(frame["area_m2"].sum()), 1) if len(frame) else 0.0,
                "by_kind": by_kind,
                "bounds": list(result.bounds) if result.bounds else None,
                "classification": level,
                "href": f"{base}/api/changes/{name}",
                "pyramids": {
                    "before": _pyramids(service, clearance, result.before_ids),
                    "after": _pyramids(service, clearance, result.after_ids),
                },
            }
        )
    return service.json(
        request, {"changes": rows, "count": len(rows)}, private=clearance != "public"
    )


@get(router, "/changes/{result}", summary="Change polygons / 变化图斑 (GeoJSON)")
def change_polygons(
    request: Request,
    result: str,
    service: Annotated[Service, Depends(service_of)],
    clearance: Annotated[str, Depends(clearance_of)],
) -> Response:
    """One result's change polygons as GeoJSON (EPSG:4490 degrees), largest first
    (404 where it is unknown or above the caller's clearance)."""
    import shapely

    check_name(result, "change result")
    found = registry_of(service).visible(service, clearance).get(result)
    if found is None:
        raise NotFoundError(f"no change result {result[:80]!r}")
    frame, level = found[0].changes, found[1]
    from geobase.change.results import COLUMNS

    columns = [c for c in COLUMNS if c in frame.columns]
    features = [
        {
            "type": "Feature",
            "id": row[0],
            "geometry": None if geom is None else shapely.geometry.mapping(geom),
            "properties": {c: plain(v) for c, v in zip(columns, row, strict=True)},
        }
        for row, geom in zip(
            frame[columns].itertuples(index=False, name=None), frame.geometry, strict=True
        )
    ]
    doc = {
        "type": "FeatureCollection",
        "result": result,
        "classification": level,
        "features": features,
    }
    return service.json(
        request, doc, private=clearance != "public", media_type="application/geo+json"
    )
