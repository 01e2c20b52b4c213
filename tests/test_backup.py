"""Backups: before a merge, daily on a device, the last 7 kept, 0600, encrypted with the database's key; `fieldapp backup`, `list`, `restore`."""

from __future__ import annotations

import os
import time
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldapp import backup, dbkey, integrity
from fieldapp.cli import main
from fieldapp.sqlite import sqlite3
from fieldapp.store import Store
from fieldapp.sync.export import export
from fieldapp.sync.merge import merge_files

from .conftest import COMMUNITY, STREET, elder_data, make_id
from .test_integrity import _fill, trash_page

PASS = "一句够长的口令 for tests"


def _device(path: Path, elders: int = 1) -> None:
    with Store.open(path) as s:
        if s.device() is None:
            s.setup_device(street_code=STREET, community_code=COMMUNITY, worker="周红")
        have = s.conn.execute("SELECT count(*) FROM elder").fetchone()[0]
        for i in range(have, have + elders):
            s.create(
                "elder",
                elder_data(name=f"老人{i}", id_number=make_id(date(1940, 1, 1 + i), True, i)),
            )


def elders(path: Path) -> int:
    conn = sqlite3.connect(path)
    n = int(conn.execute("SELECT count(*) FROM elder").fetchone()[0])
    conn.close()
    return n


def cli(*args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), input=input)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result.exit_code, result.output


def test_an_encrypted_backup_stays_encrypted_with_the_same_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FIELDAPP_UNENCRYPTED")
    monkeypatch.setenv("FIELDAPP_PASSPHRASE", PASS)
    db = tmp_path / "device.db"
    _device(db, 2)
    code, out = cli("backup", "--db", str(db))
    assert code == 0, out
    assert [c.reason for c in backup.list_backups(db)] == ["daily", "manual"]  # the open, then ours
    (copy,) = backup.backups(db, "manual")
    assert copy.stat().st_mode & 0o777 == 0o600
    assert dbkey.key_path(copy).stat().st_mode & 0o777 == 0o600
    assert not dbkey.is_plain(copy)  # the bytes on disk are not SQLite's plain format
    key = dbkey.unwrap(dbkey.key_path(copy), PASS, copy)
    assert key == dbkey.remembered(db)  # the same key and salt
    conn = sqlite3.connect(copy)
    key.apply(conn)
    assert conn.execute("SELECT count(*) FROM elder").fetchone() == (2,)
    conn.close()


def test_the_last_seven_of_each_kind_are_kept(tmp_path: Path) -> None:
    db = tmp_path / "device.db"
    _device(db)
    made = [backup.snapshot(db, "pre-merge") for _ in range(9)]
    kept = backup.backups(db, "pre-merge")
    assert kept == made[2:]  # the two oldest went, even when all nine share one second
    other = backup.snapshot(db, "manual")
    assert backup.backups(db, "pre-merge") == made[2:] and backup.backups(db, "manual") == [other]


def test_a_device_gets_at_most_one_copy_a_day(tmp_path: Path) -> None:
    db = tmp_path / "device.db"
    _device(db)  # created in this open: no copy of an empty file
    assert backup.backups(db, "daily") == []
    Store.open(db).close()
    Store.open(db).close()
    (first,) = backup.backups(db, "daily")
    old = time.time() - 25 * 3600
    os.utime(first, (old, old))  # a day later
    Store.open(db).close()
    assert len(backup.backups(db, "daily")) == 2


def test_every_merge_run_is_preceded_by_a_copy(tmp_path: Path) -> None:
    from .sync.helpers import district

    dev, files = _one_bundle(tmp_path)
    dpath = tmp_path / "district.db"
    with district(dpath, dev) as d:
        merge_files(d.conn, files, allow_v1=True, dry_run=True)
        assert backup.backups(dpath, "pre-merge") == []  # a dry run writes nothing
        merge_files(d.conn, files, allow_v1=True)
        (copy,) = backup.backups(dpath, "pre-merge")
    assert copy.stat().st_mode & 0o777 == 0o600
    assert elders(copy) == 0 and elders(dpath) == 2  # the copy is the state before the merge


