"""The district report on a small hand-made database: every numerator and denominator computed by hand."""

from __future__ import annotations

import csv
import zipfile
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from fieldapp import indicators as ind
from fieldapp import report
from fieldapp.store import Store

from .conftest import elder_data, make_id, visit_data

Y = 2025
COMMUNITIES = """code,street_code,name_zh,pop_60,pop_80
321202001901,321202001,东一社区,1000,150
321202001902,321202001,东二社区,500,80
321202002901,321202002,西一社区,2000,300
"""


@pytest.fixture
def db(tmp_path: Path) -> Store:
    s = Store.open(tmp_path / "r.db")
    path = tmp_path / "c.csv"
    path.write_text(COMMUNITIES, encoding="utf-8")
    s.import_communities(path)
    s.setup_device(street_code="321202001", community_code="321202001901", worker="周红")
    return s


def _elder(
    s: Store,
    name: str,
    seq: int,
    community: str = "321202001901",
    born: date = date(1950, 1, 1),
    **kw: object,
) -> str:
    return s.create(
        "elder",
        elder_data(name=name, id_number=make_id(born, True, seq), community_code=community, **kw),
    ).record_id


def _build(s: Store) -> report.Report:
    s.conn.execute(
        "UPDATE device SET role = 'district'"
    )  # the report reads any database with the schema
    return report.build(s.conn, Y, today=date(2026, 11, 30))


def test_coverage_counts_distinct_active_elders_visited_in_person(db: Store) -> None:
    a = _elder(db, "甲", 1)
    b = _elder(db, "乙", 2)
    c = _elder(db, "丙", 3, community="321202002901")
    phone = _elder(db, "电话", 4)
    moved = _elder(db, "迁出", 5)
    deleted_visit = _elder(db, "删", 6)
    for eid in (a, a, b, c, moved):
        db.create("home_visit", visit_data(eid, visit_date=f"{Y}-03-0{1 + len(eid) % 5}"))
    db.create("home_visit", visit_data(phone, visit_date=f"{Y}-03-01", contact_mode="phone"))
    db.create(
        "home_visit", visit_data(a, visit_date=f"{Y - 1}-12-31")
    )  # the year before: not this year's
    gone = db.create("home_visit", visit_data(deleted_visit, visit_date=f"{Y}-05-01")).record_id
    db.delete("home_visit", gone)
    db.update(
        "elder",
        moved,
        elder_data(name="迁出", id_number=make_id(date(1950, 1, 1), True, 5), status="moved_out"),
    )
    r = _build(db)
    d = r.get("321202", "home_service_coverage")
    assert (d.numerator, d.denominator) == (3, 3500) and d.value == round(300 / 3500, 2)
    assert d.target == 18 and d.status == "behind"
    east = r.get("321202001", "home_service_coverage")
    assert (east.numerator, east.denominator) == (2, 1500)
    assert r.get("321202001902", "home_service_coverage").numerator == 0


def test_assessment_coverage_of_those_80_at_the_end_of_the_year(db: Store) -> None:
    from .test_models import base

    turns80 = _elder(db, "年内满80", 1, born=date(Y - 80, 12, 31))
    is79 = _elder(db, "79岁", 2, born=date(Y - 79, 6, 1))
    old = _elder(db, "老", 3, born=date(1930, 1, 1))
    stale = _elder(db, "过期", 4, born=date(1935, 1, 1))
    _elder(db, "未评估", 5, born=date(1936, 1, 1), community="321202002901")
    for eid, day in (
        (turns80, f"{Y}-06-01"),
        (is79, f"{Y}-06-01"),
        (old, f"{Y}-01-01"),
        (stale, f"{Y - 1}-11-30"),
    ):
        db.create("assessment", base("assessment") | {"elder_id": eid, "assess_date": day})
    r = _build(db)
    d = r.get("321202", "assessment_80_coverage")
    assert (d.numerator, d.denominator) == (
        2,
        530,
    )  # 满80 and 老; the 13-month-old one does not count
    assert d.extra and d.extra["registered_80"] == 4
    assert d.target == 100 and d.status == "behind"


