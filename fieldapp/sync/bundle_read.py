"""Reading sync bundles (SPEC §5) without trusting them: caps first, then the manifest, then each line.

Caps on size, member names and compression ratio come before anything is decompressed, and the
digests, sizes and line counts of the manifest are checked against what was actually read.
"""

from __future__ import annotations

import hashlib
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from fieldapp.sync.bundle_format import (
    CHUNK,
    FORMAT,
    MAX_FILE_BYTES,
    MAX_LINE_BYTES,
    MAX_MANIFEST_BYTES,
    MAX_RATIO,
    MAX_VERSIONS_BYTES,
    MEMBERS,
    MEMBERS_V2,
    READABLE_SCHEMAS,
    BundleError,
    Manifest,
    MemberInfo,
    load_json,
    parse_json,
)
from fieldapp.text import clean

if TYPE_CHECKING:
    from nacl.public import PrivateKey


# what the zipfile module raises on a damaged archive or member: a bad CRC, broken deflate data, a
# member cut short, a directory entry pointing nowhere, an unknown compression method
_DAMAGED = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    RuntimeError,
)


@dataclass
class Line:
    no: int  # 1-based line number in versions.ndjson
    text: bytes  # the line without its newline, valid UTF-8
    data: dict[str, Any]
    floats: bool = True  # False: the parse found no float anywhere in the line (`parse_json`)

    @property
    def raw(self) -> str:
        """The line as it stands in the file (decoded only for a line kept aside as invalid)."""
        return self.text.decode("utf-8") + "\n"


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
        """The member's bytes, checked against the manifest's sha256 and size at the end; a damaged
        member (bad CRC, broken deflate data, cut short) is a BundleError like any other refusal."""
        digest = hashlib.sha256()
        n = 0
        for data in self._raw_chunks(name):
            n += len(data)
            if n > want.bytes:
                raise _longer(name, want)
            digest.update(data)
            yield data
        if n != want.bytes or digest.hexdigest() != want.sha256:
            raise BundleError(
                f"{name} 与清单不符（字节 {n}/{want.bytes}，摘要{'一致' if digest.hexdigest() == want.sha256 else '不一致'}）",
                f"{name} does not match the manifest (bytes {n}/{want.bytes}, sha256 {'ok' if digest.hexdigest() == want.sha256 else 'differs'})",
            )

    def _raw_chunks(self, name: str) -> Iterator[bytes]:
        try:
            with self._zip.open(self._info) as member:
                while data := member.read(CHUNK):
                    yield data
        except _DAMAGED as e:
            raise BundleError(
                f"{name} 已损坏，无法解压", f"{name} is damaged and cannot be decompressed ({e})"
            ) from None

    def check_sealed(self) -> None:
        """Format 2: the sealed member matches the signed manifest's digest (before decrypting anything)."""
        for _ in self._member_chunks(self.manifest.members["versions.sealed"], "versions.sealed"):
            pass

    def lines(self, district_key: PrivateKey | None = None) -> Iterator[Line]:
        """Every version line, each a JSON object; format 2 is decrypted with `district_key` on the way."""
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


def _longer(name: str, want: MemberInfo) -> BundleError:
    return BundleError(
        f"{name} 比清单所列的 {want.bytes} 字节长",
        f"{name} is longer than the manifest's {want.bytes} bytes",
    )


def _too_long(no: int) -> BundleError:
    return BundleError(f"第{no}行过长（超过1 MiB）", f"line {no} is longer than 1 MiB")


def _line(data: bytes, no: int) -> Line:
    """One line of versions.ndjson (without its newline): at most 1 MiB with it, UTF-8 (the
    first thing refused), a JSON object. A line parsed is UTF-8 (either parse checks), so it is
    decoded only when the parse fails, to say that first."""
    if len(data) >= MAX_LINE_BYTES:
        raise _too_long(no)
    try:
        obj, floats = parse_json(data, f"第{no}行", f"line {no}")
    except BundleError:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise BundleError(f"第{no}行不是 UTF-8", f"line {no} is not UTF-8") from None
        raise
    if not isinstance(obj, dict):
        raise BundleError(f"第{no}行不是 JSON 对象", f"line {no} is not a JSON object")
    return Line(no, data, obj, floats)


