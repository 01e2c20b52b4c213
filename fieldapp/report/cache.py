"""The district report kept in report_cache until the data it was built from changes, so the
supervisor's screen opens at once on a large district."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict
from datetime import date
from typing import Any

from fieldapp.indicators import Period
from fieldapp.report.figures import Figure, Report, build, trend
from fieldapp.report.shape import fits
from fieldapp.sqlite import sqlite3

# Everything the figures read besides the record tables (those change only with versions, which
# the first two numbers follow): bundles received, decisions, rejections, the laptops and when
# they were enrolled or revoked, and the reference data (targets set by the supervisor included).
# The small tables are read whole; each part's text is hashed into the state.
_STATE_PARTS = (
    "SELECT count(*), max(seq) FROM versions",
    "SELECT count(*), max(rowid) FROM bundles",
    "SELECT status, count(*), max(decided_at) FROM conflicts GROUP BY status",
    "SELECT status, count(*), max(decided_at) FROM review_items GROUP BY status",
    "SELECT count(*), max(rowid) FROM rejected_versions",
    "SELECT device_id, enrolled_at, revoked_at, communities, community_confirmed"
    " FROM enrolled_devices ORDER BY device_id",
    "SELECT * FROM ref_target ORDER BY indicator, year",
    "SELECT * FROM ref_rule ORDER BY key",
    "SELECT * FROM ref_community ORDER BY code",
    "SELECT * FROM ref_street ORDER BY code",
)


def data_state(conn: sqlite3.Connection) -> str:
    """What the figures depend on besides the day, as one digest: a merge, a decision, an
    enrolment or revocation, new reference data or targets each change it."""
    h = hashlib.sha256()
    for sql in _STATE_PARTS:
        try:
            rows = conn.execute(sql).fetchall()
        except sqlite3.OperationalError:  # an older schema without the table
            rows = []
        h.update(repr([tuple(r) for r in rows]).encode())
        h.update(b"\0")
    return h.hexdigest()


def _payload(r: Report) -> dict[str, Any]:
    p = r.period
    return {
        "period": {
            "year": p.year,
            "month": p.month,
            "start": p.start.isoformat(),
            "end": p.end.isoformat(),
            "months": p.months,
        },
        "figures": [asdict(f) for f in r.figures],
        "operational": r.operational,
        "trend": r.trend,
        "as_of": None if r.as_of is None else r.as_of.isoformat(),
        "meal_start": r.meal_start,
        "notes": r.notes,
    }


def _from_payload(text: str) -> Report:
    data = json.loads(text)
    p = data["period"]
    op = data["operational"]
    op["by_worker"] = [(w, n) for w, n in op["by_worker"]]  # JSON keeps no tuples
    op["bundles"]["rows"] = [(c, cells) for c, cells in op["bundles"]["rows"]]
    return Report(
        Period(
            p["year"],
            p["month"],
            date.fromisoformat(p["start"]),
            date.fromisoformat(p["end"]),
            p["months"],
        ),
        [Figure(**f) for f in data["figures"]],
        op,
        data.get("trend"),
        date.fromisoformat(data["as_of"]) if data.get("as_of") else None,
        data.get("meal_start"),
        data.get("notes", []),
    )


def _kept(text: str) -> Report | None:
    """The kept report, or None when its row cannot be read back (a file from elsewhere, a
    damaged row): then it is computed again, never a traceback."""
    try:
        r = _from_payload(text)
    except (ValueError, KeyError, TypeError, AttributeError):  # JSONDecodeError is a ValueError
        return None
    return r if fits(r, Report) else None


def build_cached(
    conn: sqlite3.Connection,
    year: int,
    month: int | None = None,
    *,
    lang: str = "zh",
    with_trend: bool = False,
    as_of: date | None = None,
) -> Report:
    """build() (and, with_trend, the monthly trend), kept in report_cache until the data changes: a
    merge, a decision, an enrolment, new reference data or targets, or a new day (the current
    year's as-of date and "this month" move with it). A cached report equals a fresh one: the
    same build(), only not run again; `fieldapp report --fresh` recomputes."""
    state = f"v3|{data_state(conn)}|{date.today().isoformat()}|{as_of}"
    row = conn.execute(
        "SELECT data_state, report FROM report_cache WHERE year = ? AND month = ? AND lang = ?",
        (year, month or 0, lang),
    ).fetchone()
    kept = _kept(row[1]) if row is not None and row[0] == state else None
    if kept is not None and (kept.trend is not None or not with_trend):
        return kept
    r = kept or build(conn, year, month, as_of=as_of, lang=lang)
    if with_trend:
        r.trend = trend(conn, year, as_of=r.as_of)
    # a read-only database: right, just not kept
    with contextlib.suppress(sqlite3.OperationalError):
        conn.execute(
            "INSERT OR REPLACE INTO report_cache (year, month, lang, data_state, built_at, report)"
            " VALUES (?, ?, ?, ?, datetime('now'), ?)",
            (year, month or 0, lang, state, json.dumps(_payload(r), ensure_ascii=False)),
        )
    return r


def warm(conn: sqlite3.Connection, statuses: Iterable[str]) -> None:
    """After a merge at the district (`statuses`: its bundles'): when a bundle was merged, the
    current year's report as of today, with its trend, computed now, so the supervisor's next
    `fieldapp report` and dashboard read it at once. A run that brought nothing leaves it."""
    if "merged" in statuses:
        build_cached(conn, date.today().year, with_trend=True)
