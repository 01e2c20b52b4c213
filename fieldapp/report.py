"""The district report: the plan's five indicators (SPEC §2, §7) per district, street and community,
each with its numerator, denominator, value, target and status, plus the operational figures.

All counting is done by SQL aggregates per community (indexes, no loop over records); streets and
the district are sums of their communities, which is exact because every count is of distinct
elders, points or events that belong to exactly one community.
"""

from __future__ import annotations

import calendar
import contextlib
import csv
import json
import sqlite3
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

INDICATORS = (
    "home_service_coverage",
    "retrofit_households",
    "assessment_80_coverage",
    "meal_monthly_servings",
    "volunteer_events",
)
CSV_COLUMNS = [
    "area_level",
    "area_code",
    "area_name",
    "indicator",
    "numerator",
    "denominator",
    "value",
    "target",
    "unit",
    "status",
]
RETROFIT_FROM = (
    "2023-01-01"  # households are counted from 2023 on top of the 2022 baseline (SPEC §7)
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
STATUS = {
    "met": ("达标", "met"),
    "behind": ("未达标", "behind"),
    "no_target": ("无目标", "no target"),
}


@dataclass(frozen=True)
class Period:
    year: int
    month: int | None
    start: date
    end: date
    months: int  # months the period spans that have begun (12 for a past year)

    @property
    def label(self) -> str:
        return f"{self.year}" if self.month is None else f"{self.year}-{self.month:02d}"


def period(year: int, month: int | None = None, today: date | None = None) -> Period:
    today = today or date.today()
    if month is not None:
        start = date(year, month, 1)
        return Period(year, month, start, date(year, month, calendar.monthrange(year, month)[1]), 1)
    months = 12 if year < today.year else (today.month if year == today.year else 0)
    return Period(year, None, date(year, 1, 1), date(year, 12, 31), months)


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
    extra: dict[str, Any] | None = None

    def csv_row(self) -> list[Any]:
        return [
            self.area_level,
            self.area_code,
            self.area_name,
            self.indicator,
            _num(self.numerator),
            "" if self.denominator is None else _num(self.denominator),
            "" if self.value is None else f"{self.value:.2f}",
            "" if self.target is None else _num(self.target),
            self.unit,
            self.status,
        ]


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.2f}"


@dataclass
class Report:
    period: Period
    figures: list[Figure]
    operational: dict[str, Any]
    trend: list[dict[str, Any]] | None = None

    def level(self, level: str) -> list[Figure]:
        return [f for f in self.figures if f.area_level == level]

    def get(self, area_code: str, indicator: str) -> Figure:
        return next(
            f for f in self.figures if f.area_code == area_code and f.indicator == indicator
        )


def _per_community(conn: sqlite3.Connection, p: Period) -> dict[str, dict[str, float]]:
    """The raw counts of every indicator, per community (one SQL aggregate each)."""
    start, end = p.start.isoformat(), p.end.isoformat()
    out: dict[str, dict[str, float]] = {}

    def put(sql: str, params: tuple[Any, ...], *names: str) -> None:
        for row in conn.execute(sql, params):
            d = out.setdefault(row[0], {})
            for i, name in enumerate(names, start=1):
                d[name] = float(row[i] or 0)

    # elders with ≥ 1 in-person visit in the period (and the operational figures that need the same
    # visits): one pass over the active elders, one index seek each
    for code, figures in elder_pass(conn, p).items():
        out.setdefault(code, {}).update(figures)
    # households (elders) whose retrofit was accepted from 2023 up to the end of the period
    put(
        "SELECT e.community_code, count(DISTINCT r.elder_id) FROM retrofit r JOIN elder e ON e.id = r.elder_id"
        " WHERE r.deleted = 0 AND r.status = 'accepted' AND r.accept_date BETWEEN ? AND ? AND e.deleted = 0"
        " GROUP BY e.community_code",
        (RETROFIT_FROM, end),
        "retrofitted",
    )
    # elders aged 80+ at the end of the period: registered, and assessed in the 12 months before it
    put(
        "SELECT e.community_code, count(*), sum(EXISTS (SELECT 1 FROM assessment a WHERE a.elder_id = e.id"
        " AND a.deleted = 0 AND a.assess_date > date(?, '-12 months') AND a.assess_date <= ?))"
        " FROM elder e WHERE e.deleted = 0 AND e.status = 'active' AND e.birth_date <= date(?, '-80 years')"
        " GROUP BY e.community_code",
        (end, end, end),
        "registered_80",
        "assessed_80",
    )
    # meal servings (one count per slot: meal_count_effective) and capacity = Σ capacity_daily × days served
    put(
        "SELECT p.community_code, sum(x.servings), sum(p.capacity_daily * x.days) FROM meal_point p JOIN ("
        " SELECT point_id, sum(total) AS servings, count(DISTINCT service_date) AS days FROM meal_count_effective"
        " WHERE service_date BETWEEN ? AND ? GROUP BY point_id) x ON x.point_id = p.id GROUP BY p.community_code",
        (start, end),
        "servings",
        "capacity",
    )
    put(
        "SELECT community_code, count(*), sum(total_hours), sum(total_points) FROM volunteer_event"
        " WHERE deleted = 0 AND status = 'done' AND event_date BETWEEN ? AND ? GROUP BY community_code",
        (start, end),
        "events",
        "hours",
        "points",
    )
    return out


