"""The one home of every indicator definition (SPEC §7 v2): which persons, visits, assessments,
retrofits, meals and volunteer events count, for which area, and when an elder is overdue.

The rule behind all of them: a fact counts for the year in which it happened, judged by what was
true then: an elder's status as of the fact's date (`status_date`), age on 31 Dec of the year, a
visit (assessment, retrofit, meal count) for its own `community_code`. Elders are distinct persons:
a record the district merged into another (`cancelled` + `merged_into`) counts as that person, other
`cancelled` records not at all. Counts of persons come back per community, street AND district,
each counted once in SQL (a street's figure is never the sum of its communities'). The district
report, the device's dashboard and its due list all call these functions.
"""

from __future__ import annotations

import calendar
import json
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

from fieldapp.sqlite import sqlite3

DISTRICT_CODE = "321202"
INDICATORS = (
    "home_service_coverage",
    "retrofit_households",
    "assessment_80_coverage",
    "meal_monthly_capacity",
    "meal_monthly_servings",
    "volunteer_events",
)
LABELS = {
    "home_service_coverage": ("居家上门服务覆盖率", "home-service coverage"),
    "retrofit_households": ("居家适老化改造户数（累计）", "retrofitted households (cumulative)"),
    "assessment_80_coverage": ("80岁以上能力评估覆盖率", "80+ assessment coverage"),
    "meal_monthly_capacity": ("老年助餐月均供客能力", "meal capacity per month"),
    "meal_monthly_servings": ("助餐月均实际人次", "meal servings per month"),
    "volunteer_events": ("志愿助老活动场次", "volunteer events"),
}
UNITS = {
    "home_service_coverage": "%",
    "assessment_80_coverage": "%",
    "retrofit_households": "户",
    "meal_monthly_capacity": "人次/月",
    "meal_monthly_servings": "人次/月",
    "volunteer_events": "场",
}
# rate indicators: every street and community carries the district's target (who is behind)
RATE_INDICATORS = ("home_service_coverage", "assessment_80_coverage")
# databases seeded before SPEC v2 name the plan's 5,000 "meal_monthly_servings"; the plan means capacity
TARGET_ALIASES = {"meal_monthly_servings": "meal_monthly_capacity"}
NO_TARGET = frozenset({"meal_monthly_servings"})
DISTRICT_SOURCE = "district"  # ref_target.source prefix of targets the supervisor set

# households are counted from 2023 on top of the 2022 baseline of the plan (SPEC §7)
RETROFIT_FROM = date(2023, 1, 1)
BASELINE_YEAR = 2022
POPULATION_YEAR = 2022  # the year of the 60+/80+ populations (seed/population.json)
HARDSHIP_LIVING = ("alone", "empty_nest", "left_behind")

# ------------------------------------------------------------------ the rules, each written once
# Aliases: e = the record a fact points at, p = the person it counts as, h = home_visit,
# a = assessment, r = retrofit, v = volunteer_event. `{...}` names a v2 column (see _cols).

# the person a (non-deleted) elder record counts as: itself, or the record it was merged into
PERSON_OF = "(CASE WHEN e.status = 'cancelled' THEN {merged_into} ELSE e.id END)"
# a person who counts on the date `{d}`: not cancelled, and active then (status as of status_date)
PERSON_AT = (
    "p.deleted = 0 AND p.status != 'cancelled' AND (p.status = 'active' OR {p_status_date} > {d})"
)
# aged `{n}` or more on the date `{d}` (31 Dec of the year)
AGED = "p.birth_date <= date({d}, '-{n} years')"
# a visit that covers an elder (coverage)
COVERING_VISIT = "h.deleted = 0 AND h.contact_mode = 'in_person'"
# a 特殊困难老年人: living alone, empty nest or left behind, or any hardship tag but `other`
HARDSHIP_PERSON = (
    "(p.living_status IN ('alone', 'empty_nest', 'left_behind') OR EXISTS"
    " (SELECT 1 FROM json_each(p.hardship_tags) WHERE value != 'other'))"
)
ACCEPTED_RETROFIT = "r.deleted = 0 AND r.status = 'accepted'"
DONE_EVENT = "v.deleted = 0 AND v.status = 'done'"