def test_retrofits_since_2023_on_top_of_the_baseline(db: Store) -> None:
    from .test_models import base

    def retro(eid: str, accept: str | None, status: str = "accepted") -> None:
        day = accept or f"{Y}-01-01"
        db.create(
            "retrofit",
            base("retrofit")
            | {
                "elder_id": eid,
                "status": status,
                "project_year": int(day[:4]),
                "apply_date": day,
                "assess_date": day,
                "start_date": day,
                "accept_date": accept,
            },
        )

    retro(_elder(db, "今年", 1), f"{Y}-04-01")
    retro(_elder(db, "去年", 2), f"{Y - 1}-04-01")
    retro(_elder(db, "基数年", 3), "2022-06-01")
    retro(_elder(db, "施工中", 4), None, status="in_progress")
    twice = _elder(db, "两次", 5)
    retro(twice, f"{Y}-02-01")
    retro(twice, f"{Y}-09-01")  # one household, counted once
    r = _build(db)
    d = r.get("321202", "retrofit_households")
    assert d.numerator == 900 + 3 and d.target == 1500 and d.status == "behind"
    assert (
        r.get("321202001901", "retrofit_households").numerator == 3
        and r.get("321202001901", "retrofit_households").target is None
    )


def test_meal_servings_per_month_and_volunteer_events_done(db: Store) -> None:
    from .test_models import base

    point = db.create("meal_point", base("meal_point") | {"capacity_daily": 40}).record_id
    for day, n in ((f"{Y}-01-05", 10), (f"{Y}-02-05", 14), (f"{Y - 1}-12-05", 99)):
        db.create(
            "meal_count", {"point_id": point, "service_date": day, "meal": "lunch", "dine_in": n}
        )
    v = db.create("volunteer", base("volunteer")).record_id
    ev = base("volunteer_event") | {
        "event_date": f"{Y}-03-03",
        "participants": [{"volunteer_id": v, "hours": 2}],
    }
    db.create("volunteer_event", ev)
    db.create("volunteer_event", ev | {"status": "cancelled", "participants": []})
    db.create("volunteer_event", ev | {"event_date": f"{Y - 1}-03-03"})
    r = _build(db)
    m = r.get("321202", "meal_monthly_servings")
    assert (m.numerator, m.denominator, m.value) == (24, 12, 2.0) and m.target == 5000
    assert m.extra and m.extra["capacity"] == 80  # 40 a day × 2 days served
    e = r.get("321202", "volunteer_events")
    assert e.numerator == 1 and e.target == 24 and e.extra and e.extra["hours"] == 2


def test_csv_has_bom_exact_columns_and_rounded_values(db: Store, tmp_path: Path) -> None:
    _elder(db, "甲", 1)
    r = _build(db)
    out = tmp_path / "r.csv"
    report.write_csv(r, out, report.levels_for("community"))
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    assert list(rows[0]) == report.CSV_COLUMNS
    assert len(rows) == (1 + 2 + 3) * 5
    cov = next(
        x
        for x in rows
        if x["area_level"] == "district" and x["indicator"] == "home_service_coverage"
    )
    assert (cov["numerator"], cov["denominator"], cov["value"], cov["target"], cov["unit"]) == (
        "0",
        "3500",
        "0.00",
        "18",
        "%",
    )
    meal = next(
        x
        for x in rows
        if x["area_level"] == "community" and x["indicator"] == "meal_monthly_servings"
    )
    assert meal["target"] == ""
    assert {x["indicator"] for x in rows} == set(report.INDICATORS)


def test_targets_come_from_the_plan_for_the_year(db: Store) -> None:
    r = _build(db)
    assert r.get("321202", "home_service_coverage").target == 18
    assert (
        report.build(db.conn, 2026, today=date(2026, 11, 30))
        .get("321202", "home_service_coverage")
        .target
        is None
    )


