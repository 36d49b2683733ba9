"""Emergency mapping packages (应急测绘数据包): the best data for an area, packed for offline use.

When a typhoon or flood strikes, responders need, for one area and within minutes
(DOMAIN.md section 9): the newest and finest imagery and the DEM (clipped, as COGs), the
topographic sheets that cover the area, the usable control points nearby and the nearest
CORS stations, a tile pyramid to look at offline (PMTiles, plus the same tiles as a
folder for the bundled HTML viewer), and a manifest of every source with its date and
classification.

This module orchestrates the domain packages (it sits beside ``demo.py``; only ``cli``
imports it). The package is built in a hidden temporary folder next to the output and
renamed into place at the end, so a failure leaves nothing half-written.

Example:
    >>> aoi = parse_aoi("116.60,23.26", radius=2000)  # doctest: +SKIP
    >>> build_package(ws, aoi, "chaoyang_pkg")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import json
import logging
import math
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
import shapely.geometry
from affine import Affine
from pyproj import Geod, Transformer
from rasterio.warp import transform_bounds
from rasterio.windows import Window, from_bounds

from geobase import __version__
from geobase.areas import read_polygon
from geobase.catalog.access import LABELS_ZH, may_see, rank, verify_token
from geobase.catalog.records import current_datasets
from geobase.errors import (
    AccessDenied,
    AreaOfInterestError,
    InvalidCoordinates,
    OutputExistsError,
    SourceReadError,
    ValidationError,
)
from geobase.geodesy.lonlat import check_bbox, check_lonlat, parse_numbers
from geobase.paths import atomic_folder, atomic_output
from geobase.store import Workspace
from geobase.store.districts import list_districts
from geobase.tabular import write_csv

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]
GEOD = Geod(ellps="GRS80")  # CGCS2000's ellipsoid differs from GRS80 by 0.1 mm in b
GK = "EPSG:4548"
MAX_RADIUS_M = 50_000.0
MAX_AREA_KM2 = 2_500.0
DEFAULT_CONTROL_DISTANCE_M = 3_000.0
DEFAULT_CORS_COUNT = 3
DEFAULT_MAX_ZOOM = 17


# --- the area of interest -------------------------------------------------------------


@dataclass(frozen=True)
class AreaOfInterest:
    """An area in CGCS2000 geographic coordinates (EPSG:4490).

    Attributes:
        geometry: a polygon or multipolygon, lon/lat.
        description: how it was given ("point 116.6,23.26 r=2000 m", a file name, ...).
    """

    geometry: shapely.Geometry
    description: str

    def __post_init__(self) -> None:
        g = self.geometry
        if g is None or g.is_empty or g.geom_type not in ("Polygon", "MultiPolygon"):
            raise AreaOfInterestError(f"area of interest {self.description}: not a polygon")
        if not g.is_valid:
            raise AreaOfInterestError(f"area of interest {self.description}: invalid polygon")
        w, s, e, n = g.bounds
        if not (-180 <= w <= e <= 180 and -90 <= s <= n <= 90):
            raise AreaOfInterestError(
                f"area of interest {self.description}: bounds {g.bounds} are not lon/lat degrees"
            )

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return tuple(self.geometry.bounds)  # type: ignore[return-value]

    @property
    def centre(self) -> tuple[float, float]:
        c = self.geometry.centroid
        return float(c.x), float(c.y)

    def area_km2(self) -> float:
        return abs(GEOD.geometry_area_perimeter(self.geometry)[0]) / 1e6


def circle(lon: float, lat: float, radius: float, segments: int = 90) -> shapely.Polygon:
    """A geodesic circle of ``radius`` metres around (lon, lat), as a lon/lat polygon."""
    azimuths = np.linspace(0.0, 360.0, segments, endpoint=False)
    n = len(azimuths)
    lons, lats, _ = GEOD.fwd(np.full(n, lon), np.full(n, lat), azimuths, np.full(n, radius))
    return shapely.Polygon(np.column_stack([lons, lats]))


def parse_aoi(spec: str | Path, radius: float | None = None) -> AreaOfInterest:
    """An area of interest from the command line.

    Args:
        spec: a polygon file (GeoJSON, GeoPackage, Shapefile, any CRS), a bounding box
            ``W,S,E,N`` or a point ``LON,LAT`` (CGCS2000 degrees).
        radius: metres around a point (required for a point, refused otherwise).

    Raises:
        AreaOfInterestError: malformed, unreadable or empty; a bad radius.
    """
    text = str(spec).strip()
    values = None
    if not Path(text).exists() and any(c in text for c in ",，;；"):
        try:
            values = parse_numbers(text, "area of interest", (2, 4))
        except InvalidCoordinates as exc:
            raise AreaOfInterestError(f"{exc} (LON,LAT, W,S,E,N or a polygon file)") from None
    if values is not None:
        if len(values) == 2:
            if radius is None:
                raise AreaOfInterestError(
                    f"point {text}: give a radius in metres (--radius) around it"
                )
            if not (0 < radius <= MAX_RADIUS_M):
                raise AreaOfInterestError(
                    f"radius {radius:g} m is not in (0, {MAX_RADIUS_M:g}] metres"
                )
            lon, lat = values
            try:
                check_lonlat(lon, lat, "point")
            except InvalidCoordinates as exc:
                raise AreaOfInterestError(str(exc)) from None
            return AreaOfInterest(circle(lon, lat, radius), f"point {text}, radius {radius:g} m")
        if len(values) == 4:
            if radius is not None:
                raise AreaOfInterestError("--radius applies to a point, not to a bounding box")
            w, s, e, n = values
            try:
                check_bbox(w, s, e, n)
            except InvalidCoordinates as exc:
                raise AreaOfInterestError(str(exc)) from None
            return AreaOfInterest(shapely.box(w, s, e, n), f"bounding box {text}")
        raise AreaOfInterestError(
            f"area of interest {text!r}: {len(values)} numbers; expected LON,LAT or W,S,E,N"
        )
    if radius is not None:
        raise AreaOfInterestError("--radius applies to a point, not to a polygon file")
    path = Path(text)
    try:
        geom = read_polygon(path, "area of interest")
    except (SourceReadError, ValidationError) as exc:
        raise AreaOfInterestError(str(exc)) from None
    return AreaOfInterest(geom, f"polygon file {path.name}")


# --- choosing the sources ---------------------------------------------------------------


def _best(frame: gpd.GeoDataFrame, aoi: shapely.Geometry) -> gpd.GeoDataFrame:
    """The finest data for every part of the area, newest first at equal resolution,
    plus the newest dataset overall.

    Greedy: datasets in order of (resolution, newest) are kept while they cover a part of
    the area (more than 0.5 %) that the finer ones kept so far do not.
    """
    if frame.empty:
        return frame
    frame = frame.assign(_res=frame["resolution"].fillna(np.inf)).sort_values(
        ["_res", "acquired_end"], ascending=[True, False], kind="stable"
    )
    keep: list[int] = []
    covered = shapely.Polygon()
    area = aoi.area
    for i, row in zip(frame.index, frame.itertuples(index=False), strict=True):
        part = shapely.intersection(row.geometry, aoi)
        if shapely.difference(part, covered).area > 0.005 * area:
            keep.append(i)
            covered = shapely.union(covered, part)
    newest = frame.sort_values("acquired_end", ascending=False, kind="stable").index[0]
    if newest not in keep:
        keep.append(newest)
    return frame.loc[keep].drop(columns="_res")


# --- rasters ------------------------------------------------------------------------------


def clip_to_cog(src_path: Path, aoi: AreaOfInterest, dst: Path, scratch: Path) -> dict:
    """Clip a raster to the area's bounding box and write it as a COG; returns its facts.

    Copies window by window (memory bounded by a block), then converts with rio-cogeo.
    """
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    try:
        src = rasterio.open(src_path)
    except (rasterio.errors.RasterioError, OSError) as exc:
        raise SourceReadError(f"{src_path}: cannot be opened ({exc})") from None
    with src:
        box = transform_bounds("EPSG:4490", src.crs, *aoi.bounds, densify_pts=21)
        full = Window(0, 0, src.width, src.height)
        window = from_bounds(*box, transform=src.transform).round_offsets().round_lengths()
        try:
            window = window.intersection(full)
        except rasterio.errors.WindowError:
            raise AreaOfInterestError(f"{src_path.name} does not reach the area") from None
        profile = src.profile.copy()
        profile.update(
            driver="GTiff",
            width=int(window.width),
            height=int(window.height),
            transform=src.transform @ Affine.translation(window.col_off, window.row_off),
            tiled=True,
            blockxsize=512,
            blockysize=512,
            compress="deflate",
        )
        for key in ("photometric", "jpeg_quality", "predictor"):
            profile.pop(key, None)
        tmp = scratch / f"{dst.stem}.clip.tif"
        with rasterio.open(tmp, "w", **profile) as out:
            for row in range(0, int(window.height), 1024):
                h = min(1024, int(window.height) - row)
                part = Window(window.col_off, window.row_off + row, window.width, h)
                out.write(src.read(window=part), window=Window(0, row, window.width, h))
            for i, ci in enumerate(src.colorinterp, 1):
                with contextlib.suppress(ValueError):
                    out.set_band_description(i, src.descriptions[i - 1] or "")
                del ci
        rgb = src.count == 3 and src.dtypes[0] == "uint8" and src.nodata is None
    cog_profile = cog_profiles.get("jpeg" if rgb else "deflate")
    if not rgb and np.dtype(profile["dtype"]).kind == "f":
        cog_profile["predictor"] = 3
    with warnings.catch_warnings():
        # rio-cogeo 7 still multiplies Affines with `*` (affine >= 3.1 warns)
        warnings.filterwarnings(
            "ignore", message="Use `@` matmul", category=PendingDeprecationWarning
        )
        cog_translate(tmp, dst, cog_profile, quiet=True, overview_resampling="average")
    tmp.unlink()
    with rasterio.open(dst) as cog:
        return {
            "width": cog.width,
            "height": cog.height,
            "crs": cog.crs.to_string(),
            "bounds": list(cog.bounds),
            "resolution_m": abs(cog.transform.a),
        }


# --- the package --------------------------------------------------------------------------


@dataclass
class PackageResult:
    """What :func:`build_package` wrote."""

    path: Path
    zip_path: Path
    manifest: dict[str, Any] = field(default_factory=dict)


def _check_outputs(out: Path, zip_path: Path, overwrite: bool) -> None:
    for path in (out, zip_path):
        if path.exists() and not overwrite:
            raise OutputExistsError(f"{path} exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise AreaOfInterestError(f"output folder {out.parent} does not exist")


def _clearance(ws: Workspace, include_restricted: bool, token: str | None) -> str:
    if not include_restricted:
        return "internal"
    if not token:
        raise AccessDenied(
            "--include-restricted needs a token with restricted clearance (--token or "
            "GEOBASE_TOKEN); see 'geobase token create'"
        )
    record = verify_token(ws.store, token)
    if rank(record.max_classification) < rank("restricted"):
        raise AccessDenied(
            f"token {record.name!r} is cleared for {record.max_classification} data, "
            "not restricted; restricted data stay out of the package"
        )
    return "restricted"


def _in_city(ws: Workspace, aoi: AreaOfInterest) -> gpd.GeoDataFrame:
    districts = list_districts(ws.store)
    if districts.empty:
        raise AreaOfInterestError(
            "the workspace has no districts; load them first ('geobase districts load')"
        )
    hit = districts[districts.intersects(aoi.geometry)]
    if hit.empty:
        w, s, e, n = (round(v, 4) for v in aoi.bounds)
        raise AreaOfInterestError(
            f"area of interest ({w},{s},{e},{n}) lies outside the workspace's districts; "
            "is it lon,lat (not lat,lon or Gauss-Kruger metres)?"
        )
    return hit


def _source_entry(row: Any, file: str | None) -> dict[str, Any]:
    def val(v: Any) -> Any:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return None
        return v.item() if hasattr(v, "item") else v

    return {
        "dataset_id": row.dataset_id,
        "version": int(row.version),
        "product": row.product,
        "kind": row.kind,
        "title": val(row.title),
        "acquired_start": val(row.acquired_start),
        "acquired_end": val(row.acquired_end),
        "resolution_m": val(row.resolution),
        "classification": row.classification,
        "classification_zh": LABELS_ZH.get(row.classification, row.classification),
        "owner": val(row.owner),
        "checksum_sha256": row.checksum,
        "file": file,
    }


def _sheets(
    aoi: AreaOfInterest, maps: gpd.GeoDataFrame, visible: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """1:500 sheets and 1:10,000 national sheets over the area, with the newest map of each."""
    from geobase.sheets import rect_sheets_covering, sheets_covering

    area = gpd.GeoSeries([aoi.geometry], crs=4490)
    rect = rect_sheets_covering(area, 500, GK).to_crs(4490)
    national = sheets_covering(aoi.geometry, 10000)
    frame = pd.concat([national, rect], ignore_index=True)
    frame["newest_map"] = None
    frame["newest_map_date"] = None
    frame["map_in_package"] = False
    if not maps.empty:
        centres = shapely.centroid(frame.geometry.values)
        ordered = maps.sort_values("acquired_end", ascending=False, kind="stable")
        tree = shapely.STRtree(ordered.geometry.values)
        sheet_idx, map_idx = tree.query(centres, predicate="within")
        best: dict[int, int] = {}
        for s, m in zip(sheet_idx, map_idx, strict=True):
            best[s] = min(best.get(s, m), m)  # first in newest-first order
        for s, m in best.items():
            row = ordered.iloc[m]
            frame.at[s, "newest_map"] = row["dataset_id"]
            frame.at[s, "newest_map_date"] = row["acquired_end"]
            frame.at[s, "map_in_package"] = row["dataset_id"] in set(visible["dataset_id"])
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=4490)


def _clip_vector(src: Path, aoi: AreaOfInterest, dst: Path) -> int:
    """The features of every layer of a vector dataset that meet the area; returns a count."""
    import pyogrio

    count = 0
    for layer, _ in pyogrio.list_layers(src):
        info = pyogrio.read_info(src, layer=layer)
        crs = info.get("crs") or "EPSG:4490"
        box = transform_bounds("EPSG:4490", crs, *aoi.bounds, densify_pts=21)
        part = pyogrio.read_dataframe(src, layer=layer, bbox=box)
        if part.empty:
            continue
        local = gpd.GeoSeries([aoi.geometry], crs=4490).to_crs(part.crs).iloc[0]
        part = part[part.intersects(local)]
        if part.empty:
            continue
        part.to_file(dst, layer=layer, driver="GPKG", engine="pyogrio")
        count += len(part)
    return count


def _control(
    ws: Workspace, aoi: AreaOfInterest, distance: float, cors_count: int
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Usable control points within ``distance`` of the area, and the nearest CORS stations."""
    from geobase.control.registry import search

    lon, lat = aoi.centre
    to_gk = Transformer.from_crs("EPSG:4490", GK, always_xy=True)
    local = shapely.transform(
        aoi.geometry, lambda xy: np.column_stack(to_gk.transform(xy[:, 0], xy[:, 1]))
    )
    ce, cn = to_gk.transform(lon, lat)
    reach = shapely.hausdorff_distance(local, shapely.Point(ce, cn)) + distance
    near = search(ws, near=(lon, lat), radius=reach, usability="usable")
    if not near.empty:
        e, n = to_gk.transform(near.geometry.x.to_numpy(), near.geometry.y.to_numpy())
        d = shapely.distance(local, shapely.points(e, n))
        near = near.assign(distance_to_area_m=np.round(d, 1))
        near = near[near["distance_to_area_m"] <= distance].sort_values("distance_to_area_m")
    cors = search(ws, kind="cors")
    if not cors.empty:
        _, _, d = GEOD.inv(
            np.full(len(cors), lon), np.full(len(cors), lat), cors.geometry.x, cors.geometry.y
        )
        cors = cors.assign(distance_m=np.round(d, 1)).sort_values("distance_m").head(cors_count)
    return near, cors


