"""Data at rest on encrypted files: noise on disk (database, WAL, backups), every feature working,
and each bad key situation refused with its reason and nothing changed."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from fieldapp import backup, db, dbkey
from fieldapp.demo import generate_community
from fieldapp.report import figures
from fieldapp.store import Store
from fieldapp.sync.export import export
from fieldapp.sync.merge import merge_bundle

from .conftest import COMMUNITY, STREET, elder_data, make_id
from .sync.helpers import current_tables, enrol

PASS = "correct horse battery staple"
NAME = "欧阳秀英"
ID_NUMBER = make_id(date(1941, 5, 17), male=False, seq=77)
TODAY = date(2026, 6, 30)


@pytest.fixture
def encrypted(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Encryption on (the default outside tests), the passphrase from the environment."""
    monkeypatch.delenv("FIELDAPP_UNENCRYPTED")
    monkeypatch.setenv("FIELDAPP_PASSPHRASE", PASS)
    yield
    dbkey.forget()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _save_elder(path: Path) -> Store:
    s = Store.open(path)
    s.setup_device(street_code=STREET, community_code=COMMUNITY, worker="周红")
    s.create("elder", elder_data(name=NAME, id_number=ID_NUMBER))
    return s


@pytest.mark.usefixtures("encrypted")
def test_the_file_is_noise_its_key_file_private(tmp_path: Path) -> None:
    path = tmp_path / "device.db"
    _save_elder(path).close()
    assert path.read_bytes()[:16] != b"SQLite format 3\x00"
    kf = dbkey.key_path(path)
    assert kf.stat().st_mode & 0o777 == 0o600
    # the key file's database id is the file's salt: its first 16 bytes
    assert json.loads(kf.read_text())["db_id"] == path.read_bytes()[:16].hex()


@pytest.mark.parametrize("encrypt", [True, False])
def test_grep_of_database_wal_and_backup_finds_no_name_and_no_id_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encrypt: bool
) -> None:
    """The plain run proves the grep can fail: there the name and the ID number are found."""
    if encrypt:
        monkeypatch.delenv("FIELDAPP_UNENCRYPTED")
        monkeypatch.setenv("FIELDAPP_PASSPHRASE", PASS)
    path = tmp_path / "device.db"
    s = _save_elder(path)  # kept open: the latest pages are still in the WAL
    copy = backup.snapshot(s.conn, "test")
    wal = path.with_name(path.name + "-wal")
    assert wal.stat().st_size > 0
    blobs = [path.read_bytes(), wal.read_bytes(), copy.read_bytes()]
    s.close()
    found = [
        (NAME.encode() in b, ID_NUMBER.encode() in b, ID_NUMBER.encode("utf-16-le") in b)
        for b in blobs
    ]
    if encrypt:
        assert found == [(False, False, False)] * 3
    else:
        assert any(f[0] for f in found) and any(f[1] for f in found)
    dbkey.forget()


@pytest.mark.usefixtures("encrypted")
def test_store_reads_back_after_a_new_unlock_and_the_backup_opens_with_its_key_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "device.db"
    s = _save_elder(path)
    copy = backup.snapshot(s.conn, "test")
    s.close()
    assert dbkey.key_path(copy).stat().st_mode & 0o777 == 0o600
    dbkey.forget()
    for p in (path, copy):
        with Store.open(p, create=False) as again:
            rows = again.conn.execute("SELECT name, id_number FROM elder").fetchall()
            assert [tuple(r) for r in rows] == [(NAME, ID_NUMBER)]


@pytest.mark.usefixtures("encrypted")
def test_export_merge_round_trip_and_report_on_encrypted_files(tmp_path: Path) -> None:
    device_path = tmp_path / "device.db"
    generate_community(device_path, seed=5, today=TODAY, elders=20)
    assert device_path.read_bytes()[:16] != b"SQLite format 3\x00"
    dbkey.forget()  # everything below unwraps again from the key files
    device = Store.open(device_path, create=False)
    result = export(device, tmp_path / "usb", period="2026-06", allow_v1=True, mkdir=True)
    dist = Store.open(tmp_path / "district.db")
    dist.setup_district()
    enrol(dist, device)  # format 1 is accepted only from an enrolled device
    merged = merge_bundle(dist.conn, result.path, allow_v1=True)
    assert merged.status == "merged", merged.reason
    assert current_tables(dist.conn) == current_tables(device.conn)
    on_device = figures.build(device.conn, 2026, today=TODAY)
    at_district = figures.build(dist.conn, 2026, today=TODAY)
    assert [f.value for f in at_district.figures] == [f.value for f in on_device.figures]
    assert (tmp_path / "district.db").read_bytes()[:16] != b"SQLite format 3\x00"
    device.close()
    dist.close()


# ------------------------------------------------------------------ bad input: refused, unchanged


def _encrypted_db(tmp_path: Path, name: str = "device.db") -> Path:
    path = tmp_path / name
    _save_elder(path).close()
    dbkey.forget()
    return path


@pytest.mark.usefixtures("encrypted")
def test_wrong_passphrase_is_refused_and_nothing_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _encrypted_db(tmp_path)
    before = (_sha(path), _sha(dbkey.key_path(path)))
    monkeypatch.setenv("FIELDAPP_PASSPHRASE", "not the passphrase")
    with pytest.raises(db.DatabaseError, match="口令不对，无法解锁数据库"):
        Store.open(path, create=False)
    assert (_sha(path), _sha(dbkey.key_path(path))) == before


@pytest.mark.usefixtures("encrypted")
@pytest.mark.parametrize(
    "damage",
    ["{not json", '{"format": "fieldapp-database-key"}', "[1, 2]"],
)
def test_damaged_key_file_is_refused(tmp_path: Path, damage: str) -> None:
    path = _encrypted_db(tmp_path)
    dbkey.key_path(path).write_text(damage)
    before = _sha(path)
    with pytest.raises(db.DatabaseError, match="密钥文件已损坏"):
        Store.open(path, create=False)
    assert _sha(path) == before


