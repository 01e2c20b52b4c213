"""Merge bundles into the district database (SPEC §6): one transaction per bundle, all or nothing.

The result does not depend on the order of the bundles, on merging one twice or on how the
versions were split into bundles: versions are a set keyed by version_id, and every derived
row (current tables, conflicts, review queues) is recomputed from that set (sync/settle.py) for
each record a bundle touches.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypedDict, Unpack

from fieldapp import db, integrity
from fieldapp.kinds import now_iso
from fieldapp.sqlite import sqlite3
from fieldapp.sync import authority, pipeline
from fieldapp.sync.apply import Batch, Checked, RejectedLine, load_versions
from fieldapp.sync.bundle_check import (
    Enrolment,
    check_enrolled,
    check_signer,
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
from fieldapp.sync.settle import KindSummary
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
    """`merge_bundle` also takes the district's clock (tests), a per-line progress callback and
    what to do once it knows the bundle is not merged yet, before its first write (`merge_files`
    checks the database and takes its copy there)."""

    now_ms: int | None
    progress: Progress | None
    before_write: Callable[[], None] | None


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


# the month in a bundle's file name (SPEC §5: <community_code>-<period>-<device_id first 8>-<seq>)
_PERIOD = re.compile(r"^[^-]+-([0-9]{4}-[0-9]{2})-")


def _month_first(path: Path) -> tuple[str, str]:
    """A folder's bundles month by month (then by name; a name without a month last)."""
    m = _PERIOD.match(path.name)
    return (m.group(1) if m else "9999-99", path.name)