_CONTROL_COLUMNS = [
    "point_id",
    "name",
    "kind",
    "gnss_grade",
    "level_grade",
    "cjj_grade",
    "district",
    "lon",
    "lat",
    "ellh",
    "x_north",
    "y_east",
    "gk_epsg",
    "normal_h",
    "mark_type",
    "condition",
    "usability",
    "last_inspected",
    "distance_to_area_m",
    "distance_m",
    "site",
    "route",
]


def _write_points(
    frame: gpd.GeoDataFrame, folder: Path, stem: str, encoding: str | None = None
) -> None:
    cols = [c for c in _CONTROL_COLUMNS if c in frame.columns]
    out = gpd.GeoDataFrame(frame[cols], geometry=frame.geometry.values, crs=4490)
    out.to_file(folder / f"{stem}.geojson", driver="GeoJSON", engine="pyogrio")
    write_csv(pd.DataFrame(frame[cols]), folder / f"{stem}.csv", encoding)  # default: BOM


def _tiles(cogs: list[tuple[Path, float]], aoi: AreaOfInterest, out: Path, max_zoom: int) -> dict:
    """A WebMercatorQuad PMTiles pyramid of the clipped imagery (coarsest painted first)."""
    from geobase.tiles.build import default_zooms
    from geobase.tiles.pyramid import build_pyramid, settings_for
    from geobase.tiles.render import source_ref
    from geobase.tiles.tms import TMS

    tms = TMS.get("WebMercatorQuad")
    ordered = [str(p) for p, _ in sorted(cogs, key=lambda c: -c[1])]
    refs = [source_ref(p, tms.rasterio_crs) for p in ordered]
    _, finest = default_zooms(tms, refs)
    maxz = min(finest, max_zoom)
    # the first zoom at which the area spans at most 2 x 2 tiles
    minz = maxz
    while minz > max(0, maxz - 8) and len(list(tms.tiles(*aoi.bounds, zooms=[minz]))) > 4:
        minz -= 1
    settings = settings_for(tms, minzoom=minz, maxzoom=maxz, fmt="jpeg", mode="rgb", channels=3)
    w, s, e, n = (round(v, 7) for v in aoi.bounds)
    tilejson = {
        "tilejson": "3.0.0",
        "name": out.stem,
        "scheme": "xyz",
        "tiles": ["{z}/{x}/{y}.jpg"],
        "minzoom": minz,
        "maxzoom": maxz,
        "bounds": [w, s, e, n],
        "center": [round((w + e) / 2, 7), round((s + n) / 2, 7), min(minz + 2, maxz)],
        "format": "jpeg",
        "tilematrixset": tms.id,
        "crs": "EPSG:3857",
        "mode": "rgb",
    }
    stats = build_pyramid(refs, out, settings, tilejson, workers=1)
    return {"minzoom": minz, "maxzoom": maxz, "tiles": stats.tiles, "bytes": stats.bytes}


