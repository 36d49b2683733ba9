"""The SYNTHETIC control-point registry of the Shantou demo workspace (``control_points/``).

Consistent with the figures of the 2021-2025 plan (DOMAIN.md section 5), but every mark,
name, coordinate and inspection is invented: 13 CORS stations, 20 GNSS B-grade and 141
C-grade points city-wide, the district networks (Haojiang 27 C, Chenghai 20 D, Chaonan
30 C, Chaoyang 20 D, Nan'ao 15 D) and the census of 120 D/E marks of which 21 were usable
(5 D for GNSS and levelling, 13 E for GNSS, 3 for levelling only). Levelling benchmarks
and CJJ city-network points, for which the plan gives no figures, are added so that every
kind of record is represented. Points lie inside the (approximate) demo district
boundaries.

Regenerate with ``python control_points/generate.py`` (deterministic: seeded).
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from geobase.tabular import write_csv

SEED = 20210701
SYNTHETIC_NOTE = "合成数据 SYNTHETIC demo data, not a real mark"

TOWNS = {
    "金平区": ["金厦", "石炮台", "东方", "大华", "鮀江", "月浦", "岐山"],
    "龙湖区": ["珠池", "新津", "鸥汀", "龙祥", "外砂", "新溪", "金霞"],
    "澄海区": ["澄华", "广益", "凤翔", "莲上", "莲下", "溪南", "东里", "盐鸿", "隆都"],
    "濠江区": ["达濠", "礐石", "玉新", "河浦", "马滘", "广澳"],
    "潮阳区": ["棉城", "金浦", "海门", "和平", "谷饶", "贵屿", "铜盂", "西胪", "关埠", "金灶"],
    "潮南区": ["峡山", "井都", "陇田", "雷岭", "成田", "红场", "胪岗", "两英", "仙城", "陈店"],
    "南澳县": ["后宅", "云澳", "深澳", "青澳"],
}
FEATURES = ["村委会", "小学", "祠堂", "水闸", "桥头", "山顶", "变电站", "码头", "公园", "医院"]
INSPECTORS = ["林志强", "陈晓东", "黄丽娟", "郑伟", "吴少华", "蔡明"]

POINT_HEADER = [
    "点号", "点名", "类型", "等级", "纬度", "经度", "大地高", "X", "Y", "坐标系", "H",
    "坐标来源", "历元", "高程来源", "区县", "标石类型", "埋设日期", "保管人", "点位说明",
    "交通路线", "备注",
]  # fmt: skip
INSPECTION_HEADER = ["点号", "巡查日期", "巡查人", "状况", "可用性", "备注", "照片"]


def _sample(rng: np.random.Generator, polygon, count: int) -> list[tuple[float, float]]:
    """``count`` random points inside ``polygon`` (EPSG:4490), at least 300 m from its edge."""
    minx, miny, maxx, maxy = polygon.bounds
    inner = polygon.buffer(-0.003)
    inner = inner if not inner.is_empty else polygon
    out: list[tuple[float, float]] = []
    while len(out) < count:
        xs = rng.uniform(minx, maxx, 256)
        ys = rng.uniform(miny, maxy, 256)
        inside = shapely.contains_xy(inner, xs, ys)
        out.extend(zip(xs[inside].tolist(), ys[inside].tolist(), strict=True))
    return out[:count]


def _date(rng: np.random.Generator, start: str, end: str) -> dt.date:
    a, b = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    return a + dt.timedelta(days=int(rng.integers(0, (b - a).days + 1)))


def _png(text: str) -> bytes:
    """A small placeholder photo (PNG) labelled as synthetic."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (160, 90), (205, 200, 190))
    draw = ImageDraw.Draw(image)
    draw.rectangle((40, 35, 120, 75), outline=(90, 90, 90), width=3)
    draw.text((6, 6), "SYNTHETIC", fill=(160, 20, 20))
    draw.text((6, 20), text, fill=(20, 20, 20))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def generate(out_dir: str | Path, districts_path: str | Path) -> dict[str, int]:
    """Write ``points.csv``, ``inspections.csv`` and ``evidence/*.png`` into ``out_dir``.

    Returns counts per group.
    """
    import geopandas as gpd

    from geobase.geodesy.transform import transform

    out = Path(out_dir)
    (out / "evidence").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    districts = gpd.read_file(districts_path).to_crs(4490)
    polygons = dict(zip(districts["name"], districts.geometry, strict=True))
    areas = districts.to_crs(4548).area.to_numpy()
    weights = areas / areas.sum()
    names = list(polygons)

    marks: list[dict] = []
    counts: dict[str, int] = {}

    def add(prefix, n, kind, grade, district=None, *, mark, est, source="平差", epoch="2000.0",
            custodian=None, width=2, levelled=False, grid_only=False, scaled=False):  # fmt: skip
        chosen = [district] * n if district else list(rng.choice(names, n, p=weights))
        group = []
        for k, d in enumerate(chosen, start=1):
            lon, lat = _sample(rng, polygons[d], 1)[0]
            town = str(rng.choice(TOWNS[d]))
            feature = str(rng.choice(FEATURES))
            group.append(
                {
                    "点号": f"{prefix}{k:0{width}d}",
                    "点名": f"{town}{feature}",
                    "类型": kind,
                    "等级": grade if isinstance(grade, str) else grade(k),
                    "lon": lon,
                    "lat": lat,
                    "区县": d,
                    "标石类型": mark,
                    "埋设日期": _date(rng, *est).isoformat(),
                    "保管人": custodian
                    or f"{town}{'社区居委会' if d in ('金平区', '龙湖区') else '村委会'}",
                    "点位说明": f"位于{d}{town}{feature}东侧约{int(rng.integers(5, 60))}米处",
                    "交通路线": f"从{town}{'街道办' if d in ('金平区', '龙湖区') else '镇政府'}沿主路行驶约"
                    f"{rng.uniform(0.5, 6):.1f}公里至{feature}，步行可达",
                    "坐标来源": source,
                    "历元": epoch,
                    "levelled": levelled,
                    "grid_only": grid_only,
                    "scaled": scaled,
                }
            )
        marks.extend(group)
        counts[prefix] = n
        return group

    # CORS: 11 of the natural-resources system + 2 provincial GDCORS
    add("STCORS", 11, "基准站", "CORS", mark="观测墩", est=("2015-01-01", "2020-12-31"),
        custodian="汕头市自然资源局", epoch="2021.5")  # fmt: skip
    add("GDCORS-ST", 2, "基准站", "CORS", mark="楼顶标志", est=("2013-01-01", "2016-12-31"),
        custodian="广东省国土资源测绘院", width=1, epoch="2021.5")  # fmt: skip
    add("STB", 20, "GNSS点", "B级", mark="观测墩", est=("2008-01-01", "2012-12-31"),
        levelled=True, epoch="2021.5")  # fmt: skip
    add("STC", 141, "GNSS点", lambda k: "C级;四等水准" if k % 3 == 0 else "C级",
        mark="普通标石", est=("2012-01-01", "2019-12-31"), width=3, levelled=True)  # fmt: skip
    for prefix, district, grade, count in (
        ("HJC", "濠江区", "C级", 27),
        ("CHD", "澄海区", "D级;一级", 20),
        ("CNC", "潮南区", "C级", 30),
        ("CYD", "潮阳区", "D级;一级", 20),
        ("NAD", "南澳县", "D级", 15),
    ):
        add(prefix, count, "GNSS点", grade, district, mark="普通标石",
            est=("2016-01-01", "2020-12-31"), levelled=True, custodian=f"{district}自然资源分局")  # fmt: skip
    census_d = add("PCD", 40, "GNSS点", "D级;四等水准", mark="普通标石",
                   est=("1995-01-01", "2005-12-31"), width=3, levelled=True, grid_only=True,
                   source="换算")  # fmt: skip
    census_e = add("PCE", 80, "GNSS点", lambda k: "E级;四等水准" if k <= 10 else "E级",
                   mark="普通标石", est=("1995-01-01", "2008-12-31"), width=3, grid_only=True,
                   source="换算")  # fmt: skip
    add("STL2-", 8, "水准点", "二等水准", mark="墙脚标志", est=("2003-01-01", "2010-12-31"),
        levelled=True, scaled=True)  # fmt: skip
    add("STL3-", 16, "水准点", "三等水准", mark="普通标石", est=("2005-01-01", "2015-12-31"),
        levelled=True, scaled=True)  # fmt: skip
    add("JPI", 18, "城市控制点", lambda k: "一级" if k <= 10 else "二级", "金平区",
        mark="标志钉", est=("2010-01-01", "2020-12-31"))  # fmt: skip
    add("LHI", 12, "城市控制点", lambda k: "二等" if k <= 4 else "一级", "龙湖区",
        mark="普通标石", est=("2010-01-01", "2020-12-31"))  # fmt: skip

    # coordinates: B/L to 1e-9 degree, X/Y (EPSG:4548) to 0.1 mm, heights to 1 mm
    lon = np.array([m["lon"] for m in marks])
    lat = np.array([m["lat"] for m in marks])
    y, x = transform(lon, lat, 4490, 4548)
    anomaly = -3.1 + 0.8 * (lon - 116.7) - 0.5 * (lat - 23.35)  # smooth, invented
    normal_h = rng.gamma(2.0, 6.0, len(marks)) + 1.5
    rows = []
    for m, xi, yi, ai, hi in zip(marks, x, y, anomaly, normal_h, strict=True):
        row = {k: m.get(k) for k in POINT_HEADER}
        if m["scaled"]:  # benchmarks: position scaled from a 1:500 map, height levelled
            row["纬度"], row["经度"] = f"{m['lat']:.5f}", f"{m['lon']:.5f}"
            row["坐标来源"] = "图解"
            row["历元"] = None
        elif m["grid_only"]:  # census marks: only converted X/Y kept
            row["X"], row["Y"], row["坐标系"] = f"{xi:.4f}", f"{yi:.4f}", "EPSG:4548"
        else:
            row["纬度"], row["经度"] = f"{m['lat']:.9f}", f"{m['lon']:.9f}"
            row["X"], row["Y"], row["坐标系"] = f"{xi:.4f}", f"{yi:.4f}", "EPSG:4548"
            row["大地高"] = f"{hi + ai:.3f}"
        if m["levelled"]:
            row["H"] = f"{hi:.3f}"
            row["高程来源"] = "平差"
        row["备注"] = SYNTHETIC_NOTE
        rows.append(row)

    # inspections (all dated up to the end of 2024)
    inspections: list[dict] = []

    def inspect(point_id, date, condition, usability=None, notes=None, photo=None):
        inspections.append(
            {
                "点号": point_id,
                "巡查日期": date.isoformat(),
                "巡查人": str(rng.choice(INSPECTORS)),
                "状况": condition,
                "可用性": usability,
                "备注": notes,
                "照片": photo,
            }
        )

    for m in marks:
        pid = m["点号"]
        if pid.startswith(("STCORS", "GDCORS")):
            for year in (2023, 2024):
                inspect(
                    pid, _date(rng, f"{year}-03-01", f"{year}-04-30"), "完好", notes="站点运维巡检"
                )
                inspect(
                    pid, _date(rng, f"{year}-09-01", f"{year}-10-31"), "完好", notes="站点运维巡检"
                )
        elif pid.startswith(("STB", "STC", "HJC", "CHD", "CNC", "CYD", "NAD", "STL", "JPI", "LHI")):
            years = (2022, 2023, 2024) if rng.random() < 0.7 else (2022, 2023)
            for year in years:
                roll = rng.random()
                if roll < 0.05 and year == years[-1]:
                    inspect(pid, _date(rng, f"{year}-01-10", f"{year}-12-20"), "损坏",
                            "none", "标志盘松动 mark loose")  # fmt: skip
                else:
                    inspect(pid, _date(rng, f"{year}-01-10", f"{year}-12-20"), "完好")
    # the 2021 census (普查) of D/E marks: 120 checked, 21 usable
    census = census_d + census_e
    usable_d = {m["点号"] for m in census_d[:5]}
    usable_levelling = {m["点号"] for m in census_e[:3]}  # E + 四等水准: levelling only
    usable_e = {m["点号"] for m in census_e[10:23]}
    destroyed = 0
    for k, m in enumerate(census):
        pid = m["点号"]
        day = _date(rng, "2021-03-01", "2021-10-31")
        if pid in usable_d:
            inspect(pid, day, "完好", "both", "普查 census 2021")
        elif pid in usable_e:
            inspect(pid, day, "完好", "gnss", "普查 census 2021")
        elif pid in usable_levelling:
            inspect(
                pid, day, "损坏", "levelling", "普查 census 2021: 上方遮挡, 仅可水准 sky obstructed"
            )
        elif k % 7 == 0 and destroyed < 15:
            destroyed += 1
            photo = f"evidence/{pid}.png"
            (out / photo).write_bytes(_png(f"{pid} destroyed"))
            inspect(
                pid, day, "毁坏", "none", "普查 census 2021: 标石被毁 monument destroyed", photo
            )
        elif k % 3 == 0:
            inspect(pid, day, "损坏", "none", "普查 census 2021: 标志被破坏 damaged beyond use")
        else:
            inspect(pid, day, "未找到", "none", "普查 census 2021: 原址已建房 site built over")
    for m in census_d[:5] + census_e[10:23]:
        inspect(m["点号"], _date(rng, "2024-02-01", "2024-11-30"), "完好",
                "both" if m in census_d else "gnss", "复查 re-inspection")  # fmt: skip

    _write_csv(out / "points.csv", POINT_HEADER, rows)
    _write_csv(out / "inspections.csv", INSPECTION_HEADER, inspections)
    counts["points"] = len(rows)
    counts["inspections"] = len(inspections)
    counts["destroyed_with_evidence"] = destroyed
    return counts


