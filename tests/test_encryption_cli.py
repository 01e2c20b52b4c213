"""The data-at-rest commands: passphrase change, encrypt (and kill -9 during it), district recovery."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldapp import crypto, dbkey
from fieldapp.cli import main
from fieldapp.store import Store

from .conftest import COMMUNITY, STREET, elder_data, make_id
from .sync.helpers import dump_hash

PASS = "correct horse battery staple"
NEW = "一条新的更长的口令 2026"
KEYGEN_PASS = "district key passphrase"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def encrypted(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("FIELDAPP_UNENCRYPTED")
    monkeypatch.setenv("FIELDAPP_PASSPHRASE", PASS)
    yield
    dbkey.forget()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _device(path: Path, elders: int = 1) -> None:
    with Store.open(path) as s:
        s.setup_device(street_code=STREET, community_code=COMMUNITY, worker="周红")
        for n in range(elders):
            born = date(1940, 1, 1) + timedelta(days=n)
            s.create("elder", elder_data(name=f"王建{n}", id_number=make_id(born, male=True)))
    dbkey.forget()


def _names(path: Path) -> list[str]:
    with Store.open(path, create=False) as s:
        return [r[0] for r in s.conn.execute("SELECT name FROM elder ORDER BY name")]


def _run(args: list[str], **env: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.mark.usefixtures("encrypted")
def test_passphrase_change_rewraps_only_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "device.db"
    _device(path)
    before = _sha(path)
    code, out = _run(["passphrase", "change", "--db", str(path)], FIELDAPP_NEW_PASSPHRASE=NEW)
    assert code == 0, out
    assert "口令已更换，数据库未改动" in out
    assert _sha(path) == before
    dbkey.forget()
    with pytest.raises(Exception, match="口令不对"):
        _names(path)
    monkeypatch.setenv("FIELDAPP_PASSPHRASE", NEW)
    assert _names(path) == ["王建0"]


@pytest.mark.usefixtures("encrypted")
def test_passphrase_change_with_a_short_new_passphrase_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "device.db"
    _device(path)
    before = _sha(dbkey.key_path(path))
    code, out = _run(["passphrase", "change", "--db", str(path)], FIELDAPP_NEW_PASSPHRASE="short")
    assert code == 1
    assert "口令至少 10 个字符" in out
    assert _sha(dbkey.key_path(path)) == before


def _plain(tmp_path: Path, elders: int = 3) -> Path:
    path = tmp_path / "device.db"
    _device(path, elders)  # FIELDAPP_UNENCRYPTED=1 in the suite: a plain file
    assert path.read_bytes()[:16] == b"SQLite format 3\x00"
    return path


def test_opening_a_plain_database_offers_the_conversion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _plain(tmp_path)
    monkeypatch.delenv("FIELDAPP_UNENCRYPTED")
    result = CliRunner().invoke(main, ["status", "--db", str(path)])
    assert result.exit_code == 0, result.output
    assert f"运行 fieldapp encrypt --db {path} 可将其就地转换为加密数据库" in result.output


@pytest.mark.parametrize("keep", [False, True])
def test_encrypt_converts_in_place_verified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep: bool
) -> None:
    path = _plain(tmp_path)
    monkeypatch.delenv("FIELDAPP_UNENCRYPTED")
    monkeypatch.setenv("FIELDAPP_PASSPHRASE", PASS)
    args = ["encrypt", "--db", str(path)] + (["--keep-plain"] if keep else [])
    code, out = _run(args)
    assert code == 0, out
    assert path.read_bytes()[:16] != b"SQLite format 3\x00"
    assert dbkey.key_path(path).stat().st_mode & 0o777 == 0o600
    left = sorted(p.name for p in tmp_path.iterdir() if ".plain-" in p.name)
    assert len(left) == (1 if keep else 0)
    assert ("已覆写后删除" in out) is not keep
    dbkey.forget()
    assert _names(path) == ["王建0", "王建1", "王建2"]
    code, out = _run(["encrypt", "--db", str(path)])
    assert code == 1 and "不是未加密的 SQLite 数据库" in out
    dbkey.forget()


def test_kill_9_during_encrypt_leaves_the_original_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _plain(tmp_path, elders=30)
    before = dump_hash(path)  # its content: opening it may checkpoint its WAL
    env = {k: v for k, v in os.environ.items() if k != "FIELDAPP_UNENCRYPTED"}
    env |= {"FIELDAPP_PASSPHRASE": PASS, "FIELDAPP_ENCRYPT_STALL": "60", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fieldapp.cli", "encrypt", "--db", str(path)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    tmp = path.with_name(path.name + ".encrypting")
    deadline = time.monotonic() + 60
    # the stall comes after the export and its row-for-row check: the copy is complete, not swapped
    while not (tmp.exists() and tmp.stat().st_size > 4096) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert tmp.exists()
    assert dump_hash(path) == before
    assert _names(path) == sorted(f"王建{n}" for n in range(30))
    # the next run cleans up and converts
    monkeypatch.delenv("FIELDAPP_UNENCRYPTED")
    monkeypatch.setenv("FIELDAPP_PASSPHRASE", PASS)
    code, out = _run(["encrypt", "--db", str(path)])
    assert code == 0, out
    assert not tmp.exists()
    dbkey.forget()
    assert len(_names(path)) == 30
    dbkey.forget()


@pytest.mark.usefixtures("encrypted")
def test_district_recovers_a_device_and_its_own_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = tmp_path / "keys"
    public, _private, _ = crypto.district_keygen(keys, KEYGEN_PASS)
    recovery = keys / "district.recovery.json"
    assert recovery.stat().st_mode & 0o777 == 0o600
    assert crypto.load_recovery_public(public) is not None
    device, district = tmp_path / "device.db", tmp_path / "district.db"
    _device(device)
    with Store.open(district) as d:
        d.setup_district()
    dbkey.forget()
    for path in (device, district):
        code, out = _run(["passphrase", "recovery", "--db", str(path), str(public)])
        assert code == 0, out
    before = _sha(device), _sha(district)
    # the passphrase is forgotten: the recovery key re-wraps under a new one
    monkeypatch.setenv("FIELDAPP_PASSPHRASE", "forgotten, whatever")
    env = {"FIELDAPP_KEY_PASSPHRASE": KEYGEN_PASS, "FIELDAPP_NEW_PASSPHRASE": NEW}
    key_file = str(dbkey.key_path(device))
    code, out = _run(
        ["district", "recover-device", "--key-file", key_file, "--recovery-key", str(recovery)],
        **env,
    )
    assert code == 0, out
    code, out = _run(
        ["district", "recover", "--db", str(district), "--recovery-key", str(recovery)], **env
    )
    assert code == 0, out
    assert (_sha(device), _sha(district)) == before
    dbkey.forget()
    monkeypatch.setenv("FIELDAPP_PASSPHRASE", NEW)
    assert _names(device) == ["王建0"]
    with Store.open(district, create=False) as d:
        assert d.conn.execute("SELECT count(*) FROM elder").fetchone()[0] == 0


@pytest.mark.usefixtures("encrypted")
def test_recovery_with_the_wrong_passphrase_or_without_a_wrap_changes_nothing(
    tmp_path: Path,
) -> None:
    keys = tmp_path / "keys"
    crypto.district_keygen(keys, KEYGEN_PASS)
    device = tmp_path / "device.db"
    _device(device)
    kf = dbkey.key_path(device)
    before = _sha(kf)
    args = ["district", "recover-device", "--key-file", str(kf)]
    args += ["--recovery-key", str(keys / "district.recovery.json")]
    code, out = _run(args, FIELDAPP_KEY_PASSPHRASE=KEYGEN_PASS, FIELDAPP_NEW_PASSPHRASE=NEW)
    assert code == 1 and "没有区级恢复包装" in out
    code, out = _run(args, FIELDAPP_KEY_PASSPHRASE="wrong one!!", FIELDAPP_NEW_PASSPHRASE=NEW)
    assert code == 1 and "口令不对，无法打开恢复密钥" in out
    assert _sha(kf) == before


@pytest.mark.usefixtures("encrypted")
def test_init_with_the_district_key_wraps_the_database_key_to_its_recovery_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = tmp_path / "keys"
    public, _private, _ = crypto.district_keygen(keys, KEYGEN_PASS)
    recovery = keys / "district.recovery.json"
    device = tmp_path / "device.db"
    args = ["init", "--db", str(device), "--street", STREET, "--community", COMMUNITY]
    code, out = _run([*args, "--worker", "周红", "--district-key", str(public)])
    assert code == 0, out
    fp = crypto.fingerprint(crypto.load_recovery_public(public) or b"")
    assert f"数据库密钥已包装给区级恢复公钥，指纹 {fp}" in out
    wrap = dbkey.read_key_file(dbkey.key_path(device))["recovery"]
    assert wrap["fingerprint"] == fp
    with Store.open(device, create=False) as s:
        s.create("elder", elder_data(name="王建国", id_number=make_id(date(1941, 2, 3), True)))
    dbkey.forget()
    # the worker forgets the passphrase: the district's recovery key opens the same database
    monkeypatch.setenv("FIELDAPP_PASSPHRASE", "forgotten, whatever")
    code, out = _run(
        ["district", "recover-device", "--key-file", str(dbkey.key_path(device))]
        + ["--recovery-key", str(recovery)],
        FIELDAPP_KEY_PASSPHRASE=KEYGEN_PASS,
        FIELDAPP_NEW_PASSPHRASE=NEW,
    )
    assert code == 0, out
    monkeypatch.setenv("FIELDAPP_PASSPHRASE", NEW)
    assert _names(device) == ["王建国"]


@pytest.mark.usefixtures("encrypted")
def test_init_with_an_old_district_key_warns_and_a_plain_database_has_nothing_to_wrap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = tmp_path / "keys"
    public, _private, _ = crypto.district_keygen(keys, KEYGEN_PASS)
    data = json.loads(public.read_text(encoding="utf-8"))
    del data["recovery_public"]  # a district key file made before release 2
    old = tmp_path / "old-public.json"
    old.write_text(json.dumps(data), encoding="utf-8")
    device = tmp_path / "device.db"
    args = ["init", "--db", str(device), "--street", STREET, "--community", COMMUNITY]
    code, out = _run([*args, "--worker", "周红", "--district-key", str(old)])
    assert code == 0, out
    assert "该区级公钥文件没有恢复公钥" in out
    assert "recovery" not in dbkey.read_key_file(dbkey.key_path(device))
    monkeypatch.setenv("FIELDAPP_UNENCRYPTED", "1")
    plain = tmp_path / "plain.db"
    code, out = _run(
        ["init", "--db", str(plain), "--street", STREET, "--community", COMMUNITY]
        + ["--worker", "周红", "--district-key", str(public)]
    )
    assert code == 0, out
    assert "恢复公钥" not in out and not dbkey.key_path(plain).exists()
