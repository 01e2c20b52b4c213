"""The worker's app: screens for every record kind, keyboard first, Chinese by default."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from textual.app import SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from fieldapp import i18n, kinds
from fieldapp.i18n import t
from fieldapp.kinds import KINDS
from fieldapp.store import Store
from fieldapp.text import clean
from fieldapp.tui.heap import freeze_startup
from fieldapp.tui.keys import Translated
from fieldapp.tui.safe import SafeNotify
from fieldapp.tui.screens.unlock import AutoLock, ensure_unlocked

if TYPE_CHECKING:  # forms import the models: loaded when the first form opens
    from fieldapp.tui.forms import FormResult

# every kind can be added from the palette but meal counts, which the day's grid (6) takes
PALETTE_KINDS = tuple(k for k in KINDS if k != "meal_count")

# (key, screen name, word) — the main screens, each one key away
SCREENS: list[tuple[str, str, str]] = [
    ("1", "dashboard", "dashboard"),
    ("2", "elders", "elders"),
    ("3", "home_visit", "home_visit"),
    ("4", "assessment", "assessment"),
    ("5", "retrofit", "retrofit"),
    ("6", "meals", "meals"),
    ("7", "volunteer_event", "volunteer_event"),
    ("8", "volunteer", "volunteer"),
    ("9", "sync", "sync"),
]


# the module of each screen (dashboard, elders, meals, sync, retrofit; the rest are record lists)
SCREEN_MODULES = {
    "dashboard": "fieldapp.tui.screens.dashboard",
    "elders": "fieldapp.tui.screens.elders",
    "meals": "fieldapp.tui.screens.meals",
    "sync": "fieldapp.tui.screens.sync",
    "records": "fieldapp.tui.screens.records",
}
PRELOAD_AFTER = 1.0  # seconds after the first paint: the other screens' modules, while idle


def _screen_factory(name: str) -> Screen[Any]:
    """Only the module of the screen asked for is imported (issue 20: start-up); the others are
    loaded after the first paint by `FieldApp._preload`."""
    if name == "dashboard":
        from fieldapp.tui.screens.dashboard import DashboardScreen

        return DashboardScreen()
    if name == "elders":
        from fieldapp.tui.screens.elders import ElderListScreen

        return ElderListScreen()
    if name == "meals":
        from fieldapp.tui.screens.meals import MealGridScreen

        return MealGridScreen()
    if name == "sync":
        from fieldapp.tui.screens.sync import SyncScreen

        return SyncScreen()
    from fieldapp.tui.screens.records import RecordListScreen, RetrofitScreen

    if name == "retrofit":
        return RetrofitScreen()
    return RecordListScreen(name)


class FieldApp(AutoLock, Translated, SafeNotify):
    CSS_PATH = "app.tcss"
    TITLE = "fieldapp"
    BINDINGS = [
        # shown in each screen's ScreenBar: the footer keeps its 80 columns for the screen's keys
        *[Binding(key, f"goto('{name}')", word, show=False) for key, name, word in SCREENS],
        # F2–F9 reach the same screens while typing in a field (digits go into the field then)
        *[
            Binding(f"f{int(key) + 1}", f"goto('{name}')", word, show=False, priority=True)
            for key, name, word in SCREENS
        ],
        Binding("f1,question_mark", "help", "help"),
        Binding("ctrl+q", "quit", "quit", priority=True),
    ]

    def __new__(cls, db_path: Path, *, lang: str | None = None) -> Self:
        i18n.set_lang(lang)  # first: the language picks the class's twin (keys.Translated)
        return super().__new__(cls)

    def __init__(self, db_path: Path, *, lang: str | None = None) -> None:
        self.lang = i18n.set_lang(lang)
        super().__init__()
        self.db_path = db_path
        self.store = Store.open(db_path)
        self.title = t("app_title")
        freeze_startup()

    def on_mount(self) -> None:
        self.start_auto_lock(self.db_path)  # data at rest (issue 18): unlock screen after idle
        from fieldapp.tui.instances import InstanceLock

        self.instance_lock = InstanceLock(self.db_path)
        if not self.instance_lock.acquire():
            self.notify(t("other_instance"), severity="warning", timeout=10)
        self._data_version = self._read_data_version()
        self.set_interval(2.0, self._watch_database)
        if self.store.device() is None:
            from fieldapp.tui.screens.first_run import FirstRunScreen

            self.push_screen(FirstRunScreen(self.store), self._after_setup)
        else:
            self._after_setup(True)

    def _after_setup(self, ok: bool | None) -> None:
        dev = self.store.device()
        if dev is not None:
            # the label often ends with the worker's name already (城西示例社区01-李小梅)
            self.sub_title = clean(
                dev.label
                if dev.worker and dev.worker in dev.label
                else f"{dev.label} · {dev.worker}"
            )
            self.goto("dashboard")
            # after the first paint, and then a second more: nothing competes with the first screen
            self.call_after_refresh(self.set_timer, PRELOAD_AFTER, self._preload)

    def _preload(self) -> None:
        """The other screens' modules (and the forms'), imported in a thread once the first screen
        is painted and the worker is reading it: the first key press to another screen then costs
        no import, and the screen on display stays live meanwhile."""
        import importlib
        import threading

        def load() -> None:
            for module in (*SCREEN_MODULES.values(), "fieldapp.tui.forms"):
                importlib.import_module(module)

        threading.Thread(target=load, name="preload", daemon=True).start()

    def on_unmount(self) -> None:
        self.instance_lock.release()
        self.store.close()

    # ------------------------------------------------------------ another window on this file

    def _read_data_version(self) -> int:
        return int(self.store.conn.execute("PRAGMA data_version").fetchone()[0])

    def _watch_database(self) -> None:
        """SQLite bumps `data_version` when another connection commits: then the screen re-reads,
        so a second window (or a CLI import) never leaves this one stale. Not once the app is
        stopping: its screens' widgets go first, and a reload then found none (CI, NoMatches)."""
        if not self.is_running:
            return
        version = self._read_data_version()
        if version != self._data_version:
            self._data_version = version
            reload = getattr(self.screen, "reload", None)
            if callable(reload) and not getattr(self.screen, "has_unsaved", lambda: False)():
                reload()

    # ------------------------------------------------------------ navigation

    def goto(self, name: str) -> None:
        if self.store.device() is None:
            return
        unsaved = getattr(self.screen, "has_unsaved", None)
        if callable(unsaved) and unsaved() and self.screen is not self._installed(name):
            from fieldapp.tui.screens.common import ConfirmDialog

            def done(yes: bool | None) -> None:
                if yes:
                    discard = getattr(self.screen, "discard", None)
                    if callable(discard):
                        discard()
                    self.goto(name)

            self.push_screen(ConfirmDialog(t("discard_unsaved")), done)
            return
        self._go(name)

    def _installed(self, name: str) -> Screen[Any] | None:
        return self.get_screen(name) if self.is_screen_installed(name) else None

    def _go(self, name: str) -> None:
        if not self.is_screen_installed(name):
            self.install_screen(_screen_factory(name), name)
        if len(self.screen_stack) > 1 and self.screen.is_modal:
            return
        if self.screen_stack and self.screen_stack[-1] is self.get_screen(name):
            return
        if len(self.screen_stack) <= 1:
            self.push_screen(name)
        else:
            while len(self.screen_stack) > 2:
                self.pop_screen()
            self.switch_screen(name)

    def action_goto(self, name: str) -> None:
        self.goto(name)

    def action_help(self) -> None:
        from fieldapp.tui.screens.common import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        # the worker's own commands only, in the UI language (not Textual's Keys/Maximize/Theme)
        for key, name, word in SCREENS:
            yield SystemCommand(f"{t(word)} ({key})", t(word), lambda name=name: self.goto(name))
        for kind in PALETTE_KINDS:
            yield SystemCommand(
                f"{t('new')}：{i18n.kind_label(kind)}",
                i18n.kind_label(kind),
                lambda kind=kind: self.new_record(kind),
            )
        yield SystemCommand(t("import_roster"), t("import_roster"), self.action_import_roster)
        yield SystemCommand(t("help") + " (F1)", t("keys"), self.action_help)
        yield SystemCommand(t("quit") + " (Ctrl+Q)", t("quit"), self.action_quit)

    def action_import_roster(self) -> None:
        """The first day: a community's existing register (XLSX/CSV), checked, then imported."""
        from fieldapp.tui.screens.roster import RosterImportScreen

        def done(n: int | None) -> None:
            if n:
                self.notify(t("roster_imported", n=n))
                reload = getattr(self.screen, "reload", None)
                if callable(reload):
                    reload()

        self.push_screen(RosterImportScreen(self.db_path), done)

    # ------------------------------------------------------------ records

    def defaults(self, kind: str) -> dict[str, Any]:
        """What a new record starts with: today, this worker, this community."""
        dev = self.store.device()
        today = kinds.today().isoformat()
        worker = dev.worker if dev else None
        community = dev.community_code if dev else None
        table: dict[str, dict[str, Any]] = {
            "elder": {"community_code": community, "consent": "statutory_duty", "status": "active"},
            "home_visit": {
                "visit_date": today,
                "worker": worker,
                "contact_mode": "in_person",
                "service_type": "daily_visit",
                "funding": "gov_purchase",
                "elder_condition": "good",
                "referral": "none",
            },
            "assessment": {
                "assess_date": today,
                "assessors": [worker] if worker else [],
                "reason": "routine",
            },
            "retrofit": {
                "project_year": kinds.today().year,
                "status": "applied",
                "apply_date": today,
                "funding_type": "subsidized",
            },
            "meal_point": {"community_code": community, "status": "open", "modes": ["dine_in"]},
            "meal_count": {"service_date": today, "meal": "lunch"},
            "volunteer": {"community_code": community},
            "volunteer_event": {
                "event_date": today,
                "community_code": community,
                "status": "done",
                "start_time": "09:00",
                "end_time": "11:00",
            },
        }
        return table[kind]

    def new_record(
        self,
        kind: str,
        *,
        elder: tuple[str, str] | None = None,
        initial: dict[str, Any] | None = None,
        then: Callable[[FormResult | None], None] | None = None,
    ) -> None:
        from fieldapp import models

        # a record about one elder (its model has an elder field) starts by picking the elder
        if elder is None and "elder_id" in models.MODELS[kind].model_fields:
            from fieldapp.tui.screens.common import ElderPicker

            def picked(choice: tuple[str, str] | None) -> None:
                if choice:
                    self.new_record(kind, elder=choice, initial=initial, then=then)

            self.push_screen(ElderPicker(self.store), picked)
            return
        from fieldapp.tui.forms import RecordForm

        data = self.defaults(kind) | (initial or {})
        context: dict[str, Any] = {}
        if elder is not None:
            data["elder_id"] = elder[0]
            context = {"elder_id": elder[0], "elder_name": elder[1]}
        self.push_screen(
            RecordForm(self.store, kind, initial=data, context=context), then or self._saved
        )

    def edit_record(
        self, kind: str, record_id: str, *, initial: dict[str, Any] | None = None
    ) -> None:
        from fieldapp.tui.forms import RecordForm

        cur = self.store.get(kind, record_id)
        context: dict[str, Any] = {}
        elder_id = cur.record.payload().get("elder_id")
        if elder_id:
            context = {
                "elder_id": elder_id,
                "elder_name": self.store.elder_names([elder_id]).get(elder_id, "?"),
            }
        self.push_screen(
            RecordForm(self.store, kind, record_id=record_id, initial=initial, context=context),
            self._saved,
        )

    def _saved(self, result: FormResult | None) -> None:
        if result is None:
            return
        self.notify(f"{t('saved')}：{i18n.kind_label(result.saved.kind)}")
        reload = getattr(self.screen, "reload", None)
        if callable(reload):
            reload()


def run(db_path: Path, *, lang: str | None = None) -> None:
    if ensure_unlocked(db_path):  # data at rest (issue 18): the unlock screen comes first
        FieldApp(db_path, lang=lang).run()
