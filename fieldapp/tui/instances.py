"""One database, one window: a lock file beside the database tells a second window it is not alone."""

from __future__ import annotations

import os
from pathlib import Path


class InstanceLock:
    """An advisory lock on `<db>.lock` held while the app runs (POSIX flock; elsewhere no warning).

    Two windows on one file both work (SQLite serialises the writes) but the worker should know;
    the lock is dropped by the OS when the process ends, so a crash leaves nothing stuck."""

    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + ".lock")
        self.fd: int | None = None

    def acquire(self) -> bool:
        """True when this is the only window on the database (or the lock cannot be checked)."""
        try:
            import fcntl
        except ImportError:  # Windows: no flock; the data_version watch still keeps windows fresh
            return True
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        except OSError:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
