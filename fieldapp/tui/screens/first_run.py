"""First run: pick street and community from the seed lists, type the worker's name; the device id is made."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, Select, Static

from fieldapp import i18n
from fieldapp.i18n import t
from fieldapp.store import Store, StoreError
from fieldapp.tui.safe import safe


class FirstRunScreen(Screen[bool]):
    CSS_PATH = "first_run.tcss"

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical():
            yield Label(t("first_run"))
            yield Label(t("street"))
            name = "name_en" if i18n.lang() == "en" else "name_zh"
            yield Select(
                [(f"{s[name]} {s['code']}", s["code"]) for s in self.store.streets()],
                id="street",
                prompt=t("street"),
            )
            yield Label(t("community"))
            yield Select([], id="community", prompt=t("community"))
            yield Label(t("worker"))
            yield Input(id="worker")
            yield Static("", id="setup-error")
            yield Button(t("start"), id="start", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#street", Select).focus()

    @on(Select.Changed, "#street")
    def _street(self, event: Select.Changed) -> None:
        community = self.query_one("#community", Select)
        if event.select.is_blank():
            community.set_options([])
            return
        name = "name_en" if i18n.lang() == "en" else "name_zh"
        rows = self.store.communities(str(event.value))
        community.set_options(
            [(f"{c[name]}{' (示例)' if c['sample'] else ''} {c['code']}", c["code"]) for c in rows]
        )

    @on(Input.Submitted, "#worker")
    @on(Button.Pressed, "#start")
    def _start(self) -> None:
        street = self.query_one("#street", Select)
        community = self.query_one("#community", Select)
        error = self.query_one("#setup-error", Static)
        if street.is_blank() or community.is_blank():
            error.update(
                f"{t('street')} / {t('community')}：必填"
                if i18n.lang() == "zh"
                else "Street and community are required"
            )
            return
        try:
            self.store.setup_device(
                street_code=str(street.value),
                community_code=str(community.value),
                worker=self.query_one("#worker", Input).value,
            )
        except StoreError as e:
            error.update(safe(e.en if i18n.lang() == "en" else e.zh))
            return
        self.dismiss(True)
