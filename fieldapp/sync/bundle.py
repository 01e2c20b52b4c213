"""Sync bundles, format version 1 (SPEC §5): write them streaming and atomically, read and check them safely.

Reading never trusts the file: caps on size, member names and compression ratio come before
anything is decompressed, and the digests, sizes and line counts of the manifest are checked
against what was actually read.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from fieldapp import models

FORMAT = "fieldapp-bundle"
FORMAT_VERSION = 1
MEMBERS = ("manifest.json", "versions.ndjson")
MEMBERS_V2 = ("manifest.json", "manifest.sig", "versions.sealed")
SUFFIX = ".fieldbundle"

# safety caps (a bundle of a community-month is a few MB; a whole district year of one device ~100 MB)
MAX_FILE_BYTES = 1 << 30
MAX_MANIFEST_BYTES = 1 << 20
MAX_VERSIONS_BYTES = 4 << 30
MAX_RATIO = 200  # uncompressed ÷ compressed; JSON of records compresses ~10–30×
MAX_LINE_BYTES = 1 << 20
CHUNK = 1 << 20

Progress = Callable[[int, int], None]


class BundleError(ValueError):
    """A bundle that cannot be used, and why (Chinese first, then English)."""

    def __init__(self, zh: str, en: str) -> None:
        self.zh, self.en = zh, en
        super().__init__(f"{zh}（{en}）")


class MemberInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sha256: str
    bytes: int
    lines: int | None = None  # the sealed member of format 2 has no lines


class Encryption(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scheme: str
    sealed_key: str


class Manifest(BaseModel):
    """manifest.json of SPEC §5; no personal data in it."""

    model_config = ConfigDict(extra="forbid")

    format: str
    format_version: int
    schema_version: int
    bundle_id: str
    device_id: str
    device_label: str
    worker: str
    street_code: str
    community_code: str
    period: str
    created_at: str
    seq: int
    prev_bundle_id: str | None
    hlc_from: str | None
    hlc_to: str | None
    counts: dict[str, int]
    members: dict[str, MemberInfo]
    app_version: str
    # format 2 (docs/security.md): the device's signing key, how the versions are sealed, and the
    # digest of the plaintext versions.ndjson checked after decryption
    device_public_key: str | None = None
    encryption: Encryption | None = None
    plain: MemberInfo | None = None

    def dump(self) -> dict[str, Any]:
        """The manifest as written: format 1 has exactly the fields of SPEC §5."""
        data = self.model_dump()
        if self.format_version == 1:
            for key in ("device_public_key", "encryption", "plain"):
                data.pop(key)
        for member in data["members"].values():
            if member.get("lines") is None:
                member.pop("lines", None)
        return data

    @field_validator("bundle_id", "device_id")
    @classmethod
    def _uuid(cls, v: str) -> str:
        if not models._UUID.match(v):
            raise ValueError("must be a UUID")
        return v

    @field_validator("period")
    @classmethod
    def _period(cls, v: str) -> str:
        if len(v) != 7 or v[4] != "-" or not (v[:4] + v[5:]).isdigit() or not 1 <= int(v[5:]) <= 12:
            raise ValueError("must be YYYY-MM")
        return v

    @field_validator("seq")
    @classmethod
    def _seq(cls, v: int) -> int:
        if v < 1:
            raise ValueError("must be ≥ 1")
        return v


def bundle_name(community_code: str, period: str, device_id: str, seq: int) -> str:
    """No personal data in the name (SPEC §5)."""
    return f"{community_code}-{period}-{device_id[:8]}-{seq}{SUFFIX}"


def version_line(row: dict[str, Any]) -> str:
    """One line of versions.ndjson, keys sorted; `payload` is the stored canonical JSON text."""
    return (
        '{"content_hash":'
        + json.dumps(row["content_hash"])
        + ',"deleted":'
        + ("true" if row["deleted"] else "false")
        + ',"device_id":'
        + json.dumps(row["device_id"])
        + ',"hlc":'
        + json.dumps(row["hlc"])
        + ',"kind":'
        + json.dumps(row["kind"])
        + ',"parent_version_id":'
        + json.dumps(row["parent_version_id"])
        + ',"payload":'
        + row["payload"]
        + ',"record_id":'
        + json.dumps(row["record_id"])
        + ',"version_id":'
        + json.dumps(row["version_id"])
        + "}\n"
    )


@dataclass
class Written:
    path: Path
    manifest: Manifest
    file_sha256: str


def write_bundle(
    out_dir: Path,
    manifest_fields: dict[str, Any],
    lines: Iterator[tuple[str, str, str]],
    *,
    total: int = 0,
    progress: Progress | None = None,
    seal: Seal | None = None,
) -> Written:
    """Write a bundle: `lines` yields (kind, hlc, ndjson line). The versions go to a temporary file
    first (constant memory, digests on the way), then into the ZIP under a temporary name, which is
    fsynced and renamed: a crash never leaves a half bundle under the real name."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if seal is not None:
        return _write_sealed(
            out_dir, manifest_fields, lines, total=total, progress=progress, seal=seal
        )
    digest = hashlib.sha256()
    n_bytes = n_lines = 0
    counts: dict[str, int] = {}
    hlc_from: str | None = None
    hlc_to: str | None = None
    with tempfile.TemporaryFile(dir=out_dir) as spool:
        for kind, hlc, line in lines:
            data = line.encode("utf-8")
            spool.write(data)
            digest.update(data)
            n_bytes += len(data)
            n_lines += 1
            counts[kind] = counts.get(kind, 0) + 1
            hlc_from = hlc if hlc_from is None or hlc < hlc_from else hlc_from
            hlc_to = hlc if hlc_to is None or hlc > hlc_to else hlc_to
            if progress and n_lines % 2000 == 0:
                progress(n_lines, total)
        manifest = Manifest.model_validate(
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "schema_version": models.SCHEMA_VERSION,
                **manifest_fields,
                "hlc_from": hlc_from,
                "hlc_to": hlc_to,
                "counts": dict(sorted(counts.items())),
                "members": {
                    "versions.ndjson": {
                        "sha256": digest.hexdigest(),
                        "bytes": n_bytes,
                        "lines": n_lines,
                    }
                },
            }
        )
        name = bundle_name(
            manifest.community_code, manifest.period, manifest.device_id, manifest.seq
        )
        spool.seek(0)

        def fill(zf: zipfile.ZipFile) -> None:
            zf.writestr("manifest.json", json.dumps(manifest.dump(), ensure_ascii=False, indent=2))
            with zf.open("versions.ndjson", "w", force_zip64=n_bytes > (1 << 31)) as member:
                shutil.copyfileobj(spool, member, CHUNK)

        final = _atomic_zip(out_dir, name, zipfile.ZIP_DEFLATED, fill)
    if progress:
        progress(n_lines, total or n_lines)
    return Written(final, manifest, file_sha256(final))


