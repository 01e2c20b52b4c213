"""The district's decisions, each written as a district version (SPEC §4 v2) and recorded with the
supervisor's name and comment: a conflict choice (a resolution), same / different person, a
meal-slot choice (a tombstone), a transfer. Being data, a decision survives any re-merge and
travels to the devices; undo is one more decision (`undo.py`)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from fieldapp import kinds
from fieldapp.kinds import now_iso
from fieldapp.review.queues import ReviewError, person_group
from fieldapp.sqlite import sqlite3
from fieldapp.store.district import district_version
from fieldapp.store.errors import StoreError


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """All or nothing: its own transaction, or a savepoint inside the caller's (a migration)."""
    if conn.in_transaction:
        conn.execute("SAVEPOINT review")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK TO review")
            conn.execute("RELEASE review")
            raise
        conn.execute("RELEASE review")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def resettle(conn: sqlite3.Connection, touched: Mapping[str, str]) -> None:
    """Re-settle the records a decision wrote, with the merge engine's own rule."""
    from fieldapp.sync import settle as engine

    now = now_iso()
    for rid, kind in touched.items():
        engine.settle(conn, kind, rid, engine.KindSummary(), now)


def _need_name(by: str) -> str:
    name = by.strip()
    if not name:
        raise ReviewError("须填写审核人姓名", "the reviewer's name is required")
    return name


def stored(conn: sqlite3.Connection, version_id: str) -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute(
        "SELECT version_id, kind, record_id, parent_version_id, also_parents, hlc, device_id,"
        " deleted, payload, payload_schema FROM versions WHERE version_id = ?",
        (version_id,),
    ).fetchone()
    if row is None:
        raise ReviewError("找不到版本", f"no version {version_id}")
    return row


def current_version(conn: sqlite3.Connection, kind: str, record_id: str) -> str:
    row = conn.execute(f"SELECT version_id FROM {kind} WHERE id = ?", (record_id,)).fetchone()
    if row is None:
        raise ReviewError("找不到该记录", f"no {kind} record {record_id}")
    return str(row[0])


def as_schema2(
    conn: sqlite3.Connection, kind: str, record_id: str, payload: dict[str, Any], schema: int = 1
) -> dict[str, Any]:
    """A payload written under schema 1 lacks what schema 2 requires: the community (and a
    non-active elder's status date) come from the record's current row, filled by the v4 migration.
    A schema 2 payload is taken as it is."""
    out = dict(payload)
    if schema >= 2:
        return out
    cols = {r[1] for r in conn.execute(f"PRAGMA table_info({kind})")}
    wanted = [c for c in ("community_code", "status_date") if c in cols and out.get(c) is None]
    if wanted:
        row = conn.execute(
            f"SELECT {', '.join(wanted)} FROM {kind} WHERE id = ?", (record_id,)
        ).fetchone()
        for c in wanted:
            if row is not None and row[c] is not None:
                if c == "status_date" and out.get("status", "active") == "active":
                    continue
                out[c] = row[c]
    return out