def _parse_lines(
    chunks: Iterator[bytes], want: MemberInfo, name: str, stats: dict[str, int]
) -> Iterator[Line]:
    """Split a byte stream into JSON lines, checking each and, at the end, sha256/bytes/lines."""
    digest = hashlib.sha256()
    n_bytes = n_lines = 0
    pending = b""
    for chunk in chunks:
        n_bytes += len(chunk)
        if n_bytes > want.bytes or n_bytes > MAX_VERSIONS_BYTES:
            raise _longer(name, want)
        digest.update(chunk)
        # the chunk's whole lines, split at once (cutting one line at a time off the front
        # copied the rest of the chunk for every line)
        *whole, pending = (pending + chunk).split(b"\n")
        for data in whole:
            n_lines += 1
            yield _line(data, n_lines)
        if len(pending) > MAX_LINE_BYTES:
            raise _too_long(n_lines + 1)
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


# ------------------------------------------------------------------ opening, step by step


def open_bundle(path: Path, *, allow_v1: bool = False) -> BundleReader:
    """Open and check the structure: size, ZIP, exactly the members of its format, caps, the manifest.
    Format 1 (unsigned, unencrypted) is refused unless the caller passes `allow_v1=True`."""
    zf = _open_zip(path)
    try:
        infos = zf.infolist()
        sealed = _check_members([i.filename for i in infos])
        _check_caps(infos)
        by_name = {i.filename: i for i in infos}
        raw, signature = _read_manifest(zf, by_name)
        manifest = _parse_manifest(raw, sealed=sealed, allow_v1=allow_v1)
        member = "versions.sealed" if sealed else "versions.ndjson"
        info = by_name[member]
        want = manifest.members[member].bytes
        if info.file_size != want:
            raise BundleError(
                f"{member} 大小 {info.file_size} 与清单的 {want} 不符",
                f"{member} size {info.file_size} differs from the manifest's {want}",
            )
        sig = None if signature is None else _decode_signature(signature)
        return BundleReader(path, manifest, zf, info, manifest_raw=raw, signature=sig)
    except BaseException:
        zf.close()
        raise


def _open_zip(path: Path) -> zipfile.ZipFile:
    name = path.name
    try:
        size = path.stat().st_size
    except OSError as e:
        raise BundleError(f"无法读取文件 {name}", f"cannot read {name}: {e.strerror}") from None
    if size > MAX_FILE_BYTES:
        raise BundleError(f"文件过大（{size} 字节）", f"file too large ({size} bytes)")
    try:
        return zipfile.ZipFile(path)
    except _DAMAGED:
        raise BundleError(
            "不是 ZIP 文件或文件已损坏（截断？）", "not a ZIP file, or damaged (truncated?)"
        ) from None


