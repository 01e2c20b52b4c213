"""The merge on both cores (issue 20, sync/pipeline.py): a second process reads and validates the
bundles while the merging process writes. The database is the one a merge in one process gives,
a refusal's reason is the same, and the reader process neither outlives the merge nor is trusted
with anything the writer does not check."""

from __future__ import annotations

import json
import pickle
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from fieldapp import crypto, db, dbkey
from fieldapp.demo import generate_community
from fieldapp.store import Store
from fieldapp.store.rows import BuiltRow
from fieldapp.sync import apply, merge, pipeline
from fieldapp.sync.bundle_format import BundleError
from fieldapp.sync.bundle_read import open_bundle
from fieldapp.sync.export import export
from fieldapp.sync.merge import merge_files

from .helpers import current_tables, district, edit_payload, rebuild
from .test_group_merge import Bundles, _fresh, _one_by_one, _tampered, bundles, normalised_hash

__all__ = ["bundles"]  # the fixture, shared with test_group_merge


@pytest.fixture(autouse=True)
def _reader_reads_all(monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer claims no file (the tests below count who read what); the claims' own tests
    turn it back on."""
    monkeypatch.setattr(pipeline, "SHARE", False)


def _no_reading_here(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the bundles this process reads itself (the reader process is not patched)."""
    read_here: list[int] = []
    real = apply.checked_lines

    def counted(*args: object, **kwargs: object) -> object:
        read_here.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(apply, "checked_lines", counted)
    return read_here


def test_both_cores_give_the_database_of_one_process(
    bundles: Bundles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _one_by_one(bundles, tmp_path / "alone.db") == ["merged"] * 5
    read_here = _no_reading_here(monkeypatch)
    store = next(_fresh(bundles, tmp_path / "both.db"))
    assert not db.encrypted(store.conn)  # the writer turns payloads into columns
    results = merge_files(store.conn, bundles.files, allow_v1=True, both_cores=True)
    store.close()
    assert [r.status for r in results] == ["merged"] * 5
    assert read_here == []  # every bundle's lines came from the reader process
    assert normalised_hash(tmp_path / "both.db") == normalised_hash(tmp_path / "alone.db")


def test_files_the_writer_claims_give_the_database_of_one_process(
    bundles: Bundles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer claims the files the reader has not begun (the first one at least: the reader
    is still starting) and reads them itself; the database is the one a single process gives."""
    monkeypatch.setattr(pipeline, "SHARE", True)
    assert _one_by_one(bundles, tmp_path / "alone.db") == ["merged"] * 5
    read_here = _no_reading_here(monkeypatch)
    results = _both(bundles, tmp_path, bundles.files)
    assert [r.status for r in results] == ["merged"] * 5
    assert 1 <= len(read_here) <= 5
    assert normalised_hash(tmp_path / "both.db") == normalised_hash(tmp_path / "alone.db")


def test_a_claimed_file_is_left_to_the_writer(
    bundles: Bundles, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file claimed before the reader comes to it is skipped: the reader sends nothing of it, and
    the writer gets every other file's lines whole. A claim is made only for a file the reader
    has sent nothing of."""
    monkeypatch.setattr(pipeline, "SHARE", True)
    files = [bundles.files[0]] * 30
    with open_bundle(files[0], allow_v1=True) as b:
        manifest = b.manifest
    n = sum(manifest.counts.values())
    reader = pipeline.Reader(files, None, allow_v1=True)
    try:
        assert reader.lines(0, manifest) is None  # the reader is still starting: the writer's
        assert reader._claim(29)
        deadline = time.monotonic() + 60
        while not reader.sent and time.monotonic() < deadline:  # it started, on file 1
            time.sleep(0.01)
        for i in range(1, 30):
            lines = reader.lines(i, manifest)
            if i in reader._claimed:
                assert lines is None
            else:
                assert lines is not None and len(list(lines)) == n
                assert not reader._claim(i)  # it sent this one
        assert reader._claimed >= {0, 29} and len(reader._claimed) < 30
        while (message := reader._next()) is not None and message[0] != "done":
            pass
        assert message is not None and 29 not in reader.sent  # done, and 29 skipped
    finally:
        reader.close()


def test_a_small_run_stays_in_one_process(
    bundles: Bundles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """By default a run starts the reader only for enough versions; `both_cores=False` never."""
    read_here = _no_reading_here(monkeypatch)
    store = next(_fresh(bundles, tmp_path / "d.db"))
    merge_files(store.conn, bundles.files[:2], allow_v1=True)
    merge_files(store.conn, bundles.files[2:], allow_v1=True, both_cores=False)
    store.close()
    assert len(read_here) == 5


def test_a_refusal_on_both_cores_is_that_of_the_bundle_alone(
    bundles: Bundles, tmp_path: Path
) -> None:
    """A bundle cut short fails in the reader: the writer merges it itself, so its refusal says
    what a merge of it alone says, and the other bundles are merged."""
    bad = _tampered(bundles, tmp_path)
    files = [*bundles.files[:2], bad, *bundles.files[3:]]
    alone, expected = _alone(bundles, tmp_path, files, bad)
    results = _both(bundles, tmp_path, files)
    assert (
        [r.status for r in results] == alone == ["merged", "merged", "invalid", "merged", "merged"]
    )
    assert results[2].reason == expected.reason
    assert normalised_hash(tmp_path / "both.db") == normalised_hash(tmp_path / "alone.db")


def test_invalid_lines_kept_aside_are_the_same_on_both_cores(
    bundles: Bundles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--skip-invalid: the lines the reader rejected are recorded as a merge in one process does."""

    def spoil(lines: list[str]) -> list[str]:
        bad = json.loads(lines[3])
        bad["payload"]["name"] = "改了名字"  # the content_hash no longer matches
        return [
            *lines[:3],
            json.dumps(bad, ensure_ascii=False) + "\n",
            edit_payload(lines[4], phone="1"),
            *lines[5:],
        ]

    spoilt = rebuild(bundles.files[0], tmp_path / "spoilt.fieldbundle", lines=spoil)
    files = [spoilt, *bundles.files[1:]]
    runs = {}
    read_here = _no_reading_here(monkeypatch)
    for both in (False, True):
        read_here.clear()
        store = next(_fresh(bundles, tmp_path / f"{both}.db"))
        runs[both] = merge_files(
            store.conn, files, allow_v1=True, skip_invalid=True, both_cores=both
        )
        store.close()
        assert len(read_here) == (0 if both else 5)
    one, two = runs[False], runs[True]
    assert [r.status for r in two] == [r.status for r in one] == ["merged"] * 5
    assert len(one[0].rejected_rows) == 2
    assert [r.rejected_rows for r in two] == [r.rejected_rows for r in one]
    assert [r.rejected for r in two] == [r.rejected for r in one]
    assert normalised_hash(tmp_path / "True.db") == normalised_hash(tmp_path / "False.db")


def test_a_bundle_that_fails_in_the_reader_is_merged_as_alone(
    bundles: Bundles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A manifest whose counts are one too many (digests right): the reader sends the lines and
    then fails at their end. The group is rolled back, its earlier bundles merged again here, the
    bad one refused as alone, the later ones still taken from the reader."""
    kind = next(iter(json.loads(_manifest(bundles.files[2]))["counts"]))

    def more(m: dict[str, object]) -> None:
        m["counts"][kind] += 1  # type: ignore[index]

    bad = rebuild(bundles.files[2], tmp_path / "counts.fieldbundle", manifest=more)
    files = [*bundles.files[:2], bad, *bundles.files[3:]]
    alone, expected = _alone(bundles, tmp_path, files, bad)
    assert expected.status == "invalid" and "清单" in (expected.reason or "")
    monkeypatch.setattr(merge, "GROUP_VERSIONS", 10**9)
    read_here = _no_reading_here(monkeypatch)
    results = _both(bundles, tmp_path, files)
    assert (
        [r.status for r in results] == alone == ["merged", "merged", "invalid", "merged", "merged"]
    )
    assert results[2].reason == expected.reason
    assert len(read_here) == 3  # the two earlier bundles again and the bad one alone
    assert normalised_hash(tmp_path / "both.db") == normalised_hash(tmp_path / "alone.db")


def _alone(
    bundles: Bundles, tmp_path: Path, files: list[Path], bad: Path
) -> tuple[list[str], merge.BundleResult]:
    """The statuses of `files` merged one by one in one process, and `bad` merged alone."""
    alone = _one_by_one(bundles, tmp_path / "alone.db", files)
    store = next(_fresh(bundles, tmp_path / "x.db"))
    expected = merge.merge_bundle(store.conn, bad, allow_v1=True)
    store.close()
    return alone, expected


def _both(bundles: Bundles, tmp_path: Path, files: list[Path]) -> list[merge.BundleResult]:
    """`files` merged on both cores into a new district database, both.db."""
    store = next(_fresh(bundles, tmp_path / "both.db"))
    try:
        return merge_files(store.conn, files, allow_v1=True, both_cores=True)
    finally:
        store.close()


def _manifest(path: Path) -> bytes:
    import zipfile

    with zipfile.ZipFile(path) as zf:
        return zf.read("manifest.json")


def test_a_cancelled_run_stops_its_reader(
    bundles: Bundles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    started: list[pipeline.Reader] = []
    real = pipeline.Reader.__init__

    def kept(self: pipeline.Reader, *args: object, **kwargs: object) -> None:
        real(self, *args, **kwargs)  # type: ignore[arg-type]
        started.append(self)

    monkeypatch.setattr(pipeline.Reader, "__init__", kept)
    monkeypatch.setattr(merge, "GROUP_VERSIONS", 1)  # each bundle committed and reported
    stop = threading.Event()
    store = next(_fresh(bundles, tmp_path / "d.db"))
    results = merge_files(
        store.conn,
        bundles.files,
        allow_v1=True,
        both_cores=True,
        cancel=stop,
        on_result=lambda r: stop.set(),
    )
    store.close()
    assert [r.status for r in results] == ["merged"]
    assert len(started) == 1 and started[0]._process.poll() is not None  # stopped and reaped


def test_a_reader_that_dies_leaves_the_writer_to_read(
    bundles: Bundles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader killed at its start: the run reads every bundle itself, with the same result."""
    real = pipeline.Reader.__init__

    def killed(self: pipeline.Reader, *args: object, **kwargs: object) -> None:
        real(self, *args, **kwargs)  # type: ignore[arg-type]
        self._process.kill()

    monkeypatch.setattr(pipeline.Reader, "__init__", killed)
    assert _one_by_one(bundles, tmp_path / "alone.db") == ["merged"] * 5
    results = _both(bundles, tmp_path, bundles.files)
    assert [r.status for r in results] == ["merged"] * 5
    assert normalised_hash(tmp_path / "both.db") == normalised_hash(tmp_path / "alone.db")


def test_lines_read_under_another_manifest_are_not_taken(bundles: Bundles) -> None:
    """The writer takes the reader's lines only for the manifest whose signature it checked."""
    with open_bundle(bundles.files[1], allow_v1=True) as other:
        theirs = other.manifest
    with open_bundle(bundles.files[0], allow_v1=True) as mine:
        ours = mine.manifest
    reader = pipeline.Reader(bundles.files[:2], None, allow_v1=True)
    try:
        assert reader.lines(0, theirs) is None
        lines = reader.lines(1, theirs)  # the next file, its own manifest: taken
        assert lines is not None and len(list(lines)) == sum(theirs.counts.values())
        assert reader.lines(2, ours) is None  # past the end
    finally:
        reader.close()


def test_a_line_crosses_the_pipe_as_it_was_and_a_malformed_one_is_refused(
    bundles: Bundles,
) -> None:
    """A checked line is sent as plain tuples (`_plain`) and made whole again (`_checked`): the
    same line, of the same types; anything else the reader might send is a BundleError, so the
    writer reads that bundle itself."""
    with open_bundle(bundles.files[0], allow_v1=True) as reader:
        lines = list(apply.checked_lines(reader, None, build=True, columns=False))
    assert lines and all(isinstance(line, apply.Checked) for line in lines)
    for line in lines:
        back = pipeline._checked(pickle.loads(pickle.dumps(pipeline._plain(line))))
        assert back == line
        assert isinstance(back, apply.Checked)
        assert type(back.row) is apply.VersionRow and type(back.record) is BuiltRow
    first = pipeline._plain(lines[0])
    assert type(first) is tuple
    for bad in (
        "lines",
        None,
        first[:3],
        (*first[:3], first[3][:2]),
        (*first[:1], (1,), *first[2:]),
    ):
        with pytest.raises(BundleError):
            pipeline._checked(bad)


_ORPHAN = """
import os, sys, time
from pathlib import Path
from fieldapp.sync import pipeline
reader = pipeline.Reader([Path(sys.argv[1])] * 400, None, allow_v1=True)
print(reader._process.pid, flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and /proc")
def test_the_reader_stops_when_the_merge_is_killed(bundles: Bundles, tmp_path: Path) -> None:
    """kill -9 of the merging process: the reader (blocked, far ahead) exits by itself."""
    parent = subprocess.Popen(
        [sys.executable, "-c", _ORPHAN, str(bundles.files[0])],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())
    time.sleep(1.0)
    assert _running(pid)  # blocked on its full pipe, not finished
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 20
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(pid)


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for whoever reaps it here)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


PASS = "correct horse battery staple"


@pytest.fixture
def sealed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[Path], object]:
    """A device's history in three sealed (format 2) bundles, and an empty encrypted district."""
    monkeypatch.setenv("FIELDAPP_KDF", "interactive")
    pub, priv, _ = crypto.district_keygen(tmp_path / "keys", PASS)
    generate_community(tmp_path / "demo.db", seed=5, today=date(2026, 6, 30), elders=20)
    shutil.copy(tmp_path / "demo.db", tmp_path / "device.db")
    device = Store.open(tmp_path / "device.db")
    device.install_district_key(*crypto.load_district_public(pub))
    (n,) = device.conn.execute("SELECT count(*) FROM versions").fetchone()
    files = []
    for cut in (n // 3, 2 * n // 3, None):
        until = (
            None
            if cut is None
            else device.conn.execute(
                "SELECT hlc FROM versions ORDER BY seq LIMIT 1 OFFSET ?", (cut,)
            ).fetchone()[0]
        )
        files.append(
            export(device, tmp_path / "usb", allow_v1=False, until_hlc=until, mkdir=True).path
        )
    monkeypatch.delenv("FIELDAPP_UNENCRYPTED")
    monkeypatch.setenv("FIELDAPP_PASSPHRASE", PASS)
    district(tmp_path / "empty.db", device).close()
    device.close()
    yield tmp_path / "empty.db", files, crypto.load_district_private(priv, PASS)
    dbkey.forget()


@pytest.mark.parametrize("share", [False, True])
def test_sealed_bundles_into_an_encrypted_district_on_both_cores(
    sealed: tuple[Path, list[Path], object],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    share: bool,
) -> None:
    """Sealed bundles into an encrypted district: the same database in one process and on both
    cores, with the reader reading every file or the writer claiming some (`share`: then the
    writer builds the columns of the files it reads, the reader those of the others)."""
    monkeypatch.setattr(pipeline, "SHARE", share)
    empty, files, key = sealed
    read_here = _no_reading_here(monkeypatch)
    assert empty.read_bytes()[:16] != b"SQLite format 3\x00"
    tables = {}
    for both in (False, True):
        path = tmp_path / f"d{both}.db"
        shutil.copy(empty, path)
        shutil.copy(dbkey.key_path(empty), dbkey.key_path(path))
        with Store.open(path) as d:
            assert db.encrypted(d.conn)  # the reader builds the columns too (pipeline.Reader)
            read_here.clear()
            results = merge_files(d.conn, files, district_key=key, both_cores=both)  # type: ignore[arg-type]
            assert [r.status for r in results] == ["merged"] * 3, [r.reason for r in results]
            if not share:
                assert len(read_here) == (0 if both else 3)
            elif both:
                assert 1 <= len(read_here) <= 3  # the first file at least: the reader is starting
            versions = d.conn.execute(
                "SELECT version_id, content_hash, origin FROM versions ORDER BY 1"
            ).fetchall()
            tables[both] = (current_tables(d.conn), [tuple(v) for v in versions])
    assert tables[True] == tables[False]
    assert len(tables[True][1]) > 100
