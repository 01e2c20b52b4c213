"""Export on the device: every version made here since the last export (or all, `full`) into one bundle.

The USB stick is the weak part: a missing folder is refused (no bundle lands on the laptop's own
disk), a full or read-only stick is a message, and an export killed between writing the bundle and
recording it is recovered by the next export (the bundle it left is recorded, not written again).
"""

from __future__ import annotations

import errno
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any, TypedDict, Unpack

from fieldapp import __version__, ids, integrity, kinds, paths
from fieldapp.sqlite import sqlite3
from fieldapp.store import Store, StoreError
from fieldapp.sync.bundle_check import verify
from fieldapp.sync.bundle_format import SUFFIX, BundleError, Progress, bundle_name
from fieldapp.sync.bundle_write import Seal, version_line, write_bundle

PENDING = "export_pending"  # db_state: the export being written, until it is recorded


class ExportFault(BundleError):
    """The target folder cannot take the bundle (missing, full, read-only); nothing was written."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    bundle_id: str
    seq: int
    versions: int
    counts: dict[str, int]
    full: bool
    recovered: Path | None = None  # a bundle an interrupted export left, recorded now


def usb_fault(e: OSError, out_dir: Path) -> ExportFault:
    """An OSError while writing to the stick, as the message a worker can act on."""
    if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return ExportFault(
            f"U盘已满，未导出：{out_dir}（请腾出空间或换一个U盘）",
            f"the USB stick is full, nothing exported: {out_dir}",
        )
    if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return ExportFault(
            f"U盘只读，未导出：{out_dir}（请检查U盘的写保护开关）",
            f"the USB stick is read-only, nothing exported: {out_dir}",
        )
    return ExportFault(
        f"写入U盘失败，未导出：{out_dir}（{e.strerror or e}）",
        f"writing to the USB stick failed, nothing exported: {out_dir} ({e.strerror or e})",
    )


def target_folder(out_dir: Path, *, mkdir: bool) -> None:
    """The folder must exist (a stick that is not plugged in is not silently replaced by a folder
    on the laptop); `mkdir` creates it, 0700."""
    if out_dir.is_dir():
        return
    if out_dir.exists():
        raise ExportFault(f"目标不是文件夹：{out_dir}", f"the target is not a folder: {out_dir}")
    if not mkdir:
        raise ExportFault(
            f"未找到U盘文件夹：{out_dir}（请插好U盘；命令行导出可加 --mkdir 新建该文件夹）",
            f"USB folder not found: {out_dir} (plug in the stick, or use --mkdir to create it)",
        )
    try:
        paths.private_dirs(out_dir)
    except OSError as e:
        raise usb_fault(e, out_dir) from None


def _seal(store: Store, *, allow_v1: bool, for_colleagues: bool) -> Seal | None:
    """Whom the bundle is sealed to: the district (and, for office sync, the community's other
    laptops); None only for a format 1 bundle, which needs `allow_v1`."""
    keys = store.keys()
    if keys.get("district_public"):
        from fieldapp import crypto

        seal = Seal(
            crypto.unb64(keys["district_public"]), keys["sign_private"], keys["sign_public"]
        )
        if for_colleagues:  # office sync (SPEC §5b): also sealed to the community's other laptops
            from fieldapp.sync.office import colleagues

            seal = replace(seal, colleagues=colleagues(store))
        return seal
    if not allow_v1:
        raise StoreError(
            "本设备尚未安装区级公钥，不能导出加密同步包（fieldapp device-key install 区级公钥文件）",
            "no district public key on this device: install it first (fieldapp device-key install FILE)",
        )
    return None


class ExportOptions(TypedDict, total=False):
    """What `export` writes and how it is sealed; each default is the safe or the usual one."""

    period: str | None  # the bundle's month (YYYY-MM), this month by default
    full: bool  # every version made here, not only those since the last export
    progress: Progress | None
    until_hlc: str | None
    allow_v1: bool
    for_colleagues: bool


def export(
    store: Store, out_dir: Path, *, mkdir: bool = False, **options: Unpack[ExportOptions]
) -> ExportResult:
    """Write, read back and verify a bundle of the versions made on this device, then record the export. Local data is never changed
    (only the export history); a failure leaves no bundle behind and records nothing.

    Without the district's public key on the device, only `allow_v1=True` writes a format 1 bundle
    (unsigned, unencrypted); the default refuses.

    `until_hlc` stops at the first version made at or after that time (the demo and the
    benchmark use it to cut a year of work into the monthly bundles it would have made).

    A missing `out_dir` is refused ("未找到U盘文件夹", `target_folder`): an unplugged stick must not
    become a folder on the laptop's own disk, whoever calls. Only `mkdir=True` (the CLI's
    `--mkdir`, the benchmark writing into a folder of its own) creates it, 0700. The database
    passes quick_check next."""
    full, until_hlc = options.get("full", False), options.get("until_hlc")
    target_folder(out_dir, mkdir=mkdir)
    integrity.check(store.conn, integrity.db_file(store.conn), remember=False)
    recovered = recover(store, out_dir)
    dev = store.device()
    if dev is None or dev.role != "device" or not dev.community_code or not dev.street_code:
        raise StoreError(
            "本设备尚未设置（请先运行 fieldapp init）",
            "device not set up: run `fieldapp init` first",
        )
    seal = _seal(
        store,
        allow_v1=options.get("allow_v1", False),
        for_colleagues=options.get("for_colleagues", False),
    )
    period = options.get("period") or date.today().strftime("%Y-%m")
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
        if recovered is not None:
            return _recovered_result(store, recovered)
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

    name = bundle_name(dev.community_code, period, dev.device_id, seq)
    pending = {"dir": str(out_dir.resolve()), "name": name, "bundle_id": fields["bundle_id"],
               "seq": seq, "period": period, "full": int(full), "versions": int(total),
               "upto": int(upto)}  # fmt: skip
    _set_pending(conn, pending)
    try:
        written = write_bundle(
            out_dir, fields, lines(), total=int(total), progress=options.get("progress"), seal=seal
        )
    except OSError as e:
        _set_pending(conn, None)
        raise usb_fault(e, out_dir) from None
    except BaseException:
        _set_pending(conn, None)
        raise
    report = verify(written.path)
    if not report.ok:
        written.path.unlink(missing_ok=True)
        _set_pending(conn, None)
        raise BundleError(
            f"导出后校验失败，已删除：{report.problem}",
            f"verification after export failed, file removed: {report.problem}",
        )
    _record(store, pending, written.path)
    return ExportResult(
        written.path,
        written.manifest.bundle_id,
        seq,
        int(total),
        written.manifest.counts,
        full,
        recovered,
    )


def _set_pending(conn: sqlite3.Connection, pending: dict[str, Any] | None) -> None:
    """The export being written, kept until it is recorded: what the next export recovers from."""
    if pending is None:
        conn.execute("DELETE FROM db_state WHERE key = ?", (PENDING,))
        return
    conn.execute(
        "INSERT INTO db_state (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (PENDING, json.dumps(pending)),
    )


def _record(store: Store, pending: dict[str, Any], path: Path) -> None:
    """The export in the history, with the file's own manifest and digest; the mark cleared."""
    from fieldapp.sync.bundle_format import file_sha256
    from fieldapp.sync.bundle_read import open_bundle

    with open_bundle(path, allow_v1=True) as reader:
        m = reader.manifest
    with store.transaction():
        store.conn.execute(
            "INSERT INTO exports (bundle_id, seq, period, full, created_at, file_name, file_sha256, versions, upto_seq, counts)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                m.bundle_id,
                m.seq,
                m.period,
                int(pending["full"]),
                m.created_at,
                path.name,
                file_sha256(path),
                int(pending["versions"]),
                int(pending["upto"]),
                json.dumps(m.counts),
            ),
        )
        _set_pending(store.conn, None)