def _write_csv(path: Path, header: list[str], rows: list[dict]) -> None:
    """Write rows under the CSV policy (:func:`geobase.tabular.write_csv`: UTF-8 with a
    BOM, so Excel on a Chinese Windows shows the Chinese; written atomically)."""
    cells = [{k: None if row.get(k) is None else str(row[k]) for k in header} for row in rows]
    write_csv(pd.DataFrame(cells, columns=header, dtype=object), path)


def load_demo(ws, folder: str | Path) -> str:
    """Load ``points.csv`` and ``inspections.csv`` of ``folder`` into a workspace.

    Idempotent: unchanged points and inspections already recorded are skipped, so a
    second run adds nothing. Returns a one-line summary.
    """
    from geobase.control.importer import import_points
    from geobase.control.inspection_import import import_inspections

    folder = Path(folder)
    points = import_points(ws, folder / "points.csv")
    inspections = import_inspections(ws, folder / "inspections.csv")
    return (
        f"{len(points.added)} control points added ({points.unchanged} already there), "
        f"{inspections.recorded} inspections recorded ({inspections.already} already there); "
        "SYNTHETIC demo registry"
    )


#: the sample stream of field inspections the demo writes beside its workspace, for
#: ``geobase control inspect --from inspections.jsonl`` (the README's line)
INSPECTION_STREAM = (
    {"point_id": "STC002", "condition": "完好", "date": "2024-05-02", "inspector": "林工"},
    {"point_id": "STC003", "condition": "damaged", "date": "2024-05-02", "inspector": "林工",
     "usability": "水准", "notes": "观测墩顶面开裂"},
    {"点号": "STC004", "状况": "未找到", "巡查日期": "2024-05-03", "巡查人": "陈工"},
)  # fmt: skip


def write_inspection_stream(path: str | Path) -> Path:
    """Write :data:`INSPECTION_STREAM` as JSON Lines (UTF-8) to ``path``; returns it."""
    import json

    path = Path(path)
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in INSPECTION_STREAM)
    path.write_text(text, encoding="utf-8")
    return path
