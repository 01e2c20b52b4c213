"""Format 2: every refusal with its own message and the district database unchanged; the happy path."""

from __future__ import annotations

import json
import shutil
import zipfile
from datetime import date
from pathlib import Path

import pytest

from fieldapp import crypto
from fieldapp.demo import generate_community
from fieldapp.store import Store
from fieldapp.sync.bundle import verify
from fieldapp.sync.export import export
from fieldapp.sync.merge import merge_bundle

from .helpers import current_tables, district, dump_hash

PASS = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _fast_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDAPP_KDF", "interactive")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "device.db"
    generate_community(path, seed=9, today=date(2026, 6, 30), elders=25)
    return path


@pytest.fixture
def setup(demo: Path, tmp_path: Path) -> dict[str, object]:
    """A district with its key pair, a device with the district's public key, and one sealed bundle."""
    pub, priv, _ = crypto.district_keygen(tmp_path / "keys", PASS)
    shutil.copy(demo, tmp_path / "device.db")
    device = Store.open(tmp_path / "device.db")
    device.install_district_key(*crypto.load_district_public(pub))
    first = export(
        device,
        tmp_path / "usb",
        allow_v1=False,
        until_hlc=device.conn.execute(
            "SELECT hlc FROM versions ORDER BY seq LIMIT 1 OFFSET 300"
        ).fetchone()[0],
    )
    second = export(device, tmp_path / "usb", allow_v1=False)
    d = district(tmp_path / "district.db")
    return {
        "device": device,
        "district": d,
        "key": crypto.load_district_private(priv, PASS),
        "first": first.path,
        "second": second.path,
        "db": tmp_path / "district.db",
        "tmp": tmp_path,
    }


def _enroll(s: dict[str, object]) -> None:
    device, d = s["device"], s["district"]
    assert isinstance(device, Store) and isinstance(d, Store)
    dev = device.device()
    assert dev is not None
    d.enroll(dev.device_id, device.keys()["sign_public"], label=dev.label, by="测试")


def _refused(s: dict[str, object], path: Path, words: str) -> None:
    d = s["district"]
    assert isinstance(d, Store)
    d.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = dump_hash(s["db"])  # type: ignore[arg-type]
    r = merge_bundle(d.conn, path, district_key=s["key"], allow_v1=False)
    assert r.status == "invalid" and words in (r.reason or ""), r.reason
    assert dump_hash(s["db"]) == before  # type: ignore[arg-type]


def test_sealed_bundle_merges_row_for_row_once_the_device_is_enrolled(
    setup: dict[str, object],
) -> None:
    s = setup
    _enroll(s)
    d, device = s["district"], s["device"]
    assert isinstance(d, Store) and isinstance(device, Store)
    for b in (s["first"], s["second"]):
        assert merge_bundle(d.conn, b, district_key=s["key"], allow_v1=False).status == "merged"  # type: ignore[arg-type]
    assert current_tables(d.conn) == current_tables(device.conn)
    replay = merge_bundle(d.conn, s["first"], district_key=s["key"], allow_v1=False)  # type: ignore[arg-type]
    assert replay.status == "already" and replay.ok


def test_nothing_personal_is_readable_in_the_file(setup: dict[str, object]) -> None:
    names = zipfile.ZipFile(s := setup["first"]).namelist()  # type: ignore[arg-type]
    assert sorted(names) == ["manifest.json", "manifest.sig", "versions.sealed"]
    raw = Path(s).read_bytes()  # type: ignore[arg-type]
    device = setup["device"]
    assert isinstance(device, Store)
    some = device.conn.execute("SELECT name, address FROM elder LIMIT 5").fetchall()
    for name, address in some:
        assert name.encode() not in raw and address.encode() not in raw
    manifest = json.loads(zipfile.ZipFile(s).read("manifest.json"))  # type: ignore[arg-type]
    assert manifest["format_version"] == 2 and "sealed_key" in manifest["encryption"]


def test_unenrolled_device_is_refused(setup: dict[str, object]) -> None:
    _refused(setup, setup["first"], "未登记")  # type: ignore[arg-type]


def test_revoked_device_is_refused(setup: dict[str, object]) -> None:
    _enroll(setup)
    d, device = setup["district"], setup["device"]
    assert isinstance(d, Store) and isinstance(device, Store)
    dev = device.device()
    assert dev is not None
    d.revoke(dev.device_id, by="测试")
    _refused(setup, setup["first"], "撤销")  # type: ignore[arg-type]


def _rebuild(src: Path, dst: Path, **replace: bytes) -> Path:
    with zipfile.ZipFile(src) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members.update(replace)
    drop = [k for k, v in members.items() if v == b"__drop__"]
    with zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            if name not in drop:
                zf.writestr(name, data)
    return dst


def test_unsigned_bundle_is_refused(setup: dict[str, object]) -> None:
    _enroll(setup)
    tmp = setup["tmp"]
    assert isinstance(tmp, Path)
    bad = _rebuild(setup["first"], tmp / "unsigned.fieldbundle", **{"manifest.sig": b"__drop__"})  # type: ignore[arg-type]
    _refused(setup, bad, "未签名")


def test_signature_by_another_key_is_refused(setup: dict[str, object]) -> None:
    _enroll(setup)
    tmp = setup["tmp"]
    assert isinstance(tmp, Path)
    other_private, _ = crypto.new_signing_key()
    body = zipfile.ZipFile(setup["first"]).read("manifest.json")  # type: ignore[arg-type]
    bad = _rebuild(
        setup["first"],
        tmp / "forged.fieldbundle",
        **{"manifest.sig": crypto.b64(crypto.sign(other_private, body)).encode()},
    )  # type: ignore[arg-type]
    _refused(setup, bad, "签名与登记的设备密钥不符")


