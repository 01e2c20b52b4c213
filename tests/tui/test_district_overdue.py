"""Who is overdue, per community, in the supervisor's app only (SPEC §7): F3, drill down to a
community, its overdue elders listed with the ID number masked (SPEC §9); the aggregate CSV and
XLSX of the same report hold none of those names or ID numbers."""

from __future__ import annotations

import zipfile
from datetime import date, timedelta
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import DataTable, Label

from fieldapp import report
from fieldapp.kinds import mask_id_number
from fieldapp.tui.district import DistrictApp
from fieldapp.tui.district_report import IndicatorScreen

from .. import report_db as rd
from ..report_db import A, B

SIZE = (110, 40)
TODAY = date.today()
# name, ID number, community, risk, last in-person visit (days ago; None: never visited)
PEOPLE = [
    ("钱多多", "321202194501021234", A, "high", 8),  # 7-day rule: overdue by 1 day
    ("孙小美", "32120219480303567X", A, "general", None),  # never visited: due today (≤)
    ("赵晴天", "321202195004041111", A, "general", 3),  # visited 3 days ago: not overdue
    ("李远方", "321202195205052222", B, "high", 30),  # overdue, but in another community
]


def _district(path: Path) -> dict[str, str]:
    conn = rd.district_db(path)
    ids = {}
    for name, number, community, risk, ago in PEOPLE:
        born = f"{number[6:10]}-{number[10:12]}-{number[12:14]}"
        eid = rd.elder(conn, community, born, name=name, id_number=number, visit_risk=risk)
        if ago is not None:
            rd.visit(conn, eid, (TODAY - timedelta(days=ago)).isoformat(), community)
        ids[name] = eid
    conn.commit()
    conn.close()
    return ids


def _age(year: int, month: int, day: int) -> str:
    return str(TODAY.year - year - ((TODAY.month, TODAY.day) < (month, day)))


async def _open_community(app: DistrictApp, pilot: Pilot[None]) -> IndicatorScreen:
    await pilot.press("f3")
    await app.workers.wait_for_complete()
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, IndicatorScreen) and screen.loaded
    for row in (0, 0):  # street 321202001, then its first community A
        sub = screen.query_one("#ind-sub", DataTable)
        sub.focus()
        sub.move_cursor(row=row)
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert screen.path[-1] == ("community", A, "")
    return screen


async def test_a_community_lists_who_is_overdue_masked(tmp_path: Path) -> None:
    ids = _district(tmp_path / "d.db")
    app = DistrictApp(tmp_path / "d.db", lang="zh")
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_community(app, pilot)
        table = screen.query_one("#ind-overdue", DataTable)
        assert table.display and not screen.query_one("#ind-sub", DataTable).display
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert rows == [
            ["钱多多", mask_id_number("321202194501021234"), _age(1945, 1, 2), "高风险",
             (TODAY - timedelta(days=8)).isoformat(), (TODAY - timedelta(days=1)).isoformat(), "1"],
            ["孙小美", mask_id_number("32120219480303567X"), _age(1948, 3, 3), "一般",
             "从未探访", TODAY.isoformat(), "0"],
        ]  # fmt: skip
        assert [str(k.value) for k in table.rows] == [ids["钱多多"], ids["孙小美"]]
        head = str(screen.query_one("#ind-overdue-head", Label).render())
        assert f"截至 {TODAY.isoformat()}，共 2 人" in head
        # back to the street: the sub-areas again, no names
        await pilot.press("backspace")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not table.display and screen.query_one("#ind-sub", DataTable).row_count == 2


def test_aggregate_csv_and_xlsx_name_nobody(tmp_path: Path) -> None:
    _district(tmp_path / "d.db")
    from fieldapp import db

    conn = db.connect(tmp_path / "d.db", create=False)
    r = report.build(conn, TODAY.year)
    assert r.operational["overdue_followups"] == 3  # the three are in the report, as a count
    report.write_csv(r, tmp_path / "r.csv", report.levels_for("community"))
    report.write_xlsx(r, tmp_path / "r.xlsx", conn)
    conn.close()
    with zipfile.ZipFile(tmp_path / "r.xlsx") as z:
        texts = [z.read(n).decode("utf-8") for n in z.namelist() if n.endswith(".xml")]
    texts.append((tmp_path / "r.csv").read_text(encoding="utf-8-sig"))
    assert any("逾期" in x or "overdue" in x for x in texts)  # the files were read
    for name, number, *_ in PEOPLE:
        for text in texts:
            assert name not in text
            assert number not in text and mask_id_number(number) not in text
