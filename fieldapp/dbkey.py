"""The database key: a random 256-bit SQLCipher key, wrapped under the passphrase and the recovery key.

The key file `<db>.key.json` sits next to the database (born 0600). It holds the database's id
(the 16-byte SQLCipher salt, which is also the first 16 bytes of the encrypted file, so a key file of
another database is refused before any decryption), the key wrapped by a key derived from the
passphrase with Argon2id (SecretBox), and optionally the key sealed to a recovery public key (the
district's), so a forgotten passphrase costs no work. Changing the passphrase re-wraps only the key.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.pwhash
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.secret import SecretBox

from fieldapp.sqlite import sqlite3

KEY_FORMAT = "fieldapp-database-key"
PLAIN_HEADER = b"SQLite format 3\x00"
MIN_PASSPHRASE = 10
PASSPHRASE_ENV = "FIELDAPP_PASSPHRASE"
UNENCRYPTED_ENV = "FIELDAPP_UNENCRYPTED"
_MAX_KEY_FILE = 64 * 1024


class DbKeyError(ValueError):
    """The database cannot be unlocked, and why (zh, then en); nothing was changed."""

    def __init__(self, zh: str, en: str) -> None:
        self.zh, self.en = zh, en
        super().__init__(f"{zh}（{en}）")


class WrongPassphrase(DbKeyError):
    """The passphrase does not open the key file."""


class NeedPassphrase(DbKeyError):
    """No passphrase was given and nobody can be asked."""


# SQLCipher's page HMAC, one of two, chosen for each new key by this machine's CPU and stored in
# the key file ("cipher"), so a file opens with the HMAC it was made with, on any machine. SHA-512
# is SQLCipher's default and what files made before the key file named it use. Per 4 KiB page
# (decrypt and check / encrypt and sign, µs of CPU, docs/security.md "Cost"): with SHA
# extensions (SHA-NI: AMD Zen, Intel since Ice Lake; ARMv8) SHA-256 9.5 / 17 against SHA-512's
# 16 / 23; without them (most Intel laptops before 2019) SHA-256 19 / 28 against SHA-512's 14.5 / 21.
DEFAULT_HMAC = "HMAC_SHA512"
NEW_HMAC = "HMAC_SHA256"
HMACS = ("HMAC_SHA512", "HMAC_SHA256")
_HMAC_PROBE = bytes(32 * 1024)


@functools.cache
def new_hmac() -> str:
    """The cheaper page HMAC on this CPU: SHA-256 and SHA-512 timed alternately over 32 KiB (the
    best of 9 each, ≈ 1 ms once per process). Both are full-strength MACs; only the speed differs."""
    best = {"sha256": float("inf"), "sha512": float("inf")}
    for _ in range(9):
        for name in best:
            t0 = time.perf_counter()
            hashlib.new(name, _HMAC_PROBE).digest()
            best[name] = min(best[name], time.perf_counter() - t0)
    return NEW_HMAC if best["sha256"] <= best["sha512"] else DEFAULT_HMAC


@dataclass(frozen=True)
class DbKey:
    """An unwrapped key: `key` (32 bytes), `db_id` (16 bytes, the SQLCipher salt) and the page HMAC."""

    key: bytes
    db_id: bytes
    hmac: str = DEFAULT_HMAC

    @classmethod
    def new(cls) -> DbKey:
        return cls(secrets.token_bytes(32), secrets.token_bytes(16), new_hmac())

    def pragma(self) -> str:
        """`PRAGMA key` with the raw key and its salt: no SQLCipher KDF runs on open."""
        return f"PRAGMA key = \"x'{self.key.hex()}{self.db_id.hex()}'\""

    def settings(self, schema: str = "main") -> list[str]:
        """The cipher settings to run after the key, before the first read of `schema`."""
        if self.hmac == DEFAULT_HMAC:
            return []
        return [f"PRAGMA {schema}.cipher_hmac_algorithm = {self.hmac}"]

    def apply(self, conn: sqlite3.Connection) -> None:
        """Key a new connection: the key, then the settings, before anything reads the file."""
        conn.execute(self.pragma())
        for statement in self.settings():
            conn.execute(statement)

    def cipher(self) -> dict[str, str]:
        return {"hmac": self.hmac}


# A passphrase source for when FIELDAPP_PASSPHRASE is not set: (database, first run) → passphrase.
# The CLI installs a prompt; the TUI unlocks before it opens the store; otherwise NeedPassphrase.
Asker = Callable[[Path, bool], str]
_asker: Asker | None = None
_unlocked: dict[str, DbKey] = {}


def set_asker(asker: Asker | None) -> None:
    global _asker
    _asker = asker


def key_path(db_path: Path | str) -> Path:
    p = Path(db_path)
    return p.with_name(p.name + ".key.json")


def unencrypted_requested() -> bool:
    return os.environ.get(UNENCRYPTED_ENV, "") not in ("", "0")


def file_header(db_path: Path | str) -> bytes | None:
    """The first 16 bytes of the file, None when it is missing or empty (a new database)."""
    try:
        with open(db_path, "rb") as f:
            head = f.read(16)
    except FileNotFoundError:
        return None
    return head or None


def is_plain(db_path: Path | str) -> bool:
    return file_header(db_path) == PLAIN_HEADER


def check_passphrase(passphrase: str) -> str | None:
    """Why a new passphrase is refused (zh), or None."""
    if len(passphrase) < MIN_PASSPHRASE:
        return f"口令至少 {MIN_PASSPHRASE} 个字符（the passphrase needs at least {MIN_PASSPHRASE} characters）"
    return None


def strength_hint(passphrase: str) -> str:
    """A hint, not a rule: length and variety of characters."""
    kinds = sum(
        any(test(c) for c in passphrase)
        for test in (str.islower, str.isupper, str.isdigit, lambda c: not c.isalnum())
    )
    cjk = any("\u4e00" <= c <= "\u9fff" for c in passphrase)
    score = len(passphrase) // 4 + kinds + (2 if cjk else 0)
    if score >= 8:
        return "强度：好（strong）"
    if score >= 5:
        return "强度：一般，可再加长或加入数字、符号（fair: longer, or add digits and symbols）"
    return "强度：弱，建议用一句较长的话（weak: use a longer phrase）"


# ------------------------------------------------------------------ the key file


# Argon2id for new wraps, tuned by measurement (fieldapp.bench, "unlock"; issue 18 asks for about
# 0.5 s): 7 passes over 128 MiB took 0.46-0.53 s of CPU on the 2-core reference machine
# (2026-12-01, five runs; 4 passes took 0.29-0.32 s there, 8 passes 0.51-0.61 s). The machine's
# speed moves by about 15% from hour to hour, so 7 stays inside 0.35-0.7 s either way; libsodium's
# "moderate" (3 × 256 MiB), used before, took ≈ 0.8 s and needs 256 MiB free on an old laptop.
# Each key file keeps the limits it was made with, so older files open as before.
KDF_OPSLIMIT = 7
KDF_MEMLIMIT = 128 * 1024 * 1024


def _kdf_limits() -> tuple[int, int]:
    # FIELDAPP_KDF=interactive (tests): fast
    if os.environ.get("FIELDAPP_KDF") == "interactive":
        return nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE, nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE
    return KDF_OPSLIMIT, KDF_MEMLIMIT


def _derive(passphrase: str, salt: bytes, ops: int, mem: int) -> bytes:
    return nacl.pwhash.argon2id.kdf(
        SecretBox.KEY_SIZE, passphrase.encode("utf-8"), salt, opslimit=ops, memlimit=mem
    )


def _damaged(path: Path, why: str) -> DbKeyError:
    return DbKeyError(f"密钥文件已损坏：{path.name}（{why}）", f"the key file is damaged: {why}")


def _hex(data: dict[str, Any], name: str, size: int, path: Path) -> bytes:
    value = data.get(name)
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != size:
        raise _damaged(path, f"{name}")
    return raw


def _wrapped(data: dict[str, Any], path: Path) -> tuple[bytes, int, int, bytes]:
    """(salt, opslimit, memlimit, sealed key) of the passphrase wrap, checked."""
    wrap = data.get("passphrase")
    if not isinstance(wrap, dict) or wrap.get("kdf") != "argon2id":
        raise _damaged(path, "passphrase")
    ops, mem = wrap.get("opslimit"), wrap.get("memlimit")
    if not isinstance(ops, int) or not isinstance(mem, int) or not 0 < ops <= 64:
        raise _damaged(path, "opslimit")
    if not 8192 <= mem <= 2**31:
        raise _damaged(path, "memlimit")
    salt = _hex(wrap, "salt", nacl.pwhash.argon2id.SALTBYTES, path)
    box = _hex(wrap, "box", 32 + SecretBox.NONCE_SIZE + SecretBox.MACBYTES, path)
    return salt, ops, mem, box


def read_key_file(path: Path) -> dict[str, Any]:
    """The key file, its fields checked (size, format, lengths) before anything uses them."""
    try:
        if path.stat().st_size > _MAX_KEY_FILE:
            raise _damaged(path, "too large")
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DbKeyError(
            f"找不到数据库密钥文件：{path.name}", f"the database key file is missing: {path}"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise _damaged(path, "not JSON") from None
    if not isinstance(data, dict) or data.get("format") != KEY_FORMAT:
        raise _damaged(path, "format")
    _hex(data, "db_id", 16, path)
    _wrapped(data, path)
    _hmac(data, path)
    return data


def _hmac(data: dict[str, Any], path: Path) -> str:
    """The page HMAC the key file names; a key file without "cipher" predates it: the default."""
    cipher = data.get("cipher", {"hmac": DEFAULT_HMAC})
    hmac = cipher.get("hmac") if isinstance(cipher, dict) else None
    if hmac not in HMACS:
        raise _damaged(path, "cipher")
    return str(hmac)


def _key(data: dict[str, Any], raw: bytes) -> DbKey:
    return DbKey(raw, bytes.fromhex(data["db_id"]), _hmac(data, Path("?")))


def _write_key_file(path: Path, data: dict[str, Any]) -> None:
    """Born 0600 in a temporary file, then swapped in atomically: a crash leaves the old one."""
    tmp = path.with_name(path.name + f".tmp-{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _passphrase_wrap(
    key: bytes, passphrase: str, limits: tuple[int, int] | None = None
) -> dict[str, Any]:
    ops, mem = limits or _kdf_limits()
    salt = secrets.token_bytes(nacl.pwhash.argon2id.SALTBYTES)
    box = SecretBox(_derive(passphrase, salt, ops, mem)).encrypt(key)
    return {
        "kdf": "argon2id",
        "opslimit": ops,
        "memlimit": mem,
        "salt": salt.hex(),
        "box": bytes(box).hex(),
    }


def _recovery_wrap(key: bytes, recovery_public: bytes) -> dict[str, Any]:
    from fieldapp.crypto import fingerprint

    sealed = SealedBox(PublicKey(recovery_public)).encrypt(key)
    return {"public": recovery_public.hex(), "fingerprint": fingerprint(recovery_public),
            "sealed": bytes(sealed).hex()}  # fmt: skip


def new_key_file(
    path: Path, passphrase: str, recovery_public: bytes | None = None, *, key: DbKey | None = None
) -> DbKey:
    """A new random key (or `key`, for a copy such as a re-keyed backup) wrapped into `path`."""
    why = check_passphrase(passphrase)
    if why:
        raise DbKeyError(why, "passphrase too short")
    key = key or DbKey.new()
    data: dict[str, Any] = {
        "format": KEY_FORMAT,
        "version": 1,
        "db_id": key.db_id.hex(),
        "cipher": key.cipher(),
        "passphrase": _passphrase_wrap(key.key, passphrase),
    }
    if recovery_public is not None:
        data["recovery"] = _recovery_wrap(key.key, recovery_public)
    _write_key_file(path, data)
    return key


def _check_belongs(data: dict[str, Any], key_file: Path, db_path: Path | None) -> bytes:
    db_id = bytes.fromhex(data["db_id"])
    if db_path is None:
        return db_id
    head = file_header(db_path)
    if head is not None and head != db_id:
        raise DbKeyError(
            f"密钥文件 {key_file.name} 不属于数据库 {db_path.name}",
            "the key file belongs to another database",
        )
    return db_id


def unwrap(key_file: Path, passphrase: str, db_path: Path | None = None) -> DbKey:
    """The key in `key_file`, opened with the passphrase; checked against the database's header."""
    data = read_key_file(key_file)
    _check_belongs(data, key_file, db_path)
    salt, ops, mem, box = _wrapped(data, key_file)
    try:
        key = SecretBox(_derive(passphrase, salt, ops, mem)).decrypt(box)
    except CryptoError:
        raise WrongPassphrase("口令不对，无法解锁数据库", "wrong passphrase") from None
    return _key(data, key)


