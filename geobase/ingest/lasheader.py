"""The LAS/LAZ/COPC public header checked against the file before any point is read.

A header states how many records follow and where; a truncated upload or a header that
lies (four billion VLRs in a file of 500 bytes, a point-data offset beyond the end) would
otherwise send a reader into a loop or an allocation far larger than the file. Every
count, offset and length is checked here against the file's size, with plain ``struct``
reads of at most a few hundred bytes each, so a bad file is refused within milliseconds
and in bounded memory. Layout: ASPRS LAS 1.0-1.4 (R15), LASzip chunk table.
"""

from __future__ import annotations

import datetime as dt
import math
import struct
from dataclasses import dataclass
from pathlib import Path

from geobase.errors import SourceReadError, UnsupportedInput

SIGNATURE = b"LASF"
HEADER_SIZES = {0: 227, 1: 227, 2: 227, 3: 235, 4: 375}  # minor version -> minimum size
# point data format -> minimum record length (extra bytes may follow)
RECORD_LENGTHS = {0: 20, 1: 28, 2: 26, 3: 34, 4: 57, 5: 63, 6: 30, 7: 36, 8: 38, 9: 59, 10: 67}
VLR_HEADER = 54
EVLR_HEADER = 60
INT32 = (-(2**31), 2**31 - 1)
MIN_SCALE, MAX_SCALE = 1e-9, 1e3  # coordinate step: 1 nm to 1 km (0.01 m or 0.001 m in use)
MAX_RECORDS = 10_000  # VLRs or EVLRs; real files carry a handful
# a LAZ file cannot plausibly hold more than this many bytes of point records per byte
# of its own (LASzip reaches 5-15x; constant fields perhaps 100x)
MAX_LAZ_RATIO = 1000


@dataclass(frozen=True)
class LasHeader:
    """The facts of a public header that passed :func:`check_header`."""

    version: tuple[int, int]
    point_format: int
    record_length: int
    point_count: int
    compressed: bool
    adjusted_gps: bool
    creation_date: dt.date | None  # None: zero, or no calendar day
    mins: tuple[float, float, float]
    maxs: tuple[float, float, float]


def _refuse(path: Path, what: str) -> SourceReadError:
    return SourceReadError(
        f"{path.name}: the LAS header {what}; the file is truncated, corrupt or not LAS"
    )


def creation_date(day_of_year: int, year: int) -> dt.date | None:
    """The header's creation date (day of year, year), None when zero or no calendar day."""
    if year == 0 or day_of_year == 0:
        return None
    try:
        return dt.date(year, 1, 1) + dt.timedelta(days=day_of_year - 1)
    except (ValueError, OverflowError):
        return None


def check_header(path: Path) -> LasHeader:
    """Read and check the public header, VLR and EVLR directories and (LAZ) the chunk
    table offset against the size of ``path``.

    Raises:
        SourceReadError: empty, not LAS, or a header whose counts, offsets or lengths do
            not fit the file.
        UnsupportedInput: a LAS version or point format geobase does not read.
    """
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(375)
            return _check(path, f, head, size)
    except struct.error as exc:  # a read past the end despite the checks: still refused
        raise _refuse(path, f"cannot be decoded ({exc})") from None


