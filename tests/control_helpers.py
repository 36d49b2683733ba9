"""Helpers shared by the control-point tests: a workspace with districts, sample rows."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import shapely

from geobase.geodesy.transform import transform

ROOT = Path(__file__).resolve().parents[1]
DISTRICTS = ROOT / "datasets" / "districts" / "shantou_districts.geojson"

# a point in 金平区 and the worked example of DOMAIN.md (23.354N 116.682E, EPSG:4548)
LON, LAT = 116.682, 23.354
X, Y = 2583777.6078, 467483.3555

HEADER = ["点号", "点名", "等级", "纬度", "经度", "X", "Y", "H", "区县", "标石类型", "埋设日期"]


def good_row(point_id: str = "C001", **changes) -> dict[str, str]:
    row = {
        "点号": point_id,
        "点名": "金平一号",
        "等级": "C级",
        "纬度": f"{LAT}",
        "经度": f"{LON}",
        "X": f"{X}",
        "Y": f"{Y}",
        "H": "3.215",
        "区县": "金平区",
        "标石类型": "观测墩",
        "埋设日期": "2015-06-01",
    }
    row.update(changes)
    return row


def write_csv(path: Path, rows: list[dict], header=None, encoding: str = "utf-8") -> Path:
    header = header or list(rows[0]) if rows else header or HEADER
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.DictWriter(handle, header, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
    return path


def random_points_in_districts(ws, count: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """``count`` random (lon, lat) inside the workspace's districts (100 m from edges)."""
    from geobase.store.districts import list_districts

    area = shapely.union_all(list_districts(ws.store).geometry.values).buffer(-0.001)
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = area.bounds
    lons, lats = [], []
    while sum(len(a) for a in lons) < count:
        x = rng.uniform(minx, maxx, count)
        y = rng.uniform(miny, maxy, count)
        inside = shapely.contains_xy(area, x, y)
        lons.append(x[inside])
        lats.append(y[inside])
    return np.concatenate(lons)[:count], np.concatenate(lats)[:count]


def bulk_rows(lons, lats, prefix: str = "R", with_grid: bool = True) -> list[dict]:
    rows = []
    ys, xs = transform(lons, lats, 4490, 4548)
    for k, (lon, lat, x, y) in enumerate(zip(lons, lats, xs, ys, strict=True)):
        row = {
            "点号": f"{prefix}{k:06d}",
            "点名": f"测试点{k}",
            "等级": "DE"[k % 2],
            "纬度": f"{lat:.9f}",
            "经度": f"{lon:.9f}",
        }
        if with_grid:
            row["X"], row["Y"] = f"{x:.4f}", f"{y:.4f}"
        rows.append(row)
    return rows


def three_marks(workspace, tmp_path: Path):
    """``workspace`` with the districts and three marks (C001 and C002, GNSS; L001,
    levelling), as the inspection tests use it."""
    from geobase.control.importer import import_points
    from geobase.store.districts import load_districts

    load_districts(workspace.store, DISTRICTS)
    rows = [
        good_row("C001"),
        good_row("C002", 纬度="23.36", 经度="116.70", X="", Y="", 区县=""),
        good_row("L001", 等级="三等水准", 纬度="23.365", 经度="116.69", X="", Y="", 区县=""),
    ]
    import_points(workspace, write_csv(tmp_path / "p.csv", rows))
    return workspace
