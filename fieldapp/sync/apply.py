"""One bundle's versions applied to the district database, a chunk at a time (SPEC §6 steps 4-6).

Each chunk is validated, its new versions inserted and the records it touches settled; the caller
(sync/merge.py) holds the transaction or the savepoint that makes the bundle all or nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fieldapp import hlc, models
from fieldapp.kinds import now_iso
from fieldapp.sqlite import sqlite3
from fieldapp.sync import authority
from fieldapp.sync.bundle_check import LineInvalid, Tally, check_line, line_context
from fieldapp.sync.bundle_format import BundleError, Manifest, Progress
from fieldapp.sync.bundle_read import BundleReader
from fieldapp.sync.settle import KindSummary, in_slices, settle_batch
from fieldapp.text import clean

if TYPE_CHECKING:
    from nacl.public import PrivateKey

    from fieldapp.sync.merge import BundleResult


CHUNK_LINES = 2000  # versions validated, inserted and settled together (memory stays bounded)


@dataclass
class Batch:
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
    ) -> Batch:
        communities = {r[0] for r in conn.execute("SELECT code FROM ref_community")}
        if m.community_code not in communities:
            raise BundleError(
                f"社区代码 {m.community_code} 不在区级参考数据中：请先添加该社区（fieldapp communities import），再合并",
                f"community code {m.community_code} is unknown to the district: add the community first, then merge again",
            )
        rule = "SELECT value FROM ref_rule WHERE key = 'hlc_max_ahead_ms'"
        max_ahead = int(json.loads(conn.execute(rule).fetchone()[0]))
        return cls(conn, m, result, communities, skip_invalid, hlc.wall_ms(), max_ahead, now_iso())


def version_row(v: models.Version, origin: str) -> tuple[object, ...]:
    """The `versions` row of a received version, in the column order `insert_versions` writes."""
    return (
        v.version_id,
        v.kind,
        v.record_id,
        v.parent_version_id,
        v.hlc,
        v.device_id,
        int(v.deleted),
        v.content_hash,
        v.payload_json,
        origin,
        json.dumps(v.also_parents, separators=(",", ":")) if v.also_parents else "[]",
        v.payload_schema,
    )


def insert_versions(conn: sqlite3.Connection, versions: list[models.Version], origin: str) -> None:
    """New versions into `versions`, as received (the district's merge and a laptop's import of
    a return bundle write them the same way); `origin` is the bundle they came in."""
    conn.executemany(
        "INSERT INTO versions (version_id, kind, record_id, parent_version_id, hlc, device_id,"
        " deleted, content_hash, payload, origin, also_parents, payload_schema)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [version_row(v, origin) for v in versions],
    )


def load_versions(
    b: Batch,
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
            reject(b, e)
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
            apply_chunk(b, chunk)
            chunk = []
            if progress:
                progress(line.no, total)
    if chunk:
        apply_chunk(b, chunk)
    tally.finish()
    if progress:
        progress(total, total)


def reject(b: Batch, e: LineInvalid) -> None:
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


def apply_chunk(b: Batch, chunk: list[tuple[int, models.Version, models.Record]]) -> None:
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
    insert_versions(conn, [v for _, v, _ in fresh], bundle_id)
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
