"""Some of a report's queries on a second, read-only connection in a second thread, while the
caller's connection runs the others: SQLite lets go of Python's lock while a query runs, so on a
laptop with two cores the year report takes the time of its longer half rather than the sum.

Only where it gives the same figures: a database file (not `:memory:`), and a connection with no
open transaction (a second connection would not see what it has not committed); otherwise the
queries run one after the other on the caller's connection, as before."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Generic, TypeVar

from fieldapp.dbkey import DbKeyError
from fieldapp.integrity import DatabaseError
from fieldapp.sqlite import sqlite3

T = TypeVar("T")


def _file_of(conn: sqlite3.Connection) -> Path | None:
    row = conn.execute("PRAGMA database_list").fetchone()
    name = row[2] if row else ""
    return Path(name) if name else None


def _on_reader(path: Path, job: Callable[[sqlite3.Connection], T]) -> T:
    from fieldapp import db

    reader = db.open_reader(path)  # the key as the caller's (unlocked in this process)
    reader.row_factory = sqlite3.Row
    try:
        return job(reader)
    finally:
        reader.close()


class Beside(Generic[T]):
    """The job's result: from the second connection, or, when that could not do it (a file it
    may not open read-only, say), from the caller's connection in the caller's thread."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        job: Callable[[sqlite3.Connection], T],
        future: Future[T] | None,
    ) -> None:
        self._conn, self._job, self._future = conn, job, future
        self._done: tuple[T] | None = None

    def result(self) -> T:
        if self._done is None:
            try:
                if self._future is None:
                    raise LookupError("no second connection")
                self._done = (self._future.result(),)
            except (LookupError, OSError, sqlite3.Error, DatabaseError, DbKeyError):
                self._done = (self._job(self._conn),)  # the same job, here, as before
        return self._done[0]


@contextmanager
def beside(conn: sqlite3.Connection, job: Callable[[sqlite3.Connection], T]) -> Iterator[Beside[T]]:
    """Run `job(connection)` beside the caller's work; `.result()` inside the block gives it."""
    path = _file_of(conn)
    if path is None or conn.in_transaction:
        yield Beside(conn, job, None)
        return
    with ThreadPoolExecutor(1, thread_name_prefix="fieldapp-report") as pool:
        yield Beside(conn, job, pool.submit(_on_reader, path, job))
