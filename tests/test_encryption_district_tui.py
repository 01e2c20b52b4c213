"""The district's app unlocks and auto-locks as the worker's does (the same screen and mix-in):
a wrong passphrase, the growing delay, the lock after idle that keeps what was typed, no F-key past it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from fieldapp import dbkey
from fieldapp.store import Store
from fieldapp.tui.district import DistrictApp, MergeScreen
from fieldapp.tui.screens.unlock import UnlockApp, UnlockScreen, needs_screen

PASS = "district passphrase 2026"
SIZE = (100, 34)


@pytest.fixture
def district_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv("FIELDAPP_UNENCRYPTED")
    monkeypatch.setenv("FIELDAPP_PASSPHRASE", PASS)
    monkeypatch.setenv("FIELDAPP_HOME", str(tmp_path / "home"))
    path = tmp_path / "district.db"
    with Store.open(path) as s:
        s.setup_district()
    dbkey.forget()
    monkeypatch.delenv("FIELDAPP_PASSPHRASE")
    yield path
    dbkey.forget()


def _message(screen: UnlockScreen) -> str:
    return str(screen.query_one("#unlock-message", Static).content)


async def test_the_district_database_opens_only_after_the_unlock_screen(district_db: Path) -> None:
    assert needs_screen(district_db)  # run_district shows the unlock screen first
    unlock = UnlockApp(district_db)
    async with unlock.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = unlock.screen
        assert isinstance(screen, UnlockScreen) and screen.mode == "unlock"
        await pilot.press(*"not the passphrase", "enter")
        await pilot.pause()
        assert _message(screen) == "口令不对（第 1 次）"
        for _ in (2, 3):
            await pilot.press(*"not the passphrase", "enter")
            await pilot.pause()
        assert _message(screen) == "口令不对（第 3 次），请等待 2 秒后再试"
        screen.wait_until += 60  # stay within the delay on a loaded machine
        await pilot.press(*PASS, "enter")
        await pilot.pause()
        assert _message(screen).startswith("尝试次数过多，请等待")
        assert dbkey.remembered(district_db) is None
        screen.wait_until = 0.0
        await pilot.press(*PASS, "enter")
        await pilot.pause()
    assert unlock.return_value is True
    assert not needs_screen(district_db)
    # the district's app then reads the database with the key the screen unlocked
    app = DistrictApp(district_db, folder=district_db.parent)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, MergeScreen)
        assert str(app.screen.query_one("#summary", Static).content) == "找到 0 个同步包"


async def test_the_district_app_locks_after_idle_and_keeps_what_was_typed(
    district_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIELDAPP_AUTOLOCK_MINUTES", "2")
    monkeypatch.setenv("FIELDAPP_PASSPHRASE", PASS)  # the database opens; the lock still asks
    app = DistrictApp(district_db, folder=district_db.parent)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        merge = app.screen
        assert isinstance(merge, MergeScreen)
        merge.query_one("#merge-key", Input).value = "/media/u/district.private.json"
        app.lock_after_idle(119)
        await pilot.pause()
        assert app.screen is merge
        app.lock_after_idle(121)  # two minutes without a key or a click
        await pilot.pause()
        lock = app.screen
        assert isinstance(lock, UnlockScreen) and lock.mode == "relock"
        await pilot.press("f3", "f5", "ctrl+p")  # no screen key gets past the lock
        await pilot.pause()
        assert app.screen is lock and len(app.screen_stack) == 3
        for _ in (1, 2, 3):
            await pilot.press(*"not the passphrase", "enter")
            await pilot.pause()
        assert _message(lock) == "口令不对（第 3 次），请等待 2 秒后再试"
        lock.wait_until = 0.0
        await pilot.press(*PASS, "enter")
        await pilot.pause()
        assert app.screen is merge
        assert merge.query_one("#merge-key", Input).value == "/media/u/district.private.json"
        await pilot.press("f5")  # unlocked: the keys work again
        await pilot.pause()
        assert type(app.screen).__name__ == "DevicesScreen"