def test_xlsx_has_the_summary_the_level_sheets_the_trend_and_charts(
    db: Store, tmp_path: Path
) -> None:
    _elder(db, "甲", 1)
    r = _build(db)
    out = tmp_path / "r.xlsx"
    report.write_xlsx(r, out, db.conn, today=date(2026, 11, 30))
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["指标汇总", "全区", "街道", "社区", "月度趋势"]
    ws = wb["指标汇总"]
    assert ws.cell(3, 2).value == "指标" and ws.cell(3, 3).value == "2022年基数"
    assert (
        ws.cell(4, 2).value == "居家上门服务覆盖率"
        and ws.cell(4, 3).value == 16
        and ws.cell(4, 4).value == 18
    )
    assert ws.cell(5, 3).value == 900 and ws.cell(5, 4).value == 1500
    assert wb["社区"].max_row == 1 + 3 * 5
    assert wb["月度趋势"].max_row == 13
    names = zipfile.ZipFile(out).namelist()
    assert sum(n.startswith("xl/charts/chart") for n in names) == 2


def test_cached_report_equals_a_fresh_one_and_is_dropped_when_the_data_changes(db: Store) -> None:
    a = _elder(db, "甲", 1)
    db.create("home_visit", visit_data(a, visit_date=f"{Y}-03-01"))
    db.conn.execute("UPDATE device SET role = 'district'")
    first = report.build_cached(db.conn, Y)
    assert [f.numerator for f in first.figures] == [
        f.numerator for f in report.build(db.conn, Y).figures
    ]
    assert db.conn.execute("SELECT count(*) FROM report_cache").fetchone()[0] == 1
    again = report.build_cached(db.conn, Y)
    assert again.figures == first.figures and again.period == first.period
    db.conn.execute("UPDATE device SET role = 'device'")
    b = _elder(db, "乙", 2)
    db.create("home_visit", visit_data(b, visit_date=f"{Y}-04-01"))
    fresh = report.build_cached(db.conn, Y)
    assert fresh.get("321202", "home_service_coverage").numerator == 2


def _visit(s: Store, eid: str, day: str, mode: str = "in_person") -> None:
    s.create("home_visit", visit_data(eid, visit_date=day, contact_mode=mode))


def test_overdue_and_hardship_are_judged_at_the_as_of_date(db: Store) -> None:
    """A past year is judged at 31 Dec: a high-risk elder (7 days) last visited on 24 Dec is due on
    the 31st, not overdue; visited on the 23rd, overdue. Phone visits reset no clock."""
    on_time = _elder(db, "按时", 1)
    boundary = _elder(db, "正好到期", 2)
    late = _elder(db, "逾期", 3, community="321202002901")
    _elder(db, "从未", 4, hardship_tags=[], visit_risk="general")
    phoned = _elder(db, "电话", 5, visit_risk="general")
    gone = _elder(db, "迁出", 6)
    _visit(db, on_time, f"{Y}-12-28")
    _visit(db, boundary, f"{Y}-12-24")
    _visit(db, late, f"{Y}-12-23")
    _visit(db, phoned, f"{Y}-12-20", mode="phone")
    db.update(
        "elder",
        gone,
        elder_data(name="迁出", id_number=make_id(date(1950, 1, 1), True, 6), status="moved_out"),
    )
    op = _build(db).operational
    assert (op["hardship_month"], op["hardship_elders"], op["hardship_visited"]) == (
        f"{Y}-12",
        4,
        3,
    )
    assert op["overdue_followups"] == 3  # late, never, phoned
    assert (op["visits"], op["workers"], op["by_worker"]) == (4, 1, [("周红", 4)])
    per = ind.elder_counts(db.conn, date(Y, 1, 1), date(Y, 12, 31), date(Y, 12, 31))
    assert per["321202002901"] == ind.ElderCounts(1, 1, 1, 1)
    assert per["321202001901"] == ind.ElderCounts(2, 3, 2, 2)


