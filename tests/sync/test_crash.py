"""A merge killed with SIGKILL at random moments leaves every bundle fully merged or not at all."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from datetime import date
from pathlib import Path

import pytest

from fieldapp.demo import generate_community
from fieldapp.store import Store
from fieldapp.sync.export import export
from fieldapp.sync.merge import bundle_files, merge_files

from .helpers import current_tables, district, open_conflicts

TODAY = date(2026, 6, 30)
KILLS = int(os.environ.get("FIELDAPP_CRASH_RUNS", "20"))  # more: FIELDAPP_CRASH_RUNS=200


@pytest.fixture(scope="module")
def monthly(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A community's year cut into 12 monthly bundles, and an empty district database."""
    root = tmp_path_factory.mktemp("crash")
    generate_community(root / "device.db", seed=11, today=TODAY, elders=80)
    store = Store.open(root / "device.db")
    for m in range(1, 13):
        first_of_next = date(
            TODAY.year - 1 + (TODAY.month + m) // 12, (TODAY.month + m) % 12 + 1, 1
        )
        cut = f"{int(time.mktime(first_of_next.timetuple()) * 1000):013d}-00000"
        try:
            export(
                store,
                root / "bundles",
                period=f"{first_of_next:%Y-%m}",
                until_hlc=cut,
                allow_v1=True,
            )
        except Exception:
            continue  # a month with nothing new
    store.close()
    district(root / "empty.db", root / "device.db").close()
    return root / "bundles", root / "empty.db"


def _state(path: Path) -> tuple[object, ...]:
    s = Store.open(path)
    out = (
        current_tables(s.conn),
        open_conflicts(s.conn),
        sorted(r[0] for r in s.conn.execute("SELECT version_id FROM versions")),
    )
    s.close()
    return out


def test_sigkill_during_merge_never_leaves_half_a_bundle(
    monthly: tuple[Path, Path], tmp_path: Path
) -> None:
    bundles, empty = monthly
    files = bundle_files([bundles])
    assert len(files) >= 10
    lines = {}
    for f in files:
        with zipfile.ZipFile(f) as zf:
            lines[json.loads(zf.read("manifest.json"))["bundle_id"]] = len(
                zf.read("versions.ndjson").splitlines()
            )
    reference = tmp_path / "reference.db"
    shutil.copy(empty, reference)
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "fieldapp.cli",
            "merge",
            str(bundles),
            "--db",
            str(reference),
            "--allow-v1",
        ],
        check=True,
        capture_output=True,
    )
    full_run = time.perf_counter() - start
    expected = _state(reference)
    rng = random.Random(2026)
    partial = 0
    for k in range(KILLS):
        db = tmp_path / f"k{k}.db"
        shutil.copy(empty, db)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fieldapp.cli",
                "merge",
                str(bundles),
                "--db",
                str(db),
                "--allow-v1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.2, full_run))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        conn = sqlite3.connect(db)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        merged = {r[0] for r in conn.execute("SELECT bundle_id FROM bundles")}
        for bundle_id, n in lines.items():
            present = conn.execute(
                "SELECT count(*) FROM versions WHERE origin = ?", (bundle_id,)
            ).fetchone()[0]
            assert present == (n if bundle_id in merged else 0), (k, bundle_id, present, n)
        partial += 0 < len(merged) < len(lines)
        conn.close()
        s = Store.open(db)
        assert all(r.ok for r in merge_files(s.conn, files, allow_v1=True))  # finishing the merge
        s.close()
        assert _state(db) == expected
    assert partial > 0  # some kills did land in the middle of the run
