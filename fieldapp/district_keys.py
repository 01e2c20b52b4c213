"""The district's Ed25519 signing key beside its X25519 key: made by `district keygen` under the
same passphrase, it signs what the district sends out (indicator bundles to the city, return
bundles to devices), so a reader knows which district wrote a file and that nothing changed.

The private key file holds both secrets, each sealed by SecretBox under the one Argon2id-derived
key (`secret` the X25519 key, `sign_secret` the Ed25519 seed); both key files carry both public
keys and fingerprints and the district's code. Key files made before this module (no signing
key) still open for merging; signing with one asks for a new key pair.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.pwhash
from nacl.exceptions import CryptoError
from nacl.secret import SecretBox
from nacl.signing import SigningKey

from fieldapp import crypto
from fieldapp.crypto import KeyError_, b64, fingerprint, unb64
from fieldapp.indicators import DISTRICT_CODE

OLD_KEY_ZH = "请重新生成区级密钥（旧密钥文件没有签名密钥）"
OLD_KEY_EN = "make a new district key pair: this key file has no signing key"
# a laptop that installed a public key file older than the signing key (SPEC §5b)
OLD_PUBLIC_ZH = (
    "注意：这个区级公钥文件是旧版，没有签名公钥，本机无法核验区里的回传包；"
    "请向区里索取新的区级公钥文件并重新安装"
    "（old district public key file without the signing key: install the new one to import return bundles）"
)


@dataclass(frozen=True)
class DistrictPublic:
    """What a district's public key file tells: its X25519 key (devices seal to it), its Ed25519
    key (readers verify with it; None in a key file older than the signing key) and its code."""

    public: bytes
    fingerprint: str
    sign_public: bytes | None
    sign_fingerprint: str | None
    district_code: str


def add_signing_pair(
    public_path: Path, private_path: Path, box_key: bytes, district_code: str = DISTRICT_CODE
) -> str:
    """Add a new Ed25519 pair to freshly written district key files: the seed sealed by
    `box_key` (the Argon2id-derived key that seals the X25519 secret) into the private file, the
    public key and fingerprint into both. Returns the signing key's fingerprint."""
    sk = SigningKey.generate()
    sign_public = bytes(sk.verify_key)
    fp = fingerprint(sign_public)
    extra = {"sign_public": b64(sign_public), "sign_fingerprint": fp}
    extra["district_code"] = district_code
    _update(public_path, extra)
    _update(
        private_path, extra | {"sign_secret": b64(bytes(SecretBox(box_key).encrypt(bytes(sk))))}
    )
    return fp


def set_district_code(paths: tuple[Path, Path], district_code: str) -> None:
    """Name the district a key pair belongs to (6 digits), in both files."""
    if not (len(district_code) == 6 and district_code.isdigit()):
        raise KeyError_("区县代码应为6位数字", "a district code has 6 digits")
    for p in paths:
        _update(p, {"district_code": district_code})


def keygen(out_dir: Path, passphrase: str, district_code: str, name: str = "district") -> str:
    """`crypto.district_keygen` for a named district (demo districts, tests). Returns the signing
    fingerprint."""
    public_path, private_path, _ = crypto.district_keygen(out_dir, passphrase, name)
    set_district_code((public_path, private_path), district_code)
    return str(read_district_public(public_path).sign_fingerprint)


def _update(path: Path, fields: dict[str, str]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(fields)
    # rewriting an existing file keeps its mode (the private key file stays 0600)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")


def _read(path: Path, fmt: str, what_zh: str, what_en: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise KeyError_(
            f"无法读取{what_zh}：{path.name}", f"cannot read the {what_en}: {path.name}"
        ) from None
    if not isinstance(data, dict) or data.get("format") != fmt:
        raise KeyError_(f"{path.name} 不是{what_zh}", f"{path.name} is not a {what_en}")
    return data


def _key32(data: dict[str, Any], field: str, what_zh: str) -> bytes:
    try:
        raw = unb64(str(data[field]))
    except (KeyError, ValueError):
        raise KeyError_(
            f"{what_zh}缺失或损坏（{field}）", f"{field} is missing or damaged"
        ) from None
    if len(raw) != 32:
        raise KeyError_(f"{what_zh}长度不对（{field}）", f"{field} has the wrong length")
    return raw


def read_district_public(path: Path) -> DistrictPublic:
    """A district public key file, old (no signing key) or new; a damaged file is refused."""
    data = _read(path, crypto.PUBLIC_FORMAT, "区级公钥文件", "district public key file")
    public = _key32(data, "public", "区级公钥")
    sign_public = _key32(data, "sign_public", "区级签名公钥") if "sign_public" in data else None
    code = str(data.get("district_code", DISTRICT_CODE))
    if not (len(code) == 6 and code.isdigit()):
        raise KeyError_(
            "公钥文件的区县代码不是6位数字", "the key file's district_code is not 6 digits"
        )
    return DistrictPublic(
        public,
        fingerprint(public),
        sign_public,
        fingerprint(sign_public) if sign_public else None,
        code,
    )


def district_code_of(private_path: Path) -> str:
    """The district code a private key file names (321202 in key files made before it)."""
    data = _read(private_path, crypto.PRIVATE_FORMAT, "区级私钥文件", "district private key file")
    return str(data.get("district_code", DISTRICT_CODE))


def load_district_signing(path: Path, passphrase: str) -> SigningKey:
    """The district's Ed25519 signing key, opened with the passphrase of its key pair."""
    data = _read(path, crypto.PRIVATE_FORMAT, "区级私钥文件", "district private key file")
    if "sign_secret" not in data:
        raise KeyError_(OLD_KEY_ZH, OLD_KEY_EN)
    try:
        key = nacl.pwhash.argon2id.kdf(
            SecretBox.KEY_SIZE,
            passphrase.encode("utf-8"),
            unb64(data["salt"]),
            opslimit=int(data["opslimit"]),
            memlimit=int(data["memlimit"]),
        )
        sealed = unb64(data["sign_secret"])
    except (KeyError, ValueError, TypeError):
        raise KeyError_("区级私钥文件已损坏", "the district private key file is damaged") from None
    try:
        seed = SecretBox(key).decrypt(sealed)
    except CryptoError:
        raise KeyError_(
            "口令不对，无法打开区级签名密钥",
            "wrong passphrase: the district signing key cannot be opened",
        ) from None
    sk = SigningKey(seed)
    if "sign_public" in data and b64(bytes(sk.verify_key)) != data["sign_public"]:
        raise KeyError_("区级签名密钥与公钥不符", "the signing key does not match its public key")
    return sk
