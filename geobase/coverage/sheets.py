"""Sheet statuses: for a scale and a product, every map sheet over the city with its status.

A sheet is judged on its land part (the sheet clipped to the districts; sheets whose land
part is below the tolerance share are left out): ``covered`` when
the footprints cover all of it (up to a tolerance), ``missing`` when they cover none of
it, else ``partial`` with the covered share. Each sheet also carries the newest
acquisition date among the datasets covering part of it and that date's age.

The computation is vectorised with shapely 2 and numpy, without dissolving the
footprints (see :func:`cell_coverage`): an STRtree pairs sheets with the footprints that
reach into them; a sheet inside one footprint is covered outright; only the others are
cut and measured. Only sheets on a district boundary are clipped to the land, against
tiles of the district outline (:func:`_clip`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geobase.coverage.settings import age_years
from geobase.errors import SheetCodeError
from geobase.sheets import (
    RECT_SCALES,
    SCALES,
    parse_scale,
    rect_scale,
    rect_sheets_covering,
    sheets_covering,
)

logger = logging.getLogger(__name__)

STATUSES = ("covered", "partial", "missing")
GRIDS = ("rect", "national")
Progress = Callable[[int, int | None], None]


def sheet_grid(scale: Any, kind: str | None = None) -> tuple[int, str]:
    """The scale's denominator and the sheet grid it is counted in.

    ``kind`` is ``rect`` (矩形分幅 on the Gauss-Kruger grid: 1:500 to 1:5000) or
    ``national`` (GB/T 13989 sheets, any national scale); default ``rect`` where the
    scale has rectangular sheets, else ``national`` (1:10,000 and smaller).

    Raises:
        SheetCodeError: not a map-sheet scale; ``rect`` at a scale without rectangular
            sheets; an unknown ``kind``.
    """
    denominator = parse_scale(scale)
    if kind is None:
        kind = "rect" if denominator in RECT_SCALES else "national"
    if kind == "rect":
        rect_scale(denominator)
    elif kind != "national":
        raise SheetCodeError(f"sheet grid {kind!r} is not one of {', '.join(GRIDS)}")
    return denominator, kind


def _national_sheets(city, scale: int, crs) -> gpd.GeoDataFrame:
    """The national sheets meeting ``city`` (in ``crs``), drawn in ``crs``: their edges
    (meridians and parallels) densified to 1/50 of a sheet's height first, so that the
    projected sheets keep their area and tile the plane without gaps."""
    grid = sheets_covering(gpd.GeoSeries([city], crs=crs), scale)
    step = float(SCALES[scale].dlat) / 50
    dense = shapely.segmentize(np.asarray(grid.geometry.values, dtype=object), step)
    return grid.set_geometry(gpd.GeoSeries(dense, crs=grid.crs).to_crs(crs).values)


def _cut(boxes: np.ndarray, polygons: np.ndarray, which: np.ndarray, size: float | None):
    """``boxes[i] ∩ polygons[which[i]]``: through :func:`_clip` for grid-aligned sheets
    (``size``: their side), directly for projected national sheets."""
    if size is not None:
        return _clip(boxes, polygons, which, size)
    if len(boxes) == 0:
        return np.empty(0, dtype=object)
    return shapely.intersection(boxes, polygons[np.asarray(which, dtype=np.int64)])


def _day(dates: Any) -> np.ndarray:
    """``YYYY-MM-DD`` texts as day numbers (int64); -1 where unknown."""
    parsed = pd.to_datetime(pd.Series(list(dates), dtype=object), errors="coerce", format="mixed")
    days = (parsed - pd.Timestamp("1970-01-01")).dt.days
    return days.fillna(-1).to_numpy(dtype=np.int64)


def cell_coverage(
    cells: np.ndarray,
    rect: np.ndarray,
    footprints: np.ndarray,
    days: np.ndarray,
    *,
    tolerance: float = 1e-4,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Covered area, newest date and number of datasets for each cell (vectorised).

    A footprint counts for a cell's newest date and dataset count when it reaches more
    than ``tolerance`` x the cell's side into the cell (a prepared ``intersects`` with the
    cell shrunk by that margin: slivers left by reprojection along shared edges do not
    count). The covered area is exact: a cell inside one footprint is covered outright
    (prepared ``contains``); for the others the footprint pieces inside the cell are cut
    with one vectorised ``intersection`` and united per cell with ``union_all(axis=1)``
    over groups of equal size.

    Args:
        cells: polygons (sheets or their land parts), one projected CRS with ``footprints``.
        rect: True where a cell is its own bounding rectangle (a whole sheet).
        footprints: footprint polygons.
        days: acquisition day number of each footprint (-1: unknown).
        tolerance: the margin above, as a share of the cell's side.

    Returns:
        (covered area in CRS units², newest day number or -1, dataset count) per cell.
    """
    n = len(cells)
    covered = np.zeros(n)
    newest = np.full(n, -1, dtype=np.int64)
    count = np.zeros(n, dtype=np.int64)
    if n == 0 or len(footprints) == 0:
        return covered, newest, count
    rect = np.asarray(rect, dtype=bool)
    cell_area = shapely.area(cells)
    margin = tolerance * np.sqrt(cell_area)
    shrunk = np.empty(n, dtype=object)
    b = shapely.bounds(cells[rect])
    m = margin[rect]
    shrunk[rect] = shapely.box(b[:, 0] + m, b[:, 1] + m, b[:, 2] - m, b[:, 3] - m)
    if (~rect).any():
        shrunk[~rect] = shapely.buffer(cells[~rect], -margin[~rect], join_style="mitre")
    tree = shapely.STRtree(footprints)
    ci, fj = tree.query(shrunk, predicate="intersects")
    np.add.at(count, ci, 1)
    np.maximum.at(newest, ci, days[fj])
    shapely.prepare(footprints)
    inside = shapely.contains(footprints[fj], cells[ci])
    full = np.zeros(n, dtype=bool)
    full[ci[inside]] = True
    covered[full] = cell_area[full]
    # the exact covered area of the other cells: unite the footprint pieces inside them
    rest = np.flatnonzero(~full)
    ri, rj = tree.query(cells[rest], predicate="intersects")
    ri = rest[ri]
    pieces = shapely.intersection(footprints[rj], cells[ri])
    piece_area = shapely.area(pieces)
    keep = piece_area > 0
    kc, kp, ka = ri[keep], pieces[keep], piece_area[keep]
    order = np.argsort(kc, kind="stable")
    kc, kp, ka = kc[order], kp[order], ka[order]
    uniq, start, sizes = np.unique(kc, return_index=True, return_counts=True)
    single = sizes == 1
    covered[uniq[single]] = ka[start[single]]
    for size in np.unique(sizes[~single]):
        groups = np.flatnonzero(sizes == size)
        idx = start[groups][:, None] + np.arange(size)[None, :]
        covered[uniq[groups]] = shapely.area(shapely.union_all(kp[idx], axis=1))
    np.minimum(covered, cell_area, out=covered)
    return covered, newest, count