def _cols(conn: sqlite3.Connection) -> dict[str, str]:
    """The SQL of the payload-schema-2 columns, or their schema-1 reading on a database the v4
    migration has not reached yet (no status_date: non-active elders count as not active; no
    merged_into; a fact's community = its elder's / point's)."""
    have = {r[1] for r in conn.execute("PRAGMA table_info(elder)")}
    v2 = "status_date" in have
    visit = {r[1] for r in conn.execute("PRAGMA table_info(home_visit)")}
    facts = "community_code" in visit
    indexes = {r[1] for r in conn.execute("PRAGMA index_list(home_visit)")}
    pk = [r[1] for r in conn.execute("PRAGMA index_list(elder)") if r[3] == "pk"]
    return {
        # every elder read in one pass through the table: without statistics the planner walks
        # elder_community and looks each row up (3× slower); the table is its primary key's
        # b-tree (WITHOUT ROWID), so naming it reads the table in order
        "scan": f" INDEXED BY {pk[0]}" if pk else "",
        # a year's visits per community and person: covering, in group order (v5), else v4's
        "h_index": next(
            (
                f" INDEXED BY {i}"
                for i in ("home_visit_coverage", "home_visit_community")
                if i in indexes
            ),
            "",
        ),
        "merged_into": "e.merged_into" if "merged_into" in have else "NULL",
        "p_status_date": "p.status_date" if v2 else "NULL",
        "h_comm": "h.community_code" if facts else "NULL",
        "a_comm": "a.community_code" if facts else "e.community_code",
        "r_comm": "r.community_code" if facts else "e.community_code",
    }


def _rule(sql: str, cols: dict[str, str], **at: str) -> str:
    return sql.format(**cols, **at)


@dataclass(frozen=True)
class Period:
    """A year or a month of the plan."""

    year: int
    month: int | None
    start: date
    end: date
    months: int  # months of the period begun by the as-of date (kept for the cache's payload)

    @property
    def label(self) -> str:
        return f"{self.year}" if self.month is None else f"{self.year}-{self.month:02d}"

    def as_of(self, today: date) -> date:
        """The report's as-of date by default: today within the period, else its last day."""
        return today if self.start <= today <= self.end else self.end


def period(year: int, month: int | None = None, today: date | None = None) -> Period:
    today = today or date.today()
    if month is not None:
        start = date(year, month, 1)
        return Period(year, month, start, month_end(start), 1)
    months = 12 if year < today.year else (today.month if year == today.year else 0)
    return Period(year, None, date(year, 1, 1), date(year, 12, 31), months)


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def year_end(day: date) -> str:
    return f"{day.year}-12-31"


# ------------------------------------------------------------------ persons per area


def _per_area(
    conn: sqlite3.Connection, rows_sql: str, params: dict[str, Any], *, community: str | None
) -> dict[str, int]:
    """Distinct persons of `rows_sql` (columns person, c = community) per community, street and
    district, each level counted in SQL (one person counts once however many communities)."""
    both = _per_area_flagged(conn, f"SELECT *, 0 AS flag FROM ({rows_sql})", params, community)
    return {k: n for k, (n, _) in both.items()}


