"""Publishing never leaks: ``tiles build RESTRICTED -o <public pyramid> --overwrite`` killed
at every moment, or held up by a busy store, never lets an anonymous caller receive a
restricted tile, and the next build removes what the killed one left."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from geobase.tiles.build import build_file, build_tiles, last_pyramid
from geobase.tiles.stores import open_pyramid
from tests.server_support import BOUNDS, add_dataset

ZOOM = (11, 12)
OUTS = {"directory": "public_pyramid", "mbtiles": "public_pyramid.mbtiles",
        "pmtiles": "public_pyramid.pmtiles", "geopackage": "public_pyramid.gpkg"}  # fmt: skip


def raster(path: Path, seed: int) -> Path:
    """A 256 x 256 RGB GeoTIFF over :data:`BOUNDS` (EPSG:4490), a pattern per seed."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:256, 0:256]
    base = np.stack([xx, yy, (xx + yy) // 2]).astype("int64")
    data = ((base + rng.integers(0, 256, size=(3, 1, 1))) % 256).astype("uint8")
    transform = Affine(
        (BOUNDS[2] - BOUNDS[0]) / 256, 0, BOUNDS[0], 0, -(BOUNDS[3] - BOUNDS[1]) / 256, BOUNDS[3]
    )
    with rasterio.open(path, "w", driver="GTiff", width=256, height=256, count=3,
                       dtype="uint8", crs="EPSG:4490", transform=transform) as dst:  # fmt: skip
        dst.write(data)
    return path


def tiles_of(path: Path) -> dict:
    with open_pyramid(path) as reader:
        return {t: reader.get_tile(*t) for t in reader.tiles()}


@pytest.fixture
def published(workspace, tmp_path):
    """A public pyramid of dataset ``pub`` and the tiles of restricted dataset ``sec``."""
    (workspace.root / "data").mkdir()
    raster(workspace.root / "data" / "pub.tif", 1)
    raster(workspace.root / "data" / "sec.tif", 2)
    add_dataset(workspace, "pub", "dom02", "public", BOUNDS, "2023-01-01")
    add_dataset(workspace, "sec", "dom02", "restricted", BOUNDS, "2024-01-01")
    # the restricted build's tiles, for comparison (built outside the workspace)
    secret = tiles_of(build_file_quiet(workspace.root / "data" / "sec.tif", tmp_path / "sec"))
    return {"secret": secret}


def build_file_quiet(src, out):
    build_file(src, out, zoom=ZOOM, fmt="png", workers=1)
    return out


def publish_public(ws, kind) -> tuple[Path, dict]:
    out = ws.root / "tiles" / OUTS[kind]
    build_tiles(ws, "pub", out, zoom=ZOOM, fmt="png", workers=1)
    assert last_pyramid(ws, out)["classification"] == "public"
    return out, tiles_of(out)


class Anonymous:
    """Anonymous callers of the service: one app started before the build (its registry
    and tile cache full of the old build's), and a fresh one for each look."""

    def __init__(self, ws_root: Path, coords):
        from geobase.server import ServerSettings, create_app

        self.coords = sorted(coords)
        self.settings = ServerSettings.for_workspace(ws_root)
        self.create = create_app
        self.app = create_app(self.settings)

    def close(self):
        self.app.state.service.close()

    def get(self, app, headers=None) -> dict:
        """{(z, x, y): body or None (404)} over the ASGI interface, fast path included."""
        import asyncio

        import httpx

        async def fetch():
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                got = {}
                for z, x, y in self.coords:
                    r = await client.get(f"/tiles/public_pyramid/{z}/{x}/{y}.png", headers=headers)
                    assert r.status_code in (200, 404), r.text
                    got[(z, x, y)] = r.content if r.status_code == 200 else None
                return got

        return asyncio.run(fetch())

    def look(self, fresh: bool = True) -> list[dict]:
        """What anonymous callers get now: the long-lived app before and after it re-reads
        the registry, and a fresh app (which cannot open while another writer holds the
        store: opening a workspace checks its migrations in a write transaction)."""
        seen = [self.get(self.app)]
        self.app.state.service.layers._loaded_at = float("-inf")  # refresh now
        seen.append(self.get(self.app))
        if not fresh:
            return seen
        fresh = self.create(self.settings)
        try:
            seen.append(self.get(fresh))
        finally:
            fresh.state.service.close()
        return seen


def assert_no_secret(seen: list[dict], secret: dict, public: dict) -> None:
    for got in seen:
        for coord, body in got.items():
            if body is None:
                continue
            assert body != secret.get(coord), f"restricted tile {coord} served anonymously"
            assert body == public[coord], f"tile {coord} is neither build's"


def leftovers(ws_root: Path) -> list[str]:
    found = []
    for folder in (ws_root / "tiles", ws_root / "tiles" / ".cache"):
        if folder.is_dir():
            found += [
                p.name for p in folder.iterdir() if ".partial-" in p.name or ".old-" in p.name
            ]
    return found


# the child: `geobase tiles build sec -o OUT --overwrite`, with a hook at one moment
CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    from pathlib import Path
    moment, ws, out, flag = sys.argv[1:5]

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    if moment == "render":  # every tile rendered and staged, nothing recorded
        from geobase.tiles import pyramid
        finish = pyramid._UpperZooms.finish
        pyramid._UpperZooms.finish = lambda self: (finish(self), die())
    elif moment == "publishing":  # the publishing record committed, no file moved
        from geobase.tiles import stores
        stores.TileWriter.swap = die
    elif moment == "swapped":  # the new files in place, the overview cache not committed
        from geobase.tiles import cache
        cache.RawCache.commit = die
    elif moment == "recording":  # files and cache in place, the final record not committed
        from geobase.tiles import build
        insert = build._insert
        build._insert = lambda *a, guard, **k: insert(*a, guard=guard, **k) if guard else die()
    elif moment == "busy":  # stop before the first record: the test then holds the store
        from geobase.tiles import build
        insert = build._insert

        def wait_then_insert(*a, guard, **k):
            if guard:
                Path(flag + ".ready").touch()
                while not Path(flag + ".go").exists():
                    time.sleep(0.02)
            return insert(*a, guard=guard, **k)

        build._insert = wait_then_insert
    from geobase.cli import cli
    cli(["tiles", "build", "sec", "-o", out, "--overwrite", "--zoom", "11-12", "--format",
         "png", "--workers", "1", "--workspace", ws])
    """
)


@contextlib.contextmanager
def child(moment, ws_root, out, flag):
    """The child process (killed on the way out if it still runs)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, moment, str(ws_root), str(out), str(flag)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def rebuild_and_check(ws, out, anon, secret, public):
    """The next run removes every leftover and publishes the restricted build; anonymous
    callers then get nothing, a restricted token gets the restricted tiles."""
    from geobase.catalog.access import create_token

    build_tiles(ws, "sec", out, zoom=ZOOM, fmt="png", workers=1, overwrite=True)
    assert leftovers(ws.root) == []
    rec = last_pyramid(ws, out)
    assert rec["classification"] == "restricted" and rec["state"] == "published"
    assert tiles_of(out) == secret
    seen = anon.look()
    assert all(body is None for got in seen[1:] for body in got.values())
    assert_no_secret(seen, secret, public)
    _, token = create_token(ws.store, "office", "restricted")
    assert anon.get(anon.app, {"Authorization": f"Bearer {token}"}) == secret


@pytest.mark.parametrize("kind", list(OUTS))
@pytest.mark.parametrize("moment", ["render", "publishing", "swapped", "recording"])
def test_killed_restricted_build_over_public_never_leaks(workspace, published, tmp_path, kind,
                                                         moment):  # fmt: skip
    secret = published["secret"]
    out, public = publish_public(workspace, kind)
    assert set(public) == set(secret) and all(public[t] != secret[t] for t in public)
    anon = Anonymous(workspace.root, public)
    try:
        assert anon.look()[0] == public  # served, and the long-lived app's cache is full
        with child(moment, workspace.root, out, tmp_path / "flag") as proc:
            _, err = proc.communicate(timeout=120)
        assert proc.returncode == -signal.SIGKILL, err.decode()
        assert_no_secret(anon.look(), secret, public)
        if moment == "render":
            assert tiles_of(out) == public and leftovers(workspace.root)
        if moment in ("publishing", "swapped", "recording"):
            # the record that holds until a build publishes: the stricter classification
            with workspace.store.read() as tx:
                newest = tx.query_one(
                    "SELECT classification, state FROM pyramids ORDER BY fid DESC LIMIT 1"
                )
            assert newest == {"classification": "restricted", "state": "publishing"}
        if moment in ("swapped", "recording"):
            assert tiles_of(out) == secret  # the new files are in place: served to no one
        rebuild_and_check(workspace, out, anon, secret, public)
    finally:
        anon.close()


@pytest.mark.parametrize("kind", ["directory", "pmtiles"])
def test_build_waiting_on_a_busy_store_never_leaks(workspace, published, tmp_path, kind):
    """Another writer holds the store when the build is ready to publish: nothing moves
    until the store is free; killed while waiting, the old pyramid stays as it was."""
    secret = published["secret"]
    out, public = publish_public(workspace, kind)
    anon = Anonymous(workspace.root, public)
    children = contextlib.ExitStack()
    try:
        for attempt in ("killed", "completes"):
            flag = tmp_path / attempt
            proc = children.enter_context(child("busy", workspace.root, out, flag))
            deadline = time.monotonic() + 120
            while not Path(f"{flag}.ready").exists():
                assert proc.poll() is None, proc.communicate()[1].decode()
                assert time.monotonic() < deadline
                time.sleep(0.02)
            holder = sqlite3.connect(workspace.root / "workspace.gpkg", isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")  # another writer's transaction
            try:
                Path(f"{flag}.go").touch()
                time.sleep(1.0)  # the build now waits on the store
                assert proc.poll() is None
                assert tiles_of(out) == public  # nothing moved
                seen = anon.look(fresh=False)
                assert_no_secret(seen, secret, public)
                assert seen[-1] == public  # the public pyramid is still served
                if attempt == "killed":
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(30)
                    assert leftovers(workspace.root)  # the staged build
            finally:
                holder.execute("ROLLBACK")
                holder.close()
            if attempt == "killed":
                assert tiles_of(out) == public
                assert last_pyramid(workspace, out)["classification"] == "public"
                assert_no_secret(anon.look(), secret, public)
            else:
                _, err = proc.communicate(timeout=120)
                assert proc.returncode == 0, err.decode()
                assert not leftovers(workspace.root)  # the killed one's, removed by this run
                assert tiles_of(out) == secret
                assert all(body is None for got in anon.look()[1:] for body in got.values())
    finally:
        children.close()
        anon.close()


@pytest.mark.parametrize("kind", list(OUTS))
def test_server_never_mixes_two_builds(workspace, published, tmp_path, kind):
    """A public pyramid rebuilt from other pixels while the service runs: every answer
    comes from one build; tiles cached from the old build are never served beside the
    new build's, and after the registry's refresh only the new build is served."""
    raster(workspace.root / "data" / "pub2.tif", 3)
    add_dataset(workspace, "pub2", "dom05", "public", BOUNDS, "2024-02-01")
    out, old = publish_public(workspace, kind)
    anon = Anonymous(workspace.root, old)
    try:
        half = anon.coords[::2]
        anon.coords, all_coords = half, anon.coords
        assert anon.get(anon.app) == {c: old[c] for c in half}  # half of them cached
        anon.coords = all_coords
        build_tiles(workspace, "pub2", out, zoom=ZOOM, fmt="png", workers=1, overwrite=True)
        new = tiles_of(out)
        assert all(new[c] != old[c] for c in new)
        stale, refreshed, fresh = anon.look()
        builds = {
            "old" if body == old[c] else "new" if body == new[c] else "neither"
            for c, body in stale.items()
            if body is not None
        }
        assert builds <= {"old"} or builds == {"new"}, builds
        assert refreshed == new and fresh == new
    finally:
        anon.close()


def test_a_reader_reads_one_build(workspace, published, tmp_path):
    """A reader opened before a rebuild never returns the new build's tiles."""
    for kind in OUTS:
        out, old = publish_public(workspace, kind)
        with open_pyramid(out) as reader:
            build_tiles(workspace, "sec", out, zoom=ZOOM, fmt="png", workers=1, overwrite=True)
            for coord, body in old.items():
                assert reader.get_tile(*coord) in (body, None)
            if kind != "directory":  # the old file stays readable through its handle
                assert {c: reader.get_tile(*c) for c in old} == old


def test_directory_swap_without_an_atomic_exchange(workspace, published, monkeypatch):
    """Where the system has no atomic exchange, a folder is swapped by two renames and
    nothing is left behind."""
    monkeypatch.setattr("geobase.paths.exchange", lambda a, b: False)
    out, _ = publish_public(workspace, "directory")
    build_tiles(workspace, "sec", out, zoom=ZOOM, fmt="png", workers=1, overwrite=True)
    assert tiles_of(out) == published["secret"] and leftovers(workspace.root) == []


def test_leftovers_of_running_processes_are_kept(tmp_path):
    from geobase.store.leftovers import abandoned
    from geobase.tiles.stores import remove_leftovers

    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as live:
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        try:
            names = [
                f"a.pmtiles.partial-{dead.pid}",
                f"a.pmtiles.partial-{dead.pid}.sqlite",
                f"b.mbtiles.partial-{dead.pid}-journal",
                f"c.old-{dead.pid}",
                f"d.partial-{live.pid}",
                f"e.partial-{os.getpid()}",
                "f.pmtiles",
                "g.partial-x",
            ]
            for name in names:
                (tmp_path / name).write_bytes(b"x")
            (tmp_path / f"dir.partial-{dead.pid}" / "12" / "3").mkdir(parents=True)
            assert abandoned(dead.pid) and not abandoned(live.pid)
            assert not abandoned(os.getpid())
            # an output folder that is not geobase's: only the named output's leftovers
            assert [p.name for p in remove_leftovers(tmp_path, "c")] == [f"c.old-{dead.pid}"]
            removed = sorted(p.name for p in remove_leftovers(tmp_path))
            assert removed == sorted([*names[:3], f"dir.partial-{dead.pid}"])
            assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[4:])
        finally:
            live.kill()


def test_records_of_a_build_on_both_stores(workspace_any, tmp_path):
    """The publishing record (stricter classification) commits before the files move,
    the published one after; both stores, and the service's view of them."""
    from geobase.server import pyramids
    from geobase.tiles import stores

    ws = workspace_any
    (ws.root / "data").mkdir()
    raster(ws.root / "data" / "pub.tif", 1)
    raster(ws.root / "data" / "sec.tif", 2)
    add_dataset(ws, "pub", "dom02", "public", BOUNDS, "2023-01-01")
    add_dataset(ws, "sec", "dom02", "restricted", BOUNDS, "2024-01-01")
    out, public = publish_public(ws, "pmtiles")
    seen = []
    swap = stores.TileWriter.swap

    def watched(writer):
        [rec] = pyramids.records(ws)
        seen.append((rec["classification"], rec["publishing"], tiles_of(out) == public))
        swap(writer)

    stores.TileWriter.swap = watched
    try:
        build_tiles(ws, "sec", out, zoom=ZOOM, fmt="png", workers=1, overwrite=True)
    finally:
        stores.TileWriter.swap = swap
    assert seen == [("restricted", True, True)]
    with ws.store.read() as tx:
        rows = tx.query("SELECT classification, state, build_id FROM pyramids ORDER BY fid")
    assert [(r["classification"], r["state"]) for r in rows] == [
        ("public", "publishing"),
        ("public", "published"),
        ("restricted", "publishing"),
        ("restricted", "published"),
    ]
    ids = [r["build_id"] for r in rows]
    assert ids[0] == ids[1] != ids[2] == ids[3]
    with open_pyramid(out) as reader:
        assert reader.build_id == ids[3]
    [rec] = pyramids.records(ws)
    assert rec["build_id"] == ids[3] and not rec["publishing"]