def test_valid_signature_over_a_swapped_content_is_refused(setup: dict[str, object]) -> None:
    _enroll(setup)
    tmp = setup["tmp"]
    assert isinstance(tmp, Path)
    other = zipfile.ZipFile(setup["second"]).read("versions.sealed")  # type: ignore[arg-type]
    bad = _rebuild(setup["first"], tmp / "swapped.fieldbundle", **{"versions.sealed": other})  # type: ignore[arg-type]
    _refused(setup, bad, "versions.sealed")


def test_one_flipped_bit_is_refused(setup: dict[str, object]) -> None:
    _enroll(setup)
    tmp, device = setup["tmp"], setup["device"]
    assert isinstance(tmp, Path) and isinstance(device, Store)
    with zipfile.ZipFile(setup["first"]) as zf:  # type: ignore[arg-type]
        sealed = bytearray(zf.read("versions.sealed"))
        manifest = json.loads(zf.read("manifest.json"))
    sealed[len(sealed) // 2] ^= 0x01
    plain_flip = _rebuild(
        setup["first"], tmp / "flip.fieldbundle", **{"versions.sealed": bytes(sealed)}
    )  # type: ignore[arg-type]
    _refused(setup, plain_flip, "versions.sealed")
    # the same flip by someone who holds the device's key and re-signs: the encryption itself refuses it
    import hashlib

    manifest["members"]["versions.sealed"]["sha256"] = hashlib.sha256(bytes(sealed)).hexdigest()
    body = json.dumps(manifest, ensure_ascii=False, indent=2).encode()
    sig = crypto.b64(crypto.sign(device.keys()["sign_private"], body)).encode()
    resigned = _rebuild(
        setup["first"],
        tmp / "flip2.fieldbundle",
        **{"versions.sealed": bytes(sealed), "manifest.json": body, "manifest.sig": sig},
    )  # type: ignore[arg-type]
    _refused(setup, resigned, "被改动或损坏")


def test_bundle_sealed_to_another_district_is_refused(setup: dict[str, object], demo: Path) -> None:
    _enroll(setup)
    tmp, device = setup["tmp"], setup["device"]
    assert isinstance(tmp, Path) and isinstance(device, Store)
    other_pub, _, _ = crypto.district_keygen(tmp / "other", PASS, name="other")
    device.install_district_key(*crypto.load_district_public(other_pub))
    wrong = export(device, tmp / "usb-other", allow_v1=False, full=True)
    _refused(setup, wrong.path, "不是加密给本区")


def test_format_1_is_refused_on_the_default_path(setup: dict[str, object], demo: Path) -> None:
    tmp = setup["tmp"]
    assert isinstance(tmp, Path)
    shutil.copy(demo, tmp / "plain.db")
    plain = export(Store.open(tmp / "plain.db"), tmp / "usb-v1", allow_v1=True)
    _refused(setup, plain.path, "--allow-v1")
    with pytest.raises(Exception, match="区级公钥"):
        export(Store.open(tmp / "plain.db"), tmp / "usb-v1", allow_v1=False, full=True)


def test_wrong_passphrase_and_verify_report(setup: dict[str, object]) -> None:
    tmp = setup["tmp"]
    assert isinstance(tmp, Path)
    with pytest.raises(crypto.KeyError_, match="口令不对"):
        crypto.load_district_private(tmp / "keys" / "district.private.json", "not the passphrase")
    report = verify(setup["first"])  # type: ignore[arg-type]
    assert report.ok and "signed by device" in report.signature
    full = verify(setup["first"], district_key=setup["key"], enrolled={})  # type: ignore[arg-type]
    assert not full.ok and "未登记" in (full.problem or "")


@pytest.mark.parametrize("size", [0, 1, 65_535, 65_536, 300_000, 470_000, 951_000, 2_000_000])
def test_sealed_stream_round_trips_any_size_in_bounded_chunks(size: int) -> None:
    """Chunks never exceed the reader's cap, whatever zlib holds back until its flush."""
    import random
    import struct

    from nacl.public import PrivateKey

    rng = random.Random(size)
    # like versions.ndjson: JSON lines with ids and numbers, which zlib compresses about 5:1
    lines: list[bytes] = []
    while sum(map(len, lines)) < size:
        row = {
            "id": f"{rng.getrandbits(128):032x}",
            "n": rng.random(),
            "name": "王建国" * rng.randrange(1, 4),
        }
        lines.append(json.dumps(row).encode() + b"\n")
    data = b"".join(lines)[:size]
    sk = PrivateKey.generate()
    sealed_key, cipher = crypto.seal_stream(
        [data[i : i + 10_000] for i in range(0, len(data), 10_000)] or [b""], bytes(sk.public_key)
    )
    blob = b"".join(cipher)
    pos, header = 24, blob[:24]
    assert header
    while pos < len(blob):
        (n,) = struct.unpack(">I", blob[pos : pos + 4])
        assert n <= crypto.PLAIN_CHUNK + 1024
        pos += 4 + n
    out = b"".join(
        crypto.open_stream(
            sealed_key,
            sk,
            iter([blob[i : i + 7_777] for i in range(0, len(blob), 7_777)]),
            len(data),
        )
    )
    assert out == data