@dataclass(frozen=True)
class Seal:
    """What a device needs to write format 2: the district's public key and its own signing key."""

    district_public: bytes
    sign_private: str
    sign_public: str


def _write_sealed(
    out_dir: Path,
    manifest_fields: dict[str, Any],
    lines: Iterator[tuple[str, str, str]],
    *,
    total: int,
    progress: Progress | None,
    seal: Seal,
) -> Written:
    """Format 2: the versions are compressed and encrypted on the way into the ZIP (no plaintext
    ever touches the disk), then the manifest, which names the digests of both, is signed."""
    from fieldapp import crypto

    plain = hashlib.sha256()
    stats = {"bytes": 0, "lines": 0}
    counts: dict[str, int] = {}
    span: list[str] = []

    def plain_chunks() -> Iterator[bytes]:
        for kind, hlc, line in lines:
            data = line.encode("utf-8")
            plain.update(data)
            stats["bytes"] += len(data)
            stats["lines"] += 1
            counts[kind] = counts.get(kind, 0) + 1
            span[:] = [min([hlc, *span[:1]]), max([hlc, *span[1:]])]
            if progress and stats["lines"] % 2000 == 0:
                progress(stats["lines"], total)
            yield data

    sealed_key, cipher = crypto.seal_stream(plain_chunks(), seal.district_public)
    name = bundle_name(
        manifest_fields["community_code"],
        manifest_fields["period"],
        manifest_fields["device_id"],
        manifest_fields["seq"],
    )
    sealed = hashlib.sha256()
    written: list[Manifest] = []

    def fill(zf: zipfile.ZipFile) -> None:
        n_sealed = 0
        with zf.open("versions.sealed", "w", force_zip64=True) as member:
            for chunk in cipher:
                member.write(chunk)
                sealed.update(chunk)
                n_sealed += len(chunk)
        manifest = Manifest.model_validate(
            {
                "format": FORMAT,
                "format_version": 2,
                "schema_version": models.SCHEMA_VERSION,
                **manifest_fields,
                "hlc_from": span[0] if span else None,
                "hlc_to": span[1] if span else None,
                "counts": dict(sorted(counts.items())),
                "members": {"versions.sealed": {"sha256": sealed.hexdigest(), "bytes": n_sealed}},
                "device_public_key": seal.sign_public,
                "encryption": {"scheme": crypto.SCHEME, "sealed_key": sealed_key},
                "plain": {
                    "sha256": plain.hexdigest(),
                    "bytes": stats["bytes"],
                    "lines": stats["lines"],
                },
            }
        )
        body = json.dumps(manifest.dump(), ensure_ascii=False, indent=2).encode("utf-8")
        zf.writestr("manifest.json", body)
        zf.writestr("manifest.sig", crypto.b64(crypto.sign(seal.sign_private, body)))
        written.append(manifest)

    final = _atomic_zip(out_dir, name, zipfile.ZIP_STORED, fill)
    manifest = written[0]
    if progress:
        progress(stats["lines"], total or stats["lines"])
    return Written(final, manifest, file_sha256(final))


