"""A merge killed with SIGKILL, inside a bundle or at random moments, leaves every bundle whole or absent."""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from fieldapp.demo import generate_community
from fieldapp.sqlite import sqlite3
from fieldapp.store import Store, StoreError
from fieldapp.sync.export import export
from fieldapp.sync.merge import bundle_files, merge_files

from ..conftest import scaled
from .helpers import current_tables, district, open_conflicts

TODAY = date(2026, 6, 30)
KILLS = scaled(10)  # random kills in CI; FIELDAPP_TEST_SCALE=20 for 200 (tests/conftest.py)


def _state(path: Path) -> tuple[object, ...]:
    s = Store.open(path)
    out = (
        current_tables(s.conn),
        open_conflicts(s.conn),
        sorted(r[0] for r in s.conn.execute("SELECT version_id FROM versions")),
    )
    s.close()
    return out


_MERGE_CLI = [sys.executable, "-m", "fieldapp.cli", "merge", "--allow-v1"]

# Merges the bundles one by one and SIGKILLs itself inside bundle number argv[3], once all its lines
# are written and before its COMMIT: a kill in the middle of a bundle whatever the machine's speed.
_KILL_INSIDE = """
import os, signal, sys
from pathlib import Path
from fieldapp import db
from fieldapp.sync.merge import bundle_files, merge_bundle

def die(done, total):
    if done == total:
        os.kill(os.getpid(), signal.SIGKILL)

conn = db.connect(Path(sys.argv[2]), create=False)
for i, f in enumerate(bundle_files([Path(sys.argv[1])])):
    r = merge_bundle(conn, f, allow_v1=True, progress=die if i == int(sys.argv[3]) else None)
    assert r.status == "merged", r.reason
sys.exit("the kill did not happen")
"""

# The same inside a group (issue 20): merge_files with GROUP_VERSIONS = argv[4], SIGKILLed once
# bundle argv[3] has written its lines and its row, inside its group's transaction.
_KILL_IN_GROUP = """
import os, signal, sys
from pathlib import Path
from fieldapp import db
from fieldapp.sync import merge

merge.GROUP_VERSIONS = int(sys.argv[4])
record, calls = merge._record_bundle, []

def record_then_die(*args, **kw):
    record(*args, **kw)
    calls.append(1)
    if len(calls) == int(sys.argv[3]) + 1:
        os.kill(os.getpid(), signal.SIGKILL)

merge._record_bundle = record_then_die
conn = db.connect(Path(sys.argv[2]), create=False)
merge.merge_files(conn, merge.bundle_files([Path(sys.argv[1])]), allow_v1=True)
sys.exit("the kill did not happen")
"""


@dataclass
class Monthly:
    """The bundles, the empty district database, and what a merge that runs to the end gives."""

    bundles: Path
    files: list[Path]
    empty: Path
    lines: dict[str, int]  # bundle_id → its number of versions
    ids: list[str]  # bundle_id of each file, in merge order
    expected: tuple[object, ...]
    seconds: float  # how long that merge took through the command

    def check_killed(self, db: Path) -> set[str]:
        """The invariant after any kill: an intact file where each bundle is whole or absent; then
        merging everything again gives the uninterrupted result. Returns the bundles it had kept."""
        conn = sqlite3.connect(db)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        merged = {r[0] for r in conn.execute("SELECT bundle_id FROM bundles")}
        assert merged <= set(self.lines)
        for bundle_id, n in self.lines.items():
            present = conn.execute(
                "SELECT count(*) FROM versions WHERE origin = ?", (bundle_id,)
            ).fetchone()[0]
            assert present == (n if bundle_id in merged else 0), (bundle_id, present, n)
        conn.close()
        with Store.open(db) as s:
            results = merge_files(s.conn, self.files, allow_v1=True)
        assert [r.status for r in results] == [
            "already" if i in merged else "merged" for i in self.ids
        ]
        assert _state(db) == self.expected
        return merged


@pytest.fixture(scope="module")
def monthly(tmp_path_factory: pytest.TempPathFactory) -> Monthly:
    """A community's year cut into 12 monthly bundles, an empty district database, and the result
    of merging them all without interruption (through the command, as the kills below do)."""
    root = tmp_path_factory.mktemp("crash")
    generate_community(root / "device.db", seed=11, today=TODAY, elders=80)
    with Store.open(root / "device.db") as store:
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
                    mkdir=True,
                )
            except StoreError:
                continue  # a month with nothing new
    district(root / "empty.db", root / "device.db").close()
    files = bundle_files([root / "bundles"])
    assert len(files) >= 10
    ids, lines = [], {}
    for f in files:
        with zipfile.ZipFile(f) as zf:
            bundle_id = json.loads(zf.read("manifest.json"))["bundle_id"]
            lines[bundle_id] = len(zf.read("versions.ndjson").splitlines())
        ids.append(bundle_id)
    reference = root / "reference.db"
    shutil.copy(root / "empty.db", reference)
    start = time.perf_counter()
    subprocess.run(
        [*_MERGE_CLI, str(root / "bundles"), "--db", str(reference)],
        check=True,
        capture_output=True,
    )
    seconds = time.perf_counter() - start
    return Monthly(
        root / "bundles", files, root / "empty.db", lines, ids, _state(reference), seconds
    )


def test_sigkill_inside_a_bundle_loses_that_bundle_whole(monthly: Monthly, tmp_path: Path) -> None:
    """Deterministic: killed after the last line of bundle k and before its COMMIT, the database
    holds exactly the bundles before k (each committed on its own) and nothing of k."""
    for k in (0, len(monthly.files) // 2, len(monthly.files) - 1):
        db = tmp_path / f"inside{k}.db"
        shutil.copy(monthly.empty, db)
        proc = subprocess.run(
            [sys.executable, "-c", _KILL_INSIDE, str(monthly.bundles), str(db), str(k)],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        assert monthly.check_killed(db) == set(monthly.ids[:k])


def test_sigkill_inside_a_group_loses_the_whole_group(monthly: Monthly, tmp_path: Path) -> None:
    """Deterministic: groups of the first three bundles' versions; killed inside bundle k, the
    database holds exactly the groups committed before k's, and nothing of k's group."""
    n = [monthly.lines[i] for i in monthly.ids]
    group = sum(n[:3])

    def committed_before(k: int) -> int:
        kept, held = 0, 0
        for i in range(k):
            held += n[i]
            if held >= group:
                kept, held = i + 1, 0
        return kept

    for k in (1, 2, 3, len(n) - 1):
        kept = committed_before(k)
        db = tmp_path / f"group{k}.db"
        shutil.copy(monthly.empty, db)
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                _KILL_IN_GROUP,
                str(monthly.bundles),
                str(db),
                str(k),
                str(group),
            ],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        assert monthly.check_killed(db) == set(monthly.ids[:kept]), k
        assert kept == (3 if k == 3 else kept)  # bundle 2 closes the first group


def test_sigkill_at_random_moments_never_leaves_half_a_bundle(
    monthly: Monthly, tmp_path: Path
) -> None:
    """The command killed at random moments: wherever the kill lands (before the first bundle,
    inside one, after the last: it depends on the machine's load), the invariant holds."""
    rng = random.Random(2026)
    for k in range(KILLS):
        db = tmp_path / f"k{k}.db"
        shutil.copy(monthly.empty, db)
        proc = subprocess.Popen(
            [*_MERGE_CLI, str(monthly.bundles), "--db", str(db)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.0, 1.2 * monthly.seconds))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        monthly.check_killed(db)
