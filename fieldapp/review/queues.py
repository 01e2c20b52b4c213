"""What the district's review queues hold: conflicts, possible duplicate persons (grouped per ID
number), meal-slot collisions, transfer requests and rejected versions, as a reviewer may see them
(ID numbers masked). Deciding lives in `decide.py`."""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import dataclass
from typing import Any

from fieldapp import kinds
from fieldapp.kinds import mask_id_number
from fieldapp.sqlite import sqlite3


class ReviewError(ValueError):
    def __init__(self, zh: str, en: str) -> None:
        self.zh, self.en = zh, en
        super().__init__(f"{zh}（{en}）")


def supervisor(conn: sqlite3.Connection) -> str | None:
    """The supervisor's name given at `fieldapp district init --supervisor` (the district's worker)."""
    row = conn.execute("SELECT worker FROM device WHERE role = 'district'").fetchone()
    return str(row[0]) if row is not None and row[0] else None


def who(conn: sqlite3.Connection | None = None) -> str:
    """Who decides: FIELDAPP_USER (scripts), else the district's supervisor. Without a database
    (enrol, revoke) the login name is the last resort; a decision never takes it."""
    env = os.environ.get("FIELDAPP_USER")
    if env:
        return env
    if conn is None:
        return getpass.getuser()
    name = supervisor(conn)
    if name is None:
        raise ReviewError(
            "尚未设置审核人姓名：请运行 fieldapp district init --supervisor 姓名",
            "no supervisor's name yet: run fieldapp district init --supervisor NAME",
        )
    return name


@dataclass(frozen=True)
class Side:
    version_id: str
    hlc: str
    device_id: str
    deleted: bool
    payload: dict[str, Any]


def _shown(payload: dict[str, Any]) -> dict[str, Any]:
    """What a reviewer sees: the ID number masked and the birth date as an age, `age` in its
    place (SPEC §9 v2: a birth date beside the masked number would rebuild it)."""
    out: dict[str, Any] = {}
    for k, v in payload.items():
        if k == "id_number":
            out[k] = mask_id_number(v)
        elif k == "birth_date":
            out["age"] = kinds.age_on(v, kinds.today())
        else:
            out[k] = v
    return out


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
        "transfer": q(
            "SELECT count(*) FROM review_items WHERE queue = 'transfer' AND status = 'open'"
        ).fetchone()[0],
        "person_groups": len(person_groups(conn)),
        "rejected": q("SELECT count(*) FROM rejected_versions").fetchone()[0],
    }


@dataclass(frozen=True)
class PersonGroup:
    """Every elder record sharing one ID number (one HMAC key), decided once. `group_id` is the
    smallest open item id of the key; `items` are the pair rows the merge opened."""

    group_id: int
    natural_key: str
    shown_key: str
    items: tuple[int, ...]
    records: tuple[dict[str, Any], ...]


_PERSON_COLUMNS = (
    "id, version_id, name, gender, birth_date, id_number, phone, address, community_code,"
    " status, status_date, merged_into, device_id, hlc"
)


def person_groups(conn: sqlite3.Connection, status: str = "open") -> list[PersonGroup]:
    """Duplicate-person items grouped per ID number: three records sharing a number are one group."""
    by_key: dict[str, list[sqlite3.Row]] = {}
    for r in conn.execute(
        "SELECT id, record_a, record_b, natural_key FROM review_items"
        " WHERE queue = 'duplicate_person' AND status = ? ORDER BY id",
        (status,),
    ):
        by_key.setdefault(r["natural_key"], []).append(r)
    return [_group(conn, key, rows) for key, rows in by_key.items()]


def _group(conn: sqlite3.Connection, key: str, rows: list[sqlite3.Row]) -> PersonGroup:
    ids = sorted({r["record_a"] for r in rows} | {r["record_b"] for r in rows})
    number = conn.execute(
        f"SELECT id_number FROM elder WHERE id IN ({', '.join('?' * len(ids))}) AND id_number IS NOT NULL",
        ids,
    ).fetchone()
    if number is not None:  # every record with that number, also ones decided earlier
        found = conn.execute(
            f"SELECT {_PERSON_COLUMNS} FROM elder WHERE id_number = ? OR id IN ({', '.join('?' * len(ids))})"
            " ORDER BY id",
            (number[0], *ids),
        ).fetchall()
    else:
        found = []
    records = tuple(_shown(dict(r)) for r in found)
    return PersonGroup(
        group_id=min(r["id"] for r in rows),
        natural_key=key,
        shown_key=mask_id_number(number[0] if number else None),
        items=tuple(r["id"] for r in rows),
        records=records,
    )


def person_group(conn: sqlite3.Connection, group_id: int) -> PersonGroup:
    """The group an item belongs to (any of its item ids names it), open or decided."""
    row = conn.execute(
        "SELECT natural_key, status FROM review_items WHERE id = ? AND queue = 'duplicate_person'",
        (group_id,),
    ).fetchone()
    if row is None:
        raise ReviewError("找不到该重复人员组", f"no duplicate-person group {group_id}")
    rows = conn.execute(
        "SELECT id, record_a, record_b, natural_key FROM review_items"
        " WHERE queue = 'duplicate_person' AND natural_key = ? AND status = ? ORDER BY id",
        (row["natural_key"], row["status"]),
    ).fetchall()
    return _group(conn, row["natural_key"], rows)


def group_records(conn: sqlite3.Connection, group: PersonGroup) -> list[dict[str, Any]]:
    """A group's records as a reviewer reads them: `community` is the community's name, `worker`
    who last sent the record's laptop's bundle (the TUI's dialog and `review list|show`)."""
    out = []
    for r in group.records:
        row = dict(r)
        name = conn.execute(
            "SELECT name_zh FROM ref_community WHERE code = ?", (r.get("community_code"),)
        ).fetchone()
        row["community"] = name[0] if name is not None else (r.get("community_code") or "")
        who = conn.execute(
            "SELECT coalesce(worker, device_label) FROM bundles WHERE device_id = ?"
            " ORDER BY seq DESC LIMIT 1",
            (r.get("device_id"),),
        ).fetchone()
        row["worker"] = who[0] if who and who[0] else "—"
        out.append(row)
    return out
