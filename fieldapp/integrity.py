"""Is the database file sound: `PRAGMA quick_check` before a merge or an export, and at start when the file changed outside fieldapp.

A full check reads every page, so it does not run on every open (the report must stay fast): the
last state fieldapp left the file in (its size, and a time stamp no earlier than its mtime) is kept
in `db_state`, and an open checks only when the file is not as fieldapp left it (copied in, edited
by another program, written by a crashed session). A damaged file is refused with the last good
backup's name, never repaired in place and never merged into.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from fieldapp import backup, dbkey
from fieldapp.sqlite import sqlite3

# fieldapp records the state, then SQLite's last close checkpoints the WAL into the file a few
# milliseconds later: a modification time up to this long after the record is still fieldapp's
SLACK_NS = 2_000_000_000
_KEYS = ("file_size", "file_stamp_ns", "checked_at")
_failed: set[int] = set()  # connections (by id, until they close) whose file failed its check


class DatabaseError(Exception):
    """The database cannot be used as it is; the message says why in Chinese and English."""


class DatabaseDamaged(DatabaseError):
    """The file failed `PRAGMA quick_check`; `zh`/`en` say what failed and which backup is good."""

    def __init__(self, zh: str, en: str, good_backup: Path | None) -> None:
        self.zh, self.en, self.good_backup = zh, en, good_backup
        super().__init__(f"{zh}（{en}）")


def problem(conn: sqlite3.Connection) -> str | None:
    """What `PRAGMA quick_check` found (its first lines), or None when the file is sound."""
    try:
        rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check(3)").fetchall()]
    except sqlite3.DatabaseError as e:
        return str(e)
    if rows == ["ok"]:
        return None
    return "; ".join(rows)[:300] or "quick_check returned nothing"


def _sound_copy(path: Path, key: dbkey.DbKey | None) -> bool:
    """A backup passes its own quick_check (with the database's key when it is encrypted)."""
    if key is None and not dbkey.is_plain(path):
        return False
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.DatabaseError:
        return False
    try:
        if key is not None:
            key.apply(conn)
        return problem(conn) is None
    finally:
        conn.close()


def last_good_backup(db_path: Path) -> Path | None:
    """The newest copy of `db_path` (next to it) that passes quick_check; None when there is none."""
    key = None if dbkey.is_plain(db_path) else dbkey.remembered(db_path)
    for copy in reversed(backup.all_backups(db_path)):
        if _sound_copy(copy, key):
            return copy
    return None


def damaged(db_path: Path, found: str) -> DatabaseDamaged:
    """The refusal, naming the last good backup and the command that restores it."""
    good = last_good_backup(db_path)
    if good is None:
        where_zh = "没有可用的备份，请联系区级管理员"
        where_en = "no sound backup was found: ask the district"
    else:
        where_zh = f"最近的完好备份：{good.name}（恢复：fieldapp backup restore {good.name} --db {db_path}）"
        where_en = (
            f"last good backup: {good.name} (fieldapp backup restore {good.name} --db {db_path})"
        )
    return DatabaseDamaged(
        f"数据库 {db_path.name} 已损坏，已停止使用（{found}）。{where_zh}",
        f"the database {db_path.name} is damaged and was not used ({found}); {where_en}",
        good,
    )


def db_file(conn: sqlite3.Connection) -> Path:
    """The main file of an open connection."""
    for row in conn.execute("PRAGMA database_list"):
        if row[1] == "main" and row[2]:
            return Path(row[2])
    raise DatabaseError("内存数据库没有文件 (an in-memory database has no file)")


def file_state(db_path: Path) -> tuple[int, int]:
    """(size, mtime in ns) of the database file itself."""
    st = os.stat(db_path)
    return st.st_size, st.st_mtime_ns


def _stored(conn: sqlite3.Connection) -> dict[str, str]:
    try:
        rows = conn.execute(
            f"SELECT key, value FROM db_state WHERE key IN ({','.join('?' * len(_KEYS))})", _KEYS
        ).fetchall()
    except sqlite3.OperationalError:  # a database older than schema 4 (before its migration)
        return {}
    return {str(k): str(v) for k, v in rows}


def changed_outside(conn: sqlite3.Connection, db_path: Path) -> bool:
    """Whether the file is not as fieldapp last left it (or fieldapp never recorded it)."""
    state = _stored(conn)
    try:  # the file is untrusted too: a value that is no number means "check"
        known_size, stamp = int(state["file_size"]), int(state["file_stamp_ns"])
    except (KeyError, ValueError):
        return True
    size, mtime = file_state(db_path)
    return size != known_size or mtime > stamp + SLACK_NS


def record(conn: sqlite3.Connection, db_path: Path) -> None:
    """Remember the file as fieldapp leaves it: checkpoint the WAL, then its size and a stamp."""
    for _ in range(2):  # the record itself may add db_state's page: then once more, in place
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        size, _mtime = file_state(db_path)
        conn.executemany(
            "INSERT INTO db_state (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [("file_size", str(size)), ("file_stamp_ns", str(time.time_ns()))],
        )
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if file_state(db_path)[0] == size:
            return


def check(conn: sqlite3.Connection, db_path: Path, *, remember: bool = True) -> None:
    """Run quick_check; refuse a damaged file (DatabaseDamaged), else record the checked state."""
    found = problem(conn)
    if found is not None:
        _failed.add(id(conn))  # its close records nothing: the next start checks again
        raise damaged(db_path, found)
    if remember:
        conn.execute(
            "INSERT INTO db_state (key, value) VALUES ('checked_at', ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (time.strftime("%Y-%m-%dT%H:%M:%S"),),
        )
        record(conn, db_path)


def on_open(conn: sqlite3.Connection, db_path: Path) -> None:
    """At start: check only a file that changed outside fieldapp since it last left it."""
    if changed_outside(conn, db_path):
        check(conn, db_path)


def on_close(conn: sqlite3.Connection, db_path: Path | None) -> None:
    """Before a writable connection closes after writing: record the state it leaves. Never raises
    (an unrecorded state only means one more check at the next start)."""
    failed = id(conn) in _failed
    _failed.discard(id(conn))  # the id may be reused by a later connection
    if failed or db_path is None:
        return
    try:
        wal = db_path.with_name(db_path.name + "-wal")
        wrote = conn.total_changes > 0 or (wal.exists() and wal.stat().st_size > 0)
        if wrote and not conn.in_transaction:
            record(conn, db_path)
    except (sqlite3.Error, OSError):
        pass


def before_merge(conn: sqlite3.Connection, *, dry_run: bool = False) -> Path | None:
    """Before a merge: the district file passes quick_check (a damaged one is never merged into),
    then a copy (not for a dry run); the copy's path. `conn` may already hold the write lock
    (a group's BEGIN IMMEDIATE, nothing written yet): SQLite's backup refuses a source connection
    that is writing (SQLITE_LOCKED), so the copy is read through a connection of its own, which
    sees the last commit, the state before this merge."""
    path = db_file(conn)
    check(conn, path, remember=False)  # nothing written: a refused merge leaves the file as it was
    return None if dry_run else backup.snapshot(path, "pre-merge")
