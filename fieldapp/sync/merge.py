"""Merge bundles into the district database (SPEC §6): one transaction per bundle, all or nothing.

The result does not depend on the order of the bundles, on merging one twice or on how the
versions were split into bundles: versions are a set keyed by version_id, and every derived
row (current tables, conflicts, review queues) is recomputed from that set for each record a
bundle touches.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fieldapp import hlc, models
from fieldapp.kinds import now_iso
from fieldapp.store import write_current, write_current_many
from fieldapp.sync.bundle import SUFFIX, BundleError, file_sha256, open_bundle

Progress = Callable[[int, int], None]
COMMUNITY_KINDS = ("elder", "meal_point", "volunteer", "volunteer_event")


@dataclass
class KindSummary:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    conflicts: int = 0
    rejected: int = 0


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
    rejected_rows: list[tuple[Any, ...]] = field(
        default_factory=list, repr=False
    )  # for rejected_versions

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
    """new / already / invalid, without merging (for the supervisor's list)."""
    try:
        with open_bundle(path) as reader:
            m = reader.manifest
    except BundleError as e:
        return "invalid", str(e), None
    seen = conn.execute("SELECT 1 FROM bundles WHERE bundle_id = ?", (m.bundle_id,)).fetchone()
    return ("already" if seen else "new"), None, m.model_dump()


def merge_bundle(
    conn: sqlite3.Connection,
    path: Path,
    *,
    skip_invalid: bool = False,
    dry_run: bool = False,
    now_ms: int | None = None,
    progress: Progress | None = None,
    district_key: Any = None,
    allow_v1: bool = True,
) -> BundleResult:
    started = time.perf_counter()
    result = BundleResult(path, "invalid")
    try:
        _refuse(conn)
        reader = open_bundle(path, allow_v1=allow_v1)
        if reader.version == 2:
            _check_signer(conn, reader)
            if district_key is None:
                raise BundleError(
                    "合并加密同步包需要区级私钥（--key）",
                    "merging an encrypted bundle needs the district private key (--key)",
                )
    except BundleError as e:
        result.reason = str(e)
        if "reader" in locals():
            reader.close()
        return result
    with reader:
        m = reader.manifest
        result.bundle_id, result.device_id, result.seq = m.bundle_id, m.device_id, m.seq
        if conn.execute("SELECT 1 FROM bundles WHERE bundle_id = ?", (m.bundle_id,)).fetchone():
            result.status = "already"
            return result
        if reader.version == 2:
            try:
                reader.check_sealed()  # the signed digest of the sealed member, before decrypting
            except BundleError as e:
                result.reason = str(e)
                return result
        communities = {r[0] for r in conn.execute("SELECT code FROM ref_community")}
        if m.community_code not in communities:
            result.reason = str(
                BundleError(
                    f"社区代码 {m.community_code} 不在区级参考数据中：请先添加该社区（fieldapp communities import），再合并",
                    f"community code {m.community_code} is unknown to the district: add the community first, then merge again",
                )
            )
            return result
        total = sum(m.counts.values())
        now_ms = now_ms if now_ms is not None else hlc.wall_ms()
        max_ahead = int(
            json.loads(
                conn.execute(
                    "SELECT value FROM ref_rule WHERE key = 'hlc_max_ahead_ms'"
                ).fetchone()[0]
            )
        )
        conn.execute("BEGIN IMMEDIATE")
        try:
            _load_versions(
                conn,
                reader,
                m,
                result,
                communities,
                skip_invalid,
                now_ms,
                max_ahead,
                total,
                progress,
                district_key,
            )
            merged_at = now_iso()
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
                    merged_at,
                ),
            )
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


CHUNK_LINES = 2000  # versions validated, inserted and settled together (memory stays bounded)
_MAX_PARAMS = 900


