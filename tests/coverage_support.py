"""Synthetic districts and footprints whose coverage is known by construction.

Everything is drawn on the EPSG:4548 plane (metres) and stored the way the catalogue
stores it (EPSG:4490), so the tests also check that coverage projects back exactly.

Districts (2 km tall): A = x 500000-502100, B = x 502100-504000, y 2580000-2582000; the
1:500 sheet column x 502000-502250 is cut by the A/B boundary (100 m in A, 150 m in B).

Datasets of product dlg500 (see FOOTPRINTS): f1 has two versions (the second, acquired
2024-03-01, doubles its footprint), f5 is removed on 2024-01-15.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Transformer

from geobase.store import utc_now
from geobase.store.districts import load_districts

GK = "EPSG:4548"
A = shapely.box(500000, 2580000, 502100, 2582000)
B = shapely.box(502100, 2580000, 504000, 2582000)

# (dataset_id, version, GK box, acquired_end)
FOOTPRINTS = [
    ("f1", 1, (500000, 2580000, 501000, 2581000), "2018-06-30"),
    ("f1", 2, (500000, 2580000, 501000, 2582000), "2024-03-01"),
    ("f2", 1, (500500, 2580500, 501500, 2581500), "2023-12-31"),
    ("f3", 1, (502000, 2581000, 502100, 2581250), "2022-01-01"),
    ("f4", 1, (503000, 2580000, 503125, 2580250), "2021-01-01"),
    ("f5", 1, (503500, 2581500, 504000, 2582000), "2019-01-01"),
]
REMOVED = [("f5", 1, "2024-01-15T08:00:00.000Z")]

_TO_4490 = Transformer.from_crs(GK, "EPSG:4490", always_xy=True)


def to_4490(geom: shapely.Geometry, densify: bool = True) -> shapely.Geometry:
    """A GK geometry in CGCS2000 lon/lat, densified to 10 m first so edges stay straight.

    ``densify=False`` projects the vertices only (GEOS densification repairs an invalid
    polygon its own way: a bow-tie would lose one of its triangles).
    """

    def project(xy: np.ndarray) -> np.ndarray:
        x, y = _TO_4490.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(shapely.segmentize(geom, 10.0) if densify else geom, project)


def load_test_districts(ws, tmp_path: Path) -> None:
    """Write districts A and B (GK) to a GeoJSON file and load it."""
    path = tmp_path / "districts.geojson"
    gpd.GeoDataFrame(
        {"name": ["A区", "B区"], "name_en": ["A", "B"]},
        geometry=shapely.segmentize([A, B], 10.0),  # straight on the GK plane once in 4490
        crs=GK,
    ).to_file(path, driver="GeoJSON")
    load_districts(ws.store, path)


def add_dataset(
    ws,
    dataset_id: str,
    geom_gk: shapely.Geometry,
    acquired: str | None,
    *,
    version: int = 1,
    product: str = "dlg500",
    kind: str = "vector",
    densify: bool = True,
) -> None:
    """Insert one catalogue row the way ingestion would (footprint in EPSG:4490)."""
    footprint = to_4490(geom_gk, densify)
    if footprint.geom_type == "Polygon":
        footprint = shapely.MultiPolygon([footprint])
    with ws.store.transaction() as tx:
        tx.insert(
            "datasets",
            {
                "dataset_id": dataset_id,
                "version": version,
                "product": product,
                "kind": kind,
                "title": dataset_id,
                "acquired_start": acquired,
                "acquired_end": acquired,
                "ingested_at": utc_now(),
                "classification": "internal",
                "path": f"data/{dataset_id}",
                "checksum": f"{dataset_id}-{version}",
                "geom": tx.geom(footprint, 4490),
            },
        )
        tx.touch("datasets")


def remove_dataset(ws, dataset_id: str, version: int, at: str) -> None:
    with ws.store.transaction() as tx:
        tx.insert(
            "dataset_events",
            {"dataset_id": dataset_id, "version": version, "event": "removed", "at": at},
        )


def build(ws, tmp_path: Path) -> None:
    """Districts A, B and every footprint of FOOTPRINTS, with the removal of f5."""
    load_test_districts(ws, tmp_path)
    for dataset_id, version, box, acquired in FOOTPRINTS:
        add_dataset(ws, dataset_id, shapely.box(*box), acquired, version=version)
    for dataset_id, version, at in REMOVED:
        remove_dataset(ws, dataset_id, version, at)


def write_plan(path: Path, body: str | None = None) -> Path:
    """A small plan file for the synthetic city (or ``body`` verbatim)."""
    if body is None:
        body = """
name = "测试规划"
name_en = "test plan"
start = 2021
end = 2025

[products.dlg500]
measure = "covered"
sheet_scale = 500
baseline = { km2 = 1.0, share = 0.125 }
targets = { 2023 = 0.25, 2024 = 0.5, 2025 = 1.0 }

[products.dlg500.districts."A区"]
baseline = { km2 = 1.0 }
targets = { 2024 = 0.75 }
"""
    path.write_text(body, encoding="utf-8")
    return path


def dump(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True)
