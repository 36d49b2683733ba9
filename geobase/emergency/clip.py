"""Clipping sources to the area: rasters as COGs, vector layers as GeoPackages."""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from affine import Affine
from rasterio.warp import transform_bounds
from rasterio.windows import Window, from_bounds

from geobase.emergency.area import AreaOfInterest
from geobase.errors import AreaOfInterestError, SourceReadError


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


def clip_vector(src: Path, aoi: AreaOfInterest, dst: Path) -> int:
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
