"""The worker's list and elder actions with Pilot: delete, moved out / deceased, the elder picker,
paging, and a refusal from the store shown as a message while the app stays up."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from textual.widgets import DataTable, Static

from fieldapp import i18n
from fieldapp.store import Store
from fieldapp.tui.app import FieldApp
from fieldapp.tui.forms import RecordForm
from fieldapp.tui.screens.common import PAGE, ConfirmDialog, ElderPicker
from fieldapp.tui.screens.elders import ElderDetailScreen
from fieldapp.tui.screens.records import RecordListScreen

from ..conftest import elder_data, make_id
from ..test_models import base
from .helpers import worker_device
from .test_app import SIZE, screen_text


def _volunteers(db_path: Path, n: int) -> list[str]:
    """n volunteers named 志愿者000 … in the list's order (by name)."""
    store = worker_device(db_path)
    ids = [
        store.create(
            "volunteer", base("volunteer") | {"name": f"志愿者{i:03d}", "platform_no": None}
        ).record_id
        for i in range(n)
    ]
    store.close()
    return ids


async def test_delete_from_a_list_asks_then_tombstones_the_record(db_path: Path) -> None:
    ids = _volunteers(db_path, 3)
    app = FieldApp(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("8")
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        assert table.row_count == 3
        await pilot.press("down", "delete")  # the second: 志愿者001
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("escape")  # no: nothing happens
        await pilot.pause()
        assert table.row_count == 3 and not app.store.get("volunteer", ids[1]).deleted
        await pilot.press("delete", "y")
        await pilot.pause()
        assert isinstance(app.screen, RecordListScreen)
        assert [str(table.get_row_at(i)[0]) for i in range(table.row_count)] == [
            "志愿者000",
            "志愿者002",
        ]
    with Store.open(db_path) as s:
        assert s.get("volunteer", ids[1]).deleted and not s.get("volunteer", ids[0]).deleted
        assert s.count("volunteer") == 2


async def test_mark_an_elder_moved_out_then_deceased(db_path: Path) -> None:
    store = worker_device(db_path)
    rid = store.create("elder", elder_data(name="林红")).record_id
    store.close()
    app = FieldApp(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        detail = app.screen
        assert isinstance(detail, ElderDetailScreen) and detail.elder_id == rid
        await pilot.press("m")  # the dialog asks the day (today) and where to (may stay blank)
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.store.get("elder", rid).record.payload()["status"] == "moved_out"
        shown = str(detail.query_one("#elder-info", Static).render())
        assert i18n.code_label("elder_status", "moved_out") in shown
        await pilot.press("x", "escape")  # asked, and declined: still moved out
        await pilot.pause()
        assert app.store.get("elder", rid).record.payload()["status"] == "moved_out"
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ElderDetailScreen)
    with Store.open(db_path) as s:
        assert s.get("elder", rid).record.payload()["status"] == "deceased"
        assert [h.payload["status"] for h in s.history(rid)] == ["active", "moved_out", "deceased"]


async def test_the_elder_picker_searches_active_elders_and_opens_the_form_for_one(
    db_path: Path,
) -> None:
    store = worker_device(db_path)
    zsf = store.create(
        "elder", elder_data(name="张三丰", id_number=make_id(date(1944, 3, 12), True, 1))
    ).record_id
    store.create(
        "elder",
        elder_data(
            name="张士福",
            id_number=make_id(date(1944, 3, 12), True, 2),
            status="moved_out",
            status_date="2026-01-05",
        ),
    )
    store.create("elder", elder_data(name="李四", id_number=make_id(date(1944, 3, 12), True, 3)))
    store.close()
    app = FieldApp(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5", "n")  # a new retrofit starts by picking the household
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, ElderPicker)
        table = picker.query_one(DataTable)
        assert table.row_count == 2  # the moved-out 张士福 is not offered
        await pilot.press("z", "s", "f")
        await pilot.pause()
        assert [str(table.get_row_at(i)[0]) for i in range(table.row_count)] == ["张三丰"]
        await pilot.press("enter", "enter")  # to the table, then take the row
        await pilot.pause()
        form = app.screen
        assert isinstance(form, RecordForm) and form.kind == "retrofit"
        assert form.rows["elder_id"].get_value() == zsf
        assert str(form.rows["elder_id"].control.render()) == "张三丰"


async def test_a_list_pages_with_the_bracket_keys(db_path: Path) -> None:
    _volunteers(db_path, PAGE + 3)
    app = FieldApp(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("8")
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        assert table.row_count == PAGE and str(table.get_row_at(0)[0]) == "志愿者000"
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert [str(table.get_row_at(i)[0]) for i in range(table.row_count)] == [
            f"志愿者{i:03d}" for i in range(PAGE, PAGE + 3)
        ]
        await pilot.press("right_square_bracket")  # no page after the last
        await pilot.pause()
        assert table.row_count == 3
        await pilot.press("left_square_bracket")
        await pilot.pause()
        assert table.row_count == PAGE and str(table.get_row_at(PAGE - 1)[0]) == "志愿者099"


async def test_a_refused_delete_shows_the_reason_and_the_app_stays_up(db_path: Path) -> None:
    ids = _volunteers(db_path, 2)
    app = FieldApp(db_path)
    async with app.run_test(size=SIZE, notifications=True) as pilot:  # toasts on screen
        await pilot.press("8")
        await pilot.pause()
        await pilot.press("delete")
        await pilot.pause()
        with Store.open(db_path) as other:  # meanwhile the record is deleted elsewhere
            other.delete("volunteer", ids[0])
        await pilot.press("y")
        await pilot.pause()
        assert app.is_running and isinstance(app.screen, RecordListScreen)
        assert "该记录已删除" in screen_text(app)
        table = app.screen.query_one(DataTable)
        assert [str(table.get_row_at(i)[0]) for i in range(table.row_count)] == ["志愿者001"]


async def test_a_refused_status_change_shows_the_reason_and_the_app_stays_up(
    db_path: Path,
) -> None:
    store = worker_device(db_path)
    rid = store.create("elder", elder_data(name="林红")).record_id
    store.close()
    app = FieldApp(db_path)
    async with app.run_test(size=SIZE, notifications=True) as pilot:  # toasts on screen
        await pilot.press("2", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ElderDetailScreen)
        await pilot.press("x")
        await pilot.pause()
        with Store.open(db_path) as other:
            other.delete("elder", rid)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.is_running and isinstance(app.screen, ElderDetailScreen)
        assert "该记录已删除，不能修改" in screen_text(app)
    with Store.open(db_path) as s:
        assert s.get("elder", rid).record.payload()["status"] == "active"