def _extract_tiles(pmtiles: Path, folder: Path) -> int:
    """The tiles of a PMTiles archive as ``z/x/y.jpg`` files (the HTML viewer reads them)."""
    from geobase.tiles.stores import open_pyramid

    count = 0
    with open_pyramid(pmtiles) as reader:
        for z, x, y in reader.tiles():
            data = reader.get_tile(z, x, y)
            if data is None:
                continue
            path = folder / str(z) / str(x) / f"{y}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            count += 1
    return count


def build_package(
    ws: Workspace,
    aoi: AreaOfInterest,
    out: str | Path,
    *,
    include_restricted: bool = False,
    token: str | None = None,
    control_distance: float = DEFAULT_CONTROL_DISTANCE_M,
    cors_count: int = DEFAULT_CORS_COUNT,
    max_zoom: int = DEFAULT_MAX_ZOOM,
    overwrite: bool = False,
    progress: Progress | None = None,
    encoding: str | None = None,
) -> PackageResult:
    """Write an emergency package for ``aoi``: folder ``out`` and ``out.zip``.

    Args:
        ws: the workspace.
        aoi: the area (:func:`parse_aoi`).
        out: the package folder to create; the zip is written beside it.
        include_restricted: also pack restricted (涉密) data; needs ``token``.
        token: a bearer token with restricted clearance.
        control_distance: usable control points up to this far (m) from the area.
        cors_count: this many nearest CORS stations.
        max_zoom: the finest zoom of the offline pyramid.
        overwrite: replace an existing package.
        progress: called with a message before each part.
        encoding: of the control CSV files (:mod:`geobase.tabular`; default UTF-8 with BOM).

    Returns:
        The folder, the zip and the manifest.

    Raises:
        AreaOfInterestError: the area is outside the districts or too large; a bad
            option. AccessDenied / InvalidToken: restricted data without clearance.
        OutputExistsError: the package exists and ``overwrite`` is False.
    """
    say = progress or (lambda message: None)
    out = Path(out).absolute()
    zip_path = out.with_name(out.name + ".zip")
    if control_distance <= 0 or cors_count < 0 or not (0 <= max_zoom <= 22):
        raise AreaOfInterestError(
            "control distance must be positive, CORS count >= 0 and max zoom 0-22"
        )
    _check_outputs(out, zip_path, overwrite)
    clearance = _clearance(ws, include_restricted, token)
    districts = _in_city(ws, aoi)
    if aoi.area_km2() > MAX_AREA_KM2:
        raise AreaOfInterestError(
            f"area of interest is {aoi.area_km2():,.0f} km2; an emergency package covers at "
            f"most {MAX_AREA_KM2:,.0f} km2"
        )
    # the folder and the zip are written under temporary names and renamed when complete;
    # a previous package is replaced only then
    with atomic_folder(out) as stage:
        manifest = _fill(
            ws, aoi, stage, districts, clearance, control_distance, cors_count, max_zoom, say,
            encoding,
        )  # fmt: skip
        manifest["package"]["name"] = out.name
        (stage / "manifest.json").write_text(
            json.dumps(manifest, ensure_ascii=False, indent=2, default=str) + "\n",
            encoding="utf-8",
        )
        say("zip")
        with atomic_output(zip_path) as zip_tmp:
            archive = shutil.make_archive(
                str(zip_tmp.with_suffix("")), "zip", out.parent, stage.name
            )
            # the archive's top folder is the hidden staging name; rewrite it to the package's
            _rename_zip_root(Path(archive), stage.name, out.name)
    return PackageResult(out, zip_path, manifest)


