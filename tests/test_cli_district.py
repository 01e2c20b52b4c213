"""The district's commands end to end: enrol from a bundle or a key file, list devices, revoke, the district demo."""

from __future__ import annotations

import csv
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from nacl.signing import SigningKey

from fieldapp import crypto
from fieldapp.cli import main
from fieldapp.kinds import LABELS
from fieldapp.sqlite import sqlite3
from fieldapp.store import Store

from .conftest import COMMUNITY, CURRENT_TABLES, STREET, elder_data
from .sync.helpers import dump_hash

PASSPHRASE = "correct-horse-battery-staple"
ENROLLED = "SELECT device_id, public_key, fingerprint, label, enrolled_by, revoked_at, revoked_by FROM enrolled_devices"


def run(*args: object, input: str | None = None) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def ok(*args: object) -> Result:
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result


def enrolled_rows(db: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    rows = [tuple(r) for r in conn.execute(ENROLLED)]
    conn.close()
    return rows


@dataclass(frozen=True)
class Setup:
    """A district database and a device set up with its key, with one exported bundle."""

    db: Path
    bundle: Path
    key_file: Path  # the device's public key file (device-key show --out)
    device_id: str
    label: str
    public: str
    fingerprint: str


@pytest.fixture(scope="module")
def district_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The district's key pair, made once for the module (Argon2id is slow on purpose)."""
    keys = tmp_path_factory.mktemp("keys")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FIELDAPP_KEY_PASSPHRASE", PASSPHRASE)
        result = CliRunner().invoke(main, ["district", "keygen", "--out", str(keys)])
    assert result.exit_code == 0, result.output
    return keys


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, district_keys: Path) -> Setup:
    monkeypatch.setenv("FIELDAPP_USER", "区级管理员")
    district_db, device_db = tmp_path / "district.db", tmp_path / "device.db"
    ok("district", "init", "--db", district_db)
    ok(
        "init",
        "--db",
        device_db,
        "--street",
        STREET,
        "--community",
        COMMUNITY,
        "--worker",
        "周红",
        "--district-key",
        district_keys / "district.public.json",
    )
    with Store.open(device_db) as store:
        store.create("elder", elder_data())
        dev, public = store.device(), store.keys()["sign_public"]
    assert dev is not None
    ok("export", "--db", device_db, "--out", tmp_path / "out", "--mkdir")
    (bundle,) = sorted((tmp_path / "out").glob("*.fieldbundle"))
    ok("device-key", "show", "--db", device_db, "--out", tmp_path / "device.public.json")
    fp = crypto.fingerprint(crypto.unb64(public))
    return Setup(
        district_db, bundle, tmp_path / "device.public.json", dev.device_id, dev.label, public, fp
    )


def test_enroll_from_a_bundle_records_the_devices_key(setup: Setup) -> None:
    result = ok("district", "enroll", "--db", setup.db, setup.bundle, "--yes")
    assert result.output.splitlines() == [
        f"设备 device {setup.device_id}  {setup.label}",
        f"社区 community: {COMMUNITY}",
        f"指纹 fingerprint: {setup.fingerprint}",
        "已登记 (enrolled)",
    ]
    assert enrolled_rows(setup.db) == [
        (setup.device_id, setup.public, setup.fingerprint, setup.label, "区级管理员", None, None)
    ]
    # the same device from its key file: already enrolled with that key, nothing changes
    again = ok("district", "enroll", "--db", setup.db, setup.key_file, "--yes")
    assert again.output.splitlines()[1:3] == [
        f"社区 community: {COMMUNITY}",
        f"指纹 fingerprint: {setup.fingerprint}",
    ]
    assert len(enrolled_rows(setup.db)) == 1


def test_enroll_asks_and_a_no_enrols_nothing(setup: Setup) -> None:
    result = run("district", "enroll", "--db", setup.db, setup.bundle, input="n\n")
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == "Error: 未登记 (not enrolled)"
    assert enrolled_rows(setup.db) == []


