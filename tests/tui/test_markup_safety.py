"""Issue 13 point 6: a value holding Rich markup (`[/b]`) and a terminal escape (`ESC ] 0;x BEL`)
in every free-text field is shown as its literal text on every screen of both apps: no
`MarkupError`, the brackets on screen, no escape reaching the output."""

from __future__ import annotations

import re
from datetime import date

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import DataTable, Select, Static, TabbedContent

from fieldapp.kinds import age_on
from fieldapp.tui.app import FieldApp
from fieldapp.tui.forms import RecordForm
from fieldapp.tui.screens.common import ConfirmDialog
from fieldapp.tui.screens.elders import ElderDetailScreen

from ..conftest import make_id
from .capture import screen_text
from .evil_world import MARK, EvilWorld, build

SIZE = (120, 40)


@pytest.fixture(scope="module")
def evil(tmp_path_factory: pytest.TempPathFactory) -> EvilWorld:
    return build(tmp_path_factory.mktemp("evil"))


def _shown(app: App[None], where: str, *, body: bool = True, mark: str = MARK) -> str:
    """The screen's text, after checking no escape character reached it; the markup must show
    below the header line (which names the worker on every screen) unless `body` is False."""
    svg = app.export_screenshot()
    assert "\x1b" not in svg and "\x07" not in svg, where
    assert "]0;x" not in svg, where  # the whole OSC sequence went, not only its ESC
    text = screen_text(app)
    header, _, below = text.partition("\n")
    if "⭘" in header and isinstance(app, FieldApp):  # a modal dialog covers the header
        assert f"{MARK}红" in header, f"{where}: the worker's name in the header\n{text}"
    assert not body or mark in below, f"{where}: {mark} not shown\n{text}"
    return text


async def _go(pilot: Pilot[None], *keys: str) -> None:
    for key in keys:
        await pilot.press(key)
        await pilot.pause(0.2)


async def test_every_worker_screen_shows_markup_and_escapes_as_literal_text(
    evil: EvilWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FIELDAPP_TODAY", raising=False)
    app = FieldApp(evil.device_db)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        _shown(app, "dashboard", body=False)  # the evil elder is not due: visited today
        await _go(pilot, "2")
        text = _shown(app, "elders")
        assert f"{MARK}红" in text  # the escape removed, the letters on either side kept
        number = make_id(date(1944, 3, 12), male=True, seq=77)  # the evil elder's (evil_world)
        await _go(pilot, "slash", *number[-4:], "enter")  # the last 4 digits still find them
        table = app.screen.query_one(DataTable)
        assert table.row_count == 1, screen_text(app)
        assert str(table.get_row_at(0)[3]) == f"3212{'*' * 11}{number[-3:]}"
        await _go(pilot, "enter")
        info = str(app.screen.query_one("#elder-info", Static).render())
        age = age_on("1944-03-12", date.today())
        assert f"{MARK}红  男  {age}岁  3212***********" in info  # an age beside the masked number
        assert "1944" not in info and "0312" not in info
        for tab in ("tab-visits", "tab-assessments", "tab-retrofits", "tab-versions"):
            app.screen.query_one(TabbedContent).active = tab
            await pilot.pause()
            _shown(app, f"elder page {tab}")
        for key in ("v", "e"):  # a visit form names the elder; the elder's form holds every field
            await _go(pilot, key)
            assert isinstance(app.screen, RecordForm)
            _shown(app, f"form {key}")
            await _go(pilot, "escape")
            if isinstance(app.screen, ConfirmDialog):  # leaving a form asks when it has changes
                await _go(pilot, "y")
            assert isinstance(app.screen, ElderDetailScreen)
        await _go(pilot, "m")  # the status dialog's question names the elder
        _shown(app, "moved-out dialog")
        await _go(pilot, "escape", "escape")
        for key, kind in (("3", "home_visit"), ("4", "assessment"), ("5", "retrofit")):
            await _go(pilot, key)
            _shown(app, kind)
            table = app.screen.query_one(DataTable)
            table.move_cursor(row=table.get_row_index(evil.ids[kind]))
            await _go(pilot, "delete")  # the confirmation names the record
            _shown(app, f"{kind} delete dialog")
            await _go(pilot, "escape")
        for key, kind in (("7", "volunteer_event"), ("8", "volunteer"), ("6", "meals")):
            await _go(pilot, key)
            _shown(app, kind)
        await _go(pilot, "f8", "n")  # a new event (F8 = 7: the meal grid takes digits)
        app.screen.query_one("#part-volunteer", Select).value = evil.ids["volunteer"]
        await pilot.pause()
        _shown(app, "event form: the volunteer picked")
        await _go(pilot, "escape")
        if isinstance(app.screen, ConfirmDialog):
            await _go(pilot, "y")
        await _go(pilot, "9")
        _shown(app, "sync", body=False)
        await _go(pilot, "f4", "n")  # a new visit starts by picking the elder (F4 = 3)
        _shown(app, "elder picker")
        await _go(pilot, "escape")
        app.notify(f"{MARK}\x1b]0;x\x07 notified")
        await pilot.pause()
        assert "]0;x notified" not in screen_text(app)
        assert f"{MARK} notified" in _shown(app, "notification")


async def test_every_district_screen_shows_markup_and_escapes_as_literal_text(
    evil: EvilWorld,
) -> None:
    from fieldapp.tui.decision import DecisionDialog
    from fieldapp.tui.district import DistrictApp

    app = DistrictApp(evil.district_db, folder=evil.usb, key_file=evil.key_file)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause(0.5)
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = _shown(app, "merge: the evil file name in the folder's list", mark="[b]")
        assert "[b]321202001901-" in text  # a file name cannot hold '/': its '[b]' is literal
        await _go(pilot, "f4")
        _shown(app, "review: the conflict's reason")
        await _go(pilot, "enter")
        assert isinstance(app.screen, DecisionDialog)
        text = _shown(app, "conflict dialog")
        assert f"{MARK}红2" in text  # the second version's note, literal
        age = age_on("1944-03-12", date.today())
        assert "1944-03-12" not in text, text
        assert re.search(rf"│年龄 +{age} +{age} +│", text), text  # beside 3212***********…
        await _go(pilot, "escape")
        for tab in ("tab-dups", "tab-rejected"):
            app.screen.query_one(TabbedContent).active = tab
            await pilot.pause()
            _shown(app, f"review {tab}")
        app.screen.query_one(TabbedContent).active = "tab-dups"
        await pilot.pause()
        app.screen.query_one("#rv-dups", DataTable).focus()
        await _go(pilot, "enter")
        assert isinstance(app.screen, DecisionDialog)
        _shown(app, "duplicate-person dialog")
        await _go(pilot, "escape")
        await _go(pilot, "f5")
        _shown(app, "devices: the enrolled device's label")
        await _go(pilot, "f6")
        await app.workers.wait_for_complete()
        await pilot.pause()
        _shown(app, "checklist: the bundle's worker")
        await _go(pilot, "f3")
        _shown(app, "indicators", body=False)
        app.notify(f"{MARK}\x1b]0;x\x07 notified")
        await pilot.pause()
        assert f"{MARK} notified" in _shown(app, "notification")
