"""同步: export this month's bundle to a folder (a USB stick) with a progress bar, and the export history."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
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

from fieldapp import __version__, i18n
from fieldapp.i18n import t
from fieldapp.tui.safe import row, safe
from fieldapp.tui.screens.common import AppScreen


class SyncScreen(AppScreen):
    BINDINGS = [Binding("ctrl+e", "export", "export", priority=True)]
    CSS_PATH = "sync.tcss"

    def __init__(self) -> None:
        super().__init__()
        self.busy = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label(t("export_title"))
        yield Label(t("app_version", version=__version__), id="sync-version")
        yield Static("", id="sync-keys")
        with Horizontal(id="sync-key-row"):
            yield Label(t("district_key_file") + "：")
            yield Input("", id="sync-key-file", compact=True, placeholder="district.public.json")
            yield Button(t("install_key"), id="sync-key-install", compact=True)
        with Horizontal(id="sync-row"):
            yield Label(t("folder") + "：")
            yield Input(str(Path.home()), id="sync-folder", compact=True)
            yield Checkbox(t("full_export"), id="sync-full", compact=True)
            yield Button(t("export") + " (Ctrl+E)", id="sync-go", compact=True, variant="primary")
        yield ProgressBar(id="sync-bar", show_eta=False)
        yield Static("", id="sync-status")
        yield Label(t("export_history"))
        yield DataTable(id="sync-history", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(
            "#", t("period"), t("date"), t("file"), t("versions_n")
        )
        self.reload()

    def on_screen_resume(self) -> None:
        self.reload()

    def reload(self) -> None:
        from fieldapp import crypto
        from fieldapp.sync.export import history

        keys = self.fapp.store.keys()
        mine = (
            crypto.fingerprint(crypto.unb64(keys["sign_public"]))
            if keys.get("sign_public")
            else "—"
        )
        self.query_one("#sync-keys", Static).update(
            t(
                "key_line",
                device=mine,
                district=keys.get("district_fingerprint") or t("not_installed"),
            )
        )

        table = self.query_one(DataTable)
        table.clear()
        for h in history(self.fapp.store):
            table.add_row(
                *row(
                    str(h["seq"]),
                    h["period"],
                    h["created_at"][:16].replace("T", " "),
                    h["file_name"],
                    str(h["versions"]),
                ),
                key=h["bundle_id"],
            )

    @on(Button.Pressed, "#sync-key-install")
    @on(Input.Submitted, "#sync-key-file")
    def install_key(self) -> None:
        """The settings step of docs/security.md: install (or, after a rotation, replace) the district's public key."""
        from fieldapp import crypto
        from fieldapp.store import StoreError

        path = Path(self.query_one("#sync-key-file", Input).value.strip()).expanduser()
        try:
            public, fp = crypto.load_district_public(path)
            self.fapp.store.install_district_key(public, fp)
        except (crypto.KeyError_, StoreError) as e:
            self.query_one("#sync-status", Static).update(
                safe("✗ " + (e.en if i18n.lang() == "en" else e.zh))
            )
            return
        self.query_one("#sync-status", Static).update(safe("✓ " + t("key_installed", fp=fp)))
        self.reload()

    @on(Button.Pressed, "#sync-go")
    def action_export(self) -> None:
        if self.busy:
            return
        folder = Path(self.query_one("#sync-folder", Input).value.strip()).expanduser()
        self.busy = True
        self.query_one("#sync-status", Static).update(t("exporting"))
        self.run_export(folder, self.query_one("#sync-full", Checkbox).value)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def run_export(self, folder: Path, full: bool) -> None:
        """In a thread with its own connection (a SQLite connection stays in the thread that opened it)."""
        from fieldapp.integrity import DatabaseError
        from fieldapp.sqlite import sqlite3
        from fieldapp.store import Store, StoreError
        from fieldapp.sync.bundle import BundleError
        from fieldapp.sync.export import export, usb_fault

        bar = self.query_one(ProgressBar)

        def progress(done: int, total: int) -> None:
            self.app.call_from_thread(bar.update, total=max(total, 1), progress=done)

        message: str
        try:
            with Store.open(self.fapp.db_path) as store:
                result = export(
                    store, folder, full=full, progress=progress, allow_v1=False, mkdir=False
                )
            message = f"✓ {result.path}（{result.versions} {t('versions_n')}）"
        except OSError as e:  # the stick failed outside the export's own writes (full, read-only)
            message = "✗ " + _words(usb_fault(e, folder))
        except (StoreError, BundleError, DatabaseError) as e:
            message = "✗ " + _words(e)
        except sqlite3.Error as e:  # the laptop's own disk: the next export recovers the bundle
            message = f"✗ {e}"
        self.app.call_from_thread(self._done, message)

    def _done(self, message: str) -> None:
        self.busy = False
        self.query_one("#sync-status", Static).update(safe(message, lines=True))
        self.reload()


def _words(e: Exception) -> str:
    """The message in the UI's language (zh/en attributes), else its text; markup-safe later."""
    return str(getattr(e, "en" if i18n.lang() == "en" else "zh", None) or e)
