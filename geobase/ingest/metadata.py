"""Metadata shared by every kind of delivery: CRS, acquisition dates, sidecars, checksums.

The acquisition date (or window) comes from the data (LAS GPS time, TIFF tags), from a
sidecar file next to the delivery, or from the caller (``--acquired``); never from a file's
modification time or the clock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyproj import CRS
from pyproj.exceptions import CRSError

from geobase import dates, tabular
from geobase.errors import DateRangeError, InvalidDate, MissingAcquisitionDate, UnsupportedInput

logger = logging.getLogger(__name__)

CHUNK = 4 << 20


@dataclass(frozen=True)
class Acquired:
    """An acquisition window (both ends inclusive) and where it came from."""

    start: dt.date
    end: dt.date
    source: str

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise DateRangeError(
                f"acquisition window ends ({self.end}) before it starts ({self.start})"
            )


# --- CRS ------------------------------------------------------------------------------


def epsg_code(crs: CRS) -> int | None:
    """The EPSG code of a CRS where there is one.

    A CRS written by ESRI software (datum ``NAD83_High_Accuracy_Regional_Network``...) is
    not identified by PROJ directly; it is identified again from its ESRI WKT, and a
    candidate code is accepted only if that EPSG CRS equals the data's CRS.
    """
    code = crs.to_epsg(min_confidence=90)
    if code is not None:
        return code
    try:
        candidates = CRS.from_wkt(crs.to_wkt("WKT1_ESRI")).list_authority(min_confidence=70)
    except CRSError:
        return None
    for match in candidates:
        if match.auth_name != "EPSG":
            continue
        try:
            if CRS.from_epsg(int(match.code)).equals(crs, ignore_axis_order=True):
                return int(match.code)
        except CRSError:
            continue
    return None


def crs_fields(crs: CRS) -> dict[str, Any]:
    """The catalogue's CRS columns: WKT2 and the EPSG code where there is one."""
    return {"crs_wkt": crs.to_wkt("WKT2_2019"), "epsg": epsg_code(crs)}


def linear_unit_factor(crs: CRS) -> float:
    """Metres per horizontal unit of a projected CRS (1.0 for metres, 0.3048 for feet)."""
    if crs.is_geographic:
        raise UnsupportedInput(
            f"{crs.name}: a geographic CRS has no linear unit; expected a projected CRS"
        )
    for axis in crs.axis_info:
        if axis.unit_conversion_factor:
            return float(axis.unit_conversion_factor)
    return 1.0


def vertical_datum(crs: CRS) -> str | None:
    """The vertical datum a (compound) CRS states, if any."""
    for sub in crs.sub_crs_list or []:
        if sub.is_vertical:
            return sub.name
    if crs.is_vertical:
        return crs.name
    return None


# --- dates ----------------------------------------------------------------------------

# no digital delivery of ours is older: earlier file-header dates are zeroed or garbled
EARLIEST_PLAUSIBLE = dt.date(1990, 1, 1)


def parse_window(text: str, source: str = "--acquired", *, allow_future: bool = True) -> Acquired:
    """``YYYY-MM-DD`` or ``YYYY-MM-DD/YYYY-MM-DD`` as an acquisition window.

    Each date in any spelling :func:`geobase.dates.parse_date` accepts, ``2024/05/01``
    and ``2024/05/01/2024/05/03`` included.

    Raises:
        MissingAcquisitionDate: the text is not a date or a window, or it ends before it
            starts.
        FutureDate: the window ends after today and ``allow_future`` is False.
    """
    raw = str(text).strip()
    try:
        day = dates.parse_date(raw, source)  # 2024/05/01 is one date, not a window
        days = [day, day]
    except InvalidDate as exc:
        days, error = [], exc
        for i, char in enumerate(raw):  # the one "/" that splits it into two dates
            if char == "/":
                try:
                    days = [
                        dates.parse_date(raw[:i], source),
                        dates.parse_date(raw[i + 1 :], source),
                    ]
                    break
                except InvalidDate as part:
                    error = part
        if not days:
            if raw.count("/") > 1:
                raise MissingAcquisitionDate(
                    f"{source}: {raw[:80]!r} is not YYYY-MM-DD or YYYY-MM-DD/YYYY-MM-DD"
                ) from None
            raise MissingAcquisitionDate(f"{error}, or YYYY-MM-DD/YYYY-MM-DD") from None
    if days[-1] < days[0]:
        raise MissingAcquisitionDate(
            f"{source}: {text!r} ends before it starts; expected START/END"
        )
    window = Acquired(days[0], days[-1], source)
    if not allow_future:
        dates.check_not_future(window.end, source)
    return window


