"""The one home of every indicator definition (SPEC §2, §7): which elders, visits, retrofits,
assessments, meals and volunteer events count, and when an elder is overdue for a visit.

Each rule is written once, as an SQL predicate below, and every count is an SQL aggregate per
community (indexes, no loop over records in Python). The district report, its monthly trend and
the device's dashboard all call these functions, so the figures they show cannot disagree. A
function takes `community=` to count one community only (the device's dashboard); without it,
every community is counted in the same pass (the district).
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from fieldapp.sqlite import sqlite3

INDICATORS = (
    "home_service_coverage",
    "retrofit_households",
    "assessment_80_coverage",
    "meal_monthly_servings",
    "volunteer_events",
)
LABELS = {
    "home_service_coverage": ("居家上门服务覆盖率", "home-service coverage"),
    "retrofit_households": ("居家适老化改造户数（累计）", "retrofitted households (cumulative)"),
    "assessment_80_coverage": ("80岁以上能力评估覆盖率", "80+ assessment coverage"),
    "meal_monthly_servings": ("助餐月均人次", "meal servings per month"),
    "volunteer_events": ("志愿助老活动场次", "volunteer events"),
}
UNITS = {
    "home_service_coverage": "%",
    "assessment_80_coverage": "%",
    "retrofit_households": "户",
    "meal_monthly_servings": "人次/月",
    "volunteer_events": "场",
}

# households are counted from 2023 on top of the 2022 baseline of the plan (SPEC §7)
RETROFIT_FROM = date(2023, 1, 1)
BASELINE_YEAR = 2022

# ------------------------------------------------------------------ the rules, each written once
# Table aliases: e = elder, h = home_visit, a = assessment, r = retrofit, v = volunteer_event.

# an elder who counts at all (coverage, 80+, hardship, overdue)
COUNTED_ELDER = "e.deleted = 0 AND e.status = 'active'"
# a visit that covers an elder (coverage) and resets the visit clock (overdue)
COVERING_VISIT = "h.deleted = 0 AND h.contact_mode = 'in_person'"
# an elder in a hardship situation (特殊困难老年人)
HARDSHIP_ELDER = "e.hardship_tags != '[]'"
# aged 80 or more on the date :at
AGED_80 = "e.birth_date <= date(:at, '-80 years')"
# an assessment that covers an 80+ elder on the date :at: made in the 12 months up to it
ASSESSED_AT = "a.deleted = 0 AND a.assess_date > date(:at, '-12 months') AND a.assess_date <= :at"
# a retrofit that makes a household count
ACCEPTED_RETROFIT = "r.deleted = 0 AND r.status = 'accepted'"
# a volunteer event that counts
DONE_EVENT = "v.deleted = 0 AND v.status = 'done'"


@dataclass(frozen=True)
class Period:
    """A year or a month of the plan; `months` is how many of its months have begun (the meal
    average divides by it, 12 for a past year)."""

    year: int
    month: int | None
    start: date
    end: date
    months: int

    @property
    def label(self) -> str:
        return f"{self.year}" if self.month is None else f"{self.year}-{self.month:02d}"

    def as_of(self, today: date) -> date:
        """The date "overdue" and "this month" are judged at: today within the period, else its
        last day."""
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


# ------------------------------------------------------------------ counts per community


class Counts(NamedTuple):
    """The raw counts behind the indicators for one area. Areas add up (`total`) because every
    count is of distinct elders, points or events that belong to exactly one community."""

    covered: int = 0  # elders with a covering visit in the period
    hardship: int = 0  # hardship elders
    hardship_visited: int = 0  # … of them with a covering visit in the month of the as-of date
    overdue: int = 0  # elders overdue for a visit at the as-of date
    retrofitted: int = 0  # households with an accepted retrofit since RETROFIT_FROM
    registered_80: int = 0  # registered elders aged 80+ at the end of the period
    assessed_80: int = 0  # … of them assessed in the 12 months up to it
    servings: int = 0  # meal servings in the period
    capacity: float = 0.0  # Σ capacity_daily × days served
    events: int = 0  # volunteer events done in the period
    hours: float = 0.0
    points: float = 0.0

    @staticmethod
    def total(items: Iterable[Counts]) -> Counts:
        """The field-by-field sum (a street's or the district's counts from its communities')."""
        return Counts(*map(sum, zip(*items, strict=False)))


def _where_community(alias: str, community: str | None) -> str:
    return f" AND {alias}.community_code = :community" if community else ""


def visit_days(conn: sqlite3.Connection) -> dict[str, int]:
    """Days between visits by risk level (seed/rules.json), as whole numbers."""
    row = conn.execute("SELECT value FROM ref_rule WHERE key = 'visit_frequency_days'").fetchone()
    freq = json.loads(row[0])
    return {k: int(freq[k]) for k in ("high", "priority", "general")}


def visit_due_sql(last_visit: str, risk: str, days: dict[str, int]) -> str:
    """The date an elder's next visit is due: SQL of the last covering visit's date plus the days
    of the elder's risk level (`last_visit` and `risk` are SQL expressions)."""
    return (
        f"date({last_visit}, CASE {risk} WHEN 'high' THEN '+{days['high']} days'"
        f" WHEN 'priority' THEN '+{days['priority']} days' ELSE '+{days['general']} days' END)"
    )


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
    """Per community, from one pass over the counted elders and their covering visits: covered in
    [start, end], hardship elders and those visited in the month of `as_of`, and those overdue for a
    visit at `as_of` (never visited, or due strictly before it). Each elder's visits are read once
    (a packed max() of three facts)."""
    m0 = as_of.replace(day=1)
    due = visit_due_sql("substr(v, 1, 10)", "risk", visit_days(conn))
    # MATERIALIZED: the per-elder subquery runs once per elder (flattened, it would run once per use
    # of v)
    rows = conn.execute(
        "WITH x AS MATERIALIZED ("
        f" SELECT e.community_code AS c, e.visit_risk AS risk, {HARDSHIP_ELDER} AS hard,"
        "  (SELECT max(h.visit_date) || '|' || max(h.visit_date BETWEEN :p0 AND :p1)"
        "    || '|' || max(h.visit_date BETWEEN :m0 AND :m1)"
        f"   FROM home_visit h WHERE h.elder_id = e.id AND {COVERING_VISIT}) AS v"
        f" FROM elder e WHERE {COUNTED_ELDER}{_where_community('e', community)})"
        " SELECT c, sum(v IS NOT NULL AND substr(v, 12, 1) = '1'), sum(hard),"
        " sum(hard AND v IS NOT NULL AND substr(v, 14, 1) = '1'),"
        f" sum(v IS NULL OR {due} < :t)"
        " FROM x GROUP BY c",
        {
            "p0": start.isoformat(),
            "p1": end.isoformat(),
            "m0": m0.isoformat(),
            "m1": month_end(m0).isoformat(),
            "t": as_of.isoformat(),
            "community": community,
        },
    )
    return {r[0]: ElderCounts(*(int(x or 0) for x in r[1:])) for r in rows}


def covered_by_month(
    conn: sqlite3.Connection, start: date, end: date, *, community: str | None = None
) -> dict[str, dict[str, int]]:
    """Per community and month ("YYYY-MM"), the elders first covered in that month of [start, end]:
    their running sum is the coverage up to each month's end (one query for a year's trend)."""
    rows = conn.execute(
        "SELECT e.community_code, substr(f.first, 1, 7), count(*) FROM elder e JOIN ("
        " SELECT h.elder_id, min(h.visit_date) AS first FROM home_visit h"
        f" WHERE {COVERING_VISIT} AND h.visit_date BETWEEN :p0 AND :p1 GROUP BY h.elder_id"
        f") f ON f.elder_id = e.id WHERE {COUNTED_ELDER}{_where_community('e', community)}"
        " GROUP BY 1, 2",
        {"p0": start.isoformat(), "p1": end.isoformat(), "community": community},
    )
    out: dict[str, dict[str, int]] = {}
    for code, month, n in rows:
        out.setdefault(code, {})[month] = int(n)
    return out


def retrofitted(
    conn: sqlite3.Connection, start: date, end: date, *, community: str | None = None
) -> dict[str, int]:
    """Per community, the households (elders) with an accepted retrofit accepted in [start, end].
    The district counts from RETROFIT_FROM; a device may ask for one year (new households)."""
    rows = conn.execute(
        "SELECT e.community_code, count(DISTINCT r.elder_id) FROM retrofit r"
        " JOIN elder e ON e.id = r.elder_id"
        f" WHERE {ACCEPTED_RETROFIT} AND r.accept_date BETWEEN :p0 AND :p1 AND e.deleted = 0"
        f"{_where_community('e', community)} GROUP BY e.community_code",
        {"p0": start.isoformat(), "p1": end.isoformat(), "community": community},
    )
    return {r[0]: int(r[1]) for r in rows}


@dataclass(frozen=True)
class Assessed80:
    registered: int  # counted elders aged 80+ on the date
    assessed: int  # … of them assessed in the 12 months up to it


def assessed_80(
    conn: sqlite3.Connection, at: date, *, community: str | None = None
) -> dict[str, Assessed80]:
    """Per community, the 80+ elders on the date `at` and those of them assessed in the 12 months
    up to it (the report: the end of the period; the dashboard: today)."""
    rows = conn.execute(
        "SELECT e.community_code, count(*), sum(EXISTS (SELECT 1 FROM assessment a"
        f" WHERE a.elder_id = e.id AND {ASSESSED_AT})) FROM elder e"
        f" WHERE {COUNTED_ELDER} AND {AGED_80}{_where_community('e', community)}"
        " GROUP BY e.community_code",
        {"at": at.isoformat(), "community": community},
    )
    return {r[0]: Assessed80(int(r[1]), int(r[2] or 0)) for r in rows}


@dataclass(frozen=True)
class Meals:
    servings: int  # one count per point, day and meal: meal_count_effective
    capacity: float  # Σ capacity_daily × days served


def meals(
    conn: sqlite3.Connection, start: date, end: date, *, community: str | None = None
) -> dict[str, Meals]:
    """Per community of the meal point, the servings and the capacity in [start, end]."""
    rows = conn.execute(
        "SELECT p.community_code, sum(x.servings), sum(p.capacity_daily * x.days)"
        " FROM meal_point p JOIN (SELECT point_id, sum(total) AS servings,"
        "  count(DISTINCT service_date) AS days FROM meal_count_effective"
        "  WHERE service_date BETWEEN :p0 AND :p1 GROUP BY point_id) x ON x.point_id = p.id"
        f" WHERE 1{_where_community('p', community)} GROUP BY p.community_code",
        {"p0": start.isoformat(), "p1": end.isoformat(), "community": community},
    )
    return {r[0]: Meals(int(r[1] or 0), float(r[2] or 0)) for r in rows}


@dataclass(frozen=True)
class Events:
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
        f"{_where_community('v', community)} GROUP BY v.community_code",
        {"p0": start.isoformat(), "p1": end.isoformat(), "community": community},
    )
    return {r[0]: Events(int(r[1]), float(r[2] or 0), float(r[3] or 0)) for r in rows}


