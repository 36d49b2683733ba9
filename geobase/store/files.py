"""The files a store names (datasets, pyramids, evidence) and moving them with a store.

A workspace's files lie under its data root (see :meth:`Workspace.data_root`); the store
records their paths relative to it. When a store is copied to a new workspace,
:func:`plan_transfer` lists what the records name and :func:`transfer` hard-links or
copies it under the new data root, keeping the relative paths, so the copied records
find their files.

Example:
    >>> plan = plan_transfer(store, Path("/old/ws"), Path("/new/ws"))  # doctest: +SKIP
    >>> transfer(plan, "link").linked  # doctest: +SKIP
    42
"""

from __future__ import annotations

import contextlib
import errno
import filecmp
import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from geobase.errors import StoreError
from geobase.paths import atomic_output
from geobase.store.base import Store

logger = logging.getLogger(__name__)

FileMode = Literal["copy", "link", "none"]
FILE_MODES: tuple[str, ...] = ("copy", "link", "none")
_VERSION_DIR = re.compile(r"^v\d+$")
# errors of os.link that mean "this filesystem pair cannot hard-link": copy instead
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}


class FileTransferRefused(StoreError, ValueError):
    """Files cannot be moved with a store: a different file is in the way, no source folder."""


def stored_paths(store: Store) -> list[str]:
    """Everything a store's records name under the data root, as relative POSIX paths.

    A dataset version contributes its version folder (``data/<product>/<id>/v<n>``: the
    delivery, its derived files and sidecars); a pyramid its store and its overview
    cache; an inspection its evidence files. Absolute paths (pyramids written outside the
    workspace) belong to no data root and are left out.
    """
    found: set[str] = set()
    with store.read() as tx:
        for row in tx.query(
            "SELECT DISTINCT path FROM datasets UNION SELECT DISTINCT path FROM dataset_files"
        ):
            found.add(_version_folder(row["path"]))
        for row in tx.query("SELECT DISTINCT path, cache FROM pyramids"):
            found.update(p for p in (row["path"], row["cache"]) if p)
        for row in tx.query("SELECT DISTINCT path FROM control_evidence"):
            found.add(row["path"])
    relative = sorted(p for p in found if not PurePosixPath(p).is_absolute())
    # a path inside a listed folder travels with it
    kept: list[str] = []
    for p in relative:
        if not any(PurePosixPath(p).is_relative_to(k) for k in kept):
            kept.append(p)
    return kept


def _version_folder(path: str) -> str:
    pure = PurePosixPath(path)
    for parent in pure.parents:
        if _VERSION_DIR.match(parent.name):
            return parent.as_posix()
    return path


@dataclass
class TransferPlan:
    """Files to bring under a new data root: (source, target) pairs and what is missing."""

    source_root: Path
    target_root: Path
    files: list[tuple[Path, Path]] = field(default_factory=list)
    present: int = 0  # already at the target (the same file, or equal bytes)
    missing: list[str] = field(default_factory=list)  # named by the store, not at the source

    @property
    def bytes(self) -> int:
        return sum(src.stat().st_size for src, _ in self.files)


@dataclass
class TransferResult:
    """What :func:`transfer` did."""

    linked: int = 0
    copied: int = 0
    created: list[Path] = field(default_factory=list)  # files and folders made, in order

    def undo(self) -> None:
        """Remove what was made (a failed store copy takes its files back)."""
        for path in reversed(self.created):
            with contextlib.suppress(OSError):
                path.rmdir() if path.is_dir() and not path.is_symlink() else path.unlink()


def plan_transfer(store: Store, source_root: Path, target_root: Path) -> TransferPlan:
    """The files to link or copy so that ``store``'s records find them under ``target_root``.

    Raises:
        FileTransferRefused: a different file already lies where one would go, or a
            record names a path that leads out of the data root (``..``).
    """
    plan = TransferPlan(source_root, target_root)
    for rel in stored_paths(store):
        if ".." in PurePosixPath(rel).parts:
            # a record is data, not a place to write: target_root / "../x" is outside
            raise FileTransferRefused(
                f"the store names the file {rel!r}, which leads out of the data root; "
                "correct that record before copying its files"
            )
        src = source_root / rel
        if not src.exists():
            plan.missing.append(rel)
            continue
        pairs = (
            [(f, target_root / rel / f.relative_to(src)) for f in sorted(src.rglob("*"))]
            if src.is_dir()
            else [(src, target_root / rel)]
        )
        for s, t in pairs:
            if s.is_dir() or s.name == ".lock":
                continue
            if t.exists():
                if t.is_file() and (os.path.samefile(s, t) or filecmp.cmp(s, t, shallow=False)):
                    plan.present += 1
                    continue
                raise FileTransferRefused(
                    f"{t} exists and differs from {s}; move it away or copy into another folder"
                )
            plan.files.append((s, t))
    return plan


def transfer(plan: TransferPlan, mode: FileMode) -> TransferResult:
    """Hard-link (``link``; a copy where the filesystems cannot) or copy the planned files.

    On failure, what was made is removed again before the error propagates.
    """
    result = TransferResult()
    if mode == "none":
        return result
    try:
        for src, dst in plan.files:
            missing = [p for p in (dst.parent, *dst.parent.parents) if not p.exists()]
            dst.parent.mkdir(parents=True, exist_ok=True)
            result.created.extend(reversed(missing))
            if mode == "link" and _link(src, dst):
                result.linked += 1
            else:
                with atomic_output(dst) as tmp:
                    shutil.copyfile(src, tmp)
                result.copied += 1
            result.created.append(dst)
    except BaseException:
        result.undo()
        raise
    logger.info("files: %d linked, %d copied", result.linked, result.copied)
    return result


def _link(src: Path, dst: Path) -> bool:
    try:
        os.link(src, dst)
    except OSError as exc:
        if exc.errno in _NO_LINK:
            return False
        raise
    return True
