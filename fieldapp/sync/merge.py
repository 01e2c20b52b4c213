"""Merge bundles into the district database (SPEC §6): one transaction per bundle, all or nothing.

The result does not depend on the order of the bundles, on merging one twice or on how the
versions were split into bundles: versions are a set keyed by version_id, and every derived
row (current tables, conflicts, review queues) is recomputed from that set (sync/settle.py) for
each record a bundle touches.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypedDict, Unpack

from fieldapp import hlc, integrity, models
from fieldapp.kinds import now_iso
from fieldapp.sqlite import sqlite3
from fieldapp.sync import authority
from fieldapp.sync.bundle_check import (
    Enrolment,
    LineInvalid,
    Tally,
    check_enrolled,
    check_line,
    check_signer,
    line_context,
)
from fieldapp.sync.bundle_format import (
    MAX_SEQ_STEP,
    SUFFIX,
    BundleError,
    Manifest,
    Progress,
    file_sha256,
)
from fieldapp.sync.bundle_read import BundleReader, open_bundle
from fieldapp.sync.settle import KindSummary, in_slices, settle_batch
from fieldapp.text import clean

if TYPE_CHECKING:
    from nacl.public import PrivateKey

COMMUNITY_KINDS = ("elder", "meal_point", "volunteer", "volunteer_event")


class Cancel(Protocol):
    """What stops a run of merges between bundles (a `threading.Event` set by the supervisor's screen)."""

    def is_set(self) -> bool: ...


Notice = Callable[[str], None]  # a line to show now (the countdown while the database is busy)


class MergeOptions(TypedDict, total=False):
    """How each bundle of a `merge_files` run is merged: the keyword arguments of `merge_bundle`,
    whose defaults are the safe ones (format 1 refused, invalid lines refuse the whole bundle)."""

    skip_invalid: bool
    dry_run: bool
    district_key: PrivateKey | None
    allow_v1: bool
    notice: Notice | None


class BundleOptions(MergeOptions, total=False):
    """`merge_bundle` also takes the district's clock (tests) and a per-line progress callback."""

    now_ms: int | None
    progress: Progress | None


LOCK_WAIT_S = 30  # how long a merge waits for another program's write lock (FIELDAPP_LOCK_WAIT)


class DatabaseBusy(BundleError):
    """Another program held the district database's write lock for longer than the merge waits."""

    def __init__(self) -> None:
        super().__init__(
            "另一个程序正在使用区级数据库，请关闭后重试",
            "another program is using the district database; close it and try again",
        )


# (line, kind, record_id, version_id, reason, raw line): a row of rejected_versions without its bundle
Rejected = tuple[int, str | None, str, object, str, str]


@dataclass
class BundleResult:
    path: Path
    status: str  # merged | already | invalid | checked (dry run) | busy (the lock was not free)
    reason: str | None = None
    bundle_id: str | None = None
    device_id: str | None = None
    seq: int | None = None
    versions: int = 0
    kinds: dict[str, KindSummary] = field(default_factory=dict)
    rejected: list[tuple[int, str, str]] = field(default_factory=list)  # (line, record_id, reason)
    clock_suspect: int = 0
    seconds: float = 0.0
    rejected_rows: list[Rejected] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        return self.status in ("merged", "already", "checked")


def bundle_files(paths: Iterable[Path]) -> list[Path]:
    """Files and folders → the bundle files, in name order (merging does not depend on it)."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(x for x in p.iterdir() if x.suffix == SUFFIX and x.is_file()))
        else:
            out.append(p)
    return out


def _refuse(conn: sqlite3.Connection) -> None:
    role = conn.execute("SELECT role FROM device").fetchone()
    if role is None or role[0] != "district":
        raise BundleError(
            "这不是区级数据库（请先运行 fieldapp district init）",
            "not a district database: run `fieldapp district init` first",
        )


def bundle_status(
    conn: sqlite3.Connection, path: Path
) -> tuple[str, str | None, dict[str, Any] | None]:
    """new / already / invalid, without merging (for the supervisor's list). A format 1 bundle is
    listed as what it is; whether it may be merged is decided at merge time (`allow_v1`)."""
    try:
        with open_bundle(path, allow_v1=True) as reader:
            m = reader.manifest
    except BundleError as e:
        return "invalid", str(e), None
    except Exception as e:  # a file must never stop the scan of a folder (SPEC §6)
        return "invalid", str(_unexpected(e)), None
    seen = conn.execute("SELECT 1 FROM bundles WHERE bundle_id = ?", (m.bundle_id,)).fetchone()
    return ("already" if seen else "new"), None, m.model_dump()


def _enrolment(conn: sqlite3.Connection, device_id: str, path: Path) -> dict[str, Enrolment]:
    """The district's enrolment of one device, in the shape `check_signer` reads. A revoked
    device's file the supervisor accepted (SPEC §4a) is checked as if it were not revoked."""
    row = conn.execute(
        "SELECT public_key, revoked_at FROM enrolled_devices WHERE device_id = ?", (device_id,)
    ).fetchone()
    if row is None:
        return {}
    revoked = None if row[1] and authority.accepted_file(conn, path, device_id) else row[1]
    return {device_id: Enrolment(row[0], revoked)}


def _open_checked(
    conn: sqlite3.Connection, path: Path, district_key: PrivateKey | None, allow_v1: bool
) -> BundleReader:
    """The bundle opened, and (format 2) its signer checked before anything is decrypted."""
    _refuse(conn)
    reader = open_bundle(path, allow_v1=allow_v1)
    try:
        if reader.version == 1:
            check_enrolled(reader.manifest, _enrolment(conn, reader.manifest.device_id, path))
        if reader.version == 2:
            check_signer(reader, _enrolment(conn, reader.manifest.device_id, path))
            reader.check_sealed()  # the signed digest of the sealed member, before "already"
    except BaseException:
        reader.close()
        raise
    return reader


def merge_bundle(
    conn: sqlite3.Connection, path: Path, **options: Unpack[BundleOptions]
) -> BundleResult:
    """Merge one bundle in one transaction. Format 1 bundles (unsigned, unencrypted) are refused
    unless `allow_v1=True` (and then only from an enrolled device); format 2 needs `district_key`.
    Whatever the file holds, the result is a merge or a refusal with its reason."""
    started = time.perf_counter()
    result = BundleResult(path, "invalid")
    try:
        _merge(conn, path, result, options)
    except DatabaseBusy as e:
        result.status, result.reason = "busy", str(e)
    except BundleError as e:
        result.reason = str(e)
    except sqlite3.OperationalError as e:
        if not _is_busy(e):
            raise
        result.status, result.reason = "busy", str(DatabaseBusy())
    if not result.ok:
        result.kinds, result.rejected, result.rejected_rows, result.versions = {}, [], [], 0
    result.seconds = time.perf_counter() - started
    return result


def _merge(
    conn: sqlite3.Connection, path: Path, result: BundleResult, options: BundleOptions
) -> None:
    """The steps of `merge_bundle`; a refusal is a BundleError, and the transaction is rolled back."""
    district_key = options.get("district_key")
    with _open_checked(conn, path, district_key, options.get("allow_v1", False)) as reader:
        m = reader.manifest
        result.bundle_id, result.device_id, result.seq = m.bundle_id, m.device_id, m.seq
        if _already(conn, m):
            result.status = "already"
            return
        if reader.version == 2 and district_key is None:
            raise BundleError(
                "合并加密同步包需要区级私钥（--key）",
                "merging an encrypted bundle needs the district private key (--key)",
            )
        _check_seq(conn, m)
        batch = _Batch.start(conn, m, result, options.get("skip_invalid", False))
        now_ms = options.get("now_ms")
        if now_ms is not None:
            batch.now_ms = now_ms
        dry_run = options.get("dry_run", False)
        batch.enrolment = authority.check_bundle(conn, m, path, record_clone=not dry_run)
        begin_immediate(conn, options.get("notice"))
        try:
            if _already(conn, m):  # another merge took it while this one read the file
                conn.execute("ROLLBACK")
                result.status = "already"
                return
            _load_versions(batch, reader, options.get("progress"), district_key)
            _record_bundle(conn, path, m, result)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if options.get("dry_run", False):
            conn.execute("ROLLBACK")
            result.status = "checked"
        else:
            conn.execute("COMMIT")
            result.status = "merged"


def _already(conn: sqlite3.Connection, m: Manifest) -> bool:
    return (
        conn.execute("SELECT 1 FROM bundles WHERE bundle_id = ?", (m.bundle_id,)).fetchone()
        is not None
    )


def _check_seq(conn: sqlite3.Connection, m: Manifest) -> None:
    """A seq far above the device's last one would only open a huge gap of 'missing' bundles."""
    (last,) = conn.execute(
        "SELECT coalesce(max(seq), 0) FROM bundles WHERE device_id = ?", (m.device_id,)
    ).fetchone()
    if m.seq > last + MAX_SEQ_STEP:
        raise BundleError(
            f"同步包序号 seq={m.seq} 比该设备上次合并的 {last} 大 {MAX_SEQ_STEP} 以上，不予接受",
            f"seq {m.seq} is more than {MAX_SEQ_STEP} above the device's last merged seq {last}: refused",
        )


def _lock_wait() -> float:
    try:
        return max(0.0, float(os.environ.get("FIELDAPP_LOCK_WAIT", LOCK_WAIT_S)))
    except ValueError:
        return float(LOCK_WAIT_S)


def _is_busy(e: sqlite3.OperationalError) -> bool:
    text = str(e)
    return "locked" in text or "busy" in text


def begin_immediate(conn: sqlite3.Connection, notice: Notice | None = None) -> None:
    """Take the write lock, waiting up to FIELDAPP_LOCK_WAIT seconds (default 30) while another
    program holds it, with a countdown through `notice`; then DatabaseBusy, never a traceback."""
    deadline = time.monotonic() + _lock_wait()
    (saved,) = conn.execute("PRAGMA busy_timeout").fetchone()
    conn.execute("PRAGMA busy_timeout = 200")
    shown = -1
    try:
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as e:
                if not _is_busy(e):
                    raise
            left = deadline - time.monotonic()
            if left <= 0:
                raise DatabaseBusy()
            if notice is not None and math.ceil(left) != shown:
                shown = math.ceil(left)
                notice(
                    f"区级数据库正被另一个程序使用，等待中…还剩 {shown} 秒"
                    f"（the district database is in use by another program; waiting, {shown} s left）"
                )
            time.sleep(min(0.2, left))
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(saved)}")


def _unexpected(e: Exception) -> BundleError:
    """The last net for a failure no check foresaw: still a refusal of this one file, with its type."""
    return BundleError(
        f"无法处理此文件（{type(e).__name__}）：{clean(e, 200)}",
        f"this file cannot be processed ({type(e).__name__}): {clean(e, 200)}",
    )


def _record_bundle(conn: sqlite3.Connection, path: Path, m: Manifest, result: BundleResult) -> None:
    """The bundle's row in `bundles` (what makes a second merge 'already') and its rejected lines."""
    from fieldapp.sync.return_write import record_acks

    record_acks(conn, m)  # SPEC §5b: which return bundles the laptop had applied
    conn.executemany(
        "INSERT INTO rejected_versions (bundle_id, line_no, kind, record_id, version_id, reason, raw)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(m.bundle_id, *r) for r in result.rejected_rows],
    )
    new = sum(k.new + k.updated for k in result.kinds.values())
    conn.execute(
        "INSERT INTO bundles (bundle_id, device_id, device_label, worker, community_code, period, seq, file_name,"
        " file_sha256, counts, versions_new, versions_dup, rejected, merged_at, app_version)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            m.bundle_id,
            m.device_id,
            m.device_label,
            m.worker,
            m.community_code,
            m.period,
            m.seq,
            path.name,
            file_sha256(path),
            json.dumps(m.counts),
            new,
            sum(k.unchanged for k in result.kinds.values()),
            len(result.rejected),
            now_iso(),
            m.app_version,
        ),
    )


