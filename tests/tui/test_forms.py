"""Issue 15 point 5, the forms at 80×24: every problem in one save, labels not codes, no phantom 0,
the assessment's labels whole and every field reachable by Tab."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path

from rich.cells import cell_len
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, Label, Static

from fieldapp.store import Store
from fieldapp.tui.app import FieldApp
from fieldapp.tui.forms import RecordForm

from ..conftest import COMMUNITY, elder_data, make_id
from .helpers import worker_device
from .keys import type_into

SIZE = (80, 24)
SCORES = ("score_self_care", "score_mobility", "score_mental", "score_perception_social")


def _elder(path: Path) -> str:
    with worker_device(path) as store:
        return store.create("elder", elder_data(name="八十五")).record_id


def _form(app: FieldApp) -> RecordForm:
    assert isinstance(app.screen, RecordForm), type(app.screen)
    return app.screen


def _summary(form: RecordForm) -> str:
    return str(form.query_one("#form-summary", Static).render())


async def _refused(pilot: Pilot[None], app: FieldApp, form: RecordForm) -> str:
    """Ctrl+S on a form the save refuses: the form stays, and its summary of the problems."""
    await pilot.press("ctrl+s")
    await pilot.pause()
    assert app.screen is form
    return _summary(form)


async def test_one_save_names_every_problem_with_labels_not_codes(db_path: Path) -> None:
    """Before: the blank name first, the birth date against the ID number a save or two later,
    and each message said `姓名（name）`."""
    worker_device(db_path).close()
    app = FieldApp(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "n")
        await pilot.pause()
        form = _form(app)
        await type_into(pilot, form, "id_number", make_id(date(1944, 3, 12), male=True))
        await pilot.pause()
        assert form.rows["birth_date"].get_value() == "1944-03-12"  # filled from the number
        assert form.rows["gender"].get_value() == "M"
        await type_into(pilot, form, "birth_date", "1950-01-01")
        assert await _refused(pilot, app, form) == (
            "未保存：请按提示修改：姓名：必填；"
            "出生日期：出生日期 1950-01-01 与身份证号中的 1944-03-12 不一致；"
            "住址：必填；居住状况：必填；探访风险等级：必填"
        )
        invalid = [name for name, row in form.rows.items() if row.has_class("-invalid")]
        assert invalid == ["name", "birth_date", "address", "living_status", "visit_risk"]
        error = form.rows["birth_date"].query_one(".field-error", Static)
        assert str(error.render()) == "出生日期 1950-01-01 与身份证号中的 1944-03-12 不一致"
    assert Store.open(db_path).count("elder") == 0


@asynccontextmanager
async def _new_assessment(db_path: Path) -> AsyncIterator[tuple[FieldApp, Pilot[None], RecordForm]]:
    """The app at 80×24 on a new assessment form of an elder."""
    rid = _elder(db_path)
    app = FieldApp(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.new_record("assessment", elder=(rid, "八十五"))
        await pilot.pause()
        yield app, pilot, _form(app)


async def test_required_numbers_start_empty_and_a_typed_0_stays_0(db_path: Path) -> None:
    async with _new_assessment(db_path) as (app, pilot, form):
        for name in SCORES:
            control = form.rows[name].control
            assert isinstance(control, Input)
            assert (control.value, control.placeholder) == ("", "")  # no 0 that looks typed
        risk = form.rows["risk_events_30d"].control
        assert isinstance(risk, Input) and risk.placeholder == "0"  # a blank takes its default 0
        assert await _refused(pilot, app, form) == (
            "未保存：请按提示修改：自理能力得分（0–32）：必填；基础运动能力得分（0–15）：必填；"
            "精神状态得分（0–28）：必填；感知觉与社会参与得分（0–15）：必填"
        )
        for name in SCORES:
            await type_into(pilot, form, name, "0")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, RecordForm), _summary(form)
    row = Store.open(db_path).page("assessment")[0]
    assert (row["score_self_care"], row["total"], row["level"]) == (0, 0, "total")


async def test_the_assessment_fits_80x24_whole_labels_and_tab_reaches_every_field(
    db_path: Path,
) -> None:
    rid = _elder(db_path)
    app = FieldApp(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.new_record("assessment", elder=(rid, "八十五"))
        await pilot.pause()
        form = _form(app)
        await pilot.press("ctrl+s")  # four error lines: the fields no longer fit, they scroll
        await pilot.pause()
        for name, row in form.rows.items():
            label = row.query_one(".field-label", Label)
            text = str(label.render())
            assert cell_len(text) < label.region.width or not text, (name, text, label.region)
        assert str(form.rows["coma"].query_one(".field-label", Label).render()) == "昏迷"
        coma = form.rows["coma"].control
        assert isinstance(coma, Checkbox) and coma.region.height == 1
        view = form.query_one("#form-fields").region
        reachable = [n for n, r in form.rows.items() if r.control.focusable]
        form.rows["assess_date"].control.focus()
        await pilot.pause()
        seen: list[str] = []
        for _ in range(len(reachable)):
            focused = app.focused
            owner = next((n for n, r in form.rows.items() if r.control is focused), None)
            if owner is not None and owner not in seen:
                seen.append(owner)
                assert focused is not None and view.contains_region(focused.region), owner
            await pilot.press("tab")
            await pilot.pause()
        assert seen == reachable


async def test_the_visit_duration_follows_the_times_as_they_are_typed(db_path: Path) -> None:
    rid = _elder(db_path)
    app = FieldApp(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.new_record("home_visit", elder=(rid, "八十五"))
        await pilot.pause()
        form = _form(app)
        await type_into(pilot, form, "start_time", "0900")
        await type_into(pilot, form, "end_time", "0935")
        await pilot.pause()
        assert form.rows["duration_min"].get_value() == "35"
        await type_into(pilot, form, "end_time", "1000")
        await pilot.pause()
        assert form.rows["duration_min"].get_value() == "60"  # refilled: the form's own value
        await type_into(pilot, form, "duration_min", "50")
        await type_into(pilot, form, "end_time", "1010")
        await pilot.pause()
        assert form.rows["duration_min"].get_value() == "50"  # typed by the worker: kept
        await type_into(pilot, form, "duration_min", "70")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, RecordForm), _summary(form)
    visit = Store.open(db_path).page("home_visit")[0]
    assert (visit["start_time"], visit["end_time"], visit["duration_min"]) == ("09:00", "10:10", 70)


async def test_deleting_a_participant_line_updates_the_summary(db_path: Path) -> None:
    with worker_device(db_path) as store:
        for name in ("赵强", "钱芳"):
            store.create("volunteer", {"name": name, "community_code": COMMUNITY})
    app = FieldApp(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("7", "n")
        await pilot.pause()
        form = _form(app)
        parts = form.rows["participants"].control
        for name, hours in (("赵强", "1.5"), ("钱芳", "2")):
            parts.query_one("#part-volunteer").focus()
            await pilot.press("enter", *name, "enter", "tab", *hours, "enter")
            await pilot.pause()
        preview = form.query_one("#form-preview", Static)
        assert str(preview.render()).startswith("2 志愿者 · 3.5 h")
        parts.query_one("#part-lines").focus()
        await pilot.press("home", "delete")
        await pilot.pause()
        assert str(preview.render()).startswith("1 志愿者 · 2 h")


async def test_a_blank_score_does_not_hide_the_next_due_rule(db_path: Path) -> None:
    """Before: the blank score stopped the assessment's own rules (its total needs every score),
    so the next-due date before the assessment date came only on the next save."""
    async with _new_assessment(db_path) as (app, pilot, form):
        for name, score in zip(SCORES[:3], ("30", "14", "26"), strict=True):
            await type_into(pilot, form, name, score)
        await type_into(pilot, form, "assess_date", "2026-01-31")
        await type_into(pilot, form, "next_due", "2026-01-01")
        assert await _refused(pilot, app, form) == (
            "未保存：请按提示修改：感知觉与社会参与得分（0–15）：必填；"
            "下次评估日期：下次评估日期须晚于评估日期"
        )
    assert Store.open(db_path).count("assessment") == 0
