"""Copies of the database file taken before a risky step (a migration), born private and kept few.

A copy is made with SQLite's online backup API, so it is consistent even while the file is open in
WAL mode, and it is created 0600 before the first byte is written (STYLE: files are born private).
A copy of an encrypted database is encrypted with the same key and salt, and its key file (the
same wrapped key: passphrase and recovery) is copied beside it as `<copy>.key.json`, so a backup
is useless without the passphrase or the district, yet never unusable.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from fieldapp import dbkey
from fieldapp.sqlite import sqlite3

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


def _source(conn_or_path: sqlite3.Connection | Path | str) -> tuple[sqlite3.Connection, Path, bool]:
    """(connection, file, whether we opened it ourselves)."""
    if isinstance(conn_or_path, sqlite3.Connection):
        return conn_or_path, _db_path(conn_or_path), False
    from fieldapp import db

    path = Path(conn_or_path)
    return db.open_raw(path, readonly=True), path, True


def snapshot(conn_or_path: sqlite3.Connection | Path | str, reason: str) -> Path:
    """Copy the database to `<name>.<reason>-<timestamp>.bak` next to it; keep the last KEEP."""
    conn, path, own = _source(conn_or_path)
    try:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        dest = _create_private(path.parent, f"{path.name}.{reason}-{stamp}")
        key = None if dbkey.is_plain(path) else dbkey.remembered(path)
        if key is not None:
            _copy_key_file(path, dest)
        target = sqlite3.connect(dest)
        try:
            if key is not None:
                key.apply(target)
            conn.backup(target)
        finally:
            target.close()
    finally:
        if own:
            conn.close()
    _prune(path, reason)
    return dest


def _copy_key_file(path: Path, dest: Path) -> None:
    """The key file beside the copy, born 0600 like the copy."""
    src, out = dbkey.key_path(path), dbkey.key_path(dest)
    fd = os.open(out, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "wb") as f, open(src, "rb") as g:
        shutil.copyfileobj(g, f)


def backups(path: Path | str, reason: str) -> list[Path]:
    """The copies of `path` made for `reason`, oldest first (the timestamp sorts as text)."""
    path = Path(path)
    return sorted(path.parent.glob(f"{path.name}.{reason}-*.bak"), key=lambda p: p.name)


def _prune(path: Path, reason: str) -> None:
    for old in backups(path, reason)[:-KEEP]:
        old.unlink(missing_ok=True)
        dbkey.key_path(old).unlink(missing_ok=True)
