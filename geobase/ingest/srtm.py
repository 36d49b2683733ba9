"""SRTM height tiles (``N23E116.hgt``, ``N23E116.hgt.zip``, NASA's ``.SRTMGL1.hgt.zip``).

An ``.hgt`` file is a bare grid of big-endian int16 heights in metres, rows from the
north, voids -32768, with no header: the file name gives the extent (the south-west
corner of a 1° x 1° tile, cell centres on the whole degrees) and the file size the grid
(1201 x 1201 at 3", SRTM3; 3601 x 3601 at 1", SRTM1). GDAL's SRTMHGT driver reads both
the file and its zip archive (through ``/vsizip/``) by that name, so a name that does not
match the contents would place the heights elsewhere; :func:`check` refuses such files
before anything is read or recorded.

Datums: SRTM positions are WGS 84 (EPSG:4326), heights above the EGM96 geoid. The record
keeps EPSG:4326 as the data state it; the footprint goes to CGCS2000 (EPSG:4490) without
a datum shift, as for every WGS 84 delivery: the two realisations agree within a few
centimetres in China, a ten-thousandth of an SRTM cell (30-90 m) and far below the
tiles' stated accuracy (about 10-20 m). The heights stay EGM96 heights (recorded as the
vertical datum; not heights in the 1985 national height datum).
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from geobase.errors import SourceReadError, UnsupportedInput

SRTM_SUFFIXES = (".hgt.zip", ".hgt")
VERTICAL_DATUM = "EGM96 height"
DATUM_NOTE = (
    "WGS 84 positions (EPSG:4326) taken as CGCS2000 without a shift (they agree within a "
    "few centimetres); heights above the EGM96 geoid"
)
# an .hgt states no date; the mission's is a hint, not a fact about this file (NASADEM and
# void-filled versions carry later data)
UNKNOWN_DATE = (
    "unknown: an .hgt tile states no date (the SRTM mission flew 2000-02-11/2000-02-22); "
    "set it with --acquired"
)
# samples per side (rows, columns) -> what the grid is; the sizes GDAL's driver reads
GRIDS: dict[tuple[int, int], str] = {
    (1201, 1201): 'SRTM3, 3" (about 90 m)',
    (3601, 3601): 'SRTM1, 1" (about 30 m)',
}
_NAME = re.compile(
    r"^(?P<ns>[NS])(?P<lat>\d{2})(?P<ew>[EW])(?P<lon>\d{3})(?:\.SRTMGL[13])?\.hgt(?:\.zip)?$",
    re.IGNORECASE,
)
_ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class SrtmTile:
    """What an SRTM tile's name and size state.

    Attributes:
        name: the tile (``N23E116``).
        south, west: its south-west corner in whole degrees.
        rows, cols: samples per side.
        grid: the grid's description (``SRTM3, 3" (about 90 m)``).
        member: the ``.hgt`` inside a zip archive (None for a bare file).
    """

    name: str
    south: int
    west: int
    rows: int
    cols: int
    grid: str
    member: str | None

    def metadata(self) -> dict[str, object]:
        return {
            "tile": self.name,
            "grid": self.grid,
            "samples": [self.rows, self.cols],
            "member": self.member,
            "datum": DATUM_NOTE,
            # no registered type for .hgt: a zip archive, or bare bytes
            "media_type": "application/octet-stream" if self.member is None else "application/zip",
        }


def is_srtm(path: Path) -> bool:
    """Whether a path is named as an SRTM tile file (``.hgt`` or ``.hgt.zip``)."""
    return path.name.lower().endswith(SRTM_SUFFIXES)


def stem(name: str) -> str:
    """The name without its ``.hgt`` / ``.hgt.zip`` suffix."""
    for suffix in SRTM_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _grid(path: Path, size: int, what: str) -> tuple[int, int, str]:
    for (rows, cols), grid in GRIDS.items():
        if size == rows * cols * 2:
            return rows, cols, grid
    known = ", ".join(f"{r * c * 2:,} bytes for {r} x {c}" for r, c in GRIDS)
    raise SourceReadError(
        f"{path.name}: {what} of {size:,} bytes is no SRTM grid ({known}); "
        "likely a truncated download or not an SRTM tile"
    )


def check(path: Path) -> SrtmTile:
    """The tile a ``.hgt`` / ``.hgt.zip`` file holds, checked against its name and size.

    Raises:
        UnsupportedInput: the name is not an SRTM tile name (the name gives the extent).
        SourceReadError: the size is no SRTM grid; a ``.zip`` that is not a zip archive,
            or that does not hold exactly the ``.hgt`` its name promises.
    """
    match = _NAME.match(path.name)
    if match is None:
        raise UnsupportedInput(
            f"{path.name}: an SRTM file is named by its tile (N23E116.hgt or "
            "N23E116.hgt.zip), which gives its extent; likely renamed, name it as delivered"
        )
    lat, lon = int(match["lat"]), int(match["lon"])
    south = lat if match["ns"].upper() == "N" else -lat
    west = lon if match["ew"].upper() == "E" else -lon
    if not (-90 <= south <= 89 and -180 <= west <= 179):
        raise UnsupportedInput(
            f"{path.name}: tile {match['ns']}{match['lat']}{match['ew']}{match['lon']} "
            "lies outside -90..89° latitude, -180..179° longitude"
        )
    tile = f"{match['ns'].upper()}{match['lat']}{match['ew'].upper()}{match['lon']}"
    if not path.name.lower().endswith(".zip"):
        rows, cols, grid = _grid(path, path.stat().st_size, "a file")
        return SrtmTile(tile, south, west, rows, cols, grid, None)
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != _ZIP_MAGIC:
        raise SourceReadError(
            f"{path.name}: not a zip archive (starts with {magic!r}); "
            "likely a bare .hgt renamed, or an interrupted download"
        )
    # GDAL opens the member named as the file's first 7 characters + ".hgt", exactly
    expected = f"{path.name[:7]}.hgt"
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
    except (zipfile.BadZipFile, OSError) as exc:
        raise SourceReadError(
            f"{path.name}: the zip archive cannot be read ({exc}); likely truncated"
        ) from None
    heights = [m for m in members if m.filename.lower().endswith(".hgt")]
    if len(heights) != 1 or heights[0].filename != expected:
        found = ", ".join(m.filename for m in members[:5]) or "nothing"
        raise SourceReadError(
            f"{path.name}: the archive must hold exactly {expected} (the tile its name "
            f"gives), it holds {found}; likely renamed or repacked"
        )
    member = heights[0]
    rows, cols, grid = _grid(path, member.file_size, f"{member.filename}")
    return SrtmTile(tile, south, west, rows, cols, grid, member.filename)