def _targets(conn: sqlite3.Connection, year: int) -> dict[str, tuple[float, str, str]]:
    return {
        r[0]: (float(r[1]), r[2], r[3])
        for r in conn.execute(
            "SELECT indicator, value, unit, comparison FROM ref_target WHERE year = ?", (year,)
        )
    }


def build(
    conn: sqlite3.Connection,
    year: int,
    month: int | None = None,
    *,
    today: date | None = None,
    lang: str = "zh",
) -> Report:
    p = period(year, month, today)
    raw = _per_community(conn, p)
    targets = _targets(conn, year)
    baseline_row = conn.execute(
        "SELECT value FROM ref_target WHERE indicator = 'retrofit_households' AND year = 2022"
    ).fetchone()
    baseline = float(baseline_row[0]) if baseline_row else 0.0
    name = "name_en" if lang == "en" else "name_zh"
    streets = {r["code"]: r[name] for r in conn.execute(f"SELECT code, {name} FROM ref_street")}
    comms = conn.execute(
        f"SELECT code, street_code, {name}, pop_60, pop_80 FROM ref_community ORDER BY code"
    ).fetchall()
    areas: list[tuple[str, str, str, list[str]]] = [
        (
            "district",
            "321202",
            "海陵区" if lang != "en" else "Hailing District",
            [c["code"] for c in comms],
        )
    ]
    for code, nm in sorted(streets.items()):
        members = [c["code"] for c in comms if c["street_code"] == code]
        if members:  # a street with no community in the reference data has nothing to report
            areas.append(("street", code, nm, members))
    areas += [("community", c["code"], c[name], [c["code"]]) for c in comms]
    pops = {c["code"]: (c["pop_60"], c["pop_80"]) for c in comms}
    figures: list[Figure] = []
    for level, code, area_name, members in areas:
        s: dict[str, float] = {}
        for m in members:
            for k, v in raw.get(m, {}).items():
                s[k] = s.get(k, 0.0) + v
        pop60 = float(sum(pops[m][0] for m in members))
        pop80 = float(sum(pops[m][1] for m in members))

        def fig(
            ind: str,
            num: float,
            den: float | None,
            value: float | None,
            note: str = "",
            extra: dict[str, Any] | None = None,
            district_only_target: bool = False,
            level: str = level,
            code: str = code,
            area_name: str = area_name,
        ) -> None:
            t = targets.get(ind)
            target = None if t is None or (district_only_target and level != "district") else t[0]
            status = (
                "no_target"
                if target is None or value is None
                else ("met" if value >= target else "behind")
            )
            rounded = None if value is None else round(value, 2)
            figures.append(
                Figure(
                    level,
                    code,
                    area_name,
                    ind,
                    num,
                    den,
                    rounded,
                    target,
                    UNITS[ind],
                    status,
                    note,
                    extra,
                )
            )

        covered = s.get("covered", 0.0)
        fig("home_service_coverage", covered, pop60, 100 * covered / pop60 if pop60 else None)
        retro = s.get("retrofitted", 0.0)
        if level == "district":
            fig(
                "retrofit_households",
                baseline + retro,
                None,
                baseline + retro,
                f"含2022年基数 {baseline:g} (incl. 2022 baseline)",
                {"accepted_since_2023": retro, "baseline_2022": baseline},
                district_only_target=True,
            )
        else:
            fig(
                "retrofit_households",
                retro,
                None,
                retro,
                "2023年起，不含基数 (since 2023, baseline not split by area)",
                {"accepted_since_2023": retro},
                district_only_target=True,
            )
        assessed = s.get("assessed_80", 0.0)
        registered = s.get("registered_80", 0.0)
        fig(
            "assessment_80_coverage",
            assessed,
            pop80,
            100 * assessed / pop80 if pop80 else None,
            f"对在册80岁以上老人 {assessed:g}/{registered:g} (against registered 80+)",
            {
                "registered_80": registered,
                "of_registered_pct": round(100 * assessed / registered, 2) if registered else None,
            },
        )
        servings = s.get("servings", 0.0)
        fig(
            "meal_monthly_servings",
            servings,
            float(p.months),
            servings / p.months if p.months else None,
            f"供餐能力 {s.get('capacity', 0.0):g} (capacity)",
            {"capacity": s.get("capacity", 0.0)},
            district_only_target=True,
        )
        events = s.get("events", 0.0)
        fig(
            "volunteer_events",
            events,
            None,
            events,
            f"{s.get('hours', 0.0):g} 小时 hours · {s.get('points', 0.0):g} 积分 points",
            {"hours": s.get("hours", 0.0), "points": s.get("points", 0.0)},
            district_only_target=True,
        )
    return Report(p, figures, operational(conn, p, today=today, per_community=raw))