def _in(conn: sqlite3.Connection, sql: str, values: list[str]) -> list[sqlite3.Row]:
    """Run `sql` (with one `{}` for the IN list) over `values` in slices SQLite accepts."""
    out: list[sqlite3.Row] = []
    for k in range(0, len(values), _MAX_PARAMS):
        part = values[k : k + _MAX_PARAMS]
        out.extend(conn.execute(sql.format(", ".join("?" * len(part))), part).fetchall())
    return out


def _check_signer(conn: sqlite3.Connection, reader: Any) -> None:
    """Format 2: the manifest must be signed by the enrolled, unrevoked key of the device it names,
    checked before anything is decrypted."""
    from fieldapp import crypto

    m = reader.manifest
    fp = crypto.fingerprint(crypto.unb64(m.device_public_key))
    row = conn.execute(
        "SELECT public_key, revoked_at FROM enrolled_devices WHERE device_id = ?", (m.device_id,)
    ).fetchone()
    if row is None:
        raise BundleError(
            f"设备 {m.device_id[:8]}（{m.device_label}，指纹 {fp}）未登记：请与设备上显示的指纹核对后运行 fieldapp district enroll",
            f"device {m.device_id[:8]} ({m.device_label}, fingerprint {fp}) is not enrolled: check the fingerprint shown on the device, then `fieldapp district enroll`",
        )
    if row["revoked_at"]:
        raise BundleError(
            f"设备 {m.device_id[:8]} 已于 {row['revoked_at']} 撤销，其同步包不予接受",
            f"device {m.device_id[:8]} was revoked on {row['revoked_at']}: its bundles are refused",
        )
    if not reader.signed_by(row["public_key"]) or m.device_public_key != row["public_key"]:
        raise BundleError(
            "签名与登记的设备密钥不符（伪造或被改动），整个同步包未合并",
            "the signature does not match the enrolled device key (forged or altered): the bundle was not merged",
        )


def _load_versions(
    conn: sqlite3.Connection,
    reader: Any,
    m: Any,
    result: BundleResult,
    communities: set[str],
    skip_invalid: bool,
    now_ms: int,
    max_ahead: int,
    total: int,
    progress: Progress | None,
    district_key: Any = None,
) -> None:
    """Validate the bundle's versions, insert the new ones and settle the records they touch,
    CHUNK_LINES at a time (settling is a recomputation, so doing it per chunk gives the same end)."""
    now = now_iso()
    chunk: list[tuple[int, models.Version, models.Record]] = []
    for line in reader.lines(district_key):
        data = line.data
        try:
            version, record = models.validate_version(data)
            if version.device_id != m.device_id:
                raise models.RecordInvalid(
                    version.kind,
                    [
                        models.Problem(
                            "device_id",
                            "设备",
                            "device",
                            "与同步包清单的设备不一致",
                            "differs from the bundle's device",
                        )
                    ],
                )
        except models.RecordInvalid as e:
            p = e.problems[0]
            rid = str(data.get("record_id", "?"))
            if not skip_invalid:
                raise BundleError(
                    f"第{line.no}行（记录 {rid}）不合格：{p.text('zh')}；整个同步包未合并（可用 --skip-invalid 合并其余记录）",
                    f"line {line.no} (record {rid}) is invalid: {p.text('en')}; the bundle was not merged (--skip-invalid merges the rest)",
                ) from None
            kind = str(data.get("kind", ""))
            result.kinds.setdefault(kind or "?", KindSummary()).rejected += 1
            result.rejected.append((line.no, rid, p.text("zh")))
            result.rejected_rows.append(
                (
                    line.no,
                    kind or None,
                    rid,
                    data.get("version_id"),
                    f"{p.text('zh')} | {p.text('en')}",
                    line.raw,
                )
            )
            continue
        code = getattr(record, "community_code", None)
        if code is not None and code not in communities:
            raise BundleError(
                f"第{line.no}行的社区代码 {code} 不在区级参考数据中：请先添加该社区，再合并",
                f"line {line.no}: community code {code} is unknown to the district: add it first, then merge again",
            )
        chunk.append((line.no, version, record))
        if len(chunk) >= CHUNK_LINES:
            _apply_chunk(conn, chunk, m, result, now_ms, max_ahead, now)
            chunk = []
            if progress:
                progress(line.no, total)
    if chunk:
        _apply_chunk(conn, chunk, m, result, now_ms, max_ahead, now)
    if progress:
        progress(total, total)