def _atomic_zip(
    out_dir: Path, name: str, compression: int, fill: Callable[[zipfile.ZipFile], object]
) -> Path:
    """Write a ZIP under a temporary name, fsync it, rename it, fsync the folder: a crash never
    leaves a half bundle under the real name, and an existing bundle is never overwritten."""
    final = out_dir / name
    if final.exists():
        raise BundleError(f"文件已存在：{name}", f"file exists: {name}")
    tmp = out_dir / f".{name}.tmp"
    try:
        with open(tmp, "wb") as raw:
            with zipfile.ZipFile(
                raw,
                "w",
                compression=compression,
                compresslevel=6 if compression == zipfile.ZIP_DEFLATED else None,
            ) as zf:
                fill(zf)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(out_dir)
    return final


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


# ------------------------------------------------------------------ reading


@dataclass
class Line:
    no: int  # 1-based line number in versions.ndjson
    raw: str
    data: dict[str, Any] | None


@dataclass
class BundleReader:
    """An opened, structurally checked bundle. `lines()` streams the versions and, at its end,
    checks them against the manifest (sha256, bytes, lines). Format 2 needs the signature checked
    by the caller (`signed_by`) and the district's private key to read the versions."""

    path: Path
    manifest: Manifest
    _zip: zipfile.ZipFile
    _info: zipfile.ZipInfo
    manifest_raw: bytes = b""
    signature: bytes | None = None
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def version(self) -> int:
        return self.manifest.format_version

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> BundleReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def signed_by(self, public_b64: str) -> bool:
        """Whether manifest.json was signed by this Ed25519 key (the enrolled one, not the one the manifest names)."""
        from fieldapp import crypto

        return self.signature is not None and crypto.verify(
            public_b64, self.manifest_raw, self.signature
        )

    def _member_chunks(self, want: MemberInfo, name: str) -> Iterator[bytes]:
        """The member's bytes, checked against the manifest's sha256 and size at the end."""
        digest = hashlib.sha256()
        n = 0
        with self._zip.open(self._info) as member:
            while True:
                data = member.read(CHUNK)
                if not data:
                    break
                n += len(data)
                if n > want.bytes:
                    raise BundleError(
                        f"{name} 比清单所列的 {want.bytes} 字节长",
                        f"{name} is longer than the manifest's {want.bytes} bytes",
                    )
                digest.update(data)
                yield data
        if n != want.bytes or digest.hexdigest() != want.sha256:
            raise BundleError(
                f"{name} 与清单不符（字节 {n}/{want.bytes}，摘要{'一致' if digest.hexdigest() == want.sha256 else '不一致'}）",
                f"{name} does not match the manifest (bytes {n}/{want.bytes}, sha256 {'ok' if digest.hexdigest() == want.sha256 else 'differs'})",
            )

    def check_sealed(self) -> None:
        """Format 2: the sealed member matches the signed manifest's digest (before decrypting anything)."""
        for _ in self._member_chunks(self.manifest.members["versions.sealed"], "versions.sealed"):
            pass

    def lines(self, district_key: Any = None) -> Iterator[Line]:
        if self.version == 1:
            want = self.manifest.members["versions.ndjson"]
            yield from _parse_lines(
                self._member_chunks(want, "versions.ndjson"), want, "versions.ndjson", self.stats
            )
            return
        from fieldapp import crypto

        if district_key is None:
            raise BundleError(
                "读取加密同步包需要区级私钥（--key）",
                "reading an encrypted bundle needs the district private key (--key)",
            )
        assert self.manifest.encryption is not None and self.manifest.plain is not None
        want = self.manifest.plain
        cipher = self._member_chunks(self.manifest.members["versions.sealed"], "versions.sealed")
        try:
            plain = crypto.open_stream(
                self.manifest.encryption.sealed_key,
                district_key,
                cipher,
                min(want.bytes, MAX_VERSIONS_BYTES),
            )
            yield from _parse_lines(plain, want, "versions.ndjson", self.stats)
        except crypto.KeyError_ as e:
            raise BundleError(e.zh, e.en) from None


