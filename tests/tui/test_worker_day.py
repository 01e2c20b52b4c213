"""Issue 15, point by point: each trap driven with key presses on a real database."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable

from fieldapp.store import Store
from fieldapp.tui.app import FieldApp
from fieldapp.tui.forms import RecordForm, clock, from_id_number
from fieldapp.tui.screens.common import ConfirmDialog
from fieldapp.tui.screens.dashboard import DashboardScreen
from fieldapp.tui.screens.elders import ElderListScreen
from fieldapp.tui.screens.meals import MealGridScreen
from fieldapp.tui.screens.records import RecordListScreen

from ..conftest import COMMUNITY, elder_data, make_id, visit_data
from .capture import screen_text
from .helpers import worker_device

SIZE = (80, 24)


def _with_point(path: Path) -> None:
    with worker_device(path) as s:
        s.create(
            "meal_point",
            {
                "name": "东进食堂",
                "kind": "canteen",
                "capacity_daily": 80,
                "modes": ["dine_in"],
                "community_code": COMMUNITY,
            },
        )


async def test_1_digits_stay_in_the_grid_and_a_bad_date_saves_nothing(db_path: Path) -> None:
    _with_point(db_path)
    app = FieldApp(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await pilot.pause(0.2)
        assert isinstance(app.screen, MealGridScreen)
        for _ in range(6):  # Tab walks cells only: digits never reach the screen keys
            await pilot.press("tab", "5")
        await pilot.pause()
        assert isinstance(app.screen, MealGridScreen)
        grid = app.screen
        app.screen.query_one("#meal-date").focus()
        await pilot.press("end", "ctrl+u", "p", "ctrl+s")
        await pilot.pause()
        assert app.screen.query_one("#meal-date").value == ""  # type: ignore[attr-defined]
        with Store.open(db_path) as s:
            assert s.count("meal_count") == 0
        await pilot.press("f4")  # unsaved rows: leaving asks
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is grid
        text = screen_text(app)
        assert "补贴合计" in text and "1 首页" in text and "9 同步" in text


async def test_2_esc_asks_delete_names_the_record_and_u_restores(db_path: Path) -> None:
    with worker_device(db_path) as s:
        eid = s.create("elder", elder_data(name="王建国")).record_id
        vid = s.create("home_visit", visit_data(eid)).record_id
    app = FieldApp(db_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("3")
        await pilot.pause()
        assert isinstance(app.screen, RecordListScreen)
        await pilot.press("delete")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        assert "王建国" in app.screen.question
        await pilot.press("y")
        await pilot.pause()
        with Store.open(db_path) as s:
            assert s.count("home_visit") == 0
        await pilot.press("d", "u")
        await pilot.pause()
        with Store.open(db_path) as s:
            assert s.count("home_visit") == 1 and s.get("home_visit", vid).deleted is False
        await pilot.press("d", "e")
        await pilot.pause()
        assert isinstance(app.screen, RecordForm)
        app.screen.rows["worker"].control.focus()
        await pilot.press("end", "x", "escape")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)


async def test_2_del_on_the_elder_list_asks_with_the_name(db_path: Path) -> None:
    with worker_device(db_path) as s:
        s.create("elder", elder_data(name="李秀英"))
    app = FieldApp(db_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2", "delete")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog) and "李秀英" in app.screen.question
        await pilot.press("y")
        await pilot.pause()
    with Store.open(db_path) as s:
        assert s.count("elder") == 0


async def test_4_the_whole_due_list_pages(db_path: Path) -> None:
    from datetime import date

    with worker_device(db_path) as s:
        for i in range(70):
            s.create(
                "elder",
                elder_data(name=f"老人{i:02d}", id_number=make_id(date(1944, 3, 12), True, i + 1)),
            )
    app = FieldApp(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        assert isinstance(app.screen, DashboardScreen)
        table = app.screen.query_one(DataTable)
        # a page is what fits at 80×24: the table's 13 lines less its header (issue 20)
        assert table.row_count == app.screen.due_rows == table.size.height - 1 == 12
        assert app.screen.due_total == 140
        await pilot.press(*"]" * 11)  # the 12th page holds the last 140 - 11 × 12 = 8
        await pilot.pause()
        assert (app.screen.due_offset, table.row_count) == (132, 8)
        await pilot.press("]")  # no page after the last
        await pilot.pause()
        assert (app.screen.due_offset, table.row_count) == (132, 8)
        await pilot.press("[")
        await pilot.pause()
        assert (app.screen.due_offset, table.row_count) == (120, 12)


def test_5_clock_and_id_number_fill_in() -> None:
    assert clock("0900") == "09:00" and clock("9:05") == "09:05" and clock("ab") == "ab"
    from datetime import date

    assert from_id_number(make_id(date(1944, 3, 12), False, 3)) == {
        "birth_date": "1944-03-12",
        "gender": "F",  # the model's code: the Select takes it
    }


async def test_5_form_hides_the_community_and_fills_from_the_id(db_path: Path) -> None:
    from datetime import date

    worker_device(db_path).close()
    app = FieldApp(db_path)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("2", "n")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, RecordForm) and "community_code" not in form.rows
        form.rows["id_number"].control.focus()
        await pilot.press(*make_id(date(1950, 6, 1), True, 4))
        await pilot.pause()
        assert str(form.rows["birth_date"].get_value()) == "1950-06-01"


async def test_6_first_run_hints_and_n_on_an_empty_list(db_path: Path) -> None:
    worker_device(db_path).close()
    app = FieldApp(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        assert "按 2 打开老人档案" in screen_text(app).replace("\n", "")
        await pilot.press("2")
        await pilot.pause()
        assert isinstance(app.screen, ElderListScreen)
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, RecordForm)
        assert app.sub_title.count("周红") == 1


async def test_7_palette_is_the_workers_own_and_history_reads_old_to_new(db_path: Path) -> None:
    with worker_device(db_path) as s:
        eid = s.create("elder", elder_data(address="海陵区东进路1号")).record_id
        cur = s.get("elder", eid)
        s.update(
            "elder",
            eid,
            cur.record.payload() | {"address": "海陵区东进路9号"},
            base_version_id=cur.version_id,
        )
    app = FieldApp(db_path)
    async with app.run_test(size=(120, 30)) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert not {"Keys", "Maximize", "Theme"} & set(titles)
        await pilot.press("2", "enter")
        await pilot.pause()
        from textual.widgets import TabbedContent

        app.screen.query_one(TabbedContent).active = "tab-versions"
        await pilot.pause()
        versions = app.screen.query_one("#versions", DataTable)
        row = [str(c) for c in versions.get_row_at(0)]
        assert row[1] == "修改"
        assert row[2] == "住址：海陵区东进路1号 → 海陵区东进路9号"
        versions.focus()
        await pilot.press("down", "z", "y")
        await pilot.pause()
    with Store.open(db_path) as s:
        assert s.get("elder", eid).record.payload()["address"] == "海陵区东进路1号"


async def test_8_a_second_window_is_warned_and_refreshed(db_path: Path) -> None:
    with worker_device(db_path) as s:
        s.create("elder", elder_data(name="王建国"))
    first = FieldApp(db_path)
    async with first.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        second = FieldApp(db_path)
        async with second.run_test(size=SIZE) as pilot2:
            await pilot2.pause()
            assert any("另一个 fieldapp 窗口" in str(n.message) for n in second._notifications)  # noqa: SLF001
        with Store.open(db_path) as s:
            s.create(
                "elder",
                elder_data(
                    name="李秀英",
                    id_number=make_id(__import__("datetime").date(1944, 3, 12), False, 9),
                ),
            )
        await pilot.pause(2.5)
        assert first.screen.query_one(DataTable).row_count == 2