def recover(store: Store, out_dir: Path) -> Path | None:
    """An export killed after its bundle was renamed into place but before it was recorded: the
    bundle (found in its folder or in this one, verified, this export's id) is recorded now. One
    killed before the rename left at most a temporary file, which is removed."""
    row = store.conn.execute("SELECT value FROM db_state WHERE key = ?", (PENDING,)).fetchone()
    if row is None:
        return None
    pending = _pending(row[0])
    if pending is None:  # not what export wrote: forget it
        _set_pending(store.conn, None)
        return None
    name = str(pending["name"])
    folders = (Path(str(pending["dir"])), out_dir)
    for folder in folders:
        (folder / f".{name}.tmp").unlink(missing_ok=True)
    for folder in folders:
        path = folder / name
        if path.is_file() and _is_pending_bundle(path, pending):
            _record(store, pending, path)
            return path
    for folder in folders:  # a file under that name that is not it (cut short when the stick was
        # pulled): kept aside, never deleted, so this export can take the name again
        path = folder / name
        if path.is_file():
            path.rename(_aside(path))
    _set_pending(store.conn, None)
    return None


def _aside(path: Path) -> Path:
    """`<name>.damaged` (or `.damaged-2`, …): a name no export or merge reads."""
    n = 1
    while True:
        aside = path.with_name(f"{path.name}.damaged" + (f"-{n}" if n > 1 else ""))
        if not aside.exists():
            return aside
        n += 1


def _pending(text: str) -> dict[str, Any] | None:
    """The mark as export wrote it: a bundle's bare file name and the fields `_record` needs."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not all(
        k in data for k in ("dir", "name", "bundle_id", "full", "versions", "upto")
    ):
        return None
    name = data["name"]
    if not isinstance(name, str) or Path(name).name != name or not name.endswith(SUFFIX):
        return None
    return data


def _is_pending_bundle(path: Path, pending: dict[str, Any]) -> bool:
    report = verify(path)
    return (
        report.ok
        and report.manifest is not None
        and report.manifest.bundle_id == pending["bundle_id"]
    )


def _recovered_result(store: Store, path: Path) -> ExportResult:
    row = store.conn.execute("SELECT * FROM exports ORDER BY seq DESC LIMIT 1").fetchone()
    return ExportResult(
        path,
        row["bundle_id"],
        int(row["seq"]),
        int(row["versions"]),
        json.loads(row["counts"]),
        bool(row["full"]),
        path,
    )


def history(store: Store, limit: int = 100) -> list[dict[str, Any]]:
    """Past exports, newest first."""
    return [
        dict(r)
        for r in store.conn.execute("SELECT * FROM exports ORDER BY seq DESC LIMIT ?", (limit,))
    ]
