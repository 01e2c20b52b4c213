"""Copies of the database file taken before a risky step (a migration), born private and kept few.

A copy is made with SQLite's online backup API, so it is consistent even while the file is open in
WAL mode, and it is created 0600 before the first byte is written (STYLE: files are born private).
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

KEEP = 7  # copies kept per reason; older ones are removed after a new copy is made


def _db_path(conn: sqlite3.Connection) -> Path:
    for row in conn.execute("PRAGMA database_list"):
        if row[1] == "main" and row[2]:
            return Path(row[2])
    raise ValueError("内存数据库没有文件可备份 (an in-memory database has no file to back up)")


def _create_private(folder: Path, stem: str) -> Path:
    """A new empty file `stem.bak` (or `stem-N.bak` if taken), created with mode 0600."""
    for n in range(1000):
        path = folder / (f"{stem}.bak" if n == 0 else f"{stem}-{n}.bak")
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            continue
        os.close(fd)
        return path
    raise FileExistsError(f"too many backups named {stem}")


def snapshot(conn_or_path: sqlite3.Connection | Path | str, reason: str) -> Path:
    """Copy the database to `<name>.<reason>-<timestamp>.bak` next to it; keep the last KEEP."""
    own = not isinstance(conn_or_path, sqlite3.Connection)
    if isinstance(conn_or_path, sqlite3.Connection):
        conn, path = conn_or_path, _db_path(conn_or_path)
    else:
        path = Path(conn_or_path)
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        dest = _create_private(path.parent, f"{path.name}.{reason}-{stamp}")
        target = sqlite3.connect(dest)
        try:
            conn.backup(target)
        finally:
            target.close()
    finally:
        if own:
            conn.close()
    _prune(path, reason)
    return dest


def backups(path: Path | str, reason: str) -> list[Path]:
    """The copies of `path` made for `reason`, oldest first (the timestamp sorts as text)."""
    path = Path(path)
    return sorted(path.parent.glob(f"{path.name}.{reason}-*.bak"), key=lambda p: p.name)


def _prune(path: Path, reason: str) -> None:
    for old in backups(path, reason)[:-KEEP]:
        old.unlink(missing_ok=True)
