"""The roster import dialog driven with Pilot: check shows the summary and masked first rows, import saves the good rows."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import openpyxl
from textual.app import App
from textual.widgets import Button, DataTable, Input, Static

from fieldapp.kinds import mask_id_number
from fieldapp.store import Store
from fieldapp.tui.screens.roster import RosterImportScreen

from ..conftest import COMMUNITY, STREET, make_id

WANG = make_id(date(1944, 3, 12), male=True)


def _roster(path: Path) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["姓名", "身份证号码", "家庭住址", "独居"])
    ws.append(["王建国", WANG, "示例路8号", "是"])
    ws.append(["李秀英", "", "示例路9号", "否"])
    wb.save(path)
    return path


async def test_check_then_import_saves_the_good_rows(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    with Store.open(db) as s:
        s.setup_device(street_code=STREET, community_code=COMMUNITY, worker="周红")
    roster = _roster(tmp_path / "r.xlsx")
    results: list[int | None] = []
    app: App[None] = App()
    async with app.run_test(size=(110, 40)) as pilot:
        app.push_screen(RosterImportScreen(db), results.append)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RosterImportScreen)
        screen.query_one("#roster-path", Input).value = str(roster)
        await pilot.click("#roster-check")
        await app.workers.wait_for_complete()
        await pilot.pause()
        summary = str(screen.query_one("#roster-summary", Static).content)
        assert summary.startswith(
            "读取 2 行（工作表「Sheet」，表头在第 1 行）：可导入 1 行，已在库中 0 行，有问题 1 行。"
        )
        assert "第3行 身份证号：请填写身份证号" in summary
        table = screen.query_one("#roster-preview", DataTable)
        assert table.row_count == 2
        first = [str(c) for c in table.get_row_at(0)]
        assert first == ["2", "王建国", mask_id_number(WANG), "示例路8号", "是"]
        assert WANG not in first[2] and "*" in first[2]
        assert str(table.get_row_at(1)[0]) == "3 ✗"
        assert not screen.query_one("#roster-import", Button).disabled
        await pilot.click("#roster-import")
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert results == [1]
    with Store.open(db) as s:
        rows = s.conn.execute("SELECT name, living_status FROM elder").fetchall()
        assert [tuple(r) for r in rows] == [("王建国", "alone")]


async def test_a_file_that_is_not_a_spreadsheet_is_refused_on_screen(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    with Store.open(db) as s:
        s.setup_device(street_code=STREET, community_code=COMMUNITY, worker="周红")
    bad = tmp_path / "photo.xlsx"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    app: App[None] = App()
    async with app.run_test(size=(110, 40)) as pilot:
        app.push_screen(RosterImportScreen(db))
        await pilot.pause()
        screen = app.screen
        screen.query_one("#roster-path", Input).value = str(bad)
        await pilot.click("#roster-check")
        await app.workers.wait_for_complete()
        await pilot.pause()
        summary = str(screen.query_one("#roster-summary", Static).content)
        assert summary == "未导入：这不是表格文件：请导入 Excel（.xlsx）或 CSV 文件"
        assert screen.query_one("#roster-import", Button).disabled