def counts(
    conn: sqlite3.Connection, p: Period, as_of: date, *, community: str | None = None
) -> dict[str, Counts]:
    """Every raw count of the period, per community: what the report's figures are made of."""
    elders = elder_counts(conn, p.start, p.end, as_of, community=community)
    retro = retrofitted(conn, RETROFIT_FROM, p.end, community=community)
    old = assessed_80(conn, p.end, community=community)
    meal = meals(conn, p.start, p.end, community=community)
    done = volunteer_events(conn, p.start, p.end, community=community)
    out: dict[str, Counts] = {}
    for code in sorted(set().union(elders, retro, old, meal, done)):
        ec = elders.get(code, ElderCounts(0, 0, 0, 0))
        a = old.get(code, Assessed80(0, 0))
        m = meal.get(code, Meals(0, 0.0))
        e = done.get(code, Events(0, 0.0, 0.0))
        out[code] = Counts(
            ec.covered,
            ec.hardship,
            ec.hardship_visited,
            ec.overdue,
            retro.get(code, 0),
            a.registered,
            a.assessed,
            m.servings,
            m.capacity,
            e.events,
            e.hours,
            e.points,
        )
    return out


# ------------------------------------------------------------------ targets


@dataclass(frozen=True)
class Target:
    value: float
    unit: str
    comparison: str
    kind: str  # binding (约束性) or expected (预期性)


