"""A database with one trashed page: refused at start (when changed outside fieldapp), before an export and before a merge, naming the last good backup."""

from __future__ import annotations

import hashlib
import os
import random
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldapp import backup, integrity
from fieldapp.cli import main
from fieldapp.db import DatabaseDamaged, DatabaseError
from fieldapp.sqlite import sqlite3
from fieldapp.store import Store
from fieldapp.sync.export import export
from fieldapp.sync.merge import merge_files

from .conftest import COMMUNITY, STREET, elder_data, make_id
from .sync.helpers import district


def _fill(path: Path, n: int = 600) -> None:
    with Store.open(path) as s:
        if s.device() is None:
            s.setup_device(street_code=STREET, community_code=COMMUNITY, worker="周红")
        with s.transaction():
            for i in range(n):
                born = date(1930 + i % 30, 1 + i % 12, 1 + i % 28)
                s.create(
                    "elder",
                    elder_data(name=f"老人{i}", id_number=make_id(born, i % 2 == 0, i % 400)),
                )


def trash_page(path: Path, *, keep_mtime: bool) -> int:
    """Overwrite one page in the middle of the file with random bytes (seeded). `keep_mtime`: as
    a failing disk would (the file's time is untouched); otherwise as another program would, later."""
    st = path.stat()
    with open(path, "r+b") as f:
        head = f.read(100)
        page_size = int.from_bytes(head[16:18], "big") or 65536
        pages = st.st_size // page_size
        victim = pages // 2
        f.seek(victim * page_size)
        f.write(random.Random(victim).randbytes(page_size))
    if keep_mtime:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    else:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10 * 10**9))
    return victim


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def device(tmp_path: Path) -> Path:
    path = tmp_path / "device.db"
    _fill(path)
    return path


def test_start_refuses_a_file_changed_outside_and_names_the_good_backup(device: Path) -> None:
    good = backup.snapshot(device, "manual")
    trash_page(device, keep_mtime=False)
    for args in (["status"], ["export", "--out", str(device.parent)]):
        result = CliRunner().invoke(main, [*args, "--db", str(device)])
        assert result.exit_code == 1, result.output
        assert f"数据库 {device.name} 已损坏" in result.output
        assert f"最近的完好备份：{good.name}" in result.output
        assert f"fieldapp backup restore {good.name}" in result.output
        assert "Traceback" not in result.output and "malformed" not in result.output.split("（")[0]


def test_the_newest_sound_backup_is_named_not_a_damaged_one(device: Path) -> None:
    older = backup.snapshot(device, "manual")
    newer = backup.snapshot(device, "manual")
    trash_page(newer, keep_mtime=True)
    trash_page(device, keep_mtime=False)
    with pytest.raises(DatabaseDamaged) as e:
        Store.open(device)
    assert e.value.good_backup == older
    assert newer.name not in e.value.zh and older.name in e.value.zh


def test_export_checks_even_when_the_file_time_did_not_change(device: Path, tmp_path: Path) -> None:
    """A failing disk changes bytes, not the file's time: the start check is skipped, the export's is not."""
    stick = tmp_path / "stick"
    stick.mkdir()
    Store.open(device).close()  # today's daily copy (the first open of a day checks too)
    trash_page(device, keep_mtime=True)
    # it opens (nothing says the file changed); the export's own check refuses it
    with Store.open(device) as s, pytest.raises(DatabaseError) as e:
        export(s, stick, allow_v1=True)
    (daily,) = backup.backups(device, "daily")
    assert "已损坏" in str(e.value) and f"最近的完好备份：{daily.name}" in str(e.value)
    assert list(stick.iterdir()) == []


def test_merging_into_a_damaged_district_is_never_allowed(device: Path, tmp_path: Path) -> None:
    stick = tmp_path / "stick"
    stick.mkdir()
    with Store.open(device) as s:
        export(s, stick, allow_v1=True)
    dpath = tmp_path / "district.db"
    d = district(dpath, device)
    d.close()
    trash_page(dpath, keep_mtime=True)
    before = sha(dpath)
    result = CliRunner().invoke(main, ["merge", str(stick), "--db", str(dpath), "--allow-v1"])
    assert result.exit_code == 1, result.output
    assert "已损坏" in result.output and "Traceback" not in result.output
    assert sha(dpath) == before
    assert backup.backups(dpath, "pre-merge") == []  # no copy of a damaged file is made


def test_a_damaged_district_refuses_every_bundle_of_the_run(device: Path, tmp_path: Path) -> None:
    stick = tmp_path / "stick"
    stick.mkdir()
    with Store.open(device) as s:
        export(s, stick, allow_v1=True)
    dpath = tmp_path / "district.db"
    district(dpath, device).close()
    trash_page(dpath, keep_mtime=True)  # a failing disk: the start check does not see it
    with Store.open(dpath) as d:
        results = merge_files(d.conn, sorted(stick.iterdir()), allow_v1=True)
        assert [r.status for r in results] == ["invalid"]
        assert "已损坏" in (results[0].reason or "")
    assert backup.backups(dpath, "pre-merge") == []


