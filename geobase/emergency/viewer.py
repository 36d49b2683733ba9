"""The package's offline HTML viewer (``index.html``): the tiles, the area, the sheets,
the control points and CORS stations, and a table of the sources.

The page is the Jinja2 template ``assets/viewer.html`` with ``assets/viewer.css`` and
``assets/viewer.js`` inlined: no script or style is loaded from anywhere, so it works
from ``file://`` without a network and without a web server.
"""

from __future__ import annotations

import json
import math
from functools import cache
from importlib import resources
from typing import Any

import geopandas as gpd
import shapely.geometry
from jinja2 import Environment, StrictUndefined, Template
from markupsafe import Markup


def asset(name: str) -> str:
    """The text of one of the viewer's asset files."""
    return resources.files("geobase.emergency").joinpath("assets", name).read_text(encoding="utf-8")


@cache
def _template() -> Template:
    env = Environment(autoescape=True, keep_trailing_newline=True, undefined=StrictUndefined)
    return env.from_string(asset("viewer.html"))


def features(frame: gpd.GeoDataFrame, props: list[str]) -> list[dict[str, Any]]:
    """GeoJSON features of ``frame`` with ``props`` as strings (None for missing)."""
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
    sheets: gpd.GeoDataFrame,
    control: gpd.GeoDataFrame,
    cors: gpd.GeoDataFrame,
) -> str:
    """A self-contained HTML viewer: the package's tiles (``viewer/tiles``) and its layers."""
    data = {
        "area": {"type": "Feature", "properties": {}, "geometry": manifest["area"]["geometry"]},
        "sheets": features(sheets, ["code", "scale", "newest_map", "newest_map_date"]),
        "control": features(
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
        "cors": features(cors, ["point_id", "name", "distance_m"]),
        "tiles": manifest["tiles"],
        "bounds": manifest["area"]["bounds"],
    }
    rows = []
    for src in manifest["sources"]:
        res = "" if src["resolution_m"] is None else f"{src['resolution_m']:g} m"
        rows.append(
            [
                src["dataset_id"],
                src["product"],
                str(src["acquired_end"]),
                res,
                f"{src['classification_zh']} {src['classification']}",
                src["file"] or "",
            ]
        )
    # JSON in a <script> element: only "</" could end it early
    payload = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    package = manifest["package"]
    return _template().render(
        description=manifest["area"]["description"],
        created=package["created"],
        level=f"{package['classification_zh']} {package['classification']}",
        withheld=manifest["withheld"]["count"],
        rows=rows,
        payload=Markup(payload),
        style=Markup(asset("viewer.css")),
        script=Markup(asset("viewer.js")),
    )
