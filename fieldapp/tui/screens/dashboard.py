"""首页: this month's counts beside the community's share of the plan's targets, and the due list."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Label, Static

from fieldapp import i18n, kinds
from fieldapp.i18n import t
from fieldapp.tui.safe import row
from fieldapp.tui.screens.common import AppScreen, ScreenBar, who_recorded
from fieldapp.tui.table import PaintOnce

# The most overdue first, a screenful at a time: a DataTable measures every row it holds, so it
# holds the rows that fit (issue 20: start-up). The figures, titles and bars take CHROME lines.
CHROME = 12
MIN_DUE_ROWS = 5


def _goal(fig: dict[str, Any]) -> str:
    goal = fig.get("goal")
    if goal is None:
        return "—"
    year = fig.get("target_year")
    return f"{goal:g}" + (f" ({year})" if year else "")


class DashboardScreen(AppScreen):
    BINDINGS = [
        Binding("enter", "log_due", "log_it"),
        Binding("v", "log_visit", "home_visit"),
        Binding("a", "log_assessment", "assessment"),
        Binding("ctrl+r", "reload", "reload"),
        Binding("right_square_bracket,pagedown", "due_next", "next_page", show=False),
        Binding("left_square_bracket,pageup", "due_prev", "prev_page", show=False),
    ]
    CSS_PATH = "dashboard.tcss"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loaded = False  # the figures and the due list are on screen (start-up benchmark)
        self.due_offset = 0  # the due list a page at a time: [ and ] move through all of it
        self.due_total = 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(t("loading"), id="figures")
        yield Label(t("due_list"), id="due-title")
        yield PaintOnce(id="due", cursor_type="row", zebra_stripes=True)
        yield ScreenBar()
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(
            t("name"),
            t("risk"),
            t("reason"),
            t("overdue_days"),
            t("due"),
            t("last"),
            t("id_number"),
        )

    @property
    def due_rows(self) -> int:
        """The due rows that fit on the screen: one page of the list."""
        return max(MIN_DUE_ROWS, self.app.size.height - CHROME)

    def on_screen_resume(self) -> None:
        self.reload()

    def action_reload(self) -> None:
        self.reload()

    def reload(self) -> None:
        store = self.fapp.store
        today = kinds.today()
        fig = store.dashboard(today)
        m, y = fig["month"], fig["year"]
        # one line a figure at 80 columns in either language: long labels end in …, never wrap
        table = Table(expand=True, box=None, padding=(0, 1), show_header=True)
        table.add_column(
            f"{t('this_month')} {today:%Y-%m}", ratio=3, no_wrap=True, overflow="ellipsis"
        )
        table.add_column("", justify="right", ratio=1, no_wrap=True, overflow="ellipsis")
        table.add_column(t("this_year"), ratio=3, no_wrap=True, overflow="ellipsis")
        table.add_column("", justify="right", ratio=1, no_wrap=True, overflow="ellipsis")
        table.add_column(t("target"), justify="right", ratio=2, no_wrap=True, overflow="ellipsis")
        statuses = fig["retrofit_status"]
        pipeline = " ".join(
            f"{i18n.code_label('retrofit_status', s)}{n}" for s, n in statuses.items()
        )
        rows = [
            (t("visits"), m["visits"], t("coverage"), y["coverage"]["value"], _goal(y["coverage"])),
            (
                t("elders_served"),
                m["elders_served"],
                t("assessed_80"),
                f"{y['assessed_80']['value']}/{y['assessed_80']['registered']}",
                _goal(y["assessed_80"]),
            ),
            (
                t("assessments"),
                m["assessments"],
                t("accepted_year"),
                y["accepted_year"]["value"],
                _goal(y["accepted_year"]),
            ),
            (
                t("meal_servings"),
                m["meal_servings"],
                t("meal_capacity_month"),
                y["meal_capacity"]["value"],
                _goal(y["meal_capacity"]),
            ),
            (
                t("volunteer_events"),
                m["volunteer_events"],
                t("volunteer_events"),
                y["volunteer_events"]["value"],
                _goal(y["volunteer_events"]),
            ),
        ]
        for r in rows:
            table.add_row(*(str(x) for x in r))
        table.add_row(t("retrofits"), "", pipeline or t("empty"), "", "")
        self.query_one("#figures", Static).update(table)
        due = self.query_one(DataTable)
        due.clear()
        items, total = store.due_page(today, limit=self.due_rows, offset=self.due_offset)
        self.due_total = total
        who = who_recorded(store)  # a colleague's elder says whose it is (issue 14 point 8)
        if who and "recorded_by" not in due.columns:  # only once colleagues' records are here:
            due.add_column(t("recorded_by"), key="recorded_by")  # 80 columns hold no more
        devices = store.elder_devices([d.elder_id for d in items]) if who else {}
        for i, d in enumerate(items):
            shown_by = (who.get(devices.get(d.elder_id, ""), ""),) if who else ()
            due.add_row(
                *row(
                    d.name,
                    i18n.code_label("visit_risk", d.visit_risk),
                    t("due_visit") if d.reason == "visit" else t("due_assessment"),
                    str(d.days_overdue),
                    d.due_date,
                    d.last_date or "—",
                    d.id_masked,
                    *shown_by,
                ),
                key=f"{i}|{d.elder_id}|{d.reason}|{d.name}",
            )
        if total > self.due_rows:
            shown = t(
                "due_page_of", a=self.due_offset + 1, b=self.due_offset + due.row_count, n=total
            )
        else:
            shown = t("total_n", n=total)
        if store.count("elder") == 0:
            shown += "  " + t("empty_dashboard")
        self.query_one("#due-title", Label).update(f"{t('due_list')}（{shown}）")
        self.loaded = True

    def action_due_next(self) -> None:
        if self.due_offset + self.due_rows < self.due_total:
            self.due_offset += self.due_rows
            self.reload()

    def action_due_prev(self) -> None:
        if self.due_offset:
            self.due_offset = max(0, self.due_offset - self.due_rows)
            self.reload()

    def _selected(self) -> tuple[str, str, str] | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        assert key is not None
        _, elder_id, reason, name = key.split("|", 3)
        return elder_id, reason, name

    def action_log_due(self) -> None:
        sel = self._selected()
        if sel:
            self.fapp.new_record(
                "home_visit" if sel[1] == "visit" else "assessment", elder=(sel[0], sel[2])
            )

    def action_log_visit(self) -> None:
        sel = self._selected()
        self.fapp.new_record("home_visit", elder=(sel[0], sel[2]) if sel else None)

    def action_log_assessment(self) -> None:
        sel = self._selected()
        self.fapp.new_record("assessment", elder=(sel[0], sel[2]) if sel else None)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_log_due()
