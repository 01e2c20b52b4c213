"""Unlocking the encrypted database in the TUI: the unlock screen, the plain-database offer, auto-lock.

`ensure_unlocked(db)` runs before the worker's or the supervisor's app opens its database: it shows the unlock screen
(or, on first run, asks for a new passphrase twice; or, for a plain database, offers to encrypt it)
unless FIELDAPP_PASSPHRASE already unlocks it. `AutoLock` is both apps' mix-in: after an idle time
(FIELDAPP_AUTOLOCK_MINUTES, default 15, 0 = never) the unlock screen covers the app; the screens
beneath, with any typed but unsaved form, stay as they were and come back on unlock.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Literal

from textual import events, on
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, Label, Static

from fieldapp import dbkey
from fieldapp.text import clean
from fieldapp.tui.safe import safe

AUTOLOCK_ENV = "FIELDAPP_AUTOLOCK_MINUTES"
DEFAULT_AUTOLOCK_MINUTES = 15.0
Mode = Literal["unlock", "create", "relock"]
# the app's actions a locked app still runs: leaving, and moving between the unlock screen's fields
LOCKED_ACTIONS = frozenset({"quit", "help_quit", "bell", "focus_next", "focus_previous"})


def failure_delay(failures: int) -> float:
    """Seconds to wait after `failures` wrong passphrases: none for the first two, then doubling."""
    return 0.0 if failures < 3 else float(min(2 ** (failures - 2), 60))


class UnlockScreen(Screen[dbkey.DbKey | None]):
    """The passphrase, in Chinese: unlock (or re-lock) with the key file, or set a new one."""

    CSS_PATH = "unlock.tcss"

    def __init__(self, db_path: Path, mode: Mode = "unlock") -> None:
        super().__init__()
        self.db_path, self.mode = db_path, mode
        self.failures = 0
        self.wait_until = 0.0

    def compose(self) -> ComposeResult:
        title = {
            "unlock": "请输入口令解锁数据库",
            "create": "首次使用：设置数据库口令（至少 10 个字符，输入两次）",
            "relock": "已自动锁定：请输入口令继续，未保存的内容仍在",
        }[self.mode]
        with Vertical():
            yield Label(title, id="unlock-title")
            yield Label(safe(f"数据库：{self.db_path.name}"))
            yield Input(password=True, id="passphrase", placeholder="口令")
            if self.mode == "create":
                yield Input(password=True, id="again", placeholder="再输入一次")
            yield Static("", id="unlock-hint")
            yield Static("", id="unlock-message")
            yield Button(
                "解锁" if self.mode != "create" else "设置口令", id="unlock", variant="primary"
            )

    def on_mount(self) -> None:
        self.query_one("#passphrase", Input).focus()

    def _say(self, text: str) -> None:
        self.query_one("#unlock-message", Static).update(safe(text, lines=True))

    @on(Input.Changed, "#passphrase")
    def _hint(self, event: Input.Changed) -> None:
        if self.mode == "create":
            self.query_one("#unlock-hint", Static).update(dbkey.strength_hint(event.value))

    @on(Input.Submitted, "#passphrase")
    def _next(self) -> None:
        if self.mode == "create":
            self.query_one("#again", Input).focus()
        else:
            self._submit()

    @on(Input.Submitted, "#again")
    @on(Button.Pressed, "#unlock")
    def _submit(self) -> None:
        left = self.wait_until - time.monotonic()
        if left > 0:  # not even tried; the field is emptied, so the next try starts afresh
            self.query_one("#passphrase", Input).value = ""
            self._say(f"尝试次数过多，请等待 {left:.0f} 秒后再试")
            return
        passphrase = self.query_one("#passphrase", Input).value
        if self.mode == "create":
            self._create(passphrase, self.query_one("#again", Input).value)
            return
        try:
            key = dbkey.unwrap(dbkey.key_path(self.db_path), passphrase, self.db_path)
        except dbkey.WrongPassphrase:
            self._wrong()
            return
        except dbkey.DbKeyError as e:
            self._say(e.zh)
            return
        self.dismiss(key)

    def _wrong(self) -> None:
        self.failures += 1
        delay = failure_delay(self.failures)
        self.wait_until = time.monotonic() + delay
        self.query_one("#passphrase", Input).value = ""
        wait = f"，请等待 {delay:.0f} 秒后再试" if delay else ""
        self._say(f"口令不对（第 {self.failures} 次）{wait}")

    def _create(self, passphrase: str, again: str) -> None:
        why = dbkey.check_passphrase(passphrase)
        if why:
            self._say(why)
        elif passphrase != again:
            self._say("两次输入的口令不一致，请重新输入")
        else:
            self.dismiss(dbkey.new_key_file(dbkey.key_path(self.db_path), passphrase))


class PlainOfferScreen(ModalScreen[bool]):
    """A plain database opened by this version: offer to encrypt it now (True) or later."""

    CSS_PATH = "unlock.tcss"

    def __init__(self, db_path: Path) -> None:
        super().__init__()
        self.db_path = db_path

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("此数据库未加密：笔记本丢失时，老人的个人信息可被直接读取。")
            yield Static(safe(dbkey.plain_offer(self.db_path), lines=True))
            with Horizontal():
                yield Button("现在加密", id="encrypt", variant="primary")
                yield Button("以后再说", id="later")

    @on(Button.Pressed)
    def _chosen(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "encrypt")


class UnlockApp(App[bool]):
    """The small app shown before the worker's app: exits True when the database may be opened."""

    def __init__(self, db_path: Path) -> None:
        super().__init__()
        self.db_path = db_path
        self.title = "fieldapp"

    def on_mount(self) -> None:
        if dbkey.is_plain(self.db_path):
            self.push_screen(PlainOfferScreen(self.db_path), self._offer)
        else:
            exists = dbkey.key_path(self.db_path).exists() or dbkey.file_header(self.db_path)
            mode: Mode = "unlock" if exists else "create"
            self.push_screen(UnlockScreen(self.db_path, mode), self._unlocked)

    def _unlocked(self, key: dbkey.DbKey | None) -> None:
        if key is not None:
            dbkey.remember(self.db_path, key)
        self.exit(key is not None)

    def _offer(self, encrypt: bool | None) -> None:
        if not encrypt:
            self.exit(True)
            return
        self.push_screen(UnlockScreen(self.db_path, "create"), self._convert)

    def _convert(self, key: dbkey.DbKey | None) -> None:
        """The new key file was written for a new key: convert under the passphrase's wrap."""
        from fieldapp import encrypt_db

        if key is None:
            self.exit(True)
            return
        try:
            encrypt_db.encrypt_with(self.db_path, key)
        except (encrypt_db.EncryptError, dbkey.DbKeyError) as e:
            dbkey.key_path(self.db_path).unlink(missing_ok=True)
            self.notify(clean(str(e), lines=True), severity="error", markup=False)
            return
        self.exit(True)