def _clip(boxes: np.ndarray, polygons: np.ndarray, which: np.ndarray, size: float) -> np.ndarray:
    """``boxes[i] ∩ polygons[which[i]]`` for grid-aligned sheet boxes, cutting big polygons first.

    A district outline has thousands of vertices and every overlay with it walks all of
    them; cut into tiles of 16 x 16 sheets first, each sheet meets only the piece of its
    own tile (a sheet lies inside one tile, so the result is the same).
    """
    if len(boxes) == 0:
        return np.empty(0, dtype=object)
    tile = 16 * size
    bounds = shapely.bounds(boxes)
    tx = np.floor((bounds[:, 0] + bounds[:, 2]) / 2 / tile).astype(np.int64)
    ty = np.floor((bounds[:, 1] + bounds[:, 3]) / 2 / tile).astype(np.int64)
    keys = np.column_stack([tx, ty, np.asarray(which, dtype=np.int64)])
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    tiles = shapely.box(
        uniq[:, 0] * tile, uniq[:, 1] * tile, (uniq[:, 0] + 1) * tile, (uniq[:, 1] + 1) * tile
    )
    pieces = shapely.intersection(polygons[uniq[:, 2]], tiles)
    return shapely.intersection(boxes, pieces[inverse.ravel()])


def _status(share: np.ndarray, tolerance: float) -> np.ndarray:
    return np.where(
        share >= 1.0 - tolerance, "covered", np.where(share <= tolerance, "missing", "partial")
    )


