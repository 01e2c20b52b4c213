"""The district report's figures: each indicator of fieldapp.indicators per district, street and
community with its numerator, denominator, value, target and status, the operational figures and
the monthly trend (SPEC §7 v2).

Persons are counted per area by fieldapp.indicators (each level in SQL, never a sum of its
communities); meals and volunteer events, which belong to one point or community, are summed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple, TypedDict

from fieldapp import indicators as ind
from fieldapp.indicators import DISTRICT_CODE, Period, Target
from fieldapp.report.beside import beside
from fieldapp.report.operations import BundleGrid, DeviceLine, bundle_grid, devices, ranking
from fieldapp.sqlite import sqlite3

STATUS = {
    "met": ("达标", "met"),
    "behind": ("未达标", "behind"),
    "no_target": ("无目标", "no target"),
}
# indicators whose target is the district's only: a street or community has no share of it
DISTRICT_ONLY_TARGET = frozenset(
    {"retrofit_households", "meal_monthly_capacity", "meal_monthly_servings", "volunteer_events"}
)


@dataclass
class Figure:
    area_level: str
    area_code: str
    area_name: str
    indicator: str
    numerator: float
    denominator: float | None
    value: float | None
    target: float | None
    unit: str
    status: str
    note: str = ""
    extra: dict[str, float | None] | None = None


class Operational(TypedDict):
    """What the supervisor follows month to month besides the plan's indicators (SPEC §7)."""

    month: str
    visits: int
    workers: int
    visits_per_worker: float
    by_worker: list[tuple[str, int]]
    hardship_month: str
    hardship_elders: int
    hardship_visited: int
    overdue_followups: int
    open_conflicts: int
    open_reviews: int
    rejected_versions: int
    retrofit_new: int
    retrofit_by_funding: dict[str, int]
    ability_mix: dict[str, int]
    bundles: BundleGrid
    devices: list[DeviceLine]
    ranking: dict[str, list[str]]


class TrendRow(TypedDict):
    month: str
    coverage_pct: float
    retrofit_households: float
    meal_servings: int | None
    meal_capacity: float | None
    volunteer_events: int


@dataclass
class Report:
    period: Period
    figures: list[Figure]
    operational: Operational
    trend: list[TrendRow] | None = None
    as_of: date | None = None
    meal_start: str | None = None  # the district's meal data start "YYYY-MM"
    notes: list[str] = field(default_factory=list)

    def level(self, level: str) -> list[Figure]:
        return [f for f in self.figures if f.area_level == level]

    def get(self, area_code: str, indicator: str) -> Figure:
        return next(
            f for f in self.figures if f.area_code == area_code and f.indicator == indicator
        )


@dataclass(frozen=True)
class Area:
    level: str  # district, street or community
    code: str
    name: str
    members: tuple[str, ...]  # its communities
    pop_60: float
    pop_80: float


@dataclass(frozen=True)
class Measure:
    """One indicator's figure for an area before its target is applied."""

    indicator: str
    numerator: float
    denominator: float | None
    value: float | None
    note: str = ""
    extra: dict[str, float | None] | None = None


def areas(conn: sqlite3.Connection, lang: str = "zh") -> list[Area]:
    """The district, its streets that have communities, and the communities, in report order."""
    name = "name_en" if lang == "en" else "name_zh"
    streets = {r[0]: r[1] for r in conn.execute(f"SELECT code, {name} FROM ref_street")}
    comms = conn.execute(
        f"SELECT code, street_code, {name}, pop_60, pop_80 FROM ref_community ORDER BY code"
    ).fetchall()

    def area(level: str, code: str, area_name: str, members: list[sqlite3.Row]) -> Area:
        return Area(
            level,
            code,
            area_name,
            tuple(c[0] for c in members),
            float(sum(c[3] for c in members)),
            float(sum(c[4] for c in members)),
        )

    out = [area("district", DISTRICT_CODE, "海陵区" if lang != "en" else "Hailing District", comms)]
    for code, street_name in sorted(streets.items()):
        members = [c for c in comms if c[1] == code]
        if members:  # a street with no community in the reference data has nothing to report
            out.append(area("street", code, street_name, members))
    out += [area("community", c[0], c[2], [c]) for c in comms]
    return out