def _apply_chunk(
    conn: sqlite3.Connection,
    chunk: list[tuple[int, models.Version, models.Record]],
    m: Any,
    result: BundleResult,
    now_ms: int,
    max_ahead: int,
    now: str,
) -> None:
    known = {
        r[0]: tuple(r)
        for r in _in(
            conn,
            "SELECT version_id, content_hash, kind, record_id FROM versions WHERE version_id IN ({})",
            [v.version_id for _, v, _ in chunk],
        )
    }
    kinds = {
        r[0]: r[1]
        for r in _in(
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
        "INSERT INTO versions (version_id, kind, record_id, parent_version_id, hlc, device_id, deleted, content_hash, payload, origin)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                m.bundle_id,
            )
            for _, v, _ in fresh
        ],
    )
    ahead = [
        (v.version_id, v.device_id, v.hlc, m.bundle_id, now)
        for _, v, _ in fresh
        if int(v.hlc[:13]) > now_ms + max_ahead
    ]
    conn.executemany(
        "INSERT OR IGNORE INTO clock_flags (version_id, device_id, hlc, bundle_id, merged_at) VALUES (?, ?, ?, ?, ?)",
        ahead,
    )
    result.clock_suspect += len(ahead)
    result.versions += len(fresh)
    _settle_batch(
        conn,
        {v.record_id: v.kind for _, v, _ in fresh},
        {v.version_id: rec for _, v, rec in fresh},
        result,
        now,
    )


def _settle_batch(
    conn: sqlite3.Connection,
    touched: dict[str, str],
    records: dict[str, models.Record],
    result: BundleResult,
    now: str,
) -> None:
    """The common case in bulk: a record with one head and no conflict history gets that head as its
    current row (its record was validated a moment ago). Anything else goes through _settle."""
    if not touched:
        return
    rids = list(touched)
    versions: dict[str, list[sqlite3.Row]] = {}
    for r in _in(
        conn,
        "SELECT record_id, version_id, parent_version_id, hlc, device_id, deleted FROM versions WHERE record_id IN ({})",
        rids,
    ):
        versions.setdefault(r[0], []).append(r)
    with_conflicts = {
        r[0]
        for r in _in(conn, "SELECT DISTINCT record_id FROM conflicts WHERE record_id IN ({})", rids)
    }
    by_kind: dict[str, list[str]] = {}
    for rid, kind in touched.items():
        by_kind.setdefault(kind, []).append(rid)
    current: dict[str, str] = {}
    for kind, ids in by_kind.items():
        current.update(
            {
                r[0]: r[1]
                for r in _in(conn, f"SELECT id, version_id FROM {kind} WHERE id IN ({{}})", ids)
            }
        )
    writes: dict[str, list[tuple[str, dict[str, Any], models.Record]]] = {}
    for rid, kind in touched.items():
        summary = result.kinds.setdefault(kind, KindSummary())
        rows = versions[rid]
        parents = {r[2] for r in rows if r[2]}
        heads = [r for r in rows if r[1] not in parents]
        if len(heads) > 1 or rid in with_conflicts:
            _settle(conn, kind, rid, summary, now)
            continue
        winner = heads[0]
        if current.get(rid) == winner[1]:
            continue
        record = records.get(winner[1])
        if record is None:
            text = conn.execute(
                "SELECT payload FROM versions WHERE version_id = ?", (winner[1],)
            ).fetchone()[0]
            record = models.MODELS[kind].model_validate(json.loads(text))
        meta = {
            "version_id": winner[1],
            "hlc": winner[3],
            "device_id": winner[4],
            "deleted": winner[5],
        }
        writes.setdefault(kind, []).append((rid, meta, record))
        if rid in current:
            summary.updated += 1
        else:
            summary.new += 1
    for kind, items in writes.items():
        write_current_many(conn, kind, items)
        for rid, _, _ in items:
            if kind == "meal_count":
                _review_meal_slot(conn, rid, now)
            elif kind == "elder":
                _review_person(conn, rid, now)


