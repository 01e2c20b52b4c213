"""Copies of the database file taken before a risky step (a merge, a migration, a restore) and daily on a device, born private and kept few.

A copy is made with SQLite's online backup API, so it is consistent even while the file is open in
WAL mode, and it is created 0600 before the first byte is written (STYLE: files are born private).
A copy of an encrypted database is encrypted with the same key and salt, and its key file (the
same wrapped key: passphrase and recovery) is copied beside it as `<copy>.key.json`, so a backup
is useless without the passphrase or the district, yet never unusable.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fieldapp import dbkey
from fieldapp.sqlite import sqlite3

KEEP = 7  # copies kept per reason; older ones are removed after a new copy is made
DAY_S = 24 * 3600
_NAME = re.compile(r"\.(?P<reason>[a-z0-9-]+?)-(?P<stamp>\d{8}T\d{6})(?:-(?P<n>\d+))?\.bak$")


class BackupError(ValueError):
    """A backup or restore that cannot be done, and why (zh, then en); nothing was changed."""

    def __init__(self, zh: str, en: str) -> None:
        self.zh, self.en = zh, en
        super().__init__(f"{zh}（{en}）")


def _db_path(conn: sqlite3.Connection) -> Path:
    for row in conn.execute("PRAGMA database_list"):
        if row[1] == "main" and row[2]:
            return Path(row[2])
    raise ValueError("内存数据库没有文件可备份 (an in-memory database has no file to back up)")


def create_private(folder: Path, stem: str, suffix: str = ".bak") -> Path:
    """A new empty file `stem+suffix` (or `stem-N+suffix`, N above every one taken: a name freed
    by pruning is not reused, or the newest copy would sort as the oldest), created 0600."""
    taken = [
        int(m[1] or 0)
        for p in folder.glob(f"{glob.escape(stem)}*{suffix}")
        if (m := re.fullmatch(r"(?:-(\d+))?", p.name[len(stem) : len(p.name) - len(suffix)]))
    ]
    first = max(taken) + 1 if taken else 0
    for n in range(first, first + 1000):
        path = folder / (f"{stem}{suffix}" if n == 0 else f"{stem}-{n}{suffix}")
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


def snapshot(
    conn_or_path: sqlite3.Connection | Path | str, reason: str, *, folder: Path | None = None
) -> Path:
    """Copy the database to `<name>.<reason>-<timestamp>.bak` next to it (or into `folder`, which
    must exist: a USB stick is not created); next to it, keep the last KEEP of that reason."""
    conn, path, own = _source(conn_or_path)
    try:
        where = path.parent if folder is None else folder
        if not where.is_dir():
            raise BackupError(f"未找到文件夹：{where}", f"folder not found: {where}")
        stamp = time.strftime("%Y%m%dT%H%M%S")
        dest = create_private(where, f"{path.name}.{reason}-{stamp}")
        try:
            _copy_into(conn, path, dest)
        except BaseException:
            dest.unlink(missing_ok=True)
            dbkey.key_path(dest).unlink(missing_ok=True)
            raise
    finally:
        if own:
            conn.close()
    if folder is None:
        _prune(path, reason)
    return dest


def _copy_into(conn: sqlite3.Connection, path: Path, dest: Path) -> None:
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


def _copy_key_file(path: Path, dest: Path) -> None:
    """The key file beside the copy, born 0600 like the copy."""
    src, out = dbkey.key_path(path), dbkey.key_path(dest)
    fd = os.open(out, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "wb") as f, open(src, "rb") as g:
        shutil.copyfileobj(g, f)


def _age_key(p: Path) -> tuple[str, int, str]:
    """Oldest first: by the timestamp in the name, then by the -N added within one second."""
    m = _NAME.search(p.name)
    return (m["stamp"], int(m["n"] or 0), p.name) if m else ("", 0, p.name)


def backups(path: Path | str, reason: str) -> list[Path]:
    """The copies of `path` made for `reason`, oldest first."""
    path = Path(path)
    found = path.parent.glob(f"{path.name}.{reason}-*.bak")
    return sorted((p for p in found if _reason(path, p) == reason), key=_age_key)


def _reason(path: Path, copy: Path) -> str | None:
    m = _NAME.fullmatch(copy.name[len(path.name) :])
    return m["reason"] if m else None


@dataclass(frozen=True)
class Copy:
    """One backup next to the database: its file, why it was made and when (local time)."""

    path: Path
    reason: str
    stamp: str  # YYYYMMDDTHHMMSS
    size: int


def list_backups(path: Path | str) -> list[Copy]:
    """Every copy of `path` next to it, oldest first."""
    path = Path(path)
    out = []
    for p in path.parent.glob(f"{path.name}.*.bak"):
        m = _NAME.fullmatch(p.name[len(path.name) :])
        if m:
            out.append(Copy(p, m["reason"], m["stamp"], p.stat().st_size))
    return sorted(out, key=lambda c: _age_key(c.path))


def all_backups(path: Path | str) -> list[Path]:
    return [c.path for c in list_backups(path)]


def _prune(path: Path, reason: str) -> None:
    for old in backups(path, reason)[:-KEEP]:
        old.unlink(missing_ok=True)
        dbkey.key_path(old).unlink(missing_ok=True)


def daily(
    conn: sqlite3.Connection,
    path: Path,
    *,
    check: Callable[[sqlite3.Connection, Path], None] | None = None,
    now: float | None = None,
) -> Path | None:
    """At most one copy a day on a device: a copy when the newest daily one is a day old, after
    `check` (integrity.check: a damaged file is refused, not copied over a good copy's place)."""
    now = time.time() if now is None else now
    newest = backups(path, "daily")
    if newest and now - newest[-1].stat().st_mtime < DAY_S:
        return None
    if check is not None:
        check(conn, path)
    return snapshot(conn, "daily")


def find(path: Path, name: str | None) -> Path:
    """The backup to restore: by file name (or path) among the copies next to the database, or
    the newest when no name is given."""
    copies = all_backups(path)
    if name is None:
        if not copies:
            raise BackupError(f"{path.name} 没有备份", f"{path.name} has no backups")
        return copies[-1]
    given = Path(name)
    chosen = given if given.exists() and given.suffix == ".bak" else path.parent / given.name
    if not chosen.is_file() or chosen.suffix != ".bak":
        raise BackupError(f"找不到备份：{clean_name(name)}", f"no such backup: {clean_name(name)}")
    return chosen


def clean_name(name: str) -> str:
    from fieldapp.text import clean

    return clean(name)


def restore(path: Path, copy: Path) -> Path | None:
    """Put `copy` in place of the database at `path`. The current file is first copied (reason
    `pre-restore`, with the backup API, or byte for byte when it is too damaged to open); the copy
    is checked, written under a temporary name born 0600 and renamed over the database. Returns
    the copy made of the current file. The database must not be open in another program."""
    _check_copy(copy)
    before = _keep_current(path) if path.exists() else None
    tmp = create_private(path.parent, f".{path.name}.restore", ".tmp")
    try:
        with open(copy, "rb") as src, open(tmp, "r+b") as out:
            shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        _restore_key_file(path, copy)
        for side in ("-wal", "-shm"):
            path.with_name(path.name + side).unlink(missing_ok=True)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return before


def _check_copy(copy: Path) -> None:
    """A copy that does not open (or is not a fieldapp database) is not restored."""
    head = dbkey.file_header(copy)
    if head is None:
        raise BackupError(f"备份是空文件：{copy.name}", f"the backup is empty: {copy.name}")
    if head != dbkey.PLAIN_HEADER and not dbkey.key_path(copy).exists():
        raise BackupError(
            f"加密备份 {copy.name} 旁边缺少密钥文件", f"the key file of {copy.name} is missing"
        )


def _keep_current(path: Path) -> Path:
    from fieldapp import db

    try:
        return snapshot(path, "pre-restore")
    except (sqlite3.Error, db.DatabaseError, dbkey.DbKeyError):
        # too damaged (or locked away) for the backup API: keep its bytes as they are
        stamp = time.strftime("%Y%m%dT%H%M%S")
        dest = create_private(path.parent, f"{path.name}.pre-restore-{stamp}")
        with open(path, "rb") as src, open(dest, "r+b") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        if dbkey.key_path(path).exists():
            _copy_key_file(path, dest)
        _prune(path, "pre-restore")
        return dest


def _restore_key_file(path: Path, copy: Path) -> None:
    """The database's key file stays when it opens the copy (same database id: a passphrase
    changed since the copy still works); otherwise the copy's own key file comes with it."""
    src = dbkey.key_path(copy)
    if not src.exists():
        return
    dest = dbkey.key_path(path)
    head = dbkey.file_header(copy)
    if dest.exists():
        try:
            if bytes.fromhex(dbkey.read_key_file(dest)["db_id"]) == head:
                return
        except dbkey.DbKeyError:
            pass
    tmp = create_private(path.parent, f".{dest.name}.restore", ".tmp")
    try:
        with open(src, "rb") as g, open(tmp, "r+b") as f:
            shutil.copyfileobj(g, f)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dbkey.forget(path)
