"""Small dialogs shared by the screens: confirm, pick an elder, help."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from rich.table import Table
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Input, Label, Static

from fieldapp import i18n, kinds
from fieldapp.i18n import t
from fieldapp.kinds import age_on
from fieldapp.store import Store, StoreError
from fieldapp.tui.keys import Translated
from fieldapp.tui.safe import row, safe

if TYPE_CHECKING:  # the models load with the first form, not at start-up
    from fieldapp.models import RecordInvalid
    from fieldapp.tui.app import FieldApp


class AppScreen(Translated, Screen[None]):
    """A screen of the worker's app: its key descriptions in the UI language, the app (and so the
    store) at hand as `fapp`."""

    @property
    def fapp(self) -> FieldApp:
        from fieldapp.tui.app import FieldApp

        app = self.app
        assert isinstance(app, FieldApp)
        return app

    def refused(self, e: StoreError | RecordInvalid) -> None:
        """A save the store or the model refused, said in the UI language; the app stays up."""
        if isinstance(e, StoreError):
            text = e.en if i18n.lang() == "en" else e.zh
        else:
            text = "；".join(i18n.problem_text(p) for p in e.problems)
        self.notify(text, title=t("not_saved"), severity="error")


PAGE = 100

SHORT = {
    "dashboard": ("首页", "Home"),
    "elders": ("老人", "Elders"),
    "home_visit": ("上门", "Visits"),
    "assessment": ("评估", "Assess"),
    "retrofit": ("改造", "Retrofit"),
    "meals": ("助餐", "Meals"),
    "volunteer_event": ("活动", "Events"),
    "volunteer": ("志愿者", "Vols"),
    "sync": ("同步", "Sync"),
}


class ScreenBar(Static):
    """Keys 1–9 and their screens on one line above the footer: at 80 columns the footer has room
    for the screen's own keys only, and a key never shown is a key never learnt."""

    DEFAULT_CSS = """
    ScreenBar { height: 1; background: $panel; color: $text-muted; }
    """

    def on_mount(self) -> None:
        from fieldapp.tui.app import SCREENS

        zh = i18n.lang() == "zh"
        self.update(
            " ".join(f"[b]{k}[/b] {SHORT[n][0 if zh else 1]}" for k, n, _ in SCREENS)
            + ("  [b]^P[/b] 命令" if zh else "  [b]^P[/b] cmds")
        )