def test_enroll_refuses_a_bundle_whose_key_is_not_its_signer(setup: Setup, tmp_path: Path) -> None:
    forged = tmp_path / setup.bundle.name
    with zipfile.ZipFile(setup.bundle) as src, zipfile.ZipFile(forged, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "manifest.json":  # names another device's key; the signature stays
                m = json.loads(data)
                m["device_public_key"] = crypto.b64(bytes(SigningKey.generate().verify_key))
                data = json.dumps(m).encode()
            dst.writestr(name, data)
    before = dump_hash(setup.db)
    result = run("district", "enroll", "--db", setup.db, forged, "--yes")
    assert result.exit_code == 1
    assert "同步包的签名与其中的设备公钥不符" in result.output
    assert "Traceback" not in result.output
    assert dump_hash(setup.db) == before


def test_devices_lists_each_device_and_its_state(setup: Setup) -> None:
    empty = ok("district", "devices", "--db", setup.db)
    assert empty.output == ""
    ok("district", "enroll", "--db", setup.db, setup.key_file, "--yes")
    listed = ok("district", "devices", "--db", setup.db)
    assert listed.output.splitlines() == [
        f"{setup.device_id}  {setup.label}  {setup.fingerprint}  有效 active"
    ]
    ok("district", "revoke", "--db", setup.db, setup.device_id)
    revoked_at = enrolled_rows(setup.db)[0][5]
    listed = ok("district", "devices", "--db", setup.db)
    assert listed.output.splitlines() == [
        f"{setup.device_id}  {setup.label}  {setup.fingerprint}  已撤销 revoked {revoked_at}"
    ]


def test_revoke_marks_the_device_and_its_bundles_are_refused(setup: Setup) -> None:
    ok("district", "enroll", "--db", setup.db, setup.bundle, "--yes")
    checked = ok("verify", "--db", setup.db, setup.bundle)
    assert checked.output.startswith(f"OK     {setup.bundle.name}  (format 2, ")
    result = ok("district", "revoke", "--db", setup.db, setup.device_id)
    assert result.output == f"已撤销 {setup.device_id} (revoked)\n"
    ((device_id, *_, revoked_at, revoked_by),) = enrolled_rows(setup.db)
    assert device_id == setup.device_id and revoked_by == "区级管理员"
    assert isinstance(revoked_at, str) and revoked_at[:2] == "20"
    refused = run("verify", "--db", setup.db, setup.bundle)
    assert refused.exit_code == 1
    assert refused.output == (
        f"无效   {setup.bundle.name}: 设备 {setup.device_id[:8]} 已于 {revoked_at} 撤销，其同步包不予接受"
        "（被盗前的包可由主管逐个接受：fieldapp district accept-bundle 文件）"
        f"（device {setup.device_id[:8]} was revoked on {revoked_at}: its bundles are refused"
        " (a bundle made before the theft can be accepted with `fieldapp district accept-bundle FILE`)）\n"
    )
    # revoking twice, or a device never enrolled, is refused and changes nothing
    before = dump_hash(setup.db)
    twice = run("district", "revoke", "--db", setup.db, setup.device_id)
    unknown = run("district", "revoke", "--db", setup.db, "0000-not-a-device")
    for r in (twice, unknown):
        assert r.exit_code == 1 and "没有该已登记且未撤销的设备" in r.output
    assert dump_hash(setup.db) == before
    # and a revoked device cannot be enrolled again
    back = run("district", "enroll", "--db", setup.db, setup.bundle, "--yes")
    assert back.exit_code == 1 and "该设备已被撤销，不能重新登记" in back.output
    assert enrolled_rows(setup.db)[0][5] == revoked_at


# --------------------------------------------------------------- demo --district


def records(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """The versions and the current tables (the device's own key is random, so not the whole file)."""
    conn = sqlite3.connect(db)
    out = {
        t: [tuple(r) for r in conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2")]
        for t in ("versions", *CURRENT_TABLES)
    }
    conn.close()
    return out


@pytest.fixture
def two_communities(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A seed whose community list has two communities, so the district demo runs in seconds."""
    from fieldapp import paths

    seed = tmp_path / "seed"
    seed.mkdir()
    for f in paths.seed_dir().iterdir():
        if f.is_file():
            (seed / f.name).write_bytes(f.read_bytes())
    with (seed / "communities.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    keep = [r for r in rows[1:] if r[0] in (COMMUNITY, "321202001001")]
    with (seed / "communities.csv").open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([rows[0], *keep])
    monkeypatch.setenv("FIELDAPP_SEED", str(seed))
    return sorted(r[0] for r in keep)


def test_demo_district_makes_one_database_per_community(
    two_communities: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "district"
    args = ("demo", "--district", out, "--scale", "0.02", "--seed", "3", "--today", "2026-06-30")
    result = ok(*args, "--jobs", "1")
    files = sorted(out.glob("*.db"))
    assert [f.stem for f in files] == two_communities
    totals: dict[str, int] = {}
    for f in files:
        with Store.open(f) as store:
            dev = store.device()
            assert dev is not None and dev.community_code == f.stem
            for kind, n in store.counts(include_deleted=True).items():
                totals[kind] = totals.get(kind, 0) + n
    lines = result.output.splitlines()
    assert lines[1] == f"2 个社区数据库 → {out}"
    printed = {line.split()[0]: line.split()[-1] for line in lines[2:-1]}
    expected = {LABELS[k][0]: f"{n:,}" for k, n in totals.items() if k != "versions"}
    assert printed == {**expected, "版本": f"{totals['versions']:,}"}
    assert len(printed) == 9 and totals["elder"] >= 10  # 8 kinds and the versions
    assert lines[-1].startswith("用时 ")
    # the same seed again, in parallel, gives the same data
    again = ok("demo", "--district", tmp_path / "again", *args[3:], "--jobs", "2")
    assert again.output.splitlines()[2:-1] == lines[2:-1]
    for f in files:
        assert records(f) == records(tmp_path / "again" / f.name)
    # a folder that already has databases is refused; --district does not take --db
    refused = run(*args)
    assert refused.exit_code == 1 and "已有数据库文件" in refused.output
    mixed = run(*args, "--db", tmp_path / "x.db")
    assert (
        mixed.exit_code == 2 and "--district 不能与 --db/--community/--elders 同用" in mixed.output
    )
