"""The supervisor's devices (F5): each labelled by community, worker and the distinct part of its id,
with its last bundle; enrol from a key file or a bundle, revoke, accept a revoked device's bundle."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Label, Static

from fieldapp import devices, i18n
from fieldapp.i18n import t
from fieldapp.store import Store, StoreError
from fieldapp.tui.keys import Translated
from fieldapp.tui.safe import row as cells
from fieldapp.tui.safe import safe

COLUMNS = ("device", "community", "worker", "last_bundle", "status", "fingerprint")


def who(store: Store) -> str:
    """The supervisor's name: the decisions branch's `review.who(conn)` reads it from the district
    database; today's `who()` takes nothing (the one guard for that API change is here)."""
    from fieldapp import review

    ask: Callable[..., object] = review.who
    return str(ask(store.conn) if inspect.signature(ask).parameters else ask())


def _said(e: devices.DeviceError | StoreError) -> str:
    return e.en if i18n.lang() == "en" else e.zh


class DevicesScreen(Translated, Screen[None]):
    BINDINGS = [
        Binding("ctrl+e", "enrol", "enrol", priority=True),
        Binding("ctrl+r", "revoke", "revoke", priority=True),
        Binding("ctrl+b", "accept", "accept_bundle", priority=True),
    ]
    CSS_PATH = "devices.tcss"

    def __init__(self, db_path: Path) -> None:
        super().__init__()
        self.db_path = db_path
        self.rows: list[devices.DeviceRow] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="dev-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="dev-detail")
        with Horizontal(id="dev-file-row"):
            yield Label(t("device_file") + "：")
            yield Input("", id="dev-file", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key in COLUMNS:
            table.add_column(t(key), key=key)
        self.reload()

    def on_screen_resume(self) -> None:
        self.reload()

    def reload(self) -> None:
        with Store.open(self.db_path) as store:
            self.rows = devices.device_rows(store.conn)
        table = self.query_one(DataTable)
        table.clear()
        for r in self.rows:
            state = f"{t('revoked')} {r.revoked_at[:10]}" if r.revoked_at else t("active")
            table.add_row(
                *cells(
                    r.distinct,
                    "、".join(r.community_names) or "—",
                    r.worker or r.label or "—",
                    r.last_text,
                    state,
                    r.fingerprint,
                ),
                key=r.device_id,
            )
        self._detail()

    @on(DataTable.RowHighlighted, "#dev-table")
    def _detail(self) -> None:
        row = self.current()
        self.query_one("#dev-detail", Static).update(
            safe(f"{row.title}  {row.device_id}  {t('fingerprint')} {row.fingerprint}")
            if row
            else ""
        )

    def current(self) -> devices.DeviceRow | None:
        table = self.query_one(DataTable)
        if not self.rows or not 0 <= table.cursor_row < len(self.rows):
            return None
        return self.rows[table.cursor_row]

    def _file(self) -> Path | None:
        raw = self.query_one("#dev-file", Input).value.strip()
        if not raw:
            self.notify(f"{t('device_file')}：{t('required')}", severity="warning")
            self.query_one("#dev-file", Input).focus()
            return None
        return Path(raw).expanduser()

    def action_enrol(self) -> None:
        from fieldapp.tui.district import ConfirmDialog

        path = self._file()
        if path is None:
            return
        try:
            ident = devices.read_identity(path)
        except devices.DeviceError as e:
            self.notify(_said(e), severity="error")
            return
        with Store.open(self.db_path) as store:
            names = {
                r[0]: r[1] for r in store.conn.execute("SELECT code, name_zh FROM ref_community")
            }
        question = t(
            "enrol_question",
            distinct=devices.short_device_id(ident.device_id),
            label=ident.label or "—",
            community=names.get(ident.community_code, ident.community_code) or "—",
            worker=ident.worker or "—",
            fp=ident.fingerprint,
        )

        def done(yes: bool | None) -> None:
            if yes:
                self._enrol(ident)

        self.app.push_screen(ConfirmDialog(question), done)

    def _enrol(self, ident: devices.Identity) -> None:
        with Store.open(self.db_path) as store:
            try:
                devices.enrol(store, ident, by=who(store))
            except StoreError as e:
                self.notify(_said(e), severity="error")
                return
        self.notify(f"{t('enrolled')}：{devices.short_device_id(ident.device_id)}")
        self.reload()

    def action_revoke(self) -> None:
        from fieldapp.tui.district import ConfirmDialog

        row = self.current()
        if row is None or row.revoked_at:
            return

        def done(yes: bool | None) -> None:
            if not yes:
                return
            with Store.open(self.db_path) as store:
                try:
                    store.revoke(row.device_id, by=who(store))
                except StoreError as e:
                    self.notify(_said(e), severity="error")
                    return
            self.notify(f"{t('revoked')}：{row.distinct}")
            self.reload()

        self.app.push_screen(ConfirmDialog(devices.revoke_question(row)), done)

    def action_accept(self) -> None:
        from fieldapp.tui.district import ConfirmDialog

        path = self._file()
        if path is None:
            return
        try:
            ident = devices.read_identity(path)
            from fieldapp.sync.bundle_read import open_bundle

            with open_bundle(path) as reader:
                period, seq = reader.manifest.period, reader.manifest.seq
        except devices.DeviceError as e:
            self.notify(_said(e), severity="error")
            return
        except ValueError as e:
            self.notify(str(e), severity="error")
            return
        question = t(
            "accept_question",
            distinct=devices.short_device_id(ident.device_id),
            file=path.name,
            period=period,
            seq=seq,
        )

        def done(yes: bool | None) -> None:
            if not yes:
                return
            with Store.open(self.db_path) as store:
                try:
                    devices.accept_bundle(store.conn, path, by=who(store))
                except devices.DeviceError as e:
                    self.notify(_said(e), severity="error")
                    return
            self.notify(t("accepted"))

        self.app.push_screen(ConfirmDialog(question), done)
