"""Check a delivery against its product's specification: the one entry point that
``geobase qc`` and ``geobase ingest --qc`` call."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pyproj import CRS

from geobase.catalog.products import PRODUCTS, products_for
from geobase.catalog.records import current_datasets
from geobase.errors import UnsupportedInput
from geobase.geodesy import resolve_crs
from geobase.ingest import detect
from geobase.ingest.metadata import Acquired, parse_window
from geobase.qc import dem, imagery, pointcloud, seams, vector
from geobase.qc.context import Context, Progress
from geobase.qc.defects import QCReport
from geobase.qc.settings import thresholds_for
from geobase.store import Workspace

logger = logging.getLogger(__name__)

DEFAULT_CRS = "EPSG:4548"
FORMATS = {"imagery": "raster", "dem": "raster", "pointcloud": "pointcloud", "vector": "vector"}


def check_delivery(
    paths: Sequence[str | Path],
    product: str,
    *,
    workspace: Workspace | None = None,
    crs: str | CRS | None = None,
    acquired: str | Acquired | None = None,
    settings: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> QCReport:
    """Run every check of ``product``'s kind on the files of a delivery.

    Args:
        paths: the delivery's files (as given: defects name them so).
        product: the product code (its kind chooses the checks, its settings the
            thresholds).
        workspace: inside a workspace, its products, CRS, ``[qc.<product>]`` thresholds
            and catalogue (orthophoto seams with catalogued neighbours); None: the
            default products and only the files given.
        crs: the CRS the delivery must be in (default: the workspace's, else EPSG:4548);
            a file stating none is placed in it and reported.
        acquired: the stated acquisition window (``YYYY-MM-DD[/YYYY-MM-DD]``) that point
            clouds' GPS times must lie in (default: each file's sidecar).
        settings: ``[qc.<product>]`` tables (default: the workspace's ``[qc]``).
        progress: called with (files done, files in all).

    Returns:
        The report: defects with their places, the checks that ran, notes.

    Raises:
        NotFoundError: an unknown product.
        UnsupportedInput: a product without checks (3D models), a file of another kind
            than the product's, no file.
        SourceReadError, MissingCRS, ConfigError, UnknownCRS: bad input.

    Example:
        >>> report = check_delivery(["ortho.tif"], "dom02")  # doctest: +SKIP
        >>> [d.check for d in report.blocking]  # doctest: +SKIP
        ['dom.nodata_hole']
    """
    if not paths:
        raise UnsupportedInput("nothing to check: no file given")
    registry = products_for(workspace.config.products) if workspace is not None else PRODUCTS
    spec = registry.get(product)
    if spec.kind not in FORMATS:
        raise UnsupportedInput(
            f"product {product} ({spec.kind}) has no acceptance checks; checks exist for "
            "imagery, DEM, point-cloud and vector products"
        )
    qc_settings: Mapping[str, Any] = (
        settings if settings is not None else (workspace.config.qc if workspace else {})
    )
    thresholds = thresholds_for(spec.kind, product, qc_settings)
    wanted = thresholds.crs or crs or (workspace.config.crs if workspace else DEFAULT_CRS)
    required = resolve_crs(wanted) if not isinstance(wanted, CRS) else wanted
    window = parse_window(acquired) if isinstance(acquired, str) else acquired
    files = [(str(p), Path(p)) for p in paths]
    for given, path in files:
        fmt = detect.detect_format(path)
        if fmt != FORMATS[spec.kind]:
            raise UnsupportedInput(
                f"{given}: a {fmt} file, but product {product} is {spec.kind}; check it "
                "with a product of its kind"
            )
    report = QCReport(product=product, files=[g for g, _ in files])
    ctx = Context(spec, thresholds, required, report, workspace, window, None)
    opened: list[Any] = []
    for i, (given, path) in enumerate(files):
        if spec.kind == "imagery":
            opened.append(imagery.check(ctx, given, path))
        elif spec.kind == "dem":
            opened.append(dem.check(ctx, given, path))
        elif spec.kind == "pointcloud":
            pointcloud.check(ctx, given, path)
        else:
            opened.append(vector.check(ctx, given, path))
        if progress is not None:
            progress(i + 1, len(files) + 1)
    if spec.kind == "imagery":
        seams.check_pairs(ctx, opened, _catalogued_neighbours(workspace, opened, files))
    elif spec.kind == "dem":
        dem.check_edges(ctx, opened)
    elif spec.kind == "vector":
        vector.check_edges(ctx, opened)
    if progress is not None:
        progress(len(files) + 1, len(files) + 1)
    order = {g: i for i, (g, _) in enumerate(files)}
    report.defects.sort(key=lambda d: order.get(d.file, len(order)))
    return report


def _catalogued_neighbours(
    workspace: Workspace | None, opened: list[Any], files: list[tuple[str, Path]]
) -> list[seams.Neighbour]:
    """Catalogued orthophotos whose footprints meet the delivery's (not the delivered
    files themselves, when they are already in the catalogue)."""
    if workspace is None or not opened:
        return []
    import shapely

    area = shapely.union_all([o.footprint for o in opened])
    west, south, east, north = area.bounds
    frame = current_datasets(workspace.store, bbox=(west, south, east, north))
    frame = frame[(frame["kind"] == "imagery") & frame.geometry.intersects(area)]
    delivered = {p.resolve() for _, p in files}
    out = []
    for row in frame.to_dict("records"):
        path = workspace.file(str(row["path"]))
        if not path.exists() or path.resolve() in delivered:
            continue
        label = f"catalogued {row['dataset_id']} v{row['version']}"
        out.append(seams.Neighbour(label, path, row["geometry"]))
    return out
