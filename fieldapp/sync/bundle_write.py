"""Writing sync bundles (SPEC §5): streamed and atomic, format 1 plain or format 2 signed and sealed.

A crash never leaves a half bundle under the real name, and format 2 never puts plaintext on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fieldapp import models
from fieldapp.sync.bundle_format import (
    CHUNK,
    FORMAT,
    FORMAT_VERSION,
    BundleError,
    Manifest,
    Progress,
    bundle_name,
    file_sha256,
)


def _parents_json(stored: str | None) -> str:
    """also_parents as compact JSON (nearly always the empty list, written as it is)."""
    if not stored or stored == "[]":
        return "[]"
    return json.dumps(json.loads(stored), separators=(",", ":"))


def version_line(row: dict[str, Any]) -> str:
    """One line of versions.ndjson, keys sorted; `payload` is the stored canonical JSON text."""
    return (
        '{"also_parents":'
        + _parents_json(row["also_parents"])
        + ',"content_hash":'
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
        + str(row["payload"])
        + ',"payload_schema":'
        + str(int(row["payload_schema"] or 1))
        + ',"record_id":'
        + json.dumps(row["record_id"])
        + ',"version_id":'
        + json.dumps(row["version_id"])
        + "}\n"
    )


@dataclass(frozen=True)
class Seal:
    """What a device needs to write format 2: the district's public key and its own signing key."""

    district_public: bytes
    sign_private: str
    sign_public: str
    # office sync: (device_id, X25519 public key) of colleagues the stream key is also sealed to
    colleagues: tuple[tuple[str, bytes], ...] = ()


@dataclass
class Written:
    """A bundle on disk, its manifest, and the file's digest (the export records both)."""

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

    sealed_keys, cipher = crypto.seal_stream_to(
        plain_chunks(), [seal.district_public, *(pk for _, pk in seal.colleagues)]
    )
    sealed_key = sealed_keys[0]
    encryption: dict[str, Any] = {"scheme": crypto.SCHEME, "sealed_key": sealed_key}
    if seal.colleagues:
        encryption["colleagues"] = {
            device_id: k for (device_id, _), k in zip(seal.colleagues, sealed_keys[1:], strict=True)
        }
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
                "encryption": encryption,
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
    tmp.unlink(missing_ok=True)  # left by a crash: the name is ours
    # born 0600 (STYLE: files are born private): a bundle names elders even when sealed
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as raw:
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