def rewrap(
    key_file: Path, key: DbKey, new_passphrase: str, *, limits: tuple[int, int] | None = None
) -> None:
    """The same key under a new passphrase; the recovery wrap is kept. The database is untouched.
    `limits` (Argon2id ops, memory) only for the benchmark's copies; otherwise the product's."""
    why = check_passphrase(new_passphrase)
    if why:
        raise DbKeyError(why, "passphrase too short")
    data = read_key_file(key_file)
    data["passphrase"] = _passphrase_wrap(key.key, new_passphrase, limits)
    _write_key_file(key_file, data)


def add_recovery(key_file: Path, key: DbKey, recovery_public: bytes) -> None:
    data = read_key_file(key_file)
    data["recovery"] = _recovery_wrap(key.key, recovery_public)
    _write_key_file(key_file, data)


def recover(key_file: Path, recovery_private: PrivateKey, new_passphrase: str) -> DbKey:
    """Open the recovery wrap with the district's recovery private key; re-wrap under a new passphrase."""
    data = read_key_file(key_file)
    rec = data.get("recovery")
    if not isinstance(rec, dict):
        raise DbKeyError(
            f"密钥文件 {key_file.name} 没有区级恢复包装，无法恢复",
            "this key file has no recovery wrap",
        )
    sealed = _hex(rec, "sealed", 32 + 48, key_file)
    try:
        raw = SealedBox(recovery_private).decrypt(sealed)
    except CryptoError:
        raise DbKeyError(
            "恢复密钥与该密钥文件不匹配", "the recovery key does not open this key file"
        ) from None
    key = _key(data, raw)
    rewrap(key_file, key, new_passphrase)
    return key


