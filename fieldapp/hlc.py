"""Hybrid logical clock (SPEC §4): `<unix ms, 13 digits>-<counter, 5 digits>`, never going backwards."""

from __future__ import annotations

import time
from collections.abc import Callable

ZERO = "0000000000000-00000"
_MAX_COUNTER = 99_999
# a clock never adopts a stamp further ahead of its own wall clock than this (SPEC §4 v2): one
# forged `9999999999999-99999` would otherwise spread to every laptop that sees it and overflow
MAX_ADOPT_AHEAD_MS = 24 * 3600 * 1000


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def parse(hlc: str) -> tuple[int, int]:
    ms, counter = hlc.split("-")
    return int(ms), int(counter)


def fmt(ms: int, counter: int) -> str:
    return f"{ms:013d}-{counter:05d}"


class Clock:
    """Strictly increasing on a device even when the wall clock goes back; `observe` keeps it
    above every hlc this device has seen."""

    def __init__(self, last: str = ZERO, now: Callable[[], int] = wall_ms) -> None:
        self.last = last
        self._now = now

    def tick(self) -> str:
        last_ms, last_c = parse(self.last)
        wall = self._now()
        if wall > last_ms:
            ms, c = wall, 0
        elif last_c < _MAX_COUNTER:
            ms, c = last_ms, last_c + 1
        else:  # counter exhausted within one ms: borrow the next ms
            ms, c = last_ms + 1, 0
        self.last = fmt(ms, c)
        return self.last

    def observe(self, seen: str) -> bool:
        """Keep the clock at or above `seen`, unless `seen` lies more than a day ahead of this
        clock's wall time: then the version is kept by its caller but the clock does not move.
        Returns whether the clock adopted it."""
        try:
            ms, counter = parse(seen)
        except ValueError:
            return False
        if ms > self._now() + MAX_ADOPT_AHEAD_MS or counter > _MAX_COUNTER:
            return False
        stamp = fmt(ms, counter)
        if stamp > self.last:  # fixed-width strings sort like the pair they encode
            self.last = stamp
            return True
        return False