@dataclass(frozen=True)
class Raw:
    """The counts of a report, each per area code (community, street or district)."""

    year: int
    as_of: date
    covered: dict[str, int]
    assessed: dict[str, ind.Assessed80]
    retrofitted: dict[str, int]
    retrofit_new: dict[str, int]
    meals: dict[str, ind.Meals]  # per community only
    events: dict[str, ind.Events]  # per community only

    def meal(self, area: Area) -> tuple[int, float, str | None, int]:
        """An area's servings, capacity, meal data start and months from it (points are in one
        community each: sums over its communities)."""
        ms = [self.meals[c] for c in area.members if c in self.meals]
        starts = [m.start for m in ms if m.start]
        start = min(starts) if starts else None
        return (
            sum(m.servings for m in ms),
            sum(m.capacity for m in ms),
            start,
            ind.months_from(start, self.year, self.as_of),
        )


def raw_counts(
    conn: sqlite3.Connection,
    p: Period,
    as_of: date,
    assessed: Callable[[], dict[str, ind.Assessed80]] | None = None,
) -> Raw:
    """The year's counts per area; `assessed`, when given, brings the 80+ figures (computed
    beside these queries: it is asked for last)."""
    end = min(p.end, as_of)
    covered = ind.covered(conn, p.start, end)
    retro = ind.retrofitted(conn, ind.RETROFIT_FROM, end)
    retro_new = ind.retrofitted(conn, date(p.year, 1, 1), end)
    meals = ind.meals(conn, p.start, end)
    events = ind.volunteer_events(conn, p.start, end)
    return Raw(
        p.year,
        as_of,
        covered,
        assessed() if assessed else ind.assessed_80(conn, as_of),
        retro,
        retro_new,
        meals,
        events,
    )


def _pct(n: float, d: float) -> float | None:
    return 100 * n / d if d else None


def _retro_extra(retro: float, new: float, baseline: float | None) -> dict[str, float | None]:
    out: dict[str, float | None] = {"accepted_since_2023": retro, "new_in_year": new}
    if baseline is not None:
        out["baseline_2022"] = baseline
    return out


def measures(area: Area, raw: Raw, baseline: float) -> list[Measure]:
    """The indicators of an area from its counts (SPEC §7 v2)."""
    district = area.level == "district"
    cov = float(raw.covered.get(area.code, 0))
    retro = float(raw.retrofitted.get(area.code, 0))
    new = float(raw.retrofit_new.get(area.code, 0))
    a = raw.assessed.get(area.code, ind.Assessed80(0, 0))
    servings, capacity, start, months = raw.meal(area)
    ev = [raw.events[c] for c in area.members if c in raw.events]
    events, hours, points = (sum(x[i] for x in ev) for i in range(3))
    meal_note = f"助餐数据起始：{start}，{months}个月" if start else "无助餐数据"
    return [
        Measure("home_service_coverage", cov, area.pop_60, _pct(cov, area.pop_60)),
        Measure(
            "retrofit_households",
            retro + (baseline if district else 0.0),
            None,
            retro + (baseline if district else 0.0),
            f"含2022年基数{baseline:g}；{raw.year}年新增{new:g}户"
            if district
            else f"2023年起，不含基数；{raw.year}年新增{new:g}户",
            _retro_extra(retro, new, baseline if district else None),
        ),
        Measure(
            "assessment_80_coverage",
            float(a.assessed),
            area.pop_80,
            _pct(a.assessed, area.pop_80),
            f"对在册80岁以上老人 {a.assessed}/{a.registered}",
            {
                "registered_80": float(a.registered),
                "of_registered_pct": _pct(a.assessed, a.registered),
            },
        ),
        Measure(
            "meal_monthly_capacity",
            capacity,
            float(months) if months else None,
            capacity / months if months else None,
            meal_note,
        ),
        Measure(
            "meal_monthly_servings",
            float(servings),
            float(months) if months else None,
            servings / months if months else None,
            meal_note,
        ),
        Measure(
            "volunteer_events",
            float(events),
            None,
            float(events),
            f"{hours:g} 小时 · {points:g} 积分",
            {"hours": float(hours), "points": float(points)},
        ),
    ]


