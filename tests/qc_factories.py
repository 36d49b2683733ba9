"""A generated delivery set for the acceptance checks: clean files and files with one
planted defect of each kind, at known places (Shantou, EPSG:4548)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import geopandas as gpd
import laspy
import numpy as np
import rasterio
import rasterio.shutil
import shapely
from affine import Affine
from pyproj import CRS, Transformer
from rasterio.io import MemoryFile

EAST0, NORTH0 = 467000.0, 2584000.0
RES = 0.5  # dom05
SIZE = 200  # px: 100 m
SIDECAR = {"acquired": "2024-03-02", "sensor": "UltraCam Eagle M3", "producer": "测绘院"}


def texture(height: int, width: int, seed: int = 3) -> np.ndarray:
    """Three bands of smooth, correlated texture (an aerial image's), values 30..220."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 1, (3, height // 4 + 2, width // 4 + 2))
    up = np.kron(coarse, np.ones((4, 4)))[:, :height, :width]
    fine = rng.uniform(0, 1, (3, height, width))
    img = 0.7 * up + 0.3 * fine
    return (30 + 190 * img).astype("uint8")


CANVAS = texture(SIZE, 2 * SIZE)


def _write_cog(path: Path, data: np.ndarray, transform: Affine, crs: str, nodata=0) -> Path:
    profile = {
        "driver": "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": data.dtype.name,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    with MemoryFile() as mem:
        with mem.open(**profile) as ds:
            ds.write(data)
        with mem.open() as src:
            rasterio.shutil.copy(src, path, driver="COG")
    return path


def _sidecar(path: Path, extra: dict | None = None) -> None:
    path.with_suffix(".json").write_text(
        json.dumps({**SIDECAR, **(extra or {})}, ensure_ascii=False), encoding="utf-8"
    )


def ortho(
    path: Path,
    *,
    col0: int = 0,
    shift_m: float = 0.0,
    hole: bool = False,
    crs: str = "EPSG:4548",
) -> Path:
    """A 100 m x 100 m orthophoto cut from the canvas at ``col0`` (px), placed
    ``shift_m`` east of where it belongs, with a 10 m x 10 m hole of no data when asked."""
    data = CANVAS[:, :, col0 : col0 + SIZE].copy()
    if hole:
        data[:, 80:100, 60:80] = 0
    east, north = EAST0 + col0 * RES + shift_m, NORTH0 + SIZE * RES
    if crs != "EPSG:4548":
        tr = Transformer.from_crs("EPSG:4548", crs, always_xy=True)
        east, north = tr.transform(east, north)
    _write_cog(path, data, Affine(RES, 0, east, 0, -RES, north), crs)
    _sidecar(path)
    return path


# --- DEM ------------------------------------------------------------------------------

DEM_RES = 1.0
DEM_SIZE = 100


def dem(path: Path, *, col0: int = 0, step: float = 0.0, spikes: bool = False) -> Path:
    """A smooth 100 m DEM tile (1 m), ``col0`` columns east of the origin; with spikes
    (+25 m at (20, 30) and (70, 60)), a pit (-20 m at (40, 80)) and a 6 m x 6 m void."""
    rows, cols = np.mgrid[0:DEM_SIZE, col0 : col0 + DEM_SIZE]
    z = 12 + 0.05 * cols + 0.03 * rows + 1.5 * np.sin(cols / 9.0) * np.cos(rows / 7.0)
    z = (z + step).astype("float32")
    if spikes:
        z[20, 30] += 25
        z[70, 60] += 25
        z[40, 80] -= 20
        z[60:66, 10:16] = -9999
    transform = Affine(DEM_RES, 0, EAST0 + col0 * DEM_RES, 0, -DEM_RES, NORTH0 + DEM_SIZE)
    _write_cog(path, z[None], transform, "EPSG:4548", nodata=-9999)
    _sidecar(path, {"vertical_datum": "1985 National Height Datum"})
    return path


def dem_cell_centre(row: int, col: int) -> tuple[float, float]:
    return EAST0 + (col + 0.5) * DEM_RES, NORTH0 + DEM_SIZE - (row + 0.5) * DEM_RES


# --- point clouds ----------------------------------------------------------------------

GPS_2024_03_02 = 1393372818.0 - 1e9  # adjusted standard GPS time, 2024-03-02 00:00 UTC


def las(
    path: Path,
    *,
    density: float = 8.0,
    sparse_box: tuple[float, float, float, float] | None = None,
    bad_code: bool = False,
    header_shift: float = 0.0,
    wide_angles: float = 0.0,
    duplicates: int = 0,
    seed: int = 5,
) -> Path:
    """A 100 m x 100 m LAS 1.4 (format 6) cloud in EPSG:4548: ``density`` points/m2,
    1 point/m2 inside ``sparse_box`` (local metres x0, y0, x1, y1), ground and
    unclassified, GPS times on 2024-03-02, scan angles within 20 degrees; ``bad_code``
    gives 50 points the reserved class 40; ``header_shift`` moves the header's max X;
    ``wide_angles`` is the share of points scanned at 40 degrees; ``duplicates`` repeats
    the first points."""
    rng = np.random.default_rng(seed)
    n = int(100 * 100 * density)
    x = rng.uniform(0, 100, n)
    y = rng.uniform(0, 100, n)
    if duplicates:
        x[-duplicates:], y[-duplicates:] = x[:duplicates], y[:duplicates]
    if sparse_box is not None:
        x0, y0, x1, y1 = sparse_box
        inside = (x >= x0) & (x < x1) & (y >= y0) & (y < y1)
        keep = ~inside | (rng.uniform(0, 1, n) < 1.0 / density)
        x, y = x[keep], y[keep]
        n = len(x)
    header = laspy.LasHeader(point_format=6, version="1.4")
    header.offsets = [EAST0, NORTH0, 0]
    header.scales = [0.001, 0.001, 0.001]
    header.add_crs(CRS.from_epsg(4548))
    pts = laspy.LasData(header)
    pts.x = EAST0 + x
    pts.y = NORTH0 + y
    z = 10 + rng.uniform(0, 2, n)
    if duplicates:
        z[-duplicates:] = z[:duplicates]
    pts.z = z
    cls = np.where(rng.uniform(0, 1, n) < 0.6, 2, 1).astype(np.uint8)
    if bad_code:
        cls[:50] = 40
    pts.classification = cls
    pts.return_number = np.ones(n, dtype=np.uint8)
    pts.number_of_returns = np.ones(n, dtype=np.uint8)
    pts.gps_time = GPS_2024_03_02 + 3600 + rng.uniform(0, 3600, n)
    angle = rng.uniform(-20, 20, n)
    angle[rng.uniform(0, 1, n) < wide_angles] = 40
    pts.scan_angle = (angle / 0.006).astype(np.int16)
    pts.header.global_encoding.gps_time_type = laspy.header.GpsTimeType.STANDARD
    pts.write(path)
    if header_shift:
        with open(path, "r+b") as f:
            f.seek(179)  # Max X
            (max_x,) = struct.unpack("<d", f.read(8))
            f.seek(179)
            f.write(struct.pack("<d", max_x + header_shift))
    path.with_suffix(".json").write_text(json.dumps({"acquired": "2024-03-02"}), encoding="utf-8")
    return path


# --- DLG -------------------------------------------------------------------------------

SHEET_W = (467500.0, 2583250.0)  # south-west corner of 1:500 sheet 2583.25-467.50
SHEET = 250.0


def dlg(path: Path, *, east: bool = False, defects: bool = False) -> Path:
    """One 1:500 sheet (west: 2583.25-467.50, east: its eastern neighbour) with roads
    (LRDL), buildings (RESA) and a land-cover coverage (LCA). A road crosses the shared
    edge at y = 2583400. ``defects`` (east sheet) plants: the road continued 1.0 m off,
    a self-intersecting building, a building without its code, a duplicate building, a
    line stopping 0.05 m short of the road (undershoot), one running 0.05 m past it
    (overshoot) and a gap in the coverage."""
    x0 = SHEET_W[0] + (SHEET if east else 0)
    y0 = SHEET_W[1]
    x1, y1 = x0 + SHEET, y0 + SHEET
    road_y = y0 + 150
    if east:
        start = (x0, road_y + (1.0 if defects else 0))
        road = shapely.LineString([start, (x0 + 30, road_y), (x0 + 150, road_y)])
    else:
        road = shapely.LineString([(x0 + 100, road_y), (x1, road_y)])
    lines = [road]
    codes = ["430200"]
    if defects:
        lines.append(shapely.LineString([(x0 + 60, road_y - 50), (x0 + 60, road_y - 0.05)]))
        lines.append(shapely.LineString([(x0 + 80, road_y - 50), (x0 + 80, road_y + 0.05)]))
        codes += ["440000", "440000"]
    else:
        lines.append(shapely.LineString([(x0 + 120, road_y - 50), (x0 + 120, road_y)]))
        codes.append("440000")
    roads = gpd.GeoDataFrame({"GB": codes}, geometry=lines, crs="EPSG:4548")
    b1 = shapely.box(x0 + 20, y0 + 20, x0 + 40, y0 + 35)
    bld = [b1]
    bcodes: list[str | None] = ["310301"]
    if defects:
        bld.append(
            shapely.Polygon(
                [(x0 + 60, y0 + 20), (x0 + 80, y0 + 40), (x0 + 80, y0 + 20), (x0 + 60, y0 + 40)]
            )
        )
        bcodes.append("310301")
        bld.append(shapely.box(x0 + 100, y0 + 20, x0 + 110, y0 + 30))
        bcodes.append(None)
        bld.append(b1)
        bcodes.append("310301")
    buildings = gpd.GeoDataFrame({"GB": bcodes}, geometry=bld, crs="EPSG:4548")
    west_half = shapely.box(x0, y0, x0 + SHEET / 2, y1)
    east_half = shapely.box(x0 + SHEET / 2, y0, x1, y1)
    if defects:
        east_half = east_half.difference(shapely.box(x0 + 200, y0 + 200, x0 + 210, y0 + 210))
    cover = gpd.GeoDataFrame(
        {"GB": ["820000", "810000"] if east else ["810000", "820000"]},
        geometry=[west_half, east_half],
        crs="EPSG:4548",
    )
    roads.to_file(path, layer="LRDL", driver="GPKG")
    buildings.to_file(path, layer="RESA", driver="GPKG", mode="a")
    cover.to_file(path, layer="LCA", driver="GPKG", mode="a")
    return path
