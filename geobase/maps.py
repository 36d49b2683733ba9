"""folium maps that render with the network off: every script and style inlined.

folium writes ``<script src>`` and ``<link href>`` tags that load Leaflet, jQuery and
others from CDNs; offline (as bureau networks often are) the map stays blank. Here the
rendered page's remote references are replaced by the copies vendored in
``geobase/webassets`` (Leaflet, jQuery, d3 for branca's colour legends; see its
README.md for versions and licences). The icon assets folium always lists (Bootstrap,
Font Awesome, Leaflet.awesome-markers) are left out when the map draws no such icon; a
map that does, or that needs any other remote asset, is refused with the URL rather than
shown blank.

In a notebook: ``offline(m)`` as a cell's last line shows the map; the report calls
:func:`inline_assets` on its page.
"""

from __future__ import annotations

import html
import re
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from geobase.errors import GeobaseError
from geobase.paths import atomic_output


class MapAssetMissing(GeobaseError, LookupError):
    """A map needs a web asset that geobase does not vendor (it would be blank offline)."""


# a remote asset's file name -> the vendored file that replaces it
VENDORED = {
    "leaflet.js": "leaflet.js",
    "leaflet.css": "leaflet.css",
    "jquery.min.js": "jquery.min.js",
    "d3.min.js": "d3.min.js",
}
# folium lists these for awesome-marker icons only
ICON_ASSETS = {
    "bootstrap.bundle.min.js",
    "bootstrap.min.css",
    "bootstrap-glyphicons.css",
    "all.min.css",
    "leaflet.awesome-markers.js",
    "leaflet.awesome-markers.css",
    "leaflet.awesome.rotate.min.css",
}
_TAG = re.compile(
    r"<script\b[^>]*\bsrc=\"(?P<src>[^\"]+)\"[^>]*>\s*</script>"
    r"|<link\b[^>]*\bhref=\"(?P<href>[^\"]+)\"[^>]*/?>",
    re.IGNORECASE,
)


def asset(name: str) -> str:
    """The text of a vendored web asset (``leaflet.js``, ``leaflet.css``, ...)."""
    return resources.files("geobase.webassets").joinpath(name).read_text(encoding="utf-8")


def _vendored_name(url: str) -> str:
    name = Path(urlparse(url).path).name
    # folium names jQuery by version (jquery-3.7.1.min.js)
    return "jquery.min.js" if re.fullmatch(r"jquery-[\d.]+\.min\.js", name) else name


def inline_assets(page: str) -> str:
    """A rendered folium page with every remote script and stylesheet inlined.

    Raises:
        MapAssetMissing: the page needs a remote asset that is not vendored.
    """
    uses_icons = "L.AwesomeMarkers" in page

    def replace(match: re.Match[str]) -> str:
        url = match["src"] or match["href"]
        if not re.match(r"(https?:)?//", url):
            return match[0]  # data: URIs, relative links
        if match["href"] is not None and "stylesheet" not in match[0].lower():
            return match[0]  # not a stylesheet (an icon, a canonical link)
        name = _vendored_name(url)
        if name in VENDORED:
            text = asset(VENDORED[name])
            if match["src"] is not None:
                return "<script>" + text.replace("</script", "<\\/script") + "</script>"
            return "<style>" + text.replace("</style", "<\\/style") + "</style>"
        if name in ICON_ASSETS and not uses_icons:
            return ""
        raise MapAssetMissing(
            f"the map needs {url}, which geobase does not vendor (it would be blank "
            "offline); draw circle markers instead of icons, or vendor the asset in "
            "geobase/webassets"
        )

    return _TAG.sub(replace, page)


class OfflineMap:
    """A folium map shown (in Jupyter) or saved with every asset inlined."""

    def __init__(self, m: Any, height: str = "450px"):
        self.map = m
        self.height = height

    def html(self) -> str:
        """The map's standalone HTML page."""
        return inline_assets(self.map.get_root().render())

    def save(self, path: str | Path) -> Path:
        """Write the standalone page (atomically); returns the path."""
        path = Path(path)
        text = self.html()
        with atomic_output(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
        return path

    def _repr_html_(self) -> str:
        # as folium shows a map: the page in an iframe's srcdoc, so its scripts run apart
        # from the notebook's
        return (
            f'<iframe srcdoc="{html.escape(self.html())}" class="folium-map-offline" '
            f'style="width:100%;height:{self.height};border:none" allowfullscreen></iframe>'
        )


def offline(m: Any, height: str = "450px") -> OfflineMap:
    """Wrap a folium map so it renders without the network (a notebook cell's last line).

    Example:
        >>> import folium
        >>> page = offline(folium.Map(tiles=None)).html()
        >>> "cdn.jsdelivr.net" in page
        False
    """
    return OfflineMap(m, height)