def figure(area: Area, m: Measure, targets: dict[str, Target], year: int) -> Figure:
    """A measure against its target: met when the value reaches it (every target is a ≥). The
    rate indicators carry the district's target on every street and community row."""
    t = targets.get(m.indicator)
    shared = area.level == "district" or m.indicator not in DISTRICT_ONLY_TARGET
    if m.indicator in ind.NO_TARGET or not shared:
        t = None
    status = (
        "no_target" if t is None or m.value is None else ("met" if m.value >= t.value else "behind")
    )
    note = "；".join(x for x in (m.note, ind.target_note(t, year)) if x)
    return Figure(
        area.level,
        area.code,
        area.name,
        m.indicator,
        m.numerator,
        m.denominator,
        None if m.value is None else round(m.value, 2),
        None if t is None else t.value,
        ind.UNITS[m.indicator],
        status,
        note,
        m.extra,
    )


def build(
    conn: sqlite3.Connection,
    year: int,
    month: int | None = None,
    *,
    today: date | None = None,
    as_of: date | None = None,
    lang: str = "zh",
) -> Report:
    """The report of a year (or month) as of a date: 31 Dec for a past year, by default today for
    the current one (SPEC §7: the 80+ window ends on it, "this month" is its month)."""
    p = ind.period(year, month, today or date.today())
    as_of = min(as_of, p.end) if as_of else p.as_of(today or date.today())
    with beside(conn, lambda c: _about_persons(c, as_of)) as persons:
        raw = raw_counts(conn, p, as_of, assessed=lambda: persons.result().assessed)
        ops = operational(conn, p, as_of, persons.result())
    targets = ind.targets_in_force(conn, year)
    baseline = ind.retrofit_baseline(conn)
    all_areas = areas(conn, lang)
    figures = [figure(a, m, targets, year) for a in all_areas for m in measures(a, raw, baseline)]
    district = next(a for a in all_areas if a.level == "district")
    meal_start = raw.meal(district)[2]
    r = Report(p, figures, ops, None, as_of, meal_start)
    r.notes = notes(conn, r)
    r.operational["ranking"] = street_ranking(r)
    return r


def notes(conn: sqlite3.Connection, r: Report) -> list[str]:
    """The notes every report prints (SPEC §7): as-of date, meal data start, the reference year of
    the populations, and that sub-district denominators are illustrative where seed/ says so."""
    samples = conn.execute("SELECT count(*) FROM ref_community WHERE sample = 1").fetchone()[0]
    out = [
        f"统计截至：{r.as_of}",
        f"助餐数据起始：{r.meal_start or '无'}",
        f"人口参考年份：{ind.POPULATION_YEAR}（规划基数）",
    ]
    if samples:
        out.append(
            f"街道、社区的人口分母为示意分配（含{samples}个示例社区，见 seed/README.md），"
            "仅全区分母为官方数"
        )
    return out


class Persons(NamedTuple):
    """The figures about persons as of a date that the report reads besides the year's facts:
    about half of its queries' time, run beside the others (report.beside)."""

    assessed: dict[str, ind.Assessed80]
    hardship: dict[str, ind.Hardship]
    overdue: dict[str, int]


def _about_persons(conn: sqlite3.Connection, as_of: date) -> Persons:
    return Persons(
        ind.assessed_80(conn, as_of), ind.hardship(conn, as_of), ind.overdue(conn, as_of)
    )


