"""The district's review queues: conflicts (choose a version), possible duplicate persons (same or not),
meal-count collisions (which count is right), and rejected versions. Every decision records who and
when, and stays in force when the same bundles are merged again."""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import dataclass
from typing import Any

from fieldapp.kinds import now_iso
from fieldapp.models import mask_id_number
from fieldapp.sqlite import sqlite3


class ReviewError(ValueError):
    def __init__(self, zh: str, en: str) -> None:
        self.zh, self.en = zh, en
        super().__init__(f"{zh}（{en}）")


def who() -> str:
    return os.environ.get("FIELDAPP_USER") or getpass.getuser()


@dataclass(frozen=True)
class Side:
    version_id: str
    hlc: str
    device_id: str
    deleted: bool
    payload: dict[str, Any]


def _shown(payload: dict[str, Any]) -> dict[str, Any]:
    """What a reviewer sees: the ID number masked (SPEC §9)."""
    if "id_number" in payload:
        return payload | {"id_number": mask_id_number(payload["id_number"])}
    return payload


def conflicts(
    conn: sqlite3.Connection, status: str = "open", limit: int = 500
) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT id, kind, record_id, version_a, version_b, reason, status, created_at, decided_by, decided_at, decision"
        " FROM conflicts WHERE status = ? ORDER BY id LIMIT ?",
        (status, limit),
    )
    return [dict(r) for r in rows]


def conflict_sides(conn: sqlite3.Connection, conflict_id: int) -> tuple[dict[str, Any], Side, Side]:
    row = conn.execute("SELECT * FROM conflicts WHERE id = ?", (conflict_id,)).fetchone()
    if row is None:
        raise ReviewError("找不到该冲突", f"no conflict {conflict_id}")
    sides = []
    for vid in (row["version_a"], row["version_b"]):
        v = conn.execute(
            "SELECT version_id, hlc, device_id, deleted, payload FROM versions WHERE version_id = ?",
            (vid,),
        ).fetchone()
        sides.append(
            Side(
                v["version_id"],
                v["hlc"],
                v["device_id"],
                bool(v["deleted"]),
                _shown(json.loads(v["payload"])),
            )
        )
    return dict(row), sides[0], sides[1]


def decide_conflict(
    conn: sqlite3.Connection,
    conflict_id: int,
    chosen_version_id: str,
    decided_by: str | None = None,
) -> None:
    """The chosen version becomes the record's current state and stays so across re-merges."""
    from fieldapp.sync.settle import KindSummary
    from fieldapp.sync.settle import settle as _settle

    row = conn.execute(
        "SELECT kind, record_id, version_a, version_b FROM conflicts WHERE id = ?", (conflict_id,)
    ).fetchone()
    if row is None:
        raise ReviewError("找不到该冲突", f"no conflict {conflict_id}")
    if chosen_version_id not in (row["version_a"], row["version_b"]):
        raise ReviewError(
            "所选版本不属于该冲突", "the chosen version is not one of the conflict's two versions"
        )
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "UPDATE conflicts SET status = 'resolved', decision = ?, decided_by = ?, decided_at = ? WHERE id = ?",
            (chosen_version_id, decided_by or who(), now_iso(), conflict_id),
        )
        _settle(conn, row["kind"], row["record_id"], KindSummary(), now_iso())
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def reviews(
    conn: sqlite3.Connection, queue: str, status: str = "open", limit: int = 500
) -> list[dict[str, Any]]:
    """Open items of a queue; `shown_key` is what a reviewer may see (a masked ID number, not the HMAC key)."""
    rows = [
        dict(r)
        for r in conn.execute(
            "SELECT * FROM review_items WHERE queue = ? AND status = ? ORDER BY id LIMIT ?",
            (queue, status, limit),
        )
    ]
    for r in rows:
        if queue == "duplicate_person":
            e = conn.execute(
                "SELECT id_number FROM elder WHERE id = ?", (r["record_a"],)
            ).fetchone()
            r["shown_key"] = mask_id_number(e[0] if e else None)
        else:
            r["shown_key"] = r["natural_key"]
    return rows


def review_sides(
    conn: sqlite3.Connection, item_id: int
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    item = conn.execute("SELECT * FROM review_items WHERE id = ?", (item_id,)).fetchone()
    if item is None:
        raise ReviewError("找不到该审核项", f"no review item {item_id}")
    out = []
    for rid in (item["record_a"], item["record_b"]):
        r = conn.execute(f"SELECT * FROM {item['kind']} WHERE id = ?", (rid,)).fetchone()
        d = dict(r) if r else {"id": rid}
        out.append(_shown(d))
    shown = dict(item)
    shown["shown_key"] = (
        out[0].get("id_number", "") if item["queue"] == "duplicate_person" else item["natural_key"]
    )
    return shown, out[0], out[1]


DECISIONS = {"duplicate_person": ("same", "different")}


def decide_review(
    conn: sqlite3.Connection, item_id: int, decision: str, decided_by: str | None = None
) -> None:
    """duplicate_person: 'same' or 'different' (records are never merged automatically);
    meal_slot: the id of the count that is right (the other stops counting)."""
    item = conn.execute(
        "SELECT queue, record_a, record_b FROM review_items WHERE id = ?", (item_id,)
    ).fetchone()
    if item is None:
        raise ReviewError("找不到该审核项", f"no review item {item_id}")
    allowed = DECISIONS.get(item["queue"], (item["record_a"], item["record_b"]))
    if decision not in allowed:
        raise ReviewError(f"决定须为 {allowed} 之一", f"decision must be one of {allowed}")
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "UPDATE review_items SET status = 'resolved', decision = ?, decided_by = ?, decided_at = ? WHERE id = ?",
            (decision, decided_by or who(), now_iso(), item_id),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def rejected(conn: sqlite3.Connection, limit: int = 500) -> list[dict[str, Any]]:
    """Rejected versions with their reasons; the raw line stays in the database, not on screen (it may hold an ID number)."""
    rows = conn.execute(
        "SELECT r.id, r.bundle_id, b.file_name, r.line_no, r.kind, r.record_id, r.reason FROM rejected_versions r"
        " LEFT JOIN bundles b ON b.bundle_id = r.bundle_id ORDER BY r.id LIMIT ?",
        (limit,),
    )
    return [dict(r) for r in rows]


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    q = conn.execute
    return {
        "conflicts": q("SELECT count(*) FROM conflicts WHERE status = 'open'").fetchone()[0],
        "duplicate_person": q(
            "SELECT count(*) FROM review_items WHERE queue = 'duplicate_person' AND status = 'open'"
        ).fetchone()[0],
        "meal_slot": q(
            "SELECT count(*) FROM review_items WHERE queue = 'meal_slot' AND status = 'open'"
        ).fetchone()[0],
        "rejected": q("SELECT count(*) FROM rejected_versions").fetchone()[0],
    }
