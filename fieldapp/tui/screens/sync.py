"""同步: export this month's bundle to a folder (a USB stick) with a progress bar, import the district's return bundles (and colleagues' bundles), and the export history."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

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
from fieldapp.tui.screens.common import AppScreen, ScreenBar

if TYPE_CHECKING:
    from fieldapp.store import Store


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
        with Horizontal(id="sync-row"):  # the folder on a row of its own: a path is long
            yield Label(t("folder") + "：")
            yield Input(str(Path.home()), id="sync-folder", compact=True)
        with Horizontal(id="sync-actions"):
            yield Checkbox(t("full_export"), id="sync-full", compact=True)
            yield Checkbox(t("for_colleagues"), id="sync-colleagues", compact=True)
            yield Button(t("export") + " (Ctrl+E)", id="sync-go", compact=True, variant="primary")
            yield Button(t("import"), id="sync-import", compact=True)
        # shown from the first export on: idle, an empty bar would sweep as if something ran
        bar = ProgressBar(id="sync-bar", show_eta=False)
        bar.display = False
        yield bar
        yield Static("", id="sync-status")
        yield Static("", id="sync-acks")
        yield Label(t("export_history"))
        yield DataTable(id="sync-history", cursor_type="row")
        yield ScreenBar()
        yield Footer(compact=True, show_command_palette=False)

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

        self.query_one("#sync-acks", Static).update(acks_line(self.fapp.store))
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
        from fieldapp.district_keys import OLD_PUBLIC_ZH, read_district_public

        try:
            public, fp = crypto.load_district_public(path)
            sign = read_district_public(path).sign_public
            self.fapp.store.install_district_key(public, fp, sign)
        except (crypto.KeyError_, StoreError) as e:
            self.query_one("#sync-status", Static).update(
                safe("✗ " + (e.en if i18n.lang() == "en" else e.zh))
            )
            return
        old = "" if sign else "\n" + OLD_PUBLIC_ZH  # told to install the new file
        self.query_one("#sync-status", Static).update(
            safe("✓ " + t("key_installed", fp=fp) + old, lines=True)
        )
        self.reload()

    @on(Button.Pressed, "#sync-go")
    def action_export(self) -> None:
        if self.busy:
            return
        folder = Path(self.query_one("#sync-folder", Input).value.strip()).expanduser()
        self.busy = True
        self.query_one(ProgressBar).display = True
        self.query_one("#sync-status", Static).update(t("exporting"))
        self.run_export(
            folder,
            self.query_one("#sync-full", Checkbox).value,
            self.query_one("#sync-colleagues", Checkbox).value,
        )

    @on(Button.Pressed, "#sync-import")
    def action_import(self) -> None:
        """Every return bundle (and colleague's bundle) in the folder, each all or nothing."""
        if self.busy:
            return
        folder = Path(self.query_one("#sync-folder", Input).value.strip()).expanduser()
        self.busy = True
        self.query_one("#sync-status", Static).update(t("importing"))
        self.run_import(folder)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def run_import(self, folder: Path) -> None:
        from fieldapp.store import Store

        with Store.open(self.fapp.db_path) as store:
            message = import_folder(store, folder)
        self.app.call_from_thread(self._done, message)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def run_export(self, folder: Path, full: bool, for_colleagues: bool = False) -> None:
        """In a thread with its own connection (a SQLite connection stays in the thread that opened it)."""
        from fieldapp.integrity import DatabaseError
        from fieldapp.sqlite import sqlite3
        from fieldapp.store import Store, StoreError
        from fieldapp.sync.bundle import BundleError
        from fieldapp.sync.export import export, target_folder, usb_fault

        bar = self.query_one(ProgressBar)

        def progress(done: int, total: int) -> None:
            self.app.call_from_thread(bar.update, total=max(total, 1), progress=done)

        message: str
        try:
            target_folder(folder, mkdir=False)  # never created here: the stick must be plugged in
            with Store.open(self.fapp.db_path) as store:
                result = export(
                    store,
                    folder,
                    full=full,
                    progress=progress,
                    allow_v1=False,
                    for_colleagues=for_colleagues,
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


def acks_line(store: Store) -> str:
    """“区里已收到第 1–7 个同步包” and what the district lacks, from the return bundles applied."""
    from fieldapp.sync.return_format import ranges_text
    from fieldapp.sync.return_read import district_has

    has, lacks = district_has(store)
    if not store.conn.execute("SELECT 1 FROM applied_returns LIMIT 1").fetchone():
        return t("no_return_yet")
    parts = [t("district_has", seqs=ranges_text(has))] if has else []
    if lacks:
        parts.append(t("district_lacks", seqs=ranges_text(lacks)))
    return "；".join(parts)


def import_folder(store: Store, folder: Path) -> str:
    """Import the bundles in `folder` that are not this laptop's own exports; one line to show,
    with the first refusal's reason."""
    from fieldapp.sync.merge import bundle_files
    from fieldapp.sync.office import import_any

    own = {r[0] for r in store.conn.execute("SELECT file_name FROM exports")}
    try:
        files = [p for p in bundle_files([folder]) if p.name not in own]
    except OSError as e:
        return f"✗ {e.strerror or e}"
    if not files:
        return "✗ " + t("nothing_to_import")
    results = [import_any(store, p) for p in files]
    count = {s: sum(r.status == s for r in results) for s in ("applied", "already", "refused")}
    line = t("imported_n", **count)
    refused = next((r for r in results if r.status == "refused"), None)
    if refused is not None:
        return f"✗ {line}：{refused.path.name} {refused.reason}"
    return f"✓ {line}"