def needs_screen(db_path: Path) -> bool:
    """Whether the unlock app must run: not when the key is known or FIELDAPP_PASSPHRASE opens it."""
    if dbkey.is_plain(db_path):
        return not dbkey.unencrypted_requested()
    if dbkey.file_header(db_path) is None and dbkey.unencrypted_requested():
        return False
    if dbkey.remembered(db_path) is not None:
        return False
    if os.environ.get(dbkey.PASSPHRASE_ENV) is None:
        return True
    try:
        dbkey.key_for(db_path)  # the explicit passphrase wins
    except dbkey.DbKeyError:
        return True
    return False


def ensure_unlocked(db_path: Path) -> bool:
    """Before the worker's or the district's app: False when the unlock screen was closed."""
    if not needs_screen(db_path):
        return True
    return bool(UnlockApp(db_path).run())


class AutoLock(App[None]):
    """The worker's and the district's app's base: remembers the last key or mouse press; after
    the idle time, locks."""

    _autolock_last = 0.0
    _autolock_locked = False

    def start_auto_lock(self, db_path: Path, minutes: float | None = None) -> None:
        if minutes is None:
            raw = os.environ.get(AUTOLOCK_ENV, "")
            try:
                minutes = float(raw) if raw else DEFAULT_AUTOLOCK_MINUTES
            except ValueError:
                minutes = DEFAULT_AUTOLOCK_MINUTES
        if minutes <= 0 or dbkey.is_plain(db_path):
            return
        self._autolock_path, self._autolock_idle = db_path, minutes * 60
        self._autolock_last = time.monotonic()
        self.set_interval(min(15.0, self._autolock_idle / 4), self._autolock_tick)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """While locked, the app's own keys (F2–F9 screens, the palette, help) do nothing: they would
        switch or pop the unlock screen away without a passphrase. Quitting stays possible."""
        if self._autolock_locked and action not in LOCKED_ACTIONS:
            return False
        return super().check_action(action, parameters)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key | events.MouseDown):
            self._autolock_last = time.monotonic()
        await super().on_event(event)

    def lock_after_idle(self, seconds: float) -> None:
        """As if the last key or click was `seconds` ago (tests; the timer checks every ≤ 15 s)."""
        self._autolock_last = time.monotonic() - seconds
        self._autolock_tick()

    def _autolock_tick(self) -> None:
        if self._autolock_locked or time.monotonic() - self._autolock_last < self._autolock_idle:
            return
        self.lock_now()

    def lock_now(self) -> None:
        """Cover the app with the unlock screen; every screen beneath stays as it is."""
        self._autolock_locked = True

        def unlocked(key: dbkey.DbKey | None) -> None:
            self._autolock_locked = False
            self._autolock_last = time.monotonic()

        self.push_screen(UnlockScreen(self._autolock_path, "relock"), unlocked)