def _parse_lines(
    chunks: Iterator[bytes], want: MemberInfo, name: str, stats: dict[str, int]
) -> Iterator[Line]:
    """Split a byte stream into JSON lines, checking each and, at the end, sha256/bytes/lines."""
    digest = hashlib.sha256()
    n_bytes = n_lines = 0
    pending = b""

    def one(data: bytes, no: int) -> Line:
        if len(data) > MAX_LINE_BYTES:
            raise BundleError(f"第{no}行过长（超过1 MiB）", f"line {no} is longer than 1 MiB")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise BundleError(f"第{no}行不是 UTF-8", f"line {no} is not UTF-8") from None
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise BundleError(
                f"第{no}行不是有效的 JSON：{e.msg}", f"line {no} is not valid JSON: {e.msg}"
            ) from None
        if not isinstance(obj, dict):
            raise BundleError(f"第{no}行不是 JSON 对象", f"line {no} is not a JSON object")
        return Line(no, text, obj)

    for chunk in chunks:
        n_bytes += len(chunk)
        if n_bytes > want.bytes or n_bytes > MAX_VERSIONS_BYTES:
            raise BundleError(
                f"{name} 比清单所列的 {want.bytes} 字节长",
                f"{name} is longer than the manifest's {want.bytes} bytes",
            )
        digest.update(chunk)
        pending += chunk
        while True:
            cut = pending.find(b"\n")
            if cut < 0:
                if len(pending) > MAX_LINE_BYTES:
                    raise BundleError(
                        f"第{n_lines + 1}行过长（超过1 MiB）",
                        f"line {n_lines + 1} is longer than 1 MiB",
                    )
                break
            data, pending = pending[: cut + 1], pending[cut + 1 :]
            n_lines += 1
            yield one(data, n_lines)
    if pending:
        raise BundleError(
            f"第{n_lines + 1}行没有换行结尾（文件被截断？）",
            f"line {n_lines + 1} does not end with a newline (truncated?)",
        )
    got = digest.hexdigest()
    if n_bytes != want.bytes or n_lines != want.lines or got != want.sha256:
        raise BundleError(
            f"{name} 与清单不符（字节 {n_bytes}/{want.bytes}，行 {n_lines}/{want.lines}，摘要{'一致' if got == want.sha256 else '不一致'}）",
            f"{name} does not match the manifest (bytes {n_bytes}/{want.bytes}, lines {n_lines}/{want.lines}, sha256 {'ok' if got == want.sha256 else 'differs'})",
        )
    stats.update({"bytes": n_bytes, "lines": n_lines})


