"""The report's second connection (report.beside): used for a database file, on the same data
(encrypted files included), and never where it could see other data than the caller's."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import pytest

from fieldapp import db, dbkey
from fieldapp.demo import generate_community
from fieldapp.report import figures
from fieldapp.report.beside import beside
from fieldapp.sqlite import sqlite3

TODAY = date(2026, 6, 30)


def _where(conn: sqlite3.Connection) -> tuple[int, int, int]:
    n = conn.execute("SELECT count(*) FROM elder").fetchone()[0]
    return threading.get_ident(), id(conn), int(n)


def _demo(path: Path) -> sqlite3.Connection:
    generate_community(path, seed=5, today=TODAY, elders=30)
    return db.connect(path, create=False)


@pytest.mark.parametrize("encrypted", [False, True])
def test_the_second_connection_reads_the_same_file_in_another_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encrypted: bool
) -> None:
    if encrypted:
        monkeypatch.delenv("FIELDAPP_UNENCRYPTED")
        monkeypatch.setenv("FIELDAPP_PASSPHRASE", "correct horse battery staple")
    conn = _demo(tmp_path / "d.db")
    try:
        plain = (tmp_path / "d.db").read_bytes()[:16] == b"SQLite format 3\x00"
        assert plain is not encrypted
        with beside(conn, _where) as other:
            here = _where(conn)
            there = other.result()
        assert there[0] != here[0] and there[1] != here[1]  # another thread, another connection
        assert there[2] == here[2] == 30
        # the report with its second connection gives what one connection gives
        fast = figures.build(conn, 2026, today=TODAY)
        conn.execute("BEGIN")  # in a transaction: everything on the caller's connection
        slow = figures.build(conn, 2026, today=TODAY)
        conn.execute("ROLLBACK")
        assert (fast.figures, fast.operational) == (slow.figures, slow.operational)
    finally:
        conn.close()
        dbkey.forget()


def test_uncommitted_rows_and_memory_databases_stay_on_the_callers_connection(
    tmp_path: Path,
) -> None:
    conn = _demo(tmp_path / "d.db")
    try:
        conn.execute("BEGIN")
        conn.execute("UPDATE elder SET deleted = 1 WHERE id IN (SELECT id FROM elder LIMIT 3)")
        with beside(
            conn, lambda c: c.execute("SELECT count(*) FROM elder WHERE deleted = 0").fetchone()[0]
        ) as n:
            assert n.result() == 27  # a second connection would have counted 30
        conn.execute("ROLLBACK")
    finally:
        conn.close()
    mem = sqlite3.connect(":memory:")
    with beside(mem, lambda c: (threading.get_ident(), id(c))) as where:
        assert where.result() == (threading.get_ident(), id(mem))


def test_the_second_connection_caches_as_many_pages_as_the_callers(tmp_path: Path) -> None:
    """SQLite's own 2 MiB made the year's coverage read (and, encrypted, decrypt) the elders' pages
    again and again; the reader has the caller's cache size."""
    conn = _demo(tmp_path / "d.db")
    try:
        cache = "PRAGMA cache_size"
        with beside(conn, lambda c: (threading.get_ident(), c.execute(cache).fetchone()[0])) as r:
            thread, size = r.result()
        assert thread != threading.get_ident()  # it was the second connection's
        assert size == conn.execute(cache).fetchone()[0] == -db.CACHE_KIB
    finally:
        conn.close()
