"""Merge bundles into the district database (SPEC §6): one transaction per bundle, all or nothing.

The result does not depend on the order of the bundles, on merging one twice or on how the
versions were split into bundles: versions are a set keyed by version_id, and every derived
row (current tables, conflicts, review queues) is recomputed from that set (sync/settle.py) for
each record a bundle touches.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypedDict, Unpack

from fieldapp import hlc, models
from fieldapp.kinds import now_iso
from fieldapp.sqlite import sqlite3
from fieldapp.sync.bundle_check import (
    Enrolment,
    LineInvalid,
    check_line,
    check_signer,
    line_context,
)
from fieldapp.sync.bundle_format import SUFFIX, BundleError, Manifest, Progress, file_sha256
from fieldapp.sync.bundle_read import BundleReader, open_bundle
from fieldapp.sync.settle import KindSummary, in_slices, settle_batch

if TYPE_CHECKING:
    from nacl.public import PrivateKey

COMMUNITY_KINDS = ("elder", "meal_point", "volunteer", "volunteer_event")


class Cancel(Protocol):
    """What stops a run of merges between bundles (a `threading.Event` set by the supervisor's screen)."""

    def is_set(self) -> bool: ...


class MergeOptions(TypedDict, total=False):
    """How each bundle of a `merge_files` run is merged: the keyword arguments of `merge_bundle`,
    whose defaults are the safe ones (format 1 refused, invalid lines refuse the whole bundle)."""

    skip_invalid: bool
    dry_run: bool
    district_key: PrivateKey | None
    allow_v1: bool


# (line, kind, record_id, version_id, reason, raw line): a row of rejected_versions without its bundle
Rejected = tuple[int, str | None, str, object, str, str]


@dataclass
class BundleResult:
    path: Path
    status: str  # merged | already | invalid | checked (dry run)
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
    seen = conn.execute("SELECT 1 FROM bundles WHERE bundle_id = ?", (m.bundle_id,)).fetchone()
    return ("already" if seen else "new"), None, m.model_dump()


def _enrolment(conn: sqlite3.Connection, device_id: str) -> dict[str, Enrolment]:
    """The district's enrolment of one device, in the shape `check_signer` reads."""
    row = conn.execute(
        "SELECT public_key, revoked_at FROM enrolled_devices WHERE device_id = ?", (device_id,)
    ).fetchone()
    return {} if row is None else {device_id: Enrolment(row[0], row[1])}


def _open_checked(
    conn: sqlite3.Connection, path: Path, district_key: PrivateKey | None, allow_v1: bool
) -> BundleReader:
    """The bundle opened, and (format 2) its signer checked before anything is decrypted."""
    _refuse(conn)
    reader = open_bundle(path, allow_v1=allow_v1)
    try:
        if reader.version == 2:
            check_signer(reader, _enrolment(conn, reader.manifest.device_id))
            if district_key is None:
                raise BundleError(
                    "合并加密同步包需要区级私钥（--key）",
                    "merging an encrypted bundle needs the district private key (--key)",
                )
    except BaseException:
        reader.close()
        raise
    return reader


def merge_bundle(
    conn: sqlite3.Connection,
    path: Path,
    *,
    skip_invalid: bool = False,
    dry_run: bool = False,
    now_ms: int | None = None,
    progress: Progress | None = None,
    district_key: PrivateKey | None = None,
    allow_v1: bool = False,
) -> BundleResult:
    """Merge one bundle in one transaction. Format 1 bundles (unsigned, unencrypted) are refused
    unless `allow_v1=True`; format 2 needs `district_key`."""
    started = time.perf_counter()
    result = BundleResult(path, "invalid")
    try:
        reader = _open_checked(conn, path, district_key, allow_v1)
    except BundleError as e:
        result.reason = str(e)
        return result
    with reader:
        m = reader.manifest
        result.bundle_id, result.device_id, result.seq = m.bundle_id, m.device_id, m.seq
        if conn.execute("SELECT 1 FROM bundles WHERE bundle_id = ?", (m.bundle_id,)).fetchone():
            result.status = "already"
            return result
        try:
            if reader.version == 2:
                reader.check_sealed()  # the signed digest of the sealed member, before decrypting
            batch = _Batch.start(conn, m, result, skip_invalid, now_ms)
        except BundleError as e:
            result.reason = str(e)
            return result
        conn.execute("BEGIN IMMEDIATE")
        try:
            _load_versions(batch, reader, progress, district_key)
            _record_bundle(conn, path, m, result)
            if dry_run:
                conn.execute("ROLLBACK")
                result.status = "checked"
            else:
                conn.execute("COMMIT")
                result.status = "merged"
        except BundleError as e:
            conn.execute("ROLLBACK")
            result.status, result.reason = "invalid", str(e)
            result.kinds, result.rejected, result.rejected_rows = {}, [], []
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    result.seconds = time.perf_counter() - started
    return result


def _record_bundle(conn: sqlite3.Connection, path: Path, m: Manifest, result: BundleResult) -> None:
    """The bundle's row in `bundles` (what makes a second merge 'already') and its rejected lines."""
    conn.executemany(
        "INSERT INTO rejected_versions (bundle_id, line_no, kind, record_id, version_id, reason, raw)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(m.bundle_id, *r) for r in result.rejected_rows],
    )
    new = sum(k.new + k.updated for k in result.kinds.values())
    conn.execute(
        "INSERT INTO bundles (bundle_id, device_id, device_label, worker, community_code, period, seq, file_name,"
        " file_sha256, counts, versions_new, versions_dup, rejected, merged_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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

    @classmethod
    def start(
        cls,
        conn: sqlite3.Connection,
        m: Manifest,
        result: BundleResult,
        skip_invalid: bool,
        now_ms: int | None,
    ) -> _Batch:
        communities = {r[0] for r in conn.execute("SELECT code FROM ref_community")}
        if m.community_code not in communities:
            raise BundleError(
                f"社区代码 {m.community_code} 不在区级参考数据中：请先添加该社区（fieldapp communities import），再合并",
                f"community code {m.community_code} is unknown to the district: add the community first, then merge again",
            )
        rule = "SELECT value FROM ref_rule WHERE key = 'hlc_max_ahead_ms'"
        max_ahead = int(json.loads(conn.execute(rule).fetchone()[0]))
        now_ms = now_ms if now_ms is not None else hlc.wall_ms()
        return cls(conn, m, result, communities, skip_invalid, now_ms, max_ahead, now_iso())


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
    chunk: list[tuple[int, models.Version, models.Record]] = []
    for line in reader.lines(district_key):
        try:
            version, record = check_line(line, device_id, context)
        except LineInvalid as e:
            _reject(b, e)
            continue
        code = getattr(record, "community_code", None)
        if code is not None and code not in communities:
            raise BundleError(
                f"第{line.no}行的社区代码 {code} 不在区级参考数据中：请先添加该社区，再合并",
                f"line {line.no}: community code {code} is unknown to the district: add it first, then merge again",
            )
        chunk.append((line.no, version, record))
        if len(chunk) >= CHUNK_LINES:
            _apply_chunk(b, chunk)
            chunk = []
            if progress:
                progress(line.no, total)
    if chunk:
        _apply_chunk(b, chunk)
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


def missing_bundles(conn: sqlite3.Connection) -> dict[str, list[int]]:
    """Gaps in each device's seq (1, 2, 4 → 3 is missing): bundles that were never merged."""
    out: dict[str, list[int]] = {}
    for device_id, seqs in conn.execute(
        "SELECT device_id, group_concat(seq) FROM bundles GROUP BY device_id"
    ):
        have = {int(s) for s in str(seqs).split(",")}
        missing = sorted(set(range(1, max(have) + 1)) - have)
        if missing:
            out[device_id] = missing
    return out


def merge_files(
    conn: sqlite3.Connection,
    files: list[Path],
    *,
    progress: Progress | None = None,
    on_result: Callable[[BundleResult], None] | None = None,
    cancel: Cancel | None = None,
    **options: Unpack[MergeOptions],
) -> list[BundleResult]:
    """Merge bundles one by one (each its own transaction, with `options` as in `merge_bundle`);
    `progress(done, total)` counts bundles, `cancel` stops before the next bundle."""
    results = []
    for i, path in enumerate(files):
        if cancel is not None and cancel.is_set():
            break
        r = merge_bundle(conn, path, **options)
        results.append(r)
        if on_result:
            on_result(r)
        if progress:
            progress(i + 1, len(files))
    return results
