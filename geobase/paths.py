"""Where geobase may write and delete, and how it writes an output file.

Two rules, kept here once:

- :func:`inside`: a path geobase writes or deletes in a workspace is resolved (``..``
  and symbolic links too) and must lie inside the workspace (or inside the output the
  user named); anything else is refused with :class:`~geobase.errors.OutsideWorkspace`.
- :func:`atomic_output`: an output file is written under a temporary name in its own
  folder and renamed over the final name only when the writing succeeded, so a full
  disk, a file-size limit, a crash or a bad value never leaves a partial file (and never
  spoils the file it was to replace). What a killed process left under such a name is
  removed when the same output is next written (:func:`remove_abandoned_temporaries`).

Example:
    >>> with atomic_output(out) as tmp:  # doctest: +SKIP
    ...     frame.to_csv(tmp, index=False)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from geobase.errors import GeobaseError, OutputWriteError, OutsideWorkspace, describe_os_error

#: The files of one shapefile: written together, renamed together.
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix")


def inside(path: str | Path, root: str | Path, what: str = "path") -> Path:
    """``path`` resolved (relative paths against ``root``), if it lies inside ``root``.

    Symbolic links are followed, for every part that exists: a link inside the workspace
    that points out of it is outside.

    Args:
        path: the path to check.
        root: the folder it must lie in (the workspace, or an output the user named).
        what: what the path is, for the message.

    Raises:
        OutsideWorkspace: the resolved path is not ``root`` or below it.
    """
    base = Path(root).resolve()
    target = (base / Path(path)).resolve()
    if target != base and not target.is_relative_to(base):
        raise OutsideWorkspace(
            f"{what} {str(path)[:200]!r} resolves to {target}, outside {base}; "
            "geobase writes and deletes only inside its workspace (a '..', an absolute "
            "path or a symbolic link leads out)"
        )
    return target


def _parts(path: Path) -> list[Path]:
    if path.suffix.lower() == ".shp":
        return [path.with_suffix(s) for s in SHAPEFILE_PARTS]
    return [path]


def _fsync(path: Path, directory: bool = False) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a folder; the rename is still atomic
    finally:
        os.close(fd)


def _write_error(path: Path, exc: OSError) -> OutputWriteError:
    bare = OSError(exc.errno, exc.strerror) if exc.errno is not None else exc
    return OutputWriteError(f"cannot write {path}: {describe_os_error(bare)}")


def _temporary(path: Path, kind: str) -> Path:
    return path.with_name(f".{path.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}{path.suffix}")


# what _temporary names: .<name>.tmp-<pid>-<8 hex>[<suffix>] (.old- for a folder moved aside)
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?:tmp|old)-(?P<pid>[0-9]{1,10})-[0-9a-f]{8}(?:\..*)?$")


def remove_abandoned_temporaries(path: str | Path) -> list[Path]:
    """Remove the temporaries of ``path`` (:func:`atomic_output`, :func:`atomic_folder`)
    that killed processes left beside it; returns the removed paths.

    Only ``path``'s folder is scanned, and only names of ``path``'s own temporaries are
    looked at; one is removed when its process no longer runs
    (:func:`geobase.store.leftovers.abandoned`).
    """
    from geobase.store.leftovers import abandoned  # geobase.store imports this module

    path = Path(path)
    prefix = f".{path.name}."
    removed: list[Path] = []
    try:
        names = [e.name for e in os.scandir(path.parent) if e.name.startswith(prefix)]
    except OSError:
        return removed  # no folder yet (or unreadable): nothing of ours there
    for name in names:
        match = _TEMPORARY.match(name)
        if match is None or match.group("name") != path.name:
            continue
        if not abandoned(int(match.group("pid"))):
            continue
        leftover = path.parent / name
        _remove(leftover)
        if not (leftover.exists() or leftover.is_symlink()):
            removed.append(leftover)
    return removed


def _wrap(path: Path, exc: BaseException, about: set[str], under: Path | None = None) -> None:
    """Raise ``exc`` as OutputWriteError when it is an OSError about the output (a file
    named in ``about``, or one ``under`` the temporary folder, or none named)."""
    if not isinstance(exc, OSError) or isinstance(exc, GeobaseError):
        return
    name = None if exc.filename is None else str(exc.filename)
    if name is None or name in about or (under is not None and name.startswith(f"{under}/")):
        raise _write_error(path, exc) from exc


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``.

    The temporary name is hidden (``.<name>.tmp-<pid>-<random><suffix>``) and keeps the
    suffix, so drivers chosen by suffix (GDAL, pandas) write the right format. A
    shapefile's parts (``.shx``, ``.dbf``, ...) move with it. Whether an existing
    ``path`` may be replaced is the caller's decision, made before.

    Raises:
        OutputWriteError: the folder is missing, read-only or not writable, the disk is
            full or a file-size limit was reached (an ``OSError`` about the output while
            writing); nothing is left at the temporary name and ``path`` is unchanged.
            Any other error of the block is raised as it is, after the same clean-up.
    """
    path = Path(path)
    remove_abandoned_temporaries(path)  # a shapefile's parts too: they bear its name
    tmp = _temporary(path, "tmp")
    try:  # fail before the work if the folder cannot take a file
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        os.unlink(tmp)
    except OSError as exc:
        raise _write_error(path, exc) from exc
    tmp_parts = _parts(tmp)
    try:
        yield tmp
        if not tmp.exists():
            return  # the block chose to write nothing
        for part in tmp_parts:
            if part.exists():
                _fsync(part)
        for part, final in zip(tmp_parts, _parts(path), strict=True):
            if part.exists():
                os.replace(part, final)
            elif final != path:
                final.unlink(missing_ok=True)  # a part of the replaced shapefile
        _fsync(path.parent, directory=True)
    except BaseException as exc:
        for part in tmp_parts:
            with suppress(OSError):
                part.unlink(missing_ok=True)
        _wrap(path, exc, {str(p) for p in (*tmp_parts, *_parts(path))})
        raise


def exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); False
    where the system or file system cannot."""
    libc = _libc()
    func = getattr(libc, "renameat2", None) if libc is not None else None
    if func is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if func(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(a))


_LIBC: list = []


def _libc():
    if not _LIBC:
        name = ctypes.util.find_library("c")
        try:
            _LIBC.append(ctypes.CDLL(name, use_errno=True) if name else None)
        except OSError:
            _LIBC.append(None)
    return _LIBC[0]


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with suppress(FileNotFoundError):
            path.unlink()


def replace_path(new: Path, path: Path, aside: Path) -> None:
    """Move ``new`` (a file or folder) to ``path``, replacing what is there.

    A file replaces by one rename. A folder at ``path`` is replaced by one atomic exchange
    where the system has one (the previous folder then at ``new``, removed); else the
    previous ``path`` is moved to ``aside``, ``new`` renamed in (for a moment nothing is
    at ``path``; on failure the previous is put back) and ``aside`` removed. The one home
    of swapping a folder into place (:func:`atomic_folder`, the tile writers).
    """
    new, path = Path(new), Path(path)
    if not new.is_dir() or not (path.exists() or path.is_symlink()):
        os.replace(new, path)
        return
    if path.is_dir() and not path.is_symlink() and exchange(new, path):
        _remove(new)  # the previous folder
        return
    os.replace(path, aside)
    try:
        os.replace(new, path)
    except BaseException:
        with suppress(OSError):
            os.replace(aside, path)  # put the previous one back
        raise
    _remove(aside)


@contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """Yield a new temporary folder beside ``path``; on success it replaces ``path``
    (:func:`replace_path`): a failure before that leaves the previous folder as it was. Whether
    ``path`` may be replaced is the caller's decision, made before.

    Raises:
        OutputWriteError: as :func:`atomic_output`.
    """
    path = Path(path)
    remove_abandoned_temporaries(path)
    stage = _temporary(path, "tmp")
    try:
        stage.mkdir()
    except OSError as exc:
        raise _write_error(path, exc) from exc
    try:
        yield stage
        replace_path(stage, path, aside=_temporary(path, "old"))
        _fsync(path.parent, directory=True)
    except BaseException as exc:
        shutil.rmtree(stage, ignore_errors=True)
        _wrap(path, exc, {str(stage), str(path)}, under=stage)
        raise