def _settle(
    conn: sqlite3.Connection, kind: str, record_id: str, summary: KindSummary, now: str
) -> None:
    """Heads are the versions no other version of the record names as its parent; the winner is the
    greatest (hlc, device_id, version_id) among them (SPEC §4). More than one head: a conflict."""
    rows = conn.execute(
        "SELECT version_id, parent_version_id, hlc, device_id, deleted, payload FROM versions WHERE record_id = ?",
        (record_id,),
    ).fetchall()
    parents = {r["parent_version_id"] for r in rows if r["parent_version_id"]}
    heads = [r for r in rows if r["version_id"] not in parents]
    winner = max(heads, key=lambda r: (r["hlc"], r["device_id"], r["version_id"]))
    chosen = _decided(conn, record_id, {h["version_id"] for h in heads})
    if chosen is not None:
        winner = next(h for h in heads if h["version_id"] == chosen)
    current = conn.execute(f"SELECT version_id FROM {kind} WHERE id = ?", (record_id,)).fetchone()
    if current is None or current[0] != winner["version_id"]:
        record = models.MODELS[kind].model_validate(json.loads(winner["payload"]))
        payload = record.payload()
        meta = {
            "version_id": winner["version_id"],
            "hlc": winner["hlc"],
            "device_id": winner["device_id"],
            "deleted": winner["deleted"],
        }
        write_current(conn, kind, record_id, meta, record, payload)
        if current is None:
            summary.new += 1
        else:
            summary.updated += 1
    pairs = []
    for h in heads:
        if h["version_id"] == winner["version_id"]:
            continue
        a, b = sorted((h["version_id"], winner["version_id"]))
        reason = (
            "edit_vs_delete" if bool(h["deleted"]) != bool(winner["deleted"]) else "concurrent_edit"
        )
        pairs.append((a, b))
        cur = conn.execute(
            "INSERT INTO conflicts (kind, record_id, version_a, version_b, reason, status, created_at) VALUES (?, ?, ?, ?, ?, 'open', ?)"
            " ON CONFLICT (record_id, version_a, version_b) DO UPDATE SET status = 'open' WHERE status = 'auto_resolved'",
            (kind, record_id, a, b, reason, now),
        )
        summary.conflicts += cur.rowcount
    open_rows = conn.execute(
        "SELECT id, version_a, version_b FROM conflicts WHERE record_id = ? AND status = 'open'",
        (record_id,),
    )
    stale = [r[0] for r in open_rows if (r[1], r[2]) not in pairs]
    conn.executemany(
        "UPDATE conflicts SET status = 'auto_resolved' WHERE id = ?", [(i,) for i in stale]
    )
    if kind == "meal_count":
        _review_meal_slot(conn, record_id, now)
    elif kind == "elder":
        _review_person(conn, record_id, now)


def _decided(conn: sqlite3.Connection, record_id: str, head_ids: set[str]) -> str | None:
    """A reviewer's choice between current heads (conflicts resolved by a person) outranks the clock
    rule, as long as it was made against every other head; a head nobody weighed opens a new conflict."""
    rows = conn.execute(
        "SELECT version_a, version_b, decision FROM conflicts WHERE record_id = ? AND status = 'resolved'"
        " AND decision IS NOT NULL ORDER BY decided_at, id",
        (record_id,),
    ).fetchall()
    live = [r for r in rows if r[0] in head_ids and r[1] in head_ids]
    if not live:
        return None
    chosen = str(live[-1][2])
    beaten = {r[0] if r[1] == chosen else r[1] for r in live if r[2] == chosen}
    return chosen if head_ids - {chosen} <= beaten else None