CHUNK_LINES = 2000  # versions validated, inserted and settled together (memory stays bounded)


@dataclass
class _Batch:
    """What every chunk of one bundle's merge needs, read from the district database once."""

    conn: sqlite3.Connection
    manifest: Manifest
    result: BundleResult
    communities: set[str]
    skip_invalid: bool
    now_ms: int  # the district's clock, for the clock-ahead flags
    max_ahead: int
    now: str  # when conflicts, review items and clock flags are stamped
    enrolment: authority.Enrolment | None = None  # who may write what (SPEC §4a)

    @classmethod
    def start(
        cls,
        conn: sqlite3.Connection,
        m: Manifest,
        result: BundleResult,
        skip_invalid: bool,
    ) -> _Batch:
        communities = {r[0] for r in conn.execute("SELECT code FROM ref_community")}
        if m.community_code not in communities:
            raise BundleError(
                f"社区代码 {m.community_code} 不在区级参考数据中：请先添加该社区（fieldapp communities import），再合并",
                f"community code {m.community_code} is unknown to the district: add the community first, then merge again",
            )
        rule = "SELECT value FROM ref_rule WHERE key = 'hlc_max_ahead_ms'"
        max_ahead = int(json.loads(conn.execute(rule).fetchone()[0]))
        return cls(conn, m, result, communities, skip_invalid, hlc.wall_ms(), max_ahead, now_iso())