@pytest.mark.usefixtures("encrypted")
def test_key_file_of_another_database_is_refused(tmp_path: Path) -> None:
    a = _encrypted_db(tmp_path, "a.db")
    b = _encrypted_db(tmp_path, "b.db")
    shutil.copy(dbkey.key_path(b), dbkey.key_path(a))
    with pytest.raises(db.DatabaseError, match="密钥文件 a.db.key.json 不属于数据库 a.db"):
        Store.open(a, create=False)


@pytest.mark.usefixtures("encrypted")
def test_encrypted_database_without_its_key_file_is_refused(tmp_path: Path) -> None:
    path = _encrypted_db(tmp_path)
    dbkey.key_path(path).unlink()
    before = _sha(path)
    with pytest.raises(
        db.DatabaseError, match="若是加密数据库，旁边缺少密钥文件 device.db.key.json"
    ):
        Store.open(path, create=False)
    assert _sha(path) == before
    assert not dbkey.key_path(path).exists()


@pytest.mark.usefixtures("encrypted")
def test_without_a_passphrase_source_the_open_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _encrypted_db(tmp_path)
    monkeypatch.delenv("FIELDAPP_PASSPHRASE")
    dbkey.set_asker(None)
    with pytest.raises(db.DatabaseError, match="请设置 FIELDAPP_PASSPHRASE"):
        Store.open(path, create=False)


def test_unencrypted_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "plain.db"
    Store.open(path).close()  # the suite runs with FIELDAPP_UNENCRYPTED=1
    assert path.read_bytes()[:16] == b"SQLite format 3\x00"
    assert not dbkey.key_path(path).exists()


def _raw_open(path: Path, statements: list[str]) -> int:
    """Elders read through a bare connection keyed with exactly `statements` (no dbkey.apply)."""
    from fieldapp.sqlite import sqlite3

    conn = sqlite3.connect(str(path))
    try:
        for statement in statements:
            conn.execute(statement)
        return int(conn.execute("SELECT count(*) FROM elder").fetchone()[0])
    finally:
        conn.close()


@pytest.mark.usefixtures("encrypted")
def test_new_keys_name_their_page_hmac_and_a_key_file_without_one_still_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new database's page HMAC (here SHA-256, as on a CPU with SHA extensions) is named in its
    key file; one made before that (SQLCipher's SHA-512 default, no "cipher" field) opens as before."""
    from fieldapp.sqlite import sqlite3

    monkeypatch.setattr(dbkey, "new_hmac", lambda: "HMAC_SHA256")
    path = _encrypted_db(tmp_path, "new.db")
    data = json.loads(dbkey.key_path(path).read_text())
    assert data["cipher"] == {"hmac": "HMAC_SHA256"}
    key = dbkey.unwrap(dbkey.key_path(path), PASS, path)
    assert key.settings() == ["PRAGMA main.cipher_hmac_algorithm = HMAC_SHA256"]
    assert _raw_open(path, [key.pragma(), *key.settings()]) == 1
    with pytest.raises(sqlite3.DatabaseError):  # the setting matters: SHA-512 pages do not verify
        _raw_open(path, [key.pragma()])
    # a database and key file as release 2's first build wrote them
    old = tmp_path / "old.db"
    old_key = dbkey.DbKey(key.key, bytes(range(16)))
    assert old_key.hmac == "HMAC_SHA512" and old_key.settings() == []
    dbkey.remember(old, old_key)
    _save_elder(old).close()
    dbkey.new_key_file(dbkey.key_path(old), PASS, key=old_key)
    data = json.loads(dbkey.key_path(old).read_text())
    del data["cipher"]
    dbkey.key_path(old).write_text(json.dumps(data))
    dbkey.forget()
    with Store.open(old, create=False) as s:
        assert s.conn.execute("SELECT name FROM elder").fetchone()[0] == NAME
    # a key file naming an unknown HMAC is damaged, not guessed at
    data["cipher"] = {"hmac": "HMAC_MD5"}
    dbkey.key_path(old).write_text(json.dumps(data))
    dbkey.forget()
    with pytest.raises(db.DatabaseError, match="密钥文件已损坏：old.db.key.json（cipher）"):
        Store.open(old, create=False)


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.machine() != "x86_64", reason="reads /proc/cpuinfo"
)
def test_new_keys_take_the_page_hmac_cheaper_on_this_cpu() -> None:
    """SHA-256 where the CPU has SHA extensions, SHA-512 where it has not (OpenSSL told to ignore
    them, as on an older laptop); each in a fresh interpreter, since the choice is made once."""
    has_sha_ni = " sha_ni" in Path("/proc/cpuinfo").read_text()

    def chosen(**env: str) -> str:
        code = "from fieldapp import dbkey; print(dbkey.new_hmac(), dbkey.DbKey.new().hmac)"
        out = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert out[0] == out[1]
        return out[0]

    assert chosen() == ("HMAC_SHA256" if has_sha_ni else "HMAC_SHA512")
    assert chosen(OPENSSL_ia32cap=":~0x20000000") == "HMAC_SHA512"


def test_new_passphrase_wraps_take_the_measured_argon2id_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FIELDAPP_KDF")
    kf = tmp_path / "x.db.key.json"
    key = dbkey.new_key_file(kf, PASS)
    wrap = json.loads(kf.read_text())["passphrase"]
    assert (wrap["opslimit"], wrap["memlimit"]) == (7, 128 * 1024 * 1024)
    assert dbkey.unwrap(kf, PASS) == key