def _per_area_flagged(
    conn: sqlite3.Connection, rows_sql: str, params: dict[str, Any], community: str | None
) -> dict[str, tuple[int, int]]:
    """_per_area of `rows_sql` (columns person, c, flag), and in the same pass the distinct persons
    of its rows with a true `flag` (e.g. hardship persons, and those visited)."""
    where = " WHERE c = :community" if community else ""
    n = "count(DISTINCT x.person), count(DISTINCT CASE WHEN x.flag THEN x.person END)"
    sql = (
        f"WITH x AS MATERIALIZED (SELECT person, c, flag FROM ({rows_sql}){where})"
        f" SELECT c, {n} FROM x GROUP BY c"
        f" UNION ALL SELECT s.street_code, {n} FROM x"
        "  JOIN ref_community s ON s.code = x.c GROUP BY s.street_code"
        f" UNION ALL SELECT :district, {n} FROM x"
    )
    rows = conn.execute(sql, params | {"community": community, "district": DISTRICT_CODE})
    return {r[0]: (int(r[1]), int(r[2])) for r in rows if r[0] is not None}


def _first_visits(conn: sqlite3.Connection, c: dict[str, str]) -> str:
    """Per person and community of the visit: the first in-person visit in [:p0, :p1] made while
    the person was active, for persons aged ≥ 60 on :ye. Visits are first grouped per record and
    community on the covering index (a person active at some visit is active at their first: the
    status changes once), so each record is read once, not once per visit."""
    v = (
        f"SELECT h.elder_id, {c['h_comm']} AS c, min(h.visit_date) AS first FROM home_visit h{c['h_index']}"
        f" WHERE {COVERING_VISIT} AND h.visit_date BETWEEN :p0 AND :p1 GROUP BY c, h.elder_id"
    )
    return (
        "SELECT p.id AS person, coalesce(v.c, e.community_code) AS c, v.first"
        f" FROM ({v}) v JOIN elder e ON e.id = v.elder_id AND e.deleted = 0"
        f" JOIN elder p ON p.id = {_rule(PERSON_OF, c)}"
        f" WHERE {_rule(PERSON_AT, c, d='v.first')} AND {_rule(AGED, c, d=':ye', n='60')}"
    )


def covered(
    conn: sqlite3.Connection, start: date, end: date, *, community: str | None = None
) -> dict[str, int]:
    """Persons aged ≥ 60 on 31 Dec with an in-person visit in [start, end] made while they were
    active, per area of the visit's community."""
    rows = _first_visits(conn, _cols(conn))
    params = {"p0": start.isoformat(), "p1": end.isoformat(), "ye": year_end(end)}
    return _per_area(conn, rows, params, community=community)


def covered_by_month(conn: sqlite3.Connection, year: int, as_of: date) -> dict[str, int]:
    """District: per month "YYYY-MM", the persons first covered in it (their running sum is the
    coverage up to each month's end)."""
    sql = (
        f"SELECT substr(first, 1, 7), count(*) FROM (SELECT person, min(first) AS first"
        f" FROM ({_first_visits(conn, _cols(conn))}) GROUP BY person) GROUP BY 1"
    )
    params = {"p0": f"{year}-01-01", "p1": as_of.isoformat(), "ye": f"{year}-12-31"}
    return {r[0]: int(r[1]) for r in conn.execute(sql, params)}


# ------------------------------------------------------------------ overdue (the due list's rule)


def visit_days(conn: sqlite3.Connection) -> dict[str, int]:
    """Days between visits by risk level (rules.json), as whole numbers."""
    row = conn.execute("SELECT value FROM ref_rule WHERE key = 'visit_frequency_days'").fetchone()
    freq = json.loads(row[0])
    return {k: int(freq[k]) for k in ("high", "priority", "general")}


def due_modes(conn: sqlite3.Connection) -> list[str]:
    """The contact modes that reset the visit clock (rules.json: in person or video)."""
    row = conn.execute("SELECT value FROM ref_rule WHERE key = 'visit_counts_for_due'").fetchone()
    return [str(m) for m in json.loads(row[0])] if row else ["in_person"]


def visit_due_sql(last_visit: str, risk: str, days: dict[str, int]) -> str:
    """The date an elder's next visit is due: SQL of the last visit's date plus the days of the
    elder's risk level (`last_visit` and `risk` are SQL expressions)."""
    return (
        f"date({last_visit}, CASE {risk} WHEN 'high' THEN '+{days['high']} days'"
        f" WHEN 'priority' THEN '+{days['priority']} days' ELSE '+{days['general']} days' END)"
    )


