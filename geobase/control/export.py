"""Exporting the registry to CSV, GeoJSON and GeoPackage, in full or for the public.

A full export keeps every field and writes CSV columns that :mod:`geobase.control.importer`
reads back (so an export re-imports unchanged). A public export follows the publishing
rules (DOMAIN.md section 8): points of restricted grades are dropped (precise coordinates
of B/C-grade points, CORS stations and high-order benchmarks are not public), and the
others are generalised: positions rounded to 0.001 degree (about 100 m), heights to 1 m,
and the fields that locate a mark more precisely (grid coordinates, ellipsoidal height,
1:500 sheet, site and route descriptions, custodian, notes) are left out.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from geobase.control.registry import search
from geobase.control.settings import control_settings
from geobase.errors import OutputExistsError, ValidationError
from geobase.paths import atomic_output
from geobase.sheets import sheet_codes
from geobase.store import Workspace
from geobase.tabular import FILE_ENCODING, encode_csv

logger = logging.getLogger(__name__)

PUBLIC_DEGREES = 0.001  # no public position finer than 0.001 degree (about 100 m)
PUBLIC_COLUMNS = (
    "point_id",
    "name",
    "kind",
    "grade",
    "district",
    "lon",
    "lat",
    "normal_h",
    "sheet_10k",
    "condition",
    "usability",
    "last_inspected",
)
DRIVERS = {".csv": "CSV", ".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG"}


def restricted_grades(ws: Workspace) -> tuple[str, ...]:
    """The grades a public export leaves out (``[control] restricted_grades``)."""
    return tuple(control_settings(ws.config.control).restricted_grades)


def _grades(frame: pd.DataFrame) -> list[str]:
    out = []
    for cors, *codes in zip(
        frame["cors"], frame["gnss_grade"], frame["level_grade"], frame["cjj_grade"], strict=True
    ):
        parts = (["CORS"] if cors else []) + [c for c in codes if isinstance(c, str)]
        out.append(";".join(parts))
    return out


def registry_frame(ws: Workspace, *, public: bool = False, include_retired: bool = False):
    """The registry as a GeoDataFrame ready to write (full, or generalised for the public)."""
    import geopandas as gpd

    frame = search(ws, include_retired=include_retired and not public)
    frame.insert(2, "grade", _grades(frame))
    frame["crs"] = [f"EPSG:{int(e)}" for e in frame["gk_epsg"]]
    if not public:
        return frame.drop(columns=["cors", "gnss_grade", "level_grade", "cjj_grade"])
    restricted = set(restricted_grades(ws))
    keep = np.array([not (set(g.split(";")) & restricted) for g in frame["grade"]], dtype=bool)
    frame = frame[keep].reset_index(drop=True)
    lon = np.round(frame["lon"].to_numpy(float) / PUBLIC_DEGREES) * PUBLIC_DEGREES
    lat = np.round(frame["lat"].to_numpy(float) / PUBLIC_DEGREES) * PUBLIC_DEGREES
    lon, lat = np.round(lon, 3), np.round(lat, 3)
    out = pd.DataFrame({c: frame[c] for c in PUBLIC_COLUMNS if c in frame.columns})
    out["lon"], out["lat"] = lon, lat
    out["normal_h"] = np.round(pd.to_numeric(frame["normal_h"], errors="coerce"), 0)
    out["sheet_10k"] = sheet_codes(lon, lat, 10_000) if len(out) else []
    return gpd.GeoDataFrame(out, geometry=shapely.points(lon, lat), crs=4490)


def export_points(
    ws: Workspace,
    out: str | Path,
    *,
    public: bool = False,
    include_retired: bool = False,
    overwrite: bool = False,
    encoding: str | None = None,
) -> int:
    """Write the registry to ``out`` (.csv, .geojson or .gpkg); returns the number of points.

    A CSV is written in ``encoding`` (default UTF-8 with BOM, :mod:`geobase.tabular`).

    Raises:
        UnencodableText: a CSV value holds a character ``encoding`` cannot write.
        ValidationError: unknown output type, or ``out`` exists and not ``overwrite``.
    """
    out = Path(out)
    driver = DRIVERS.get(out.suffix.lower())
    if driver is None:
        raise ValidationError(
            f"{out}: unknown output type {out.suffix or '(none)'}: expected .csv, .geojson or .gpkg"
        )
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} exists; pass overwrite (--overwrite) to replace it")
    frame = registry_frame(ws, public=public, include_retired=include_retired)
    encoding = encoding or FILE_ENCODING
    with atomic_output(out) as tmp:
        if driver == "CSV":
            data = encode_csv(pd.DataFrame(frame.drop(columns="geometry")), encoding, str(out))
            Path(tmp).write_bytes(data)
        else:
            frame.to_file(tmp, driver=driver, layer="control_points", engine="pyogrio")
    logger.info("exported %d points to %s", len(frame), out)
    return len(frame)
