"""The worker's questions of the database: who is due a visit or an assessment, this month's dashboard, elder search."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from fieldapp import kinds, reference
from fieldapp.kinds import mask_id_number
from fieldapp.store.base import StoreBase
from fieldapp.store.records import masked_row


@dataclass(frozen=True)
class DueItem:
    """One line of the due list: an elder, why they are due (`reason`), since when, how late."""

    elder_id: str
    name: str
    id_masked: str
    visit_risk: str
    reason: str  # 'visit' or 'assessment'
    last_date: str | None
    due_date: str
    days_overdue: int


class QueriesMixin(StoreBase):
    """Read-only queries for the worker's screens, each one SQL statement a page at a time."""

    def search_elders(
        self, query: str, *, limit: int = 50, offset: int = 0, community_code: str | None = None
    ) -> list[dict[str, Any]]:
        """By name substring, pinyin initials (`zsf` → 张三丰) or the last 4 of the ID number."""
        q = query.strip()
        terms: list[str] = []
        params: list[Any] = []
        if q:
            terms.append("instr(name, ?) > 0")
            params.append(q)
            if q.isascii() and q.isalpha():
                terms.append("instr(' ' || name_initials, ' ' || ?) > 0")
                params.append(q.lower())
            if len(q) == 4 and all(c.isdigit() or c in "xX" for c in q):
                terms.append("substr(id_number, -4) = ?")
                params.append(q.upper())
        # find the ids on the narrow elder_search index (every column the match needs is in it),
        # then read the whole rows of that page only: a scan of 40,000 wide rows costs ~50 ms
        sql = "SELECT id FROM elder INDEXED BY elder_search WHERE deleted = 0"
        if terms:
            sql += " AND (" + " OR ".join(terms) + ")"
        if community_code:
            sql += " AND community_code = ?"
            params.append(community_code)
        sql += " ORDER BY status != 'active', instr(name, ?) != 1, name, id LIMIT ? OFFSET ?"
        params += [q or "\x00", max(1, min(limit, 1000)), offset]
        ids = [r[0] for r in self.conn.execute(sql, params)]
        if not ids:
            return []
        rows = {
            r["id"]: r
            for r in self.conn.execute(
                f"SELECT * FROM elder WHERE id IN ({', '.join('?' * len(ids))})", ids
            )
        }
        return [masked_row("elder", dict(rows[i])) for i in ids]

    def elder_names(self, elder_ids: Sequence[str]) -> dict[str, str]:
        """Names for a page of rows that point at elders (one query, not one per row)."""
        ids = list(dict.fromkeys(elder_ids))[:1000]
        if not ids:
            return {}
        marks = ", ".join("?" for _ in ids)
        return {
            r[0]: r[1]
            for r in self.conn.execute(f"SELECT id, name FROM elder WHERE id IN ({marks})", ids)
        }

    def due_list(
        self, today: date | None = None, *, limit: int = 200, community_code: str | None = None
    ) -> list[DueItem]:
        """Elders whose visit or assessment is due or overdue (SPEC §8), by risk, then oldest due first."""
        return self.due_page(today, limit=limit, community_code=community_code)[0]

    def due_page(
        self,
        today: date | None = None,
        *,
        limit: int = 200,
        community_code: str | None = None,
        offset: int = 0,
    ) -> tuple[list[DueItem], int]:
        """`limit` items of the due list from `offset` (a screen's page), and how many are due
        in all (one query)."""
        today = today or kinds.today()
        rules = reference.load().rules
        freq = rules["visit_frequency_days"]
        modes = list(rules["visit_counts_for_due"])
        a = rules["assessment"]
        t = today.isoformat()
        mode_marks = ", ".join(f":m{i}" for i in range(len(modes)))
        comm_sql = " AND e.community_code = :community" if community_code else ""
        sql = f"""
        WITH base AS MATERIALIZED (
            SELECT e.id, e.name, e.id_number, e.visit_risk, e.birth_date,
                   (SELECT max(visit_date) FROM home_visit h
                     WHERE h.elder_id = e.id AND h.deleted = 0 AND h.contact_mode IN ({mode_marks})) AS last_visit,
                   x.assess_date, x.next_due
            FROM elder e LEFT JOIN (
                SELECT elder_id, max(assess_date) AS assess_date, max(next_due) AS next_due
                FROM assessment WHERE deleted = 0 GROUP BY elder_id
            ) x ON x.elder_id = e.id
            WHERE e.deleted = 0 AND e.status = 'active'{comm_sql}
        ),
        due AS (
            SELECT id, 'visit' AS reason, last_visit AS last_date,
                   CASE WHEN last_visit IS NULL THEN :t
                        ELSE date(last_visit, '+' || (CASE visit_risk WHEN 'high' THEN :fh WHEN 'priority' THEN :fp ELSE :fg END) || ' days')
                   END AS due_date
            FROM base
            UNION ALL
            SELECT id, 'assessment', assess_date,
                   CASE WHEN next_due IS NOT NULL AND next_due <= :t THEN next_due ELSE :t END
            FROM base
            WHERE (next_due IS NOT NULL AND next_due <= :t)
               OR (birth_date <= date(:t, '-{int(a["due_age"])} years')
                   AND (assess_date IS NULL OR assess_date <= date(:t, '-{int(a["next_due_months"])} months')))
        )
        SELECT d.id, b.name, b.id_number, b.visit_risk, d.reason, d.last_date, d.due_date,
               CAST(julianday(:t) - julianday(d.due_date) AS INTEGER) AS overdue, count(*) OVER () AS total
        FROM due d JOIN base b ON b.id = d.id
        WHERE d.due_date <= :t
        ORDER BY CASE b.visit_risk WHEN 'high' THEN 0 WHEN 'priority' THEN 1 ELSE 2 END, d.due_date, b.name, d.reason
        LIMIT :limit OFFSET :offset
        """
        named: dict[str, Any] = {
            "t": t,
            "fh": freq["high"],
            "fp": freq["priority"],
            "fg": freq["general"],
            "limit": limit,
            "offset": max(0, int(offset)),
        }
        named |= {f"m{i}": m for i, m in enumerate(modes)}
        if community_code:
            named["community"] = community_code
        rows = self.conn.execute(sql, named).fetchall()
        items = [
            DueItem(
                r["id"],
                r["name"],
                mask_id_number(r["id_number"]),
                r["visit_risk"],
                r["reason"],
                r["last_date"],
                r["due_date"],
                r["overdue"],
            )
            for r in rows
        ]
        return items, (int(rows[0]["total"]) if rows else 0)

    def dashboard(
        self, today: date | None = None, community_code: str | None = None
    ) -> dict[str, Any]:
        """This month's counts and the year's progress beside the community's share of the plan's targets."""
        today = today or kinds.today()
        if community_code is None:
            dev = self.device()
            community_code = dev.community_code if dev else None
        m0 = today.replace(day=1).isoformat()
        m1 = (today.replace(day=28) + timedelta(days=4)).replace(day=1).isoformat()
        y0, y1 = f"{today.year}-01-01", f"{today.year + 1}-01-01"
        q = self.conn.execute
        month = {
            "visits": q(
                "SELECT count(*) FROM home_visit WHERE deleted = 0 AND visit_date >= ? AND visit_date < ?",
                (m0, m1),
            ).fetchone()[0],
            "elders_served": q(
                "SELECT count(DISTINCT elder_id) FROM home_visit WHERE deleted = 0 AND visit_date >= ? AND visit_date < ?",
                (m0, m1),
            ).fetchone()[0],
            "assessments": q(
                "SELECT count(*) FROM assessment WHERE deleted = 0 AND assess_date >= ? AND assess_date < ?",
                (m0, m1),
            ).fetchone()[0],
            "meal_servings": q(
                "SELECT coalesce(sum(total), 0) FROM meal_count WHERE deleted = 0 AND service_date >= ? AND service_date < ?",
                (m0, m1),
            ).fetchone()[0],
            "volunteer_events": q(
                "SELECT count(*) FROM volunteer_event WHERE deleted = 0 AND status = 'done' AND event_date >= ? AND event_date < ?",
                (m0, m1),
            ).fetchone()[0],
        }
        retrofit_status = {
            r[0]: r[1]
            for r in q("SELECT status, count(*) FROM retrofit WHERE deleted = 0 GROUP BY status")
        }
        comm = q(
            "SELECT pop_60, pop_80 FROM ref_community WHERE code = ?", (community_code,)
        ).fetchone()
        district60 = q("SELECT sum(pop_60) FROM ref_community").fetchone()[0] or 1
        share = (comm["pop_60"] / district60) if comm else 0.0
        covered = q(
            "SELECT count(*) FROM elder e WHERE e.deleted = 0 AND e.status = 'active' AND e.id IN ("
            " SELECT elder_id FROM home_visit WHERE visit_date >= ? AND visit_date < ?"
            " AND contact_mode = 'in_person' AND deleted = 0)",
            (y0, y1),
        ).fetchone()[0]
        t = today.isoformat()
        old = q(
            "SELECT count(*), sum(EXISTS (SELECT 1 FROM assessment a WHERE a.elder_id = e.id AND a.deleted = 0"
            " AND a.assess_date > date(?, '-12 months'))) FROM elder e"
            " WHERE e.deleted = 0 AND e.status = 'active' AND e.birth_date <= date(?, '-80 years')",
            (t, t),
        ).fetchone()
        accepted = q(
            "SELECT count(DISTINCT elder_id) FROM retrofit WHERE deleted = 0 AND status = 'accepted' AND accept_date >= ? AND accept_date < ?",
            (y0, y1),
        ).fetchone()[0]
        events_year = q(
            "SELECT count(*) FROM volunteer_event WHERE deleted = 0 AND status = 'done' AND event_date >= ? AND event_date < ?",
            (y0, y1),
        ).fetchone()[0]

        def target(indicator: str) -> tuple[float | None, int | None]:
            row = q(
                "SELECT value, year FROM ref_target WHERE indicator = ? AND year <= ? ORDER BY year DESC LIMIT 1",
                (indicator, today.year),
            ).fetchone()
            return (row[0], row[1]) if row else (None, None)

        cov_pct, cov_year = target("home_service_coverage")
        ret_now, ret_year = target("retrofit_households")
        ret_prev = q(
            "SELECT value FROM ref_target WHERE indicator = 'retrofit_households' AND year = ?",
            ((ret_year or 0) - 1,),
        ).fetchone()
        meal_t, meal_year = target("meal_monthly_servings")
        ev_t, ev_year = target("volunteer_events")
        pop60 = comm["pop_60"] if comm else 0
        pop80 = comm["pop_80"] if comm else 0
        year = {
            "coverage": {
                "value": covered,
                "goal": round(pop60 * cov_pct / 100) if cov_pct is not None else None,
                "target_year": cov_year,
                "denominator": pop60,
            },
            "assessed_80": {
                "value": old[1] or 0,
                "goal": pop80,
                "registered": old[0],
                "target_year": target("assessment_80_coverage")[1],
            },
            "accepted_year": {
                "value": accepted,
                "goal": round((ret_now - ret_prev[0]) * share, 1)
                if ret_now is not None and ret_prev
                else None,
                "target_year": ret_year,
            },
            "meal_servings": {
                "value": month["meal_servings"],
                "goal": round(meal_t * share, 1) if meal_t is not None else None,
                "target_year": meal_year,
            },
            "volunteer_events": {
                "value": events_year,
                "goal": round(ev_t * share, 2) if ev_t is not None else None,
                "target_year": ev_year,
            },
        }
        return {
            "month": month,
            "retrofit_status": retrofit_status,
            "year": year,
            "share": share,
            "community_code": community_code,
        }