def test_a_damage_found_at_the_first_new_bundle_refuses_it_and_the_rest(
    device: Path, tmp_path: Path
) -> None:
    """The check runs when the first bundle that would write is reached (not before a run where
    everything is already merged); from there on every bundle is refused with the damage."""
    stick = tmp_path / "stick"
    stick.mkdir()
    with Store.open(device) as s:
        first = export(s, stick, allow_v1=True).path
        s.create("elder", elder_data(name="新来的", id_number=make_id(date(1941, 2, 3), True, 7)))
        second = export(s, stick, allow_v1=True).path
        s.create("elder", elder_data(name="又一位", id_number=make_id(date(1942, 3, 4), False, 8)))
        third = export(s, stick, allow_v1=True).path
    dpath = tmp_path / "district.db"
    with district(dpath, device) as d:
        assert [r.status for r in merge_files(d.conn, [first], allow_v1=True)] == ["merged"]
    copies = backup.backups(dpath, "pre-merge")
    trash_page(dpath, keep_mtime=True)
    before = sha(dpath)
    with Store.open(dpath) as d:
        results = merge_files(d.conn, [second, third], allow_v1=True)
    assert [r.status for r in results] == ["invalid", "invalid"]
    assert all("已损坏" in (r.reason or "") for r in results)
    assert sha(dpath) == before and backup.backups(dpath, "pre-merge") == copies


def test_quick_check_runs_only_when_the_file_changed_outside(
    device: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = integrity.problem

    def counted(conn: sqlite3.Connection) -> str | None:
        calls.append(1)
        return real(conn)

    monkeypatch.setattr(integrity, "problem", counted)
    Store.open(device).close()
    assert calls == [1]  # the first open of a day: checked before the daily copy
    Store.open(device).close()
    assert calls == [1]  # fieldapp left it so: no check
    _fill(device, 3)  # fieldapp's own writes
    Store.open(device).close()
    assert calls == [1]
    st = device.stat()
    os.utime(device, ns=(st.st_atime_ns, st.st_mtime_ns + 10 * 10**9))  # touched by something else
    Store.open(device).close()
    assert calls == [1, 1]
    Store.open(device).close()  # checked and recorded: not again
    assert calls == [1, 1]


def test_a_garbled_note_of_the_file_state_means_a_check_not_a_traceback(device: Path) -> None:
    conn = sqlite3.connect(device)
    conn.execute("UPDATE db_state SET value = 'x' || value WHERE key = 'file_size'")
    conn.commit()
    conn.close()
    with Store.open(device) as s:  # checked (sound) and recorded again
        n = s.conn.execute("SELECT value FROM db_state WHERE key = 'file_size'").fetchone()[0]
    assert n.isdigit()


def test_the_app_refuses_a_damaged_file_at_start_with_its_reason(device: Path) -> None:
    good = backup.snapshot(device, "manual")
    trash_page(device, keep_mtime=False)
    result = CliRunner().invoke(main, ["--db", str(device)])  # the worker's app (TUI)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "已损坏" in result.output and good.name in result.output


def test_an_encrypted_database_with_a_trashed_page_is_refused_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FIELDAPP_UNENCRYPTED")
    monkeypatch.setenv("FIELDAPP_PASSPHRASE", "一句够长的口令 for tests")
    path = tmp_path / "device.db"
    _fill(path)
    good = backup.snapshot(path, "manual")  # encrypted with the same key: checked with it
    trash_page(path, keep_mtime=False)
    with pytest.raises(DatabaseDamaged) as e:
        Store.open(path)
    assert e.value.good_backup == good and "已损坏" in e.value.zh


def test_an_encrypted_database_whose_first_page_is_damaged_is_not_a_wrong_passphrase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The passphrase unwrapped the key (an authenticated wrap) and the file's salt is the key's:
    a first page that does not decrypt is damage, reported with the good backup."""
    monkeypatch.delenv("FIELDAPP_UNENCRYPTED")
    monkeypatch.setenv("FIELDAPP_PASSPHRASE", "一句够长的口令 for tests")
    path = tmp_path / "device.db"
    _fill(path, 50)
    good = backup.snapshot(path, "manual")
    with open(path, "r+b") as f:  # page 1 after its 16-byte salt
        f.seek(64)
        f.write(random.Random(1).randbytes(512))
    with pytest.raises(DatabaseDamaged) as e:
        Store.open(path)
    assert e.value.good_backup == good and "已损坏" in e.value.zh
    monkeypatch.setenv("FIELDAPP_PASSPHRASE", "另一句够长的口令 wrong")  # still a wrong passphrase
    from fieldapp.dbkey import forget

    forget(path)
    with pytest.raises(DatabaseError) as wrong:
        Store.open(path)
    assert "口令不对" in str(wrong.value) and not isinstance(wrong.value, DatabaseDamaged)
