"""The district report kept in report_cache until the data it was built from changes, so the
supervisor's screen opens at once on a large district."""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict
from datetime import date
from typing import Any

from fieldapp.indicators import Period
from fieldapp.report.figures import Figure, Report, build, trend
from fieldapp.sqlite import sqlite3


def data_state(conn: sqlite3.Connection) -> str:
    """What the figures depend on at the district: the versions merged and the review decisions."""
    row = conn.execute(
        "SELECT (SELECT count(*) FROM versions), (SELECT max(seq) FROM versions),"
        " (SELECT coalesce(max(decided_at), '') FROM conflicts), (SELECT coalesce(max(decided_at), '') FROM review_items),"
        " (SELECT count(*) FROM review_items WHERE status = 'resolved'), (SELECT count(*) FROM ref_community),"
        " (SELECT coalesce(sum(pop_60), 0) FROM ref_community)"
    ).fetchone()
    return "|".join(str(x) for x in row)


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


def build_cached(
    conn: sqlite3.Connection,
    year: int,
    month: int | None = None,
    *,
    lang: str = "zh",
    with_trend: bool = False,
) -> Report:
    """build() (and, with_trend, the monthly trend), kept in report_cache until the data changes: a
    merge, a decision, new reference data, or a new day ("this month" moves with the date)."""
    state = f"v2|{data_state(conn)}|{date.today().isoformat()}|{int(with_trend)}"
    row = conn.execute(
        "SELECT data_state, report FROM report_cache WHERE year = ? AND month = ? AND lang = ?",
        (year, month or 0, lang),
    ).fetchone()
    if row is not None and row[0] == state:
        return _from_payload(row[1])
    r = build(conn, year, month, lang=lang)
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
