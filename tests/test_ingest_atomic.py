"""All or nothing: failures and killed processes leave no record and no partial file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from geobase.errors import SourceReadError
from geobase.ingest import cleanup, ingest
from geobase.store import Workspace
from tests.ingest_factories import write_tif

CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from geobase.store import Workspace
    from geobase.ingest import ingest, pipeline

    root, marker, mode, source = sys.argv[1:5]
    marker = Path(marker)
    ws = Workspace.open(root)

    def hold(stage):
        marker.write_text(stage)
        time.sleep(120)

    progress = None
    if mode == "staged":  # files written and fsynced in staging, nothing recorded yet
        progress = lambda done, total: done < total and hold("staged")
    else:  # moved into data/<product>/..., the transaction not committed yet
        real = pipeline.os.replace
        def replace(a, b):
            real(a, b)
            hold("renamed")
        pipeline.os.replace = replace
    ingest(ws, [source], acquired="2020-01-01", progress=progress)
    """
)


def files_under(ws: Workspace) -> list[str]:
    data = ws.path("data")
    if not data.exists():
        return []
    return sorted(p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file())


def n_records(ws: Workspace) -> int:
    with ws.store.read() as tx:
        return tx.scalar("SELECT count(*) FROM datasets")


@pytest.mark.parametrize("mode", ["staged", "renamed"])
def test_killed_ingest_leaves_nothing(tmp_path, workspace, mode):
    source = write_tif(tmp_path / "victim.tif", width=600, height=600)
    marker = tmp_path / "marker"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(workspace.root), str(marker), mode, str(source)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            if proc.poll() is not None:
                pytest.fail(f"child ended early: {proc.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("child never reached the point to be killed at")
            time.sleep(0.05)
        assert marker.read_text() == mode
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    # the kill left something behind (the test would prove nothing otherwise) ...
    left = files_under(workspace)
    assert any(name.endswith("victim.tif") for name in left), left
    # ... but no record, and the next open + cleanup removes the leftovers
    with Workspace.open(workspace.root) as ws:
        assert n_records(ws) == 0
        removed = cleanup(ws)
        assert removed
        assert [f for f in files_under(ws) if not f.endswith(".lock")] == []
        # and the next ingest of the same file works as if nothing had happened
        [r] = ingest(ws, [source], acquired="2020-01-01")
        assert (r.status, r.version) == ("ingested", 1)


def test_failure_in_a_batch_records_nothing(tmp_path, workspace):
    good = write_tif(tmp_path / "good.tif", tags={"ACQUISITIONDATETIME": "2020:01:01 00:00:00"})
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"II*\x00" + b"\x00" * 64)  # a TIFF header and nothing else
    with pytest.raises(SourceReadError):
        ingest(workspace, [good, broken])
    assert n_records(workspace) == 0
    assert [f for f in files_under(workspace)] == []


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(done.stdout)


def test_staging_of_a_live_ingest_is_not_cleaned(tmp_path, workspace):
    import fcntl

    folder = workspace.path("data", ".staging", f"{_dead_pid()}-live")
    folder.mkdir(parents=True)
    (folder / "part.tif").write_bytes(b"x")
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # flock is per open file description: a second open in this process competes too
        cleanup(workspace)
        assert (folder / "part.tif").exists()
    cleanup(workspace)
    assert not folder.exists()


def test_staging_not_yet_locked_by_a_running_ingest_is_not_cleaned(workspace):
    """Between making its folder and locking it, an ingest's staging looks abandoned; a
    concurrent cleanup must leave it (its creator still runs)."""
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as child:
        try:
            folder = workspace.path("data", ".staging", f"{child.pid}-starting")
            folder.mkdir(parents=True)
            cleanup(workspace)
            assert folder.exists()
        finally:
            child.kill()
    cleanup(workspace)
    assert not folder.exists()