def plausible(window: Acquired | None, what: str) -> Acquired | None:
    """A date found in the data or a sidecar, or None (with a warning) when it lies after
    today and so cannot be an acquisition date (a camera clock or a sidecar gone wrong)."""
    if window is None:
        return None
    limit = dates.today()
    if window.end > limit:
        logger.warning(
            "%s: %s gives %s..%s, after today (%s); ignored as no acquisition date",
            what,
            window.source,
            window.start,
            window.end,
            limit,
        )
        return None
    return window


# GPS time: seconds since 1980-01-06T00:00:00 UTC without leap seconds. UTC = GPS - leap.
GPS_EPOCH = dt.datetime(1980, 1, 6, tzinfo=dt.UTC)
_LEAP_SECONDS = (  # (first UTC day the offset applies, GPS - UTC in seconds)
    (dt.date(1981, 7, 1), 1),
    (dt.date(1982, 7, 1), 2),
    (dt.date(1983, 7, 1), 3),
    (dt.date(1985, 7, 1), 4),
    (dt.date(1988, 1, 1), 5),
    (dt.date(1990, 1, 1), 6),
    (dt.date(1991, 1, 1), 7),
    (dt.date(1992, 7, 1), 8),
    (dt.date(1993, 7, 1), 9),
    (dt.date(1994, 7, 1), 10),
    (dt.date(1996, 1, 1), 11),
    (dt.date(1997, 7, 1), 12),
    (dt.date(1999, 1, 1), 13),
    (dt.date(2006, 1, 1), 14),
    (dt.date(2009, 1, 1), 15),
    (dt.date(2012, 7, 1), 16),
    (dt.date(2015, 7, 1), 17),
    (dt.date(2017, 1, 1), 18),
)
ADJUSTED_GPS_OFFSET = 1e9  # LAS "adjusted standard GPS time" = GPS seconds - 1e9
SECONDS_PER_WEEK = 7 * 86400


def gps_to_utc(seconds: float) -> dt.datetime:
    """UTC time of a GPS time in seconds since the GPS epoch (leap seconds applied)."""
    naive = GPS_EPOCH + dt.timedelta(seconds=float(seconds))
    leap = 0
    for day, offset in _LEAP_SECONDS:
        if (naive - dt.timedelta(seconds=offset)).date() >= day:
            leap = offset
    return naive - dt.timedelta(seconds=leap)


