"""A hand-made district database for the report's tests: the real schema, rows written directly
(each edge of SPEC §7 v2 placed by hand), and the one place that adds the payload-schema-2 columns
a database may still lack (ensure_v2_columns)."""

from __future__ import annotations

import itertools
from pathlib import Path

from fieldapp import db
from fieldapp.sqlite import sqlite3

A, B, C = "321202001901", "321202001902", "321202002901"  # A, B in street …001; C in …002
COMMUNITIES = [(A, "321202001", "东一社区", 1000, 150), (B, "321202001", "东二社区", 500, 80)]
COMMUNITIES += [(C, "321202002", "西一社区", 2000, 300)]
V2_COLUMNS = {
    "elder": [
        ("status_date", "TEXT"),
        ("moved_to", "TEXT"),
        ("merged_into", "TEXT"),
        ("under_60_confirmed", "INTEGER NOT NULL DEFAULT 0"),
    ],
    "home_visit": [("community_code", "TEXT")],
    "assessment": [("community_code", "TEXT")],
    "retrofit": [("community_code", "TEXT")],
    "meal_count": [("community_code", "TEXT")],
    "bundles": [("app_version", "TEXT")],
}
_ids = itertools.count(1)


def ensure_v2_columns(conn: sqlite3.Connection) -> None:
    """Add the columns of CONTRACT_V2 §4 that the database lacks (none once the v4 migration is
    on main), so these tests run before and after it."""
    for table, cols in V2_COLUMNS.items():
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        for name, decl in cols:
            if name not in have:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")
    conn.execute(
        "CREATE INDEX IF NOT EXISTS home_visit_coverage"
        " ON home_visit (contact_mode, deleted, community_code, elder_id, visit_date)"
    )


def district_db(path: Path) -> sqlite3.Connection:
    conn = db.connect(path)
    ensure_v2_columns(conn)
    conn.execute("DELETE FROM ref_community")
    conn.executemany(
        "INSERT INTO ref_community (code, street_code, name_zh, name_en, kind, sample,"
        " code_confirmed, pop_60, pop_80, note) VALUES (?, ?, ?, '', 'community', 0, 0, ?, ?, '')",
        COMMUNITIES,
    )
    conn.execute("UPDATE device SET role = 'district'")
    return conn


def _new_id(prefix: str) -> str:
    return f"{prefix}-{next(_ids):06d}"


def _insert(conn: sqlite3.Connection, table: str, row: dict[str, object]) -> str:
    rid = str(row.get("id") or _new_id(table))
    row = {"id": rid, "version_id": _new_id("v"), "hlc": "1", "device_id": "dev"} | row
    cols = ", ".join(row)
    conn.execute(
        f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' * len(row))})", list(row.values())
    )
    return rid


def elder(conn: sqlite3.Connection, community: str, born: str, **kw: object) -> str:
    row: dict[str, object] = {
        "name": "某某",
        "gender": "male",
        "birth_date": born,
        "address": "海陵区",
        "community_code": community,
        "living_status": "with_children",
        "hardship_tags": "[]",
        "visit_risk": "general",
        "status": "active",
        "consent": "statutory_duty",
    }
    return _insert(conn, "elder", row | kw)


def visit(
    conn: sqlite3.Connection, elder_id: str, day: str, community: str, mode: str = "in_person"
) -> str:
    row: dict[str, object] = {
        "elder_id": elder_id,
        "visit_date": day,
        "duration_min": 30,
        "service_type": "daily_visit",
        "contact_mode": mode,
        "funding": "gov_purchase",
        "worker": "周红",
        "elder_condition": "good",
        "community_code": community,
    }
    return _insert(conn, "home_visit", row)


def assessment(
    conn: sqlite3.Connection, elder_id: str, day: str, community: str, level: str
) -> str:
    row: dict[str, object] = {
        "elder_id": elder_id,
        "assess_date": day,
        "reason": "first",
        "assessors": "[]",
        "score_self_care": 0,
        "score_mobility": 0,
        "score_mental": 0,
        "score_perception_social": 0,
        "total": 0,
        "level": level,
        "level_computed": level,
        "next_due": "2099-01-01",
        "community_code": community,
    }
    return _insert(conn, "assessment", row)


def retrofit(
    conn: sqlite3.Connection, elder_id: str, accepted: str, community: str, funding: str
) -> str:
    row: dict[str, object] = {
        "elder_id": elder_id,
        "project_year": int(accepted[:4]),
        "funding_type": funding,
        "status": "accepted",
        "accept_date": accepted,
        "community_code": community,
    }
    return _insert(conn, "retrofit", row)


def meal_point(conn: sqlite3.Connection, community: str, capacity: int) -> str:
    row: dict[str, object] = {
        "name": "助餐点",
        "community_code": community,
        "kind": "canteen",
        "modes": "[]",
        "capacity_daily": capacity,
        "status": "open",
    }
    return _insert(conn, "meal_point", row)


def meal(conn: sqlite3.Connection, point: str, day: str, n: int, which: str = "lunch") -> str:
    community = conn.execute("SELECT community_code FROM meal_point WHERE id = ?", (point,))
    row: dict[str, object] = {
        "point_id": point,
        "service_date": day,
        "meal": which,
        "dine_in": n,
        "total": n,
        "community_code": community.fetchone()[0],
    }
    return _insert(conn, "meal_count", row)


def bundle(conn: sqlite3.Connection, device: str, community: str, period: str, seq: int) -> None:
    conn.execute(
        "INSERT INTO bundles (bundle_id, device_id, community_code, period, seq, file_name,"
        " file_sha256, counts, versions_new, versions_dup, rejected, merged_at, app_version)"
        " VALUES (?, ?, ?, ?, ?, 'f', 'h', '{}', 0, 0, 0, ?, ?)",
        (_new_id("b"), device, community, period, seq, f"{period}-28", f"1.{seq}"),
    )


def enrol(conn: sqlite3.Connection, device: str, at: str, revoked: str | None = None) -> None:
    conn.execute(
        "INSERT INTO enrolled_devices (device_id, public_key, fingerprint, label, enrolled_at,"
        " enrolled_by, revoked_at) VALUES (?, 'k', 'f', ?, ?, 'sup', ?)",
        (device, f"{device}-笔记本", at, revoked),
    )
