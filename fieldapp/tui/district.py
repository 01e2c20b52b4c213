"""The supervisor's app: pick a folder of bundles, see each one's status, merge the chosen ones, read the summary."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Self

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import (
    Button,
    Checkbox,
    DataTable,
    Footer,
    Header,
    Input,
    Label,
    ProgressBar,
    Static,
)

from fieldapp import i18n, paths
from fieldapp.i18n import t
from fieldapp.mergelog import MergeLog
from fieldapp.store import Store
from fieldapp.tui import district_words
from fieldapp.tui.heap import freeze_startup
from fieldapp.tui.keys import Translated
from fieldapp.tui.safe import SafeNotify, row, safe
from fieldapp.tui.screens.unlock import AutoLock, ensure_unlocked

district_words.register()

STATUS_WORD = {
    "new": "status_new",
    "already": "status_already",
    "invalid": "status_invalid",
    "refused": "status_refused",
    "merged": "status_merged",
    "checked": "status_new",
}

# (column key, word) of the bundle list; a row's cells are filled by key, so none can swap. The
# file comes before its status, and the status cell holds a word and the start of the reason: the
# whole reason is on the line under the table (issue 16, point 2)
BUNDLE_COLUMNS = (
    ("✓", ""),
    ("file", "file"),
    ("status", "status"),
    ("community", "community"),
    ("period", "period"),
    ("seq", ""),
)
REASON_CELL = 14  # characters of a reason shown in the status cell
UI_STATE = "district-ui.json"
PRELOAD_AFTER = 1.0  # seconds after the first paint
DISTRICT_SCREEN_MODULES = (
    "fieldapp.tui.district_report",
    "fieldapp.tui.screens.devices",
    "fieldapp.tui.screens.checklist",
)


def _remembered_folder() -> Path | None:
    """The folder scanned last time (kept in the data dir), if it is still there."""
    try:
        data = json.loads((paths.data_dir() / UI_STATE).read_text(encoding="utf-8"))
        folder = Path(str(data["folder"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return folder if folder.is_dir() else None


def _remember_folder(folder: Path) -> None:
    try:
        paths.data_dir().mkdir(parents=True, exist_ok=True)
        (paths.data_dir() / UI_STATE).write_text(
            json.dumps({"folder": str(folder)}, ensure_ascii=False), encoding="utf-8"
        )
    except OSError:
        pass  # not remembering the folder is no reason to stop a merge


def _status_cell(status: str, reason: str | None) -> str:
    word = t(STATUS_WORD[status])
    if not reason:
        return word
    short = reason if len(reason) <= REASON_CELL else reason[: REASON_CELL - 1] + "…"
    return f"{word}：{short}"


class MergeScreen(Translated, Screen[None]):
    BINDINGS = [
        Binding("ctrl+o", "scan", "scan", show=False),
        Binding("space", "toggle_row", "toggle", show=False),
        Binding("a", "select_new", "select_new", show=False),
        Binding("m", "merge", "merge_selected"),
        Binding("l", "show_log", "open_log"),
        Binding("escape", "cancel_merge", "cancel", show=False),
    ]
    CSS_PATH = "district.tcss"

    def __init__(
        self, db_path: Path, folder: Path | None = None, key_file: Path | None = None
    ) -> None:
        super().__init__()
        self.db_path = db_path
        self.key_file = key_file
        self.folder = folder or _remembered_folder() or Path.home()
        self.scanned: Path | None = None
        self.files: list[Path] = []
        self.status: dict[str, str] = {}
        self.reasons: dict[str, str] = {}
        self.refused: dict[str, str] = {}  # file name → the merge's reason, kept for later scans
        self.selected: set[str] = set()
        self.cancel = threading.Event()
        self.busy = False
        self.merge_log: MergeLog | None = None
        self.log_path: Path | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="merge-row"):
            yield Label(t("folder") + "：")
            yield Input(str(self.folder), id="merge-folder", compact=True)
            yield Button(t("scan") + " (Ctrl+O)", id="scan", compact=True)
            yield Button(t("merge_selected") + " (M)", id="merge", compact=True, variant="primary")
        with Horizontal(id="merge-key-row"):
            yield Label(t("key_file") + "：")
            yield Input(str(self.key_file or ""), id="merge-key", compact=True)
        with Horizontal(id="merge-pass-row"):
            yield Label(t("passphrase") + "：")
            yield Input("", id="merge-pass", password=True, compact=True)
            yield Checkbox(t("allow_v1"), id="merge-v1", compact=True)
        yield DataTable(id="bundles", cursor_type="row", zebra_stripes=True)
        yield Static("", id="bundle-detail")
        yield ProgressBar(id="merge-bar", show_eta=False)
        with VerticalScroll(id="summary-box"):
            yield Static("", id="summary")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in BUNDLE_COLUMNS:
            table.add_column(t(label) if label else key, key=key)
        self.action_scan()

    def _key(self, f: Path) -> str:
        """A bundle's row key and shown name: its path under the scanned folder."""
        try:
            return f.relative_to(self.folder).as_posix()
        except ValueError:
            return f.name

    @on(Button.Pressed, "#scan")
    @on(Input.Submitted, "#merge-folder")
    def action_scan(self) -> None:
        from fieldapp.checklist import bundle_paths, refusal_reason

        self.folder = Path(self.query_one("#merge-folder", Input).value.strip()).expanduser()
        self.files = bundle_paths([self.folder]) if self.folder.is_dir() else []
        if self.folder != self.scanned:  # another folder: its new bundles are ticked
            self.selected.clear()
            if self.folder.is_dir():
                _remember_folder(self.folder)
        table = self.query_one(DataTable)
        table.clear()
        self.status.clear()
        self.reasons.clear()
        names = {r[0]: r[1] for r in self._rows("SELECT code, name_zh FROM ref_community")}
        with Store.open(self.db_path) as store:
            for f in self.files:
                manifest, reason = refusal_reason(store.conn, f)
                key = self._key(f)
                reason = self.refused.get(f.name, "" if reason == "already" else reason)
                status = (
                    "already"
                    if reason == "" and manifest and self._merged(store, manifest)
                    else (("refused" if manifest else "invalid") if reason else "new")
                )
                self.status[key] = status
                self.reasons[key] = reason
                code = str((manifest or {}).get("community_code", ""))
                cells = {
                    "✓": "",
                    "file": key,
                    "community": names.get(code, code),
                    "period": str((manifest or {}).get("period", "")),
                    "seq": str((manifest or {}).get("seq", "")),
                    "status": _status_cell(status, reason),
                }
                table.add_row(*row(*(cells[k] for k, _ in BUNDLE_COLUMNS)), key=key)
        if not self.selected & set(self.status):
            self.action_select_new()
        self._mark()
        self.scanned = self.folder
        self.query_one("#summary", Static).update(t("bundles_found", n=len(self.files)))
        self._detail()
        if self.files:
            table.focus()
        else:
            self.query_one("#merge-folder", Input).focus()

    @staticmethod
    def _merged(store: Store, manifest: dict[str, Any]) -> bool:
        row = store.conn.execute(
            "SELECT 1 FROM bundles WHERE bundle_id = ?", (manifest.get("bundle_id"),)
        ).fetchone()
        return row is not None

    def _rows(self, sql: str) -> list[tuple[Any, ...]]:
        with Store.open(self.db_path) as store:
            return [tuple(r) for r in store.conn.execute(sql)]

    @on(DataTable.RowHighlighted, "#bundles")
    def _detail(self) -> None:
        """The highlighted bundle's whole reason, under the table (a cell holds only its start)."""
        table = self.query_one(DataTable)
        text = ""
        if self.files and 0 <= table.cursor_row < len(self.files):
            key = self._key(self.files[table.cursor_row])
            reason = self.reasons.get(key, "")
            text = f"{key}：{t(STATUS_WORD[self.status[key]])}" + (f"：{reason}" if reason else "")
        self.query_one("#bundle-detail", Static).update(safe(text))

    def _mark(self) -> None:
        table = self.query_one(DataTable)
        for f in self.files:
            key = self._key(f)
            table.update_cell(key, "✓", "✓" if key in self.selected else "")

    def action_toggle_row(self) -> None:
        table = self.query_one(DataTable)
        if not self.files:
            return
        self.selected ^= {self._key(self.files[table.cursor_row])}
        self._mark()

    def action_select_new(self) -> None:
        self.selected = {name for name, s in self.status.items() if s == "new"}
        self._mark()

    @on(Button.Pressed, "#merge")
    def action_merge(self) -> None:
        if self.busy:
            return
        chosen = [f for f in self.files if self._key(f) in self.selected]
        if not chosen:
            self.notify(t("nothing_selected"), severity="warning")
            return
        key = None
        key_path = self.query_one("#merge-key", Input).value.strip()
        if key_path and not self.query_one("#merge-pass", Input).value:
            self.notify(t("passphrase_needed"), severity="warning")  # asked again, not "wrong"
            self.query_one("#merge-pass", Input).focus()
            return
        if key_path:
            from fieldapp import crypto

            try:
                key = crypto.load_district_private(
                    Path(key_path).expanduser(), self.query_one("#merge-pass", Input).value
                )
            except (crypto.KeyError_, OSError) as e:
                self.notify(
                    getattr(e, "zh", str(e)) if i18n.lang() == "zh" else getattr(e, "en", str(e)),
                    severity="error",
                )
                return
        self.busy = True
        self.cancel.clear()
        self.run_merge(chosen, key, self.query_one("#merge-v1", Checkbox).value)

    def action_cancel_merge(self) -> None:
        self.cancel.set()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def run_merge(self, chosen: list[Path], district_key: Any, allow_v1: bool) -> None:
        """Merging runs in a thread with its own connection; the UI stays live and shows progress."""
        from fieldapp import review
        from fieldapp.sync.merge import merge_files, missing_bundles

        bar = self.query_one(ProgressBar)
        with Store.open(self.db_path) as store:
            finished = [0]  # bundles done; a large bundle moves the bar by its versions

            def progress(done: int, total: int) -> None:
                finished[0] = done
                self.app.call_from_thread(bar.update, total=total * 100, progress=done * 100)

            def lines(done: int, total: int) -> None:
                step = finished[0] * 100 + done * 100 // max(total, 1)
                self.app.call_from_thread(bar.update, total=len(chosen) * 100, progress=step)

            before = review.counts(store.conn)
            results = merge_files(
                store.conn,
                chosen,
                progress=progress,
                lines=lines,
                cancel=self.cancel,
                district_key=district_key,
                allow_v1=allow_v1,
            )
            log = MergeLog(
                chosen, results, before, review.counts(store.conn), missing_bundles(store.conn)
            )
            from fieldapp.report import warm

            warm(store.conn, (r.status for r in results))  # F3 and `fieldapp report` at once
        self.app.call_from_thread(self._merged_run, log)

    def _merged_run(self, log: MergeLog) -> None:
        """The run's log: saved next to the database, its head in the panel (refusals first)."""
        self.busy = False
        self.merge_log = log
        for name, reason in log.refusals:
            self.refused[name] = reason
        labels = {k: i18n.kind_label(k) for k in log.totals()}
        try:
            self.log_path = log.save(self.db_path, i18n.lang(), labels)
            self.notify(t("log_saved", path=self.log_path))
        except OSError as e:
            self.notify(f"{self.db_path.parent}: {e.strerror}", severity="error")
        self.selected.clear()
        self.action_scan()  # the statuses change: merged bundles are now "already merged"
        lines = log.lines(i18n.lang(), labels)
        self.query_one("#summary", Static).update(
            safe("\n".join([t("import_summary") + "：" + lines[0], *lines[1:]]), lines=True)
        )

    def action_show_log(self) -> None:
        if self.merge_log is not None:
            labels = {k: i18n.kind_label(k) for k in self.merge_log.totals()}
            self.app.push_screen(
                MergeLogScreen(self.merge_log.text(i18n.lang(), labels), self.log_path)
            )


