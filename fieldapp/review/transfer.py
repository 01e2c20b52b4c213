"""Moving an elder to another community is a district action (SPEC §4a): a worker asks for it by
marking the elder moved_out with moved_to; the request waits in the `transfer` queue; the transfer
itself is a district version with the new community_code."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from fieldapp import kinds
from fieldapp.kinds import now_iso
from fieldapp.review.decide import (
    as_schema2,
    current_version,
    resettle,
    stored,
    transaction,
    write,
)
from fieldapp.review.queues import ReviewError
from fieldapp.sqlite import sqlite3

_CODE = re.compile(r"\d{12}")


def offer_transfer(conn: sqlite3.Connection, record_id: str, now: str) -> None:
    """Open (or reopen) the transfer request of an elder marked moved_out with moved_to; close it
    when the elder no longer asks for one. Settling calls it for every elder it touches."""
    Transfers.read(conn, [record_id]).offer(conn, record_id, now)


@dataclass
class Transfers:
    """What `offer_transfer` reads, for many elders at once (the merge settles thousands): their
    current rows and which of them have an open request. `offer` then writes what
    `offer_transfer` writes, one elder at a time, so the review items get the same ids."""

    rows: dict[str, sqlite3.Row]
    open: set[str]

    @classmethod
    def read(cls, conn: sqlite3.Connection, record_ids: list[str]) -> Transfers:
        from fieldapp.sync.settle import in_slices

        rows = in_slices(
            conn,
            "SELECT id, status, moved_to, version_id, deleted FROM elder WHERE id IN ({})",
            record_ids,
        )
        asked = in_slices(
            conn,
            "SELECT record_a FROM review_items WHERE queue = 'transfer' AND status = 'open'"
            " AND record_a IN ({})",
            record_ids,
        )
        return cls({r["id"]: r for r in rows}, {r[0] for r in asked})

    def offer(self, conn: sqlite3.Connection, record_id: str, now: str) -> None:
        row = self.rows.get(record_id)
        asks = row is not None and not row["deleted"] and row["status"] == "moved_out"
        if row is not None and asks and row["moved_to"]:
            conn.execute(
                "INSERT INTO review_items (queue, kind, record_a, record_b, natural_key, status, created_at)"
                " VALUES ('transfer', 'elder', ?, ?, ?, 'open', ?)"
                " ON CONFLICT (queue, record_a, record_b) DO UPDATE SET status = 'open',"
                " natural_key = excluded.natural_key, decision = NULL, decided_by = NULL,"
                " decided_at = NULL, decision_version_id = NULL, comment = NULL"
                " WHERE status = 'auto_resolved' OR (status = 'resolved' AND natural_key != excluded.natural_key)",
                (record_id, record_id, f"{row['moved_to']}|{row['version_id']}", now),
            )
            return
        if record_id in self.open:  # nothing to close otherwise (the UPDATE would match no row)
            conn.execute(
                "UPDATE review_items SET status = 'auto_resolved'"
                " WHERE queue = 'transfer' AND record_a = ? AND status = 'open'",
                (record_id,),
            )


def rescan(conn: sqlite3.Connection) -> None:
    """Offer a transfer for every elder asking for one (and close requests no longer asked)."""
    now = now_iso()
    asking = conn.execute(
        "SELECT id FROM elder WHERE status = 'moved_out' AND moved_to IS NOT NULL AND deleted = 0"
        " UNION SELECT record_a FROM review_items WHERE queue = 'transfer' AND status = 'open'"
    ).fetchall()
    for (rid,) in asking:
        offer_transfer(conn, rid, now)


def transfer_elder(
    conn: sqlite3.Connection,
    record_id: str,
    to_community: str,
    *,
    by: str,
    comment: str | None = None,
) -> str:
    """The elder with the new community_code, status active (status_date = today), moved_to
    cleared; the request (if any) is resolved. Returns the district version's id."""
    name = by.strip()
    if not name:
        raise ReviewError("须填写审核人姓名", "the reviewer's name is required")
    if not _CODE.fullmatch(to_community):
        raise ReviewError("社区代码须为12位数字", "community_code must be 12 digits")
    if (
        conn.execute("SELECT 1 FROM ref_community WHERE code = ?", (to_community,)).fetchone()
        is None
    ):
        raise ReviewError(f"没有社区 {to_community}", f"no community {to_community}")
    parent = current_version(conn, "elder", record_id)
    row = stored(conn, parent)
    if row["deleted"]:
        raise ReviewError("该老人记录已删除", f"elder {record_id} is deleted")
    payload = as_schema2(
        conn, "elder", record_id, json.loads(row["payload"]), row["payload_schema"]
    )
    if payload.get("community_code") == to_community and payload.get("status") == "active":
        raise ReviewError("该老人已在此社区", f"elder {record_id} is already in {to_community}")
    payload |= {
        "community_code": to_community,
        "status": "active",
        "status_date": kinds.today().isoformat(),
        "moved_to": None,
        "merged_into": None,
    }
    now = now_iso()
    with transaction(conn):
        vid = write(conn, "elder", record_id, payload, parent=parent)
        conn.execute(
            "INSERT INTO review_items (queue, kind, record_a, record_b, natural_key, status, created_at,"
            " decided_by, decided_at, decision, decision_version_id, comment)"
            " VALUES ('transfer', 'elder', ?, ?, ?, 'resolved', ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (queue, record_a, record_b) DO UPDATE SET status = 'resolved',"
            " decided_by = excluded.decided_by, decided_at = excluded.decided_at,"
            " decision = excluded.decision, decision_version_id = excluded.decision_version_id,"
            " comment = excluded.comment",
            (
                record_id,
                record_id,
                f"{to_community}|{parent}",
                now,
                name,
                now,
                to_community,
                vid,
                comment,
            ),
        )
        resettle(conn, {record_id: "elder"})
    return vid
