"""Applying fitted or hand-written parameters to rasters (orthophotos, scanned maps, DEMs).

A GDAL warp (rasterio's :func:`rasterio.warp.reproject`, dataset to dataset, so GDAL
chunks the work and memory stays bounded) whose coordinate operation is the parameters'
own PROJ pipeline (GDAL's ``COORDINATE_OPERATION`` transformer option): the pixels move
exactly as points do under ``geobase crs apply``, not by PROJ's idea of the two CRSs
(a zero-shift ballpark between Xian 1980 and CGCS2000).

GDAL hands a coordinate operation coordinates in each CRS's EPSG axis order, which for
the Gauss-Kruger and geographic CRSs of China is north (latitude) first; geobase's
pipelines take east (longitude) first, so :func:`gdal_pipeline` wraps them in
``axisswap`` steps where a side is north-first.

The output grid covers the transformed source (its edges densified), with square pixels
whose area is that of a source pixel carried through the transformation (the source's
resolution for 4p with scale 1). It is written as a cloud-optimised GeoTIFF (DEFLATE,
overviews) in the target CRS, through a temporary file beside the output that is renamed
when complete. Pixels outside the source are nodata: the source's nodata value, NaN for
floating-point data without one, or else an added alpha band.

Resampling is the user's choice (:data:`RESAMPLING`); by default ``bilinear``, or
``nearest`` for rasters with a colour table (scanned maps), whose pixel values are
class indices that must not be interpolated (only nearest and mode are allowed there).
"""

from __future__ import annotations

import math
import os
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pyproj import CRS

from geobase.errors import (
    GeobaseError,
    OutputExistsError,
    SourceReadError,
    ValidationError,
)
from geobase.geodesy.fit import TransformParameters, apply, pipeline_steps, proj_pipeline
from geobase.geodesy.paramfiles import declared_crs, with_crs
from geobase.geodesy.zones import crs_label
from geobase.paths import atomic_output

__all__ = ["RASTER_SUFFIXES", "RESAMPLING", "RasterResult", "apply_raster", "gdal_pipeline"]

RASTER_SUFFIXES = (".tif", ".tiff")
#: Resampling methods offered (rasterio / GDAL names).
RESAMPLING = ("nearest", "bilinear", "cubic", "cubic_spline", "lanczos", "average", "mode")
#: Resampling that keeps class values (colour-table rasters).
CLASS_RESAMPLING = ("nearest", "mode")
# COG overview resampling names for the methods above
_OVERVIEW = {"cubic_spline": "CUBICSPLINE"}
# points along each edge of the source when finding the output extent
_EDGE_POINTS = 65

Notify = Callable[[str], None]


@dataclass(frozen=True)
class RasterResult:
    """What :func:`apply_raster` wrote.

    Attributes:
        path: The output GeoTIFF.
        width: Columns.
        height: Rows.
        resolution: Pixel size in target units (metres, or degrees for lon/lat).
        resampling: The resampling method used.
        crs: The target CRS's label ("local" for a city grid without a definition).
    """

    path: Path
    width: int
    height: int
    resolution: float
    resampling: str
    crs: str


def _north_first(crs: CRS | None) -> bool:
    if crs is None:
        return False
    return crs.axis_info[0].direction.lower() in ("north", "south")


def gdal_pipeline(params: TransformParameters, src_crs: CRS | None, dst_crs: CRS | None) -> str:
    """The parameters' PROJ pipeline in the axis order GDAL feeds a coordinate operation.

    GDAL swaps coordinates into a CRS's EPSG axis order only where the dataset has that
    CRS; a raster without one is fed as (x, y).

    Args:
        params: The parameters.
        src_crs: The CRS GDAL knows for the source raster (None: it has none).
        dst_crs: The CRS of the output raster (None: none).

    Example:
        >>> from geobase.geodesy.paramfiles import parse_handwritten
        >>> p = parse_handwritten('model = "4p"\\nfrom = "EPSG:2384"\\nto = "EPSG:4548"\\n'
        ...     'convention = "position_vector"\\naxes = "east_north"\\n'
        ...     'dx = 10.0\\ndy = -5.0\\nrotation = 0.0\\nscale = 0.0\\n')
        >>> gdal_pipeline(p, CRS.from_epsg(2384), None).split(" +step ")[1]
        '+proj=axisswap +order=2,1'
    """
    swap = "+step +proj=axisswap +order=2,1"
    steps = [swap] if _north_first(src_crs) else []
    steps.append(pipeline_steps(proj_pipeline(params)))
    if _north_first(dst_crs):
        steps.append(swap)
    return "+proj=pipeline " + " ".join(steps)


CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right", "centre")


