"""Height-anomaly grids: ellipsoidal heights <-> 1985 normal heights.

Normal height H (1985国家高程基准) = ellipsoidal height h - height anomaly zeta. The city's
refined quasi-geoid (精化似大地水准面) is a grid of zeta values; a point's zeta is
interpolated bilinearly between the four surrounding grid values. Grid values sit at pixel
centres (rasterio's transform, which GDAL already shifts for PixelIsPoint files), so the
grid answers for points between the outermost pixel centres; anywhere else, or next to a
nodata value, is an :class:`~geobase.errors.OutsideGridError`.

Example:
    >>> grid = HeightAnomalyGrid.open("shantou_zeta.tif")  # doctest: +SKIP
    >>> grid.to_normal([116.682], [23.354], [15.0])  # doctest: +SKIP
    array([-1.9...])
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pyproj import CRS

from geobase.errors import InvalidCoordinates, OutsideGridError, SourceReadError
from geobase.geodesy.transform import CRSLike, transform
from geobase.geodesy.zones import crs_label, resolve_crs

# Points this close (in pixels) outside the outermost pixel centres count as on them.
_EDGE_TOLERANCE = 1e-9


@dataclass(frozen=True, eq=False)
class HeightAnomalyGrid:
    """A north-up grid of height anomalies in metres.

    Attributes:
        values: 2D float64 array (rows from north to south), NaN where there is no value.
        transform: Affine transform of the pixel corners (rasterio / GDAL convention).
        crs: CRS of the grid (usually CGCS2000 geographic, EPSG:4490).
        source: Where the grid came from, for messages.
    """

    values: NDArray[np.float64]
    transform: Any
    crs: CRS
    source: str = "height-anomaly grid"

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=np.float64)
        if values.ndim != 2 or min(values.shape) < 2:
            raise SourceReadError(
                f"{self.source}: grid of shape {values.shape}; bilinear interpolation needs "
                "at least 2 x 2 values"
            )
        t = self.transform
        if t.b != 0 or t.d != 0 or t.a <= 0 or t.e >= 0:
            raise SourceReadError(
                f"{self.source}: grid is rotated or not north-up ({tuple(t)[:6]}); "
                "expected a north-up grid (warp it first, e.g. with gdalwarp)"
            )
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "crs", resolve_crs(self.crs))

    @classmethod
    def open(cls, path: str | Path, band: int = 1) -> HeightAnomalyGrid:
        """Read a height-anomaly grid from a GeoTIFF (or any raster GDAL reads).

        Raises:
            SourceReadError: the file is missing, not a raster, damaged, has no CRS or is
                rotated.
        """
        import rasterio
        from rasterio.errors import NotGeoreferencedWarning, RasterioError

        path = Path(path)
        if not path.is_file():
            raise SourceReadError(f"{path}: no such file")
        try:
            with warnings.catch_warnings():
                # a missing georeference is reported below, as an error
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                with rasterio.open(path) as src:
                    if src.crs is None:
                        raise SourceReadError(
                            f"{path}: the grid has no CRS; a height-anomaly grid must declare "
                            "one (CGCS2000 geographic, EPSG:4490)"
                        )
                    if not 1 <= band <= src.count:
                        raise SourceReadError(f"{path}: no band {band} (it has {src.count})")
                    data = src.read(band, masked=True).astype(np.float64)
                    code = src.crs.to_epsg()
                    crs = CRS.from_epsg(code) if code else CRS.from_user_input(src.crs.to_wkt())
                    transform_ = src.transform
        except SourceReadError:
            raise
        except (RasterioError, OSError, ValueError) as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise SourceReadError(
                f"{path}: cannot be read as a height-anomaly grid ({message})"
            ) from exc
        values = np.ma.filled(data, np.nan)
        return cls(values, transform_, crs, source=str(path))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) of the area the grid answers for: its pixel centres."""
        t = self.transform
        rows, cols = self.values.shape
        west = t.c + 0.5 * t.a
        north = t.f + 0.5 * t.e
        return (west, north + (rows - 1) * t.e, west + (cols - 1) * t.a, north)

    def anomaly(
        self,
        east: ArrayLike,
        north: ArrayLike,
        crs: CRSLike | None = None,
        *,
        labels: Sequence[Any] | None = None,
    ) -> NDArray[np.float64]:
        """Height anomaly zeta at points, interpolated bilinearly.

        Args:
            east: Longitudes (or eastings, in ``crs``).
            north: Latitudes (or northings).
            crs: CRS of the points; default the grid's CRS.
            labels: Names of the points for error messages.

        Raises:
            OutsideGridError: a point lies outside the grid or next to a nodata value.
        """
        x = np.asarray(east, dtype=np.float64)
        y = np.asarray(north, dtype=np.float64)
        if x.shape != y.shape:
            raise InvalidCoordinates(f"east has shape {x.shape} but north has shape {y.shape}")
        if crs is not None and resolve_crs(crs) != self.crs:
            x, y = transform(x, y, crs, self.crs, labels=labels)
        t = self.transform
        rows, cols = self.values.shape
        # fractional indices in pixel-centre space
        cx = (x - t.c) / t.a - 0.5
        cy = (y - t.f) / t.e - 0.5
        inside = (
            (cx >= -_EDGE_TOLERANCE)
            & (cx <= cols - 1 + _EDGE_TOLERANCE)
            & (cy >= -_EDGE_TOLERANCE)
            & (cy <= rows - 1 + _EDGE_TOLERANCE)
        )
        if not inside.all():
            self._raise_outside(x, y, ~inside, labels, "outside")
        i0 = np.clip(np.floor(cx), 0, cols - 2).astype(np.intp)
        j0 = np.clip(np.floor(cy), 0, rows - 2).astype(np.intp)
        fx = np.clip(cx - i0, 0.0, 1.0)
        fy = np.clip(cy - j0, 0.0, 1.0)
        z = self.values
        z00, z01 = z[j0, i0], z[j0, i0 + 1]
        z10, z11 = z[j0 + 1, i0], z[j0 + 1, i0 + 1]
        zeta = (1 - fy) * ((1 - fx) * z00 + fx * z01) + fy * ((1 - fx) * z10 + fx * z11)
        missing = np.isnan(zeta)
        if missing.any():
            self._raise_outside(x, y, missing, labels, "nodata")
        return zeta

    def to_normal(
        self,
        east: ArrayLike,
        north: ArrayLike,
        h: ArrayLike,
        crs: CRSLike | None = None,
        *,
        labels: Sequence[Any] | None = None,
    ) -> NDArray[np.float64]:
        """1985 normal heights from ellipsoidal heights: H = h - zeta.

        Raises:
            OutsideGridError: see :meth:`anomaly`.
        """
        return np.asarray(h, dtype=np.float64) - self.anomaly(east, north, crs, labels=labels)

    def to_ellipsoidal(
        self,
        east: ArrayLike,
        north: ArrayLike,
        normal_h: ArrayLike,
        crs: CRSLike | None = None,
        *,
        labels: Sequence[Any] | None = None,
    ) -> NDArray[np.float64]:
        """Ellipsoidal heights from 1985 normal heights: h = H + zeta.

        Raises:
            OutsideGridError: see :meth:`anomaly`.
        """
        return np.asarray(normal_h, dtype=np.float64) + self.anomaly(
            east, north, crs, labels=labels
        )

    def _raise_outside(
        self,
        x: NDArray,
        y: NDArray,
        bad: NDArray[np.bool_],
        labels: Sequence[Any] | None,
        why: str,
    ) -> None:
        i = int(np.flatnonzero(bad.reshape(-1))[0])
        where = f"{labels[i]}: " if labels is not None else ""
        count = f" ({int(bad.sum())} of {bad.size} points)" if bad.size > 1 else ""
        west, south, east, north = self.bounds
        point = f"({x.reshape(-1)[i]:.9g}, {y.reshape(-1)[i]:.9g})"
        if why == "nodata":
            raise OutsideGridError(
                f"{where}point {point} lies next to a cell without a height anomaly in "
                f"{self.source}{count}"
            )
        raise OutsideGridError(
            f"{where}point {point} lies outside the height-anomaly grid {self.source}, which "
            f"covers {west:.6g}..{east:.6g}, {south:.6g}..{north:.6g} in "
            f"{crs_label(self.crs)}{count}"
        )
