"""The supervisor's app: pick a folder of bundles, see each one's status, merge the chosen ones, read the summary."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Self

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
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

from fieldapp import i18n
from fieldapp.i18n import t
from fieldapp.store import Store
from fieldapp.tui.keys import Translated

STATUS_WORD = {
    "new": "status_new",
    "already": "status_already",
    "invalid": "status_invalid",
    "merged": "status_merged",
    "checked": "status_new",
}

# (column key, word) of the bundle list; a row's cells are filled by key, so none can swap
BUNDLE_COLUMNS = (
    ("✓", ""),
    ("file", "file"),
    ("community", "community"),
    ("period", "period"),
    ("seq", ""),
    ("status", "status"),
)


class MergeScreen(Translated, Screen[None]):
    BINDINGS = [
        Binding("ctrl+o", "scan", "scan"),
        Binding("space", "toggle_row", "toggle"),
        Binding("a", "select_new", "select_new"),
        Binding("m", "merge", "merge_selected"),
        Binding("escape", "cancel_merge", "cancel"),
    ]
    CSS_PATH = "district.tcss"

    def __init__(
        self, db_path: Path, folder: Path | None = None, key_file: Path | None = None
    ) -> None:
        super().__init__()
        self.db_path = db_path
        self.key_file = key_file
        self.folder = folder or Path.home()
        self.files: list[Path] = []
        self.status: dict[str, str] = {}
        self.selected: set[str] = set()
        self.cancel = threading.Event()
        self.busy = False

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
            yield Label(t("passphrase") + "：")
            yield Input("", id="merge-pass", password=True, compact=True)
            yield Checkbox(t("allow_v1"), id="merge-v1", compact=True)
        yield DataTable(id="bundles", cursor_type="row", zebra_stripes=True)
        yield ProgressBar(id="merge-bar", show_eta=False)
        yield Static("", id="summary")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in BUNDLE_COLUMNS:
            table.add_column(t(label) if label else key, key=key)
        self.action_scan()

    @on(Button.Pressed, "#scan")
    @on(Input.Submitted, "#merge-folder")
    def action_scan(self) -> None:
        from fieldapp.sync.merge import bundle_files, bundle_status

        self.folder = Path(self.query_one("#merge-folder", Input).value.strip()).expanduser()
        self.files = bundle_files([self.folder]) if self.folder.is_dir() else []
        table = self.query_one(DataTable)
        table.clear()
        self.status.clear()
        with Store.open(self.db_path) as store:
            for f in self.files:
                status, reason, manifest = bundle_status(store.conn, f)
                self.status[f.name] = status
                word = t(STATUS_WORD[status]) + (f"：{reason}" if reason else "")
                cells = {
                    "✓": "✓" if f.name in self.selected else "",
                    "file": f.name,
                    "community": (manifest or {}).get("community_code", ""),
                    "period": (manifest or {}).get("period", ""),
                    "seq": str((manifest or {}).get("seq", "")),
                    "status": word,
                }
                table.add_row(*(cells[key] for key, _ in BUNDLE_COLUMNS), key=f.name)
        if not self.selected:
            self.action_select_new()
        self.query_one("#summary", Static).update(t("bundles_found", n=len(self.files)))
        if self.files:
            table.focus()
        else:
            self.query_one("#merge-folder", Input).focus()

    def _mark(self) -> None:
        table = self.query_one(DataTable)
        for f in self.files:
            table.update_cell(f.name, "✓", "✓" if f.name in self.selected else "")

    def action_toggle_row(self) -> None:
        table = self.query_one(DataTable)
        if not self.files:
            return
        name = self.files[table.cursor_row].name
        self.selected ^= {name}
        self._mark()

    def action_select_new(self) -> None:
        self.selected = {name for name, s in self.status.items() if s == "new"}
        self._mark()

    @on(Button.Pressed, "#merge")
    def action_merge(self) -> None:
        if self.busy:
            return
        chosen = [f for f in self.files if f.name in self.selected]
        if not chosen:
            self.notify(t("nothing_selected"), severity="warning")
            return
        key = None
        key_path = self.query_one("#merge-key", Input).value.strip()
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
        from fieldapp.sync.merge import merge_files, missing_bundles

        bar = self.query_one(ProgressBar)
        results: list[Any] = []
        with Store.open(self.db_path) as store:

            def progress(done: int, total: int) -> None:
                self.app.call_from_thread(bar.update, total=total, progress=done)

            results = merge_files(
                store.conn,
                chosen,
                progress=progress,
                cancel=self.cancel,
                district_key=district_key,
                allow_v1=allow_v1,
            )
            missing = missing_bundles(store.conn)
        self.app.call_from_thread(self._merged, results, missing)

    def _merged(self, results: list[Any], missing: dict[str, list[tuple[int, int]]]) -> None:
        from rich.table import Table

        from fieldapp.sync.merge import gaps_text

        self.busy = False
        totals: dict[str, list[int]] = {}
        for r in results:
            for kind, k in r.kinds.items():
                row = totals.setdefault(kind, [0, 0, 0, 0, 0])
                for i, f in enumerate(("new", "updated", "unchanged", "conflicts", "rejected")):
                    row[i] += getattr(k, f)
        table = Table(title=t("import_summary"), expand=True)
        table.add_column("")
        for h in ("new", "updated", "unchanged", "conflicts", "rejected"):
            table.add_column(t(f"sum_{h}"), justify="right")
        for kind, row in sorted(totals.items()):
            table.add_row(i18n.kind_label(kind), *map(str, row))
        lines = [
            f"{r.path.name}: {t(STATUS_WORD[r.status])}" + (f"：{r.reason}" if r.reason else "")
            for r in results
            if r.status == "invalid"
        ]
        for device, seqs in missing.items():
            lines.append(t("missing_bundles", device=device[:8], seqs=gaps_text(seqs)))
        from rich.console import Group
        from rich.text import Text

        self.selected.clear()
        self.action_scan()  # the statuses change: merged bundles are now "already merged"
        self.query_one("#summary", Static).update(Group(table, *[Text(x) for x in lines]))


class DistrictApp(Translated, App[None]):
    TITLE = "fieldapp"
    BINDINGS = [
        Binding("f2", "goto('merge')", "merge", priority=True),
        Binding("f3", "goto('indicators')", "indicators", priority=True),
        Binding("f4", "goto('review')", "review", priority=True),
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

    def on_mount(self) -> None:
        self.goto("merge")

    def goto(self, name: str) -> None:
        """F2 merge, F3 indicators, F4 review: one instance of each, switched in place."""
        from fieldapp.tui.district_report import IndicatorScreen, ReviewScreen

        if not self.is_screen_installed(name):
            factory: dict[str, Any] = {
                "merge": lambda: MergeScreen(self.db_path, self.folder, self.key_file),
                "indicators": lambda: IndicatorScreen(self.db_path),
                "review": lambda: ReviewScreen(self.db_path),
            }
            self.install_screen(factory[name](), name)
        if len(self.screen_stack) > 1 and self.screen.is_modal:
            return
        if len(self.screen_stack) <= 1:
            self.push_screen(name)
        elif self.screen is not self.get_screen(name):
            self.switch_screen(name)

    def action_goto(self, name: str) -> None:
        self.goto(name)


def run_district(db_path: Path, *, lang: str | None = None, key_file: Path | None = None) -> None:
    DistrictApp(db_path, lang=lang, key_file=key_file).run()