class MergeLogScreen(Translated, ModalScreen[None]):
    """The whole log of the last merge run, scrollable; Esc closes it."""

    BINDINGS = [Binding("escape,q", "dismiss", "back")]
    CSS_PATH = "district.tcss"

    def __init__(self, text: str, saved: Path | None) -> None:
        super().__init__()
        self.text, self.saved = text, saved

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="log-box"):
            yield Static(safe(self.text, lines=True), id="log-text")
        yield Label(safe(self.saved or ""), id="log-path")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#log-box").focus()


class ConfirmDialog(Translated, ModalScreen[bool]):
    """A question that names what will happen; Y confirms, N or Esc does not."""

    BINDINGS = [
        Binding("y", "answer(True)", "confirm_yes"),
        Binding("n,escape", "answer(False)", "confirm_no"),
    ]
    CSS_PATH = "district.tcss"

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Static(safe(self.question, lines=True), id="confirm-text")
            yield Label(f"[Y] {t('confirm_yes')}  [N] {t('confirm_no')}")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class DistrictApp(AutoLock, Translated, SafeNotify):
    TITLE = "fieldapp"
    BINDINGS = [
        Binding("f2", "goto('merge')", "merge", priority=True),
        Binding("f3", "goto('indicators')", "indicators", priority=True),
        Binding("f4", "goto('review')", "review", priority=True),
        Binding("f5", "goto('devices')", "devices", priority=True),
        Binding("f6", "goto('checklist')", "checklist", priority=True),
        Binding("ctrl+q", "quit", "quit", priority=True),
    ]

    def __new__(
        cls,
        db_path: Path,
        *,
        lang: str | None = None,
        folder: Path | None = None,
        key_file: Path | None = None,
    ) -> Self:
        i18n.set_lang(lang)  # first: the language picks the class's twin (keys.Translated)
        return super().__new__(cls)

    def __init__(
        self,
        db_path: Path,
        *,
        lang: str | None = None,
        folder: Path | None = None,
        key_file: Path | None = None,
    ) -> None:
        i18n.set_lang(lang)
        super().__init__()
        self.db_path = db_path
        self.folder = folder
        self.key_file = key_file
        self.title = t("district_title")
        freeze_startup()

    def on_mount(self) -> None:
        self.start_auto_lock(self.db_path)  # data at rest (issue 18): the worker's auto-lock
        self.goto("merge")
        # after the first paint, and then a second more: nothing competes with the first screen
        self.call_after_refresh(self.set_timer, PRELOAD_AFTER, self._preload)

    def _preload(self) -> None:
        """The other screens' modules (the report's among them), imported in a thread once the
        merge screen is up: the first screen never waits for them (issue 20: start-up)."""
        import importlib

        def load() -> None:
            for module in DISTRICT_SCREEN_MODULES:
                importlib.import_module(module)

        threading.Thread(target=load, name="preload", daemon=True).start()

    def _screen(self, name: str) -> Screen[None]:
        """A new instance of the screen `name`; only its own module is imported."""
        if name == "merge":
            return MergeScreen(self.db_path, self.folder, self.key_file)
        if name in ("indicators", "review"):
            from fieldapp.tui.district_report import IndicatorScreen, ReviewScreen

            return (
                IndicatorScreen(self.db_path)
                if name == "indicators"
                else ReviewScreen(self.db_path)
            )
        if name == "devices":
            from fieldapp.tui.screens.devices import DevicesScreen

            return DevicesScreen(self.db_path)
        from fieldapp.tui.screens.checklist import ChecklistScreen

        return ChecklistScreen(self.db_path, self._folder)

    def goto(self, name: str) -> None:
        """F2 merge, F3 indicators, F4 review, F5 devices, F6 checklist: one instance of each, switched in place."""
        if not self.is_screen_installed(name):
            self.install_screen(self._screen(name), name)
        if len(self.screen_stack) > 1 and self.screen.is_modal:
            return
        if len(self.screen_stack) <= 1:
            self.push_screen(name)
        elif self.screen is not self.get_screen(name):
            self.switch_screen(name)

    def _folder(self) -> Path | None:
        """The folder the merge screen scanned last: the checklist looks for refusals there."""
        if self.is_screen_installed("merge"):
            screen = self.get_screen("merge")
            if isinstance(screen, MergeScreen):
                return screen.scanned
        return self.folder

    def action_goto(self, name: str) -> None:
        self.goto(name)


def run_district(db_path: Path, *, lang: str | None = None, key_file: Path | None = None) -> None:
    if ensure_unlocked(db_path):  # data at rest (issue 18): the worker's unlock screen comes first
        DistrictApp(db_path, lang=lang, key_file=key_file).run()
