"""This month's checklist (F6): per community its devices, last bundle and whether the month's bundle
is received, missing, refused (with the reason) or not expected; S changes the order, Ctrl+X saves
it as XLSX."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Label, Static

from fieldapp import checklist, i18n
from fieldapp.i18n import t
from fieldapp.store import Store
from fieldapp.tui.keys import Translated
from fieldapp.tui.safe import row, safe

COLUMNS = ("community", "street", "devices", "last_bundle", "state", "reason_col")
STATE_STYLE = {"refused": "bold red", "missing": "yellow", "received": "green", "pending": "cyan"}


class ChecklistScreen(Translated, Screen[None]):
    BINDINGS = [
        Binding("s", "sort", "sort"),
        Binding("left_square_bracket", "month(-1)", "prev_page"),
        Binding("right_square_bracket", "month(1)", "next_page"),
        Binding("ctrl+x", "xlsx", "export_xlsx", priority=True),
    ]
    CSS_PATH = "checklist.tcss"

    def __init__(
        self, db_path: Path, folder: Callable[[], Path | None] | None = None, period: str = ""
    ) -> None:
        super().__init__()
        self.db_path = db_path
        self.folder = folder or (lambda: None)
        self.period = period or f"{date.today():%Y-%m}"
        self.sort = "state"
        self.data: checklist.Checklist | None = None
        self.shown: list[checklist.ChecklistRow] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="cl-row"):
            yield Label(t("month") + "：")
            yield Input(self.period, id="cl-period", compact=True)
            yield Label(t("export_xlsx") + "：")
            yield Input(str(self._out()), id="cl-out", compact=True)
        yield Static("", id="cl-counts")
        yield DataTable(id="cl-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="cl-detail")
        yield Footer()

    def _out(self) -> Path:
        return self.db_path.with_name(f"海陵区同步包清单-{self.period}.xlsx")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key in COLUMNS:
            table.add_column(t(key), key=key)

    def on_screen_resume(self) -> None:
        self.reload()
        self.query_one(DataTable).focus()

    def _known(self) -> dict[str, str]:
        """The refusals of this session's merges (the merge screen keeps them by file name)."""
        if self.app.is_screen_installed("merge"):
            return dict(getattr(self.app.get_screen("merge"), "refused", {}))
        return {}

    @on(Input.Submitted, "#cl-period")
    def _period(self) -> None:
        value = self.query_one("#cl-period", Input).value.strip()
        if len(value) != 7 or value[4] != "-" or not (value[:4] + value[5:]).isdigit():
            self.notify(f"{t('month')}：YYYY-MM", severity="error")
            return
        self.period = value
        self.query_one("#cl-out", Input).value = str(self._out())
        self.reload()

    def reload(self) -> None:
        folder = self.folder()
        with Store.open(self.db_path) as store:
            self.data = checklist.checklist(
                store.conn, self.period, folders=[folder] if folder else [], known=self._known()
            )
        counts = self.data.counts()
        self.query_one("#cl-counts", Static).update(
            f"{self.period}  "
            + "  ".join(
                f"{checklist.state_word(s, i18n.lang())} {n}" for s, n in counts.items() if n
            )
            + f"  · {t('sort')}：{t(self._sort_word())}"
        )
        self.show()

    def _sort_word(self) -> str:
        return {
            "state": "state",
            "community": "community",
            "street": "street",
            "last": "last_bundle",
        }[self.sort]

    def show(self) -> None:
        if self.data is None:
            return
        table = self.query_one(DataTable)
        table.clear()
        self.shown = self.data.sorted(self.sort)
        for r in self.shown:
            table.add_row(
                *row(
                    f"{r.community_name}",
                    r.street_name,
                    "、".join(r.devices) or "—",
                    r.last or "—",
                    safe(checklist.state_word(r.state, i18n.lang()), STATE_STYLE.get(r.state, "")),
                    r.reason,
                ),
                key=r.community_code,
            )
        self._detail()

    @on(DataTable.RowHighlighted, "#cl-table")
    def _detail(self) -> None:
        table = self.query_one(DataTable)
        text = ""
        if self.shown and 0 <= table.cursor_row < len(self.shown):
            r = self.shown[table.cursor_row]
            text = f"{r.community_code} {r.community_name}：{checklist.state_word(r.state)}"
            text += f"：{r.reason}" if r.reason else ""
        self.query_one("#cl-detail", Static).update(safe(text))

    def action_sort(self) -> None:
        order = checklist.SORTS
        self.sort = order[(order.index(self.sort) + 1) % len(order)]
        self.reload()

    def action_month(self, step: int) -> None:
        y, m = int(self.period[:4]), int(self.period[5:]) + step
        y, m = (y - 1, 12) if m < 1 else (y + 1, 1) if m > 12 else (y, m)
        self.period = f"{y:04d}-{m:02d}"
        self.query_one("#cl-period", Input).value = self.period
        self.query_one("#cl-out", Input).value = str(self._out())
        self.reload()

    def action_xlsx(self) -> None:
        if self.data is None:
            return
        out = Path(self.query_one("#cl-out", Input).value.strip()).expanduser()
        try:
            checklist.write_xlsx(self.data, out, sort=self.sort, lang=i18n.lang())
        except OSError as e:
            self.notify(f"{out}: {e.strerror}", severity="error")
            return
        self.notify(f"{t('saved')}：{out}")