def test_backup_to_another_folder_refuses_a_missing_one(tmp_path: Path) -> None:
    db = tmp_path / "device.db"
    _device(db)
    code, out = cli("backup", "--db", str(db), "--to", str(tmp_path / "U盘"))
    assert code == 1 and "未找到文件夹" in out
    stick = tmp_path / "stick"
    stick.mkdir()
    code, out = cli("backup", "--db", str(db), "--to", str(stick))
    assert code == 0, out
    (copy,) = stick.iterdir()
    assert copy.name.startswith("device.db.manual-") and copy.stat().st_mode & 0o777 == 0o600
    assert elders(copy) == 1


def test_list_and_restore_after_confirmation(tmp_path: Path) -> None:
    db = tmp_path / "device.db"
    _device(db, 1)
    code, _ = cli("backup", "--db", str(db))
    assert code == 0
    (one,) = backup.backups(db, "manual")
    _device(db, 2)
    assert elders(db) == 3
    code, out = cli("backup", "list", "--db", str(db))
    assert code == 0 and "手动 " in out and one.name in out
    code, out = cli("backup", "restore", one.name, "--db", str(db), input="n\n")
    assert code == 1 and elders(db) == 3  # not confirmed: nothing changed
    code, out = cli("backup", "restore", one.name, "--db", str(db), "--yes")
    assert code == 0, out
    assert elders(db) == 1
    (before,) = backup.backups(db, "pre-restore")
    assert elders(before) == 3 and before.name in out
    assert db.stat().st_mode & 0o777 == 0o600
    with Store.open(db) as s:  # the restored file opens and works
        assert s.conn.execute("SELECT count(*) FROM elder").fetchone()[0] == 1


def test_restore_replaces_a_damaged_database(tmp_path: Path) -> None:
    db = tmp_path / "device.db"
    _fill(db)
    good = backup.snapshot(db, "manual")
    trash_page(db, keep_mtime=False)
    code, out = cli("status", "--db", str(db))
    assert code == 1 and good.name in out
    code, out = cli("backup", "restore", "--db", str(db), "--yes")  # the newest copy
    assert code == 0, out
    code, out = cli("status", "--db", str(db))
    assert code == 0, out
    assert elders(db) == 600
    (kept,) = backup.backups(db, "pre-restore")  # the damaged file kept as it was, damage and all
    assert integrity.last_good_backup(db) != kept and not integrity._sound_copy(kept, None)


def test_the_daily_copy_is_made_only_of_a_sound_file(tmp_path: Path) -> None:
    """Bit rot leaves the file's time alone: the first open of a day checks before it copies."""
    db = tmp_path / "device.db"
    _fill(db)
    Store.open(db).close()
    (yesterday,) = backup.backups(db, "daily")
    old = time.time() - 25 * 3600
    os.utime(yesterday, (old, old))
    trash_page(db, keep_mtime=True)
    with pytest.raises(integrity.DatabaseDamaged) as e:
        Store.open(db)
    assert e.value.good_backup == yesterday
    assert backup.backups(db, "daily") == [yesterday]  # no copy of the damaged file


def test_the_group_db_option_reaches_the_subcommands(tmp_path: Path) -> None:
    db = tmp_path / "device.db"
    _device(db)
    backup.snapshot(db, "manual")
    code, out = cli("backup", "--db", str(db), "list")
    assert code == 0 and "device.db.manual-" in out


def test_a_run_of_bundles_all_merged_before_makes_no_copy(tmp_path: Path) -> None:
    from .sync.helpers import district

    dev, files = _one_bundle(tmp_path)
    dpath = tmp_path / "district.db"
    with district(dpath, dev) as d:
        assert [r.status for r in merge_files(d.conn, files, allow_v1=True)] == ["merged"]
        again = merge_files(d.conn, files, allow_v1=True)
        assert [r.status for r in again] == ["already"]
    assert len(backup.backups(dpath, "pre-merge")) == 1  # the first run's only