def test_trend_month_by_month_ends_on_the_year_figures(db: Store) -> None:
    from .test_models import base

    a, b = _elder(db, "甲", 1), _elder(db, "乙", 2)
    _visit(db, a, f"{Y}-01-10")
    _visit(db, a, f"{Y}-03-01")
    _visit(db, b, f"{Y}-03-02")
    day = f"{Y}-02-10"
    db.create(
        "retrofit",
        base("retrofit")
        | {
            "elder_id": a,
            "status": "accepted",
            "project_year": Y,
            "apply_date": day,
            "assess_date": day,
            "start_date": day,
            "accept_date": day,
        },
    )
    point = db.create("meal_point", base("meal_point") | {"capacity_daily": 40}).record_id
    for d, n in ((f"{Y}-01-05", 10), (f"{Y}-02-05", 14)):
        db.create(
            "meal_count", {"point_id": point, "service_date": d, "meal": "lunch", "dine_in": n}
        )
    v = db.create("volunteer", base("volunteer")).record_id
    db.create(
        "volunteer_event",
        base("volunteer_event")
        | {"event_date": f"{Y}-03-03", "participants": [{"volunteer_id": v, "hours": 2}]},
    )
    rows = report.trend(db.conn, Y, today=date(2026, 11, 30))
    assert [r["month"] for r in rows] == [f"{Y}-{m:02d}" for m in range(1, 13)]
    cells = [
        (r["coverage_pct"], r["retrofit_households"], r["meal_servings"], r["volunteer_events"])
        for r in rows[:4]
    ]
    assert cells == [(0.03, 900, 10, 0), (0.03, 901, 14, 0), (0.06, 901, 0, 1), (0.06, 901, 0, 0)]
    year = _build(db)
    assert rows[-1]["coverage_pct"] == year.get("321202", "home_service_coverage").value
    assert rows[-1]["retrofit_households"] == year.get("321202", "retrofit_households").value
    assert len(report.trend(db.conn, Y, today=date(Y, 3, 15))) == 3  # no month not yet begun


def test_one_community_counted_alone_equals_its_row_of_the_district(db: Store) -> None:
    """The device's dashboard counts its own community with community=; the district counts all
    in one pass: the same function, so the same numbers."""
    from .test_models import base

    a = _elder(db, "甲", 1, born=date(1940, 1, 1))
    c = _elder(db, "丙", 2, community="321202002901", born=date(1941, 1, 1))
    _visit(db, a, f"{Y}-05-01")
    _visit(db, c, f"{Y}-06-01")
    db.create("assessment", base("assessment") | {"elder_id": c, "assess_date": f"{Y}-06-01"})
    p = ind.period(Y, today=date(2026, 11, 30))
    every = ind.counts(db.conn, p, p.end)
    assert set(every) == {"321202001901", "321202002901"}
    for code, counted in every.items():
        assert ind.counts(db.conn, p, p.end, community=code) == {code: counted}
    assert every["321202002901"].assessed_80 == 1 and every["321202001901"].registered_80 == 1
    assert ind.counts(db.conn, p, p.end, community="321202001902") == {}
    total = ind.Counts.total(every.values())
    assert (total.covered, total.registered_80, total.assessed_80) == (2, 2, 1)


def test_terminal_table_cells_and_operational_line(db: Store) -> None:
    a = _elder(db, "甲", 1)
    _visit(db, a, f"{Y}-12-30")
    r = _build(db)
    cells = list(report.table_cells(r, report.levels_for("district"), "zh"))
    assert len(cells) == 5
    assert cells[0] == (
        "海陵区",
        "居家上门服务覆盖率",
        "1",
        "3500",
        "0.03%",
        "18",
        "未达标",
        "behind",
    )
    assert cells[1][0] == "" and cells[1][1:4] == ("居家适老化改造户数（累计）", "900", "")
    line = report.operational_line(r.operational, "en")
    assert line.startswith(
        "1 visits by 1 workers (1.0 each); hardship elders visited 1/1 (2025-12)"
    )


def test_targets_of_the_year_and_those_in_force_after_the_plan(db: Store) -> None:
    assert ind.targets(db.conn, 2025)["home_service_coverage"] == ind.Target(
        18, "%", ">=", "binding"
    )
    assert ind.targets(db.conn, 2026) == {}
    in_force = ind.targets_in_force(db.conn, 2026)
    assert in_force["home_service_coverage"] == (
        2025,
        ind.targets(db.conn, 2025)["home_service_coverage"],
    )
    assert (
        in_force["retrofit_households"][0] == 2025
        and in_force["retrofit_households"][1].value == 1500
    )
    assert ind.targets_in_force(db.conn, 2021) == {}
    assert ind.retrofit_baseline(db.conn) == 900