def _ref_month(p: Period, today: date | None = None) -> date:
    today = today or date.today()
    return today if p.start <= today <= p.end else p.end


def elder_pass(
    conn: sqlite3.Connection, p: Period, *, today: date | None = None
) -> dict[str, dict[str, float]]:
    """Per community, from one pass over the active elders and their in-person visits: covered in
    the period, overdue for a visit at the reference date, hardship elders and those visited in
    the reference month. Each elder's visits are read once (a packed max() of three facts)."""
    ref = _ref_month(p, today)
    m0 = ref.replace(day=1).isoformat()
    m1 = ref.replace(day=calendar.monthrange(ref.year, ref.month)[1]).isoformat()
    freq = json.loads(
        conn.execute("SELECT value FROM ref_rule WHERE key = 'visit_frequency_days'").fetchone()[0]
    )
    # whole numbers from seed/rules.json, written into the SQL so the planner sees constants
    days = {k: int(freq[k]) for k in ("high", "priority", "general")}
    # MATERIALIZED: the per-elder subquery runs once per elder (flattened, it would run once per use of v)
    rows = conn.execute(
        "WITH x AS MATERIALIZED ("
        " SELECT e.community_code AS c, e.visit_risk AS risk, e.hardship_tags != '[]' AS hard,"
        "  (SELECT max(h.visit_date) || '|' || max(h.visit_date BETWEEN :p0 AND :p1) || '|' || max(h.visit_date BETWEEN :m0 AND :m1)"
        "   FROM home_visit h WHERE h.elder_id = e.id AND h.deleted = 0 AND h.contact_mode = 'in_person') AS v"
        " FROM elder e WHERE e.deleted = 0 AND e.status = 'active')"
        " SELECT c, sum(v IS NOT NULL AND substr(v, 12, 1) = '1'), sum(hard),"
        " sum(hard AND v IS NOT NULL AND substr(v, 14, 1) = '1'),"
        f" sum(v IS NULL OR date(substr(v, 1, 10), CASE risk WHEN 'high' THEN '+{days['high']} days'"
        f" WHEN 'priority' THEN '+{days['priority']} days' ELSE '+{days['general']} days' END) < :t)"
        " FROM x GROUP BY c",
        {
            "p0": p.start.isoformat(),
            "p1": p.end.isoformat(),
            "m0": m0,
            "m1": m1,
            "t": ref.isoformat(),
        },
    )
    return {
        r[0]: {
            "covered": float(r[1] or 0),
            "hardship": float(r[2] or 0),
            "hardship_visited": float(r[3] or 0),
            "overdue": float(r[4] or 0),
        }
        for r in rows
    }


