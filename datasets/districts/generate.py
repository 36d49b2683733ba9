"""Generate APPROXIMATE boundaries of Shantou's seven districts for the demo workspace.

These are not official boundaries: a hand-drawn outline of the mainland split among the
district seats (Voronoi cells), and an ellipse for Nan'ao island. Real work loads the
official boundary file with ``geobase districts load``. Run: python generate.py
"""

from pathlib import Path

import geopandas as gpd
import shapely

MAINLAND = [
    (116.28, 23.13),
    (116.36, 23.27),
    (116.47, 23.33),
    (116.56, 23.36),
    (116.62, 23.45),
    (116.66, 23.55),
    (116.75, 23.62),
    (116.88, 23.58),
    (116.92, 23.48),
    (116.86, 23.42),
    (116.80, 23.36),
    (116.76, 23.33),
    (116.80, 23.27),
    (116.70, 23.20),
    (116.62, 23.15),
    (116.55, 23.10),
    (116.45, 23.02),
    (116.38, 23.03),
    (116.30, 23.06),
]
SEATS = {  # name, English name, code, seat (lon, lat)
    "金平区": ("Jinping", "440511", (116.66, 23.40)),
    "龙湖区": ("Longhu", "440507", (116.76, 23.41)),
    "澄海区": ("Chenghai", "440515", (116.77, 23.52)),
    "濠江区": ("Haojiang", "440512", (116.72, 23.25)),
    "潮阳区": ("Chaoyang", "440513", (116.56, 23.24)),
    "潮南区": ("Chaonan", "440514", (116.39, 23.13)),
}
NANAO = ("南澳县", "Nan'ao", "440523")


def build() -> gpd.GeoDataFrame:
    mainland = shapely.Polygon(MAINLAND)
    seats = shapely.MultiPoint([s[2] for s in SEATS.values()])
    cells = shapely.voronoi_polygons(seats, extend_to=mainland.buffer(1))
    rows = []
    for ((name, (name_en, code, seat)),) in zip(((k, v) for k, v in SEATS.items()), strict=True):
        cell = next(c for c in cells.geoms if c.contains(shapely.Point(seat)))
        rows.append(
            {
                "name": name,
                "name_en": name_en,
                "code": code,
                "geometry": cell.intersection(mainland),
            }
        )
    island = shapely.affinity.scale(shapely.Point(117.04, 23.44).buffer(0.1, 64), 1.0, 0.5)
    rows.append({"name": NANAO[0], "name_en": NANAO[1], "code": NANAO[2], "geometry": island})
    frame = gpd.GeoDataFrame(rows, crs=4490)
    frame["note"] = "APPROXIMATE boundary for the demo, not official / 示意范围，非官方界线"
    return frame


if __name__ == "__main__":
    out = Path(__file__).with_name("shantou_districts.geojson")
    frame = build()
    frame["geometry"] = frame.geometry.set_precision(1e-5)
    frame.to_file(out, driver="GeoJSON")
    areas = frame.to_crs(4548).area / 1e6
    for name, area in zip(frame["name"], areas, strict=True):
        print(f"{name}: {area:.0f} km2")
    print(f"total {areas.sum():.0f} km2 (plan: about 2,199 km2)")