def _check_members(names: list[str]) -> bool:
    """Exactly the members of one format, each once; returns whether it is format 2 (sealed)."""
    sealed = "versions.sealed" in names
    expected = MEMBERS_V2 if sealed else MEMBERS
    if (
        sealed
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
    return sealed


def _check_caps(infos: list[zipfile.ZipInfo]) -> None:
    """Sizes, compression ratio and ZIP encryption, from the directory alone (nothing decompressed)."""
    total = 0
    for info in infos:
        name = info.filename
        cap = MAX_VERSIONS_BYTES if name.startswith("versions.") else MAX_MANIFEST_BYTES
        if info.file_size > cap:
            raise BundleError(f"{name} 超过大小上限", f"{name} is over its size cap")
        if (
            info.compress_size
            and info.file_size / info.compress_size > MAX_RATIO
            and info.file_size > CHUNK
        ):
            ratio = info.file_size // max(info.compress_size, 1)
            raise BundleError(
                f"{name} 压缩比异常（{ratio}:1），疑似压缩炸弹",
                f"{name} compression ratio {ratio}:1 is over the cap (zip bomb?)",
            )
        if info.flag_bits & 0x1:
            raise BundleError(
                f"{name} 使用了 ZIP 加密，格式不符", f"{name} uses ZIP encryption: not this format"
            )
        total += info.file_size
    if total > MAX_VERSIONS_BYTES + 2 * MAX_MANIFEST_BYTES:
        raise BundleError("解压后总大小超过上限", "total uncompressed size over the cap")


def _read_manifest(
    zf: zipfile.ZipFile, by_name: dict[str, zipfile.ZipInfo]
) -> tuple[bytes, bytes | None]:
    """manifest.json (capped) and, in format 2, manifest.sig as stored."""
    try:
        with zf.open(by_name["manifest.json"]) as f:
            raw = f.read(MAX_MANIFEST_BYTES + 1)
        signature = None
        if "manifest.sig" in by_name:
            with zf.open(by_name["manifest.sig"]) as f:
                signature = f.read(1024)
    except _DAMAGED as e:
        raise BundleError(
            "manifest.json 无法解压（文件损坏）", f"manifest.json cannot be read ({e})"
        ) from None
    if len(raw) > MAX_MANIFEST_BYTES:
        raise BundleError("manifest.json 超过大小上限", "manifest.json is over its size cap")
    return raw, signature


def _parse_manifest(raw: bytes, *, sealed: bool, allow_v1: bool) -> Manifest:
    """The manifest's header (format, versions) is checked before the model, then the model, then
    what the model cannot say (the member it lists, the format 2 fields)."""
    data = load_json(raw, "manifest.json ", "manifest.json")
    if not isinstance(data, dict):
        raise BundleError("manifest.json 不是 JSON 对象", "manifest.json is not a JSON object")
    version = _check_header(data, sealed=sealed, allow_v1=allow_v1)
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
        manifest.encryption is None or manifest.plain is None or manifest.device_public_key is None
    ):
        raise BundleError(
            "v2 清单缺少加密或签名信息",
            "the format 2 manifest lacks its encryption or signing fields",
        )
    return manifest


def _check_header(data: dict[str, Any], *, sealed: bool, allow_v1: bool) -> int:
    """format, format_version (and whether format 1 is allowed here), schema_version."""
    if data.get("format") != FORMAT:
        shown = clean(repr(data.get("format")), 60)
        raise BundleError(
            f"不是 fieldapp 同步包（format={shown}）", f"not a fieldapp bundle (format={shown})"
        )
    version = data.get("format_version")
    if version not in (1, 2) or isinstance(version, bool):
        shown = clean(repr(version), 60)
        raise BundleError(
            f"不支持的格式版本 format_version={shown}（本程序读取版本 1 和 2）",
            f"unknown format_version {shown} (this fieldapp reads 1 and 2)",
        )
    if (version == 2) != sealed:
        raise BundleError(
            f"格式版本 {version} 与成员不符",
            f"format_version {version} does not match the members",
        )
    if version == 1 and not allow_v1:
        raise BundleError(
            "v1 格式的同步包未签名、未加密，只在明确允许时接受（--allow-v1）",
            "format 1 bundles are unsigned and unencrypted: accepted only with --allow-v1",
        )
    if data.get("schema_version") not in READABLE_SCHEMAS:
        shown = clean(repr(data.get("schema_version")), 60)
        raise BundleError(
            f"不支持的记录结构版本 schema_version={shown}（本程序读取 1 和 2）",
            f"unknown schema_version {shown} (this fieldapp reads 1 and 2)",
        )
    return int(version)


def _decode_signature(signature: bytes) -> bytes:
    from fieldapp import crypto

    try:
        return crypto.unb64(signature.decode("ascii").strip())
    except (ValueError, UnicodeDecodeError):
        raise BundleError(
            "manifest.sig 不是有效的签名", "manifest.sig is not a valid signature"
        ) from None
