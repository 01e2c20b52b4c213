"""Keys and the sealed stream of bundle format 2 (docs/security.md), all by libsodium through PyNaCl.

- the district's X25519 key pair: the private key at rest under a passphrase (Argon2id + SecretBox);
- each device's Ed25519 signing key, made at setup; the district enrols its public key;
- a bundle's versions: compressed, then encrypted with a fresh key by XChaCha20-Poly1305
  secretstream (chunked, so memory stays bounded), the key sealed to the district's public key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import struct
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import nacl.bindings as sodium
import nacl.pwhash
import nacl.utils
from nacl.exceptions import BadSignatureError, CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.secret import SecretBox
from nacl.signing import SigningKey, VerifyKey

from fieldapp.text import clean

PUBLIC_FORMAT = "fieldapp-district-public-key"
PRIVATE_FORMAT = "fieldapp-district-private-key"
DEVICE_FORMAT = "fieldapp-device-public-key"
SCHEME = "x25519-sealedbox+xchacha20poly1305-secretstream+zlib"
PLAIN_CHUNK = 64 * 1024
MAX_KEY_FILE = 64 * 1024
_UUID_LEN = 36
_TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
_TAG_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE


class KeyError_(ValueError):
    """A key file or a signature that cannot be used, and why (zh, then en)."""

    def __init__(self, zh: str, en: str) -> None:
        self.zh, self.en = clean(zh), clean(en)
        super().__init__(f"{self.zh}（{self.en}）")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def fingerprint(public: bytes) -> str:
    """What a person compares by eye: 32 hex digits of SHA-256, in groups of four."""
    h = hashlib.sha256(public).hexdigest()[:32].upper()
    return "-".join(h[i : i + 4] for i in range(0, 32, 4))


def _kdf_limits() -> tuple[int, int]:
    # FIELDAPP_KDF=interactive makes tests fast; keys for real use take the moderate limits
    if os.environ.get("FIELDAPP_KDF") == "interactive":
        return nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE, nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE
    return nacl.pwhash.argon2id.OPSLIMIT_MODERATE, nacl.pwhash.argon2id.MEMLIMIT_MODERATE


# ------------------------------------------------------------------ the district's key pair


def district_keygen(
    out_dir: Path, passphrase: str, name: str = "district"
) -> tuple[Path, Path, str]:
    """Write `<name>.public.json` (for devices) and `<name>.private.json` (passphrase-protected),
    and the recovery key pair (`<name>.recovery.json`, same passphrase, to be stored offline)."""
    if len(passphrase) < 10:
        raise KeyError_("口令至少10个字符", "the passphrase needs at least 10 characters")
    from fieldapp.paths import private_dirs

    private_dirs(out_dir)  # it holds the private key: 0700 where fieldapp creates it
    public_path, private_path = out_dir / f"{name}.public.json", out_dir / f"{name}.private.json"
    recovery_path = out_dir / f"{name}.recovery.json"
    for p in (public_path, private_path, recovery_path):
        if p.exists():
            raise KeyError_(f"文件已存在：{p}", f"file exists: {p}")
    sk = PrivateKey.generate()
    pk = bytes(sk.public_key)
    ops, mem = _kdf_limits()
    salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
    key = nacl.pwhash.argon2id.kdf(
        SecretBox.KEY_SIZE, passphrase.encode("utf-8"), salt, opslimit=ops, memlimit=mem
    )
    sealed = SecretBox(key).encrypt(bytes(sk))
    fp = fingerprint(pk)
    write_private(
        private_path,
        json.dumps(
            {
                "format": PRIVATE_FORMAT,
                "kdf": "argon2id",
                "opslimit": ops,
                "memlimit": mem,
                "salt": b64(salt),
                "secret": b64(bytes(sealed)),
                "public": b64(pk),
                "fingerprint": fp,
                "check": _private_check(salt, bytes(sealed), pk, ops, mem),
            },
            indent=2,
        ),
    )
    recovery_public = write_recovery_key(recovery_path, passphrase)
    public_path.write_text(
        json.dumps(
            {
                "format": PUBLIC_FORMAT,
                "public": b64(pk),
                "fingerprint": fp,
                "recovery_public": b64(recovery_public),
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    from fieldapp.district_keys import add_signing_pair  # the Ed25519 pair, under the same key

    add_signing_pair(public_path, private_path, key)
    return public_path, private_path, fp


def write_private(path: Path, text: str) -> None:
    """A new file readable by its owner only from its first byte (0600 on POSIX: no window between
    create and chmod; on Windows the user profile's ACL protects it, docs/security.md). Refuses to
    overwrite an existing file."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0), 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def _private_check(salt: bytes, secret: bytes, public: bytes, ops: int, mem: int) -> str:
    """A digest of the private key file's fields: tells a damaged file from a wrong passphrase
    (the sealed secret alone cannot, both fail its MAC)."""
    h = hashlib.sha256(b"fieldapp-district-private-key-check\0")
    for part in (salt, secret, public, str(ops).encode(), str(mem).encode()):
        h.update(struct.pack(">I", len(part)) + part)
    return h.hexdigest()


def _damaged(path: Path, what_zh: str, what_en: str, detail: str) -> KeyError_:
    name = clean(path.name, 80)
    return KeyError_(
        f"{what_zh} {name} 已损坏（{detail}），请换用完好的副本",
        f"the {what_en} {name} is damaged ({detail}); use an intact copy",
    )


def _read_json(path: Path, fmt: str, what_zh: str, what_en: str) -> dict[str, Any]:
    """The key file as a JSON object of the expected format; a file that is not is damaged."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_KEY_FILE + 1)
    except OSError as e:
        raise KeyError_(
            f"无法读取{what_zh}：{clean(path.name, 80)}",
            f"cannot read the {what_en}: {clean(path.name, 80)} ({e.strerror})",
        ) from None
    if len(raw) > MAX_KEY_FILE:
        raise _damaged(path, what_zh, what_en, "文件过大 / too large")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _damaged(path, what_zh, what_en, "不是 JSON / not JSON") from None
    if not isinstance(data, dict):
        raise _damaged(path, what_zh, what_en, "不是 JSON 对象 / not a JSON object")
    if data.get("format") != fmt:
        name = clean(path.name, 80)
        raise KeyError_(f"{name} 不是{what_zh}", f"{name} is not a {what_en}")
    return data


def _field_bytes(
    data: dict[str, Any], name: str, length: int, where: tuple[Path, str, str]
) -> bytes:
    """A base64 field of a key file with its exact length in bytes; otherwise the file is damaged."""
    value = data.get(name)
    try:
        raw = unb64(value) if isinstance(value, str) else None
    except ValueError:
        raw = None
    if raw is None or len(raw) != length:
        raise _damaged(*where, f"字段 {name} 缺失或无效 / field {name} missing or invalid")
    return raw


def _field_int(
    data: dict[str, Any], name: str, bounds: tuple[int, int], where: tuple[Path, str, str]
) -> int:
    value = data.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not bounds[0] <= value <= bounds[1]:
        raise _damaged(*where, f"字段 {name} 缺失或无效 / field {name} missing or invalid")
    return value


def load_district_public(path: Path) -> tuple[bytes, str]:
    where = (path, "区级公钥文件", "district public key file")
    data = _read_json(path, PUBLIC_FORMAT, *where[1:])
    pk = _field_bytes(data, "public", 32, where)
    fp = fingerprint(pk)
    if data.get("fingerprint", fp) != fp:
        raise _damaged(*where, "指纹与公钥不符 / fingerprint does not match the key")
    return pk, fp


def load_district_private(path: Path, passphrase: str) -> PrivateKey:
    where = (path, "区级私钥文件", "district private key file")
    data = _read_json(path, PRIVATE_FORMAT, *where[1:])
    argon = nacl.pwhash.argon2id
    salt = _field_bytes(data, "salt", argon.SALTBYTES, where)
    secret = _field_bytes(data, "secret", SecretBox.NONCE_SIZE + SecretBox.MACBYTES + 32, where)
    public = _field_bytes(data, "public", 32, where)
    ops = _field_int(data, "opslimit", (argon.OPSLIMIT_MIN, argon.OPSLIMIT_SENSITIVE), where)
    mem = _field_int(data, "memlimit", (argon.MEMLIMIT_MIN, argon.MEMLIMIT_SENSITIVE), where)
    check = data.get("check")
    if check is not None and check != _private_check(salt, secret, public, ops, mem):
        raise _damaged(*where, "校验值不符 / its check digest differs")
    key = argon.kdf(
        SecretBox.KEY_SIZE, passphrase.encode("utf-8"), salt, opslimit=ops, memlimit=mem
    )
    try:
        raw = SecretBox(key).decrypt(secret)
    except CryptoError:
        if check is None:  # a file from before the check digest: either could be the cause
            raise KeyError_(
                "口令不对，或区级私钥文件已损坏",
                "wrong passphrase, or the district private key file is damaged",
            ) from None
        raise KeyError_(
            "口令不对，无法打开区级私钥",
            "wrong passphrase: the district private key cannot be opened",
        ) from None
    sk = PrivateKey(raw)
    if bytes(sk.public_key) != public:
        raise _damaged(*where, "私钥与公钥不符 / the private key does not match its public key")
    return sk


# ------------------------------------------------------------------ device keys


def new_signing_key() -> tuple[str, str]:
    """(private seed, public key), base64, for the device_keys table."""
    sk = SigningKey.generate()
    return b64(bytes(sk)), b64(bytes(sk.verify_key))


def device_public_file(
    path: Path, device_id: str, label: str, public_b64: str, community_code: str | None = None
) -> Path:
    """The device's public key file for enrolment; it names the device's community (SPEC §4a)."""
    pub = unb64(public_b64)
    path.write_text(
        json.dumps(
            {
                "format": DEVICE_FORMAT,
                "device_id": device_id,
                "label": label,
                "community_code": community_code,
                "public": public_b64,
                "fingerprint": fingerprint(pub),
            },
            ensure_ascii=False,
            indent=2,
        ),
        encoding="utf-8",
    )
    return path


def read_device_public(path: Path) -> dict[str, Any]:
    """A device public key file: its device_id (a UUID), label and 32-byte Ed25519 key."""
    where = (path, "设备公钥文件", "device public key file")
    data = _read_json(path, DEVICE_FORMAT, *where[1:])
    public = _field_bytes(data, "public", 32, where)
    device_id, label = data.get("device_id"), data.get("label", "")
    if not isinstance(device_id, str) or len(device_id) != _UUID_LEN:
        raise _damaged(*where, "字段 device_id 缺失或无效 / field device_id missing or invalid")
    if not isinstance(label, str) or len(label) > 200:
        raise _damaged(*where, "字段 label 无效 / field label invalid")
    if data.get("fingerprint", fingerprint(public)) != fingerprint(public):
        raise _damaged(*where, "指纹与公钥不符 / fingerprint does not match the key")
    code = data.get("community_code")
    if code is not None and not (isinstance(code, str) and len(code) == 12 and code.isdigit()):
        raise _damaged(*where, "community_code 应为12位数字 / community_code must be 12 digits")
    return data


def device_box_public(sign_public_b64: str) -> bytes:
    """A device's X25519 public key, derived from its Ed25519 key by libsodium's conversion
    (SPEC §5b): return bundles are sealed to it, and key files keep the one field they have."""
    return bytes(VerifyKey(unb64(sign_public_b64)).to_curve25519_public_key())


def device_box_private(sign_private_b64: str) -> PrivateKey:
    """The X25519 private key matching `device_box_public`, from the device's Ed25519 seed."""
    return SigningKey(unb64(sign_private_b64)).to_curve25519_private_key()


def sign(private_b64: str, message: bytes) -> bytes:
    return SigningKey(unb64(private_b64)).sign(message).signature


def verify(public_b64: str, message: bytes, signature: bytes) -> bool:
    try:
        VerifyKey(unb64(public_b64)).verify(message, signature)
    except (BadSignatureError, ValueError):
        return False
    return True


# ------------------------------------------------------------------ the sealed stream


def seal_stream(plain: Iterable[bytes], district_public: bytes) -> tuple[str, Iterator[bytes]]:
    """Compress and encrypt a byte stream. Returns the sealed stream key (base64, for the manifest)
    and an iterator of the ciphertext: the secretstream header, then length-prefixed chunks."""
    sealed, chunks = seal_stream_to(plain, [district_public])
    return sealed[0], chunks


def seal_stream_to(
    plain: Iterable[bytes], publics: list[bytes]
) -> tuple[list[str], Iterator[bytes]]:
    """`seal_stream` for several readers: one stream key, sealed to each X25519 public key in
    turn (a return bundle is read by every enrolled laptop of its community, SPEC §5b)."""
    key = sodium.crypto_secretstream_xchacha20poly1305_keygen()
    sealed_keys = [b64(SealedBox(PublicKey(pk)).encrypt(key)) for pk in publics]

    def chunks() -> Iterator[bytes]:
        state = sodium.crypto_secretstream_xchacha20poly1305_state()
        yield sodium.crypto_secretstream_xchacha20poly1305_init_push(state, key)
        z = zlib.compressobj(6)
        pending = b""
        for data in plain:
            pending += z.compress(data)
            while len(pending) >= PLAIN_CHUNK:
                part, pending = pending[:PLAIN_CHUNK], pending[PLAIN_CHUNK:]
                c = sodium.crypto_secretstream_xchacha20poly1305_push(
                    state, part, None, _TAG_MESSAGE
                )
                yield struct.pack(">I", len(c)) + c
        pending += z.flush()  # what zlib still held: may be more than one chunk
        while len(pending) > PLAIN_CHUNK:
            part, pending = pending[:PLAIN_CHUNK], pending[PLAIN_CHUNK:]
            c = sodium.crypto_secretstream_xchacha20poly1305_push(state, part, None, _TAG_MESSAGE)
            yield struct.pack(">I", len(c)) + c
        c = sodium.crypto_secretstream_xchacha20poly1305_push(state, pending, None, _TAG_FINAL)
        yield struct.pack(">I", len(c)) + c

    return sealed_keys, chunks()


def open_stream(
    sealed_key: str, district_private: PrivateKey, cipher: Iterator[bytes], max_plain: int
) -> Iterator[bytes]:
    """Decrypt and decompress; any change to a single bit, a missing end, or a key sealed to another
    district stops it with a clear error. `cipher` yields raw bytes in any chunking."""
    reader = _Buffered(cipher)
    state = _open_header(sealed_key, district_private, reader)
    z = zlib.decompressobj()
    produced = 0
    tag = _TAG_MESSAGE
    while tag != _TAG_FINAL:
        part, tag = _pull_chunk(reader, state)
        out = _inflate(z, part, max_plain - produced + 1)
        if tag == _TAG_FINAL:
            out += _inflate(z, None, max_plain - produced - len(out) + 1)
        produced = _within(produced + len(out), max_plain)
        if out:
            yield out
    if reader.take(1):
        raise KeyError_(
            "加密数据结尾之后还有多余内容", "there is data after the end of the encrypted stream"
        )


def _open_header(
    sealed_key: str, district_private: PrivateKey, reader: _Buffered
) -> sodium.crypto_secretstream_xchacha20poly1305_state:
    """The stream key unsealed with the district's key, and the stream's header read."""
    try:
        key = SealedBox(district_private).decrypt(unb64(sealed_key))
    except (CryptoError, ValueError):
        raise KeyError_(
            "同步包不是加密给本区的（密钥不符）", "the bundle is not sealed to this district's key"
        ) from None
    header = reader.take(sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES)
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    try:
        sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, header, key)
    except (CryptoError, ValueError):
        raise KeyError_("加密数据头损坏", "the encrypted stream's header is damaged") from None
    return state


