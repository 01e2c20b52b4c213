"""Record and version ids: time-ordered UUIDv7 (RFC 9562), never derived from personal data."""

from __future__ import annotations

import os
import random
import time


def uuid7(ms: int | None = None, rng: random.Random | None = None) -> str:
    """A UUIDv7 string. `ms` and `rng` make it reproducible (the demo generator); by default
    it takes the wall clock and the OS's randomness."""
    if ms is None:
        ms = time.time_ns() // 1_000_000
    rand = rng.getrandbits(74) if rng is not None else int.from_bytes(os.urandom(10), "big") >> 6
    rand_a, rand_b = rand >> 62, rand & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
