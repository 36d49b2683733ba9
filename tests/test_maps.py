"""folium maps with every asset inlined: nothing is loaded from elsewhere."""

from __future__ import annotations

import re

import folium
import pytest

from geobase.maps import MapAssetMissing, asset, inline_assets, offline

REMOTE = re.compile(r"<(?:script|link)\b[^>]*(?:src|href)=\"(?:https?:)?//", re.IGNORECASE)


def test_a_folium_map_with_a_colour_legend_is_inlined(tmp_path):
    m = folium.Map(location=(23.35, 116.7), zoom_start=10, tiles=None)
    shapes = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"d": "金平区", "v": 0.3},
                "geometry": {"type": "Point", "coordinates": [116.7, 23.35]},
            }
        ],
    }
    folium.GeoJson(shapes, tooltip=folium.GeoJsonTooltip(["d"])).add_to(m)
    folium.LinearColormap(["white", "green"], vmin=0, vmax=1, caption="覆盖率").add_to(m)
    folium.CircleMarker((23.3, 116.6), radius=4, popup="控制点").add_to(m)
    raw = m.get_root().render()
    assert REMOTE.search(raw)  # folium alone loads Leaflet, jQuery and d3 from CDNs
    page = offline(m).html()
    assert not REMOTE.search(page)
    for name in ("leaflet.js", "leaflet.css", "jquery.min.js", "d3.min.js"):
        assert asset(name)[:200] in page  # each vendored file, whole, in the page
    assert "bootstrap" not in page.lower()  # icon assets left out: no icon drawn
    shown = offline(m)._repr_html_()
    assert shown.startswith("<iframe srcdoc=") and not REMOTE.search(shown)
    saved = offline(m).save(tmp_path / "map.html").read_text(encoding="utf-8")
    assert "L.map(" in saved and not REMOTE.search(saved)
    assert [p.name for p in tmp_path.iterdir()] == ["map.html"]


def test_a_map_that_needs_an_asset_not_vendored_is_refused():
    m = folium.Map(tiles=None)
    folium.Marker((23.3, 116.6), icon=folium.Icon(icon="flag")).add_to(m)
    with pytest.raises(MapAssetMissing, match=r"bootstrap.*circle markers"):
        offline(m).html()
    page = '<script src="https://example.org/lib/other.js"></script>'
    with pytest.raises(MapAssetMissing, match=r"example\.org/lib/other\.js"):
        inline_assets(page)


def test_local_references_are_kept_and_script_ends_are_escaped(monkeypatch):
    page = (
        '<script src="data:text/javascript,1"></script><link rel="icon" href="https://x/i.png">'
        '<script src="https://cdn.example/leaflet.js"></script>'
    )
    monkeypatch.setattr("geobase.maps.asset", lambda name: "var s = '</script>';")
    out = inline_assets(page)
    assert out.startswith('<script src="data:text/javascript,1"></script><link rel="icon"')
    assert out.endswith("<script>var s = '<\\/script>';</script>")