def bundle_files(paths: Iterable[Path]) -> list[Path]:
    """Files and folders → the bundle files; a folder's in the order of the months their names
    carry, then by name, as a district receives them month by month (the merge's result does not
    depend on the order: tests/sync/test_merge_properties.py). Its speed does: a month of every
    community writes the versions and the visits of one stretch of time, close together in the
    B-trees of time-ordered keys (UUIDv7 ids, dates); community after community, each writes
    across the whole year again. Measured at scale 1 (393,626 versions, both cores, the same
    hour): the merging process busy 167 µs of CPU a version in name order, 135 month by month."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(
                sorted(
                    (x for x in p.iterdir() if x.suffix == SUFFIX and x.is_file()), key=_month_first
                )
            )
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
        skip, now_ms = options.get("skip_invalid", False), options.get("now_ms")
        clone = not options.get("dry_run")
        batch = _prepare(
            conn,
            reader,
            result,
            skip,
            now_ms,
            record_clone=clone,
            has_key=district_key is not None,
            before_write=options.get("before_write"),
        )
        if batch is None:
            return
        begin_immediate(conn, options.get("notice"))
        try:
            if _already(
                conn, reader.manifest
            ):  # another merge took it while this one read the file
                conn.execute("ROLLBACK")
                result.status = "already"
                return
            load_versions(batch, reader, options.get("progress"), district_key)
            _record_bundle(conn, path, reader.manifest, result)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if options.get("dry_run", False):
            conn.execute("ROLLBACK")
            result.status = "checked"
        else:
            conn.execute("COMMIT")
            result.status = "merged"


def _prepare(
    conn: sqlite3.Connection,
    reader: BundleReader,
    result: BundleResult,
    skip_invalid: bool,
    now_ms: int | None,
    *,
    record_clone: bool,
    has_key: bool,
    before_write: Callable[[], None] | None = None,
) -> Batch | None:
    """What comes before the writes: 'already', the seq cap, the sealed digest, the district's
    reference data and the device's authority (None: already merged). `before_write` runs once
    the bundle is known not to be merged, before anything (a clone's flag included) is written."""
    m = reader.manifest
    result.bundle_id, result.device_id, result.seq = m.bundle_id, m.device_id, m.seq
    if _already(conn, m):
        result.status = "already"
        return None
    if before_write is not None:
        before_write()
    if reader.version == 2 and not has_key:  # after "already": a dry run without the key says it
        raise BundleError(
            "合并加密同步包需要区级私钥（--key）",
            "merging an encrypted bundle needs the district private key (--key)",
        )
    _check_seq(conn, m)  # (the sealed member's signed digest was checked on opening)
    batch = Batch.start(conn, m, result, skip_invalid)
    if now_ms is not None:
        batch.now_ms = now_ms
    batch.enrolment = authority.check_bundle(conn, m, reader.path, record_clone=record_clone)
    return batch


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


# a group of bundles is committed once it holds about this many new versions. Measured at scale 1
# (393,626 versions, one merge each, quiet machine), 5,000 -> 20,000: plain 519 -> 448 µs a
# version, encrypted 622 -> 562, peak memory 108 MB both (the page cache bounds it, not the group).
# 20,000 -> 60,000 (both cores, plain, five alternated pairs on a machine whose speed swung by a
# third): the writer's CPU against the reader's 1.01 -> 0.955, the wall time against the reader's
# CPU 1.15 -> 1.12; peak memory 131 MB both. A refusal merges at most one group again.
GROUP_VERSIONS = 60_000


def merge_files(
    conn: sqlite3.Connection,
    files: list[Path],
    *,
    progress: Progress | None = None,
    on_result: Callable[[BundleResult], None] | None = None,
    cancel: Cancel | None = None,
    lines: Progress | None = None,
    both_cores: bool | None = None,
    **options: Unpack[MergeOptions],
) -> list[BundleResult]:
    """Merge bundles (with `options` as in `merge_bundle`); `progress(done, total)` counts bundles,
    `cancel` stops before the next bundle. One bundle's failure is its refusal and the run goes on;
    a busy database stops the run (each would wait).

    Bundles are merged in groups: one transaction (each bundle all or nothing: see `_Run.in_group`),
    a COMMIT once the group holds GROUP_VERSIONS new versions (one COMMIT per bundle cost more than
    all the rest of a small bundle). A bundle is reported only once its group is committed. A
    bundle refused inside a group is merged again alone (`merge_bundle`), so its refusal, and what
    a refusal records (a cloned file's flag), is exactly that of a merge of it alone.

    `lines(done, total)` counts the versions of the bundle being merged (a large one takes
    seconds). A damaged district database is never merged into: the first bundle that is not
    merged yet runs `integrity.before_merge` (quick_check, then a copy) before it writes, and a
    damage found there refuses it and every bundle after it. A run where every file is already
    merged opens each file once (twice when the files are large enough for a second process:
    `_reader` looks for those not merged yet) and neither checks nor copies the database.

    `both_cores`: a second process reads and validates the bundles while this one writes
    (sync/pipeline.py); by default when the bundles not merged yet hold at least
    `pipeline.MIN_VERSIONS` versions. The result is the same either way."""
    guard = _Guard(conn, dry_run=bool(options.get("dry_run")))
    run = _Run(conn, len(files), progress, on_result, lines, guard)
    # a dry run checks each bundle alone; a caller's open transaction is never committed by us
    grouped = not options.get("dry_run") and not conn.in_transaction
    with db.merging(conn), _reader(conn, files, options, both_cores if grouped else False) as read:
        try:
            for i, path in enumerate(files):
                if cancel is not None and cancel.is_set():
                    break
                r = run.in_group(path, options, read(i)) if grouped else run.alone(path, options)
                if r is not None and r.status == "busy":
                    break
                # the database failed its check: nothing more is merged
                if guard.damage is not None:
                    run.refuse(files[i + 1 :], str(guard.damage))
                    break
            run.commit()
        except BaseException:
            if conn.in_transaction:  # an interruption: the group's bundles are merged by none
                conn.execute("ROLLBACK")
            raise
    return run.results


@dataclass
class _Guard:
    """`integrity.before_merge` for a run of `merge_files`, called (as `before_write`) by each
    bundle that is not merged yet: it checks and copies the database at the first one only, and
    once the check failed it refuses every later one with the same damage."""

    conn: sqlite3.Connection
    dry_run: bool
    done: bool = False
    damage: integrity.DatabaseDamaged | None = None

    def __call__(self) -> None:
        if self.damage is not None:
            raise self.damage
        if self.done:
            return
        try:
            integrity.before_merge(self.conn, dry_run=self.dry_run)
        except integrity.DatabaseDamaged as e:
            self.damage = e
            raise
        self.done = True


@dataclass
class _Run:
    """A run of `merge_files`: the open group (merged inside the transaction, not yet committed)
    and the results reported so far."""

    conn: sqlite3.Connection
    total: int
    progress: Progress | None
    on_result: Callable[[BundleResult], None] | None
    lines: Progress | None
    guard: _Guard
    results: list[BundleResult] = field(default_factory=list)
    pending: list[BundleResult] = field(default_factory=list)
    versions: int = 0

    def report(self, r: BundleResult) -> None:
        self.results.append(r)
        if self.on_result:
            self.on_result(r)
        if self.progress:
            self.progress(len(self.results), self.total)

    def refuse(self, paths: list[Path], reason: str) -> None:
        self.commit()
        for path in paths:
            self.report(BundleResult(path, "invalid", reason))

    def alone(self, path: Path, options: MergeOptions) -> BundleResult:
        """One bundle in its own transaction, as `merge_bundle` does it; reported at once."""
        self.commit()
        try:
            r = merge_bundle(
                self.conn, path, progress=self.lines, before_write=self.guard, **options
            )
        except Exception as e:  # the last net: this file is refused, the folder goes on
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            r = BundleResult(path, "invalid", self._reason(e))
        self.report(r)
        return r

    def _reason(self, e: Exception) -> str:
        """A damaged database's refusal says so (with its last good backup), not 'this file'."""
        if isinstance(e, integrity.DatabaseDamaged):
            return str(e)
        if isinstance(e, sqlite3.DatabaseError) and not isinstance(e, sqlite3.OperationalError):
            try:  # e.g. "database disk image is malformed" while looking for "already"
                self.guard()
            except integrity.DatabaseDamaged as damage:
                return str(damage)
        return str(_unexpected(e))

    def in_group(
        self, path: Path, options: MergeOptions, read: Read | None = None
    ) -> BundleResult | None:
        """The bundle inside the group's transaction. None while its group is not committed.
        `read`: its lines checked by the run's reader process, if it has them.

        A bundle has no SAVEPOINT of its own: under one, SQLite first copies every page the
        bundle changes to a sub-journal (encrypted, in an encrypted database); without it the
        scale-1 merge went 780 -> 622 µs a version encrypted, 545 -> 519 plain. A refusal
        instead rolls the whole group back: its earlier bundles are merged again in a new group,
        and the refused one `alone`, which reports what merging it alone gives. Refusals are
        rare; a group is at most about GROUP_VERSIONS versions to merge again."""
        started = time.perf_counter()
        result = BundleResult(path, "invalid")
        if not self.conn.in_transaction:
            try:
                begin_immediate(self.conn, options.get("notice"))
            except DatabaseBusy as e:
                result.status, result.reason = "busy", str(e)
                self.report(result)
                return result
            except sqlite3.Error:
                return self.alone(path, options)  # it reports what merging it alone gives
        try:
            _merge_grouped(self.conn, path, result, options, self.lines, self.guard, read)
        except Exception:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            again, self.pending, self.versions = self.pending, [], 0
            for earlier in again:
                r = self.in_group(earlier.path, options)
                if r is not None and r.status == "busy":
                    return r  # the run stops there, as at any busy bundle
            return self.alone(path, options)
        result.seconds = time.perf_counter() - started
        self.pending.append(result)
        self.versions += result.versions
        if self.versions >= GROUP_VERSIONS:
            self.commit()
        return None

    def commit(self) -> None:
        """Commit the group, then report its bundles merged (or, if the COMMIT fails, refused)."""
        if not self.conn.in_transaction:
            return
        pending, self.pending, self.versions = self.pending, [], 0
        try:
            self.conn.execute("COMMIT")
        except sqlite3.Error as e:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            for r in pending:
                r.status, r.reason = "invalid", str(_unexpected(e))
                r.kinds, r.rejected, r.rejected_rows, r.versions = {}, [], [], 0
        for r in pending:
            self.report(r)


def _merge_grouped(
    conn: sqlite3.Connection,
    path: Path,
    result: BundleResult,
    options: MergeOptions,
    lines: Progress | None,
    before_write: Callable[[], None],
    read: Read | None,
) -> None:
    """`_merge` inside the group's transaction: no lock to take, no COMMIT; any refusal raises."""
    district_key = options.get("district_key")
    with _open_checked(conn, path, district_key, options.get("allow_v1", False)) as reader:
        skip = options.get("skip_invalid", False)
        batch = _prepare(
            conn,
            reader,
            result,
            skip,
            None,
            record_clone=False,
            has_key=district_key is not None,
            before_write=before_write,
        )
        if batch is None:
            return
        checked = read(reader.manifest) if read is not None else None
        load_versions(batch, reader, lines, district_key, checked)
        _record_bundle(conn, path, reader.manifest, result)
        result.status = "merged"


def _unmerged(
    conn: sqlite3.Connection, files: list[Path], options: MergeOptions
) -> tuple[dict[int, int], int]:
    """The files for the reader (file index -> its index among them), and their versions: those
    not merged yet, the first of a bundle_id only, and (format 2) only once their signer and
    sealed digest are checked, as the writer checks them before it decrypts anything. A file
    that fails is the writer's to refuse; a database that cannot answer gets no reader."""
    todo: dict[int, int] = {}
    seen: set[str] = set()
    versions = 0
    key, allow_v1 = options.get("district_key"), options.get("allow_v1", False)
    for i, path in enumerate(files):
        try:
            with _open_checked(conn, path, key, allow_v1) as bundle:
                m = bundle.manifest
                if m.bundle_id in seen or _already(conn, m):
                    continue
                seen.add(m.bundle_id)
                versions += sum(m.counts.values())
        except sqlite3.Error:
            return {}, 0
        except Exception:  # (any: an untrusted file) refused by the writer, which says why
            continue
        todo[i] = len(todo)
    return todo, versions


def _size(files: list[Path]) -> int:
    total = 0
    for path in files:
        with suppress(OSError):
            total += path.stat().st_size
    return total


# the checked lines of a bundle with this manifest, from the reader process (None: read it here)
Read = Callable[[Manifest], Iterator[Checked | RejectedLine] | None]


@contextmanager
def _reader(
    conn: sqlite3.Connection, files: list[Path], options: MergeOptions, both_cores: bool | None
) -> Iterator[Callable[[int], Read | None]]:
    """For each file of a run (by its index), how to get its checked lines from the run's reader
    process; the reader is started for the files not merged yet, when there are enough of them."""
    pipeline.last_peak_kb = pipeline.last_private_kb = 0  # until a reader of this run closes
    if both_cores is False or (both_cores is None and _size(files) < pipeline.MIN_BYTES):
        yield lambda i: None
        return
    todo, versions = _unmerged(conn, files, options)
    if not todo or (both_cores is None and versions < pipeline.MIN_VERSIONS):
        yield lambda i: None
        return
    try:
        reader = pipeline.Reader(
            [files[i] for i in todo],
            options.get("district_key"),
            allow_v1=options.get("allow_v1", False),
            columns=db.encrypted(conn),
            skip_invalid=options.get("skip_invalid", False),
        )
    except Exception:  # no interpreter to start (an embedded Python): one process does it all
        yield lambda i: None
        return
    try:
        yield lambda i: None if i not in todo else functools.partial(reader.lines, todo[i])
    finally:
        reader.close()
