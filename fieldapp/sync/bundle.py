"""Sync bundles, format version 1 (SPEC §5): write them streaming and atomically, read and check them safely.

Reading never trusts the file: caps on size, member names and compression ratio come before
anything is decompressed, and the digests, sizes and line counts of the manifest are checked
against what was actually read.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from fieldapp import models

FORMAT = "fieldapp-bundle"
FORMAT_VERSION = 1
MEMBERS = ("manifest.json", "versions.ndjson")
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
    lines: int


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
) -> Written:
    """Write a bundle: `lines` yields (kind, hlc, ndjson line). The versions go to a temporary file
    first (constant memory, digests on the way), then into the ZIP under a temporary name, which is
    fsynced and renamed: a crash never leaves a half bundle under the real name."""
    out_dir.mkdir(parents=True, exist_ok=True)
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
        final = out_dir / name
        if final.exists():
            raise BundleError(f"文件已存在：{name}", f"file exists: {name}")
        tmp = out_dir / f".{name}.tmp"
        spool.seek(0)
        try:
            with open(tmp, "wb") as raw:
                with zipfile.ZipFile(
                    raw, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6
                ) as zf:
                    zf.writestr(
                        "manifest.json",
                        json.dumps(manifest.model_dump(), ensure_ascii=False, indent=2),
                    )
                    with zf.open("versions.ndjson", "w", force_zip64=n_bytes > (1 << 31)) as member:
                        shutil.copyfileobj(spool, member, CHUNK)
                raw.flush()
                os.fsync(raw.fileno())
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    _fsync_dir(out_dir)
    if progress:
        progress(n_lines, total or n_lines)
    return Written(final, manifest, file_sha256(final))


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
    error: str | None = None


@dataclass
class BundleReader:
    """An opened, structurally checked bundle. `lines()` streams the versions and, at its end,
    checks them against the manifest (sha256, bytes, lines)."""

    path: Path
    manifest: Manifest
    _zip: zipfile.ZipFile
    _info: zipfile.ZipInfo
    stats: dict[str, int] = field(default_factory=dict)

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> BundleReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def lines(self) -> Iterator[Line]:
        want = self.manifest.members["versions.ndjson"]
        digest = hashlib.sha256()
        n_bytes = n_lines = 0
        with self._zip.open(self._info) as member:
            stream: IO[bytes] = io.BufferedReader(member, CHUNK)  # type: ignore[type-var]
            while True:
                data = stream.readline(MAX_LINE_BYTES + 1)
                if not data:
                    break
                n_bytes += len(data)
                if n_bytes > want.bytes or n_bytes > MAX_VERSIONS_BYTES:
                    raise BundleError(
                        f"versions.ndjson 比清单所列的 {want.bytes} 字节长",
                        f"versions.ndjson is longer than the manifest's {want.bytes} bytes",
                    )
                digest.update(data)
                n_lines += 1
                if len(data) > MAX_LINE_BYTES:
                    raise BundleError(
                        f"第{n_lines}行过长（超过1 MiB）", f"line {n_lines} is longer than 1 MiB"
                    )
                if not data.endswith(b"\n"):
                    raise BundleError(
                        f"第{n_lines}行没有换行结尾（文件被截断？）",
                        f"line {n_lines} does not end with a newline (truncated?)",
                    )
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError:
                    raise BundleError(
                        f"第{n_lines}行不是 UTF-8", f"line {n_lines} is not UTF-8"
                    ) from None
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as e:
                    raise BundleError(
                        f"第{n_lines}行不是有效的 JSON：{e.msg}",
                        f"line {n_lines} is not valid JSON: {e.msg}",
                    ) from None
                if not isinstance(obj, dict):
                    raise BundleError(
                        f"第{n_lines}行不是 JSON 对象", f"line {n_lines} is not a JSON object"
                    )
                yield Line(n_lines, text, obj)
        got = digest.hexdigest()
        if n_bytes != want.bytes or n_lines != want.lines or got != want.sha256:
            raise BundleError(
                f"versions.ndjson 与清单不符（字节 {n_bytes}/{want.bytes}，行 {n_lines}/{want.lines}，摘要{'一致' if got == want.sha256 else '不一致'}）",
                f"versions.ndjson does not match the manifest (bytes {n_bytes}/{want.bytes}, lines {n_lines}/{want.lines}, sha256 {'ok' if got == want.sha256 else 'differs'})",
            )
        self.stats = {"bytes": n_bytes, "lines": n_lines}


def open_bundle(path: Path) -> BundleReader:
    """Open and check the structure: size, ZIP, exactly the two members, caps, the manifest."""
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
        if sorted(names) != sorted(MEMBERS) or len(set(names)) != len(names):
            extra = sorted(set(names) - set(MEMBERS))
            missing = sorted(set(MEMBERS) - set(names))
            raise BundleError(
                f"成员不符：多出 {extra or '无'}，缺少 {missing or '无'}",
                f"wrong members: unexpected {extra or 'none'}, missing {missing or 'none'}",
            )
        by_name = {i.filename: i for i in infos}
        total = 0
        for info in infos:
            cap = MAX_MANIFEST_BYTES if info.filename == "manifest.json" else MAX_VERSIONS_BYTES
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
                    f"{info.filename} 已加密，v1 格式不支持",
                    f"{info.filename} is encrypted: not format v1",
                )
            total += info.file_size
        if total > MAX_VERSIONS_BYTES + MAX_MANIFEST_BYTES:
            raise BundleError("解压后总大小超过上限", "total uncompressed size over the cap")
        try:
            with zf.open(by_name["manifest.json"]) as f:
                raw = f.read(MAX_MANIFEST_BYTES + 1)
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
        if data.get("format_version") != FORMAT_VERSION:
            raise BundleError(
                f"不支持的格式版本 format_version={data.get('format_version')!r}（本程序读取版本 {FORMAT_VERSION}）",
                f"unknown format_version {data.get('format_version')!r} (this fieldapp reads {FORMAT_VERSION})",
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
        if set(manifest.members) != {"versions.ndjson"}:
            raise BundleError(
                "manifest.json 的 members 须只列 versions.ndjson",
                "manifest members must list versions.ndjson only",
            )
        info = by_name["versions.ndjson"]
        if info.file_size != manifest.members["versions.ndjson"].bytes:
            raise BundleError(
                f"versions.ndjson 大小 {info.file_size} 与清单的 {manifest.members['versions.ndjson'].bytes} 不符",
                f"versions.ndjson size {info.file_size} differs from the manifest's {manifest.members['versions.ndjson'].bytes}",
            )
        return BundleReader(path, manifest, zf, info)
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


def verify(path: Path) -> Report:
    """Check a bundle completely without touching any database: structure, every line's envelope
    and payload with the record models, counts and hlc range against the manifest."""
    try:
        reader = open_bundle(path)
    except BundleError as e:
        return Report(path, False, str(e), None, {})
    counts: dict[str, int] = {}
    try:
        with reader:
            m = reader.manifest
            for line in reader.lines():
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
        return Report(path, False, str(e), reader.manifest, counts)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
        return Report(
            path,
            False,
            str(BundleError("文件损坏，无法解压", f"damaged file, cannot decompress ({e})")),
            reader.manifest,
            counts,
        )
    return Report(path, True, None, reader.manifest, counts)