def open_bundle(path: Path, *, allow_v1: bool = True) -> BundleReader:
    """Open and check the structure: size, ZIP, exactly the members of its format, caps, the manifest.
    Format 1 (unsigned, unencrypted) is refused unless `allow_v1`."""
    name = path.name
    try:
        size = path.stat().st_size
    except OSError as e:
        raise BundleError(f"无法读取文件 {name}", f"cannot read {name}: {e.strerror}") from None
    if size > MAX_FILE_BYTES:
        raise BundleError(f"文件过大（{size} 字节）", f"file too large ({size} bytes)")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise BundleError(
            "不是 ZIP 文件或文件已损坏（截断？）", "not a ZIP file, or damaged (truncated?)"
        ) from None
    try:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        expected = MEMBERS_V2 if "versions.sealed" in names else MEMBERS
        if (
            expected is MEMBERS_V2
            and "manifest.sig" not in names
            and sorted(set(names) | {"manifest.sig"}) == sorted(MEMBERS_V2)
        ):
            raise BundleError(
                "同步包未签名（缺少 manifest.sig），不予接受",
                "unsigned bundle (manifest.sig is missing): refused",
            )
        if sorted(names) != sorted(expected) or len(set(names)) != len(names):
            extra = sorted(set(names) - set(expected))
            missing = sorted(set(expected) - set(names))
            raise BundleError(
                f"成员不符：多出 {extra or '无'}，缺少 {missing or '无'}",
                f"wrong members: unexpected {extra or 'none'}, missing {missing or 'none'}",
            )
        by_name = {i.filename: i for i in infos}
        total = 0
        for info in infos:
            cap = (
                MAX_VERSIONS_BYTES if info.filename.startswith("versions.") else MAX_MANIFEST_BYTES
            )
            if info.file_size > cap:
                raise BundleError(
                    f"{info.filename} 超过大小上限", f"{info.filename} is over its size cap"
                )
            if (
                info.compress_size
                and info.file_size / info.compress_size > MAX_RATIO
                and info.file_size > CHUNK
            ):
                raise BundleError(
                    f"{info.filename} 压缩比异常（{info.file_size // max(info.compress_size, 1)}:1），疑似压缩炸弹",
                    f"{info.filename} compression ratio {info.file_size // max(info.compress_size, 1)}:1 is over the cap (zip bomb?)",
                )
            if info.flag_bits & 0x1:
                raise BundleError(
                    f"{info.filename} 使用了 ZIP 加密，格式不符",
                    f"{info.filename} uses ZIP encryption: not this format",
                )
            total += info.file_size
        if total > MAX_VERSIONS_BYTES + 2 * MAX_MANIFEST_BYTES:
            raise BundleError("解压后总大小超过上限", "total uncompressed size over the cap")
        try:
            with zf.open(by_name["manifest.json"]) as f:
                raw = f.read(MAX_MANIFEST_BYTES + 1)
            signature = None
            if "manifest.sig" in by_name:
                with zf.open(by_name["manifest.sig"]) as f:
                    signature = f.read(1024)
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise BundleError(
                "manifest.json 无法解压（文件损坏）", f"manifest.json cannot be read ({e})"
            ) from None
        if len(raw) > MAX_MANIFEST_BYTES:
            raise BundleError("manifest.json 超过大小上限", "manifest.json is over its size cap")
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise BundleError(
                "manifest.json 不是有效的 JSON", f"manifest.json is not valid JSON ({e})"
            ) from None
        if not isinstance(data, dict):
            raise BundleError("manifest.json 不是 JSON 对象", "manifest.json is not a JSON object")
        if data.get("format") != FORMAT:
            raise BundleError(
                f"不是 fieldapp 同步包（format={data.get('format')!r}）",
                f"not a fieldapp bundle (format={data.get('format')!r})",
            )
        version = data.get("format_version")
        if version not in (1, 2):
            raise BundleError(
                f"不支持的格式版本 format_version={version!r}（本程序读取版本 1 和 2）",
                f"unknown format_version {version!r} (this fieldapp reads 1 and 2)",
            )
        if (version == 2) != (expected is MEMBERS_V2):
            raise BundleError(
                f"格式版本 {version} 与成员不符",
                f"format_version {version} does not match the members",
            )
        if version == 1 and not allow_v1:
            raise BundleError(
                "v1 格式的同步包未签名、未加密，只在明确允许时接受（--allow-v1）",
                "format 1 bundles are unsigned and unencrypted: accepted only with --allow-v1",
            )
        if data.get("schema_version") != models.SCHEMA_VERSION:
            raise BundleError(
                f"不支持的记录结构版本 schema_version={data.get('schema_version')!r}",
                f"unknown schema_version {data.get('schema_version')!r} (this fieldapp reads {models.SCHEMA_VERSION})",
            )
        try:
            manifest = Manifest.model_validate(data)
        except ValidationError as e:
            first = e.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            raise BundleError(
                f"manifest.json 字段 {where} 不符合要求：{first['msg']}",
                f"manifest.json field {where}: {first['msg']}",
            ) from None
        member = "versions.sealed" if version == 2 else "versions.ndjson"
        if set(manifest.members) != {member}:
            raise BundleError(
                f"manifest.json 的 members 须只列 {member}",
                f"manifest members must list {member} only",
            )
        if version == 2 and (
            manifest.encryption is None
            or manifest.plain is None
            or manifest.device_public_key is None
        ):
            raise BundleError(
                "v2 清单缺少加密或签名信息",
                "the format 2 manifest lacks its encryption or signing fields",
            )
        info = by_name[member]
        if info.file_size != manifest.members[member].bytes:
            raise BundleError(
                f"{member} 大小 {info.file_size} 与清单的 {manifest.members[member].bytes} 不符",
                f"{member} size {info.file_size} differs from the manifest's {manifest.members[member].bytes}",
            )
        sig = None
        if signature is not None:
            from fieldapp import crypto

            try:
                sig = crypto.unb64(signature.decode("ascii").strip())
            except (ValueError, UnicodeDecodeError):
                raise BundleError(
                    "manifest.sig 不是有效的签名", "manifest.sig is not a valid signature"
                ) from None
        return BundleReader(path, manifest, zf, info, manifest_raw=raw, signature=sig)
    except BaseException:
        zf.close()
        raise