def sheet_statuses(
    footprints: gpd.GeoDataFrame,
    districts: gpd.GeoDataFrame,
    scale: Any,
    *,
    as_of: dt.date | None = None,
    tolerance: float = 1e-4,
    by_district: bool = False,
    progress: Progress | None = None,
    kind: str | None = None,
) -> gpd.GeoDataFrame:
    """The status of every map sheet of a scale over the districts.

    Args:
        footprints: valid-data footprints in a Gauss-Kruger CRS, with ``acquired_end``
            (``YYYY-MM-DD`` or None).
        districts: district polygons in the same CRS, with ``name``.
        scale: a map-sheet scale: 1:500, 1:1000, 1:2000 or 1:5000 for rectangular
            sheets (:func:`geobase.sheets.rect_sheets_covering`), any national scale
            for national sheets (:func:`geobase.sheets.sheets_covering`), see ``kind``.
        as_of: the date ages are measured from (default today).
        tolerance: share absorbed as "covered"/"missing" (reprojection slivers).
        by_district: one row per sheet and district it meets, judged on the sheet's part in
            that district (a sheet cut by a district boundary appears once per district);
            default one row per sheet, judged on its land part.
        progress: called with (done, total) as the work advances.
        kind: ``rect`` or ``national`` (default: see :func:`sheet_grid`). National sheets
            are judged in the districts' Gauss-Kruger plane like rectangular ones, drawn
            there with densified edges.

    Returns:
        GeoDataFrame in the districts' CRS, sorted by code (and district): code, scale,
        district (the district holding most of the sheet, or the row's district),
        districts (all districts it meets, ``;``-separated), status, share, area_km2
        (land part), covered_km2, datasets, newest, age_years, geometry (the whole sheet).

    Raises:
        SheetCodeError: not a map-sheet scale, or rectangular sheets asked at a scale
        without them; UnknownCRS: the CRS is not Gauss-Kruger.
    """
    crs = districts.crs
    if footprints.crs is not None and crs is not None and footprints.crs != crs:
        footprints = footprints.to_crs(crs)
    dgeoms = np.asarray(districts.geometry.values, dtype=object)
    names = np.asarray(districts["name"].astype(str), dtype=object)
    city = shapely.union_all(dgeoms)
    denominator, kind = sheet_grid(scale, kind)
    if kind == "rect":
        grid = rect_sheets_covering(city, denominator, crs)
        size: float | None = float(rect_scale(denominator).size_m)
    else:
        grid = _national_sheets(city, denominator, crs)
        size = None  # not aligned with the plane's axes
    boxes = np.asarray(grid.geometry.values, dtype=object)
    codes = grid["code"].to_numpy(dtype=object)
    total = len(boxes) * (2 if by_district else 1)
    if progress:
        progress(0, total)

    # parts of each sheet in each district (pairs sheet i, district k)
    dtree = shapely.STRtree(dgeoms)
    si, dk = dtree.query(boxes, predicate="intersects")
    shapely.prepare(dgeoms)
    whole = shapely.contains_properly(dgeoms[dk], boxes[si])
    parts = np.empty(len(si), dtype=object)
    parts[whole] = boxes[si[whole]]
    parts[~whole] = _cut(boxes[si[~whole]], dgeoms, dk[~whole], size)
    part_area = shapely.area(parts)
    # land parts below the tolerance are reprojection slivers along the grid lines
    real = part_area > tolerance * shapely.area(boxes[si])
    si, dk, parts, whole, part_area = si[real], dk[real], parts[real], whole[real], part_area[real]

    fgeoms = np.asarray(footprints.geometry.values, dtype=object)
    days = _day(footprints["acquired_end"]) if len(footprints) else np.array([], dtype=np.int64)
    if by_district:
        # a part that is its whole sheet is its own bounding rectangle (rectangular only)
        cells, rect, sheet_of, district = parts, whole & (size is not None), si, names[dk]
        order = np.lexsort((district.astype(str), codes[sheet_of]))
        cells, rect, sheet_of, district = (
            cells[order],
            rect[order],
            sheet_of[order],
            district[order],
        )
        land = part_area[order]
    else:
        # one cell per sheet: the box when one district holds it whole, else its land part
        n = len(boxes)
        counts = np.bincount(si, minlength=n)
        inner = np.zeros(n, dtype=bool)
        inner[si[whole]] = True
        whole_sheet = inner & (counts == 1)
        rect = whole_sheet & (size is not None)
        cells = boxes.copy()
        edge = np.flatnonzero(~whole_sheet & (counts > 0))
        cells[edge] = _cut(boxes[edge], np.array([city], dtype=object), np.zeros(len(edge)), size)
        sheet_of = np.arange(n)
        land = np.where(counts > 0, shapely.area(cells), 0.0)
        best = np.zeros(n, dtype=np.int64)
        order = np.lexsort((-part_area, si))
        first = np.unique(si[order], return_index=True)[1]
        best[si[order][first]] = dk[order][first]
        district = names[best]
        keep = land > tolerance * shapely.area(boxes)
        cells, rect, sheet_of, district, land = (
            cells[keep],
            rect[keep],
            sheet_of[keep],
            district[keep],
            land[keep],
        )
    if progress:
        progress(total // 2, total)

    covered, newest, count = cell_coverage(cells, rect, fgeoms, days, tolerance=tolerance)
    share = np.clip(covered / land, 0.0, 1.0)
    status = _status(share, tolerance)
    newest_text = np.where(
        newest >= 0,
        (np.datetime64("1970-01-01") + newest.astype("timedelta64[D]")).astype(str),
        "",
    ).astype(object)
    newest_text[newest < 0] = None
    reference = as_of or dt.date.today()
    ages = age_years(newest_text, reference)

    # all districts each sheet meets, for the attribute table
    per_sheet = np.full(len(boxes), None, dtype=object)
    order = np.lexsort((names[dk].astype(str), si))
    for i, name in zip(si[order], names[dk][order], strict=True):
        per_sheet[i] = name if per_sheet[i] is None else f"{per_sheet[i]};{name}"
    all_districts = per_sheet[sheet_of]

    frame = gpd.GeoDataFrame(
        {
            "code": codes[sheet_of],
            "scale": int(grid["scale"].iloc[0]) if len(grid) else None,
            "district": district,
            "districts": all_districts,
            "status": status.astype(object),
            "share": share,
            "area_km2": land / 1e6,
            "covered_km2": covered / 1e6,
            "datasets": count,
            "newest": newest_text,
            "age_years": ages,
        },
        geometry=list(boxes[sheet_of]),
        crs=crs,
    )
    if progress:
        progress(total, total)
    return frame.sort_values(["code", "district"], ignore_index=True)


def sheet_summary(sheets: pd.DataFrame) -> dict[str, Any]:
    """Counts per status and areas of a sheet table."""
    counts = sheets["status"].value_counts()
    return {
        "sheets": int(sheets["code"].nunique()),
        **{s: int(counts.get(s, 0)) for s in STATUSES},
        "area_km2": float(sheets["area_km2"].sum()),
        "covered_km2": float(sheets["covered_km2"].sum()),
    }


def product_sheets(
    ws,
    product: str,
    scale: Any,
    *,
    as_of: dt.date | str | None = None,
    district: str | None = None,
    by_district: bool = False,
    acquired_since: dt.date | None = None,
    progress: Progress | None = None,
    kind: str | None = None,
) -> gpd.GeoDataFrame:
    """Sheet statuses of a product at a scale over the workspace's districts.

    Args:
        ws: the workspace.
        product: product code.
        scale: a map-sheet scale (rectangular 1:500 to 1:5000, national any).
        as_of: recompute for this date (see :func:`geobase.coverage.district_coverage`).
        district: only this district (sheets judged on their part in it).
        by_district: one row per sheet and district (see :func:`sheet_statuses`).
        acquired_since: only data acquired on or after this date (plan measures).
        progress: called with (done, total).
        kind: ``rect`` or ``national`` sheets (default: see :func:`sheet_grid`).

    Returns:
        The GeoDataFrame of :func:`sheet_statuses` in the workspace CRS, with ``product``.

    Raises:
        NotFoundError: unknown product or district, no districts loaded.
        SheetCodeError: not a map-sheet scale; rectangular sheets at a scale without them.
        ValidationError: malformed as-of date.
    """
    from geobase.coverage.compute import load_districts_area, load_footprints
    from geobase.coverage.settings import coverage_settings, parse_as_of
    from geobase.errors import NotFoundError

    sheet_grid(scale, kind)  # a bad scale fails before any work
    settings = coverage_settings(ws.config.coverage)
    as_of = parse_as_of(as_of)
    footprints = load_footprints(ws, product, as_of=as_of, settings=settings)
    districts = load_districts_area(ws, settings)
    if district is not None:
        chosen = districts[districts["name"] == district]
        if chosen.empty:
            raise NotFoundError(
                f"no district {district!r}; known districts: {', '.join(districts['name'])}"
            )
        districts = chosen
    if acquired_since is not None:
        dates = pd.to_datetime(footprints["acquired_end"], errors="coerce")
        footprints = footprints[dates >= pd.Timestamp(acquired_since)]
    frame = sheet_statuses(
        footprints,
        districts,
        scale,
        as_of=as_of,
        tolerance=settings.sheet_tolerance,
        by_district=by_district,
        progress=progress,
        kind=kind,
    )
    frame.insert(0, "product", product)
    return frame


# --- the GeoPackage layer, with a default QGIS style -----------------------------------

_STATUS_STYLE = (
    ("covered", "覆盖 covered", "26,152,80,200"),
    ("partial", "部分覆盖 partial", "254,224,139,220"),
    ("missing", "缺失 missing", "215,48,39,160"),
)


def _qml() -> str:
    categories = "".join(
        f'<category value="{value}" symbol="{i}" label="{label}" render="true"/>'
        for i, (value, label, _) in enumerate(_STATUS_STYLE)
    )
    symbols = "".join(
        f'<symbol type="fill" name="{i}" alpha="1" clip_to_extent="1" force_rhr="0">'
        '<layer class="SimpleFill" enabled="1" locked="0" pass="0"><Option type="Map">'
        f'<Option name="color" type="QString" value="{colour}"/>'
        '<Option name="outline_color" type="QString" value="90,90,90,255"/>'
        '<Option name="outline_width" type="QString" value="0.1"/>'
        '<Option name="style" type="QString" value="solid"/>'
        "</Option></layer></symbol>"
        for i, (_, _, colour) in enumerate(_STATUS_STYLE)
    )
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"
        '<qgis version="3.28.0" styleCategories="Symbology">'
        '<renderer-v2 type="categorizedSymbol" attr="status" symbollevels="0" '
        'enableorderby="0" forceraster="0">'
        f"<categories>{categories}</categories><symbols>{symbols}</symbols>"
        "</renderer-v2></qgis>"
    )


