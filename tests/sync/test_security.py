"""Format 2: every refusal with its own message and the district database unchanged; the happy path."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from nacl.bindings import (
    crypto_secretstream_xchacha20poly1305_ABYTES as ABYTES,
)
from nacl.bindings import (
    crypto_secretstream_xchacha20poly1305_HEADERBYTES as HEADERBYTES,
)
from nacl.public import PrivateKey

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


@dataclass
class Setup:
    """A district with its key pair, a device with the district's public key, and two sealed bundles."""

    device: Store
    district: Store
    key: PrivateKey
    first: Path  # the device's first 301 versions
    second: Path  # the rest
    db: Path  # the district database's file
    tmp: Path

    def enroll(self) -> None:
        dev = self.device.device()
        assert dev is not None
        self.district.enroll(
            dev.device_id,
            self.device.keys()["sign_public"],
            label=dev.label,
            by="测试",
            communities=[dev.community_code or ""],
        )

    def refused(self, path: Path, words: str) -> None:
        """The merge refuses `path` with `words` in its reason and the district file is unchanged."""
        self.district.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        before = dump_hash(self.db)
        r = merge_bundle(self.district.conn, path, district_key=self.key, allow_v1=False)
        assert r.status == "invalid" and words in (r.reason or ""), r.reason
        assert dump_hash(self.db) == before


@pytest.fixture
def setup(demo: Path, tmp_path: Path) -> Iterator[Setup]:
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
        mkdir=True,
    )
    second = export(device, tmp_path / "usb", allow_v1=False, mkdir=True)
    s = Setup(
        device=device,
        district=district(tmp_path / "district.db"),
        key=crypto.load_district_private(priv, PASS),
        first=first.path,
        second=second.path,
        db=tmp_path / "district.db",
        tmp=tmp_path,
    )
    yield s
    s.device.close()
    s.district.close()


def test_sealed_bundle_merges_row_for_row_once_the_device_is_enrolled(setup: Setup) -> None:
    setup.enroll()
    d = setup.district
    for b in (setup.first, setup.second):
        assert merge_bundle(d.conn, b, district_key=setup.key, allow_v1=False).status == "merged"
    assert current_tables(d.conn) == current_tables(setup.device.conn)
    replay = merge_bundle(d.conn, setup.first, district_key=setup.key, allow_v1=False)
    assert replay.status == "already" and replay.ok


def test_nothing_personal_is_readable_in_the_file(setup: Setup) -> None:
    names = zipfile.ZipFile(setup.first).namelist()
    assert sorted(names) == ["manifest.json", "manifest.sig", "versions.sealed"]
    raw = setup.first.read_bytes()
    some = setup.device.conn.execute("SELECT name, address FROM elder LIMIT 5").fetchall()
    assert len(some) == 5
    for name, address in some:
        assert name.encode() not in raw and address.encode() not in raw
    manifest = json.loads(zipfile.ZipFile(setup.first).read("manifest.json"))
    assert manifest["format_version"] == 2 and "sealed_key" in manifest["encryption"]


def test_unenrolled_device_is_refused(setup: Setup) -> None:
    setup.refused(setup.first, "未登记")


def test_revoked_device_is_refused(setup: Setup) -> None:
    setup.enroll()
    dev = setup.device.device()
    assert dev is not None
    setup.district.revoke(dev.device_id, by="测试")
    setup.refused(setup.first, "撤销")


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


def test_unsigned_bundle_is_refused(setup: Setup) -> None:
    setup.enroll()
    bad = _rebuild(setup.first, setup.tmp / "unsigned.fieldbundle", **{"manifest.sig": b"__drop__"})
    setup.refused(bad, "未签名")


def test_signature_by_another_key_is_refused(setup: Setup) -> None:
    setup.enroll()
    other_private, _ = crypto.new_signing_key()
    body = zipfile.ZipFile(setup.first).read("manifest.json")
    bad = _rebuild(
        setup.first,
        setup.tmp / "forged.fieldbundle",
        **{"manifest.sig": crypto.b64(crypto.sign(other_private, body)).encode()},
    )
    setup.refused(bad, "签名与登记的设备密钥不符")


def test_valid_signature_over_a_swapped_content_is_refused(setup: Setup) -> None:
    setup.enroll()
    other = zipfile.ZipFile(setup.second).read("versions.sealed")
    bad = _rebuild(setup.first, setup.tmp / "swapped.fieldbundle", **{"versions.sealed": other})
    setup.refused(bad, "versions.sealed")


