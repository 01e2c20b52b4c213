"""SPEC §7 v2 on a hand-made district database: each edge of issue 12 placed by hand and every
figure checked exactly (persons per area, status as of a date, the `≤` of overdue, meals from the
data start, the bundle grid, targets after 2025, the XLSX an official pastes)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import openpyxl
import pytest

from fieldapp import indicators as ind
from fieldapp import report
from fieldapp.sqlite import sqlite3
from fieldapp.store import Store
from fieldapp.targets import TargetError, set_target

from . import report_db as rd
from .report_db import A, B, C

Y = 2025
END = date(Y, 12, 31)
TODAY = date(2026, 11, 30)
S1, S2, D = "321202001", "321202002", ind.DISTRICT_CODE
ELDERS: dict[int, str] = {}  # the fixture's elders by number


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    c = rd.district_db(tmp_path / "d.db")
    e: dict[int, str] = {}
    # visited in March, died in June: counts for 2025
    e[1] = rd.elder(c, A, "1950-01-01", status="deceased", status_date="2025-06-10")
    rd.visit(c, e[1], "2025-03-05", A)
    # 59 on 31 Dec: visited, never counted
    e[2] = rd.elder(c, A, "1966-06-01")
    rd.visit(c, e[2], "2025-11-20", A)
    # two records of one person, merged by the district: one person
    e[3] = rd.elder(c, A, "1950-02-02")
    e[4] = rd.elder(
        c, A, "1950-02-02", status="cancelled", status_date="2025-08-01", merged_into=e[3]
    )
    rd.visit(c, e[3], "2025-05-01", A)
    rd.visit(c, e[4], "2025-04-01", A)
    # transferred from A to C: counts in A and in C, once in the district
    e[5] = rd.elder(c, C, "1950-03-03", living_status="empty_nest")
    rd.visit(c, e[5], "2025-02-01", A)
    rd.visit(c, e[5], "2025-09-01", C)
    # cancelled, not merged: never counts
    e[6] = rd.elder(c, A, "1950-04-04", status="cancelled", status_date="2025-02-01")
    rd.visit(c, e[6], "2025-01-10", A)
    # 独居 visited by phone and video only: not covered, but a visited hardship elder
    e[7] = rd.elder(c, B, "1950-05-05", living_status="alone")
    rd.visit(c, e[7], "2025-12-03", B, "phone")
    rd.visit(c, e[7], "2025-12-10", B, "video")
    # the ≤ of overdue: high risk (7 days), due on 31 Dec = overdue; due on 1 Jan = not
    e[8] = rd.elder(c, B, "1950-06-06", visit_risk="high", hardship_tags='["dibao"]')
    rd.visit(c, e[8], "2025-12-24", B)
    e[9] = rd.elder(c, B, "1950-07-07", visit_risk="high", hardship_tags='["other"]')
    rd.visit(c, e[9], "2025-12-25", B)
    # 80+: 81, exactly 80 on 31 Dec (assessed on the window's first day), 79, unassessed 80+
    e[10] = rd.elder(c, A, "1944-06-01")
    rd.assessment(c, e[10], "2025-01-15", A, "mild")
    e[11] = rd.elder(c, A, "1945-12-31")
    rd.visit(c, e[11], "2025-12-30", A, "phone")
    rd.assessment(c, e[11], "2024-12-31", A, "moderate")
    e[12] = rd.elder(c, A, "1946-01-01")
    rd.visit(c, e[12], "2025-12-30", A, "phone")
    rd.assessment(c, e[12], "2025-03-01", A, "severe")
    e[13] = rd.elder(c, C, "1940-01-01")
    rd.visit(c, e[13], "2025-12-30", C, "video")
    for i in (10,):
        rd.visit(c, e[i], "2025-12-30", A, "video")
    # retrofits: the merged person's two acceptances are one household
    rd.retrofit(c, e[3], "2024-05-01", A, "subsidized")
    rd.retrofit(c, e[4], "2025-03-01", A, "self_funded")
    rd.retrofit(c, e[10], "2025-06-01", A, "subsidized")
    # a meal point that opened in May: a day of 0 does not count as served
    p = rd.meal_point(c, A, 50)
    rd.meal(c, p, "2025-05-10", 30)
    rd.meal(c, p, "2025-05-10", 10, "dinner")
    rd.meal(c, p, "2025-06-01", 0)
    rd.meal(c, p, "2025-07-01", 20)
    # A's laptop enrolled in March, revoked in October; May's bundle never came
    rd.enrol(c, "dev-a", "2025-03-15T10:00:00+08:00", "2025-10-02T10:00:00+08:00")
    for seq, m in enumerate(("03", "04", "06", "07", "08", "09"), start=1):
        rd.bundle(c, "dev-a", A, f"2025-{m}", seq)
    ELDERS.clear()
    ELDERS.update(e)
    return c


def _fig(r: report.Report, area: str, name: str) -> tuple[float, float | None, float | None]:
    f = r.get(area, name)
    return f.numerator, f.denominator, f.value


def test_coverage_counts_persons_by_the_visits_community_as_of_the_visit(
    conn: sqlite3.Connection,
) -> None:
    cov = ind.covered(conn, date(Y, 1, 1), END)
    assert cov == {A: 3, B: 2, C: 1, S1: 5, S2: 1, D: 5}  # district 5, not 3 + 2 + 1
    r = report.build(conn, Y, today=TODAY)
    assert _fig(r, D, "home_service_coverage") == (5, 3500, round(500 / 3500, 2))
    assert _fig(r, S1, "home_service_coverage") == (5, 1500, round(500 / 1500, 2))


def test_overdue_uses_the_due_lists_le_and_the_device_agrees(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    # A: e3 (merged visits: last 1 May + 90 days), e11 and e12 (phone only: never visited)
    assert ind.overdue(conn, END) == {A: 3, B: 1, C: 1, S1: 4, S2: 1, D: 5}
    conn.close()
    store = Store.open(tmp_path / "d.db", create=False)
    for community, n in ((A, 3), (B, 1), (C, 1)):
        due = [d for d in store.due_list(END, community_code=community) if d.reason == "visit"]
        assert len(due) == n
    e8 = [d for d in store.due_list(END, community_code=B) if d.reason == "visit"][0]
    assert (e8.due_date, e8.days_overdue) == ("2025-12-31", 0)


def test_the_overdue_list_is_exactly_the_persons_overdue_counts(conn: sqlite3.Connection) -> None:
    late = {c: ind.overdue_persons(conn, END, c) for c in (A, B, C)}
    assert {c: len(x) for c, x in late.items()} == {A: 3, B: 1, C: 1}
    assert [(p.id, p.due_date, p.last_visit) for p in late[B]] == [
        (ELDERS[8], "2025-12-31", "2025-12-24")  # due on the as-of date: on the list (≤)
    ]
    # the merged person once, under the surviving record, with the merged record's visit
    a = {p.id: (p.due_date, p.last_visit) for p in late[A]}
    assert a == {
        ELDERS[3]: ("2025-07-30", "2025-05-01"),
        ELDERS[11]: ("2025-12-31", None),
        ELDERS[12]: ("2025-12-31", None),
    }


def test_hardship_persons_visited_by_any_mode_in_the_month(conn: sqlite3.Connection) -> None:
    h = ind.hardship(conn, END)
    assert h[D] == ind.Hardship(3, 2) and h[B] == ind.Hardship(2, 2) and h[C] == ind.Hardship(1, 0)
    op = report.build(conn, Y, today=TODAY).operational
    assert (op["hardship_elders"], op["hardship_visited"], op["overdue_followups"]) == (3, 2, 5)


def test_80_plus_window_ends_on_the_as_of_date_both_ends_included(conn: sqlite3.Connection) -> None:
    a = ind.assessed_80(conn, END)
    assert (
        a[A] == ind.Assessed80(2, 2)
        and a[C] == ind.Assessed80(1, 0)
        and a[D] == ind.Assessed80(3, 2)
    )
    assert ind.ability_mix(conn, END) == {"mild": 1, "moderate": 1}
    # a day later the 31 Dec 2024 assessment has left the window, and e12 is 80 on 31 Dec 2026
    assert ind.assessed_80(conn, date(2026, 1, 1))[D] == ind.Assessed80(4, 2)
    r = report.build(conn, Y, today=TODAY)
    assert _fig(r, D, "assessment_80_coverage") == (2, 530, round(200 / 530, 2))


def test_retrofits_count_households_new_ones_and_funding(conn: sqlite3.Connection) -> None:
    r = report.build(conn, Y, today=TODAY)
    f = r.get(D, "retrofit_households")
    assert f.numerator == 902 and f.extra == {
        "accepted_since_2023": 2,
        "new_in_year": 2,
        "baseline_2022": 900,
    }
    assert r.operational["retrofit_by_funding"] == {"subsidized": 1}
    assert r.operational["retrofit_new"] == 1


def test_meals_average_from_the_data_start_and_capacity_counts_served_days(
    conn: sqlite3.Connection,
) -> None:
    r = report.build(conn, Y, today=TODAY)
    assert _fig(r, D, "meal_monthly_capacity") == (100, 8, 12.5)  # 50 × 2 days, May–Dec
    assert _fig(r, D, "meal_monthly_servings") == (60, 8, 7.5)
    assert r.get(D, "meal_monthly_capacity").target == 5000
    assert r.get(D, "meal_monthly_servings").target is None
    assert _fig(r, B, "meal_monthly_capacity") == (0, None, None)
    assert r.meal_start == "2025-05" and "助餐数据起始：2025-05" in r.notes


def test_a_district_whose_meals_start_in_december(tmp_path: Path) -> None:
    c = rd.district_db(tmp_path / "dec.db")
    p = rd.meal_point(c, C, 40)
    rd.meal(c, p, "2025-12-01", 300)
    rd.meal(c, p, "2025-12-02", 200)
    r = report.build(c, Y, today=TODAY)
    assert _fig(r, D, "meal_monthly_capacity") == (80, 1, 80)
    assert _fig(r, D, "meal_monthly_servings") == (500, 1, 500)
    months = report.trend(c, Y, as_of=END)
    assert [m["meal_servings"] for m in months] == [None] * 11 + [500]


def test_marking_an_elder_deceased_today_leaves_2025_unchanged(conn: sqlite3.Connection) -> None:
    before = report.build(conn, Y, today=TODAY)
    e = ELDERS
    for i in (5, 8, 10, 11):
        conn.execute(
            "UPDATE elder SET status = 'deceased', status_date = ? WHERE id = ?",
            (TODAY.isoformat(), e[i]),
        )
    after = report.build(conn, Y, today=TODAY)
    assert after.figures == before.figures
    assert after.operational == before.operational


def test_bundle_grid_received_missing_not_expected(conn: sqlite3.Connection) -> None:
    grid = report.build(conn, Y, today=TODAY).operational["bundles"]
    assert grid["months"][0] == "2025-01" and len(grid["months"]) == 12
    cells = dict(grid["rows"])[A]
    assert (
        cells
        == ["not_expected"] * 2
        + ["received"] * 2
        + ["missing"]
        + ["received"] * 4
        + ["missing"]
        + ["not_expected"] * 2
    )
    dev = report.build(conn, Y, today=TODAY).operational["devices"]
    assert [(d["device"], d["last_period"], d["app_version"]) for d in dev] == [
        ("dev-a-笔记本", "2025-09", "1.6")
    ]


def test_2026_uses_the_2025_targets_until_the_district_sets_its_own(
    conn: sqlite3.Connection,
) -> None:
    r = report.build(conn, 2026, today=TODAY)
    f = r.get(D, "home_service_coverage")
    assert (f.target, f.status, f.note) == (18, "behind", "沿用2025年目标")
    s = r.get(S1, "home_service_coverage")
    assert (s.target, s.status) == (18, "behind")  # rate rows carry the district's target
    set_target(conn, "home_service_coverage", 2026, 0.01)
    r = report.build(conn, 2026, today=TODAY)
    f = r.get(D, "home_service_coverage")
    assert (f.target, f.status, f.note) == (0.01, "behind", "区级设定目标")
    with pytest.raises(TargetError):
        set_target(conn, "home_service_coverage", 2025, 30)  # the plan's year stays the plan's
    assert ind.targets_in_force(conn, 2026)["volunteer_events"].year == 2025


def test_as_of_date_ends_the_window_and_is_printed(conn: sqlite3.Connection) -> None:
    r = report.build(conn, Y, today=TODAY, as_of=date(Y, 6, 30))
    assert r.as_of == date(Y, 6, 30) and r.notes[0] == "统计截至：2025-06-30"
    assert r.get(D, "home_service_coverage").numerator == 3  # e1, e3, e5 by 30 June
    assert r.get(D, "meal_monthly_capacity").denominator == 2  # May and June


def test_xlsx_types_and_chinese_headers(conn: sqlite3.Connection, tmp_path: Path) -> None:
    r = report.build(conn, Y, today=TODAY)
    path = tmp_path / "r.xlsx"
    report.write_xlsx(r, path, conn)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["指标汇总", "全区", "街道", "社区", "月度趋势", "数据包接收"]
    heads = {"指标汇总": 3, "全区": 1, "街道": 1, "社区": 1, "月度趋势": 1, "数据包接收": 1}
    for name, row in heads.items():
        for cell in wb[name][row]:
            if cell.value is not None:
                assert any("\u4e00" <= ch <= "\u9fff" for ch in str(cell.value)), (name, cell.value)
    summary = wb["指标汇总"]
    assert summary.cell(4, 2).value == "居家上门服务覆盖率"
    assert summary.cell(4, 6).value == 0.1 and summary.cell(4, 6).number_format == "0.0"
    assert summary.cell(4, 10).value == 5 and isinstance(summary.cell(4, 10).value, int)
    assert summary.cell(4, 9).value == "未达标"
    street = wb["街道"]
    assert [c.value for c in street[2]][:8] == [
        "街道",
        S1,
        "城东街道",
        "居家上门服务覆盖率",
        "home_service_coverage",
        5,
        1500,
        0.3,
    ]
    for row in wb["社区"].iter_rows(min_row=2):
        assert isinstance(row[5].value, int | float) and row[10].value in (
            "达标",
            "未达标",
            "无目标",
        )
    trend = wb["月度趋势"]
    assert trend.cell(2, 4).value is None and trend.cell(6, 4).value == 40  # blank before May
    import zipfile

    with zipfile.ZipFile(path) as z:
        assert sum(n.startswith("xl/charts/chart") for n in z.namelist()) == 2


def test_csv_keeps_ten_columns_and_adds_note(conn: sqlite3.Connection, tmp_path: Path) -> None:
    r = report.build(conn, 2026, today=TODAY)
    path = tmp_path / "r.csv"
    report.write_csv(r, path, report.levels_for("district"))
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].split(",") == [*report.CSV_COLUMNS[:10], "note"]
    assert lines[1].endswith(",沿用2025年目标")


def test_terminal_street_filter_and_rows_with_nothing_left_out(conn: sqlite3.Connection) -> None:
    r = report.build(conn, Y, today=TODAY)
    rows = list(report.table_cells(r, report.levels_for("community"), "zh", street=S2))
    areas = [x[0] for x in rows if x[0]]
    assert areas == ["海陵区", "城西街道", "西一社区"]
    west = [x[1] for x in rows[rows.index(next(x for x in rows if x[0] == "西一社区")) :]]
    assert west == ["居家上门服务覆盖率"]  # C's 80+ count is 0: nothing to report


def _same(a: report.Report, b: report.Report) -> bool:
    return (a.figures, a.operational, a.notes) == (b.figures, b.operational, b.notes)


def test_the_cached_report_is_a_fresh_one_after_every_change_it_depends_on(
    conn: sqlite3.Connection,
) -> None:
    """The supervisor's `report` and dashboard read report_cache; each change below used to leave
    it stale (it followed versions, decisions and the populations only)."""
    year = date.today().year

    def fresh() -> report.Report:
        return report.build(conn, year)

    changes = {
        "targets set": lambda: set_target(conn, "home_service_coverage", year, 0.01),
        "a laptop enrolled": lambda: rd.enrol(conn, "dev-b", f"{year}-01-02T10:00:00+08:00"),
        "a laptop revoked": lambda: conn.execute(
            "UPDATE enrolled_devices SET revoked_at = ? WHERE device_id = 'dev-b'",
            (f"{year}-02-01T10:00:00+08:00",),
        ),
        "a bundle received": lambda: rd.bundle(conn, "dev-b", A, f"{year}-01", 1),
        "a community renamed": lambda: conn.execute(
            "UPDATE ref_community SET name_zh = '东一新社区' WHERE code = ?", (A,)
        ),
        "a rule changed": lambda: conn.execute(
            'UPDATE ref_rule SET value = \'{"high": 3, "priority": 14, "general": 30}\''
            " WHERE key = 'visit_frequency_days'"
        ),
    }
    before = report.build_cached(conn, year)
    assert _same(before, fresh())
    for what, change in changes.items():
        change()
        assert _same(report.build_cached(conn, year), fresh()), what
    assert not _same(before, fresh())
    assert report.build_cached(conn, year).get(D, "home_service_coverage").target == 0.01


def test_the_report_command_reads_the_cache_and_fresh_recomputes(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from fieldapp.cli import main

    path = conn.execute("PRAGMA database_list").fetchone()[2]
    conn.commit()
    args = ["report", "--db", path, "--year", str(Y), "--by", "community"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    kept = conn.execute("SELECT year, month, lang FROM report_cache").fetchall()
    assert [tuple(r) for r in kept] == [(Y, 0, "zh")]
    conn.execute("UPDATE report_cache SET report = replace(report, '东一社区', '缓存里的名字')")
    conn.commit()
    cached = CliRunner().invoke(main, args)
    assert "缓存里的名字" in cached.output  # read from the cache, not recomputed
    fresh = CliRunner().invoke(main, [*args, "--fresh"])
    assert fresh.output == first.output and "缓存里的名字" not in fresh.output


@pytest.mark.parametrize("damage", ["not json", "wrong type", "missing key"])
def test_a_kept_report_that_cannot_be_read_back_is_computed_again(
    conn: sqlite3.Connection, damage: str
) -> None:
    """A database from elsewhere, or a damaged row: its kept report is never printed as it is,
    and never a traceback (the state matches: only the payload is bad)."""
    import json

    from click.testing import CliRunner

    from fieldapp.cli import main

    path = conn.execute("PRAGMA database_list").fetchone()[2]
    args = ["report", "--db", path, "--year", str(Y), "--by", "community"]
    report.build_cached(conn, Y)
    payload = json.loads(conn.execute("SELECT report FROM report_cache").fetchone()[0])
    if damage == "wrong type":
        payload["figures"][0]["numerator"] = "三"
    elif damage == "missing key":
        del payload["operational"]["visits"]
    text = "{" if damage == "not json" else json.dumps(payload, ensure_ascii=False)
    conn.execute("UPDATE report_cache SET report = ?", (text,))
    conn.commit()
    kept = CliRunner().invoke(main, args)
    fresh = CliRunner().invoke(main, [*args, "--fresh"])
    assert kept.exit_code == 0 and kept.exception is None, kept.output
    assert kept.output == fresh.output
    assert report.build_cached(conn, Y).figures == report.build(conn, Y).figures
