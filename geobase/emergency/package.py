"""Writing an emergency package (应急测绘数据包): the folder, its manifest and its zip.

When a typhoon or flood strikes, responders need, for one area and within minutes
(DOMAIN.md section 9): the newest and finest imagery and the DEM (clipped, as COGs), the
topographic sheets that cover the area, the usable control points nearby and the nearest
CORS stations, a tile pyramid to look at offline (PMTiles, plus the same tiles as a
folder for the bundled HTML viewer), and a manifest of every source with its date and
classification.

The package is built in a hidden temporary folder next to the output and renamed into
place at the end, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely.geometry

from geobase import __version__
from geobase.catalog.records import DatasetRecord, current_datasets, iter_records
from geobase.classification import LABELS_ZH, may_see, rank
from geobase.emergency.area import AreaOfInterest
from geobase.emergency.clip import clip_to_cog, clip_vector
from geobase.emergency.offline import build_tiles, extract_tiles
from geobase.emergency.select import (
    best_datasets,
    clearance_for,
    control_near,
    districts_hit,
    sheets_over,
)
from geobase.emergency.tables import write_points
from geobase.emergency.viewer import viewer_html
from geobase.errors import AreaOfInterestError, OutputExistsError
from geobase.paths import atomic_folder, atomic_output
from geobase.store import Workspace
from geobase.values import json_default, plain

Progress = Callable[[str], None]
MAX_AREA_KM2 = 2_500.0
DEFAULT_CONTROL_DISTANCE_M = 3_000.0
DEFAULT_CORS_COUNT = 3
DEFAULT_MAX_ZOOM = 17


@dataclass
class PackageResult:
    """What :func:`build_package` wrote."""

    path: Path
    zip_path: Path
    manifest: dict[str, Any] = field(default_factory=dict)


def check_outputs(out: Path, zip_path: Path, overwrite: bool) -> None:
    for path in (out, zip_path):
        if path.exists() and not overwrite:
            raise OutputExistsError(f"{path} exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise AreaOfInterestError(f"output folder {out.parent} does not exist")


def _source_entry(record: DatasetRecord, file: str | None) -> dict[str, Any]:
    """A dataset in the manifest, as plain JSON values."""
    return plain(
        {
            "dataset_id": record.dataset_id,
            "version": record.version,
            "product": record.product,
            "kind": record.kind,
            "title": record.title,
            "acquired_start": record.acquired_start,
            "acquired_end": record.acquired_end,
            "resolution_m": record.resolution,
            "classification": record.classification,
            "classification_zh": LABELS_ZH.get(record.classification, record.classification),
            "owner": record.owner,
            "checksum_sha256": record.checksum,
            "file": file,
        }
    )


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
    check_outputs(out, zip_path, overwrite)
    clearance = clearance_for(ws, include_restricted, token)
    districts = districts_hit(ws, aoi)
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
            json.dumps(manifest, ensure_ascii=False, indent=2, default=json_default) + "\n",
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
        chosen = best_datasets(visible[visible["kind"] == kind], aoi.geometry)
        (stage / folder).mkdir()
        for record in iter_records(chosen):
            say(f"{kind}: {record.dataset_id}")
            name = f"{folder}/{record.dataset_id}_v{record.version}.tif"
            src = ws.file(record.path, must_exist=True)
            facts = clip_to_cog(src, aoi, stage / name, scratch)
            entry = _source_entry(record, name)
            entry["clipped"] = facts
            sources.append(entry)
            files[folder].append(name)
            if kind == "imagery":
                cogs.append((stage / name, float(record.resolution or facts["resolution_m"])))

    say("topographic sheets")
    maps = found[found["product"].isin(["dlg500", "dlg1000", "dlg2000"])]
    visible_maps = visible[visible["product"].isin(["dlg500", "dlg1000", "dlg2000"])]
    (stage / "topographic").mkdir()
    sheets = sheets_over(aoi, maps, visible_maps)
    sheets.to_file(stage / "topographic" / "sheets.geojson", driver="GeoJSON", engine="pyogrio")
    for record in iter_records(visible_maps):
        name = f"topographic/{record.dataset_id}_v{record.version}.gpkg"
        src = ws.file(record.path, must_exist=True)
        if src.is_dir():
            src = next(src.glob("*.gpkg"), src)
        if clip_vector(src, aoi, stage / name):
            sources.append(_source_entry(record, name))
            files["topographic"].append(name)

    say("control points")
    (stage / "control").mkdir()
    near, cors = control_near(ws, aoi, control_distance, cors_count)
    write_points(near, stage / "control", "control_points", encoding)
    write_points(cors, stage / "control", "cors_stations", encoding)

    tiles: dict[str, Any] | None = None
    if cogs:
        say("offline tiles")
        (stage / "tiles").mkdir()
        tiles = build_tiles(cogs, aoi, stage / "tiles" / "area.pmtiles", max_zoom)
        tiles["file"] = "tiles/area.pmtiles"
        tiles["viewer_tiles"] = extract_tiles(
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
    (stage / "index.html").write_text(viewer_html(manifest, sheets, near, cors), encoding="utf-8")
    return manifest
