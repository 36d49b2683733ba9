"""The columns of a control-point register: English and Chinese names of each field.

Columns are recognised by their English or Chinese names (see :data:`COLUMN_ALIASES`).
``H`` is the 1985 normal height (高程) and ``h`` the ellipsoidal height (大地高), as
surveyors write them; ``X`` is the northing and ``Y`` the easting (surveying order).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from geobase.errors import ValidationError

# canonical field -> accepted column names (compared case-insensitively, blanks and
# underscores ignored), except "H"/"h" which are case-sensitive (normal / ellipsoidal).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "point_id": ("point_id", "id", "点号", "编号", "点编号", "点之记编号"),
    "name": ("name", "点名", "名称", "点名称"),
    "kind": ("kind", "type", "类型", "点类型", "类别"),
    "grade": ("grade", "grades", "等级"),
    "gnss_grade": ("gnss_grade", "gnss等级", "gps等级"),
    "level_grade": ("level_grade", "levelling_grade", "水准等级"),
    "cjj_grade": ("cjj_grade", "cjj等级", "城市等级"),
    "lat": ("lat", "latitude", "b", "纬度", "大地纬度"),
    "lon": ("lon", "lng", "longitude", "l", "经度", "大地经度"),
    "ellh": ("ellh", "ellipsoidal_height", "大地高"),
    "x_north": ("x", "x_north", "northing", "北坐标", "纵坐标", "x坐标"),
    "y_east": ("y", "y_east", "easting", "东坐标", "横坐标", "y坐标"),
    "normal_h": ("normal_h", "normal_height", "高程", "正常高", "水准高程"),
    "crs": ("crs", "epsg", "坐标系", "投影", "带号", "zone"),
    "source": ("source", "来源", "坐标来源"),
    "epoch": ("epoch", "历元", "坐标历元"),
    "geo_source": ("geo_source", "bl_source", "大地坐标来源"),
    "geo_epoch": ("geo_epoch", "bl_epoch"),
    "grid_source": ("grid_source", "xy_source", "平面坐标来源"),
    "grid_epoch": ("grid_epoch", "xy_epoch"),
    "height_source": ("height_source", "h_source", "高程来源"),
    "height_epoch": ("height_epoch",),
    "district": ("district", "区县", "行政区", "所在区", "所在区县"),
    "mark_type": ("mark_type", "标石类型", "标志类型", "标型"),
    "established": ("established", "date_established", "埋设日期", "建立日期", "建点日期"),
    "custodian": ("custodian", "保管人", "保管单位", "委托保管"),
    "site": ("site", "site_description", "点位说明", "所在地", "位置"),
    "route": ("route", "route_description", "交通路线", "路线", "交通情况"),
    "notes": ("notes", "remarks", "备注"),
}
_CASE_SENSITIVE = {"H": "normal_h", "h": "ellh"}


def _key(name: str) -> str:
    return re.sub(r"[\s_\-()（）]", "", str(name)).lower()


_ALIAS_INDEX = {_key(a): f for f, aliases in COLUMN_ALIASES.items() for a in aliases}


def map_columns(columns: Iterable[Any]) -> dict[str, str]:
    """{canonical field: column} for the columns of an input that geobase recognises.

    Raises:
        ValidationError: two columns map to the same field.
    """
    out: dict[str, str] = {}
    for column in columns:
        name = str(column).strip()
        if name.startswith("__"):  # geometry columns added by read_source
            continue
        target = _CASE_SENSITIVE.get(name) or _ALIAS_INDEX.get(_key(name))
        if target is None:
            continue
        if target in out:
            raise ValidationError(
                f"columns {out[target]!r} and {name!r} both give {target}; keep one"
            )
        out[target] = name
    return out