class PromptDialog(Translated, ModalScreen[str | None]):
    """Ask one line (a month, a day): Enter gives it, Esc gives None."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]
    CSS_PATH = "common.tcss"

    def __init__(self, question: str, value: str = "", placeholder: str = "") -> None:
        super().__init__()
        self.question, self.value, self.placeholder = question, value, placeholder

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(safe(self.question))
            yield Input(self.value, placeholder=self.placeholder, id="prompt")

    @on(Input.Submitted, "#prompt")
    def _given(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


class StatusDialog(Translated, ModalScreen[tuple[str, str | None] | None]):
    """标记迁出 / 标记已故: the day it took effect (today by default) and, for a move, the
    community of the district moved to (from ref_community; may stay blank)."""

    BINDINGS = [Binding("escape", "cancel", "cancel"), Binding("ctrl+s", "ok", "save")]
    CSS_PATH = "common.tcss"

    def __init__(
        self, question: str, today: str, communities: list[tuple[str, str]] | None
    ) -> None:
        super().__init__()
        self.question, self.today, self.communities = question, today, communities

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(safe(self.question))
            yield Label(t("status_date"))
            yield Input(self.today, id="status-date", placeholder="YYYY-MM-DD")
            if self.communities is not None:
                from textual.widgets import Select

                yield Label(t("moved_to"))
                yield Select(self.communities, id="moved-to", prompt=t("moved_to"))
            with Horizontal():
                yield Button(f"{t('save')} (Ctrl+S)", id="yes", variant="warning")
                yield Button(f"{t('no')} (Esc)", id="no")

    @on(Input.Submitted, "#status-date")
    @on(Button.Pressed, "#yes")
    def action_ok(self) -> None:
        from textual.widgets import Select

        day = self.query_one("#status-date", Input).value.strip()
        moved_to: str | None = None
        if self.communities is not None:
            sel = self.query_one("#moved-to", Select)
            moved_to = None if sel.is_blank() else str(sel.value)
        self.dismiss((day, moved_to))

    @on(Button.Pressed, "#no")
    def action_cancel(self) -> None:
        self.dismiss(None)


class PagedTable(AppScreen):
    """A screen whose DataTable shows one page (PAGE rows) of a query; ] and [ move between pages.
    The screen keeps `page_offset` and re-reads the page in `reload()`."""

    BINDINGS = [
        Binding("right_square_bracket", "next_page", "next_page", show=False),
        Binding("left_square_bracket", "prev_page", "prev_page", show=False),
    ]

    page_offset = 0

    def reload(self) -> None:
        raise NotImplementedError

    def action_next_page(self) -> None:
        if self.query_one(DataTable).row_count >= PAGE:
            self.page_offset += PAGE
            self.reload()

    def action_prev_page(self) -> None:
        if self.page_offset:
            self.page_offset = max(0, self.page_offset - PAGE)
            self.reload()

    def current_id(self) -> str | None:
        table: DataTable[str] = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value


class ConfirmDialog(Translated, ModalScreen[bool]):
    BINDINGS = [Binding("escape", "no", "no"), Binding("y", "yes", "yes")]
    CSS_PATH = "common.tcss"

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(safe(self.question))
            with Horizontal():
                yield Button(f"{t('yes')} (Y)", id="yes", variant="warning")
                yield Button(f"{t('no')} (Esc)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed, "#yes")
    def action_yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#no")
    def action_no(self) -> None:
        self.dismiss(False)


def who_recorded(store: Store) -> dict[str, str]:
    """device id → a colleague's name (or 区里) for records that came in return bundles or office
    syncs (issue 14 point 8); this laptop's own records are not named. A label reads
    `社区-工作人员`: the lists show the worker's part."""
    return {d: label.rsplit("-", 1)[-1] for d, label in store.recorded_by().items()}


def elder_rows(
    table: DataTable[Any],
    rows: list[dict[str, Any]],
    *,
    today: date,
    who: dict[str, str] | None = None,
) -> None:
    """The elder columns used by the list and the picker (ID masked, ages, labels in the UI
    language, who recorded a colleague's record); names and addresses shown as the literal text
    they are."""
    for r in rows:
        age = age_on(r["birth_date"], today)
        table.add_row(
            *row(
                r["name"],
                i18n.code_label("gender", r["gender"]),
                "—" if age is None else str(age),
                r["id_masked"],
                i18n.code_label("visit_risk", r["visit_risk"]),
                i18n.code_label("elder_status", r["status"]),
                (who or {}).get(str(r.get("device_id")), ""),
                r["address"],
            ),
            key=r["id"],
        )


ELDER_COLUMNS = (
    "name",
    "gender",
    "age",
    "id_number",
    "risk",
    "status",
    "recorded_by",
    "address",
)


class ElderPicker(Translated, ModalScreen[tuple[str, str] | None]):
    """Search as you type and pick one elder (Enter)."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]
    CSS_PATH = "common.tcss"

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(t("pick_elder"))
            yield Input(placeholder=t("search"), id="picker-search")
            yield DataTable(id="picker-table", cursor_type="row")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*[t(c) for c in ELDER_COLUMNS])
        self._load("")
        self.query_one(Input).focus()

    def _load(self, query: str) -> None:
        table = self.query_one(DataTable)
        table.clear()
        rows = [r for r in self.store.search_elders(query, limit=200) if r["status"] == "active"]
        elder_rows(table, rows, today=kinds.today(), who=who_recorded(self.store))

    @on(Input.Changed, "#picker-search")
    def _search(self, event: Input.Changed) -> None:
        self._load(event.value)

    @on(Input.Submitted, "#picker-search")
    def _to_table(self) -> None:
        self.query_one(DataTable).focus()

    @on(DataTable.RowSelected)
    def _picked(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value
        if key is not None:
            self.dismiss((key, str(self.query_one(DataTable).get_row(event.row_key)[0])))

    def action_cancel(self) -> None:
        self.dismiss(None)


class HelpScreen(Translated, ModalScreen[None]):
    """Every key of the app and of the screen it was opened from (read from the bindings themselves)."""

    BINDINGS = [Binding("escape,f1,question_mark,q", "close", "cancel")]
    CSS_PATH = "common.tcss"

    def __init__(self, under: Screen[Any]) -> None:
        super().__init__()
        self.under = under

    def compose(self) -> ComposeResult:
        table = Table(title=t("keys"), expand=True, show_lines=False)
        table.add_column(t("keys"), no_wrap=True)
        table.add_column("")
        # the keys the screen underneath and the app declare, in the UI language (their classes are
        # the language's twins, keys.Translated); one line per action, its keys joined
        keys: dict[tuple[str, str], list[str]] = {}
        for source in (self.under, self.app):
            for b in Binding.make_bindings(type(source).BINDINGS):
                if b.show and b.description:
                    shown = keys.setdefault((b.action, b.description), [])
                    shown.append(self.app.get_key_display(b))
        for (_, description), shown in keys.items():
            table.add_row(" / ".join(shown), description)
        from fieldapp.tui.app import SCREENS  # the screens' keys: the key bar above the footer

        for key, _, word in SCREENS:
            table.add_row(f"{key} / F{int(key) + 1}", t(word))
        table.add_row(
            "F2–F10",
            "= 1–9（输入时也可用）" if i18n.lang() == "zh" else "= 1–9 (also while typing)",
        )
        table.add_row("Ctrl+P", t("palette"))
        with VerticalScroll():
            yield Static(table)

    def action_close(self) -> None:
        self.dismiss(None)