def _inflate(z: Any, part: bytes | None, limit: int) -> bytes:
    """zlib on authenticated data: still refused, not raised, when a signer compressed garbage.
    `part` None flushes what zlib holds at the end of the stream."""
    try:
        return z.flush() if part is None else bytes(z.decompress(part, max(limit, 1)))
    except zlib.error:
        raise KeyError_(
            "加密数据解压失败（内容损坏）", "the decrypted data cannot be decompressed (damaged)"
        ) from None


def _within(produced: int, max_plain: int) -> int:
    """The plain bytes so far, refused as soon as they pass what the manifest declared (a zip bomb stops here)."""
    if produced > max_plain:
        raise KeyError_(
            "解密后数据超过清单所列大小", "the decrypted data is larger than the manifest says"
        )
    return produced


def _pull_chunk(
    reader: _Buffered, state: sodium.crypto_secretstream_xchacha20poly1305_state
) -> tuple[bytes, int]:
    """One length-prefixed chunk of the stream, authenticated: (plain part, tag)."""
    size_bytes = reader.take(4)
    if not size_bytes:
        raise KeyError_("加密数据不完整（截断）", "the encrypted stream ends early (truncated)")
    (size,) = struct.unpack(">I", size_bytes)
    if size > PLAIN_CHUNK + 1024:
        raise KeyError_("加密数据块长度异常", "an encrypted chunk has an impossible length")
    try:
        part, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(
            state, reader.take(size), None
        )
    except (CryptoError, ValueError):
        raise KeyError_(
            "加密数据被改动或损坏（校验失败）",
            "the encrypted data was altered or damaged (authentication failed)",
        ) from None
    return part, tag


