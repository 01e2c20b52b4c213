"""What every part of the store stands on: the open connection, the transaction, the clock and this device's row."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

from fieldapp import db, hlc, ids
from fieldapp.sqlite import sqlite3
from fieldapp.store.errors import StoreError


@dataclass(frozen=True)
class Device:
    """The database's one `device` row: a worker's device, or the district (`role`)."""

    device_id: str
    role: str
    label: str
    worker: str | None
    street_code: str | None
    community_code: str | None
    hlc_last: str


class StoreBase:
    """One open database. Not thread-safe: open one Store per thread (SQLite connections are not shared)."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        now: Callable[[], int] = hlc.wall_ms,
        new_id: Callable[[], str] = ids.uuid7,
    ) -> None:
        self.conn = conn
        self._now = now
        self._new_id = new_id
        self._depth = 0
        self._clock: hlc.Clock | None = None
        self._community_codes: frozenset[str] | None = None
        self._device: Device | None = None

    @classmethod
    def open(
        cls,
        path: Path | str,
        *,
        create: bool = True,
        now: Callable[[], int] = hlc.wall_ms,
        new_id: Callable[[], str] = ids.uuid7,
    ) -> Self:
        """`now` and `new_id` are for tests and the demo, which need a fixed clock and fixed ids."""
        return cls(db.connect(path, create=create), now=now, new_id=new_id)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE … COMMIT; nested calls join the outer transaction (a batch of saves)."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        # another process may have saved since: the clock state is read inside the lock
        self._clock = None
        try:
            yield
            if self._clock is not None:
                self.conn.execute("UPDATE device SET hlc_last = ?", (self._clock.last,))
                self._clock = None
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        finally:
            self._depth = 0

    def _local_now_iso(self) -> str:
        """The store's clock as local time with its offset, to the second (what people read)."""
        return (
            datetime.fromtimestamp(self._now() / 1000, UTC)
            .astimezone()
            .isoformat(timespec="seconds")
        )

    # ------------------------------------------------------------ this device

    def device(self) -> Device | None:
        row = self.conn.execute(
            "SELECT device_id, role, label, worker, street_code, community_code, hlc_last FROM device"
        ).fetchone()
        return Device(**dict(row)) if row else None

    def _require_device(self) -> Device:
        dev = self._device = self._device or self.device()
        if dev is None:
            raise StoreError(
                "本设备尚未设置（请先运行 fieldapp init）",
                "device not set up: run `fieldapp init` first",
            )
        return dev

    def _tick(self) -> str:
        """The next HLC stamp; the clock is read from the device row once per transaction."""
        if self._clock is None:
            self._require_device()
            last = self.conn.execute("SELECT hlc_last FROM device").fetchone()[0]
            self._clock = hlc.Clock(last, self._now)
        return self._clock.tick()

    def community_codes(self) -> frozenset[str]:
        """The codes a record may name, cached until the community list is replaced."""
        if self._community_codes is None:
            self._community_codes = frozenset(
                r[0] for r in self.conn.execute("SELECT code FROM ref_community")
            )
        return self._community_codes