def operational(conn: sqlite3.Connection, p: Period, as_of: date, persons: Persons) -> Operational:
    """Visits per worker, hardship persons visited this month (national target: all of them),
    overdue follow-ups, open conflicts and review items, new retrofits, ability mix, bundles
    received and the street ranking (SPEC §7): about the as-of date's month."""
    m0 = as_of.replace(day=1)
    per_worker: list[tuple[str, int]] = [
        (r[0], int(r[1]))
        for r in conn.execute(
            "SELECT worker, count(*) FROM home_visit WHERE deleted = 0 AND visit_date BETWEEN ? AND ?"
            " GROUP BY worker ORDER BY 2 DESC",
            (m0.isoformat(), as_of.isoformat()),
        )
    ]
    hard = persons.hardship.get(DISTRICT_CODE, ind.Hardship(0, 0))
    late = persons.overdue.get(DISTRICT_CODE, 0)

    def count(sql: str) -> int:
        try:
            return int(conn.execute(sql).fetchone()[0])
        except sqlite3.OperationalError:
            return 0

    visits = sum(n for _, n in per_worker)
    funding = ind.retrofit_new_by_funding(conn, p.year, as_of)
    return {
        "month": f"{as_of:%Y-%m}",
        "visits": visits,
        "workers": len(per_worker),
        "visits_per_worker": round(visits / len(per_worker), 1) if per_worker else 0,
        "by_worker": per_worker[:20],
        "hardship_month": f"{as_of:%Y-%m}",
        "hardship_elders": hard.elders,
        "hardship_visited": hard.visited,
        "overdue_followups": late,
        "open_conflicts": count("SELECT count(*) FROM conflicts WHERE status = 'open'"),
        "open_reviews": count("SELECT count(*) FROM review_items WHERE status = 'open'"),
        "rejected_versions": count("SELECT count(*) FROM rejected_versions"),
        "retrofit_new": sum(funding.values()),
        "retrofit_by_funding": funding,
        "ability_mix": ind.ability_mix(conn, as_of),
        "bundles": bundle_grid(conn, p.year, as_of),
        "devices": devices(conn),
        "ranking": {},
    }


def street_ranking(r: Report) -> dict[str, list[str]]:
    """Street codes ordered by each binding indicator, best first (the district's 考评)."""
    streets = r.level("street")
    return ranking(
        {
            name: {f.area_code: f.value for f in streets if f.indicator == name}
            for name in ind.RATE_INDICATORS
        }
    )


def trend(
    conn: sqlite3.Connection, year: int, *, today: date | None = None, as_of: date | None = None
) -> list[TrendRow]:
    """District figures month by month up to the as-of date, by the report's definitions:
    coverage and retrofits up to each month's end, the month's servings and capacity (blank
    before the meal data start) and events."""
    p = ind.period(year, None, today or date.today())
    as_of = as_of or p.as_of(today or date.today())
    pop60 = conn.execute("SELECT sum(pop_60) FROM ref_community").fetchone()[0] or 1
    baseline = ind.retrofit_baseline(conn)
    first = ind.covered_by_month(conn, year, as_of)
    rows: list[TrendRow] = []
    covered = 0
    for m in range(1, 13):
        m0 = date(year, m, 1)
        if m0 > as_of:
            break
        end = min(ind.month_end(m0), as_of)
        covered += first.get(f"{m0:%Y-%m}", 0)
        retro = ind.retrofitted(conn, ind.RETROFIT_FROM, end).get(DISTRICT_CODE, 0)
        meal = ind.meals(conn, m0, end).values()
        started = any(x.start and x.start <= f"{m0:%Y-%m}" for x in meal)
        rows.append(
            {
                "month": f"{m0:%Y-%m}",
                "coverage_pct": round(100 * covered / pop60, 2),
                "retrofit_households": baseline + retro,
                "meal_servings": sum(x.servings for x in meal) if started else None,
                "meal_capacity": sum(x.capacity for x in meal) if started else None,
                "volunteer_events": sum(
                    x.events for x in ind.volunteer_events(conn, m0, end).values()
                ),
            }
        )
    return rows