def test_one_flipped_bit_is_refused(setup: Setup) -> None:
    setup.enroll()
    with zipfile.ZipFile(setup.first) as zf:
        sealed = bytearray(zf.read("versions.sealed"))
        manifest = json.loads(zf.read("manifest.json"))
    sealed[len(sealed) // 2] ^= 0x01
    plain_flip = _rebuild(
        setup.first, setup.tmp / "flip.fieldbundle", **{"versions.sealed": bytes(sealed)}
    )
    setup.refused(plain_flip, "versions.sealed")
    # the same flip by someone who holds the device's key and re-signs: the encryption itself refuses it
    manifest["members"]["versions.sealed"]["sha256"] = hashlib.sha256(bytes(sealed)).hexdigest()
    body = json.dumps(manifest, ensure_ascii=False, indent=2).encode()
    sig = crypto.b64(crypto.sign(setup.device.keys()["sign_private"], body)).encode()
    resigned = _rebuild(
        setup.first,
        setup.tmp / "flip2.fieldbundle",
        **{"versions.sealed": bytes(sealed), "manifest.json": body, "manifest.sig": sig},
    )
    setup.refused(resigned, "被改动或损坏")


def test_bundle_sealed_to_another_district_is_refused(setup: Setup) -> None:
    setup.enroll()
    other_pub, _, _ = crypto.district_keygen(setup.tmp / "other", PASS, name="other")
    setup.device.install_district_key(*crypto.load_district_public(other_pub))
    wrong = export(setup.device, setup.tmp / "usb-other", allow_v1=False, full=True, mkdir=True)
    setup.refused(wrong.path, "不是加密给本区")


def test_format_1_is_refused_on_the_default_path(setup: Setup, demo: Path) -> None:
    shutil.copy(demo, setup.tmp / "plain.db")
    with Store.open(setup.tmp / "plain.db") as plain_device:
        plain = export(plain_device, setup.tmp / "usb-v1", allow_v1=True, mkdir=True)
        setup.refused(plain.path, "--allow-v1")
        with pytest.raises(Exception, match="区级公钥"):
            export(plain_device, setup.tmp / "usb-v1", allow_v1=False, full=True, mkdir=True)


def test_wrong_passphrase_and_verify_report(setup: Setup) -> None:
    with pytest.raises(crypto.KeyError_, match="口令不对"):
        crypto.load_district_private(
            setup.tmp / "keys" / "district.private.json", "not the passphrase"
        )
    report = verify(setup.first)
    assert report.ok and "signed by device" in report.signature
    full = verify(setup.first, district_key=setup.key, enrolled={})
    assert not full.ok and "未登记" in (full.problem or "")


@pytest.mark.parametrize("size", [0, 1, 65_535, 65_536, 300_000, 470_000, 951_000, 2_000_000])
def test_sealed_stream_round_trips_any_size_in_bounded_chunks(size: int) -> None:
    """Chunks never exceed the reader's cap, whatever zlib holds back until its flush."""
    rng = random.Random(size)
    # like versions.ndjson: JSON lines with ids and numbers, which zlib compresses about 5:1
    lines: list[bytes] = []
    length = 0  # a running total: summing the list each turn made the 2 MB case quadratic
    while length < size:
        row = {
            "id": f"{rng.getrandbits(128):032x}",
            "n": rng.random(),
            "name": "王建国" * rng.randrange(1, 4),
        }
        lines.append(json.dumps(row).encode() + b"\n")
        length += len(lines[-1])
    data = b"".join(lines)[:size]
    sk = PrivateKey.generate()
    sealed_key, cipher = crypto.seal_stream(
        [data[i : i + 10_000] for i in range(0, len(data), 10_000)] or [b""], bytes(sk.public_key)
    )
    blob = b"".join(cipher)
    # the framing: a header, then length-prefixed chunks that tile the rest exactly; every chunk
    # but the last is one full PLAIN_CHUNK (+ its tag), the last is no larger
    assert len(blob) >= HEADERBYTES + 4 + ABYTES
    pos, sizes = HEADERBYTES, []
    while pos < len(blob):
        (n,) = struct.unpack(">I", blob[pos : pos + 4])
        sizes.append(n)
        pos += 4 + n
    assert pos == len(blob)
    assert all(n == crypto.PLAIN_CHUNK + ABYTES for n in sizes[:-1])
    assert ABYTES <= sizes[-1] <= crypto.PLAIN_CHUNK + ABYTES
    out = b"".join(
        crypto.open_stream(
            sealed_key,
            sk,
            iter([blob[i : i + 7_777] for i in range(0, len(blob), 7_777)]),
            len(data),
        )
    )
    assert out == data
