"""The district report on a small hand-made database: every numerator and denominator computed by hand."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

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


def test_coverage_counts_distinct_elders_visited_in_person_while_active(db: Store) -> None:
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
    # SPEC §7 v2: the elder who moved out today still counts for the visit made in March while
    # active; the phone visit, last year's visit and the deleted visit do not count
    d = r.get("321202", "home_service_coverage")
    assert (d.numerator, d.denominator) == (4, 3500) and d.value == round(400 / 3500, 2)
    assert d.target == 18 and d.status == "behind"
    east = r.get("321202001", "home_service_coverage")
    assert (east.numerator, east.denominator) == (3, 1500)
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