class _Buffered:
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks, self.buf = chunks, b""

    def take(self, n: int) -> bytes:
        while len(self.buf) < n:
            more = next(self.chunks, b"")
            if not more:
                break
            self.buf += more
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def id_hmac(secret_b64: str, id_number: str) -> str:
    """The key for duplicate-person detection: an HMAC under the district's secret (a plain hash of
    an 18-digit ID number can be brute-forced in minutes)."""
    normal = id_number.strip().upper()
    return hmac.new(unb64(secret_b64), normal.encode("ascii"), hashlib.sha256).hexdigest()[:32]


def new_hmac_secret() -> str:
    return b64(nacl.utils.random(32))


# ------------------------------------------------------------------ recovery key (data at rest)
# The district's recovery X25519 key pair: devices seal their database key to its public half
# (which travels in the district public key file); its private half, under the keygen passphrase,
# is kept offline and opens a device's or the district's key file when a passphrase is forgotten.

RECOVERY_FORMAT = "fieldapp-district-recovery-key"


def write_recovery_key(path: Path, passphrase: str) -> bytes:
    """A new recovery key pair in `path` (born 0600, private half under the passphrase); its public key."""
    sk = PrivateKey.generate()
    pk = bytes(sk.public_key)
    ops, mem = _kdf_limits()
    salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
    key = nacl.pwhash.argon2id.kdf(
        SecretBox.KEY_SIZE, passphrase.encode("utf-8"), salt, opslimit=ops, memlimit=mem
    )
    data = {
        "format": RECOVERY_FORMAT,
        "kdf": "argon2id",
        "opslimit": ops,
        "memlimit": mem,
        "salt": b64(salt),
        "secret": b64(bytes(SecretBox(key).encrypt(bytes(sk)))),
        "public": b64(pk),
        "fingerprint": fingerprint(pk),
    }
    write_private(path, json.dumps(data, indent=2))
    return pk