@dataclass
class Report:
    path: Path
    ok: bool
    problem: str | None
    manifest: Manifest | None
    counts: dict[str, int]
    signature: str = ""  # format 2: what is known of the signer


def verify(
    path: Path,
    *,
    enrolled: dict[str, tuple[str, str | None]] | None = None,
    district_key: Any = None,
) -> Report:
    """Check a bundle without touching any database: structure, and (format 1, or format 2 with the
    district's private key) every line's envelope and payload with the record models, counts and hlc
    range against the manifest. Format 2 without the key: the signature and the sealed member's digest.
    `enrolled` maps device_id → (public key, revoked_at) to report the enrolment too."""
    try:
        reader = open_bundle(path)
    except BundleError as e:
        return Report(path, False, str(e), None, {})
    counts: dict[str, int] = {}
    signature = ""
    try:
        with reader:
            m = reader.manifest
            if reader.version == 2:
                from fieldapp import crypto

                assert m.device_public_key is not None
                fp = crypto.fingerprint(crypto.unb64(m.device_public_key))
                if not reader.signed_by(m.device_public_key):
                    raise BundleError(
                        "签名与清单中的设备密钥不符（伪造或被改动）",
                        "the signature does not match the manifest's device key (forged or altered)",
                    )
                signature = f"signed by device {m.device_id[:8]} key {fp}"
                if enrolled is not None:
                    known = enrolled.get(m.device_id)
                    if known is None:
                        raise BundleError(
                            f"设备 {m.device_id[:8]}（指纹 {fp}）未登记",
                            f"device {m.device_id[:8]} (fingerprint {fp}) is not enrolled",
                        )
                    if known[1]:
                        raise BundleError(
                            f"设备 {m.device_id[:8]} 已于 {known[1]} 撤销",
                            f"device {m.device_id[:8]} was revoked on {known[1]}",
                        )
                    if not reader.signed_by(known[0]):
                        raise BundleError(
                            "签名与登记的设备密钥不符",
                            "the signature does not match the enrolled device key",
                        )
                    signature += ", enrolled"
                reader.check_sealed()
                if district_key is None:
                    return Report(
                        path,
                        True,
                        None,
                        m,
                        dict(m.counts),
                        signature + "; content sealed (not decrypted)",
                    )
            for line in reader.lines(district_key):
                assert line.data is not None
                try:
                    version, _ = models.validate_version(line.data)
                except models.RecordInvalid as e:
                    rid = line.data.get("record_id", "?")
                    raise BundleError(
                        f"第{line.no}行（记录 {rid}）不合格：{e.problems[0].text('zh')}",
                        f"line {line.no} (record {rid}) is invalid: {e.problems[0].text('en')}",
                    ) from None
                if version.device_id != m.device_id:
                    raise BundleError(
                        f"第{line.no}行的 device_id 与清单不符",
                        f"line {line.no}: device_id differs from the manifest's",
                    )
                if m.hlc_from and m.hlc_to and not (m.hlc_from <= version.hlc <= m.hlc_to):
                    raise BundleError(
                        f"第{line.no}行的 hlc 超出清单范围",
                        f"line {line.no}: hlc outside the manifest's hlc_from..hlc_to",
                    )
                counts[version.kind] = counts.get(version.kind, 0) + 1
            if counts != {k: v for k, v in m.counts.items() if v}:
                raise BundleError(
                    f"各类记录数 {counts} 与清单 {m.counts} 不符",
                    f"counts {counts} differ from the manifest's {m.counts}",
                )
    except BundleError as e:
        return Report(path, False, str(e), reader.manifest, counts, signature)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
        return Report(
            path,
            False,
            str(BundleError("文件损坏，无法解压", f"damaged file, cannot decompress ({e})")),
            reader.manifest,
            counts,
            signature,
        )
    return Report(path, True, None, reader.manifest, counts, signature)