def due_base_sql(conn: sqlite3.Connection, *, community: str | None = None) -> tuple[str, str]:
    """The persons the due list and the overdue count look at, on the date `:t`: SQL selecting
    p.* columns id, name, id_number, visit_risk, birth_date, community_code and last_visit (the
    last visit by a mode of rules.json up to :t, their merged records' visits included), and the
    SQL of their visit due date. Overdue = due date ≤ :t, the same `≤` everywhere; never visited =
    due on :t. Parameters: :t, :community when given."""
    c = _cols(conn)
    modes = ", ".join(f"'{m}'" for m in due_modes(conn) if m.isidentifier())
    # CROSS JOIN: the few merged records first, then their visits by elder (left to choose, the
    # planner read every visit up to :t by date: 80 % of the district report's time)
    merged = (
        f"SELECT {c['merged_into']} AS person, max(h.visit_date) AS last FROM elder e{c['scan']}"
        " CROSS JOIN home_visit h ON h.elder_id = e.id"
        f" WHERE e.status = 'cancelled' AND {c['merged_into']} IS NOT NULL AND e.deleted = 0"
        f" AND h.deleted = 0 AND h.contact_mode IN ({modes}) AND h.visit_date <= :t GROUP BY 1"
    )
    own = (
        "(SELECT max(h.visit_date) FROM home_visit h WHERE h.elder_id = p.id AND h.deleted = 0"
        f" AND h.contact_mode IN ({modes}) AND h.visit_date <= :t)"
    )
    where = " AND p.community_code = :community" if community else ""
    base = (
        "SELECT p.id, p.name, p.id_number, p.visit_risk, p.birth_date, p.community_code,"
        f" max(coalesce({own}, ''), coalesce(mv.last, '')) AS last_raw"
        f" FROM elder p{c['scan']} LEFT JOIN ({merged}) mv ON mv.person = p.id"
        f" WHERE {_rule(PERSON_AT, c, d=':t')}{where}"
    )
    sql = (
        "SELECT id, name, id_number, visit_risk, birth_date, community_code,"
        f" nullif(last_raw, '') AS last_visit FROM ({base})"
    )
    due = f"coalesce({visit_due_sql('last_visit', 'visit_risk', visit_days(conn))}, :t)"
    return sql, due


def overdue(
    conn: sqlite3.Connection, as_of: date, *, community: str | None = None
) -> dict[str, int]:
    """Persons overdue for a visit on `as_of`, per area of their community: exactly the visit
    lines of the device's due list."""
    base, due = due_base_sql(conn, community=community)
    rows = f"SELECT id AS person, community_code AS c FROM ({base}) WHERE {due} <= :t"
    return _per_area(conn, rows, {"t": as_of.isoformat()}, community=community)


class OverduePerson(NamedTuple):
    """One person of a community's overdue list (the raw ID number: the screen masks it)."""

    id: str
    name: str
    id_number: str | None
    visit_risk: str
    birth_date: str
    last_visit: str | None
    due_date: str


def overdue_persons(conn: sqlite3.Connection, as_of: date, community: str) -> list[OverduePerson]:
    """Who is overdue for a visit on `as_of` in a community: the persons overdue() counts there
    (the same SQL), by risk, then oldest due first. Named people: the supervisor's screen only,
    never an aggregate file (SPEC §7)."""
    base, due = due_base_sql(conn, community=community)
    sql = (
        f"SELECT id, name, id_number, visit_risk, birth_date, last_visit, {due} AS due_date"
        f" FROM ({base}) WHERE {due} <= :t ORDER BY CASE visit_risk WHEN 'high' THEN 0"
        " WHEN 'priority' THEN 1 ELSE 2 END, due_date, name, id"
    )
    rows = conn.execute(sql, {"t": as_of.isoformat(), "community": community})
    return [OverduePerson(*r) for r in rows]