def _check(path: Path, f, head: bytes, size: int) -> LasHeader:
    if size == 0:
        raise SourceReadError(f"{path.name}: file is empty")
    if head[:4] != SIGNATURE:
        raise SourceReadError(
            f"{path.name}: not a LAS/LAZ file (starts with {head[:4]!r}, expected {SIGNATURE!r})"
        )
    if len(head) < 227:
        raise _refuse(path, f"is cut short ({len(head)} bytes; at least 227 expected)")
    major, minor = head[24], head[25]
    if major != 1 or minor not in HEADER_SIZES:
        raise UnsupportedInput(
            f"{path.name}: LAS version {major}.{minor} is not one geobase reads (1.0 to 1.4); "
            "a corrupt header?"
        )
    (global_encoding,) = struct.unpack_from("<H", head, 6)
    day, year, header_size, offset, n_vlrs = struct.unpack_from("<HHHII", head, 90)
    fmt_id, record_length, legacy_count = struct.unpack_from("<BHI", head, 104)
    scales = struct.unpack_from("<3d", head, 131)
    offsets = struct.unpack_from("<3d", head, 155)
    maxx, minx, maxy, miny, maxz, minz = struct.unpack_from("<6d", head, 179)
    need = HEADER_SIZES[minor]
    if len(head) < need:
        raise _refuse(path, f"of LAS 1.{minor} is cut short ({len(head)} of {need} bytes)")
    if not (need <= header_size <= size):
        raise _refuse(path, f"states a header size of {header_size} bytes (LAS 1.{minor}: {need})")
    if not (header_size <= offset <= size):
        raise _refuse(path, f"puts the points at byte {offset}, outside {header_size}..{size}")
    compressed = bool(fmt_id & 0x80)
    point_format = fmt_id & 0x3F
    if point_format not in RECORD_LENGTHS:
        raise UnsupportedInput(f"{path.name}: LAS point format {point_format} is not one of 0..10")
    if record_length < RECORD_LENGTHS[point_format]:
        raise _refuse(
            path,
            f"states {record_length}-byte point records; format {point_format} needs at "
            f"least {RECORD_LENGTHS[point_format]}",
        )
    count = legacy_count
    n_evlrs = evlr_start = 0
    if minor >= 4:
        evlr_start, n_evlrs, count64 = struct.unpack_from("<QIQ", head, 235)
        if legacy_count and count64 and legacy_count != count64:
            raise _refuse(path, f"states two point counts ({legacy_count} and {count64})")
        count = count64 or legacy_count
    _check_vlrs(path, f, header_size, offset, n_vlrs)
    point_bytes = count * record_length
    available = size - offset
    if compressed:
        if point_bytes > max(available, 1) * MAX_LAZ_RATIO:
            raise _refuse(
                path,
                f"states {count:,} points ({point_bytes:,} bytes of records) in "
                f"{available:,} compressed bytes",
            )
        _check_chunk_table(path, f, offset, size)
    elif point_bytes > available:
        raise _refuse(
            path,
            f"states {count:,} points of {record_length} bytes ({point_bytes:,} bytes) but "
            f"{available:,} bytes follow the header",
        )
    if n_evlrs:
        end_of_points = offset if compressed else offset + point_bytes
        _check_evlrs(path, f, evlr_start, n_evlrs, end_of_points, size)
    mins, maxs = (minx, miny, minz), (maxx, maxy, maxz)
    numbers = (*scales, *offsets, *mins, *maxs)
    if not all(math.isfinite(v) for v in numbers):
        raise _refuse(path, "holds a scale, offset or bound that is not a finite number")
    if not all(MIN_SCALE <= s <= MAX_SCALE for s in scales):
        raise _refuse(
            path, f"states scale factors {scales}; expected {MIN_SCALE:g} to {MAX_SCALE:g}"
        )
    if count and not all(lo <= hi for lo, hi in zip(mins, maxs, strict=True)):
        raise _refuse(path, f"states minimum {mins} above maximum {maxs}")
    for axis, lo, hi, scale, off in zip("XYZ", mins, maxs, scales, offsets, strict=True):
        # coordinates are stored as int32 (value - offset) / scale
        raw = ((lo - off) / scale, (hi - off) / scale)
        if count and not all(INT32[0] - 1 <= r <= INT32[1] + 1 for r in raw):
            raise _refuse(
                path,
                f"states {axis} bounds {lo:g}..{hi:g} that offset {off:g} and scale {scale:g} "
                "cannot store in 32-bit integers",
            )
    return LasHeader(
        version=(major, minor),
        point_format=point_format,
        record_length=record_length,
        point_count=count,
        compressed=compressed,
        adjusted_gps=bool(global_encoding & 1),
        creation_date=creation_date(day, year),
        mins=mins,
        maxs=maxs,
    )


def _check_vlrs(path: Path, f, header_size: int, offset: int, n_vlrs: int) -> None:
    if n_vlrs > MAX_RECORDS or n_vlrs * VLR_HEADER > offset - header_size:
        raise _refuse(
            path,
            f"states {n_vlrs:,} variable-length records, more than the "
            f"{offset - header_size} bytes before the points can hold",
        )
    at = header_size
    for k in range(n_vlrs):
        f.seek(at + 20)
        (length,) = struct.unpack("<H", f.read(2))
        at += VLR_HEADER + length
        if at > offset:
            raise _refuse(
                path,
                f"states a variable-length record {k + 1} of {length} bytes that runs past "
                f"the start of the points (byte {offset})",
            )


def _check_evlrs(path: Path, f, start: int, count: int, end_of_points: int, size: int) -> None:
    if count > MAX_RECORDS or not (end_of_points <= start <= size - count * EVLR_HEADER):
        raise _refuse(
            path, f"states {count:,} extended VLRs at byte {start:,} of a {size:,}-byte file"
        )
    at = start
    for k in range(count):
        f.seek(at + 20)
        (length,) = struct.unpack("<Q", f.read(8))
        at += EVLR_HEADER + length
        if at > size:
            raise _refuse(
                path, f"states an extended VLR {k + 1} of {length:,} bytes past the end of the file"
            )


def _check_chunk_table(path: Path, f, offset: int, size: int) -> None:
    """LASzip: the point data start with the offset of the chunk table (-1: not written)."""
    if size - offset < 8:
        raise _refuse(path, "leaves no room for the compressed points")
    f.seek(offset)
    (table,) = struct.unpack("<q", f.read(8))
    if table == -1:
        return
    if not (offset + 8 <= table <= size - 8):
        raise _refuse(path, f"puts the LAZ chunk table at byte {table:,}, outside the file")
    f.seek(table)
    _, chunks = struct.unpack("<II", f.read(8))
    if chunks > size - offset:
        raise _refuse(path, f"states {chunks:,} LAZ chunks in {size - offset:,} bytes")
