"""The coverage report's maps (folium): district outlines, the covered area and the age of
the newest data, without base tiles (the page inlines Leaflet and needs no network)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import geopandas as gpd

from geobase.coverage.compute import age_classes
from geobase.coverage.figures import AGE_COLOURS, COVERED_COLOUR, UNKNOWN_COLOUR

if TYPE_CHECKING:
    import folium

    from geobase.coverage.report import CoverageReport, ProductCoverage


def product_map(report: CoverageReport, product: ProductCoverage) -> folium.Map:
    """One product's map: district outlines, its coverage (hidden at first) and data age."""
    import folium

    bounds = report.districts.total_bounds
    m = folium.Map(
        location=[(bounds[1] + bounds[3]) / 2, (bounds[0] + bounds[2]) / 2],
        zoom_start=10,
        tiles=None,
        width="100%",
        height="440px",
        control_scale=True,
        prefer_canvas=False,
    )
    outline = folium.FeatureGroup(name="区县界线 districts (approximate where so labelled)")
    folium.GeoJson(
        report.districts[["name", "name_en", "area_km2", "geometry"]],
        style_function=lambda _: {"color": "#333333", "weight": 1.2, "fill": False},
        tooltip=folium.GeoJsonTooltip(fields=["name", "name_en"], aliases=["区县", "district"]),
    ).add_to(outline)
    outline.add_to(m)
    layers = product.layers
    if len(layers):
        covered = folium.FeatureGroup(name="覆盖范围 Coverage", show=False)
        union = gpd.GeoDataFrame(
            {"product": [product.code], "area_km2": [float(layers["area_km2"].sum())]},
            geometry=[layers.geometry.union_all()],
            crs=4490,
        )
        folium.GeoJson(
            union,
            style_function=lambda _: {"color": COVERED_COLOUR, "weight": 0.5, "fillOpacity": 0.5},
            tooltip=folium.GeoJsonTooltip(
                fields=["product", "area_km2"], aliases=["产品 product", "面积 km2"]
            ),
        ).add_to(covered)
        covered.add_to(m)
        classes = age_classes(report.age_bins)
        colours = dict(
            zip(
                [c.key for c in classes],
                [*AGE_COLOURS[: len(classes) - 1], UNKNOWN_COLOUR],
                strict=False,
            )
        )
        aged = folium.FeatureGroup(name="数据年龄 Age of the newest data")
        frame = layers[["key", "label", "area_km2", "geometry"]].copy()
        frame["colour"] = [colours.get(k, UNKNOWN_COLOUR) for k in frame["key"]]
        frame["area_km2"] = frame["area_km2"].round(3)
        folium.GeoJson(
            frame,
            style_function=lambda f: {
                "color": f["properties"]["colour"],
                "weight": 0.5,
                "fillColor": f["properties"]["colour"],
                "fillOpacity": 0.65,
            },
            tooltip=folium.GeoJsonTooltip(
                fields=["label", "area_km2"], aliases=["数据年龄 age", "面积 km2"]
            ),
        ).add_to(aged)
        aged.add_to(m)
    m.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    folium.LayerControl(collapsed=False).add_to(m)
    return m