# ------------------------------------------------------------------ unlocking for a connection


def remember(db_path: Path | str, key: DbKey) -> None:
    """Keep the unlocked key for this process (the TUI's unlock screen, the CLI's prompt)."""
    _unlocked[str(Path(db_path).resolve())] = key


def forget(db_path: Path | str | None = None) -> None:
    """Drop one remembered key (lock), or all."""
    if db_path is None:
        _unlocked.clear()
    else:
        _unlocked.pop(str(Path(db_path).resolve()), None)


def remembered(db_path: Path | str) -> DbKey | None:
    return _unlocked.get(str(Path(db_path).resolve()))


def _passphrase(db_path: Path, first: bool) -> str:
    env = os.environ.get(PASSPHRASE_ENV)
    if env is not None:
        return env
    if _asker is None:
        raise NeedPassphrase(
            f"数据库 {db_path.name} 已加密：请设置 {PASSPHRASE_ENV} 或在终端输入口令",
            f"the database is encrypted: set {PASSPHRASE_ENV} or run in a terminal",
        )
    return _asker(db_path, first)


def key_for(db_path: Path, *, recovery_public: bytes | None = None) -> DbKey:
    """The key of an encrypted (or new) database: remembered, else unwrapped with the passphrase,
    else (a new database without a key file) a new key file is made with it."""
    known = remembered(db_path)
    if known is not None:
        return known
    kf = key_path(db_path)
    if not kf.exists():
        if file_header(db_path) is not None:
            raise DbKeyError(
                f"无法打开数据库 {db_path.name}：它不是未加密的 SQLite 文件；若是加密数据库，"
                f"旁边缺少密钥文件 {kf.name}，请从备份取回密钥文件",
                "not a plain SQLite file: if it is an encrypted database, its key file is missing",
            )
        key = new_key_file(kf, _passphrase(db_path, True), recovery_public)
    else:
        key = unwrap(kf, _passphrase(db_path, False), db_path)
    remember(db_path, key)
    return key


# What to do when a plain database is opened while encryption is the default: the CLI prints the
# `fieldapp encrypt` offer, the TUI shows a dialog. Called once per file per process.
PlainNotice = Callable[[Path], None]
_plain_notice: PlainNotice | None = None
_plain_seen: set[str] = set()


def set_plain_notice(notice: PlainNotice | None) -> None:
    global _plain_notice
    _plain_notice = notice


def plain_opened(db_path: Path) -> None:
    name = str(Path(db_path).resolve())
    if unencrypted_requested() or name in _plain_seen:
        return
    _plain_seen.add(name)
    if _plain_notice is not None:
        _plain_notice(Path(db_path))


def plain_offer(db_path: Path) -> str:
    """The offer, one text for the CLI and the TUI."""
    return (
        f"数据库 {db_path.name} 未加密。运行 fieldapp encrypt --db {db_path} 可将其就地转换为加密数据库。"
        f"（this database is not encrypted: `fieldapp encrypt --db {db_path}` converts it in place）"
    )
