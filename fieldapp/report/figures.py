"""The district report's figures: each indicator of fieldapp.indicators per district, street and
community with its numerator, denominator, value, target and status, the operational figures and
the monthly trend (SPEC §7).

The counting is fieldapp.indicators' (SQL aggregates per community); streets and the district are
sums of their communities, which is exact because every count is of distinct elders, points or
events that belong to exactly one community.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TypedDict

from fieldapp import indicators as ind
from fieldapp.indicators import Counts, Period, Target
from fieldapp.sqlite import sqlite3

STATUS = {
    "met": ("达标", "met"),
    "behind": ("未达标", "behind"),
    "no_target": ("无目标", "no target"),
}
DISTRICT_CODE = "321202"
# indicators whose target is the district's only: a street or community has no share of it
DISTRICT_ONLY_TARGET = frozenset(
    {"retrofit_households", "meal_monthly_servings", "volunteer_events"}
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


class TrendRow(TypedDict):
    month: str
    coverage_pct: float
    retrofit_households: float
    meal_servings: int
    volunteer_events: int


@dataclass
class Report:
    period: Period
    figures: list[Figure]
    operational: Operational
    trend: list[TrendRow] | None = None

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


def measures(area: Area, c: Counts, baseline: float, months: int) -> list[Measure]:
    """The five indicators of an area from its counts (SPEC §7)."""
    district = area.level == "district"
    retro = float(c.retrofitted) + (baseline if district else 0.0)
    retro_extra: dict[str, float | None] = {"accepted_since_2023": float(c.retrofitted)}
    if district:
        retro_extra["baseline_2022"] = baseline
    return [
        Measure(
            "home_service_coverage",
            float(c.covered),
            area.pop_60,
            100 * c.covered / area.pop_60 if area.pop_60 else None,
        ),
        Measure(
            "retrofit_households",
            retro,
            None,
            retro,
            f"含2022年基数 {baseline:g} (incl. 2022 baseline)"
            if district
            else "2023年起，不含基数 (since 2023, baseline not split by area)",
            retro_extra,
        ),
        Measure(
            "assessment_80_coverage",
            float(c.assessed_80),
            area.pop_80,
            100 * c.assessed_80 / area.pop_80 if area.pop_80 else None,
            f"对在册80岁以上老人 {c.assessed_80:g}/{c.registered_80:g} (against registered 80+)",
            {
                "registered_80": float(c.registered_80),
                "of_registered_pct": round(100 * c.assessed_80 / c.registered_80, 2)
                if c.registered_80
                else None,
            },
        ),
        Measure(
            "meal_monthly_servings",
            float(c.servings),
            float(months),
            c.servings / months if months else None,
            f"供餐能力 {c.capacity:g} (capacity)",
            {"capacity": c.capacity},
        ),
        Measure(
            "volunteer_events",
            float(c.events),
            None,
            float(c.events),
            f"{c.hours:g} 小时 hours · {c.points:g} 积分 points",
            {"hours": c.hours, "points": c.points},
        ),
    ]


def figure(area: Area, m: Measure, targets: dict[str, Target]) -> Figure:
    """A measure against its target: met when the value reaches it (every target is a ≥)."""
    t = targets.get(m.indicator)
    shared = area.level == "district" or m.indicator not in DISTRICT_ONLY_TARGET
    target = t.value if t is not None and shared else None
    status = (
        "no_target"
        if target is None or m.value is None
        else ("met" if m.value >= target else "behind")
    )
    return Figure(
        area.level,
        area.code,
        area.name,
        m.indicator,
        m.numerator,
        m.denominator,
        None if m.value is None else round(m.value, 2),
        target,
        ind.UNITS[m.indicator],
        status,
        m.note,
        m.extra,
    )


def build(
    conn: sqlite3.Connection,
    year: int,
    month: int | None = None,
    *,
    today: date | None = None,
    lang: str = "zh",
) -> Report:
    today = today or date.today()
    p = ind.period(year, month, today)
    raw = ind.counts(conn, p, p.as_of(today))
    targets = ind.targets(conn, year)
    baseline = ind.retrofit_baseline(conn)
    figures = [
        figure(a, m, targets)
        for a in areas(conn, lang)
        for m in measures(
            a, Counts.total(raw.get(c, Counts()) for c in a.members), baseline, p.months
        )
    ]
    return Report(p, figures, operational(conn, p, today=today, per_community=raw))


def operational(
    conn: sqlite3.Connection,
    p: Period,
    *,
    today: date | None = None,
    per_community: dict[str, Counts] | None = None,
) -> Operational:
    """Visits per worker, hardship elders visited this month (national target: all of them), overdue
    follow-ups, open conflicts and review items (SPEC §7): about the month at hand (this month, or
    the period's last month)."""
    as_of = p.as_of(today or date.today())
    m0 = as_of.replace(day=1)
    per_worker: list[tuple[str, int]] = [
        (r[0], int(r[1]))
        for r in conn.execute(
            "SELECT worker, count(*) FROM home_visit WHERE deleted = 0 AND visit_date BETWEEN ? AND ?"
            " GROUP BY worker ORDER BY 2 DESC",
            (m0.isoformat(), ind.month_end(m0).isoformat()),
        )
    ]
    raw = per_community if per_community is not None else ind.counts(conn, p, as_of)
    total = Counts.total(raw.values())

    def count(sql: str) -> int:
        try:
            return int(conn.execute(sql).fetchone()[0])
        except sqlite3.OperationalError:
            return 0

    visits = sum(n for _, n in per_worker)
    return {
        "month": f"{as_of:%Y-%m}",
        "visits": visits,
        "workers": len(per_worker),
        "visits_per_worker": round(visits / len(per_worker), 1) if per_worker else 0,
        "by_worker": per_worker[:20],
        "hardship_month": f"{as_of:%Y-%m}",
        "hardship_elders": total.hardship,
        "hardship_visited": total.hardship_visited,
        "overdue_followups": total.overdue,
        "open_conflicts": count("SELECT count(*) FROM conflicts WHERE status = 'open'"),
        "open_reviews": count("SELECT count(*) FROM review_items WHERE status = 'open'"),
        "rejected_versions": count("SELECT count(*) FROM rejected_versions"),
    }


def trend(conn: sqlite3.Connection, year: int, *, today: date | None = None) -> list[TrendRow]:
    """District figures month by month of a year, by the same definitions as the report: coverage
    and retrofits up to each month's end, the month's servings and events."""
    today = today or date.today()
    pop60 = conn.execute("SELECT sum(pop_60) FROM ref_community").fetchone()[0] or 1
    baseline = ind.retrofit_baseline(conn)
    first = ind.covered_by_month(conn, date(year, 1, 1), date(year, 12, 31))
    rows: list[TrendRow] = []
    covered = 0
    for m in range(1, 13):
        m0 = date(year, m, 1)
        if m0 > today:
            break
        end = ind.month_end(m0)
        covered += sum(by_month.get(f"{m0:%Y-%m}", 0) for by_month in first.values())
        retro = sum(ind.retrofitted(conn, ind.RETROFIT_FROM, end).values())
        rows.append(
            {
                "month": f"{m0:%Y-%m}",
                "coverage_pct": round(100 * covered / pop60, 2),
                "retrofit_households": baseline + retro,
                "meal_servings": sum(x.servings for x in ind.meals(conn, m0, end).values()),
                "volunteer_events": sum(
                    x.events for x in ind.volunteer_events(conn, m0, end).values()
                ),
            }
        )
    return rows