def _load_versions(
    b: _Batch,
    reader: BundleReader,
    progress: Progress | None,
    district_key: PrivateKey | None,
) -> None:
    """Validate the bundle's versions, insert the new ones and settle the records they touch,
    CHUNK_LINES at a time (settling is a recomputation, so doing it per chunk gives the same end)."""
    total = sum(b.manifest.counts.values())
    device_id, communities = b.manifest.device_id, b.communities
    context = line_context(b.manifest)
    tally = Tally(b.manifest, {})
    chunk: list[tuple[int, models.Version, models.Record]] = []
    for line in reader.lines(district_key):
        try:
            version, record = check_line(line, device_id, context)
        except LineInvalid as e:
            _reject(b, e)
            tally.add(line.no, clean(e.line.data.get("kind"), 40), None)
            continue
        tally.add(line.no, version.kind, version.hlc)
        code = getattr(record, "community_code", None)
        if code is not None and code not in communities:
            code = clean(code, 40)
            raise BundleError(
                f"第{line.no}行的社区代码 {code} 不在区级参考数据中：请先添加该社区，再合并",
                f"line {line.no}: community code {code} is unknown to the district: add it first, then merge again",
            )
        authority.check_version(b.enrolment, line.no, version, record)
        chunk.append((line.no, version, record))
        if len(chunk) >= CHUNK_LINES:
            _apply_chunk(b, chunk)
            chunk = []
            if progress:
                progress(line.no, total)
    if chunk:
        _apply_chunk(b, chunk)
    tally.finish()
    if progress:
        progress(total, total)