def gps_window(
    tmin: float, tmax: float, *, adjusted: bool, reference: dt.date | None
) -> Acquired | None:
    """The acquisition window of LAS GPS times.

    Args:
        tmin, tmax: smallest and largest GPS time of the points.
        adjusted: the LAS global-encoding bit 0: adjusted standard GPS time (absolute)
            rather than GPS week time (seconds of an unstated week).
        reference: for week time, the header's file creation date: the week is taken as
            the last one that ends the flight on or before that date.

    Returns:
        The window, or None when week time has no reference date to place it.
    """
    if adjusted:
        start = gps_to_utc(tmin + ADJUSTED_GPS_OFFSET).date()
        end = gps_to_utc(tmax + ADJUSTED_GPS_OFFSET).date()
        return Acquired(start, end, "LAS GPS time (adjusted standard GPS time)")
    if reference is None or not (0 <= tmin <= tmax < SECONDS_PER_WEEK):
        return None
    # GPS week holding the reference date (UTC midnight at its end), then step back while
    # the flight would end after the reference date.
    ref_end = dt.datetime.combine(reference + dt.timedelta(days=1), dt.time(), dt.UTC)
    week = int((ref_end - GPS_EPOCH).total_seconds() // SECONDS_PER_WEEK)
    while week > 0 and gps_to_utc(week * SECONDS_PER_WEEK + tmax) >= ref_end:
        week -= 1
    start = gps_to_utc(week * SECONDS_PER_WEEK + tmin).date()
    end = gps_to_utc(week * SECONDS_PER_WEEK + tmax).date()
    return Acquired(
        start,
        end,
        f"LAS GPS week time (GPS week {week}, the last before the header creation date {reference})",
    )


# --- sidecars -------------------------------------------------------------------------

SIDECAR_SUFFIXES = (".json", ".xml", ".txt")
_KEYED_DATE = re.compile(
    r"(acqui\w*|date|采集|获取|摄影)\w*[^0-9\n]{0,40}?(\d{4}-\d{2}-\d{2})"
    r"(?:\s*(?:/|to|至|--?)\s*(\d{4}-\d{2}-\d{2}))?",
    re.IGNORECASE,
)


def sidecars(path: Path) -> list[Path]:
    """Sidecar metadata files next to a delivery: ``<stem>.json|xml|txt`` or ``<name>.json|...``."""
    names = []
    for suffix in SIDECAR_SUFFIXES:
        names += [path.with_suffix(suffix), path.with_name(path.name + suffix)]
    found = []
    for candidate in names:
        if candidate != path and candidate.is_file() and candidate not in found:
            if candidate.name.endswith(".aux.xml"):
                continue  # GDAL's own metadata, not a delivery sidecar
            found.append(candidate)
    return found


def read_sidecar(path: Path) -> dict[str, Any]:
    """What a sidecar states: ``acquired`` (Acquired), ``owner``, ``title``, ``vertical_datum``,
    ``sensor``, ``producer``.

    Raises:
        SourceReadError: a sidecar is neither UTF-8 nor GBK text (see :mod:`geobase.tabular`).
    """
    out: dict[str, Any] = {}
    for sidecar in sidecars(path):
        # UTF-8 (with or without BOM) or GBK, strictly: a sidecar in another encoding is
        # refused by name, never read with replaced characters
        text, _ = tabular.decode(sidecar.read_bytes(), f"sidecar {sidecar}")
        if sidecar.suffix == ".json":
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise MissingAcquisitionDate(
                    f"sidecar {sidecar.name} is not valid JSON ({exc.msg} at line {exc.lineno})"
                ) from None
            if not isinstance(data, dict):
                continue
            window = None
            if "acquired" in data:
                window = str(data["acquired"])
            elif "acquired_start" in data:
                window = (
                    f"{data['acquired_start']}/{data.get('acquired_end', data['acquired_start'])}"
                )
            elif "datetime" in data:
                window = str(data["datetime"])
            if window is not None and "acquired" not in out:
                out["acquired"] = parse_window(window, source=f"sidecar {sidecar.name}")
            for key in ("owner", "title", "vertical_datum", "sensor", "producer"):
                if key in data and key not in out:
                    out[key] = str(data[key])
        else:
            m = _KEYED_DATE.search(text)
            if m and "acquired" not in out:
                window = m[2] if not m[3] else f"{m[2]}/{m[3]}"
                out["acquired"] = parse_window(window, source=f"sidecar {sidecar.name}")
    return out


def choose_acquired(
    given: str | Acquired | None, candidates: Iterable[Acquired | None], what: str
) -> Acquired | None:
    """``--acquired`` if given, else the first plausible date found in the data or sidecars
    (see :func:`plausible`).

    Returns None when nothing states when the data were acquired: the date is then
    recorded as unknown (never guessed from the file's modification time or the clock),
    and the catalogue, coverage and ``--as-of`` treat the dataset as of unknown age.
    """
    if given is not None:
        return given if isinstance(given, Acquired) else parse_window(given)
    for found in candidates:
        found = plausible(found, what)
        if found is not None:
            return found
    logger.info("%s: no acquisition date in the data or a sidecar; recorded as unknown", what)
    return None


# --- checksums ------------------------------------------------------------------------


def sha256_files(
    files: Iterable[Path], root: Path | None = None, progress: Callable[[int], None] | None = None
) -> tuple[str, int]:
    """sha256 and total size of one file, or of several (names relative to ``root`` hashed too)."""
    digest = hashlib.sha256()
    size = 0
    files = list(files)
    for file in files:
        if root is not None:
            digest.update(file.relative_to(root).as_posix().encode() + b"\0")
        with open(file, "rb") as f:
            while block := f.read(CHUNK):
                digest.update(block)
                size += len(block)
                if progress is not None:
                    progress(len(block))
    return digest.hexdigest(), size
