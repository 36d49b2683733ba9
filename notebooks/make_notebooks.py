"""Write the analyst notebooks (``notebooks/*.ipynb``) from the cells below.

The notebooks are committed; this script is how they are kept in step with the code:
``python notebooks/make_notebooks.py`` rewrites them (without outputs). Each runs top to
bottom on the demo workspace (``geobase demo shantou``; the path comes from the
``GEOBASE_WORKSPACE`` environment variable, default ``../shantou``), uses only geobase's
public Python API, needs no network to run or to show, and shows at least one folium map
(through ``geobase.maps.offline``, which inlines Leaflet) and one chart (inline, with the
CJK font ``geobase.fonts.use_cjk_font`` registers).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

OPEN_WORKSPACE = """\
import os
from pathlib import Path

from geobase.store import Workspace

WORKSPACE = Path(os.environ.get("GEOBASE_WORKSPACE", "../shantou"))
ws = Workspace.open(WORKSPACE)
ws"""

DISTRICTS_LAYER = """\
import folium

from geobase.maps import offline
from geobase.store.districts import list_districts

districts = list_districts(ws.store)


def base_map(zoom=10, location=(23.35, 116.70)):
    # no web tiles: the map works offline; the districts are the base layer
    m = folium.Map(location=location, zoom_start=zoom, tiles=None)
    folium.GeoJson(
        districts[["name", "name_en", "geometry"]].to_json(),
        name="districts 区县",
        style_function=lambda f: {"color": "#555", "weight": 1, "fillColor": "#eee", "fillOpacity": 0.4},
        tooltip=folium.GeoJsonTooltip(["name", "name_en"]),
    ).add_to(m)
    return m"""

CHARTS = """\
%matplotlib inline
import matplotlib.pyplot as plt

from geobase.fonts import use_cjk_font

