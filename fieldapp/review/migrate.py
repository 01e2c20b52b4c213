"""Release-1 decisions (rows only) become district versions when a district database moves to
schema 4 (SPEC §4 v2), so that they travel to devices and survive re-merges like any decision."""

from __future__ import annotations

import json

from fieldapp import kinds
from fieldapp.review.decide import as_schema2, resettle, stored, transaction, write
from fieldapp.review.queues import ReviewError
from fieldapp.review.transfer import rescan
from fieldapp.sqlite import sqlite3


def _heads(conn: sqlite3.Connection, record_id: str) -> set[str]:
    rows = conn.execute(
        "SELECT version_id, parent_version_id, also_parents FROM versions WHERE record_id = ?",
        (record_id,),
    ).fetchall()
    named = {r[1] for r in rows if r[1]}
    for r in rows:
        named.update(json.loads(r[2] or "[]"))
    return {r[0] for r in rows if r[0] not in named}


def _conflict(conn: sqlite3.Connection, row: sqlite3.Row) -> dict[str, str]:
    """The chosen version and the other one, while both are still heads, become a resolution."""
    chosen = row["decision"]
    other = row["version_b"] if chosen == row["version_a"] else row["version_a"]
    if chosen not in (row["version_a"], row["version_b"]):
        return {}
    if not {chosen, other} <= _heads(conn, row["record_id"]):
        return {}  # edited since, or a later decision: the choice is already history
    side = stored(conn, chosen)
    payload = as_schema2(
        conn, row["kind"], row["record_id"], json.loads(side["payload"]), side["payload_schema"]
    )
    vid = write(
        conn,
        row["kind"],
        row["record_id"],
        payload,
        parent=chosen,
        also_parents=(other,),
        deleted=bool(side["deleted"]),
    )
    conn.execute("UPDATE conflicts SET decision_version_id = ? WHERE id = ?", (vid, row["id"]))
    return {row["record_id"]: row["kind"]}


def _item(conn: sqlite3.Connection, row: sqlite3.Row) -> dict[str, str]:
    """'same' cancels the newer record of the pair (merged into the older, record_a); a meal-slot
    choice tombstones the other count; 'different' stays a row (it changes no record)."""
    if row["queue"] == "duplicate_person" and row["decision"] == "same":
        target, kind = row["record_b"], "elder"
    elif row["queue"] == "meal_slot" and row["decision"] in (row["record_a"], row["record_b"]):
        target = row["record_b"] if row["decision"] == row["record_a"] else row["record_a"]
        kind = "meal_count"
    else:
        return {}
    cur = conn.execute(f"SELECT version_id, deleted FROM {kind} WHERE id = ?", (target,)).fetchone()
    if cur is None or cur["deleted"]:
        return {}
    old = stored(conn, cur[0])
    payload = as_schema2(conn, kind, target, json.loads(old["payload"]), old["payload_schema"])
    if kind == "elder":
        if payload.get("status") == "cancelled":
            return {}
        day = str(row["decided_at"] or "")[:10] or kinds.today().isoformat()
        payload |= {"status": "cancelled", "merged_into": row["record_a"], "status_date": day}
        payload["moved_to"] = None
    vid = write(conn, kind, target, payload, parent=cur[0], deleted=kind == "meal_count")
    conn.execute("UPDATE review_items SET decision_version_id = ? WHERE id = ?", (vid, row["id"]))
    return {target: kind}


def decisions_to_versions(conn: sqlite3.Connection) -> int:
    """Write the district version of every resolved decision that has none yet (idempotent). A
    decision whose version the record models refuse stays a row, as before. Returns how many."""
    done = 0
    todo = [
        (_conflict, r)
        for r in conn.execute(
            "SELECT * FROM conflicts WHERE status = 'resolved' AND decision IS NOT NULL"
            " AND decision_version_id IS NULL AND reason != 'undo' ORDER BY id"
        ).fetchall()
    ] + [
        (_item, r)
        for r in conn.execute(
            "SELECT * FROM review_items WHERE status = 'resolved' AND decision IS NOT NULL"
            " AND decision_version_id IS NULL ORDER BY id"
        ).fetchall()
    ]
    for step, row in todo:
        try:
            with transaction(conn):
                touched = step(conn, row)
                resettle(conn, touched)
        except ReviewError:
            continue
        done += bool(touched)
    rescan(conn)
    return done
