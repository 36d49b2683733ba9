"""A PMTiles v3 archive written with memory independent of its number of tiles.

The ``pmtiles`` package's writer keeps every directory entry (and a hash of every
distinct tile) in memory: about 250 MB a million tiles, ~4 GB for a city. Here the
entries go to a file beside the archive as they are made (32 bytes each, through a small
buffer), and the directories are built from it in pieces: leaf directories of 4096
entries or more, written one at a time, and a root directory of one entry per leaf
(within the 16 KB the specification allows, so it stays small whatever the count).

Tiles come in ascending tile id order (clustered), from a source that can be read twice:
the first pass places every tile (a run of identical consecutive tiles is one entry; a
tile equal to one of the last :data:`DEDUP_WINDOW` distinct tiles points at its bytes),
the second writes the tile data after the directories. Nothing is held per tile. The
bytes depend only on the tiles, so two builds of the same tiles give the same archive.

Example:
    >>> write_archive(path, lambda: iter([(0, b"tile")]), header, metadata)  # doctest: +SKIP
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from pmtiles.tile import Compression, serialize_header, tileid_to_zxy

from geobase.errors import TileStoreError

#: distinct tiles remembered for deduplication (a blank or fill tile repeats far apart)
DEDUP_WINDOW = 4096
#: entries buffered in memory before they go to the entries file
BUFFER_ENTRIES = 1 << 16
#: the root directory's room: 16 KB less the header (the specification's limit)
ROOT_ROOM = 16384 - 127
#: entries of the first leaf size tried (doubled until the root fits)
LEAF_SIZE = 4096

_U64 = np.dtype("<u8")


class _Placer:
    """Where each tile's bytes go: the same decisions on both passes (deterministic)."""

    def __init__(self) -> None:
        self.recent: OrderedDict[bytes, int] = OrderedDict()
        self.offset = 0
        self.contents = 0

    def place(self, data: bytes) -> tuple[int, bool]:
        """(offset of the tile's bytes, whether they are new and must be written)."""
        key = hashlib.blake2b(data, digest_size=16).digest()
        found = self.recent.get(key)
        if found is not None:
            self.recent.move_to_end(key)
            return found, False
        offset = self.offset
        self.recent[key] = offset
        if len(self.recent) > DEDUP_WINDOW:
            self.recent.popitem(last=False)
        self.offset += len(data)
        self.contents += 1
        return offset, True