def _reject(b: _Batch, e: LineInvalid) -> None:
    """An invalid line refuses the whole bundle, or with skip_invalid is kept aside with its reason."""
    if not b.skip_invalid:
        raise BundleError(
            f"{e.zh}；整个同步包未合并（可用 --skip-invalid 合并其余记录）",
            f"{e.en}; the bundle was not merged (--skip-invalid merges the rest)",
        ) from None
    data, p = e.line.data, e.problem
    kind = str(data.get("kind", ""))
    b.result.kinds.setdefault(kind or "?", KindSummary()).rejected += 1
    b.result.rejected.append((e.line.no, e.record_id, p.text("zh")))
    b.result.rejected_rows.append(
        (
            e.line.no,
            kind or None,
            e.record_id,
            data.get("version_id"),
            f"{p.text('zh')} | {p.text('en')}",
            e.line.raw,
        )
    )


def _apply_chunk(b: _Batch, chunk: list[tuple[int, models.Version, models.Record]]) -> None:
    """Insert the chunk's new versions (a known version_id must carry the same content), flag the
    clocks far ahead, and settle the records they touch."""
    conn, result, bundle_id = b.conn, b.result, b.manifest.bundle_id
    known = {
        r[0]: tuple(r)
        for r in in_slices(
            conn,
            "SELECT version_id, content_hash, kind, record_id FROM versions WHERE version_id IN ({})",
            [v.version_id for _, v, _ in chunk],
        )
    }
    kinds = {
        r[0]: r[1]
        for r in in_slices(
            conn,
            "SELECT DISTINCT record_id, kind FROM versions WHERE record_id IN ({})",
            list({v.record_id for _, v, _ in chunk}),
        )
    }
    fresh: list[tuple[int, models.Version, models.Record]] = []
    for no, v, rec in chunk:
        seen = known.get(v.version_id)
        if seen is not None:
            if seen[1:] != (v.content_hash, v.kind, v.record_id):
                raise BundleError(
                    f"第{no}行：版本 {v.version_id} 已存在但内容不同（疑似被篡改），整个同步包未合并",
                    f"line {no}: version {v.version_id} exists with different content (tampered?); the bundle was not merged",
                )
            result.kinds.setdefault(v.kind, KindSummary()).unchanged += 1
            continue
        other = kinds.setdefault(v.record_id, v.kind)
        if other != v.kind:
            raise BundleError(
                f"第{no}行：记录 {v.record_id} 已作为「{other}」存在，不能改为「{v.kind}」",
                f"line {no}: record {v.record_id} exists as {other}, not {v.kind}",
            )
        known[v.version_id] = (v.version_id, v.content_hash, v.kind, v.record_id)
        fresh.append((no, v, rec))
    conn.executemany(
        "INSERT INTO versions (version_id, kind, record_id, parent_version_id, hlc, device_id, deleted, content_hash,"
        " payload, origin, also_parents, payload_schema) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                v.version_id,
                v.kind,
                v.record_id,
                v.parent_version_id,
                v.hlc,
                v.device_id,
                int(v.deleted),
                v.content_hash,
                v.payload_json,
                bundle_id,
                json.dumps(v.also_parents, separators=(",", ":")) if v.also_parents else "[]",
                v.payload_schema,
            )
            for _, v, _ in fresh
        ],
    )
    limit = b.now_ms + b.max_ahead
    ahead = [
        (v.version_id, v.device_id, v.hlc, bundle_id, b.now)
        for _, v, _ in fresh
        if int(v.hlc[:13]) > limit
    ]
    conn.executemany(
        "INSERT OR IGNORE INTO clock_flags (version_id, device_id, hlc, bundle_id, merged_at) VALUES (?, ?, ?, ?, ?)",
        ahead,
    )
    result.clock_suspect += len(ahead)
    result.versions += len(fresh)
    settle_batch(
        conn,
        {v.record_id: v.kind for _, v, _ in fresh},
        {v.version_id: rec for _, v, rec in fresh},
        result.kinds,
        b.now,
    )


