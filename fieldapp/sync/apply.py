"""One bundle's versions applied to the district database, a chunk at a time (SPEC §6 steps 4-6).

Each chunk is validated, its new versions inserted and the records it touches settled; the caller
(sync/merge.py) holds the transaction or the savepoint that makes the bundle all or nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from fieldapp import hlc, models
from fieldapp.kinds import now_iso
from fieldapp.sqlite import sqlite3
from fieldapp.store.rows import BuiltRow, built_row
from fieldapp.sync import authority
from fieldapp.sync.bundle_check import CountsDiffer, LineInvalid, Tally, check_line, line_context
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


class VersionRow(NamedTuple):
    """The `versions` row of a received version, in the column order `insert_versions` writes."""

    version_id: str
    kind: str
    record_id: str
    parent_version_id: str | None
    hlc: str
    device_id: str
    deleted: int
    content_hash: str
    payload: str
    origin: str
    also_parents: str
    payload_schema: int


def version_row(v: models.Version, origin: str) -> VersionRow:
    """The `versions` row of a received version; `origin` is the bundle it came in."""
    return VersionRow(
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


_INSERT_VERSION = (
    "INSERT INTO versions (version_id, kind, record_id, parent_version_id, hlc, device_id,"
    " deleted, content_hash, payload, origin, also_parents, payload_schema)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def insert_versions(conn: sqlite3.Connection, versions: list[models.Version], origin: str) -> None:
    """New versions into `versions`, as received (the district's merge and a laptop's import of
    a return bundle write them the same way); `origin` is the bundle they came in."""
    conn.executemany(_INSERT_VERSION, [version_row(v, origin) for v in versions])


class Checked(NamedTuple):
    """A valid line of a bundle, as the writing side of a merge needs it: its versions row, the
    record's community_code, its record (or the record's current row, built already) and the
    payload's community_code as the line wrote it, when a string: what settling reads back from
    the stored payload (json_extract), which may differ from the record's by the whitespace the
    record strips."""

    no: int
    row: VersionRow
    community_code: str | None
    record: models.Record | BuiltRow
    payload_code: str | None


class RejectedLine(NamedTuple):
    """An invalid line (`LineInvalid`), in plain values: what `reject` records or refuses."""

    no: int
    kind: str
    record_id: str
    version_id: object
    zh: str
    en: str
    problem: str  # "zh | en"
    raw: str
    message_zh: str
    message_en: str

    @classmethod
    def of(cls, e: LineInvalid) -> RejectedLine:
        data, p = e.line.data, e.problem
        return cls(
            e.line.no,
            str(data.get("kind", "")),
            e.record_id,
            data.get("version_id"),
            p.text("zh"),
            p.text("en"),
            f"{p.text('zh')} | {p.text('en')}",
            e.line.raw,
            e.zh,
            e.en,
        )


def checked_lines(
    reader: BundleReader,
    district_key: PrivateKey | None,
    *,
    build: bool = False,
    columns: bool = True,
) -> Iterator[Checked | RejectedLine]:
    """Each line of the bundle, checked against the record rules and the signed manifest (its
    kind counts and hlc range, at the end of the lines). `build=True` gives each record's
    current row, built (`built_row`, with `columns`: the merge's validating process), instead
    of the record."""
    m = reader.manifest
    context = line_context(m)
    tally = Tally(m, {})
    for line in reader.lines(district_key):
        try:
            version, record = check_line(line, m.device_id, context)
        except LineInvalid as e:
            tally.add(line.no, clean(e.line.data.get("kind"), 40), None)
            yield RejectedLine.of(e)
            continue
        tally.add(line.no, version.kind, version.hlc)
        code = getattr(record, "community_code", None)
        row = version_row(version, m.bundle_id)
        raw = line.data["payload"].get("community_code")
        yield Checked(
            line.no,
            row,
            code,
            built_row(version.kind, version.record_id, record, columns=columns)
            if build
            else record,
            raw if type(raw) is str else None,
        )
    tally.finish()


def load_versions(
    b: Batch,
    reader: BundleReader,
    progress: Progress | None,
    district_key: PrivateKey | None,
    lines: Iterable[Checked | RejectedLine] | None = None,
) -> None:
    """Validate the bundle's versions, insert the new ones and settle the records they touch,
    CHUNK_LINES at a time (settling is a recomputation, so doing it per chunk gives the same end).
    `lines`: the bundle's lines checked already, by the merge's validating process."""
    total = sum(b.manifest.counts.values())
    chunk: list[Checked] = []
    try:
        _load(
            b,
            chunk,
            checked_lines(reader, district_key) if lines is None else lines,
            progress,
            total,
        )
    except CountsDiffer:  # after the last line: its chunk goes in first, as it always did, so a
        if chunk:  # bundle wrong in both ways is refused for what is wrong in that chunk
            apply_chunk(b, chunk)
        raise
    if chunk:
        apply_chunk(b, chunk)
    if progress:
        progress(total, total)


def _load(
    b: Batch,
    chunk: list[Checked],
    lines: Iterable[Checked | RejectedLine],
    progress: Progress | None,
    total: int,
) -> None:
    """`load_versions`' loop: `chunk` holds the lines not applied yet when it returns or raises."""
    communities = b.communities
    for line in lines:
        if isinstance(line, RejectedLine):
            reject(b, line)
            continue
        code = line.community_code
        if code is not None and code not in communities:
            code = clean(code, 40)
            raise BundleError(
                f"第{line.no}行的社区代码 {code} 不在区级参考数据中：请先添加该社区，再合并",
                f"line {line.no}: community code {code} is unknown to the district: add it first, then merge again",
            )
        authority.check_version(b.enrolment, line.no, line.row, line.community_code)
        chunk.append(line)
        if len(chunk) >= CHUNK_LINES:
            apply_chunk(b, chunk)
            chunk.clear()
            if progress:
                progress(line.no, total)


def reject(b: Batch, e: RejectedLine) -> None:
    """An invalid line refuses the whole bundle, or with skip_invalid is kept aside with its reason."""
    if not b.skip_invalid:
        raise BundleError(
            f"{e.message_zh}；整个同步包未合并（可用 --skip-invalid 合并其余记录）",
            f"{e.message_en}; the bundle was not merged (--skip-invalid merges the rest)",
        ) from None
    b.result.kinds.setdefault(e.kind or "?", KindSummary()).rejected += 1
    b.result.rejected.append((e.no, e.record_id, e.zh))
    b.result.rejected_rows.append(
        (e.no, e.kind or None, e.record_id, e.version_id, e.problem, e.raw)
    )


def apply_chunk(b: Batch, chunk: list[Checked]) -> None:
    """Insert the chunk's new versions (a known version_id must carry the same content), flag the
    clocks far ahead, and settle the records they touch."""
    conn, result, bundle_id = b.conn, b.result, b.manifest.bundle_id
    known = {
        r[0]: tuple(r)
        for r in in_slices(
            conn,
            "SELECT version_id, content_hash, kind, record_id FROM versions WHERE version_id IN ({})",
            [c.row.version_id for c in chunk],
        )
    }
    kinds = {
        r[0]: r[1]
        for r in in_slices(
            conn,
            "SELECT DISTINCT record_id, kind FROM versions WHERE record_id IN ({})",
            list({c.row.record_id for c in chunk}),
        )
    }
    stored = set(kinds)  # the records with a version before this chunk
    fresh: list[Checked] = []
    for c in chunk:
        no, v = c.no, c.row
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
        fresh.append(c)
    conn.executemany(_INSERT_VERSION, [c.row for c in fresh])
    limit = b.now_ms + b.max_ahead
    ahead = [
        (c.row.version_id, c.row.device_id, c.row.hlc, bundle_id, b.now)
        for c in fresh
        if int(c.row.hlc[:13]) > limit
    ]
    conn.executemany(
        "INSERT OR IGNORE INTO clock_flags (version_id, device_id, hlc, bundle_id, merged_at) VALUES (?, ?, ?, ?, ?)",
        ahead,
    )
    result.clock_suspect += len(ahead)
    result.versions += len(fresh)
    settle_batch(
        conn,
        {c.row.record_id: c.row.kind for c in fresh},
        {c.row.version_id: c.record for c in fresh},
        result.kinds,
        b.now,
        first_versions(fresh, stored, {a[0] for a in ahead}),
    )


def first_versions(
    fresh: list[Checked], stored: set[str], flagged: set[str]
) -> dict[str, list[tuple[Any, ...]]]:
    """The versions of the records this chunk brings for the first time (none in `stored`), as
    settling would read them back (`settle._versions_of`): all of them are in `fresh`, none has
    a conflict or a current row yet, and a clock flag only if this chunk raised it (`flagged`).
    Settling takes them from here instead of reading them again (issue 20)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for c in fresh:
        v = c.row
        if v.record_id in stored:
            continue
        out.setdefault(v.record_id, []).append(
            (
                v.record_id,
                v.version_id,
                v.parent_version_id,
                v.hlc,
                v.device_id,
                v.deleted,
                v.also_parents,
                v.payload_schema,
                c.payload_code if v.payload_schema >= 2 else None,
                int(v.version_id in flagged),
            )
        )
    return out