class EntrySpill:
    """Directory entries (tile id, offset, length, run length), ascending by tile id,
    kept in a file; memory holds one buffer of :data:`BUFFER_ENTRIES`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed by close()
        self.buffer = np.empty((BUFFER_ENTRIES, 4), _U64)
        self.used = 0
        self.count = 0
        self.last_id = -1

    def append(self, tile_id: int, offset: int, length: int, run: int) -> None:
        self.buffer[self.used] = (tile_id, offset, length, run)
        self.used += 1
        self.count += 1
        if self.used == BUFFER_ENTRIES:
            self.flush()

    def extend(self, entries: np.ndarray) -> None:
        """Many entries at once: an (n, 4) array, ascending by tile id."""
        self.flush()
        entries = np.ascontiguousarray(entries, dtype=_U64)
        if len(entries):
            self.file.write(entries.tobytes())
            self.count += len(entries)

    def flush(self) -> None:
        if self.used:
            self.file.write(self.buffer[: self.used].tobytes())
            self.used = 0

    def close(self) -> None:
        self.flush()
        self.file.close()

    def chunks(self, size: int) -> Iterator[np.ndarray]:
        """The entries, ``size`` at a time (after :meth:`close`)."""
        with open(self.path, "rb") as f:
            while True:
                chunk = np.fromfile(f, dtype=_U64, count=4 * size)
                if not chunk.size:
                    return
                yield chunk.reshape(-1, 4)


class EntryRuns:
    """Turns placed tiles into entries: consecutive tile ids with the same bytes are one
    entry with a run length."""

    def __init__(self, spill: EntrySpill) -> None:
        self.spill = spill
        self.last: list[int] | None = None  # tile id, offset, length, run
        self.addressed = 0

    def add(self, tile_id: int, offset: int, length: int) -> None:
        last = self.last
        self.addressed += 1
        if last is not None:
            if tile_id <= last[0] + last[3] - 1:
                raise TileStoreError(
                    f"PMTiles tiles must come in ascending tile id order: {tile_id} after "
                    f"{last[0] + last[3] - 1}"
                )
            if tile_id == last[0] + last[3] and offset == last[1] and length == last[2]:
                last[3] += 1
                return
            self.spill.append(*last)
        self.last = [tile_id, offset, length, 1]

    def close(self) -> None:
        if self.last is not None:
            self.spill.append(*self.last)
            self.last = None
        self.spill.close()


def varints(values: np.ndarray) -> bytes:
    """Unsigned LEB128 varints of ``values`` (uint64), one after another."""
    v = np.asarray(values, dtype=_U64)
    if not v.size:
        return b""
    nbytes = np.ones(v.shape, np.int64)
    for k in range(1, 10):
        nbytes += v >= np.uint64(1) << np.uint64(7 * k)
    ends = np.cumsum(nbytes)
    starts = ends - nbytes
    out = np.empty(int(ends[-1]), np.uint8)
    for j in range(int(nbytes.max())):
        sel = nbytes > j
        byte = ((v[sel] >> np.uint64(7 * j)) & np.uint64(0x7F)).astype(np.uint8)
        byte |= np.where(nbytes[sel] > j + 1, 0x80, 0).astype(np.uint8)
        out[starts[sel] + j] = byte
    return out.tobytes()


def serialize_entries(entries: np.ndarray) -> bytes:
    """One PMTiles v3 directory (gzip) of (n, 4) entries: tile id, offset, length, run."""
    ids, offsets, lengths, runs = (entries[:, i] for i in range(4))
    deltas = np.diff(ids, prepend=np.uint64(0))
    follows = np.zeros(len(entries), bool)
    follows[1:] = offsets[1:] == offsets[:-1] + lengths[:-1]
    column = np.where(follows, np.uint64(0), offsets + np.uint64(1))
    body = b"".join(
        [varints(np.array([len(entries)])), varints(deltas), varints(runs), varints(lengths),
         varints(column)]
    )  # fmt: skip
    return gzip.compress(body, mtime=0)


def build_directories(spill: EntrySpill, leaves: Path) -> tuple[bytes, int]:
    """(root directory, number of leaves): the root alone where the entries fit in it,
    else leaf directories written to ``leaves`` and a root of one entry per leaf."""
    if spill.count <= LEAF_SIZE:
        entries = next(spill.chunks(LEAF_SIZE), np.empty((0, 4), _U64))
        root = serialize_entries(entries)
        if len(root) <= ROOT_ROOM:
            leaves.write_bytes(b"")
            return root, 0
    leaf_size = LEAF_SIZE
    while True:
        firsts, offsets, lengths = [], [], []
        position = 0
        with open(leaves, "wb") as f:
            for chunk in spill.chunks(leaf_size):
                data = serialize_entries(chunk)
                f.write(data)
                firsts.append(int(chunk[0, 0]))
                offsets.append(position)
                lengths.append(len(data))
                position += len(data)
        n = len(firsts)
        root = serialize_entries(
            np.column_stack(
                [np.array(firsts, _U64), np.array(offsets, _U64), np.array(lengths, _U64),
                 np.zeros(n, _U64)]
            )
        )  # fmt: skip
        if len(root) <= ROOT_ROOM:
            return root, n
        leaf_size *= 2


Tiles = Callable[[], Iterable[tuple[int, bytes]]]


def write_archive(path: Path, tiles: Tiles, header: dict, metadata: dict) -> tuple[int, int]:
    """Write a clustered PMTiles v3 archive of ``tiles()`` (called twice: the same
    (tile id, bytes) pairs, ascending by tile id, each time) to ``path``; returns (tiles,
    their bytes). ``header``: the fields of the tiles' type, compression and extent."""
    path = Path(path)
    spill_path = path.with_name(path.name + ".entries")
    leaves_path = path.with_name(path.name + ".leaves")
    spill = EntrySpill(spill_path)
    try:
        runs = EntryRuns(spill)
        placer = _Placer()
        size = 0
        first = last = None
        for tile_id, data in tiles():
            offset, _ = placer.place(data)
            runs.add(tile_id, offset, len(data))
            size += len(data)
            first = tile_id if first is None else first
            last = tile_id
        runs.close()
        if first is None or last is None:
            raise TileStoreError(f"{path}: no tiles to write (the source is blank)")
        root, _ = build_directories(spill, leaves_path)
        meta = gzip.compress(json.dumps(metadata).encode(), mtime=0)
        leaves_length = leaves_path.stat().st_size
        h: Any = dict(header)  # pmtiles' HeaderDict
        h.update(
            addressed_tiles_count=runs.addressed,
            tile_entries_count=spill.count,
            tile_contents_count=placer.contents,
            min_zoom=tileid_to_zxy(first)[0],
            max_zoom=tileid_to_zxy(last)[0],
            clustered=True,
            internal_compression=Compression.GZIP,
            root_offset=127,
            root_length=len(root),
            metadata_offset=127 + len(root),
            metadata_length=len(meta),
            leaf_directory_offset=127 + len(root) + len(meta),
            leaf_directory_length=leaves_length,
            tile_data_offset=127 + len(root) + len(meta) + leaves_length,
            tile_data_length=placer.offset,
        )
        with open(path, "wb") as f:
            f.write(serialize_header(h))
            f.write(root)
            f.write(meta)
            with open(leaves_path, "rb") as leaves:
                shutil.copyfileobj(leaves, f, 1 << 20)
            again = _Placer()
            for _, data in tiles():
                _, new = again.place(data)
                if new:
                    f.write(data)
            if again.offset != placer.offset:
                raise TileStoreError(f"{path}: the tiles changed between the two passes")
        return runs.addressed, size
    finally:
        spill.file.close()
        for temp in (spill_path, leaves_path):
            if temp.exists():
                os.unlink(temp)
