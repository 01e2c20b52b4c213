"""Undoing a decision is one more decision: a new district version restores the payload the record
had before, a row (reason 'undo') records who undid it, when and why, and the first decision's row
stays, so the history shows both. Versions are append-only: nothing is taken back out."""

from __future__ import annotations

import json
from typing import Any

from fieldapp.kinds import now_iso
from fieldapp.review.decide import as_schema2, current_version, resettle, stored, transaction, write
from fieldapp.review.queues import ReviewError
from fieldapp.review.transfer import offer_transfer
from fieldapp.sqlite import sqlite3


def parse_ref(ref: str) -> tuple[str, int]:
    """'c12' is conflict 12, 'r5' review item 5 (a person group is named by any of its items)."""
    head, num = ref[:1].lower(), ref[1:]
    if head not in ("c", "r") or not num.isdigit():
        raise ReviewError(
            f"编号须为 c<数字>（冲突）或 r<数字>（审核项）：{ref}",
            f"a reference is c<number> (conflict) or r<number> (review item): {ref}",
        )
    return ("conflicts" if head == "c" else "review_items"), int(num)


def _district_id(conn: sqlite3.Connection) -> str:
    row = conn.execute("SELECT device_id FROM device WHERE role = 'district'").fetchone()
    return str(row[0]) if row else ""


def _earlier(conn: sqlite3.Connection, decision: sqlite3.Row) -> sqlite3.Row:
    """What the record showed before a decision: among the decision's parents, the one the winner
    rule picked (a district version first, then the greatest (hlc, device_id, version_id))."""
    parents = [decision["parent_version_id"], *json.loads(decision["also_parents"] or "[]")]
    rows = [stored(conn, p) for p in parents if p]
    if not rows:
        raise ReviewError("该决定没有可恢复的早先版本", "the decision has no earlier version")
    district = _district_id(conn)
    return max(
        rows, key=lambda r: (r["device_id"] == district, r["hlc"], r["device_id"], r["version_id"])
    )


def _restore(
    conn: sqlite3.Connection, version_id: str, by: str, comment: str | None
) -> tuple[str, str, str]:
    """One record back to its earlier payload, on top of the decision's version; returns (kind,
    record_id, new version). Refused when the record was edited after the decision."""
    decision = stored(conn, version_id)
    kind, rid = decision["kind"], decision["record_id"]
    if conn.execute(
        "SELECT 1 FROM conflicts WHERE reason = 'undo' AND version_a = ?", (version_id,)
    ).fetchone():
        raise ReviewError("该决定已撤销", "this decision is already undone")
    if current_version(conn, kind, rid) != version_id:
        raise ReviewError(
            "决定之后该记录已有新的修改，不能撤销（请另作决定）",
            "the record was changed after the decision: it cannot be undone (decide again instead)",
        )
    earlier = _earlier(conn, decision)
    payload = as_schema2(conn, kind, rid, json.loads(earlier["payload"]), earlier["payload_schema"])
    new = write(conn, kind, rid, payload, parent=version_id, deleted=bool(earlier["deleted"]))
    now = now_iso()
    conn.execute(
        "INSERT INTO conflicts (kind, record_id, version_a, version_b, reason, status, created_at,"
        " decided_by, decided_at, decision, decision_version_id, comment)"
        " VALUES (?, ?, ?, ?, 'undo', 'resolved', ?, ?, ?, ?, ?, ?)",
        (kind, rid, version_id, new, now, by, now, new, new, comment),
    )
    return kind, rid, new