def targets(conn: sqlite3.Connection, year: int) -> dict[str, Target]:
    """The plan's targets for the year, by indicator (none for a year the plan does not set)."""
    return {
        r[0]: Target(float(r[1]), r[2], r[3], r[4])
        for r in conn.execute(
            "SELECT indicator, value, unit, comparison, kind FROM ref_target WHERE year = ?",
            (year,),
        )
    }


def retrofit_baseline(conn: sqlite3.Connection) -> float:
    """The households retrofitted up to the end of 2022, on which the plan's targets build."""
    row = conn.execute(
        "SELECT value FROM ref_target WHERE indicator = 'retrofit_households' AND year = ?",
        (BASELINE_YEAR,),
    ).fetchone()
    return float(row[0]) if row else 0.0


def targets_in_force(conn: sqlite3.Connection, year: int) -> dict[str, tuple[int, Target]]:
    """Per indicator, the target of the latest year up to `year` the plan sets, with that year:
    what the device's dashboard compares with after the plan's last year."""
    rows = conn.execute(
        "SELECT t.indicator, t.year, t.value, t.unit, t.comparison, t.kind FROM ref_target t"
        " WHERE t.year = (SELECT max(year) FROM ref_target u"
        "  WHERE u.indicator = t.indicator AND u.year <= ?)",
        (year,),
    )
    return {r[0]: (int(r[1]), Target(float(r[2]), r[3], r[4], r[5])) for r in rows}