def _rename_zip_root(archive: Path, old: str, new: str) -> None:
    import zipfile

    with (
        atomic_output(archive) as tmp,
        zipfile.ZipFile(archive) as src,
        zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for item in src.infolist():
            data = src.read(item.filename)
            item.filename = new + item.filename[len(old) :]
            dst.writestr(item, data)


def _fill(
    ws: Workspace,
    aoi: AreaOfInterest,
    stage: Path,
    districts: gpd.GeoDataFrame,
    clearance: str,
    control_distance: float,
    cors_count: int,
    max_zoom: int,
    say: Progress,
    encoding: str | None = None,
) -> dict[str, Any]:
    scratch = stage / ".scratch"
    scratch.mkdir()
    say("catalogue")
    found = current_datasets(ws.store, bbox=aoi.bounds)
    found = found[found.intersects(aoi.geometry)]
    allowed = found["classification"].map(lambda c: may_see(c, clearance)).astype(bool)
    visible, withheld = found[allowed], found[~allowed]
    sources: list[dict[str, Any]] = []
    files: dict[str, list[str]] = {"imagery": [], "dem": [], "topographic": []}

    cogs: list[tuple[Path, float]] = []
    for kind, folder in (("imagery", "imagery"), ("dem", "dem")):
        chosen = _best(visible[visible["kind"] == kind], aoi.geometry)
        (stage / folder).mkdir()
        for row in chosen.itertuples(index=False):
            say(f"{kind}: {row.dataset_id}")
            name = f"{folder}/{row.dataset_id}_v{row.version}.tif"
            src = ws.file(row.path, must_exist=True)
            facts = clip_to_cog(src, aoi, stage / name, scratch)
            entry = _source_entry(row, name)
            entry["clipped"] = facts
            sources.append(entry)
            files[folder].append(name)
            if kind == "imagery":
                cogs.append((stage / name, float(row.resolution or facts["resolution_m"])))

    say("topographic sheets")
    maps = found[found["product"].isin(["dlg500", "dlg1000", "dlg2000"])]
    visible_maps = visible[visible["product"].isin(["dlg500", "dlg1000", "dlg2000"])]
    (stage / "topographic").mkdir()
    sheets = _sheets(aoi, maps, visible_maps)
    sheets.to_file(stage / "topographic" / "sheets.geojson", driver="GeoJSON", engine="pyogrio")
    for row in visible_maps.itertuples(index=False):
        name = f"topographic/{row.dataset_id}_v{row.version}.gpkg"
        src = ws.file(row.path, must_exist=True)
        if src.is_dir():
            src = next(src.glob("*.gpkg"), src)
        if _clip_vector(src, aoi, stage / name):
            sources.append(_source_entry(row, name))
            files["topographic"].append(name)

    say("control points")
    (stage / "control").mkdir()
    near, cors = _control(ws, aoi, control_distance, cors_count)
    _write_points(near, stage / "control", "control_points", encoding)
    _write_points(cors, stage / "control", "cors_stations", encoding)

    tiles: dict[str, Any] | None = None
    if cogs:
        say("offline tiles")
        (stage / "tiles").mkdir()
        tiles = _tiles(cogs, aoi, stage / "tiles" / "area.pmtiles", max_zoom)
        tiles["file"] = "tiles/area.pmtiles"
        tiles["viewer_tiles"] = _extract_tiles(
            stage / "tiles" / "area.pmtiles", stage / "viewer" / "tiles"
        )
    shutil.rmtree(scratch)

    used = [s["classification"] for s in sources]
    level = max(["internal", *used], key=rank)
    manifest: dict[str, Any] = {
        "package": {
            "kind": "emergency mapping package / 应急测绘数据包",
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "generator": f"geobase {__version__}",
            "workspace": ws.config.name,
            "classification": level,
            "classification_zh": LABELS_ZH.get(level, level),
            "clearance_used": clearance,
        },
        "area": {
            "description": aoi.description,
            "bounds": [round(v, 7) for v in aoi.bounds],
            "area_km2": round(aoi.area_km2(), 3),
            "districts": districts["name"].tolist(),
            "geometry": shapely.geometry.mapping(aoi.geometry),
        },
        "sources": sources,
        "withheld": {
            "count": len(withheld),
            "reason": (
                "restricted (涉密) data need --include-restricted and a cleared token"
                if len(withheld)
                else None
            ),
        },
        "sheets": {
            "file": "topographic/sheets.geojson",
            "count_1_500": int((sheets["scale"] == 500).sum()),
            "count_1_10000": int((sheets["scale"] == 10000).sum()),
            "with_map": int(sheets["newest_map"].notna().sum()),
        },
        "control": {
            "usable_within_m": control_distance,
            "usable_points": len(near),
            "files": ["control/control_points.geojson", "control/control_points.csv"],
            "cors_stations": cors["point_id"].tolist() if not cors.empty else [],
            "cors_files": ["control/cors_stations.geojson", "control/cors_stations.csv"],
        },
        "tiles": tiles,
        "viewer": "index.html",
        "files": files,
    }
    say("viewer")
    (stage / "index.html").write_text(
        viewer_html(manifest, aoi, sheets, near, cors), encoding="utf-8"
    )
    return manifest


# --- the offline viewer ---------------------------------------------------------------------


def _features(frame: gpd.GeoDataFrame, props: list[str]) -> list[dict]:
    out = []
    for row, geom in zip(frame.to_dict("records"), frame.geometry.values, strict=True):
        p = {}
        for k in props:
            v = row.get(k)
            p[k] = None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
        out.append({"type": "Feature", "properties": p, "geometry": shapely.geometry.mapping(geom)})
    return out


def viewer_html(
    manifest: dict[str, Any],
    aoi: AreaOfInterest,
    sheets: gpd.GeoDataFrame,
    control: gpd.GeoDataFrame,
    cors: gpd.GeoDataFrame,
) -> str:
    """A self-contained HTML viewer: the package's tiles (``viewer/tiles``) and its layers.

    No script or style is loaded from anywhere: it works from ``file://`` without a
    network and without a web server.
    """
    data = {
        "area": {"type": "Feature", "properties": {}, "geometry": manifest["area"]["geometry"]},
        "sheets": _features(sheets, ["code", "scale", "newest_map", "newest_map_date"]),
        "control": _features(
            control,
            [
                "point_id",
                "name",
                "kind",
                "gnss_grade",
                "level_grade",
                "usability",
                "distance_to_area_m",
            ],
        ),
        "cors": _features(cors, ["point_id", "name", "distance_m"]),
        "tiles": manifest["tiles"],
        "bounds": manifest["area"]["bounds"],
    }
    rows = ""
    for src in manifest["sources"]:
        res = "" if src["resolution_m"] is None else f"{src['resolution_m']:g} m"
        cells = [
            src["dataset_id"],
            src["product"],
            str(src["acquired_end"]),
            res,
            f"{src['classification_zh']} {src['classification']}",
            src["file"] or "",
        ]
        rows += "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"
    payload = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    title = f"应急测绘数据包 Emergency package — {html.escape(manifest['area']['description'])}"
    return _VIEWER.format(
        title=title,
        created=html.escape(manifest["package"]["created"]),
        level=html.escape(
            f"{manifest['package']['classification_zh']} {manifest['package']['classification']}"
        ),
        withheld=manifest["withheld"]["count"],
        rows=rows,
        payload=payload,
    )


_VIEWER = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: "WenQuanYi Zen Hei", "Noto Sans CJK SC", sans-serif; margin: 0; }}
header {{ padding: 8px 12px; background: #223; color: #fff; }}
#map {{ position: relative; height: 62vh; overflow: hidden; background: #dde; cursor: grab; }}
#tiles, #overlay {{ position: absolute; left: 0; top: 0; }}
#tiles img {{ position: absolute; width: 256px; height: 256px; }}
#controls {{ position: absolute; right: 8px; top: 8px; z-index: 3; }}
#controls button {{ display: block; width: 32px; margin-bottom: 4px; font-size: 18px; }}
#legend {{ position: absolute; left: 8px; bottom: 8px; z-index: 3; background: #fffd;
  padding: 4px 8px; font-size: 12px; }}
