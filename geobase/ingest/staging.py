"""Staging and cleanup of an ingest: the staging folder, archiving, what killed runs left.

Every file of one ingest is prepared in ``data/.staging/<pid>-<random>/`` (locked with
``flock`` while this process lives) and fsynced before it is recorded; deliveries are
archived byte for byte (:func:`_archive`) and derived files described beside them.
:func:`cleanup` removes staging folders nobody holds and version folders no record
names (see :mod:`geobase.ingest.pipeline`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import shutil
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from geobase.errors import OutsideWorkspace, SourceReadError
from geobase.ingest.metadata import (
    sha256_files,
)
from geobase.paths import inside
from geobase.store import Workspace
from geobase.store.leftovers import abandoned

logger = logging.getLogger(__name__)

DATA_DIR = "data"
STAGING = ".staging"
_VERSION_DIR = re.compile(r"^v\d+$")
ARCHIVE_CHUNK = 1 << 22


# --- staging and cleanup ----------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    for folder, _dirs, files in os.walk(path):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(folder))


@contextlib.contextmanager
def _staging(ws: Workspace) -> Iterator[Path]:
    """A locked staging folder, removed when the block ends (whatever happens)."""
    base = ws.data_path(DATA_DIR, STAGING)
    base.mkdir(parents=True, exist_ok=True)
    inside(base, ws.data_path(DATA_DIR), "staging folder")
    folder = base / f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    folder.mkdir()
    lock = open(folder / ".lock", "w")  # noqa: SIM115 - held for the whole block
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        lock.close()


def _creator_alive(folder: Path) -> bool:
    """Whether the process named in a staging folder's name (``<pid>-<id>``) runs: a
    folder exists for a moment before its lock is taken, and must not be taken for a
    killed ingest's in that moment. This process's own folders are decided by their lock."""
    pid = folder.name.split("-", 1)[0]
    if not pid.isdigit() or int(pid) == os.getpid():
        return False
    return not abandoned(int(pid))


def cleanup(ws: Workspace) -> list[Path]:
    """Remove what killed ingests left behind; returns the removed paths.

    A staging folder whose lock no living process holds is removed. A version folder
    under ``data/<product>/<dataset_id>/`` that no catalogue record names is removed too;
    this is decided inside a write transaction, when no other ingest can be between its
    rename and its commit.
    """
    removed: list[Path] = []
    base = ws.data_path(DATA_DIR, STAGING)
    try:  # never clean a folder elsewhere that a link names
        inside(base, ws.data_path(DATA_DIR), "staging folder")
        staging_ours = True
    except OutsideWorkspace as exc:
        logger.warning("staging leftovers not removed: %s", exc)
        staging_ours = False
    if staging_ours and base.is_dir():
        for folder in base.iterdir():
            if _creator_alive(folder):
                continue  # made by a running ingest, perhaps not locked yet
            lock_path = folder / ".lock"
            try:
                with open(lock_path, "a") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    shutil.rmtree(folder, ignore_errors=True)
            except BlockingIOError:
                continue  # a live ingest holds it
            except (FileNotFoundError, NotADirectoryError):
                if folder.exists():
                    shutil.rmtree(
                        folder, ignore_errors=True
                    ) if folder.is_dir() else folder.unlink()
            removed.append(folder)
    data = ws.data_path(DATA_DIR)
    if not data.is_dir():
        return removed
    with ws.store.transaction() as tx:
        known = {row["path"] for row in tx.query("SELECT path FROM datasets")}
        known_dirs = {str(Path(p).parent) for p in known} | known
        for product_dir in data.iterdir():
            if product_dir.name.startswith(".") or not product_dir.is_dir():
                continue
            for dataset_dir in product_dir.iterdir():
                if not dataset_dir.is_dir():
                    continue
                for version_dir in dataset_dir.iterdir():
                    if not _VERSION_DIR.match(version_dir.name):
                        continue
                    rel = ws.stored_path(version_dir)
                    if rel not in known_dirs:
                        try:  # never delete through a link that leads out of data/
                            inside(version_dir, data, "left version folder")
                        except OutsideWorkspace as exc:
                            logger.warning("not removed: %s", exc)
                            continue
                        shutil.rmtree(version_dir, ignore_errors=True)
                        removed.append(version_dir)
    for path in removed:
        logger.info("removed what an interrupted ingest left: %s", path)
    return removed


def _archive(src: Path, dst: Path) -> tuple[str, int]:
    """Copy a delivered file byte for byte; returns the sha256 and size of what was written."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while block := fin.read(ARCHIVE_CHUNK):
            digest.update(block)
            fout.write(block)
            size += len(block)
    shutil.copystat(src, dst)
    return digest.hexdigest(), size


def _keep(
    files: Sequence[Path], stage: Path, root: Path | None, digest: tuple[str, int]
) -> list[dict[str, Any]]:
    """Archive a delivery's files under ``stage`` (names relative to ``root``, else their
    own names) and check the copies against the delivery's checksum.

    Raises:
        SourceReadError: the files changed between their checksum and their copy (a
            delivery still being written).
    """
    entries: list[dict[str, Any]] = []
    for f in files:
        name = f.relative_to(root).as_posix() if root is not None else f.name
        sha, size = _archive(f, stage / name)
        entries.append(
            {"role": "delivery", "name": name, "size": size, "sha256": sha, "description": None}
        )
    if len(files) == 1:
        kept = (entries[0]["sha256"], entries[0]["size"])
    else:
        kept = sha256_files([stage / e["name"] for e in entries], stage)
    if kept != tuple(digest):
        raise SourceReadError(
            f"{files[0].name}: changed while being ingested (sha256 {digest[0][:12]}... "
            f"before the copy, {kept[0][:12]}... after); likely still being written"
        )
    return entries


def _derived(path: Path, name: str, description: str) -> dict[str, Any]:
    sha, size = sha256_files([path])
    return {
        "role": "derived",
        "name": name,
        "size": size,
        "sha256": sha,
        "description": description,
    }