def _review_meal_slot(conn: sqlite3.Connection, record_id: str, now: str) -> None:
    row = conn.execute(
        "SELECT point_id, service_date, meal FROM meal_count WHERE id = ? AND deleted = 0",
        (record_id,),
    ).fetchone()
    partners: set[str] = set()
    key = ""
    if row is not None:
        key = "|".join(row)
        partners = {
            r[0]
            for r in conn.execute(
                "SELECT id FROM meal_count WHERE point_id = ? AND service_date = ? AND meal = ? AND deleted = 0 AND id != ?",
                (*row, record_id),
            )
        }
    _review(conn, "meal_slot", "meal_count", record_id, key, partners, now)


def _review_person(conn: sqlite3.Connection, record_id: str, now: str) -> None:
    """Possible duplicates share an ID number; the queue keys them by an HMAC under the district's
    secret (never the number, nor a plain hash of it, which could be brute-forced)."""
    row = conn.execute(
        "SELECT id_number FROM elder WHERE id = ? AND deleted = 0", (record_id,)
    ).fetchone()
    partners: set[str] = set()
    key = ""
    if row is not None and row[0]:
        secret = conn.execute("SELECT hmac_secret FROM device_keys").fetchone()
        if secret is not None and secret[0]:
            from fieldapp import crypto

            key = "hmac:" + crypto.id_hmac(secret[0], row[0])
        else:
            key = models.mask_id_number(row[0])
        partners = {
            r[0]
            for r in conn.execute(
                "SELECT id FROM elder INDEXED BY elder_id_number WHERE id_number = ? AND deleted = 0 AND id != ?",
                (row[0], record_id),
            )
        }
    _review(conn, "duplicate_person", "elder", record_id, key, partners, now)


def _review(
    conn: sqlite3.Connection,
    queue: str,
    kind: str,
    record_id: str,
    key: str,
    partners: set[str],
    now: str,
) -> None:
    """Open a review item for each record sharing this one's natural key; close (auto) the ones that no longer do."""
    for other in partners:
        a, b = sorted((record_id, other))
        conn.execute(
            "INSERT INTO review_items (queue, kind, record_a, record_b, natural_key, status, created_at) VALUES (?, ?, ?, ?, ?, 'open', ?)"
            " ON CONFLICT (queue, record_a, record_b) DO UPDATE SET status = 'open', natural_key = excluded.natural_key"
            " WHERE status = 'auto_resolved'",
            (queue, kind, a, b, key, now),
        )
    stale = conn.execute(
        "SELECT id, record_a, record_b FROM review_items WHERE queue = ? AND status = 'open' AND (record_a = ? OR record_b = ?)",
        (queue, record_id, record_id),
    ).fetchall()
    gone = [r[0] for r in stale if (r[2] if r[1] == record_id else r[1]) not in partners]
    conn.executemany(
        "UPDATE review_items SET status = 'auto_resolved' WHERE id = ?", [(i,) for i in gone]
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
    skip_invalid: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
    on_result: Callable[[BundleResult], None] | None = None,
    cancel: Any = None,
    district_key: Any = None,
    allow_v1: bool = True,
) -> list[BundleResult]:
    """Merge bundles one by one (each its own transaction); `progress(done, total)` counts bundles."""
    results = []
    for i, path in enumerate(files):
        if cancel is not None and cancel.is_set():
            break
        r = merge_bundle(
            conn,
            path,
            skip_invalid=skip_invalid,
            dry_run=dry_run,
            district_key=district_key,
            allow_v1=allow_v1,
        )
        results.append(r)
        if on_result:
            on_result(r)
        if progress:
            progress(i + 1, len(files))
    return results
