"""Generate the synthetic deliveries of the Shantou demo workspace.

Everything this script writes is SYNTHETIC: made-up buildings, roads, terrain and
imagery, drawn deterministically (seeded) over the approximate district boundaries in
``datasets/districts/``. Only the georeferencing is real: every file sits where it says
it does, in CGCS2000 / 3-degree Gauss-Kruger CM 117E (EPSG:4548), and carries the
resolution and acquisition dates of the product it stands for. See ``datasets/README.md``.

The deliveries reproduce the shape of the plan's 2020 baseline (DOMAIN.md section 7)
where files can stay small:

* 1:500 topographic maps (dlg500): about 360 km2 of sheets measured or updated up to
  2020 (16 % of the city), plus later updates; 1:1000 maps (dlg1000) over about
  1,000 km2, older. Vector GeoPackages are cheap, so these carry the plan's areas.
* imagery: small patches at their true resolution (0.05 m in Chenghai, 0.2 m in
  Chaoyang, 2 m satellite), and a 30 m synthetic overview of the whole city. A 0.2 m
  mosaic of the whole city would be tens of gigabytes; the patches are honest samples.
* terrain: a 50 m DEM of the city and a 5 m lidar DEM, and a lidar point cloud (LAZ,
  classes ground/vegetation/building, GPS time of a 2020 flight) in Chaoyang.

Every delivery has a sidecar ``<name>.json`` with its acquisition date (or window),
owner and title, as the bureau's contractors deliver them. ``deliveries.json`` lists
what to ingest as which product and classification.

Usage::

    python datasets/generate.py OUT_DIR [--seed 2020]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from pyproj import Transformer
from rasterio.enums import ColorInterp
from rasterio.features import rasterize
from rasterio.transform import from_origin
from rasterio.windows import Window

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
DISTRICTS = HERE / "districts" / "shantou_districts.geojson"
GENERATOR_VERSION = 1
DEFAULT_SEED = 2020
CRS = "EPSG:4548"  # CGCS2000 / 3-degree Gauss-Kruger CM 117E
CRS_3D = "EPSG:4548+5737"  # + 1985 national height datum (Yellow Sea 1985 height)
OWNER = "汕头市自然资源局 Shantou Natural Resources Bureau"

# The point the demo centres its high-resolution samples on: Chaoyang's town centre
# (棉城, Mianchen). The emergency-package example uses it too.
FOCUS_LONLAT = (116.60, 23.26)
CHENGHAI_LONLAT = (116.77, 23.50)

# Urban centres (lon, lat, spread in m) that drive building density.
URBAN_CENTRES = (
    (116.680, 23.360, 4500.0),  # Jinping
    (116.740, 23.380, 4500.0),  # Longhu
    (116.770, 23.480, 3500.0),  # Chenghai
    (116.700, 23.285, 2500.0),  # Haojiang
    (116.600, 23.260, 3000.0),  # Chaoyang (Mianchen)
    (116.420, 23.160, 3000.0),  # Chaonan (Xiashan)
    (117.020, 23.425, 1500.0),  # Nan'ao (Houzhai)
)

# 1:500 topographic mapping per district (km2 up to 2020, km2 added 2021-2024), summing
# to the plan's 360.1 km2 baseline (16 % of the city).
DLG500_PLAN = {
    "金平区": (90.0, 12.0),
    "龙湖区": (88.0, 20.0),
    "澄海区": (62.0, 25.0),
    "濠江区": (30.0, 10.0),
    "潮阳区": (45.0, 20.0),
    "潮南区": (35.0, 15.0),
    "南澳县": (10.1, 5.0),
}
DLG1000_KM2 = 1013.65  # (plan) 1:1000 maps, measured 2005-2015

CELL = 250.0  # the 1:500 sheet; buildings are drawn on a 3 x 3 grid of lots per sheet
LOTS = 3

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Delivery:
    """One generated (or copied) delivery and how the demo ingests it."""

    path: str  # relative to the output folder
    product: str
    classification: str
    title: str
    kind: str
    crs: str | None = None  # only where the data cannot state it


# --- places and deterministic randomness --------------------------------------------


def _to_gk() -> Transformer:
    return Transformer.from_crs("EPSG:4490", CRS, always_xy=True)


def _gk(lon: float, lat: float) -> tuple[float, float]:
    e, n = _to_gk().transform(lon, lat)
    return float(e), float(n)


def _districts_gk() -> gpd.GeoDataFrame:
    frame = gpd.read_file(DISTRICTS)
    return frame.to_crs(CRS)


def _hash01(*keys: np.ndarray | int) -> np.ndarray:
    """Uniform [0, 1) values from integer keys (splitmix64), vectorised and order-free."""
    state = np.zeros(np.broadcast(*[np.asarray(k) for k in keys]).shape, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for key in keys:
            state = state * np.uint64(0x9E3779B97F4A7C15) + np.asarray(key).astype(np.uint64)
            state ^= state >> np.uint64(30)
            state *= np.uint64(0xBF58476D1CE4E5B9)
            state ^= state >> np.uint64(27)
            state *= np.uint64(0x94D049BB133111EB)
            state ^= state >> np.uint64(31)
    return (state >> np.uint64(11)).astype(np.float64) / float(1 << 53)


class City:
    """The synthetic city: urban density, buildings, roads and terrain, all deterministic."""

    def __init__(self, seed: int = DEFAULT_SEED):
        self.seed = seed
        self.centres = np.array([(*_gk(lon, lat), s) for lon, lat, s in URBAN_CENTRES])
        rng = np.random.default_rng(seed)
        # terrain: hills (lon, lat, height m, spread m) roughly where Shantou's are
        hills = [
            (116.36, 23.22, 520.0, 7000.0),  # Dananshan (大南山), Chaonan/Chaoyang
            (116.48, 23.30, 260.0, 4500.0),
            (116.55, 23.14, 300.0, 5000.0),
            (116.74, 23.60, 320.0, 5000.0),  # Lianhua hills north of Chenghai
            (116.64, 23.47, 180.0, 3500.0),
            (116.73, 23.25, 200.0, 3000.0),  # Haojiang hills
            (117.05, 23.44, 480.0, 4000.0),  # Nan'ao island
        ]
        self.hills = np.array([(*_gk(lon, lat), h, s) for lon, lat, h, s in hills])
        # low-frequency texture: a few sinusoids with random directions and phases
        self.waves = rng.uniform(0, 1, size=(8, 3))

    # density of building in [0, 1]
    def density(self, e: np.ndarray, n: np.ndarray) -> np.ndarray:
        d = np.zeros(np.broadcast(e, n).shape)
        for ce, cn, s in self.centres:
            d = np.maximum(d, np.exp(-((e - ce) ** 2 + (n - cn) ** 2) / (2 * s * s)))
        return 0.08 + 0.85 * d

    def texture(self, e: np.ndarray, n: np.ndarray, scale: float) -> np.ndarray:
        """Smooth noise in [-1, 1] with wavelengths around ``scale`` metres.

        Separable: sin(a + b) = sin a cos b + cos a sin b, so a row vector of eastings and
        a column vector of northings cost one multiply-add per pixel and wave.
        """
        out = np.zeros(np.broadcast(e, n).shape, dtype=np.float32)
        e = np.asarray(e, dtype=np.float64)
        n = np.asarray(n, dtype=np.float64)
        for a, f, p in self.waves:
            angle = 2 * math.pi * a
            k = 2 * math.pi / (scale * (0.5 + f))
            pa = k * e * math.cos(angle)
            pb = k * n * math.sin(angle) + 2 * math.pi * p
            sa, ca = np.sin(pa).astype(np.float32), np.cos(pa).astype(np.float32)
            sb, cb = np.sin(pb).astype(np.float32), np.cos(pb).astype(np.float32)
            out += sa * cb + ca * sb
        return out / len(self.waves)

    def elevation(self, e: np.ndarray, n: np.ndarray) -> np.ndarray:
        """Bare-earth height (1985 datum, m): delta plains of a few metres and hills."""
        z = 2.0 + 1.5 * self.texture(e, n, 3000.0)
        ridges = 1 + 0.25 * self.texture(e * 1.7, n * 1.7, 900.0)
        for he, hn, h, s in self.hills:
            r2 = ((e - he) ** 2 + (n - hn) ** 2) / (2 * s * s)
            z = z + h * np.exp(-r2) * ridges
        return z.astype(np.float32)

    # buildings and roads on the global 250 m grid ------------------------------------
    def buildings(self, bounds: tuple[float, float, float, float]) -> gpd.GeoDataFrame:
        """The buildings whose lots lie in ``bounds`` (EPSG:4548)."""
        w, s, e, n = bounds
        lot = CELL / LOTS
        i0, i1 = math.floor(w / lot), math.ceil(e / lot)
        j0, j1 = math.floor(s / lot), math.ceil(n / lot)
        ii, jj = np.meshgrid(np.arange(i0, i1), np.arange(j0, j1))
        ii, jj = ii.ravel(), jj.ravel()
        cx, cy = (ii + 0.5) * lot, (jj + 0.5) * lot
        dens = self.density(cx, cy)
        keep = _hash01(self.seed, ii, jj, 1) < dens
        ii, jj, cx, cy, dens = ii[keep], jj[keep], cx[keep], cy[keep], dens[keep]
        road = 14.0  # clear of the roads on the sheet edges
        half = (lot - road) / 2
        bw = half * (0.18 + 0.5 * _hash01(self.seed, ii, jj, 2) * (0.4 + dens))
        bh = half * (0.18 + 0.5 * _hash01(self.seed, ii, jj, 3) * (0.4 + dens))
        ox = (half - bw) * (2 * _hash01(self.seed, ii, jj, 4) - 1)
        oy = (half - bh) * (2 * _hash01(self.seed, ii, jj, 5) - 1)
        # lots on the sheet edge shift inwards so that buildings keep off the road
        edge_w = (ii % LOTS == 0) * road / 2 - (ii % LOTS == LOTS - 1) * road / 2
        edge_s = (jj % LOTS == 0) * road / 2 - (jj % LOTS == LOTS - 1) * road / 2
        x, y = cx + ox + edge_w, cy + oy + edge_s
        floors = np.maximum(1, np.round(1 + 30 * dens**2 * _hash01(self.seed, ii, jj, 6)))
        roof = (_hash01(self.seed, ii, jj, 7) * 5).astype(int)
        geoms = shapely.box(x - bw, y - bh, x + bw, y + bh)
        kinds = np.where(
            floors >= 10,
            "高层住宅 high-rise",
            np.where(floors >= 4, "多层 mid-rise", "低层 low-rise"),
        )
        return gpd.GeoDataFrame(
            {
                "fid_lot": (ii.astype(np.int64) << 32) | (jj.astype(np.int64) & 0xFFFFFFFF),
                "type": kinds,
                "floors": floors.astype(np.int32),
                "roof": roof,
            },
            geometry=geoms,
            crs=CRS,
        )

    @staticmethod
    def road_width(index: np.ndarray) -> np.ndarray:
        """Width of the road on grid line ``index`` (every 4th line is a main road)."""
        return np.where(index % 4 == 0, 24.0, 10.0)


# --- raster helpers -----------------------------------------------------------------


def _windows(width: int, height: int, rows: int = 512) -> Iterator[Window]:
    for row in range(0, height, rows):
        yield Window(0, row, width, min(rows, height - row))


def _pixel_centres(transform, window: Window, width: int) -> tuple[np.ndarray, np.ndarray]:
    cols = np.arange(width)
    rows = np.arange(window.row_off, window.row_off + window.height)
    e = transform.c + (cols + 0.5) * transform.a
    n = transform.f + (rows + 0.5) * transform.e
    return e[np.newaxis, :], n[:, np.newaxis]


ROOF_COLOURS = np.array(
    [(172, 92, 74), (150, 150, 152), (196, 190, 178), (96, 122, 150), (128, 118, 104)],
    dtype=np.float32,
)


def _ortho_block(city: City, e: np.ndarray, n: np.ndarray, transform, res: float, seed: int):
    """RGB of an orthophoto window: vegetation, bare soil, roads, roofs with shadows."""
    shape = np.broadcast(e, n).shape
    veg = city.texture(e, n, 220.0) + 0.5 * city.texture(e * 3.1, n * 3.1, 220.0)
    base = np.empty((3, *shape), dtype=np.float32)
    base[0] = 92 + 28 * veg
    base[1] = 112 + 22 * veg
    base[2] = 70 + 14 * veg
    # roads on the 250 m grid lines, main roads every 1 km
    for coord, axis in ((e, 1), (n, 0)):
        index = np.round(coord / CELL)
        dist = np.abs(coord - index * CELL)
        on_road = np.broadcast_to(dist < city.road_width(index) / 2, shape)
        base[:, on_road] = np.array([118, 118, 116], dtype=np.float32)[:, None]
        marking = np.broadcast_to(dist < max(res, 0.15), shape)
        base[:, marking] = 220.0
        del axis
    h, w = shape
    bounds = (e.min() - res, n.min() - res, e.max() + res, n.max() + res)
    houses = city.buildings((bounds[0] - CELL, bounds[1] - CELL, bounds[2] + CELL, bounds[3]))
    if len(houses):
        # shadows fall to the north-west: a copy of each roof shifted by its height
        shift = houses["floors"].to_numpy() * 3.0 * 0.6
        offsets = np.repeat(shift, 5)[:, None] * np.array([[-1.0, 1.0]])
        shadows = shapely.transform(houses.geometry.values, lambda xy: xy + offsets)
        shadow = rasterize(
            [(g, 1) for g in shadows], out_shape=(h, w), transform=transform, dtype="uint8"
        )
        base[:, shadow == 1] *= 0.55
        roofs = rasterize(
            [(g, int(r) + 1) for g, r in zip(houses.geometry.values, houses["roof"], strict=True)],
            out_shape=(h, w),
            transform=transform,
            dtype="uint8",
        )
        built = roofs > 0
        base[:, built] = ROOF_COLOURS[roofs[built] - 1].T
    rng = np.random.default_rng(seed)
    base += rng.standard_normal(size=base.shape, dtype=np.float32) * 6
    return np.clip(base, 0, 255).astype(np.uint8)


def _write_ortho(
    city: City, path: Path, centre: tuple[float, float], size_px: int, res: float, seed: int
) -> tuple[float, float, float, float]:
    """A tiled, JPEG-compressed RGB orthophoto of ``size_px``^2 pixels at ``res`` m."""
    ce, cn = centre
    half = size_px * res / 2
    west, north = round(ce - half), round(cn + half)
    transform = from_origin(west, north, res, res)
    profile = {
        "driver": "GTiff",
        "width": size_px,
        "height": size_px,
        "count": 3,
        "dtype": "uint8",
        "crs": CRS,
        "transform": transform,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "jpeg",
        "photometric": "ycbcr",
        "jpeg_quality": 85,
    }
    with rasterio.open(path, "w", **profile) as dst:
        for k, window in enumerate(_windows(size_px, size_px)):
            e, n = _pixel_centres(transform, window, size_px)
            wt = rasterio.windows.transform(window, transform)
            dst.write(_ortho_block(city, e, n, wt, res, seed * 1000 + k), window=window)
        dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue]
    return west, north - size_px * res, west + size_px * res, north


def _write_overview(city: City, path: Path, districts: gpd.GeoDataFrame, res: float) -> None:
    """A city-wide RGB overview: sea, land with vegetation and built-up density."""
    w, s, e, n = districts.total_bounds
    margin = 3000
    west, north = math.floor((w - margin) / res) * res, math.ceil((n + margin) / res) * res
    width = math.ceil((e + margin - west) / res)
    height = math.ceil((north - (s - margin)) / res)
    transform = from_origin(west, north, res, res)
    land = rasterize(
        [(g, 1) for g in districts.geometry], out_shape=(height, width), transform=transform
    )
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 3,
        "dtype": "uint8",
        "crs": CRS,
        "transform": transform,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "jpeg",
        "photometric": "ycbcr",
        "jpeg_quality": 85,
    }
    rng = np.random.default_rng(city.seed + 7)
    with rasterio.open(path, "w", **profile) as dst:
        for window in _windows(width, height):
            ee, nn = _pixel_centres(transform, window, width)
            rows = slice(window.row_off, window.row_off + window.height)
            is_land = land[rows] == 1
            dens = city.density(ee, nn)
            z = city.elevation(ee, nn)
            tex = city.texture(ee, nn, 1500.0)
            rgb = np.empty((3, *is_land.shape), dtype=np.float32)
            green = np.clip(z / 400, 0, 1)
            rgb[0] = 110 - 40 * green + 20 * tex
            rgb[1] = 128 - 10 * green + 15 * tex
            rgb[2] = 82 - 20 * green + 10 * tex
            urban = np.clip((dens - 0.08) * 1.6, 0, 1)
            for band, grey in enumerate((150, 146, 140)):
                rgb[band] = rgb[band] * (1 - urban) + grey * urban
            sea = np.array([34, 74, 98], dtype=np.float32)[:, None]
            rgb[:, ~is_land] = sea + 6 * tex[~is_land]
            rgb += rng.normal(0, 3, size=rgb.shape).astype(np.float32)
            dst.write(np.clip(rgb, 0, 255).astype(np.uint8), window=window)
        dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue]


def _write_dem(
    city: City,
    path: Path,
    bounds: tuple[float, float, float, float],
    res: float,
    land: gpd.GeoSeries | None,
) -> None:
    """A float32 DEM (1985 heights) with nodata over the sea (when ``land`` is given)."""
    w, s, e, n = bounds
    west, north = math.floor(w / res) * res, math.ceil(n / res) * res
    width = math.ceil((e - west) / res)
    height = math.ceil((north - s) / res)
    transform = from_origin(west, north, res, res)
    mask = None
    if land is not None:
        mask = rasterize([(g, 1) for g in land], out_shape=(height, width), transform=transform)
    nodata = -9999.0
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": "float32",
        "crs": CRS,
        "transform": transform,
        "nodata": nodata,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "predictor": 3,
    }
    with rasterio.open(path, "w", **profile) as dst:
        for window in _windows(width, height):
            ee, nn = _pixel_centres(transform, window, width)
            z = city.elevation(ee, nn) + 0.3 * city.texture(ee * 9.7, nn * 9.7, 300.0)
            # quantise to centimetres as survey software delivers them
            z = np.round(z, 2).astype(np.float32)
            if mask is not None:
                rows = slice(window.row_off, window.row_off + window.height)
                z = np.where(mask[rows] == 1, z, np.float32(nodata))
            dst.write(z, 1, window=window)
        dst.update_tags(AREA_OR_POINT="Area")
        dst.set_band_description(1, "normal height, 1985 national height datum (m)")


def _write_pointcloud(city: City, path: Path, centre: tuple[float, float], size: float) -> int:
    """An airborne lidar tile (LAS 1.4, point format 6, LAZ) with ground/vegetation/buildings."""
    import laspy
    from pyproj import CRS as ProjCRS

    rng = np.random.default_rng(city.seed + 11)
    ce, cn = centre
    west, south = round(ce - size / 2), round(cn - size / 2)
    count = int(size * size * 1.0)  # 1 point per m2
    e = west + rng.uniform(0, size, count)
    n = south + rng.uniform(0, size, count)
    z = city.elevation(e, n).astype(np.float64) + rng.normal(0, 0.03, count)
    classes = np.full(count, 2, dtype=np.uint8)  # ground
    houses = city.buildings((west, south, west + size, south + size))
    inside = np.full(count, -1)
    if len(houses):
        tree = shapely.STRtree(houses.geometry.values)
        pts, idx = tree.query(shapely.points(e, n), predicate="within")
        inside[pts] = idx
    built = inside >= 0
    z[built] += houses["floors"].to_numpy()[inside[built]] * 3.0 + rng.normal(0, 0.05, built.sum())
    classes[built] = 6  # building
    veg_p = 0.35 * (1 - city.density(e, n))
    veg = (~built) & (rng.uniform(0, 1, count) < veg_p)
    tall = veg & (rng.uniform(0, 1, count) < 0.5)
    z[veg] += rng.uniform(0.3, 2.0, veg.sum())
    z[tall] += rng.uniform(3.0, 12.0, tall.sum())
    classes[veg] = 4  # medium vegetation
    classes[tall] = 5  # high vegetation
    noise = rng.uniform(0, 1, count) < 0.0005
    z[noise] += rng.uniform(40, 120, noise.sum())
    classes[noise] = 7  # low noise / outliers
    # a flight on 2020-11-12 06:10-06:40 UTC, adjusted standard GPS time (GPS s - 1e9)
    start = dt.datetime(2020, 11, 12, 6, 10, tzinfo=dt.UTC)
    gps = (start - dt.datetime(1980, 1, 6, tzinfo=dt.UTC)).total_seconds() + 18  # leap s
    order = np.argsort(n)  # flight lines north-south, points in acquisition order
    gps_time = gps - 1e9 + np.linspace(0, 1800, count)
    header = laspy.LasHeader(point_format=6, version="1.4")
    header.offsets = np.array([west, south, 0.0])
    header.scales = np.array([0.001, 0.001, 0.001])
    header.add_crs(ProjCRS.from_user_input(CRS_3D))
    header.global_encoding.gps_time_type = laspy.header.GpsTimeType.STANDARD
    header.creation_date = dt.date(2020, 11, 20)
    header.system_identifier = "geobase synthetic lidar"
    header.generating_software = "geobase datasets/generate.py"
    las = laspy.LasData(header)
    las.x, las.y, las.z = e[order], n[order], z[order]
    las.classification = classes[order]
    las.gps_time = gps_time
    las.intensity = np.clip(rng.normal(900, 250, count), 0, 65535).astype(np.uint16)
    las.return_number = np.ones(count, dtype=np.uint8)
    las.number_of_returns = np.ones(count, dtype=np.uint8)
    las.write(path)
    return count


# --- vector topographic maps --------------------------------------------------------


def _sheet_grid(area: shapely.Geometry, size: float) -> np.ndarray:
    """South-west corners (n, 2) of the grid squares of ``size`` whose centres lie in ``area``."""
    w, s, e, n = area.bounds
    xs = np.arange(math.floor(w / size), math.ceil(e / size)) * size
    ys = np.arange(math.floor(s / size), math.ceil(n / size)) * size
    xx, yy = np.meshgrid(xs, ys)
    xx, yy = xx.ravel(), yy.ravel()
    inside = shapely.contains_xy(area, xx + size / 2, yy + size / 2)
    return np.column_stack([xx[inside], yy[inside]])


def _mapped_blocks(
    districts: gpd.GeoDataFrame,
    city: City,
    size: float,
    block: float,
    targets: dict[str, tuple[float, ...]],
) -> dict[str, list[list[np.ndarray]]]:
    """Per district, the sheets mapped in each period, as blocks (one delivery each).

    Mapping starts with the densest ``block`` x ``block`` squares (urban areas are mapped
    first; squares mostly outside the district come last); a block holds the sheets of its square whose centres lie in the district.
    ``targets`` gives, per district, the km2 mapped in each period; a period's last block
    is cut to whole rows (and a last partial row of its own), so that every delivery is
    a convex set of sheets and its footprint (a convex hull) holds no unmapped sheet.
    """
    out: dict[str, list[list[np.ndarray]]] = {}
    sheet_km2 = size * size / 1e6
    for name, periods in targets.items():
        geom = districts.loc[districts["name"] == name].geometry.iloc[0]
        corners = _sheet_grid(geom, size)
        dens = city.density(corners[:, 0] + size / 2, corners[:, 1] + size / 2)
        keys = np.floor(corners / block).astype(np.int64)
        _, inverse = np.unique(keys, axis=0, return_inverse=True)
        inverse = inverse.ravel()
        count = np.bincount(inverse)
        score = np.bincount(inverse, weights=dens) / count
        sliver = count < 0.6 * (block / size) ** 2  # edge squares mostly outside the district
        order = np.lexsort((-np.round(score, 4), sliver))
        queue = [corners[inverse == b] for b in order]
        result: list[list[np.ndarray]] = []
        for km2 in periods:
            need = round(km2 / sheet_km2)
            blocks: list[np.ndarray] = []
            while need > 0 and queue:
                members = queue.pop(0)
                members = members[np.lexsort((members[:, 0], members[:, 1]))]  # row by row
                if len(members) > need:
                    queue.insert(0, members[need:])
                    members = members[:need]
                    last_row = members[:, 1] == members[-1, 1]
                    if (~last_row).any():
                        blocks.append(members[~last_row])  # the whole rows
                        members = members[last_row]  # and the partial row on its own
                blocks.append(members)
                need = round(km2 / sheet_km2) - sum(len(b) for b in blocks)
            result.append(blocks)
        out[name] = result
    return out


def _write_dlg(
    city: City, path: Path, corners: np.ndarray, size: float, scale: int
) -> tuple[int, int]:
    """A topographic-map delivery: sheet frames (图廓), buildings (房屋) and roads (道路)."""
    from geobase.sheets import rect_sheet_codes

    boxes = shapely.box(corners[:, 0], corners[:, 1], corners[:, 0] + size, corners[:, 1] + size)
    codes = rect_sheet_codes(corners[:, 0] + 1, corners[:, 1] + 1, scale)
    frames = gpd.GeoDataFrame(
        {"sheet": codes.astype(object), "scale": np.full(len(codes), scale, dtype=np.int32)},
        geometry=boxes,
        crs=CRS,
    )
    frames.to_file(path, layer="sheet_frames", driver="GPKG", engine="pyogrio")
    w, s, e, n = shapely.total_bounds(boxes)
    houses = city.buildings((w, s, e, n))
    if len(houses):
        tree = shapely.STRtree(boxes)
        keep = np.unique(tree.query(houses.geometry.values, predicate="within")[0])
        houses = houses.iloc[keep]
        if scale >= 1000:  # generalised: only the larger buildings are shown
            houses = houses[(houses.geometry.area > 900) | (houses["floors"] >= 12)]
    houses = houses.drop(columns=["roof", "fid_lot"])
    houses.to_file(path, layer="buildings", driver="GPKG", engine="pyogrio")
    # roads on the 250 m grid lines inside each sheet (its south and west edges included)
    k = np.arange(int(size // CELL))
    x0 = np.repeat(corners[:, 0], len(k))
    y0 = np.repeat(corners[:, 1], len(k))
    off = np.tile(k * CELL, len(corners))
    starts = np.concatenate([np.column_stack([x0, y0 + off]), np.column_stack([x0 + off, y0])])
    ends = np.concatenate(
        [np.column_stack([x0 + size, y0 + off]), np.column_stack([x0 + off, y0 + size])]
    )
    lines = shapely.linestrings(np.stack([starts, ends], axis=1))
    index = np.round(np.concatenate([(y0 + off), (x0 + off)]) / CELL)
    widths = city.road_width(index)
    main = widths > 20 if scale >= 1000 else np.ones(len(widths), dtype=bool)
    lines, widths = lines[main], widths[main]  # 1:1000 maps keep the main roads only
    roads = gpd.GeoDataFrame(
        {
            "width_m": widths,
            "class": np.where(widths > 20, "主干道 arterial", "支路 street"),
        },
        geometry=lines,
        crs=CRS,
    )
    roads.to_file(path, layer="roads", driver="GPKG", engine="pyogrio")
    return len(frames), len(houses)


# --- the whole set ------------------------------------------------------------------


def _sidecar(path: Path, acquired: str, title: str, **extra: str) -> None:
    data = {"acquired": acquired, "title": title, "owner": OWNER, "synthetic": True, **extra}
    if not acquired:
        del data["acquired"]
    path.with_suffix(".json").write_text(
        json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )


def _window(year: int, rng: np.random.Generator, months: int = 5) -> str:
    start = dt.date(year, int(rng.integers(1, 13 - months)), int(rng.integers(1, 28)))
    end = start + dt.timedelta(days=int(rng.integers(25, 30 * months)))
    return f"{start.isoformat()}/{end.isoformat()}"


def generate(
    out: str | Path, *, seed: int = DEFAULT_SEED, progress: Progress | None = None
) -> list[Delivery]:
    """Write the synthetic deliveries into ``out`` (idempotent); returns what to ingest.

    A folder that already holds a complete set made by this generator version with the
    same seed is kept as it is.
    """
    out = Path(out)
    index = out / "deliveries.json"
    if index.is_file():
        data = json.loads(index.read_text(encoding="utf-8"))
        if data.get("version") == GENERATOR_VERSION and data.get("seed") == seed:
            deliveries = [Delivery(**d) for d in data["deliveries"]]
            if all((out / d.path).exists() for d in deliveries):
                return deliveries
    out.mkdir(parents=True, exist_ok=True)
    # scratch files: no fsync per GeoPackage transaction (the index is written last)
    import pyogrio

    pyogrio.set_gdal_config_options({"OGR_SQLITE_SYNCHRONOUS": "OFF"})
    try:
        with warnings.catch_warnings():
            # rasterio 1.4's rasterize/window transforms still multiply Affines with `*`
            warnings.filterwarnings(
                "ignore", message="Use `@` matmul", category=PendingDeprecationWarning
            )
            return _generate(out, index, seed, progress)
    finally:
        pyogrio.set_gdal_config_options({"OGR_SQLITE_SYNCHRONOUS": None})


def _generate(out: Path, index: Path, seed: int, progress: Progress | None) -> list[Delivery]:
    say = progress or (lambda message: None)
    city = City(seed)
    rng = np.random.default_rng(seed)
    districts = _districts_gk()
    focus = _gk(*FOCUS_LONLAT)
    deliveries: list[Delivery] = []

    def add(rel: str, product: str, classification: str, title: str, kind: str) -> None:
        deliveries.append(Delivery(rel, product, classification, title, kind))

    # imagery ------------------------------------------------------------------------
    folder = out / "imagery"
    folder.mkdir(exist_ok=True)
    say("imagery: 30 m city overview")
    _write_overview(city, folder / "shantou_overview_30m_2020.tif", districts, 30.0)
    title = "全市影像概览（合成，30米） synthetic city overview mosaic, 30 m"
    _sidecar(folder / "shantou_overview_30m_2020.tif", "2020-10-01/2020-12-20", title)
    add("imagery/shantou_overview_30m_2020.tif", "imagery", "public", title, "imagery")

    say("imagery: 2 m satellite scene, Chaoyang")
    _write_ortho(city, folder / "chaoyang_sat_2m_2024.tif", focus, 3000, 2.0, seed + 1)
    title = "潮阳卫星影像2米（合成） Chaoyang satellite imagery 2 m (synthetic)"
    _sidecar(folder / "chaoyang_sat_2m_2024.tif", "2024-11-03", title)
    add("imagery/chaoyang_sat_2m_2024.tif", "dom2", "public", title, "imagery")

    say("imagery: 0.2 m aerial orthophoto, Chaoyang 2020")
    _write_ortho(city, folder / "chaoyang_dom02_2020.tif", focus, 4096, 0.2, seed + 2)
    title = "潮阳江湾0.2米航空影像（合成） Chaoyang Jiangwan aerial orthophoto 0.2 m (synthetic)"
    _sidecar(folder / "chaoyang_dom02_2020.tif", "2020-01-06/2020-01-19", title)
    add("imagery/chaoyang_dom02_2020.tif", "dom02", "internal", title, "imagery")

    say("imagery: 0.2 m aerial orthophoto, Chaoyang 2023 update")
    centre_2023 = (focus[0] + 150.0, focus[1] - 100.0)
    _write_ortho(city, folder / "chaoyang_dom02_2023.tif", centre_2023, 2048, 0.2, seed + 3)
    title = "潮阳城区0.2米航空影像更新（合成） Chaoyang town aerial orthophoto 0.2 m, update (synthetic)"
    _sidecar(folder / "chaoyang_dom02_2023.tif", "2023-10-21/2023-10-28", title)
    add("imagery/chaoyang_dom02_2023.tif", "dom02", "internal", title, "imagery")

    say("imagery: 0.05 m aerial orthophoto, Chenghai")
    _write_ortho(
        city, folder / "chenghai_dom005_2020.tif", _gk(*CHENGHAI_LONLAT), 2048, 0.05, seed + 4
    )
    title = "澄海主城区0.05米航空影像（合成） Chenghai main urban area aerial orthophoto 0.05 m (synthetic)"
    _sidecar(folder / "chenghai_dom005_2020.tif", "2020-03-02/2020-03-15", title)
    add("imagery/chenghai_dom005_2020.tif", "dom005", "internal", title, "imagery")

    # terrain ------------------------------------------------------------------------
    folder = out / "terrain"
    folder.mkdir(exist_ok=True)
    say("terrain: 50 m city DEM")
    bounds = tuple(districts.total_bounds)
    _write_dem(city, folder / "shantou_dem_50m_2019.tif", bounds, 50.0, districts.geometry)
    title = "全市数字高程模型50米（合成） city DEM 50 m (synthetic)"
    _sidecar(
        folder / "shantou_dem_50m_2019.tif", "2019-06-30", title, vertical_datum="1985国家高程基准"
    )
    add("terrain/shantou_dem_50m_2019.tif", "dem", "internal", title, "dem")

    say("terrain: 5 m lidar DEM, Chaoyang")
    half = 3000.0
    box = (focus[0] - half, focus[1] - half, focus[0] + half, focus[1] + half)
    _write_dem(city, folder / "chaoyang_dem_5m_2020.tif", box, 5.0, None)
    title = "潮阳激光雷达数字高程模型5米（合成） Chaoyang lidar DEM 5 m (synthetic)"
    _sidecar(
        folder / "chaoyang_dem_5m_2020.tif", "2020-11-12", title, vertical_datum="1985国家高程基准"
    )
    add("terrain/chaoyang_dem_5m_2020.tif", "dem", "internal", title, "dem")

    say("terrain: lidar point cloud, Chaoyang")
    _write_pointcloud(city, folder / "chaoyang_lidar_2020.laz", focus, 500.0)
    title = "潮阳机载激光点云（合成） Chaoyang airborne lidar point cloud (synthetic)"
    _sidecar(folder / "chaoyang_lidar_2020.laz", "", title)  # the date is in the GPS time
    add("terrain/chaoyang_lidar_2020.laz", "pointcloud", "internal", title, "pointcloud")

    # topographic maps ---------------------------------------------------------------
    folder = out / "dlg"
    folder.mkdir(exist_ok=True)
    say("topographic maps: 1:500 sheets")
    en = {
        n: e.lower().replace("'", "")
        for n, e in zip(districts["name"], districts["name_en"], strict=True)
    }

    def write_dlg(name: str, group: np.ndarray, year: int, k: int, scale: int) -> None:
        size = 250.0 if scale == 500 else 500.0
        stem = f"dlg{scale}_{en[name]}_{year}_{k:02d}"
        sheets, _ = _write_dlg(city, folder / f"{stem}.gpkg", group, size, scale)
        title = (
            f"{name}1:{scale}地形图（合成，{sheets}幅） "
            f"{en[name].title()} 1:{scale} topographic map, {sheets} sheets (synthetic)"
        )
        _sidecar(folder / f"{stem}.gpkg", _window(year, rng), title)
        classification = "restricted" if scale == 500 else "internal"
        add(f"dlg/{stem}.gpkg", f"dlg{scale}", classification, title, "vector")

    blocks = _mapped_blocks(districts, city, 250.0, 4000.0, DLG500_PLAN)
    for name, (baseline, later) in blocks.items():
        for k, group in enumerate(baseline, 1):
            write_dlg(name, group, int(rng.integers(2013, 2021)), k, 500)
        for k, group in enumerate(later, len(baseline) + 1):
            write_dlg(name, group, int(rng.integers(2021, 2025)), k, 500)

    say("topographic maps: 1:1000 sheets")
    total_area = districts.geometry.area.sum() / 1e6
    targets = {
        name: (DLG1000_KM2 * float(g.area / 1e6) / total_area,)
        for name, g in zip(districts["name"], districts.geometry, strict=True)
    }
    for name, (mapped,) in _mapped_blocks(districts, city, 500.0, 8000.0, targets).items():
        for k, group in enumerate(mapped, 1):
            write_dlg(name, group, int(rng.integers(2005, 2016)), k, 1000)

    index.write_text(  # last: its presence marks a complete set
        json.dumps(
            {
                "version": GENERATOR_VERSION,
                "seed": seed,
                "crs": CRS,
                "note": "synthetic demo deliveries; see datasets/README.md",
                "deliveries": [asdict(d) for d in deliveries],
            },
            ensure_ascii=False,
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )
    return deliveries


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="output folder")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    for d in generate(args.out, seed=args.seed, progress=lambda m: print(m, flush=True)):
        print(f"{d.product:10s} {d.classification:10s} {d.path}")


if __name__ == "__main__":
    main()