def undo(conn: sqlite3.Connection, ref: str, *, by: str, comment: str | None = None) -> list[str]:
    """Undo decision `ref` ('c12', 'r5'); returns the versions written. A conflict is not reopened
    (its heads are joined for good): the record shows again what it showed before. A review item
    (a person group, a meal slot, a transfer) is open again, to be decided anew."""
    name = by.strip()
    if not name:
        raise ReviewError("须填写审核人姓名", "the reviewer's name is required")
    table, num = parse_ref(ref)
    row = conn.execute(f"SELECT * FROM {table} WHERE id = ?", (num,)).fetchone()
    if row is None or row["status"] != "resolved":
        raise ReviewError(f"没有可撤销的决定 {ref}", f"no decision {ref} to undo")
    if table == "conflicts" and row["reason"] == "undo":
        raise ReviewError("撤销本身不能再撤销（请另作决定）", "an undo is not undone: decide again")
    items = _items_of(conn, row) if table == "review_items" else []
    versions = sorted(
        {r["decision_version_id"] for r in (items or [row]) if r["decision_version_id"]}
    )
    if table == "conflicts" and not versions:
        raise ReviewError(
            f"决定 {ref} 没有对应的区级版本", f"decision {ref} has no district version"
        )
    written: list[str] = []
    touched: dict[str, str] = {}
    with transaction(conn):
        for vid in versions:
            kind, rid, new = _restore(conn, vid, name, comment)
            written.append(new)
            touched[rid] = kind
        conn.executemany(
            "UPDATE review_items SET status = 'open', decision = NULL, decided_by = NULL,"
            " decided_at = NULL, decision_version_id = NULL, comment = NULL WHERE id = ?",
            [(r["id"],) for r in items if r["queue"] != "transfer"],
        )
        resettle(conn, touched)
        for r in items:
            if r["queue"] == "transfer":  # the worker's request stands again
                offer_transfer(conn, r["record_a"], now_iso())
    return written


def _items_of(conn: sqlite3.Connection, row: sqlite3.Row) -> list[sqlite3.Row]:
    """The items one decision resolved: a person group's items share key, decision and time."""
    if row["queue"] != "duplicate_person":
        return [row]
    return list(
        conn.execute(
            "SELECT * FROM review_items WHERE queue = 'duplicate_person' AND status = 'resolved'"
            " AND natural_key = ? AND decision = ? AND decided_at = ?",
            (row["natural_key"], row["decision"], row["decided_at"]),
        )
    )


def history(conn: sqlite3.Connection, record_id: str) -> list[dict[str, Any]]:
    """Every decision about a record, oldest first: conflict choices, undos, review items."""
    rows = [
        {"ref": f"c{r['id']}", **dict(r)}
        for r in conn.execute(
            "SELECT id, kind, reason AS what, decided_by, decided_at, decision, decision_version_id,"
            " comment FROM conflicts WHERE record_id = ? AND status = 'resolved'",
            (record_id,),
        )
    ]
    rows += [
        {"ref": f"r{r['id']}", **dict(r)}
        for r in conn.execute(
            "SELECT id, kind, queue AS what, decided_by, decided_at, decision, decision_version_id,"
            " comment FROM review_items WHERE (record_a = ? OR record_b = ?) AND status = 'resolved'",
            (record_id, record_id),
        )
    ]
    return sorted(rows, key=lambda r: (r["decided_at"] or "", r["ref"]))


def recent(conn: sqlite3.Connection, limit: int = 200) -> list[dict[str, Any]]:
    """The decisions that may be undone, newest first: conflict choices (not undos themselves)
    and review items, a person group once; `undone` says whether an undo already followed."""
    rows = [
        {"ref": f"c{r['id']}", **dict(r)}
        for r in conn.execute(
            "SELECT c.id, c.kind, c.record_id, 'conflict' AS what, c.decided_by, c.decided_at,"
            " c.comment, EXISTS (SELECT 1 FROM conflicts u WHERE u.reason = 'undo'"
            " AND u.version_a = c.decision_version_id) AS undone"
            " FROM conflicts c WHERE c.status = 'resolved' AND c.reason != 'undo'"
            " ORDER BY c.decided_at DESC LIMIT ?",
            (limit,),
        )
    ]
    seen: set[tuple[str, str]] = set()
    for r in conn.execute(
        "SELECT id, kind, record_a AS record_id, queue AS what, decided_by, decided_at, comment,"
        " natural_key, decision FROM review_items WHERE status = 'resolved'"
        " ORDER BY decided_at DESC, id LIMIT ?",
        (limit,),
    ):
        if r["what"] == "duplicate_person":
            key = (r["natural_key"], r["decided_at"])
            if key in seen:  # one decision for the whole group
                continue
            seen.add(key)
        row = {k: r[k] for k in ("id", "kind", "record_id", "what", "decided_by", "decided_at")}
        rows.append({"ref": f"r{r['id']}", **row, "comment": r["comment"], "undone": 0})
    return sorted(rows, key=lambda r: (r["decided_at"] or "", r["ref"]), reverse=True)[:limit]