def _one_bundle(tmp_path: Path) -> tuple[Path, list[Path]]:
    """A device of two elders and the one bundle it exported."""
    dev = tmp_path / "device.db"
    _device(dev, 2)
    stick = tmp_path / "stick"
    stick.mkdir()
    with Store.open(dev) as s:
        return dev, [export(s, stick, allow_v1=True).path]


def _two_bundles(tmp_path: Path) -> tuple[Path, list[Path]]:
    """A device that exported twice (2 elders, then 1 more): its database and the two bundles."""
    dev = tmp_path / "device.db"
    stick = tmp_path / "stick"
    stick.mkdir()
    _device(dev, 2)
    with Store.open(dev) as s:
        first = export(s, stick, allow_v1=True).path
    _device(dev, 1)
    with Store.open(dev) as s:
        second = export(s, stick, allow_v1=True).path
    return dev, [first, second]


def test_a_re_merge_opens_each_bundle_once_and_neither_checks_nor_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review: the "is anything new" pass before the merge opened every file a second time."""
    from fieldapp.sync import merge

    from .sync.helpers import district

    dev, bundles = _two_bundles(tmp_path)
    dpath = tmp_path / "district.db"
    opened: list[str] = []
    checks: list[int] = []
    real_open, real_problem = merge.open_bundle, integrity.problem

    def counted_open(path: Path, *, allow_v1: bool = False) -> merge.BundleReader:
        opened.append(path.name)
        return real_open(path, allow_v1=allow_v1)

    def counted_problem(conn: sqlite3.Connection) -> str | None:
        checks.append(1)
        return real_problem(conn)

    monkeypatch.setattr(merge, "open_bundle", counted_open)
    monkeypatch.setattr(integrity, "problem", counted_problem)
    with district(dpath, dev) as d:
        checks.clear()  # the district's own start
        first = merge_files(d.conn, bundles, allow_v1=True)
        assert [r.status for r in first] == ["merged", "merged"]
        assert len(checks) == 1 and len(backup.backups(dpath, "pre-merge")) == 1
        opened.clear()
        checks.clear()
        again = merge_files(d.conn, bundles, allow_v1=True)
        assert [r.status for r in again] == ["already", "already"]
        assert opened == [b.name for b in bundles]  # once each
        assert checks == []
    assert len(backup.backups(dpath, "pre-merge")) == 1


def _merge_first_then_both(tmp_path: Path) -> Path:
    """A district that merged the first of two bundles, then a run of both (the first already
    merged: the group's write lock is held when the second one asks for the check and the copy)."""
    from .sync.helpers import district

    dev, (first, second) = _two_bundles(tmp_path)
    dpath = tmp_path / "district.db"
    with district(dpath, dev) as d:
        assert [r.status for r in merge_files(d.conn, [first], allow_v1=True)] == ["merged"]
        results = merge_files(d.conn, [first, second], allow_v1=True)
        assert [r.status for r in results] == ["already", "merged"]
    return dpath


def test_the_copy_is_taken_before_the_first_bundle_that_writes(tmp_path: Path) -> None:
    """A run whose first file is already merged: the check and the copy come at the second."""
    dpath = _merge_first_then_both(tmp_path)
    older, newer = backup.backups(dpath, "pre-merge")
    assert (elders(older), elders(newer), elders(dpath)) == (0, 2, 3)
    assert newer.stat().st_mode & 0o777 == 0o600


def test_the_copy_of_an_encrypted_district_inside_a_group_is_the_state_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy taken while the group holds the write lock is read through a connection of its
    own (SQLite refuses a backup from the writing one), with the district's key."""
    monkeypatch.delenv("FIELDAPP_UNENCRYPTED")
    monkeypatch.setenv("FIELDAPP_PASSPHRASE", PASS)
    dpath = _merge_first_then_both(tmp_path)
    _, newer = backup.backups(dpath, "pre-merge")
    assert not dbkey.is_plain(newer)
    key = dbkey.unwrap(dbkey.key_path(newer), PASS, newer)
    assert key == dbkey.remembered(dpath)
    conn = sqlite3.connect(newer)
    key.apply(conn)
    assert conn.execute("SELECT count(*) FROM elder").fetchone() == (2,)
    conn.close()
