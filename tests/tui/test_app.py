"""The worker's TUI driven with Pilot on a real database in tmp_path."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from textual.widgets import DataTable, Input, Select, Static

from fieldapp import i18n
from fieldapp.store import Store
from fieldapp.tui.app import FieldApp
from fieldapp.tui.forms import RecordForm
from fieldapp.tui.screens.dashboard import DashboardScreen
from fieldapp.tui.screens.elders import ElderListScreen
from fieldapp.tui.screens.first_run import FirstRunScreen
from fieldapp.tui.screens.meals import MealGridScreen

from ..conftest import STREET, elder_data, make_id, visit_data
from .capture import screen_text
from .helpers import worker_device
from .keys import choose, type_into

SIZE = (100, 34)


def _form(app: FieldApp) -> RecordForm:
    assert isinstance(app.screen, RecordForm), type(app.screen)
    return app.screen


async def test_first_run_with_the_keyboard_makes_the_device(db_path: Path) -> None:
    app = FieldApp(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, FirstRunScreen)
        await pilot.press("enter", "down", "enter")  # first street: 城东街道
        await pilot.pause()
        assert app.screen.query_one("#street", Select).value == STREET
        await pilot.press("tab", "enter", "down", "enter")  # its first community
        await pilot.pause()
        await pilot.press("tab", *"周红", "enter")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
    with Store.open(db_path) as s:
        dev = s.device()
        assert dev is not None and dev.worker == "周红" and dev.street_code == STREET


async def test_register_elder_bad_id_shows_error_and_saves_nothing_then_good_id_saves(
    db_path: Path,
) -> None:
    worker_device(db_path).close()
    app = FieldApp(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        assert isinstance(app.screen, ElderListScreen)
        await pilot.press("n")
        await pilot.pause()
        form = _form(app)
        good = elder_data(name="张三丰")
        for name in ("name", "address"):
            await type_into(pilot, form, name, good[name])
        for name, catalogue in (("living_status", "living_status"), ("visit_risk", "visit_risk")):
            await choose(pilot, form, name, i18n.code_label(catalogue, good[name]))
        await type_into(pilot, form, "id_number", "32120219440312003Y")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, RecordForm)  # refused, form still open with what was typed
        row = form.rows["id_number"]
        assert row.has_class("-invalid")
        assert "身份证号" in str(form.query_one("#form-summary", Static).render())
        assert form.rows["name"].get_value() == "张三丰"
        assert app.store.count("elder") == 0
        await type_into(pilot, form, "id_number", good["id_number"])
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ElderListScreen)
        assert app.store.count("elder") == 1
        table = app.screen.query_one(DataTable)
        assert table.row_count == 1 and "********" in str(table.get_row_at(0)[3])


async def test_log_a_visit_from_the_due_list_removes_the_elder_from_it(db_path: Path) -> None:
    store = worker_device(db_path)
    rid = store.create("elder", elder_data(name="林红")).record_id
    store.create(
        "home_visit", visit_data(rid, visit_date=(date.today() - timedelta(days=10)).isoformat())
    )
    store.close()
    app = FieldApp(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        due = app.screen.query_one("#due", DataTable)
        assert any(
            str(due.get_row_at(i)[0]) == "林红" and "探访" in str(due.get_row_at(i)[2])
            for i in range(due.row_count)
        )
        due.focus()
        visit_row = next(i for i in range(due.row_count) if "探访" in str(due.get_row_at(i)[2]))
        due.move_cursor(row=visit_row)
        await pilot.press("enter")
        await pilot.pause()
        form = _form(app)
        assert form.rows["elder_id"].get_value() == rid
        await type_into(pilot, form, "duration_min", "30")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        rows = [due.get_row_at(i) for i in range(due.row_count)]
        assert not any(str(r[0]) == "林红" and "探访" in str(r[3]) for r in rows)
    assert Store.open(db_path).count("home_visit") == 2


async def test_assessment_level_is_computed_live_and_saved(db_path: Path) -> None:
    store = worker_device(db_path)
    rid = store.create(
        "elder", elder_data(name="八十五", id_number=make_id(date(1940, 1, 1), True))
    ).record_id
    store.close()
    app = FieldApp(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.new_record("assessment", elder=(rid, "八十五"))
        await pilot.pause()
        form = _form(app)
        for name, value in {
            "score_self_care": "20",
            "score_mobility": "10",
            "score_mental": "20",
            "score_perception_social": "10",
        }.items():
            await type_into(pilot, form, name, value)
        await pilot.pause()
        assert "60" in str(form.query_one("#form-preview", Static).render())
        assert "中度失能" in str(form.query_one("#form-preview", Static).render())
        form.rows["dementia_dx"].control.focus()
        await pilot.press("space")
        await pilot.pause()
        assert "重度失能" in str(form.query_one("#form-preview", Static).render())
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, RecordForm)
    row = Store.open(db_path).page("assessment")[0]
    assert row["total"] == 60 and row["level"] == "severe" and row["level_computed"] == "severe"


async def test_retrofit_moves_through_its_statuses(db_path: Path) -> None:
    store = worker_device(db_path)
    rid = store.create("elder", elder_data(name="改造户")).record_id
    store.close()
    app = FieldApp(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await pilot.pause()
        app.new_record("retrofit", elder=(rid, "改造户"))
        await pilot.pause()
        await pilot.press("ctrl+s")  # defaults: applied today
        await pilot.pause()
        for expected in ("assessed", "planned", "in_progress", "accepted"):
            app.screen.query_one(DataTable).focus()
            await pilot.press("greater_than_sign")
            await pilot.pause()
            form = _form(app)
            assert form.rows["status"].get_value() == expected
            if expected == "accepted":
                items = form.rows["items"].control
                items.query_one("#item-code", Select).focus()
                await pilot.press("enter", "R", "0", "1", "enter")  # the catalogue's item R01
                items.query_one("#item-qty", Input).focus()
                await pilot.press("2", "tab", "1", "5", "0", "enter")  # 2 × 150, Enter adds it
                await pilot.pause()
                assert "300.00" in str(form.query_one("#form-preview", Static).render())
                await type_into(pilot, form, "cost_total", "300")
                await type_into(pilot, form, "subsidy", "300")
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert not isinstance(app.screen, RecordForm), form.query_one(
                "#form-summary", Static
            ).render()
    s = Store.open(db_path)
    row = s.page("retrofit")[0]
    assert row["status"] == "accepted" and row["accept_date"] == date.today().isoformat()
    lines = s.conn.execute("SELECT code, qty, unit_price FROM retrofit_line").fetchall()
    assert [tuple(x) for x in lines] == [("R01", 2, 150)]
    assert len(s.history(row["id"])) == 5


async def test_a_day_of_meal_counts_in_the_grid(db_path: Path) -> None:
    from ..test_models import base

    store = worker_device(db_path)
    point = store.create("meal_point", base("meal_point")).record_id
    store.close()
    app = FieldApp(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MealGridScreen)
        cells = [i for i in screen.query(Input) if i.id and i.id.startswith(f"mc{screen.gen}-")]
        assert len(cells) == 9  # 1 point × 3 meals × 3 columns
        cells[0].focus()
        await pilot.press(
            "1", "2", "tab", "3", "tab", "2"
        )  # breakfast: dine-in 12, delivery 3, pick-up 2
        await pilot.press(
            "tab", "4", "tab", "tab", "5"
        )  # Tab to the next row, lunch: dine-in 4, pick-up 5
        await pilot.press("ctrl+s")
        await pilot.pause()
    rows = {r["meal"]: r for r in Store.open(db_path).page("meal_count")}
    assert rows["breakfast"]["total"] == 17 and rows["breakfast"]["point_id"] == point
    assert (
        rows["lunch"]["dine_in"] == 4
        and rows["lunch"]["pickup"] == 5
        and rows["lunch"]["total"] == 9
    )
    assert "dinner" not in rows


async def test_volunteer_event_with_participants_gets_points(db_path: Path) -> None:
    from ..test_models import base

    store = worker_device(db_path)
    v1 = store.create("volunteer", base("volunteer")).record_id
    v2 = store.create("volunteer", base("volunteer") | {"name": "赵强"}).record_id
    names = {v1: base("volunteer")["name"], v2: "赵强"}
    store.close()
    app = FieldApp(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("7")
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        form = _form(app)
        await type_into(pilot, form, "title", "理发志愿活动")
        await choose(pilot, form, "category", i18n.code_label("volunteer_category", "haircut"))
        parts = form.rows["participants"].control
        for name, hours in ((names[v1], "1.5"), (names[v2], "2")):
            parts.query_one("#part-volunteer", Select).focus()
            await pilot.press("enter", *name, "enter", "tab", *hours, "enter")
            await pilot.pause()
        assert "3.5" in str(form.query_one("#form-preview", Static).render())
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, RecordForm), form.query_one(
            "#form-summary", Static
        ).render()
    ev = Store.open(db_path).page("volunteer_event")[0]
    assert ev["total_hours"] == 3.5 and ev["total_points"] == 3.5 and ev["category"] == "haircut"
    parts_saved = Store.open(db_path).conn.execute(
        "SELECT volunteer_id, hours FROM volunteer_participant ORDER BY hours"
    )
    assert [tuple(x) for x in parts_saved] == [(v1, 1.5), (v2, 2)]


async def test_search_elders_by_pinyin_initials(db_path: Path) -> None:
    store = worker_device(db_path)
    store.create("elder", elder_data(name="张三丰", id_number=make_id(date(1944, 3, 12), True, 1)))
    store.create("elder", elder_data(name="李四", id_number=make_id(date(1944, 3, 12), True, 2)))
    store.close()
    app = FieldApp(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        await pilot.press("slash", "z", "s", "f")
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        assert table.row_count == 1 and str(table.get_row_at(0)[0]) == "张三丰"


async def test_english_switch_changes_labels(db_path: Path) -> None:
    worker_device(db_path).close()
    app = FieldApp(db_path, lang="en")
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert app.title == "Hailing elderly-care field records"
            text = screen_text(app)
            assert "home visits" in text and "Due visits" in text and "上门服务" not in text
            descriptions = {active.binding.description for active in app.active_bindings.values()}
            assert "Elders" in descriptions and "老人档案" not in descriptions
            await pilot.press("2", "n")
            await pilot.pause()
            assert "ID number" in str(
                _form(app).query_one("#field-id_number").query_one(".field-label").render()
            )
    finally:
        i18n.set_lang("zh")


async def test_help_lists_the_keys(db_path: Path) -> None:
    worker_device(db_path).close()
    app = FieldApp(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        text = screen_text(app)
        assert "老人档案" in text and "登记" in text and "命令面板" in text
