"""The package's offline tiles: a PMTiles pyramid of the clipped imagery, and the same
tiles as ``z/x/y.jpg`` files for the HTML viewer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from geobase.emergency.area import AreaOfInterest


def build_tiles(
    cogs: list[tuple[Path, float]], aoi: AreaOfInterest, out: Path, max_zoom: int
) -> dict[str, Any]:
    """A WebMercatorQuad PMTiles pyramid of the clipped imagery (coarsest painted first)."""
    from geobase.tiles.build import default_zooms
    from geobase.tiles.pyramid import build_pyramid, settings_for
    from geobase.tiles.render import source_ref
    from geobase.tiles.tms import TMS

    tms = TMS.get("WebMercatorQuad")
    ordered = [str(p) for p, _ in sorted(cogs, key=lambda c: -c[1])]
    refs = [source_ref(p, tms.rasterio_crs) for p in ordered]
    _, finest = default_zooms(tms, refs)
    maxz = min(finest, max_zoom)
    # the first zoom at which the area spans at most 2 x 2 tiles
    minz = maxz
    while minz > max(0, maxz - 8) and len(list(tms.tiles(*aoi.bounds, zooms=[minz]))) > 4:
        minz -= 1
    settings = settings_for(tms, minzoom=minz, maxzoom=maxz, fmt="jpeg", mode="rgb", channels=3)
    w, s, e, n = (round(v, 7) for v in aoi.bounds)
    tilejson = {
        "tilejson": "3.0.0",
        "name": out.stem,
        "scheme": "xyz",
        "tiles": ["{z}/{x}/{y}.jpg"],
        "minzoom": minz,
        "maxzoom": maxz,
        "bounds": [w, s, e, n],
        "center": [round((w + e) / 2, 7), round((s + n) / 2, 7), min(minz + 2, maxz)],
        "format": "jpeg",
        "tilematrixset": tms.id,
        "crs": "EPSG:3857",
        "mode": "rgb",
    }
    stats = build_pyramid(refs, out, settings, tilejson, workers=1)
    return {"minzoom": minz, "maxzoom": maxz, "tiles": stats.tiles, "bytes": stats.bytes}


def extract_tiles(pmtiles: Path, folder: Path) -> int:
    """The tiles of a PMTiles archive as ``z/x/y.jpg`` files (the HTML viewer reads them)."""
    from geobase.tiles.stores import open_pyramid

    count = 0
    with open_pyramid(pmtiles) as reader:
        for z, x, y in reader.tiles():
            data = reader.get_tile(z, x, y)
            if data is None:
                continue
            path = folder / str(z) / str(x) / f"{y}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            count += 1
    return count