# ------------------------------------------------------------------ hardship (特殊困难老年人)


class Hardship(NamedTuple):
    elders: int
    visited: int  # … with any home_visit (in person, phone or video) in the month


def hardship(
    conn: sqlite3.Connection, as_of: date, *, community: str | None = None
) -> dict[str, Hardship]:
    """特殊困难老年人 active on `as_of` and those visited in its month, per area of their
    community (national target: all of them, monthly, by any contact mode)."""
    c = _cols(conn)
    m0 = as_of.replace(day=1)
    visited = (
        f"p.id IN (SELECT {_rule(PERSON_OF, c)} FROM home_visit h"
        " JOIN elder e ON e.id = h.elder_id AND e.deleted = 0"
        " WHERE h.deleted = 0 AND h.visit_date BETWEEN :m0 AND :t)"
    )
    rows = (
        f"SELECT p.id AS person, p.community_code AS c, {visited} AS flag FROM elder p{c['scan']}"
        f" WHERE {_rule(PERSON_AT, c, d=':t')} AND {HARDSHIP_PERSON}"
    )
    params = {"t": as_of.isoformat(), "m0": m0.isoformat()}
    both = _per_area_flagged(conn, rows, params, community)  # one pass: all, and visited
    return {k: Hardship(n, seen) for k, (n, seen) in both.items()}


# ------------------------------------------------------------------ 80+ assessment


class Assessed80(NamedTuple):
    registered: int  # persons aged 80+ on 31 Dec active on the as-of date
    assessed: int  # persons aged 80+ assessed (while active) in the 12 months up to as-of


def _assessed_rows(conn: sqlite3.Connection) -> str:
    c = _cols(conn)
    return (
        f"SELECT p.id AS person, {c['a_comm']} AS c, a.assess_date, a.level FROM assessment a"
        " JOIN elder e ON e.id = a.elder_id AND e.deleted = 0"
        f" JOIN elder p ON p.id = {_rule(PERSON_OF, c)}"
        " WHERE a.deleted = 0 AND a.assess_date BETWEEN date(:t, '-12 months') AND :t"
        f" AND {_rule(PERSON_AT, c, d='a.assess_date')} AND {_rule(AGED, c, d=':ye', n='80')}"
    )


def assessed_80(
    conn: sqlite3.Connection, as_of: date, *, community: str | None = None
) -> dict[str, Assessed80]:
    """Per area, the registered 80+ persons and the 80+ persons assessed in the 12 months that
    end on `as_of`, both ends included (by the assessment's community)."""
    c = _cols(conn)
    params = {"t": as_of.isoformat(), "ye": year_end(as_of)}
    registered = _per_area(
        conn,
        f"SELECT p.id AS person, p.community_code AS c FROM elder p{c['scan']}"
        f" WHERE {_rule(PERSON_AT, c, d=':t')} AND {_rule(AGED, c, d=':ye', n='80')}",
        params,
        community=community,
    )
    assessed = _per_area(conn, _assessed_rows(conn), params, community=community)
    return {
        k: Assessed80(registered.get(k, 0), assessed.get(k, 0))
        for k in set(registered) | set(assessed)
    }


def ability_mix(conn: sqlite3.Connection, as_of: date) -> dict[str, int]:
    """District: the assessed 80+ persons by the level of their latest assessment in the window."""
    sql = (
        f"SELECT level, count(*) FROM (SELECT person, level, max(assess_date)"
        f" FROM ({_assessed_rows(conn)}) GROUP BY person) GROUP BY level ORDER BY level"
    )
    return {
        r[0]: int(r[1]) for r in conn.execute(sql, {"t": as_of.isoformat(), "ye": year_end(as_of)})
    }


# ------------------------------------------------------------------ retrofits


