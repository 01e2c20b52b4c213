"""Settling records (SPEC §4): a record's current row, conflicts and review items recomputed from its versions.

The merge calls it for every record a bundle touches, and the review queue after a decision; since
it is a recomputation from the set of versions, the result never depends on the order of bundles.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fieldapp import lineage, models
from fieldapp.kinds import now_iso
from fieldapp.sqlite import sqlite3
from fieldapp.store import write_current, write_current_many
from fieldapp.store.rows import BuiltRow
from fieldapp.sync.bundle_format import BundleError
from fieldapp.text import clean


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


def enrolled_communities(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """device id → the communities its enrolment names (a damaged list reads as none)."""
    return {
        device_id: list(_codes(communities))
        for device_id, communities in conn.execute(
            "SELECT device_id, communities FROM enrolled_devices"
        )
    }


@functools.lru_cache(maxsize=1024)
def _codes(communities: object) -> tuple[str, ...]:
    """An enrolment's list of communities, parsed once per text (the merge reads the enrolments
    for every chunk: issue 20); anything that is not a JSON list of them reads as none."""
    if not isinstance(communities, str | bytes):
        return ()
    try:
        codes = json.loads(communities)
    except ValueError:
        return ()
    return tuple(str(c) for c in codes) if isinstance(codes, list) else ()


@dataclass(frozen=True)
class Authority:
    """What lineage needs of the district's own tables: its device id (its versions beat a
    device's) and each enrolled device's community (the community of its payload schema 1
    versions, SPEC §3 v2: the first of its enrolled communities)."""

    district_id: str | None
    enrolled: dict[str, str | None]

    @classmethod
    def read(cls, conn: sqlite3.Connection) -> Authority:
        row = conn.execute("SELECT device_id FROM device WHERE role = 'district'").fetchone()
        if row is None:  # a device: the district's id as its return bundles named it (SPEC §5b)
            row = conn.execute("SELECT district_device_id FROM device_keys").fetchone()
        enrolled = {
            d: (codes[0] if codes else None) for d, codes in enrolled_communities(conn).items()
        }
        return cls(row[0] if row else None, enrolled)

    def community(self, schema: int, payload_code: object, device_id: str) -> str | None:
        """A version's community: its payload's (schema 2), else its device's enrolment's."""
        if schema >= 2:
            return payload_code if isinstance(payload_code, str) else None
        return self.enrolled.get(device_id)


def settle_batch(
    conn: sqlite3.Connection,
    touched: dict[str, str],
    records: Mapping[str, models.Record | BuiltRow],
    summaries: dict[str, KindSummary],
    now: str,
    first: Mapping[str, list[tuple[Any, ...]]] | None = None,
) -> None:
    """The common case in bulk: a record whose versions form one chain in one community, with no
    resolution, no flagged clock, no district version and no conflict history, gets its one head
    as its current row (its record was validated a moment ago). Anything else goes through
    `settle`, which asks `lineage.settle`; for such a chain both give the same winner.
    `first`: the records whose only versions are the ones just inserted, with those versions as
    `_versions_of` reads them (`apply.first_versions`): no conflict, no current row, not read."""
    if not touched:
        return
    authority = Authority.read(conn)
    first = first or {}
    stored = {rid: kind for rid, kind in touched.items() if rid not in first}
    versions, with_conflicts = _versions_of(conn, list(stored))
    versions.update(first)
    current = _current_of(conn, stored)
    writes: dict[str, list[tuple[str, dict[str, Any], models.Record | BuiltRow]]] = {}
    for rid, kind in touched.items():
        summary = summaries.setdefault(kind, KindSummary())
        winner = None if rid in with_conflicts else _one_chain(versions[rid], authority)
        if winner is None:
            settle(conn, kind, rid, summary, now, authority=authority)
            continue
        if current.get(rid) == winner[1]:
            continue
        record: models.Record | BuiltRow | None = records.get(winner[1])
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
        _review_many(conn, kind, [rid for rid, _, _ in items], now)


def _one_chain(rows: list[Any], authority: Authority) -> Any:
    """The head of versions that form one chain (every parent present, no also_parents) in one
    community, none flagged and none the district's; None when lineage has to decide."""
    if len(rows) == 1:  # a record's first version, the most common case: what _chain gives
        r = rows[0]
        ok = r[6] == "[]" and not r[9] and r[4] != authority.district_id and r[2] is None
        return r if ok else None
    return _chain(rows, authority)


