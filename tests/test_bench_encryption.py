"""The benchmark's encrypted-vs-plain save figure: what it saves, where, and how many times."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from fieldapp import dbkey
from fieldapp.bench import encryption
from fieldapp.bench.figures import SAVE_SEED
from fieldapp.demo import generate_community
from fieldapp.sqlite import sqlite3


def _visits(path: Path, key: dbkey.DbKey | None = None) -> int:
    conn = sqlite3.connect(str(path))
    try:
        if key is not None:
            key.apply(conn)
        return int(conn.execute("SELECT count(*) FROM home_visit").fetchone()[0])
    finally:
        conn.close()


def test_the_encrypted_device_is_the_plain_one_made_again_and_saves_alternate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIELDAPP_KDF", "interactive")
    plain = tmp_path / "big-device.db"
    generate_community(plain, seed=SAVE_SEED, today=date.today(), elders=12)
    enc = encryption.encrypted_device(plain, "big-device-enc.db")
    dbkey.forget()
    assert enc.read_bytes()[:16] != dbkey.PLAIN_HEADER
    key = dbkey.unwrap(dbkey.key_path(enc), encryption.BENCH_PASSPHRASE, enc)
    # the same generator, seed and size: the same records
    before = _visits(plain)
    assert _visits(enc, key) == before > 0

    times = encryption.alternated_saves(plain, enc, saves=7)
    dbkey.forget()

    assert {k: len(v) for k, v in times.items()} == {
        "plain wall": 7,
        "enc wall": 7,
        "plain cpu": 7,
        "enc cpu": 7,
    }
    # through the store into each file: the 7 timed saves and the untimed warm-up one
    assert _visits(plain) == before + 8
    assert _visits(enc, key) == before + 8
    assert all(v > 0 for v in times["enc wall"])