def missing_bundles(conn: sqlite3.Connection) -> dict[str, list[tuple[int, int]]]:
    """Gaps in each device's seq as (first, last) missing pairs (1, 2, 5 → (3, 4)): bundles never
    merged. Computed from neighbouring seqs in SQL, never by listing every number in between."""
    out: dict[str, list[tuple[int, int]]] = {}
    for device_id, first, last in conn.execute(
        "SELECT device_id, prev + 1, seq - 1 FROM ("
        " SELECT device_id, seq, lag(seq, 1, 0) OVER (PARTITION BY device_id ORDER BY seq) AS prev"
        " FROM bundles) WHERE seq > prev + 1 ORDER BY device_id, seq"
    ):
        out.setdefault(device_id, []).append((int(first), int(last)))
    return out


def gaps_text(gaps: list[tuple[int, int]]) -> str:
    """(3, 3), (5, 9) → '3, 5–9': how a person reads the missing seqs."""
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in gaps)


def merge_files(
    conn: sqlite3.Connection,
    files: list[Path],
    *,
    progress: Progress | None = None,
    on_result: Callable[[BundleResult], None] | None = None,
    cancel: Cancel | None = None,
    lines: Progress | None = None,
    **options: Unpack[MergeOptions],
) -> list[BundleResult]:
    """Merge bundles one by one (each its own transaction, with `options` as in `merge_bundle`);
    `progress(done, total)` counts bundles, `lines(done, total)` the versions of the bundle being
    merged (a large one takes seconds), `cancel` stops before the next bundle. One bundle's
    failure is its refusal and the run goes on; a busy database stops the run (each would wait)."""
    try:  # a damaged district database is never merged into; a copy before every run that
        # may write (one where every file is already merged reads manifests only)
        if any(bundle_status(conn, path)[0] != "already" for path in files):
            integrity.before_merge(conn, dry_run=bool(options.get("dry_run")))
    except integrity.DatabaseDamaged as e:
        refused = [BundleResult(path, "invalid", str(e)) for path in files]
        for r in refused:
            if on_result is not None:
                on_result(r)
        return refused
    results = []
    for i, path in enumerate(files):
        if cancel is not None and cancel.is_set():
            break
        try:
            r = merge_bundle(conn, path, progress=lines, **options)
        except Exception as e:  # the last net: this file is refused, the folder goes on
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            r = BundleResult(path, "invalid", str(_unexpected(e)))
        results.append(r)
        if on_result:
            on_result(r)
        if progress:
            progress(i + 1, len(files))
        if r.status == "busy":
            break
    return results
