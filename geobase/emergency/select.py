"""Choosing what goes into an emergency package: the clearance, the districts, the best
imagery and DEMs, the sheets with their newest maps, the nearby control and CORS."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from geobase.catalog.access import verify_token
from geobase.classification import rank
from geobase.emergency.area import GEOD, AreaOfInterest
from geobase.errors import AccessDenied, AreaOfInterestError
from geobase.store import Workspace
from geobase.store.districts import list_districts

GK = "EPSG:4548"


def clearance_for(ws: Workspace, include_restricted: bool, token: str | None) -> str:
    """The highest classification the package may hold: ``internal``, or ``restricted``
    with a token cleared for it."""
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


def districts_hit(ws: Workspace, aoi: AreaOfInterest) -> gpd.GeoDataFrame:
    """The workspace's districts that the area meets; refuses an area outside them all."""
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


def best_datasets(frame: gpd.GeoDataFrame, aoi: BaseGeometry) -> gpd.GeoDataFrame:
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
    covered: BaseGeometry = shapely.Polygon()
    area = aoi.area
    for i, footprint in zip(frame.index, frame.geometry, strict=True):
        part = shapely.intersection(footprint, aoi)
        if shapely.difference(part, covered).area > 0.005 * area:
            keep.append(i)
            covered = shapely.union(covered, part)
    newest = frame.sort_values("acquired_end", ascending=False, kind="stable").index[0]
    if newest not in keep:
        keep.append(newest)
    return frame.loc[keep].drop(columns="_res")


def sheets_over(
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


def control_near(
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
