"""Leftovers of interrupted processes: files and folders named for the process that made
them (``<pid>-<id>`` staging folders of an ingest, ``<name>.partial-<pid>`` files of a
tile build, ``.<name>.tmp-<pid>-<hex>`` temporaries of ``geobase.paths``). One rule
decides when such a leftover may be removed: its process is gone.
"""

from __future__ import annotations

import os


def abandoned(pid: int) -> bool:
    """Whether what process ``pid`` left is abandoned: no process with that id runs.

    This process's own leftovers are not abandoned (it still decides about them). A dead
    process's id taken by a new process only delays a cleanup; nothing live is removed.
    """
    if pid <= 0:
        return False  # not a process id (0 and negatives name process groups)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    except OverflowError:
        return True  # no such process can exist
    return False