def retrofitted(
    conn: sqlite3.Connection, start: date, end: date, *, community: str | None = None
) -> dict[str, int]:
    """Per area, the households (persons) whose retrofit was accepted in [start, end]."""
    c = _cols(conn)
    rows = (
        f"SELECT p.id AS person, {c['r_comm']} AS c FROM retrofit r"
        " JOIN elder e ON e.id = r.elder_id AND e.deleted = 0"
        f" JOIN elder p ON p.id = {_rule(PERSON_OF, c)}"
        f" WHERE {ACCEPTED_RETROFIT} AND r.accept_date BETWEEN :p0 AND :p1"
    )
    params = {"p0": start.isoformat(), "p1": end.isoformat()}
    return _per_area(conn, rows, params, community=community)


def retrofit_new_by_funding(conn: sqlite3.Connection, year: int, as_of: date) -> dict[str, int]:
    """District: households first accepted in the year (the plan's +200 a year), by the funding
    type of that first accepted retrofit."""
    c = _cols(conn)
    sql = (
        "SELECT funding_type, count(*) FROM (SELECT p.id, r.funding_type, min(r.accept_date) AS d"
        " FROM retrofit r JOIN elder e ON e.id = r.elder_id AND e.deleted = 0"
        f" JOIN elder p ON p.id = {_rule(PERSON_OF, c)}"
        f" WHERE {ACCEPTED_RETROFIT} AND r.accept_date BETWEEN :r0 AND :t GROUP BY p.id)"
        " WHERE d >= :y0 GROUP BY 1 ORDER BY 1"
    )
    params = {"r0": RETROFIT_FROM.isoformat(), "t": as_of.isoformat(), "y0": f"{year}-01-01"}
    return {r[0]: int(r[1]) for r in conn.execute(sql, params)}


# ------------------------------------------------------------------ meals


class Meals(NamedTuple):
    servings: int  # one count per point, day and meal: meal_count_effective
    capacity: float  # Σ capacity_daily × days served (a day whose total is > 0)
    start: str | None  # the area's meal data start "YYYY-MM" (first month with any meal count)


def meals(
    conn: sqlite3.Connection, start: date, end: date, *, community: str | None = None
) -> dict[str, Meals]:
    """Per area (community of the count), servings and capacity in [start, end], and the data
    start. Points belong to one community, so a street's sums are its communities' sums."""
    # a count's community_code is its point's (the store refuses any other): read the point's
    where = " AND mp.community_code = :community" if community else ""
    day = (
        "SELECT mp.community_code AS c, sum(x.n) AS n, sum(CASE WHEN x.n > 0 THEN mp.capacity_daily"
        " ELSE 0 END) AS cap FROM (SELECT m.point_id, m.service_date, sum(m.total) AS n"
        " FROM meal_count_effective m WHERE m.service_date BETWEEN :p0 AND :p1 GROUP BY 1, 2) x"
        f" JOIN meal_point mp ON mp.id = x.point_id WHERE 1{where} GROUP BY 1"
    )
    first = (
        "SELECT mp.community_code, substr(min(x.d), 1, 7) FROM (SELECT point_id, min(service_date)"
        " AS d FROM meal_count WHERE deleted = 0 GROUP BY 1) x JOIN meal_point mp"
        f" ON mp.id = x.point_id WHERE 1{where} GROUP BY 1"
    )
    params = {"p0": start.isoformat(), "p1": end.isoformat(), "community": community}
    sums = {
        r[0]: (int(r[1] or 0), float(r[2] or 0))
        for r in conn.execute(
            day,
            params,
        )
    }
    starts = {r[0]: r[1] for r in conn.execute(first, params)}
    return {k: Meals(*sums.get(k, (0, 0.0)), starts.get(k)) for k in set(sums) | set(starts)}


def months_from(start: str | None, year: int, as_of: date) -> int:
    """The months of `year` from the data start to December or the as-of month (0: no data)."""
    if start is None:
        return 0
    y, m = int(start[:4]), int(start[5:7])
    first = 1 if y < year else (m if y == year else 13)
    last = 12 if as_of.year > year else (as_of.month if as_of.year == year else 0)
    return max(0, last - first + 1)


