"""The unlock screen (wrong passphrase, growing delay, first run) and auto-lock keeping a typed form."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from fieldapp import dbkey
from fieldapp.store import Store
from fieldapp.tui.app import FieldApp
from fieldapp.tui.forms import RecordForm
from fieldapp.tui.screens.elders import ElderListScreen
from fieldapp.tui.screens.unlock import UnlockApp, UnlockScreen, failure_delay

from .conftest import COMMUNITY, STREET
from .tui.keys import type_into

PASS = "correct horse battery staple"
SIZE = (100, 34)


@pytest.fixture
def encrypted_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv("FIELDAPP_UNENCRYPTED")
    monkeypatch.setenv("FIELDAPP_PASSPHRASE", PASS)
    path = tmp_path / "device.db"
    with Store.open(path) as s:
        s.setup_device(street_code=STREET, community_code=COMMUNITY, worker="周红")
    dbkey.forget()
    monkeypatch.delenv("FIELDAPP_PASSPHRASE")
    yield path
    dbkey.forget()


def _message(app: UnlockApp) -> str:
    screen = app.screen_stack[-1]
    return str(screen.query_one("#unlock-message", Static).content)


def test_the_delay_grows_after_the_second_failure() -> None:
    assert [failure_delay(n) for n in range(1, 7)] == [0, 0, 2, 4, 8, 16]


async def test_wrong_passphrase_then_delay_then_the_right_one_unlocks(encrypted_db: Path) -> None:
    app = UnlockApp(encrypted_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, UnlockScreen) and screen.mode == "unlock"
        for _ in (1, 2, 3):
            await pilot.press(*"wrong passphrase", "enter")
            await pilot.pause()
        assert _message(app) == "口令不对（第 3 次），请等待 2 秒后再试"
        screen.wait_until += 60  # typing takes time on a loaded machine: stay within the delay
        await pilot.press(*PASS, "enter")  # within the delay: not even tried
        await pilot.pause()
        assert _message(app).startswith("尝试次数过多，请等待")
        assert dbkey.remembered(encrypted_db) is None
        screen.wait_until = 0.0
        screen.query_one("#passphrase", Input).value = ""
        await pilot.press(*PASS, "enter")
        await pilot.pause()
    assert app.return_value is True
    assert dbkey.remembered(encrypted_db) is not None


async def test_first_run_asks_twice_with_a_minimum_length(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FIELDAPP_UNENCRYPTED")
    path = tmp_path / "new.db"
    app = UnlockApp(path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, UnlockScreen) and app.screen.mode == "create"
        await pilot.press(*"short", "enter", *"short", "enter")
        await pilot.pause()
        assert _message(app).startswith("口令至少 10 个字符")
        app.screen.query_one("#passphrase", Input).value = ""
        app.screen.query_one("#again", Input).value = ""
        app.screen.query_one("#passphrase", Input).focus()
        await pilot.press(*PASS, "enter", *PASS, "enter")
        await pilot.pause()
    assert app.return_value is True
    assert dbkey.key_path(path).stat().st_mode & 0o777 == 0o600
    Store.open(path).close()
    assert path.read_bytes()[:16] != b"SQLite format 3\x00"
    dbkey.forget()


async def test_auto_lock_covers_the_app_and_the_typed_form_survives(
    encrypted_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIELDAPP_AUTOLOCK_MINUTES", "1")
    monkeypatch.setenv("FIELDAPP_PASSPHRASE", PASS)  # the store opens; the lock still asks
    app = FieldApp(encrypted_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        assert isinstance(app.screen, ElderListScreen)
        await pilot.press("n")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, RecordForm)
        await type_into(pilot, form, "name", "张三丰")
        app.lock_after_idle(59)  # not yet idle long enough
        await pilot.pause()
        assert app.screen is form
        app.lock_after_idle(61)  # a minute without a key or a click
        await pilot.pause()
        assert isinstance(app.screen, UnlockScreen) and app.screen.mode == "relock"
        await pilot.press("f3", "f9")  # the screen keys would pop the lock away: not while locked
        await pilot.pause()
        assert isinstance(app.screen, UnlockScreen) and len(app.screen_stack) == 4
        await pilot.press(*"wrong passphrase", "enter")
        await pilot.pause()
        assert isinstance(app.screen, UnlockScreen)
        await pilot.press(*PASS, "enter")
        await pilot.pause()
        assert app.screen is form
        assert form.rows["name"].control.value == "张三丰"  # type: ignore[attr-defined]