# the CJK font file is registered explicitly: Chinese labels render whatever the font cache holds
use_cjk_font()"""


def control_health() -> list:
    return [
        new_markdown_cell(
            "# 控制网健康状况 Control network health\n\n"
            "Usable rates per district, marks overdue for inspection (the plan asks for "
            "every mark to be inspected at least once a year) and a map of the network. "
            "The demo registry is SYNTHETIC (see `control_points/README.md`)."
        ),
        new_code_cell(OPEN_WORKSPACE),
        new_code_cell(
            "from geobase.control.registry import search\n"
            "from geobase.control.health import district_stats, overdue\n\n"
            "AS_OF = '2025-06-30'\n"
            "stats = district_stats(ws, as_of=AS_OF)\n"
            "stats"
        ),
        new_code_cell(CHARTS),
        new_code_cell(
            "ax = stats.set_index('district')['usable_rate'].plot.barh(figsize=(6, 3))\n"
            "ax.set_xlabel('usable rate 可用率')\n"
            "ax.set_title('Usable marks over inspected marks 标志可用率')\n"
            "plt.tight_layout()"
        ),
        new_code_cell(
            "late = overdue(ws, as_of=AS_OF)\n"
            "print(f'{len(late)} marks overdue for inspection on {AS_OF} (逾期未巡查)')\n"
            "late.head(10)"
        ),
        new_code_cell(DISTRICTS_LAYER),
        new_code_cell(
            "points = search(ws)\n"
            "late_ids = set(late['point_id'])\n"
            "colours = {'gnss': 'green', 'levelling': 'blue', 'both': 'darkgreen', 'none': 'red'}\n"
            "m = base_map()\n"
            "for row in points.itertuples():\n"
            "    colour = colours.get(row.usability, 'gray')\n"
            "    folium.CircleMarker(\n"
            "        (row.geometry.y, row.geometry.x), radius=5 if row.kind == 'cors' else 3,\n"
            "        color='orange' if row.point_id in late_ids else colour, fill=True,\n"
            "        tooltip=f'{row.point_id} {row.name} {row.kind} {row.usability}',\n"
            "    ).add_to(m)\n"
            "offline(m)"
        ),
    ]


def coverage_currency() -> list:
    return [
        new_markdown_cell(
            "# 覆盖与现势性 Coverage and currency against the plan\n\n"
            "How much of each district the 1:500 maps (dlg500) cover, how much is younger "
            "than the product's update cycle, at the plan's 2020 baseline and today."
        ),
        new_code_cell(OPEN_WORKSPACE),
        new_code_cell(
            "from geobase.coverage import district_coverage\n\n"
            "baseline = district_coverage(ws, 'dlg500', as_of='2020-12-31')\n"
            "today = district_coverage(ws, 'dlg500')\n"
            "cols = ['district', 'name_en', 'area_km2', 'covered_km2', 'covered_share', 'current_share', 'newest']\n"
            "baseline[cols]"
        ),
        new_code_cell(
            "city = baseline[baseline['district'] == '全市'].iloc[0]\n"
            'print(f"1:500 coverage at the end of 2020: {city.covered_km2:.1f} km2, {city.covered_share:.1%} of the city "\n'
            "      '(plan: 360.1 km2, 16% of 2,199 km2)')\n"
            "today[cols]"
        ),
        new_code_cell(CHARTS),
        new_code_cell(
            "from geobase.coverage import age_classes, coverage_settings\n\n"
            "# the age classes from the workspace's bins: the legend is built from their numbers\n"
            "classes = age_classes(coverage_settings(ws.config.coverage).age_bins)\n"
            "frame = today[today['district'] != '全市'].set_index('name_en')\n"
            "frame = frame[[f'age_{c.key}_km2' for c in classes]]\n"
            "frame.columns = [c.label for c in classes]\n"
            "ax = frame.plot.barh(stacked=True, figsize=(7, 3.5))\n"
            "ax.set_xlabel('km2 by age of the newest 1:500 map 按现势性')\n"
            "plt.tight_layout()"
        ),
        new_code_cell(DISTRICTS_LAYER),
        new_code_cell(
            "from geobase.catalog import current_datasets\n\n"
            "m = base_map()\n"
            "shares = today[today['district'] != '全市'][['district', 'covered_share', 'geometry']]\n"
            "folium.Choropleth(\n"
            "    shares.to_json(), data=shares, columns=['district', 'covered_share'],\n"
            "    key_on='feature.properties.district', fill_color='YlGn',\n"
            "    legend_name='1:500 coverage share 覆盖率',\n"
            ").add_to(m)\n"
            "maps = current_datasets(ws.store, product='dlg500')\n"
            "folium.GeoJson(\n"
            "    maps[['dataset_id', 'acquired_end', 'geometry']].to_json(), name='1:500 deliveries',\n"
            "    style_function=lambda f: {'color': '#c33', 'weight': 1, 'fillOpacity': 0},\n"
            "    tooltip=folium.GeoJsonTooltip(['dataset_id', 'acquired_end']),\n"
            ").add_to(m)\n"
            "folium.LayerControl().add_to(m)\n"
            "offline(m)"
        ),
    ]


def ingest_preview() -> list:
    return [
        new_markdown_cell(
            "# 数据入库与瓦片预览 Ingesting a delivery and previewing its tiles\n\n"
            "A contractor delivers an orthophoto with a sidecar stating its acquisition "
            "date. We ingest it into a scratch workspace (so the demo stays as it is), "
            "look at its catalogue record and footprint, build a small tile pyramid and "
            "look at a tile."
        ),
        new_code_cell(OPEN_WORKSPACE),
        new_code_cell(
            "import shutil, tempfile\n"
            "from geobase.store.districts import load_districts\n\n"
            "scratch = Path(tempfile.mkdtemp(prefix='geobase-nb-'))\n"
            "work = Workspace.init(scratch / 'ws', name='scratch')\n"
            "load_districts(work.store, ws.config.districts)\n"
            "delivery = scratch / 'delivery'\n"
            "delivery.mkdir()\n"
            "for name in ('chenghai_dom005_2020.tif', 'chenghai_dom005_2020.json'):\n"
            "    shutil.copy(WORKSPACE / 'datasets' / 'generated' / 'imagery' / name, delivery)\n"
            "print((delivery / 'chenghai_dom005_2020.json').read_text(encoding='utf-8'))"
        ),
        new_code_cell(
            "from geobase.ingest import ingest\n\n"
            "results = ingest(work, [delivery / 'chenghai_dom005_2020.tif'], product='dom005')\n"
            "[r.as_dict() for r in results]"
        ),
        new_code_cell(
            "from geobase.catalog import current_datasets\n\n"
            "record = current_datasets(work.store)\n"
            "record[['dataset_id', 'product', 'acquired_start', 'acquired_end', 'resolution', 'epsg', 'classification']]"
        ),
        new_code_cell(
            "from geobase.tiles.build import build_tiles\n\n"
            "pyramid = build_tiles(work, 'dom005', work.root / 'tiles' / 'dom005.pmtiles', zoom=(17, 20), fmt='jpeg', workers=1)\n"
            "{k: pyramid[k] for k in ('tms', 'minzoom', 'maxzoom', 'tile_count', 'bytes')}"
        ),
        new_code_cell(
            "import io\n"
            "from PIL import Image\n"
            "from geobase.tiles.stores import open_pyramid\n\n"
            "with open_pyramid(work.root / 'tiles' / 'dom005.pmtiles') as reader:\n"
            "    z, x, y = max(reader.tiles())\n"
            "    tile = Image.open(io.BytesIO(reader.get_tile(z, x, y)))\n"
            "print('tile', z, x, y, tile.size)\n"
            "tile"
        ),
        new_code_cell(
            "import folium\n\n"
            "from geobase.maps import offline\n\n"
            "footprint = record.geometry.iloc[0]\n"
            "c = footprint.centroid\n"
            "m = folium.Map(location=(c.y, c.x), zoom_start=17, tiles=None)\n"
            "folium.GeoJson(record[['dataset_id', 'acquired_end', 'geometry']].to_json(),\n"
            "               tooltip=folium.GeoJsonTooltip(['dataset_id', 'acquired_end'])).add_to(m)\n"
            "offline(m)"
        ),
        new_code_cell("work.close()\nshutil.rmtree(scratch)"),
    ]


def xian80() -> list:
    return [
        new_markdown_cell(
            "# 西安80转CGCS2000 Converting legacy Xian 1980 data with fitted parameters\n\n"
            "PROJ knows no real transformation from Xian 1980 to CGCS2000, so the bureau "
            "fits a plane 4-parameter similarity on common points (重合点) known in both "
            "systems, holds some out as check points (检核点), and applies the parameters "
            "with PROJ. The common points here are SYNTHETIC: CGCS2000 positions spread "
            "over Shantou and Xian 1980 coordinates made from a plausible offset, "
            "rotation and scale plus 1 cm noise and one blunder."
        ),
        new_code_cell(OPEN_WORKSPACE),
        new_code_cell(
            "import numpy as np\n"
            "import pandas as pd\n"
            "from geobase.geodesy import CommonPoints, fit, apply, transform\n\n"
            "rng = np.random.default_rng(1980)\n"
            "lon = rng.uniform(116.35, 117.05, 16)\n"
            "lat = rng.uniform(23.10, 23.55, 16)\n"
            "e2000, n2000 = transform(lon, lat, 'EPSG:4490', 'EPSG:4548')\n"
            "# the 'true' Xian 1980 -> CGCS2000 plane relation (unknown to the fit)\n"
            "dE, dN, rot, scale = 41.37, -62.84, np.radians(1.8 / 3600), 3.6e-6\n"
            "e0, n0 = 470000.0, 2580000.0\n"
            "u, v = e2000 - e0 - dE, n2000 - n0 - dN\n"
            "k = 1 / (1 + scale)\n"
            "e80 = e0 + k * (np.cos(rot) * u + np.sin(rot) * v) + rng.normal(0, 0.01, 16)\n"
            "n80 = n0 + k * (-np.sin(rot) * u + np.cos(rot) * v) + rng.normal(0, 0.01, 16)\n"
            "e80[5] += 0.35  # a blunder: a mark disturbed since the old survey\n"
            "ids = [f'GZ{i:02d}' for i in range(16)]\n"
            "common = CommonPoints(tuple(ids), np.column_stack([e80, n80]), np.column_stack([e2000, n2000]))\n"
            "pd.DataFrame({'id': ids, 'xian80_east': e80, 'xian80_north': n80, 'cgcs_east': e2000, 'cgcs_north': n2000}).head()"
        ),
        new_code_cell(
            "result = fit(common, '4p', src_crs='EPSG:2384', dst_crs='EPSG:4548', check_ids=['GZ14', 'GZ15'])\n"
            "report = result.report\n"
            "print(f'RMS {report.rms * 100:.1f} cm, check RMS {report.check_rms * 100:.1f} cm, rejected: {report.rejected}')\n"
            "residuals = pd.DataFrame([r.model_dump() for r in report.residuals])\n"
            "residuals"
        ),
        new_code_cell(
            "params = result.parameters\n"
            "e, n = apply(params, e80, n80)\n"
            "err = np.hypot(e - e2000, n - n2000)\n"
            "print(f'after conversion: max error {err[np.arange(16) != 5].max() * 100:.1f} cm '\n"
            "      f'(the blunder point GZ05: {err[5] * 100:.0f} cm)')\n"
            "params.model_dump(exclude={'fit'})"
        ),
        new_code_cell(CHARTS),
        new_code_cell(
            "colours = {'fit': 'green', 'check': 'blue', 'rejected': 'red'}\n"
            "ax = residuals.set_index('id')['residual'].mul(100).plot.bar(\n"
            "    color=[colours[r] for r in residuals['role']], figsize=(7, 3))\n"
            "ax.set_ylabel('residual 残差 (cm)')\n"
            "ax.set_title('Residuals by role 拟合点、检核点与剔除点')\n"
            "plt.tight_layout()"
        ),
        new_code_cell(
            "import folium\n\n"
            "from geobase.maps import offline\n\n"
            "lon2, lat2 = transform(e2000, n2000, 'EPSG:4548', 'EPSG:4490')\n"
            "m = folium.Map(location=(23.33, 116.70), zoom_start=10, tiles=None)\n"
            "folium.GeoJson(ws.store.read_frame('SELECT name, geom FROM districts').to_json(),\n"
            "               style_function=lambda f: {'color': '#555', 'weight': 1, 'fillOpacity': 0.1}).add_to(m)\n"
            "by_id = residuals.set_index('id')\n"
            "colours = {'fit': 'green', 'check': 'blue', 'rejected': 'red'}\n"
            "for i, pid in enumerate(ids):\n"
            "    r = by_id.loc[pid]\n"
            "    folium.CircleMarker((lat2[i], lon2[i]), radius=4 + 40 * min(r.residual, 0.4),\n"
            "                        color=colours[r.role], fill=True,\n"
            "                        tooltip=f'{pid} {r.role} residual {r.residual * 100:.1f} cm').add_to(m)\n"
            "offline(m)"
        ),
    ]


NOTEBOOKS = {
    "01_control_network_health.ipynb": control_health,
    "02_coverage_and_currency.ipynb": coverage_currency,
    "03_ingest_and_preview_tiles.ipynb": ingest_preview,
    "04_xian80_to_cgcs2000.ipynb": xian80,
}


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        nb = new_notebook(cells=cells())
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        nb.metadata["language_info"] = {"name": "python"}
        nbformat.validate(nb)
        nbformat.write(nb, HERE / name)
        print(HERE / name)


if __name__ == "__main__":
    main()