def checked(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as the record model accepts it; a broken rule is refused naming the field."""
    from fieldapp import models

    try:
        record = models.validate_record(
            kind, payload, context=models.ValidationContext(today=kinds.today())
        )
    except models.RecordInvalid as e:
        raise ReviewError(
            "这样的组合不符合规则：" + "；".join(p.text("zh") for p in e.problems),
            "this combination breaks a rule: " + "; ".join(p.text("en") for p in e.problems),
        ) from None
    return dict(record.payload())


def write(
    conn: sqlite3.Connection,
    kind: str,
    record_id: str,
    payload: dict[str, Any],
    *,
    parent: str,
    also_parents: tuple[str, ...] = (),
    deleted: bool = False,
) -> str:
    try:
        return district_version(
            conn,
            kind,
            record_id,
            checked(kind, payload),
            parent=parent,
            also_parents=also_parents,
            deleted=deleted,
        )
    except StoreError as e:
        raise ReviewError(e.zh, e.en) from None


def _field_mix(
    kind: str,
    sides: dict[str, sqlite3.Row],
    choose: str,
    fields: Mapping[str, str] | None,
) -> dict[str, Any]:
    """The chosen side's payload, with the named fields taken from the side each names."""
    from fieldapp import models

    payload: dict[str, Any] = json.loads(sides[choose]["payload"])
    known = models.MODELS[kind].model_fields
    for name, side in (fields or {}).items():
        if name not in known or name in ("id",):
            raise ReviewError(f"没有字段 {name}", f"no field {name} in {kind}")
        if side not in sides:
            raise ReviewError(f"字段 {name} 须取 a 或 b", f"field {name}: take 'a' or 'b'")
        if side != choose and (sides["a"]["deleted"] or sides["b"]["deleted"]):
            raise ReviewError(
                "已删除的版本不能与另一方混合字段", "a deleted side cannot be mixed field by field"
            )
        other: dict[str, Any] = json.loads(sides[side]["payload"])
        if name in other:
            payload[name] = other[name]
        else:
            payload.pop(name, None)
    return payload


def decide_conflict(
    conn: sqlite3.Connection,
    conflict_id: int,
    *,
    choose: str,
    fields: dict[str, str] | None = None,
    by: str,
    comment: str | None = None,
) -> str:
    """A resolution: parent = the chosen head, also_parents = the other one, payload = the chosen
    side (or a field-by-field mix the record model accepts). Returns the new version's id."""
    name = _need_name(by)
    row = conn.execute("SELECT * FROM conflicts WHERE id = ?", (conflict_id,)).fetchone()
    if row is None:
        raise ReviewError("找不到该冲突", f"no conflict {conflict_id}")
    if row["status"] != "open":
        raise ReviewError("该冲突已处理", f"conflict {conflict_id} is already {row['status']}")
    if choose not in ("a", "b"):
        raise ReviewError("须选择 a 或 b", "choose 'a' or 'b'")
    sides = {"a": stored(conn, row["version_a"]), "b": stored(conn, row["version_b"])}
    other = "b" if choose == "a" else "a"
    kind, rid = row["kind"], row["record_id"]
    payload = as_schema2(
        conn, kind, rid, _field_mix(kind, sides, choose, fields), sides[choose]["payload_schema"]
    )
    with transaction(conn):
        vid = write(
            conn,
            kind,
            rid,
            payload,
            parent=sides[choose]["version_id"],
            also_parents=(sides[other]["version_id"],),
            deleted=bool(sides[choose]["deleted"]),
        )
        conn.execute(
            "UPDATE conflicts SET status = 'resolved', decision = ?, decided_by = ?, decided_at = ?,"
            " decision_version_id = ?, comment = ? WHERE id = ?",
            (sides[choose]["version_id"], name, now_iso(), vid, comment, conflict_id),
        )
        resettle(conn, {rid: kind})
    return vid


def _resolve_items(
    conn: sqlite3.Connection,
    item_versions: Mapping[int, str | None],
    decision: str,
    by: str,
    comment: str | None,
) -> None:
    now = now_iso()
    conn.executemany(
        "UPDATE review_items SET status = 'resolved', decision = ?, decided_by = ?, decided_at = ?,"
        " decision_version_id = ?, comment = ? WHERE id = ?",
        [(decision, by, now, vid, comment, item) for item, vid in item_versions.items()],
    )


def decide_person(
    conn: sqlite3.Connection,
    group_id: int,
    keep: str | None,
    *,
    by: str,
    comment: str | None = None,
) -> list[str]:
    """Same person (`keep` = the record that stays): every other record of the group gets a
    district version with status cancelled, merged_into = keep and today's status_date. Different
    persons (`keep` None): recorded, no version. Returns the versions written."""
    name = _need_name(by)
    group = person_group(conn, group_id)
    if (
        not group.items
        or conn.execute(
            "SELECT status FROM review_items WHERE id = ?", (group.items[0],)
        ).fetchone()[0]
        != "open"
    ):
        raise ReviewError("该重复人员组已处理", f"group {group_id} is already decided")
    ids = [r["id"] for r in group.records]
    if keep is None:
        with transaction(conn):
            _resolve_items(conn, dict.fromkeys(group.items), "different", name, comment)
        return []
    if keep not in ids:
        raise ReviewError("保留的记录不在该组中", f"record {keep} is not in group {group_id}")
    written: dict[str, str] = {}
    with transaction(conn):
        for r in group.records:
            if r["id"] == keep or (r["status"] == "cancelled" and r["merged_into"] == keep):
                continue
            row = stored(conn, r["version_id"])
            payload = as_schema2(
                conn, "elder", r["id"], json.loads(row["payload"]), row["payload_schema"]
            ) | {
                "status": "cancelled",
                "merged_into": keep,
                "status_date": kinds.today().isoformat(),
                "moved_to": None,
            }
            written[r["id"]] = write(conn, "elder", r["id"], payload, parent=r["version_id"])
        items = conn.execute(
            f"SELECT id, record_a, record_b FROM review_items WHERE id IN ({', '.join('?' * len(group.items))})",
            group.items,
        ).fetchall()
        _resolve_items(
            conn,
            {i[0]: written.get(i[1], written.get(i[2])) for i in items},
            f"same:{keep}",
            name,
            comment,
        )
        resettle(conn, dict.fromkeys(written, "elder"))
    return list(written.values())


def decide_meal_slot(
    conn: sqlite3.Connection,
    item_id: int,
    keep: str,
    *,
    by: str,
    comment: str | None = None,
) -> str:
    """The count that is right stays; the wrong one gets a district tombstone."""
    name = _need_name(by)
    item = conn.execute(
        "SELECT * FROM review_items WHERE id = ? AND queue = 'meal_slot'", (item_id,)
    ).fetchone()
    if item is None:
        raise ReviewError("找不到该审核项", f"no meal-slot item {item_id}")
    if item["status"] != "open":
        raise ReviewError("该审核项已处理", f"item {item_id} is already {item['status']}")
    if keep not in (item["record_a"], item["record_b"]):
        raise ReviewError("保留的记录不属于该审核项", f"{keep} is not one of item {item_id}")
    wrong = item["record_b"] if keep == item["record_a"] else item["record_a"]
    parent = current_version(conn, "meal_count", wrong)
    row = stored(conn, parent)
    payload = as_schema2(
        conn, "meal_count", wrong, json.loads(row["payload"]), row["payload_schema"]
    )
    with transaction(conn):
        vid = write(conn, "meal_count", wrong, payload, parent=parent, deleted=True)
        _resolve_items(conn, {item_id: vid}, keep, name, comment)
        resettle(conn, {wrong: "meal_count"})
    return vid


def decide_review(
    conn: sqlite3.Connection, item_id: int, decision: str, decided_by: str | None = None
) -> None:
    """Release-1 entry point (the TUI's dialog): 'same' keeps the older record of the pair,
    'different' records it, a meal count's id keeps that count."""
    from fieldapp.review.queues import who

    item = conn.execute(
        "SELECT queue, record_a FROM review_items WHERE id = ?", (item_id,)
    ).fetchone()
    if item is None:
        raise ReviewError("找不到该审核项", f"no review item {item_id}")
    by = decided_by or who(conn)
    if item["queue"] == "duplicate_person":
        if decision not in ("same", "different"):
            raise ReviewError("决定须为 same 或 different", "decision must be same or different")
        keep = item["record_a"] if decision == "same" else None
        decide_person(conn, item_id, keep, by=by)
    elif item["queue"] == "meal_slot":
        decide_meal_slot(conn, item_id, decision, by=by)
    else:
        raise ReviewError(
            "该审核项须用专门的操作处理", f"a {item['queue']} item has its own action"
        )
