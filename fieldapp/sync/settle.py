"""Settling records (SPEC §4): a record's current row, conflicts and review items recomputed from its versions.

The merge calls it for every record a bundle touches, and the review queue after a decision; since
it is a recomputation from the set of versions, the result never depends on the order of bundles.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fieldapp import models
from fieldapp.sqlite import sqlite3
from fieldapp.store import write_current, write_current_many


@dataclass
class KindSummary:
    """What one bundle did to the records of one kind (the merge's summary table)."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    conflicts: int = 0
    rejected: int = 0


_MAX_PARAMS = 900


def in_slices(conn: sqlite3.Connection, sql: str, values: list[str]) -> list[sqlite3.Row]:
    """Run `sql` (with one `{}` for the IN list) over `values` in slices SQLite accepts."""
    out: list[sqlite3.Row] = []
    for k in range(0, len(values), _MAX_PARAMS):
        part = values[k : k + _MAX_PARAMS]
        out.extend(conn.execute(sql.format(", ".join("?" * len(part))), part).fetchall())
    return out


def stored_record(kind: str, payload: str, schema: int) -> models.Record:
    """A stored version's payload as its record, under the rules of its own payload schema."""
    return models.validate_record(kind, json.loads(payload), schema=schema)


def settle_batch(
    conn: sqlite3.Connection,
    touched: dict[str, str],
    records: dict[str, models.Record],
    summaries: dict[str, KindSummary],
    now: str,
) -> None:
    """The common case in bulk: a record with one head and no conflict history gets that head as its
    current row (its record was validated a moment ago). Anything else goes through `settle`."""
    if not touched:
        return
    versions, with_conflicts = _versions_of(conn, list(touched))
    current = _current_of(conn, touched)
    writes: dict[str, list[tuple[str, dict[str, Any], models.Record]]] = {}
    for rid, kind in touched.items():
        summary = summaries.setdefault(kind, KindSummary())
        rows = versions[rid]
        parents = {r[2] for r in rows if r[2]}
        heads = [r for r in rows if r[1] not in parents]
        if len(heads) > 1 or rid in with_conflicts:
            settle(conn, kind, rid, summary, now)
            continue
        winner = heads[0]
        if current.get(rid) == winner[1]:
            continue
        record = records.get(winner[1])
        if record is None:
            text, schema = conn.execute(
                "SELECT payload, payload_schema FROM versions WHERE version_id = ?", (winner[1],)
            ).fetchone()
            record = stored_record(kind, text, schema)
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
            _review_record(conn, kind, rid, now)


def _versions_of(
    conn: sqlite3.Connection, rids: list[str]
) -> tuple[dict[str, list[sqlite3.Row]], set[str]]:
    """Each record's versions (the columns settling needs), and the records with any conflict row."""
    versions: dict[str, list[sqlite3.Row]] = {}
    for r in in_slices(
        conn,
        "SELECT record_id, version_id, parent_version_id, hlc, device_id, deleted FROM versions WHERE record_id IN ({})",
        rids,
    ):
        versions.setdefault(r[0], []).append(r)
    with_conflicts = {
        r[0]
        for r in in_slices(
            conn, "SELECT DISTINCT record_id FROM conflicts WHERE record_id IN ({})", rids
        )
    }
    return versions, with_conflicts


def _current_of(conn: sqlite3.Connection, touched: dict[str, str]) -> dict[str, str]:
    """record_id → the version_id of its current row, for the records that have one."""
    by_kind: dict[str, list[str]] = {}
    for rid, kind in touched.items():
        by_kind.setdefault(kind, []).append(rid)
    current: dict[str, str] = {}
    for kind, ids in by_kind.items():
        current.update(
            {
                r[0]: r[1]
                for r in in_slices(
                    conn, f"SELECT id, version_id FROM {kind} WHERE id IN ({{}})", ids
                )
            }
        )
    return current


def _review_record(conn: sqlite3.Connection, kind: str, record_id: str, now: str) -> None:
    """The review queue a record of this kind can land in (meal slots, duplicate persons)."""
    if kind == "meal_count":
        _review_meal_slot(conn, record_id, now)
    elif kind == "elder":
        _review_person(conn, record_id, now)


def settle(
    conn: sqlite3.Connection, kind: str, record_id: str, summary: KindSummary, now: str
) -> None:
    """Heads are the versions no other version of the record names as its parent; the winner is the
    greatest (hlc, device_id, version_id) among them (SPEC §4). More than one head: a conflict."""
    rows = conn.execute(
        "SELECT version_id, parent_version_id, hlc, device_id, deleted, payload, payload_schema"
        " FROM versions WHERE record_id = ?",
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
        record = stored_record(kind, winner["payload"], winner["payload_schema"])
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
    _review_record(conn, kind, record_id, now)


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
