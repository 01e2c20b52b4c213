"""Encrypted vs plain, side by side in one run: merge throughput, year report, search p95, save p95,
start-up to the unlock screen and to the first screen with data; the Argon2id unlock apart.

The rest of the benchmark runs on plain files (its baselines); here each figure is measured on an
encrypted copy of the same database, alternately with the plain one, and judged by the ratio
(issue 18: ≤ 1.15). The copies' key files use Argon2id's interactive limits so that a child's
unlock does not count as database cost; the real unlock (moderate limits) is its own row.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from . import dataset
from .measure import Goal, Row, arg, pct, py, row, timed

BENCH_PASSPHRASE = "bench passphrase 2026"
LIMIT = 1.15

_UNLOCK_CHILD = """
import asyncio, sys
from pathlib import Path
from fieldapp.tui.screens.unlock import UnlockApp, UnlockScreen

async def main():
    app = UnlockApp(Path(sys.argv[1]))
    async with app.run_test(size=(100, 34)) as pilot:
        while not isinstance(app.screen, UnlockScreen):
            await pilot.pause()
asyncio.run(main())
"""


@contextmanager
def encrypted_env(kdf: str | None = "interactive") -> Iterator[None]:
    """Encryption on (the product's default) for this process and its children, then back."""
    saved = {
        k: os.environ.get(k)
        for k in ("FIELDAPP_UNENCRYPTED", "FIELDAPP_PASSPHRASE", "FIELDAPP_KDF")
    }
    os.environ.pop("FIELDAPP_UNENCRYPTED", None)
    os.environ["FIELDAPP_PASSPHRASE"] = BENCH_PASSPHRASE
    if kdf is None:
        os.environ.pop("FIELDAPP_KDF", None)
    else:
        os.environ["FIELDAPP_KDF"] = kdf
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def encrypted_copy(plain: Path, name: str) -> Path:
    """A copy of `plain`, converted by `fieldapp encrypt`'s own code."""
    from fieldapp import encrypt_db

    out = plain.with_name(name)
    shutil.copy(plain, out)
    with encrypted_env():
        encrypt_db.encrypt_in_place(out, BENCH_PASSPHRASE)
    return out


def _side(figure: str, plain: list[float], enc: list[float], unit: str, key: str = "median") -> Row:
    """A row of the encrypted figures, its ratio to the plain ones measured in the same run."""
    pick: Callable[[list[float]], float] = (
        statistics.median if key == "median" else (lambda v: pct(v, 95))
    )
    # more is better for a throughput: its cost is plain / encrypted
    more = unit == "versions/s"
    ratio = pick(plain) / pick(enc) if more else pick(enc) / pick(plain)
    return row(
        f"{figure}, encrypted ({unit})",
        enc,
        unit,
        Goal(f"≤ {LIMIT:g} × plain ({key})", ratio <= LIMIT, ratio),
        f"plain {key} {pick(plain):.3g} {unit}, encrypted {pick(enc):.3g}",
    )


def merge_row(work: Path, data: dataset.DataSet, plain_rates: list[float]) -> Row:
    from .figures import merge_child

    rates = []
    with encrypted_env():
        for i in range(len(plain_rates)):
            db = dataset.new_district(work / f"district-enc{i}.db", data.sealing)
            m = merge_child(data.bundles, db, data.sealing)
            assert m.ok
            rates.append(m.versions / m.seconds)
    return _side("merge throughput", plain_rates, rates, "versions/s")


def report_row(plain: Path, enc: Path, year: int) -> Row:
    def command(db: Path) -> list[str]:
        import sys

        return [
            sys.executable,
            "-m",
            "fieldapp.cli",
            "report",
            "--db",
            arg(db),
            "--year",
            str(year),
        ]

    a, b = [], []
    with encrypted_env():
        for _ in range(5):
            a.append(timed(command(plain)))
            b.append(timed(command(enc)))
    return _side("district report, year, by community", a, b, "s")


def search_row(plain: Path, enc: Path) -> Row:
    from .figures import search_ms

    with encrypted_env():
        a, b = search_ms(plain), search_ms(enc)
    return _side("elder search, district, 100 queries", a, b, "ms", "p95")


def save_row(plain: Path, enc: Path) -> Row:
    from .figures import save_ms

    with encrypted_env():
        a, _ = save_ms(plain)
        b, _ = save_ms(enc)
    return _side("save one home visit", a, b, "ms", "p95")


def startup_rows(plain_device: Path, enc_device: Path, runs: int) -> list[Row]:
    from . import baselines
    from .figures import FIELDAPP_CHILD

    with encrypted_env():
        timed(py(_UNLOCK_CHILD, arg(enc_device)))  # warm
        bare, unlock, plain, enc = [], [], [], []
        for _ in range(runs):
            bare.append(timed(py(baselines.BARE_APP_CHILD)))
            unlock.append(timed(py(_UNLOCK_CHILD, arg(enc_device))))
            plain.append(timed(py(FIELDAPP_CHILD, arg(plain_device))))
            enc.append(timed(py(FIELDAPP_CHILD, arg(enc_device))))
    return [
        _side("TUI start to the unlock screen (vs bare Textual app)", bare, unlock, "s"),
        _side("TUI start to first screen with data, device", plain, enc, "s"),
    ]


def unlock_row(work: Path) -> Row:
    """Argon2id at the product's limits (moderate): the unlock a person waits for, apart."""
    from fieldapp import dbkey

    kf = work / "unlock.db.key.json"
    with encrypted_env(kdf=None):
        dbkey.new_key_file(kf, BENCH_PASSPHRASE)
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            dbkey.unwrap(kf, BENCH_PASSPHRASE)
            times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    return row(
        "unlock: Argon2id (moderate) + SecretBox (s)",
        times,
        "s",
        Goal("≈ 0.5 s", 0.25 <= median <= 1.0),
        "outside the start-up ratio",
    )


def rows(
    work: Path,
    data: dataset.DataSet,
    merge_rates: list[float],
    quick: bool,
    echo: Callable[[str], None],
) -> list[Row]:
    """Every encrypted-vs-plain figure (after the plain figures made `district0.db`, `big-device.db`)."""
    echo("encryption: merge into an encrypted district database")
    out = [merge_row(work, data, merge_rates)]
    district = work / "district0.db"
    enc_district = encrypted_copy(district, "district0-enc.db")
    echo("encryption: year report, search, save on encrypted copies")
    from datetime import date

    out.append(report_row(district, enc_district, date.today().year))
    out.append(search_row(district, enc_district))
    device = work / "big-device.db"
    out.append(save_row(device, encrypted_copy(device, "big-device-enc.db")))
    echo("encryption: start-up, and the Argon2id unlock apart")
    small = sorted(data.devices.glob("*.db"))[0]
    local = work / "startup-device.db"
    shutil.copy(small, local)
    out += startup_rows(local, encrypted_copy(local, "startup-device-enc.db"), 3 if quick else 5)
    out.append(unlock_row(work))
    return out
