"""The worker's questions of the database: who is due a visit or an assessment, this month's dashboard, elder search."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from fieldapp import indicators as ind
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

    def elder_devices(self, elder_ids: Sequence[str]) -> dict[str, str]:
        """The laptop (device id) of each elder's current version, for a page of rows: whose
        record it is, when a colleague's came in a return bundle or an office sync."""
        return self._elder_column(elder_ids, "device_id")

    def elder_names(self, elder_ids: Sequence[str]) -> dict[str, str]:
        """Names for a page of rows that point at elders (one query, not one per row)."""
        return self._elder_column(elder_ids, "name")

    def _elder_column(self, elder_ids: Sequence[str], column: str) -> dict[str, str]:
        """One column of a page of elders (at most 1,000), by id, in one query."""
        ids = list(dict.fromkeys(elder_ids))[:1000]
        if not ids:
            return {}
        marks = ", ".join("?" for _ in ids)
        sql = f"SELECT id, {column} FROM elder WHERE id IN ({marks})"
        return {r[0]: r[1] for r in self.conn.execute(sql, ids)}

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
        a = reference.load().rules["assessment"]
        # the persons and the visit rule of fieldapp.indicators: the district's overdue count of a
        # community is exactly the number of visit lines here
        base_sql, visit_due = ind.due_base_sql(self.conn, community=community_code)
        sql = f"""
        WITH base AS MATERIALIZED (
            SELECT b.*, x.assess_date, x.next_due
            FROM ({base_sql}) b LEFT JOIN (
                SELECT elder_id, max(assess_date) AS assess_date, max(next_due) AS next_due
                FROM assessment WHERE deleted = 0 GROUP BY elder_id
            ) x ON x.elder_id = b.id
        ),
        due AS (
            SELECT id, 'visit' AS reason, last_visit AS last_date, {visit_due} AS due_date
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
            "t": today.isoformat(),
            "limit": limit,
            "offset": max(0, int(offset)),
        }
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
        return {
            "month": month,
            "retrofit_status": retrofit_status,
            **self._year_figures(today, community_code),
            "community_code": community_code,
        }

    def _year_figures(self, today: date, community: str | None) -> dict[str, Any]:
        """The year's progress by fieldapp.indicators' definitions (the district report's), beside
        the community's share of the targets in force (the 2025 target until the district sets the
        year's own: "沿用2025年目标")."""
        conn = self.conn
        c = community or ""
        comm = conn.execute(
            "SELECT pop_60, pop_80 FROM ref_community WHERE code = ?", (c,)
        ).fetchone()
        district60 = conn.execute("SELECT sum(pop_60) FROM ref_community").fetchone()[0] or 1
        pop60, pop80 = (comm[0], comm[1]) if comm else (0, 0)
        share = pop60 / district60
        targets = ind.targets_in_force(conn, today.year)
        p = ind.period(today.year, today=today)
        old = ind.assessed_80(conn, today, community=c).get(c, ind.Assessed80(0, 0))
        meal = ind.meals(conn, p.start, today, community=c).get(c, ind.Meals(0, 0.0, None))
        months = ind.months_from(meal.start, today.year, today)

        def entry(name: str, value: float, goal: float | None, **more: Any) -> dict[str, Any]:
            t = targets.get(name)
            return {
                "value": value,
                "goal": None if t is None or goal is None else goal,
                "target_year": None if t is None else t.year,
                "note": ind.target_note(t, today.year),
            } | more

        def target(name: str) -> float:
            t = targets.get(name)
            return t.value if t is not None else 0.0

        # the year's new households: the target in force less the year before it (a year that
        # carries the plan's 2025 target forward keeps the plan's last step, 1500 − 1300)
        cur = targets.get("retrofit_households")
        prev = ind.targets_in_force(conn, cur.year - 1).get("retrofit_households") if cur else None
        ret_goal = (cur.value - prev.value) * share if cur and prev else None
        year = {
            "coverage": entry(
                "home_service_coverage",
                ind.covered(conn, p.start, today, community=c).get(c, 0),
                round(pop60 * target("home_service_coverage") / 100),
                denominator=pop60,
            ),
            "assessed_80": entry(
                "assessment_80_coverage", old.assessed, pop80, registered=old.registered
            ),
            "accepted_year": entry(
                "retrofit_households",
                ind.retrofitted(conn, p.start, today, community=c).get(c, 0),
                None if ret_goal is None else round(ret_goal, 1),
            ),
            "meal_capacity": entry(
                "meal_monthly_capacity",
                round(meal.capacity / months, 1) if months else 0,
                round(target("meal_monthly_capacity") * share, 1),
                start=meal.start,
            ),
            "meal_servings": {
                "value": round(meal.servings / months, 1) if months else 0,
                "goal": None,
                "target_year": None,
                "start": meal.start,
            },
            "volunteer_events": entry(
                "volunteer_events",
                sum(
                    e.events
                    for e in ind.volunteer_events(conn, p.start, today, community=c).values()
                ),
                round(target("volunteer_events") * share, 2),
            ),
        }
        return {"year": year, "share": share}
