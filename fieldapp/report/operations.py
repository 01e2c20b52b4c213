"""The operational figures about the sending itself (SPEC §7): which community's bundle of which
month arrived, which is missing and which was not expected (before a device's enrolment or after its
revocation), the app version each laptop last sent, and the street ranking."""

from __future__ import annotations

import json
from datetime import date
from typing import TypedDict

from fieldapp.sqlite import sqlite3

CELL_WORDS = {
    "received": ("已收到", "received"),
    "missing": ("未收到", "missing"),
    "not_expected": ("不适用", "not expected"),
}


class BundleGrid(TypedDict):
    months: list[str]  # "YYYY-MM" of the year up to the as-of month
    rows: list[tuple[str, list[str]]]  # community code, one CELL_WORDS key per month


class DeviceLine(TypedDict):
    device: str  # the enrolment's label, else the id's first 8 characters
    communities: list[str]
    last_period: str
    last_merged_at: str
    app_version: str  # "" when the bundles carry none


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def device_communities(conn: sqlite3.Connection) -> dict[str, set[str]]:
    """Per enrolled device, the communities it sends for: those of its bundles, and those of its
    enrolment (v4: enrolled_devices.communities)."""
    out: dict[str, set[str]] = {}
    for dev, comm in conn.execute("SELECT DISTINCT device_id, community_code FROM bundles"):
        out.setdefault(dev, set()).add(comm)
    if "communities" in _columns(conn, "enrolled_devices"):
        for dev, text in conn.execute("SELECT device_id, communities FROM enrolled_devices"):
            try:
                codes = json.loads(text or "[]")
            except ValueError:
                codes = []
            out.setdefault(dev, set()).update(str(c) for c in codes if isinstance(c, str))
    return out


def bundle_grid(conn: sqlite3.Connection, year: int, as_of: date) -> BundleGrid:
    """Community × month of the year: received (a bundle of that community and period merged),
    missing (a device of the community was enrolled and not revoked during the month), else not
    expected. Only communities with an enrolled device or a bundle appear."""
    last = as_of.month if as_of.year == year else (12 if as_of.year > year else 0)
    months = [f"{year}-{m:02d}" for m in range(1, last + 1)]
    received = {
        (r[0], r[1])
        for r in conn.execute(
            "SELECT DISTINCT community_code, period FROM bundles WHERE period LIKE ?",
            (f"{year}-%",),
        )
    }
    enrol = {
        r[0]: (r[1][:7], (r[2] or "")[:7])
        for r in conn.execute("SELECT device_id, enrolled_at, revoked_at FROM enrolled_devices")
    }
    expected: dict[str, list[tuple[str, str]]] = {}
    for dev, comms in device_communities(conn).items():
        if dev in enrol:
            for c in comms:
                expected.setdefault(c, []).append(enrol[dev])
    rows: list[tuple[str, list[str]]] = []
    for comm in sorted(set(expected) | {c for c, _ in received}):
        spans = expected.get(comm, [])
        cells = [
            "received"
            if (comm, m) in received
            else (
                "missing"
                if any(start <= m and (not end or m <= end) for start, end in spans)
                else "not_expected"
            )
            for m in months
        ]
        rows.append((comm, cells))
    return {"months": months, "rows": rows}


def devices(conn: sqlite3.Connection) -> list[DeviceLine]:
    """Each laptop's last bundle: its period, when it was merged, and the app version it ran
    (bundles.app_version, filled by the merge from the manifest; "" before that column exists)."""
    version = "b.app_version" if "app_version" in _columns(conn, "bundles") else "''"
    comms = device_communities(conn)
    rows = conn.execute(
        "SELECT b.device_id, coalesce(d.label, substr(b.device_id, 1, 8)), b.period, b.merged_at,"
        f" coalesce({version}, '') FROM bundles b LEFT JOIN enrolled_devices d"
        " ON d.device_id = b.device_id"
        " WHERE b.seq = (SELECT max(seq) FROM bundles c WHERE c.device_id = b.device_id)"
        " ORDER BY 2"
    )
    return [
        {
            "device": r[1],
            "communities": sorted(comms.get(r[0], set())),
            "last_period": r[2],
            "last_merged_at": r[3],
            "app_version": r[4],
        }
        for r in rows
    ]


def ranking(values: dict[str, dict[str, float | None]]) -> dict[str, list[str]]:
    """Per indicator, the area codes ordered best first (no value last, then by code)."""
    return {
        name: sorted(by_area, key=lambda c: (by_area[c] is None, -(by_area[c] or 0.0), c))
        for name, by_area in values.items()
    }
