"""The PMTiles archive writer: readable by the pmtiles package, memory flat in the count."""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest
from pmtiles.reader import MmapSource, Reader, all_tiles
from pmtiles.tile import Compression, TileType, zxy_to_tileid

from geobase.errors import TileStoreError
from geobase.tiles import pmarchive

HEADER = {"tile_type": TileType.PNG, "tile_compression": Compression.NONE}


def _read(path):
    with open(path, "rb") as f:
        get = MmapSource(f)
        reader = Reader(get)
        return reader.header(), reader.metadata(), dict(all_tiles(get))


@pytest.mark.parametrize("count", [3, 9000, 40000])
def test_archive_reads_back_every_tile(tmp_path, count, monkeypatch):
    """Root only, and root plus leaves (a small root room forces a larger leaf size):
    every tile reads back, runs and repeated tiles included, in the package's reader."""
    if count == 40000:
        monkeypatch.setattr(pmarchive, "ROOT_ROOM", 40)
    rng = np.random.default_rng(count)
    ids = np.unique(rng.integers(0, 4 * count, size=count))
    blobs = [b"blank", b"fill"] + [rng.bytes(int(n)) for n in rng.integers(1, 40, size=64)]
    tiles = [(int(i), blobs[int(rng.integers(0, len(blobs)))]) for i in ids]
    tiles[5:40] = [(i, b"run") for i, _ in tiles[5:40]]  # a run where the ids are consecutive
    path = tmp_path / "a.pmtiles"
    n, size = pmarchive.write_archive(path, lambda: iter(tiles), HEADER, {"name": "x"})
    assert n == len(tiles) and size == sum(len(d) for _, d in tiles)
    header, meta, got = _read(path)
    assert meta == {"name": "x"} and header["clustered"]
    want = {}
    from pmtiles.tile import tileid_to_zxy

    for i, d in tiles:
        want[tileid_to_zxy(i)] = d
    assert got == want
    assert header["tile_contents_count"] <= len(blobs) + 1
    assert not list(tmp_path.glob("*.entries")) and not list(tmp_path.glob("*.leaves"))
    # the same tiles, the same bytes
    again = tmp_path / "b.pmtiles"
    pmarchive.write_archive(again, lambda: iter(tiles), HEADER, {"name": "x"})
    assert again.read_bytes() == path.read_bytes()


def test_refuses_tiles_out_of_order_and_none(tmp_path):
    tiles = [(zxy_to_tileid(3, 1, 1), b"a"), (zxy_to_tileid(3, 0, 0), b"b")]
    with pytest.raises(TileStoreError, match="ascending tile id order"):
        pmarchive.write_archive(tmp_path / "a.pmtiles", lambda: iter(tiles), HEADER, {})
    with pytest.raises(TileStoreError, match="no tiles"):
        pmarchive.write_archive(tmp_path / "b.pmtiles", lambda: iter([]), HEADER, {})
    assert not list(tmp_path.glob("*.entries"))


def test_varints_match_the_reference():
    from io import BytesIO

    from pmtiles.tile import write_varint

    values = np.array([0, 1, 127, 128, 300, 2**35 + 7, 2**63 + 5], np.uint64)
    ref = BytesIO()
    for v in values.tolist():
        write_varint(ref, v)
    assert pmarchive.varints(values) == ref.getvalue()


def _directory_peak(tmp_path, count: int) -> int:
    """Peak traced memory of spilling ``count`` entries and building their directories."""
    chunk = 1 << 18
    gc.collect()
    tracemalloc.start()
    try:
        spill = pmarchive.EntrySpill(tmp_path / f"{count}.entries")
        for start in range(0, count, chunk):
            n = min(chunk, count - start)
            ids = (np.arange(start, start + n, dtype=np.uint64)) * 2  # gaps: no runs
            entries = np.column_stack(
                [ids, ids * 3, np.full(n, 3, np.uint64), np.ones(n, np.uint64)]
            )
            spill.extend(entries)
            del entries, ids
        spill.close()
        root, leaves = pmarchive.build_directories(spill, tmp_path / f"{count}.leaves")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert leaves > 0 and len(root) <= pmarchive.ROOT_ROOM
    return peak


def test_directory_memory_is_flat_in_the_entry_count(tmp_path):
    """Entries spilled to a file and directories built a leaf at a time: the peak for
    4 M entries is that of 1 M (the pmtiles package's writer holds ~250 MB a million;
    bench/bench_tiles_disk.py takes this to 10 M)."""
    small = _directory_peak(tmp_path, 1_000_000)
    large = _directory_peak(tmp_path, 4_000_000)
    assert small < 40_000_000, small
    assert large < small * 1.25 + 2_000_000, (small, large)