def _corners(transform, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """The four corners and the centre of a raster through its full geotransform
    (rotated or sheared grids included), labelled as :data:`CORNERS`."""
    cols = np.array([0.0, width, 0.0, width, width / 2])
    rows = np.array([0.0, 0.0, height, height, height / 2])
    t = transform
    return t.a * cols + t.b * rows + t.c, t.d * cols + t.e * rows + t.f


def _resampling(name: str | None, paletted: bool, notify: Notify | None, path: Path) -> str:
    if name is None:
        name = "nearest" if paletted else "bilinear"
        if notify is not None:
            reason = "colour table: class values" if paletted else "continuous values"
            notify(f"resampling: {name} ({reason}; choose with --resampling)")
        return name
    if name not in RESAMPLING:
        raise ValidationError(
            f"resampling {name!r} is not offered; expected one of {', '.join(RESAMPLING)}"
        )
    if paletted and name not in CLASS_RESAMPLING:
        raise ValidationError(
            f"{path} has a colour table (class values, e.g. a scanned map); {name} would "
            "invent values between classes: use --resampling nearest or mode"
        )
    return name


def _output_grid(params: TransformParameters, src) -> tuple[object, int, int, float]:
    """(affine transform, width, height, resolution) of the output covering the source."""
    from rasterio.transform import Affine

    t = src.transform
    cols = np.linspace(0, src.width, _EDGE_POINTS)
    rows = np.linspace(0, src.height, _EDGE_POINTS)
    edge_c = np.concatenate([cols, np.full_like(rows, src.width), cols[::-1], np.zeros_like(rows)])
    edge_r = np.concatenate([np.zeros_like(cols), rows, np.full_like(cols, src.height), rows[::-1]])
    # the centre pixel's corners give the output resolution
    cc, cr = src.width / 2, src.height / 2
    pix_c = np.array([cc, cc + 1, cc + 1, cc])
    pix_r = np.array([cr, cr, cr + 1, cr + 1])
    all_c = np.concatenate([edge_c, pix_c])
    all_r = np.concatenate([edge_r, pix_r])
    xs = t.c + t.a * all_c + t.b * all_r
    ys = t.f + t.d * all_c + t.e * all_r
    out_x, out_y = apply(params, xs, ys, check=False)[:2]
    if not (np.isfinite(out_x).all() and np.isfinite(out_y).all()):
        raise ValidationError("the raster's extent cannot be transformed with these parameters")
    qx, qy = out_x[-4:], out_y[-4:]
    area = 0.5 * abs(np.dot(qx, np.roll(qy, -1)) - np.dot(qy, np.roll(qx, -1)))
    resolution = math.sqrt(area)
    ex, ey = out_x[:-4], out_y[:-4]
    west, east, south, north = ex.min(), ex.max(), ey.min(), ey.max()
    width = max(1, math.ceil((east - west) / resolution - 1e-9))
    height = max(1, math.ceil((north - south) / resolution - 1e-9))
    north_up = Affine(resolution, 0.0, west, 0.0, -resolution, north)  # (from_origin warns)
    return north_up, width, height, resolution


def apply_raster(
    params: TransformParameters,
    src_path: str | Path,
    dst_path: str | Path,
    *,
    resampling: str | None = None,
    overwrite: bool = False,
    check: bool = True,
    notify: Notify | None = None,
) -> RasterResult:
    """Convert a raster with fitted or hand-written parameters (see the module docstring).

    Args:
        params: Parameters naming both CRSs (:func:`geobase.geodesy.paramfiles.with_crs`).
        src_path: The input GeoTIFF, georeferenced in the parameters' source CRS (or
            without a CRS: then the parameters' source CRS is taken, and ``notify`` told).
        dst_path: The output (.tif / .tiff), a cloud-optimised GeoTIFF.
        resampling: One of :data:`RESAMPLING`; None chooses (bilinear, or nearest for
            colour-table rasters) and tells ``notify``.
        overwrite: Replace an existing output.
        check: Check the raster's corners against the source CRS (swapped axes, zone
            prefixes), as ``crs apply`` does for points.
        notify: Called with one-line notes for the user.

    Returns:
        A :class:`RasterResult`.

    Raises:
        ParameterFileError: the parameters do not name both CRSs.
        SourceReadError: the input is missing or not a raster GDAL reads.
        ValidationError: the raster declares another CRS than the parameters' source,
            a resampling that does not fit, an unsupported output suffix.
        OutputExistsError: the output exists and ``overwrite`` is False.
        InvalidCoordinates, AxisOrderError, ZonePrefixError: the raster's extent does not
            fit the source CRS.

    Example:
        >>> apply_raster(read_parameters("xian80.json"), "ortho_x80.tif", "ortho.tif")  # doctest: +SKIP
        RasterResult(path=PosixPath('ortho.tif'), width=4012, height=3998, ...)
    """
    import rasterio
    import rasterio.shutil
    from rasterio.enums import ColorInterp, Resampling
    from rasterio.errors import NotGeoreferencedWarning, RasterioError
    from rasterio.warp import reproject

    params = with_crs(params)
    src_path, dst_path = Path(src_path), Path(dst_path)
    if dst_path.suffix.lower() not in RASTER_SUFFIXES:
        raise ValidationError(
            f"{dst_path}: a raster is written as GeoTIFF (.tif or .tiff), not "
            f"{dst_path.suffix or '(no extension)'}"
        )
    if dst_path.exists() and not overwrite:
        raise OutputExistsError(f"{dst_path} exists; pass --overwrite to replace it")
    src_crs, dst_crs = declared_crs(params.src_crs), declared_crs(params.dst_crs)
    if not src_path.is_file():
        raise SourceReadError(f"{src_path}: no such file")
    try:
        with warnings.catch_warnings():  # an ungeoreferenced file is refused below
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            src = rasterio.open(src_path)
    except RasterioError as exc:
        raise SourceReadError(f"{src_path}: cannot be read as a raster ({exc})") from None
    tmp_warp = dst_path.with_name(f".{dst_path.stem}.{uuid.uuid4().hex[:8]}.warp.tif")
    try:
        with src:
            if src.transform.is_identity and not src.gcps[0]:
                raise ValidationError(
                    f"{src_path} is not georeferenced (no geotransform); nothing to convert"
                )
            if src.gcps[0] and src.transform.is_identity:
                raise ValidationError(
                    f"{src_path} is georeferenced by control points only; warp it to its "
                    "CRS first (gdalwarp), then convert"
                )
            if src.crs is not None and src_crs is not None:
                declared = CRS.from_user_input(src.crs.to_wkt())
                if not declared.equals(src_crs):
                    raise ValidationError(
                        f"{src_path} is in {crs_label(declared)} but the parameters are for "
                        f"{crs_label(src_crs)}"
                    )
            elif src.crs is None and src_crs is not None and notify is not None:
                notify(f"{src_path} has no CRS; taking the parameters' {crs_label(src_crs)}")
            paletted = _has_colormap(src)
            method = _resampling(resampling, paletted, notify, src_path)
            if check and src_crs is not None:
                xs, ys = _corners(src.transform, src.width, src.height)
                apply(params, xs, ys, check=True, labels=list(CORNERS), notify=notify)
            transform, width, height, resolution = _output_grid(params, src)
            interp = list(src.colorinterp)
            alpha = interp.index(ColorInterp.alpha) + 1 if ColorInterp.alpha in interp else None
            profile = {
                "driver": "GTiff",
                "width": width,
                "height": height,
                "count": src.count,
                "dtype": src.dtypes[0],
                "crs": dst_crs.to_wkt() if dst_crs is not None else None,
                "transform": transform,
                "tiled": True,
                "blockxsize": 512,
                "blockysize": 512,
                "compress": "deflate",
                "BIGTIFF": "IF_SAFER",
            }
            nodata = src.nodata
            add_alpha = False
            if alpha is None and nodata is None:
                if np.dtype(src.dtypes[0]).kind == "f":
                    nodata = float("nan")
                else:
                    add_alpha = True
                    profile["count"] = src.count + 1
            if nodata is not None:
                profile["nodata"] = nodata
            raster_crs = CRS.from_user_input(src.crs.to_wkt()) if src.crs is not None else None
            warp_options = {
                "COORDINATE_OPERATION": gdal_pipeline(params, raster_crs, dst_crs),
                "resampling": Resampling[method],
                "warp_mem_limit": 256,
                "num_threads": min(4, os.cpu_count() or 1),
            }
            with rasterio.open(tmp_warp, "w", **profile) as dst:
                bands = list(range(1, src.count + 1))
                if alpha is not None:
                    warp_options |= {"src_alpha": alpha, "dst_alpha": alpha}
                if add_alpha:
                    warp_options["dst_alpha"] = src.count + 1
                    dst.colorinterp = [*src.colorinterp, ColorInterp.alpha]
                else:
                    dst.colorinterp = src.colorinterp
                if paletted:
                    dst.write_colormap(1, src.colormap(1))
                if nodata is not None:
                    warp_options |= {"src_nodata": src.nodata, "dst_nodata": nodata}
                reproject(
                    rasterio.band(src, bands),
                    rasterio.band(dst, bands),
                    **warp_options,
                )
                for band in bands:
                    if src.descriptions[band - 1]:
                        dst.set_band_description(band, src.descriptions[band - 1])
            with atomic_output(dst_path) as tmp_out:
                rasterio.shutil.copy(
                    tmp_warp,
                    tmp_out,
                    driver="COG",
                    COMPRESS="DEFLATE",
                    BIGTIFF="IF_SAFER",
                    RESAMPLING=_OVERVIEW.get(method, method.upper()),
                )
    except GeobaseError:
        raise
    except RasterioError as exc:
        raise SourceReadError(f"{src_path}: the warp failed ({exc})") from None
    finally:
        tmp_warp.unlink(missing_ok=True)
    label = params.dst_crs if dst_crs is None else crs_label(dst_crs)
    return RasterResult(dst_path, width, height, resolution, method, str(label))


def _has_colormap(src) -> bool:
    try:
        src.colormap(1)
    except ValueError:
        return False
    return True