table {{ border-collapse: collapse; margin: 8px 12px; font-size: 13px; }}
td, th {{ border: 1px solid #bbb; padding: 2px 6px; }}
</style></head>
<body>
<header><b>{title}</b><br>
生成 created {created} · 密级 classification: {level} · 未纳入的涉密数据 withheld restricted datasets: {withheld}</header>
<div id="map"><div id="tiles"></div><svg id="overlay"></svg>
<div id="controls"><button id="zin" title="放大 zoom in">+</button>
<button id="zout" title="缩小 zoom out">−</button></div>
<div id="legend"><span style="color:#d22">■</span> 范围 area ·
<span style="color:#06c">□</span> 图幅 sheets ·
<span style="color:#0a0">●</span> 可用控制点 usable control points ·
<span style="color:#c0c">▲</span> CORS 基准站 stations</div></div>
<h3 style="margin:8px 12px">数据来源 Sources</h3>
<table><tr><th>数据集 dataset</th><th>产品 product</th><th>获取日期 acquired</th>
<th>分辨率 resolution</th><th>密级 classification</th><th>文件 file</th></tr>{rows}</table>
<script id="data" type="application/json">{payload}</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const R = 6378137, TILE = 256;
const map = document.getElementById("map"), layer = document.getElementById("tiles"),
  svg = document.getElementById("overlay");
const T = D.tiles, cache = new Map();
let z = T ? T.maxzoom : 17;
function merc(lon, lat) {{
  const x = R * lon * Math.PI / 180;
  const y = R * Math.log(Math.tan(Math.PI / 4 + lat * Math.PI / 360));
  return [x, y];
}}
function px(lon, lat) {{  // global pixel at zoom z
  const [x, y] = merc(lon, lat), size = TILE * 2 ** z, half = Math.PI * R;
  return [(x + half) / (2 * half) * size, (half - y) / (2 * half) * size];
}}
const b = D.bounds;
let centre = [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2], off = [0, 0];
function ring(coords) {{
  return coords.map(c => px(c[0], c[1])).map(p => (p[0] - off[0]) + "," + (p[1] - off[1])).join(" ");
}}
function polys(geom) {{
  return geom.type === "Polygon" ? [geom.coordinates] : geom.coordinates;
}}
function draw() {{
  const w = map.clientWidth, h = map.clientHeight, c = px(centre[0], centre[1]);
  off = [c[0] - w / 2, c[1] - h / 2];
  const shown = new Set();
  if (T && z >= T.minzoom && z <= T.maxzoom) {{
    for (let tx = Math.floor(off[0] / TILE); tx <= Math.floor((off[0] + w) / TILE); tx++) {{
      for (let ty = Math.floor(off[1] / TILE); ty <= Math.floor((off[1] + h) / TILE); ty++) {{
        const key = z + "/" + tx + "/" + ty;
        let img = cache.get(key);
        if (!img) {{
          img = new Image();
          img.onerror = () => {{ img.dataset.missing = "1"; img.remove(); }};  // outside the area
          img.src = "viewer/tiles/" + key + ".jpg";
          cache.set(key, img);
        }}
        if (img.dataset.missing) continue;
        img.style.left = (tx * TILE - off[0]) + "px"; img.style.top = (ty * TILE - off[1]) + "px";
        if (img.parentNode !== layer) layer.appendChild(img);
        shown.add(img);
      }}
    }}
  }}
  for (const img of Array.from(layer.children)) if (!shown.has(img)) img.remove();
  svg.setAttribute("width", w); svg.setAttribute("height", h);
  let s = "";
  for (const f of D.sheets) {{
    if (String(f.properties.scale) !== "500" && z >= 15) continue;
    for (const p of polys(f.geometry)) s += '<polygon points="' + ring(p[0]) +
      '" fill="none" stroke="#06c" stroke-width="0.7"><title>' + f.properties.code + "</title></polygon>";
  }}
  for (const p of polys(D.area.geometry)) s += '<polygon points="' + ring(p[0]) +
    '" fill="none" stroke="#d22" stroke-width="2.5"/>';
  for (const f of D.control) {{
    const q = px(...f.geometry.coordinates);
    s += '<circle cx="' + (q[0] - off[0]) + '" cy="' + (q[1] - off[1]) +
      '" r="5" fill="#0a0" stroke="#fff"><title>' + f.properties.point_id + " " + f.properties.name + "</title></circle>";
  }}
  for (const f of D.cors) {{
    const q = px(...f.geometry.coordinates), x = q[0] - off[0], y = q[1] - off[1];
    s += '<polygon points="' + x + "," + (y - 7) + " " + (x - 6) + "," + (y + 5) + " " + (x + 6) + "," + (y + 5) +
      '" fill="#c0c" stroke="#fff"><title>CORS ' + f.properties.point_id + "</title></polygon>";
  }}
  svg.innerHTML = s;
}}
document.getElementById("zin").onclick = () => {{ z = Math.min(z + 1, 22); draw(); }};
document.getElementById("zout").onclick = () => {{ z = Math.max(z - 1, 1); draw(); }};
let drag = null;
map.addEventListener("mousedown", e => {{ drag = [e.clientX, e.clientY]; }});
window.addEventListener("mouseup", () => {{ drag = null; }});
window.addEventListener("mousemove", e => {{
  if (!drag) return;
  const c = px(centre[0], centre[1]), nx = c[0] - (e.clientX - drag[0]), ny = c[1] - (e.clientY - drag[1]);
  const size = TILE * 2 ** z, half = Math.PI * R;
  const lon = (nx / size * 2 * half - half) / R * 180 / Math.PI;
  const lat = (2 * Math.atan(Math.exp((half - ny / size * 2 * half) / R)) - Math.PI / 2) * 180 / Math.PI;
  centre = [lon, lat]; drag = [e.clientX, e.clientY]; draw();
}});
window.addEventListener("resize", draw);
// start with the whole area in view
while (z > 1) {{
  const a = px(b[0], b[3]), c = px(b[2], b[1]);
  if (c[0] - a[0] <= map.clientWidth && c[1] - a[1] <= map.clientHeight) break;
  z -= 1;
}}
draw();
document.body.dataset.ready = "1";
</script>
</body></html>
"""