def data_state(conn: sqlite3.Connection) -> str:
    """What the figures depend on at the district: the versions merged and the review decisions."""
    row = conn.execute(
        "SELECT (SELECT count(*) FROM versions), (SELECT max(seq) FROM versions),"
        " (SELECT coalesce(max(decided_at), '') FROM conflicts), (SELECT coalesce(max(decided_at), '') FROM review_items),"
        " (SELECT count(*) FROM review_items WHERE status = 'resolved'), (SELECT count(*) FROM ref_community),"
        " (SELECT coalesce(sum(pop_60), 0) FROM ref_community)"
    ).fetchone()
    return "|".join(str(x) for x in row)


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
    state = f"{data_state(conn)}|{date.today().isoformat()}|{int(with_trend)}"
    row = conn.execute(
        "SELECT data_state, report FROM report_cache WHERE year = ? AND month = ? AND lang = ?",
        (year, month or 0, lang),
    ).fetchone()
    if row is not None and row[0] == state:
        data = json.loads(row[1])
        p = data["period"]
        return Report(
            Period(
                p["year"],
                p["month"],
                date.fromisoformat(p["start"]),
                date.fromisoformat(p["end"]),
                p["months"],
            ),
            [Figure(**f) for f in data["figures"]],
            data["operational"],
            data.get("trend"),
        )
    r = build(conn, year, month, lang=lang)
    if with_trend:
        r.trend = trend(conn, year)
    p = r.period
    payload = {
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
    }
    with contextlib.suppress(
        sqlite3.OperationalError
    ):  # a read-only database: right, just not kept
        conn.execute(
            "INSERT OR REPLACE INTO report_cache (year, month, lang, data_state, built_at, report)"
            " VALUES (?, ?, ?, ?, datetime('now'), ?)",
            (year, month or 0, lang, state, json.dumps(payload, ensure_ascii=False)),
        )
    return r


def operational(
    conn: sqlite3.Connection,
    p: Period,
    *,
    today: date | None = None,
    per_community: dict[str, dict[str, float]] | None = None,
) -> dict[str, Any]:
    """Visits per worker, hardship elders visited this month (national target: all of them), overdue
    follow-ups, open conflicts and review items (SPEC §7)."""
    ref_month = _ref_month(p, today)
    m0 = ref_month.replace(day=1).isoformat()
    m1 = ref_month.replace(day=calendar.monthrange(ref_month.year, ref_month.month)[1]).isoformat()
    # operational figures are about the month at hand (this month, or the period's last month)
    per_worker = conn.execute(
        "SELECT worker, count(*) FROM home_visit WHERE deleted = 0 AND visit_date BETWEEN ? AND ? GROUP BY worker ORDER BY 2 DESC",
        (m0, m1),
    ).fetchall()
    elders = per_community if per_community is not None else elder_pass(conn, p, today=today)

    def total(key: str) -> int:
        return int(sum(v.get(key, 0.0) for v in elders.values()))

    def count(sql: str) -> int:
        try:
            return int(conn.execute(sql).fetchone()[0])
        except sqlite3.OperationalError:
            return 0

    visits = sum(r[1] for r in per_worker)
    return {
        "month": f"{ref_month:%Y-%m}",
        "visits": visits,
        "workers": len(per_worker),
        "visits_per_worker": round(visits / len(per_worker), 1) if per_worker else 0,
        "by_worker": [(r[0], r[1]) for r in per_worker[:20]],
        "hardship_month": f"{ref_month:%Y-%m}",
        "hardship_elders": total("hardship"),
        "hardship_visited": total("hardship_visited"),
        "overdue_followups": total("overdue"),
        "open_conflicts": count("SELECT count(*) FROM conflicts WHERE status = 'open'"),
        "open_reviews": count("SELECT count(*) FROM review_items WHERE status = 'open'"),
        "rejected_versions": count("SELECT count(*) FROM rejected_versions"),
    }


def trend(
    conn: sqlite3.Connection, year: int, *, today: date | None = None
) -> list[dict[str, Any]]:
    """District figures month by month of a year: cumulative coverage and retrofits, monthly servings and events."""
    today = today or date.today()
    pop60 = conn.execute("SELECT sum(pop_60) FROM ref_community").fetchone()[0] or 1
    baseline = conn.execute(
        "SELECT value FROM ref_target WHERE indicator = 'retrofit_households' AND year = 2022"
    ).fetchone()
    rows = []
    for m in range(1, 13):
        if date(year, m, 1) > today:
            break
        end = date(year, m, calendar.monthrange(year, m)[1]).isoformat()
        m0 = f"{year}-{m:02d}-01"
        covered = conn.execute(
            "SELECT count(*) FROM elder e WHERE e.deleted = 0 AND e.status = 'active' AND e.id IN ("
            " SELECT elder_id FROM home_visit WHERE visit_date BETWEEN ? AND ? AND contact_mode = 'in_person' AND deleted = 0)",
            (f"{year}-01-01", end),
        ).fetchone()[0]
        retro = conn.execute(
            "SELECT count(DISTINCT elder_id) FROM retrofit WHERE deleted = 0 AND status = 'accepted' AND accept_date BETWEEN ? AND ?",
            (RETROFIT_FROM, end),
        ).fetchone()[0]
        servings = conn.execute(
            "SELECT coalesce(sum(total), 0) FROM meal_count_effective WHERE service_date BETWEEN ? AND ?",
            (m0, end),
        ).fetchone()[0]
        events = conn.execute(
            "SELECT count(*) FROM volunteer_event WHERE deleted = 0 AND status = 'done' AND event_date BETWEEN ? AND ?",
            (m0, end),
        ).fetchone()[0]
        rows.append(
            {
                "month": f"{year}-{m:02d}",
                "coverage_pct": round(100 * covered / pop60, 2),
                "retrofit_households": (baseline[0] if baseline else 0) + retro,
                "meal_servings": servings,
                "volunteer_events": events,
            }
        )
    return rows


