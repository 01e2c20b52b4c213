"""The district's Ed25519 signing key beside its X25519 key (district_keys.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fieldapp import crypto
from fieldapp.district_keys import (
    OLD_KEY_ZH,
    keygen,
    load_district_signing,
    read_district_public,
)

PASS = "correct horse 1"


@pytest.fixture(autouse=True)
def _fast_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDAPP_KDF", "interactive")


def test_keygen_writes_both_pairs_under_one_passphrase(tmp_path: Path) -> None:
    pub, priv, fp = crypto.district_keygen(tmp_path, PASS)
    key = read_district_public(pub)
    assert key.fingerprint == fp and key.district_code == "321202"
    assert key.sign_public is not None and key.sign_fingerprint == crypto.fingerprint(
        key.sign_public
    )
    sk = load_district_signing(priv, PASS)
    assert bytes(sk.verify_key) == key.sign_public
    assert crypto.load_district_private(priv, PASS).public_key.encode() == key.public
    sig = sk.sign(b"figures").signature
    assert crypto.verify(crypto.b64(key.sign_public), b"figures", sig)
    private = json.loads(priv.read_text(encoding="utf-8"))
    assert private["sign_fingerprint"] == key.sign_fingerprint and "sign_secret" in private


def test_wrong_passphrase_and_old_key_files_are_refused(tmp_path: Path) -> None:
    pub, priv, _ = crypto.district_keygen(tmp_path, PASS)
    with pytest.raises(crypto.KeyError_, match="口令不对"):
        load_district_signing(priv, "wrong passphrase")
    for path in (pub, priv):  # a key file made before the signing key
        data = json.loads(path.read_text(encoding="utf-8"))
        for k in ("sign_public", "sign_fingerprint", "sign_secret", "district_code"):
            data.pop(k, None)
        path.write_text(json.dumps(data), encoding="utf-8")
    assert read_district_public(pub).sign_public is None
    crypto.load_district_private(priv, PASS)  # still opens for merging
    with pytest.raises(crypto.KeyError_) as e:
        load_district_signing(priv, PASS)
    assert e.value.zh == OLD_KEY_ZH == "请重新生成区级密钥（旧密钥文件没有签名密钥）"


def test_named_district_and_damaged_files(tmp_path: Path) -> None:
    keygen(tmp_path / "k", PASS, "321281")
    assert read_district_public(tmp_path / "k" / "district.public.json").district_code == "321281"
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "fieldapp-district-public-key", "public": "AAAA"}', encoding="utf-8")
    with pytest.raises(crypto.KeyError_, match="长度不对"):
        read_district_public(bad)
    bad.write_text("not json", encoding="utf-8")
    with pytest.raises(crypto.KeyError_, match="无法读取"):
        read_district_public(bad)