def _chain(rows: list[Any], authority: Authority) -> Any:
    """`_one_chain` for any number of versions."""
    parent_of: dict[str, str | None] = {}
    communities: set[str] = set()
    for r in rows:
        if r[6] != "[]" or r[9] or r[4] == authority.district_id:
            return None
        parent_of[r[1]] = r[2]
        code = authority.community(r[7], r[8], r[4])
        if code is not None:
            communities.add(code)
    if len(communities) > 1:
        return None
    named = {p for p in parent_of.values() if p is not None}
    heads = [r for r in rows if r[1] not in named]
    if len(heads) != 1:
        return None
    steps, vid = 0, heads[0][1]
    while vid is not None and steps <= len(rows):  # every version on the head's line, no cycle
        if vid not in parent_of:
            return None
        steps, vid = steps + 1, parent_of[vid]
    return heads[0] if steps == len(rows) else None


def _versions_of(
    conn: sqlite3.Connection, rids: list[str]
) -> tuple[dict[str, list[Any]], set[str]]:
    """Each record's versions (the columns settling needs, with the payload's community for schema
    2 and whether an unaccepted clock flag holds it back), and the records with any conflict row."""
    versions: dict[str, list[Any]] = {}
    for r in in_slices(
        conn,
        "SELECT v.record_id, v.version_id, v.parent_version_id, v.hlc, v.device_id, v.deleted,"
        " v.also_parents, v.payload_schema,"
        " CASE WHEN v.payload_schema >= 2 THEN json_extract(v.payload, '$.community_code') END,"
        " f.version_id IS NOT NULL"
        " FROM versions v LEFT JOIN clock_flags f ON f.version_id = v.version_id AND f.accepted_at IS NULL"
        " WHERE v.record_id IN ({})",
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
        from fieldapp.review.transfer import offer_transfer

        offer_transfer(conn, record_id, now)


def _review_many(conn: sqlite3.Connection, kind: str, rids: list[str], now: str) -> None:
    """`_review_record` for many records: the reads set-based (a few queries per chunk, not
    several per record), the writes record by record in the same order, so the review items
    are the very rows, with the very ids, the per-record path writes. Reading first is exact:
    a record's writes touch only its own items, and an item it opens joins it to a partner,
    which the partner never closes (being a partner is symmetric)."""
    if kind == "meal_count":
        slots = _meal_slots(conn, rids)
        items = _open_items(conn, "meal_slot", rids)
        for rid in rids:
            key, partners = slots.get(rid, ("", set()))
            _review_write(conn, ("meal_slot", "meal_count", rid, key), partners, items[rid], now)
    elif kind == "elder":
        from fieldapp.review.transfer import Transfers

        persons = _persons(conn, rids)
        items = _open_items(conn, "duplicate_person", rids)
        transfers = Transfers.read(conn, rids)
        for rid in rids:
            key, partners = persons.get(rid, ("", set()))
            _review_write(conn, ("duplicate_person", "elder", rid, key), partners, items[rid], now)
            transfers.offer(conn, rid, now)


def _open_items(
    conn: sqlite3.Connection, queue: str, rids: list[str]
) -> dict[str, list[tuple[int, str, str]]]:
    """Each record's open items of a queue, (id, record_a, record_b), as `_review` reads them."""
    out: dict[str, list[tuple[int, str, str]]] = {rid: [] for rid in rids}
    seen: set[int] = set()
    for side in ("record_a", "record_b"):
        for r in in_slices(
            conn,
            f"SELECT id, record_a, record_b FROM review_items WHERE queue = '{queue}'"
            f" AND status = 'open' AND {side} IN ({{}}) ORDER BY id",
            rids,
        ):
            if r[0] in seen:
                continue
            seen.add(r[0])
            for rid in {r[1], r[2]} & out.keys():
                out[rid].append((r[0], r[1], r[2]))
    return out


def _meal_slots(conn: sqlite3.Connection, rids: list[str]) -> dict[str, tuple[str, set[str]]]:
    """record_id → (its slot 'point|date|meal', the other live counts of that slot), for the
    live counts among `rids` (a deleted one has no slot, as in `_review_meal_slot`)."""
    own = {
        r[0]: (r[1], r[2], r[3])
        for r in in_slices(
            conn,
            "SELECT id, point_id, service_date, meal FROM meal_count WHERE deleted = 0 AND id IN ({})",
            rids,
        )
    }
    slots = sorted(set(own.values()))
    members: dict[tuple[str, str, str], set[str]] = {}
    for k in range(0, len(slots), _MAX_PARAMS // 3):
        part = slots[k : k + _MAX_PARAMS // 3]
        marks = ", ".join("(?, ?, ?)" for _ in part)
        for r in conn.execute(
            "SELECT id, point_id, service_date, meal FROM meal_count WHERE deleted = 0"
            f" AND (point_id, service_date, meal) IN (VALUES {marks})",
            [x for slot in part for x in slot],
        ):
            members.setdefault((r[1], r[2], r[3]), set()).add(r[0])
    return {rid: ("|".join(slot), members[slot] - {rid}) for rid, slot in own.items()}


def _persons(conn: sqlite3.Connection, rids: list[str]) -> dict[str, tuple[str, set[str]]]:
    """record_id → (the duplicate key, the other live elders with its ID number), for the live
    elders among `rids` that have one (as `_review_person` computes them)."""
    own = {
        r[0]: r[1]
        for r in in_slices(
            conn, "SELECT id, id_number FROM elder WHERE deleted = 0 AND id IN ({})", rids
        )
        if r[1]
    }
    if not own:
        return {}
    same: dict[str, set[str]] = {}
    for r in in_slices(
        conn,
        "SELECT id, id_number FROM elder INDEXED BY elder_id_number WHERE id_number IN ({}) AND deleted = 0",
        sorted(set(own.values())),
    ):
        same.setdefault(r[1], set()).add(r[0])
    key = _person_key(conn)
    return {rid: (key(number), same.get(number, set()) - {rid}) for rid, number in own.items()}


def _person_key(conn: sqlite3.Connection) -> Callable[[str], str]:
    """The duplicate_person natural key of an ID number: an HMAC under the district's secret."""
    secret = conn.execute("SELECT hmac_secret FROM device_keys").fetchone()
    if secret is not None and secret[0]:
        from fieldapp import crypto

        return lambda number: "hmac:" + crypto.id_hmac(secret[0], number)
    return models.mask_id_number


def settle_records(
    conn: sqlite3.Connection, records: Mapping[str, str], now: str | None = None
) -> dict[str, KindSummary]:
    """Settle these records ({record_id: kind}) again from their versions, e.g. after a district
    decision version was written or a clock accepted (CONTRACT v2 §5); the caller holds the
    transaction. Returns what changed, per kind."""
    stamp = now or now_iso()
    authority = Authority.read(conn)
    summaries: dict[str, KindSummary] = {}
    for record_id, kind in records.items():
        summary = summaries.setdefault(kind, KindSummary())
        settle(conn, kind, record_id, summary, stamp, authority=authority)
    return summaries


def settle(
    conn: sqlite3.Connection,
    kind: str,
    record_id: str,
    summary: KindSummary,
    now: str,
    *,
    authority: Authority | None = None,
) -> None:
    """The winner by `lineage.settle` (SPEC §4, §4a): descent through every parent, eligibility
    by lineage, clock flags, the district's precedence. A release-1 reviewer's decision row still
    outranks it while one exists. More than one eligible head: a conflict; a version that moved
    the record to another community: a `community_change` review item."""
    authority = authority or Authority.read(conn)
    rows = conn.execute(
        "SELECT v.version_id, v.parent_version_id, v.hlc, v.device_id, v.deleted, v.payload,"
        " v.payload_schema, v.also_parents, f.version_id IS NOT NULL AS flagged FROM versions v"
        " LEFT JOIN clock_flags f ON f.version_id = v.version_id AND f.accepted_at IS NULL"
        " WHERE v.record_id = ?",
        (record_id,),
    ).fetchall()
    by_id = {r["version_id"]: r for r in rows}
    nodes = {r["version_id"]: _node(r, authority) for r in rows}
    settled = lineage.settle(list(nodes.values()))
    if lineage.CYCLE in settled.ineligible.values():
        rid = clean(record_id, 64)
        raise BundleError(
            f"记录 {rid} 的父版本成环（伪造的文件），整个同步包未合并",
            f"record {rid}: its parents form a cycle (a forged file); the bundle was not merged",
        )
    winner_id = _decided(conn, record_id, set(settled.heads)) or settled.winner
    if winner_id is not None:
        _write_winner(conn, kind, record_id, by_id[winner_id], summary)
    _open_conflicts(
        conn, kind, record_id, [by_id[h] for h in settled.heads], winner_id, summary, now
    )
    _community_changes(conn, kind, record_id, settled, nodes, now)
    _review_record(conn, kind, record_id, now)


def _node(row: sqlite3.Row, authority: Authority) -> lineage.Node:
    schema = row["payload_schema"]
    code = json.loads(row["payload"]).get("community_code") if schema >= 2 else None
    also = json.loads(row["also_parents"]) if row["also_parents"] != "[]" else []
    return lineage.Node(
        version_id=row["version_id"],
        parent=row["parent_version_id"],
        hlc=row["hlc"],
        device_id=row["device_id"],
        also_parents=tuple(also),
        district=row["device_id"] == authority.district_id,
        community=authority.community(schema, code, row["device_id"]),
        flagged=bool(row["flagged"]),
    )


def _write_winner(
    conn: sqlite3.Connection, kind: str, record_id: str, winner: sqlite3.Row, summary: KindSummary
) -> None:
    current = conn.execute(f"SELECT version_id FROM {kind} WHERE id = ?", (record_id,)).fetchone()
    if current is not None and current[0] == winner["version_id"]:
        return
    record = stored_record(kind, winner["payload"], winner["payload_schema"])
    meta = {
        "version_id": winner["version_id"],
        "hlc": winner["hlc"],
        "device_id": winner["device_id"],
        "deleted": winner["deleted"],
    }
    write_current(conn, kind, record_id, meta, record, record.payload())
    if current is None:
        summary.new += 1
    else:
        summary.updated += 1


def _open_conflicts(
    conn: sqlite3.Connection,
    kind: str,
    record_id: str,
    heads: list[sqlite3.Row],
    winner_id: str | None,
    summary: KindSummary,
    now: str,
) -> None:
    """One open conflict per eligible head beside the winner; the others close themselves."""
    winner = next((h for h in heads if h["version_id"] == winner_id), None)
    pairs = []
    for h in heads:
        if winner is None or h["version_id"] == winner_id:
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


def _community_changes(
    conn: sqlite3.Connection,
    kind: str,
    record_id: str,
    settled: lineage.Settled,
    nodes: dict[str, lineage.Node],
    now: str,
) -> None:
    """One review item per device version that moved the record out of its owning community (or
    descends from one): record_a the record, record_b the version, natural_key 'owner→its own'."""
    conn.executemany(
        "INSERT INTO review_items (queue, kind, record_a, record_b, natural_key, status, created_at)"
        " VALUES ('community_change', ?, ?, ?, ?, 'open', ?) ON CONFLICT (queue, record_a, record_b) DO NOTHING",
        [
            (kind, record_id, vid, f"{settled.owners.get(vid)}→{nodes[vid].community}", now)
            for vid, why in sorted(settled.ineligible.items())
            if why == lineage.COMMUNITY_CHANGE
        ],
    )


def _decided(conn: sqlite3.Connection, record_id: str, head_ids: set[str]) -> str | None:
    """A release-1 reviewer's choice between current heads (a conflicts row resolved by a person)
    outranks lineage's answer, as long as it was made against every other head; a head nobody
    weighed opens a new conflict. Without such a row lineage decides (decisions made since v2 are
    district versions, which lineage ranks itself)."""
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
        key = _person_key(conn)(row[0])
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
    stale = conn.execute(
        "SELECT id, record_a, record_b FROM review_items WHERE queue = ? AND status = 'open' AND (record_a = ? OR record_b = ?)",
        (queue, record_id, record_id),
    ).fetchall()
    items = [(r[0], r[1], r[2]) for r in stale]
    _review_write(conn, (queue, kind, record_id, key), partners, items, now)


def _review_write(
    conn: sqlite3.Connection,
    what: tuple[str, str, str, str],
    partners: set[str],
    open_items: list[tuple[int, str, str]],
    now: str,
) -> None:
    """The writes of `_review`: (queue, kind, record_id, natural key) paired with each partner;
    `open_items`, the record's open items read before, closed where no longer a partner."""
    queue, kind, record_id, key = what
    # in sorted order: a set's order depends on how it was built (and on the hash seed), and the
    # items' ids follow the order they are written in (the grouped and the per-record paths
    # built their sets differently: test_the_fast_paths_give_the_database_of_the_model_paths
    # failed once in eight runs)
    for other in sorted(partners):
        a, b = sorted((record_id, other))
        conn.execute(
            "INSERT INTO review_items (queue, kind, record_a, record_b, natural_key, status, created_at) VALUES (?, ?, ?, ?, ?, 'open', ?)"
            " ON CONFLICT (queue, record_a, record_b) DO UPDATE SET status = 'open', natural_key = excluded.natural_key"
            " WHERE status = 'auto_resolved'",
            (queue, kind, a, b, key, now),
        )
    gone = [i for i, a, b in open_items if (b if a == record_id else a) not in partners]
    if gone:
        conn.executemany(
            "UPDATE review_items SET status = 'auto_resolved' WHERE id = ?", [(i,) for i in gone]
        )
