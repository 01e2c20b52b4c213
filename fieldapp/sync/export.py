"""Export on the device: every version made here since the last export (or all, `full`) into one bundle."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

from fieldapp import __version__, ids, kinds
from fieldapp.store import Store, StoreError
from fieldapp.sync.bundle_check import verify
from fieldapp.sync.bundle_format import BundleError, Progress
from fieldapp.sync.bundle_write import Seal, version_line, write_bundle


@dataclass(frozen=True)
class ExportResult:
    path: Path
    bundle_id: str
    seq: int
    versions: int
    counts: dict[str, int]
    full: bool


def export(
    store: Store,
    out_dir: Path,
    *,
    period: str | None = None,
    full: bool = False,
    progress: Progress | None = None,
    until_hlc: str | None = None,
    allow_v1: bool = False,
    for_colleagues: bool = False,
) -> ExportResult:
    """Write, read back and verify a bundle of the versions made on this device, then record the export. Local data is never changed
    (only the export history); a failure leaves no bundle behind and records nothing.

    Without the district's public key on the device, only `allow_v1=True` writes a format 1 bundle
    (unsigned, unencrypted); the default refuses.

    `until_hlc` stops at the first version made at or after that time (the demo and the
    benchmark use it to cut a year of work into the monthly bundles it would have made)."""
    dev = store.device()
    if dev is None or dev.role != "device" or not dev.community_code or not dev.street_code:
        raise StoreError(
            "本设备尚未设置（请先运行 fieldapp init）",
            "device not set up: run `fieldapp init` first",
        )
    keys = store.keys()
    seal = None
    if keys.get("district_public"):
        from fieldapp import crypto

        seal = Seal(
            crypto.unb64(keys["district_public"]), keys["sign_private"], keys["sign_public"]
        )
        if for_colleagues:  # office sync (SPEC §5b): also sealed to the community's other laptops
            from fieldapp.sync.office import colleagues

            seal = replace(seal, colleagues=colleagues(store))
    elif not allow_v1:
        raise StoreError(
            "本设备尚未安装区级公钥，不能导出加密同步包（fieldapp device-key install 区级公钥文件）",
            "no district public key on this device: install it first (fieldapp device-key install FILE)",
        )
    period = period or date.today().strftime("%Y-%m")
    conn = store.conn
    last = conn.execute(
        "SELECT bundle_id, seq, upto_seq FROM exports ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    since = 0 if full or last is None else int(last["upto_seq"])
    stop = None
    if until_hlc is not None:
        stop = conn.execute(
            "SELECT min(seq) FROM versions WHERE origin = 'local' AND device_id = ? AND seq > ? AND hlc >= ?",
            (dev.device_id, since, until_hlc),
        ).fetchone()[0]
    total, upto = conn.execute(
        "SELECT count(*), max(seq) FROM versions WHERE origin = 'local' AND device_id = ? AND seq > ? AND seq < ?",
        (dev.device_id, since, stop if stop is not None else 2**62),
    ).fetchone()
    if not total:
        raise StoreError(
            "自上次导出以来没有新的记录（如需重新导出全部，请用 --full）",
            "nothing new since the last export (use --full to export everything again)",
        )
    seq = (int(last["seq"]) if last else 0) + 1
    fields: dict[str, Any] = {
        "bundle_id": ids.uuid7(),
        "device_id": dev.device_id,
        "device_label": dev.label,
        "worker": dev.worker or "",
        "street_code": dev.street_code,
        "community_code": dev.community_code,
        "period": period,
        "created_at": kinds.now_iso(),
        "seq": seq,
        "prev_bundle_id": last["bundle_id"] if last else None,
        "app_version": __version__,
    }
    applied = dict(  # SPEC §5b: which of the district's return bundles this laptop has applied
        conn.execute(
            "SELECT community_code, max(seq) FROM applied_returns WHERE source = 'district'"
            " GROUP BY community_code"
        ).fetchall()
    )
    if applied:
        fields["returns_applied"] = applied

    def lines() -> Iterator[tuple[str, str, str]]:
        cur = conn.execute(
            "SELECT version_id, kind, record_id, parent_version_id, also_parents, hlc, device_id, deleted, content_hash,"
            " payload, payload_schema"
            " FROM versions WHERE origin = 'local' AND device_id = ? AND seq > ? AND seq <= ? ORDER BY seq",
            (dev.device_id, since, upto),
        )
        for row in cur:
            yield row["kind"], row["hlc"], version_line(row)

    written = write_bundle(out_dir, fields, lines(), total=int(total), progress=progress, seal=seal)
    report = verify(written.path)
    if not report.ok:
        written.path.unlink(missing_ok=True)
        raise BundleError(
            f"导出后校验失败，已删除：{report.problem}",
            f"verification after export failed, file removed: {report.problem}",
        )
    with store.transaction():
        conn.execute(
            "INSERT INTO exports (bundle_id, seq, period, full, created_at, file_name, file_sha256, versions, upto_seq, counts)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                written.manifest.bundle_id,
                seq,
                period,
                int(full),
                written.manifest.created_at,
                written.path.name,
                written.file_sha256,
                int(total),
                int(upto),
                json.dumps(written.manifest.counts),
            ),
        )
    return ExportResult(
        written.path, written.manifest.bundle_id, seq, int(total), written.manifest.counts, full
    )


def history(store: Store, limit: int = 100) -> list[dict[str, Any]]:
    """Past exports, newest first."""
    return [
        dict(r)
        for r in store.conn.execute("SELECT * FROM exports ORDER BY seq DESC LIMIT ?", (limit,))
    ]