# ------------------------------------------------------------------ volunteer events


class Events(NamedTuple):
    events: int
    hours: float
    points: float


def volunteer_events(
    conn: sqlite3.Connection, start: date, end: date, *, community: str | None = None
) -> dict[str, Events]:
    """Per community, the volunteer events done in [start, end] with their hours and points."""
    rows = conn.execute(
        "SELECT v.community_code, count(*), sum(v.total_hours), sum(v.total_points)"
        f" FROM volunteer_event v WHERE {DONE_EVENT} AND v.event_date BETWEEN :p0 AND :p1"
        f"{' AND v.community_code = :community' if community else ''} GROUP BY 1",
        {"p0": start.isoformat(), "p1": end.isoformat(), "community": community},
    )
    return {r[0]: Events(int(r[1]), float(r[2] or 0), float(r[3] or 0)) for r in rows}


@dataclass(frozen=True)
class ElderCounts:
    covered: int
    hardship: int
    hardship_visited: int
    overdue: int


def elder_counts(
    conn: sqlite3.Connection,
    start: date,
    end: date,
    as_of: date,
    *,
    community: str | None = None,
) -> dict[str, ElderCounts]:
    """Per area: covered in [start, end], hardship persons and those visited in the month of
    `as_of`, and those overdue on `as_of` (the device's dashboard asks for one community)."""
    cov = covered(conn, start, end, community=community)
    hard = hardship(conn, as_of, community=community)
    late = overdue(conn, as_of, community=community)
    return {
        k: ElderCounts(cov.get(k, 0), *hard.get(k, Hardship(0, 0)), late.get(k, 0))
        for k in set(cov) | set(hard) | set(late)
    }


# ------------------------------------------------------------------ targets


@dataclass(frozen=True)
class Target:
    value: float
    unit: str
    comparison: str
    kind: str  # binding (约束性) or expected (预期性)
    year: int = 0  # the year that set it: < the report's year = "沿用{year}年目标"
    source: str = ""


def _target_rows(conn: sqlite3.Connection, year: int) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT t.indicator, t.year, t.value, t.unit, t.comparison, t.kind,"
        " coalesce(t.source, '') FROM ref_target t"
        " WHERE t.year = (SELECT max(year) FROM ref_target u"
        "  WHERE u.indicator = t.indicator AND u.year <= ?)",
        (year,),
    ).fetchall()


def targets_in_force(conn: sqlite3.Connection, year: int) -> dict[str, Target]:
    """Per indicator, the target of `year` or, where none is set, of the last year that set one
    (the plan ends in 2025: 2026 compares with 2025, "沿用2025年目标"), until the supervisor
    sets the year's own (`fieldapp targets set`)."""
    out: dict[str, Target] = {}
    for r in _target_rows(conn, year):
        name = TARGET_ALIASES.get(r[0], r[0])
        t = Target(float(r[2]), r[3], r[4], r[5], int(r[1]), r[6])
        if name not in out or r[0] == name:  # an explicit capacity row wins over the alias
            out[name] = t
    return out


def targets(conn: sqlite3.Connection, year: int) -> dict[str, Target]:
    """The targets set for exactly this year (the summary's columns)."""
    return {k: t for k, t in targets_in_force(conn, year).items() if t.year == year}


def target_note(t: Target | None, year: int) -> str:
    if t is None:
        return ""
    if t.year < year:
        return f"沿用{t.year}年目标"
    return "区级设定目标" if t.source.startswith(DISTRICT_SOURCE) else ""


def retrofit_baseline(conn: sqlite3.Connection) -> float:
    """The households retrofitted up to the end of 2022, on which the plan's targets build."""
    row = conn.execute(
        "SELECT value FROM ref_target WHERE indicator = 'retrofit_households' AND year = ?",
        (BASELINE_YEAR,),
    ).fetchone()
    return float(row[0]) if row else 0.0