def load_recovery_public(path: Path) -> bytes | None:
    """The recovery public key carried by a district public key file (None in an older file)."""
    data = _read_json(path, PUBLIC_FORMAT, "区级公钥文件", "district public key file")
    raw = data.get("recovery_public")
    try:
        pk = unb64(raw) if isinstance(raw, str) else None
    except ValueError:
        pk = None
    if raw is not None and (pk is None or len(pk) != 32):
        raise KeyError_("恢复公钥长度不对", "the recovery public key has the wrong length")
    return pk


def load_recovery_private(path: Path, passphrase: str) -> PrivateKey:
    data = _read_json(path, RECOVERY_FORMAT, "区级恢复密钥文件", "district recovery key file")
    try:
        ops, mem = int(data["opslimit"]), int(data["memlimit"])
        salt, secret = unb64(data["salt"]), unb64(data["secret"])
        if len(salt) != nacl.pwhash.argon2id.SALTBYTES or not 0 < ops <= 64 or mem > 2**31:
            raise ValueError
    except (KeyError, TypeError, ValueError):
        raise KeyError_(
            f"恢复密钥文件已损坏：{path.name}", "the recovery key file is damaged"
        ) from None
    key = nacl.pwhash.argon2id.kdf(
        SecretBox.KEY_SIZE, passphrase.encode("utf-8"), salt, opslimit=ops, memlimit=mem
    )
    try:
        return PrivateKey(SecretBox(key).decrypt(secret))
    except CryptoError:
        raise KeyError_(
            "口令不对，无法打开恢复密钥", "wrong passphrase: the recovery key cannot be opened"
        ) from None