# ------------------------------------------------------------------ output


def write_csv(report: Report, path: Path, levels: tuple[str, ...]) -> None:
    """UTF-8 with BOM (so Excel shows Chinese); exactly the columns of CSV_COLUMNS."""
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for fig in report.figures:
            if fig.area_level in levels:
                w.writerow(fig.csv_row())


def levels_for(by: str) -> tuple[str, ...]:
    return {
        "district": ("district",),
        "street": ("district", "street"),
        "community": ("district", "street", "community"),
    }[by]


def write_xlsx(
    report: Report,
    path: Path,
    conn: sqlite3.Connection,
    *,
    lang: str = "zh",
    today: date | None = None,
) -> None:
    """A workbook an official can hand on: a summary laid out like the plan's indicator table, a sheet
    per level, the monthly trend, and native charts of coverage and retrofits against target."""
    import xlsxwriter

    zh = lang != "en"
    y = report.period.year
    wb = xlsxwriter.Workbook(str(path))
    bold = wb.add_format(
        {"bold": True, "border": 1, "bg_color": "#DDEBF7", "text_wrap": True, "valign": "vcenter"}
    )
    cell = wb.add_format({"border": 1})
    num = wb.add_format({"border": 1, "num_format": "0.00"})
    title = wb.add_format({"bold": True, "font_size": 14})

    ws = wb.add_worksheet("指标汇总" if zh else "Summary")
    ws.write(
        0,
        0,
        f"海陵区“一老一小”规划 养老服务指标 {report.period.label}"
        if zh
        else f"Hailing plan: elderly-care indicators {report.period.label}",
        title,
    )
    head = (
        [
            "序号",
            "指标",
            "2022年基数",
            f"{y}年目标",
            f"{y}年实际",
            "单位",
            "指标属性",
            "状态",
            "分子",
            "分母",
            "说明",
        ]
        if zh
        else [
            "No.",
            "Indicator",
            "2022 baseline",
            f"{y} target",
            f"{y} actual",
            "Unit",
            "Kind",
            "Status",
            "Numerator",
            "Denominator",
            "Note",
        ]
    )
    ws.write_row(2, 0, head, bold)
    kinds = {
        r[0]: r[1]
        for r in conn.execute("SELECT indicator, kind FROM ref_target WHERE year = ?", (y,))
    }
    base22 = {
        r[0]: r[1]
        for r in conn.execute("SELECT indicator, value FROM ref_target WHERE year = 2022")
    }
    for i, ind in enumerate(INDICATORS):
        f = report.get("321202", ind)
        kind = kinds.get(ind, "")
        kind_label = {"binding": "约束性", "expected": "预期性"}.get(kind, kind) if zh else kind
        row = [
            i + 1,
            LABELS[ind][0 if zh else 1],
            base22.get(ind, "—"),
            f.target if f.target is not None else "—",
            f.value if f.value is not None else "—",
            f.unit,
            kind_label,
            STATUS[f.status][0 if zh else 1],
            f.numerator,
            f.denominator if f.denominator is not None else "",
            f.note,
        ]
        for c, v in enumerate(row):
            ws.write(3 + i, c, v, num if isinstance(v, float) else cell)
    ws.set_column(0, 0, 6)
    ws.set_column(1, 1, 30)
    ws.set_column(2, 9, 12)
    ws.set_column(10, 10, 40)
    op = report.operational
    ws.write(10, 0, "运行指标" if zh else "Operational", title)
    ops = [
        (
            "上门服务人次 / 工作人员数 / 人均",
            "visits / workers / per worker",
            f"{op['visits']} / {op['workers']} / {op['visits_per_worker']}",
        ),
        (
            f"困难老人本月探访（{op['hardship_month']}）",
            f"hardship elders visited ({op['hardship_month']})",
            f"{op['hardship_visited']} / {op['hardship_elders']}",
        ),
        ("逾期未探访", "overdue follow-ups", op["overdue_followups"]),
        (
            "待处理冲突 / 待审核",
            "open conflicts / review items",
            f"{op['open_conflicts']} / {op['open_reviews']}",
        ),
    ]
    for i, (a, b, v) in enumerate(ops):
        ws.write(11 + i, 1, a if zh else b, cell)
        ws.write(11 + i, 2, v, cell)

    for level, sheet in (("district", "全区"), ("street", "街道"), ("community", "社区")):
        ws2 = wb.add_worksheet(sheet if zh else level.capitalize())
        ws2.write_row(0, 0, CSV_COLUMNS + ["note"], bold)
        for r, f in enumerate(report.level(level), start=1):
            values = [
                f.area_level,
                f.area_code,
                f.area_name,
                f.indicator,
                f.numerator,
                f.denominator,
                f.value,
                f.target,
                f.unit,
                f.status,
                f.note,
            ]
            for c, v in enumerate(values):
                if v is None:
                    ws2.write_blank(r, c, None, cell)
                else:
                    ws2.write(r, c, v, num if isinstance(v, float) else cell)
        ws2.set_column(0, 1, 14)
        ws2.set_column(2, 3, 24)
        ws2.set_column(10, 10, 40)
        ws2.autofilter(0, 0, max(1, len(report.level(level))), len(CSV_COLUMNS))

    months = trend(conn, y, today=today)
    wt = wb.add_worksheet("月度趋势" if zh else "Monthly trend")
    cov_t = report.get("321202", "home_service_coverage").target
    ret_t = report.get("321202", "retrofit_households").target
    wt.write_row(
        0,
        0,
        [
            "月份",
            "上门覆盖率%",
            "覆盖率目标%",
            "改造户数（累计）",
            "改造目标",
            "助餐人次",
            "志愿活动",
        ]
        if zh
        else [
            "Month",
            "Coverage %",
            "Coverage target %",
            "Retrofits (cumulative)",
            "Retrofit target",
            "Meal servings",
            "Volunteer events",
        ],
        bold,
    )
    for r, m in enumerate(months, start=1):
        wt.write_row(
            r,
            0,
            [
                m["month"],
                m["coverage_pct"],
                cov_t if cov_t is not None else "",
                m["retrofit_households"],
                ret_t if ret_t is not None else "",
                m["meal_servings"],
                m["volunteer_events"],
            ],
            cell,
        )
    wt.set_column(0, 6, 16)
    n = len(months)
    if n:
        sheet_name = "月度趋势" if zh else "Monthly trend"
        chart = wb.add_chart({"type": "line"})
        chart.add_series(
            {
                "name": "上门覆盖率%" if zh else "Coverage %",
                "categories": [sheet_name, 1, 0, n, 0],
                "values": [sheet_name, 1, 1, n, 1],
                "marker": {"type": "circle"},
            }
        )
        if cov_t is not None:
            chart.add_series(
                {
                    "name": "目标%" if zh else "Target %",
                    "categories": [sheet_name, 1, 0, n, 0],
                    "values": [sheet_name, 1, 2, n, 2],
                    "line": {"dash_type": "dash"},
                }
            )
        chart.set_title({"name": "居家上门服务覆盖率" if zh else "Home-service coverage"})
        chart.set_y_axis({"name": "%"})
        wt.insert_chart(n + 3, 0, chart, {"x_scale": 1.3})
        bars = wb.add_chart({"type": "column"})
        bars.add_series(
            {
                "name": "改造户数" if zh else "Retrofits",
                "categories": [sheet_name, 1, 0, n, 0],
                "values": [sheet_name, 1, 3, n, 3],
            }
        )
        if ret_t is not None:
            line = wb.add_chart({"type": "line"})
            line.add_series(
                {
                    "name": "目标" if zh else "Target",
                    "categories": [sheet_name, 1, 0, n, 0],
                    "values": [sheet_name, 1, 4, n, 4],
                    "line": {"dash_type": "dash"},
                }
            )
            bars.combine(line)
        bars.set_title(
            {"name": "居家适老化改造户数（累计）" if zh else "Retrofitted households (cumulative)"}
        )
        wt.insert_chart(n + 3, 6, bars, {"x_scale": 1.3})
    wb.close()