def write_sheet_layer(frame: gpd.GeoDataFrame, path, layer: str) -> None:
    """Write sheet statuses as a GeoPackage layer with a default QGIS style.

    The style (a categorised renderer on ``status``: covered green, partial yellow,
    missing red) goes into the ``layer_styles`` table that QGIS reads when the layer is
    opened; the layer stays an ordinary GeoPackage feature table for other software.
    """
    import sqlite3

    frame.to_file(path, layer=layer, driver="GPKG")
    con = sqlite3.connect(path)
    try:
        with con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS layer_styles (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                "f_table_catalog TEXT(256), f_table_schema TEXT(256), f_table_name TEXT(256), "
                "f_geometry_column TEXT(256), styleName TEXT(30), styleQML TEXT, styleSLD TEXT, "
                "useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30), "
                "update_time DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))"
            )
            con.execute(
                "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier) "
                "VALUES ('layer_styles', 'attributes', 'layer_styles')"
            )
            con.execute("DELETE FROM layer_styles WHERE f_table_name = ?", (layer,))
            con.execute(
                "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
                "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, "
                "owner, ui) VALUES ('', '', ?, 'geometry', ?, ?, '', 1, ?, '', '')",
                (layer, layer, _qml(), "图幅覆盖状态 sheet coverage status"),
            )
    finally:
        con.close()
