"""Small deliveries with known footprints for the ingest and catalogue tests."""

from __future__ import annotations

import datetime as dt
import json
import warnings
from pathlib import Path

import laspy
import numpy as np
import rasterio
from affine import Affine
from pyproj import CRS
from rasterio.errors import NotGeoreferencedWarning

# a Shantou-area origin in EPSG:4548 (CGCS2000 / 3-degree GK CM 117E)
EAST0, NORTH0 = 467000.0, 2584000.0


def write_tif(
    path: Path,
    *,
    width: int = 200,
    height: int = 200,
    count: int = 3,
    dtype: str = "uint8",
    res: float = 0.5,
    crs: str | None = "EPSG:4548",
    nodata: float | None = 0,
    valid: np.ndarray | None = None,
    tags: dict[str, str] | None = None,
    georeferenced: bool = True,
    tiled: bool = False,
) -> Path:
    """A GeoTIFF whose valid pixels are ``valid`` (default: all), nodata elsewhere."""
    if valid is None:
        valid = np.ones((height, width), dtype=bool)
    rng = np.random.default_rng(7)
    if np.issubdtype(np.dtype(dtype), np.floating):
        data = rng.uniform(5, 50, (count, height, width)).astype(dtype)
    else:
        data = rng.integers(10, 250, (count, height, width)).astype(dtype)
    if nodata is not None:
        data[:, ~valid] = nodata
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": count,
        "dtype": dtype,
    }
    if tiled:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    if georeferenced:
        profile["transform"] = Affine(res, 0, EAST0, 0, -res, NORTH0 + height * res)
        if crs is not None:
            profile["crs"] = crs
    if nodata is not None:
        profile["nodata"] = nodata
    with warnings.catch_warnings():
        # writing the ungeoreferenced bad-input case is intended
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data)
            if tags:
                dst.update_tags(**tags)
    return path


def disc(width: int, height: int, radius_fraction: float = 0.4) -> np.ndarray:
    """A boolean disc in the middle of a grid (a footprint far smaller than the bounds)."""
    yy, xx = np.mgrid[0:height, 0:width]
    r = radius_fraction * min(width, height)
    return (xx - width / 2 + 0.5) ** 2 + (yy - height / 2 + 0.5) ** 2 <= r * r


def write_las(
    path: Path,
    *,
    n: int = 4000,
    size: float = 100.0,
    crs: str | None = "EPSG:4548",
    gps: tuple[float, float] | None = None,
    adjusted: bool = True,
    ground_fraction: float = 0.5,
    seed: int = 3,
    version: str = "1.4",
    point_format: int = 6,
    creation_date: dt.date | None = dt.date(2024, 1, 10),
) -> Path:
    """A point cloud filling a ``size`` x ``size`` square at the origin, half ground.

    ``creation_date=None`` writes a header without a creation date (day and year 0).
    """
    rng = np.random.default_rng(seed)
    header = laspy.LasHeader(point_format=point_format, version=version)
    header.scales = np.array([0.01, 0.01, 0.01])
    header.offsets = np.array([EAST0, NORTH0, 0.0])
    if crs is not None:
        header.add_crs(CRS.from_user_input(crs))
    if adjusted:
        header.global_encoding.gps_time_type = laspy.header.GpsTimeType.STANDARD
    las = laspy.LasData(header)
    las.x = EAST0 + rng.uniform(0, size, n)
    las.y = NORTH0 + rng.uniform(0, size, n)
    las.z = 10 + 0.05 * (las.x - EAST0) + rng.normal(0, 0.01, n)
    cls = np.where(rng.uniform(0, 1, n) < ground_fraction, 2, 1).astype(np.uint8)
    las.classification = cls
    if gps is not None:
        las.gps_time = rng.uniform(gps[0], gps[1], n)
        las.gps_time[0], las.gps_time[1] = gps
    las.header.creation_date = creation_date or dt.date(2000, 1, 1)
    las.write(path)
    if creation_date is None:  # laspy always writes a date; zero it as some writers do
        with open(path, "r+b") as f:
            f.seek(90)
            f.write(b"\0\0\0\0")
    return path


def write_geojson(path: Path, features: list[dict], crs_epsg: int | None = 4548) -> Path:
    doc: dict = {"type": "FeatureCollection", "features": features}
    if crs_epsg is not None:
        doc["crs"] = {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{crs_epsg}"}}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def square_feature(x0: float, y0: float, size: float, **props) -> dict:
    ring = [[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]
    return {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }
