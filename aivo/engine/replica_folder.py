"""A replica's own scratch folder under the shared adapter cache, and the sweep of the folders
that crashed replicas left behind.

A live replica holds an exclusive flock on `{root}/replica-{pid}/.lock` for its lifetime. The
kernel drops a dead process's locks, so a folder whose lock can be taken belongs to nobody and
is removed when the next replica starts. A folder is locked before it gets its final name, so
a sweep never meets one that is not locked yet.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO

LOCK = ".lock"
PREFIX = "replica-"


class ReplicaFolder:
    """This process's folder; the lock lasts as long as this object."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{PREFIX}", dir=root))
        self._lock: IO[str] = open(staging / LOCK, "a")  # noqa: SIM115 (held for life)
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.path = root / f"{PREFIX}{os.getpid()}"
        shutil.rmtree(self.path, ignore_errors=True)  # a dead process's, with our reused pid
        os.rename(staging, self.path)
        self.swept = sweep_stale(root, keep=self.path)


def sweep_stale(root: Path, keep: Path) -> int:
    """Remove the replica folders whose owner is gone; how many."""
    swept = 0
    for folder in root.glob(f"{PREFIX}*"):
        if folder == keep:
            continue
        try:
            with open(folder / LOCK, "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(folder, ignore_errors=True)
                swept += 1
        except BlockingIOError:
            continue  # a live replica's
        except (FileNotFoundError, NotADirectoryError):
            continue  # removed meanwhile, or not a folder of ours
    return swept
