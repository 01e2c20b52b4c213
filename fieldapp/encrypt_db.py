"""Converting a plain database into an encrypted one in place, safely (`fieldapp encrypt`).

The plain file is never written to until the encrypted copy is complete and verified: the copy is
made by `sqlcipher_export` into `<db>.encrypting` (born 0600), compared row for row with the
original, then swapped in with one `os.replace`. A crash (kill -9) before the swap leaves the
original as it was and a stray `.encrypting` file, which the next run removes.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from fieldapp import dbkey
from fieldapp.sqlite import sqlite3

STALL_ENV = "FIELDAPP_ENCRYPT_STALL"  # tests: seconds to wait before the swap (to kill -9 there)


class EncryptError(Exception):
    """The conversion was refused or failed; the original file is unchanged."""


@dataclass(frozen=True)
class Encrypted:
    rows: int
    key_file: Path
    kept: Path | None
    plain_backups: list[Path]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _rows(conn: sqlite3.Connection, schema: str, table: str) -> Iterator[tuple[object, ...]]:
    # the same b-tree content scans in the same order (rowid or primary key) in both files
    yield from conn.execute(f"SELECT * FROM {schema}.{_quote(table)}")


def _verify(conn: sqlite3.Connection) -> int:
    """Every table of `main` equals its twin in `enc`, row for row; the number of rows compared."""
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM main.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    schema = "SELECT type, name, sql FROM {}.sqlite_master ORDER BY type, name"
    if list(conn.execute(schema.format("main"))) != list(conn.execute(schema.format("enc"))):
        raise EncryptError("加密副本的结构与原文件不同（the encrypted copy's schema differs）")
    total = 0
    for table in tables:
        plain, enc = _rows(conn, "main", table), _rows(conn, "enc", table)
        for a, b in zip(plain, enc, strict=False):
            if a != b:
                raise EncryptError(f"表 {table} 的数据不一致（table {table} differs）")
            total += 1
        if next(plain, None) is not None or next(enc, None) is not None:
            raise EncryptError(f"表 {table} 的行数不一致（table {table}: row counts differ）")
    return total


def _export(path: Path, tmp: Path, key: dbkey.DbKey) -> int:
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.close(fd)
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        secret = key.pragma().split("=", 1)[1].strip()
        conn.execute(f"ATTACH DATABASE ? AS enc KEY {secret}", (str(tmp),))
        for statement in key.settings("enc"):
            conn.execute(statement)
        conn.execute("SELECT sqlcipher_export('enc')")
        conn.execute(f"PRAGMA enc.user_version = {int(version)}")
        rows = _verify(conn)
        conn.execute("DETACH DATABASE enc")
        conn.execute("PRAGMA journal_mode = DELETE")  # the plain WAL goes away with the swap
    finally:
        conn.close()
    return rows


def _shred(path: Path) -> None:
    """Overwrite, then delete (best effort: SSDs and journalling file systems may keep old blocks)."""
    size = path.stat().st_size
    with open(path, "r+b") as f:
        for at in range(0, size, 1 << 20):
            f.write(secrets.token_bytes(min(1 << 20, size - at)))
        f.flush()
        os.fsync(f.fileno())
    path.unlink()


def encrypt_in_place(path: Path, passphrase: str, *, keep_plain: bool = False) -> Encrypted:
    """Encrypt the plain database `path` under a new key wrapped by `passphrase`."""
    why = dbkey.check_passphrase(passphrase)
    if why:
        raise EncryptError(why)
    key = dbkey.DbKey.new()
    # written after the check, before the swap: a key file beside a plain database is ignored (and
    # replaced by the next run) until the swap makes it the encrypted file's
    return _convert(
        path, key, lambda: dbkey.new_key_file(dbkey.key_path(path), passphrase, key=key), keep_plain
    )


def encrypt_with(path: Path, key: dbkey.DbKey) -> Encrypted:
    """Encrypt `path` with `key`, whose key file is already written (the TUI's offer)."""
    return _convert(path, key, None, keep_plain=False)


def _convert(
    path: Path, key: dbkey.DbKey, write_key: Callable[[], object] | None, keep_plain: bool
) -> Encrypted:
    if not dbkey.is_plain(path):
        raise EncryptError(
            f"{path.name} 不是未加密的 SQLite 数据库（已加密，或不是数据库）"
            "(not a plain SQLite database: already encrypted, or not a database)"
        )
    tmp = path.with_name(path.name + ".encrypting")
    tmp.unlink(missing_ok=True)  # left by a run that was killed: the original is intact
    try:
        rows = _export(path, tmp, key)
    except (sqlite3.DatabaseError, EncryptError) as e:
        tmp.unlink(missing_ok=True)
        raise EncryptError(
            f"转换失败，原文件未改动：{e}（conversion failed; original unchanged）"
        ) from e
    stall = float(os.environ.get(STALL_ENV, "0") or 0)
    if stall:
        time.sleep(stall)
    if write_key is not None:
        write_key()
    old = path.with_name(f"{path.name}.plain-{time.strftime('%Y%m%dT%H%M%S')}")
    try:
        os.link(path, old)  # the plain inode survives the swap under `old`
    except OSError:  # no hard links (FAT on a USB stick): a short window without `path`
        os.rename(path, old)
    os.replace(tmp, path)
    dbkey.remember(path, key)
    if not keep_plain:
        _shred(old)
    kept = old if keep_plain else None
    plain_backups = [b for b in _backups(path) if dbkey.is_plain(b)]
    return Encrypted(rows, dbkey.key_path(path), kept, plain_backups)


def _backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.*.bak"))
