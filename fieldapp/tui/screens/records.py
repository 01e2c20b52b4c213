"""One list screen for the other record kinds (visits, assessments, retrofits, events, volunteers, meal points)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Header, Input, Label

from fieldapp import i18n, kinds, reference
from fieldapp.i18n import t
from fieldapp.store import StoreError
from fieldapp.store.records import ListFilter
from fieldapp.tui.safe import row
from fieldapp.tui.screens.common import PAGE, ConfirmDialog, PagedTable, PromptDialog, ScreenBar

Column = tuple[str, Callable[[dict[str, Any], dict[str, str]], str]]


def _code(field: str, catalogue: str | None = None) -> Column:
    return field, lambda r, _n: i18n.code_label(catalogue or field, r[field])


def _plain(field: str) -> Column:
    return field, lambda r, _n: "" if r[field] is None else str(r[field])


def _elder() -> Column:
    return "elder_id", lambda r, names: names.get(r["elder_id"], "?")


COLUMNS: dict[str, list[Column]] = {
    "home_visit": [
        _plain("visit_date"),
        _elder(),
        _code("service_type"),
        _code("contact_mode"),
        _plain("worker"),
        _plain("duration_min"),
    ],
    "assessment": [
        _plain("assess_date"),
        _elder(),
        _plain("total"),
        _code("level", "assessment_level"),
        _plain("next_due"),
    ],
    "retrofit": [
        _code("status", "retrofit_status"),
        _elder(),
        _plain("project_year"),
        _plain("apply_date"),
        _plain("accept_date"),
        ("cost_total", lambda r, _n: f"{r['cost_total']:.2f}"),
    ],
    "volunteer_event": [
        _plain("event_date"),
        _plain("title"),
        _code("category", "volunteer_category"),
        _code("status", "event_status"),
        _plain("total_hours"),
        _plain("total_points"),
    ],
    "volunteer": [_plain("name"), _plain("phone"), _plain("platform_no")],
    "meal_point": [
        _plain("name"),
        _code("kind", "meal_point_kind"),
        _plain("capacity_daily"),
        _code("status", "meal_point_status"),
    ],
}
ORDER: dict[str, list[str]] = {
    "home_visit": ["visit_date DESC", "id"],
    "assessment": ["assess_date DESC", "id"],
    "retrofit": ["status", "apply_date DESC", "id"],
    "volunteer_event": ["event_date DESC", "id"],
    "volunteer": ["name", "id"],
    "meal_point": ["name", "id"],
}

# the date a list's range filter works on, the text columns its elder/worker filter reads, and the
# ledger (台账) it exports
DATE_FIELD = {
    "home_visit": "visit_date",
    "assessment": "assess_date",
    "retrofit": "apply_date",
    "volunteer_event": "event_date",
}
TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "home_visit": ("worker",),
    "assessment": ("assessors",),
    "retrofit": (),
    "volunteer_event": ("title", "organizer"),
    "volunteer": ("name", "phone"),
    "meal_point": ("name",),
}
LEDGER_KIND = {
    "home_visit": "home_visit",
    "volunteer_event": "volunteer",
    "retrofit": "retrofit",
    "meal_point": "meal",
}


def retrofit_next(status: str) -> tuple[str, str] | None:
    """The status after `status` on the retrofit's main line (the catalogue's order, up to
    accepted) and the date field it stamps (the catalogue's `date_field`); None at the end."""
    ref = reference.load()
    line = ref.codes("retrofit_status")
    line = line[: line.index("accepted") + 1]
    if status not in line[:-1]:
        return None
    nxt = line[line.index(status) + 1]
    entry = ref.entry("retrofit_status", nxt)
    assert entry is not None
    return nxt, str(entry.extra["date_field"])


class RecordListScreen(PagedTable):
    BINDINGS = [
        Binding("n", "new", "new"),
        Binding("e", "edit", "edit"),
        Binding("delete", "delete", "delete"),
        Binding("f", "filter", "filter"),
        Binding("s", "sort", "sort_hint", show=False),
        Binding("d", "toggle_deleted", "show_deleted"),
        Binding("u", "restore", "restore"),
        Binding("l", "ledger", "ledger"),
    ]
    CSS_PATH = "records.tcss"

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.show_deleted = False
        self.order: list[str] = ORDER[kind]
        self.sort_column: int | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label(i18n.kind_label(self.kind), id="list-title")
        with Horizontal(id="list-filter"):
            if self.kind in DATE_FIELD:
                yield Input(
                    placeholder=t("date_from"), id="f-from", restrict=r"[0-9-]*", compact=True
                )
                yield Input(placeholder=t("date_to"), id="f-to", restrict=r"[0-9-]*", compact=True)
            yield Input(placeholder=t("filter_text"), id="f-text", compact=True)
        yield DataTable(cursor_type="row", zebra_stripes=True)
        yield ScreenBar()
        yield Footer(compact=True, show_command_palette=False)

    def narrow(self) -> ListFilter:
        """The filter row as a ListFilter (a half-typed date is ignored until it is a date)."""

        def day(box: str) -> str | None:
            value = self.query_one(box, Input).value.strip() if self.kind in DATE_FIELD else ""
            return value if len(value) == 10 else None

        return ListFilter(
            DATE_FIELD.get(self.kind),
            day("#f-from"),
            day("#f-to"),
            self.query_one("#f-text", Input).value,
            TEXT_FIELDS.get(self.kind, ()),
        )

    @on(Input.Changed)
    def _filter_changed(self) -> None:
        self.page_offset = 0
        self.reload()

    @on(Input.Submitted)
    def _filter_done(self) -> None:
        self.query_one(DataTable).focus()

    def action_filter(self) -> None:
        self.query_one("#list-filter Input", Input).focus()

    @on(DataTable.HeaderSelected)
    def _header(self, event: DataTable.HeaderSelected) -> None:
        self._sort_by(event.column_index)

    def action_sort(self) -> None:
        self._sort_by(self.query_one(DataTable).cursor_column)

    def _sort_by(self, index: int) -> None:
        """Sort by a column; the same column again turns the order round."""
        field = COLUMNS[self.kind][index][0]
        desc = self.sort_column == index and not self.order[0].endswith("DESC")
        self.sort_column = index
        self.order = [f"{field} DESC" if desc else field, "id"]
        self.page_offset = 0
        self.reload()

    def action_toggle_deleted(self) -> None:
        self.show_deleted = not self.show_deleted
        self.page_offset = 0
        self.reload()

    def action_restore(self) -> None:
        rid = self.current_id()
        if not rid or not self.show_deleted:
            self.notify(t("deleted_list"), severity="warning")
            return
        try:
            self.fapp.store.restore(self.kind, rid)
        except StoreError as e:
            self.refused(e)
        else:
            self.notify(f"{t('restored')}：{self.describe(rid)}")
        self.reload()

    def action_ledger(self) -> None:
        ledger_kind = LEDGER_KIND.get(self.kind)
        if ledger_kind is None:
            self.app.bell()
            return
        ask_ledger(self, ledger_kind)

    def on_mount(self) -> None:
        from fieldapp import models

        model = models.MODELS[self.kind]
        self.query_one(DataTable).add_columns(
            *[
                i18n.field_label(model, name) if name in model.model_fields else t(name)
                for name, _ in COLUMNS[self.kind]
            ]
        )
        self.reload()
        self.query_one(DataTable).focus()

    def on_screen_resume(self) -> None:
        self.reload()

    def reload(self) -> None:
        store = self.fapp.store
        table = self.query_one(DataTable)
        keep = table.cursor_row
        table.clear()
        narrow = self.narrow()
        where = {"deleted": 1} if self.show_deleted else None
        rows = store.page(
            self.kind,
            where=where,
            order_by=self.order,
            limit=PAGE,
            offset=self.page_offset,
            include_deleted=self.show_deleted,
            narrow=narrow,
        )
        names = (
            store.elder_names([r["elder_id"] for r in rows])
            if rows and "elder_id" in rows[0]
            else {}
        )
        for r in rows:
            table.add_row(*row(*[fmt(r, names) for _, fmt in COLUMNS[self.kind]]), key=r["id"])
        if table.row_count:
            table.move_cursor(row=min(keep, table.row_count - 1))
        total = store.count(
            self.kind, where=where, include_deleted=self.show_deleted, narrow=narrow
        )
        pages = f"{self.page_offset // PAGE + 1}/{max(1, -(-total // PAGE))} [ ]"
        deleted = f" · {t('deleted_list')}" if self.show_deleted else ""
        title = f"{i18n.kind_label(self.kind)}{deleted}  {t('total_n', n=f'{total:,}')}  {pages}"
        if self.kind == "retrofit":
            counts = store.dashboard(kinds.today())["retrofit_status"]
            title += (
                "\n"
                + t("pipeline")
                + "： "
                + "  →  ".join(
                    f"{i18n.code_label('retrofit_status', s)} {counts.get(s, 0)}"
                    for s in reference.load().codes("retrofit_status")
                )
            )
        self.query_one("#list-title", Label).update(title)

    def action_new(self) -> None:
        self.fapp.new_record(self.kind)

    def action_edit(self) -> None:
        rid = self.current_id()
        if rid:
            self.fapp.edit_record(self.kind, rid)

    @on(DataTable.RowSelected)
    def _open(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self.fapp.edit_record(self.kind, event.row_key.value)

    def action_delete(self) -> None:
        rid = self.current_id()
        if not rid:
            return

        what = self.describe(rid)

        def done(yes: bool | None) -> None:
            if not yes:
                return
            try:
                self.fapp.store.delete(self.kind, rid)
            except StoreError as e:  # e.g. deleted meanwhile: said, and the list re-read
                self.refused(e)
            else:
                self.notify(f"{t('deleted')}：{what}")
            self.reload()

        self.app.push_screen(ConfirmDialog(t("confirm_delete_named", what=what)), done)

    def describe(self, rid: str) -> str:
        """The record in words for a prompt: its row's first cells (date, elder, type …)."""
        table: DataTable[Any] = self.query_one(DataTable)
        cells = [str(c) for c in table.get_row(rid)[:3]]
        return f"{i18n.kind_label(self.kind)} {' '.join(c for c in cells if c)}"


class RetrofitScreen(RecordListScreen):
    """The retrofit pipeline: counts by status, and one key to move a household to the next status."""

    BINDINGS = [
        *RecordListScreen.BINDINGS,
        Binding("greater_than_sign,right", "advance", "advance"),
    ]

    def __init__(self) -> None:
        super().__init__("retrofit")

    def action_advance(self) -> None:
        rid = self.current_id()
        if not rid:
            return
        cur = self.fapp.store.get("retrofit", rid).record.payload()
        step = retrofit_next(cur["status"])
        if step is None:
            self.app.bell()
            return
        nxt, date_field = step
        initial = {"status": nxt, date_field: cur.get(date_field) or kinds.today().isoformat()}
        self.fapp.edit_record("retrofit", rid, initial=initial)


def ask_ledger(screen: PagedTable, kind: str) -> None:
    """Ask the month, then write that month's ledger (台账) XLSX beside the database."""
    month = kinds.today().strftime("%Y-%m")

    def given(value: str | None) -> None:
        if not value:
            return
        try:
            from fieldapp.ledger import write_ledger
        except ImportError:
            screen.notify(t("ledger_missing"), severity="error")
            return
        store = screen.fapp.store
        path = screen.fapp.db_path.with_name(f"台账-{kind}-{value}.xlsx")
        try:
            written = write_ledger(store, kind=kind, month=value, path=path)
        except (StoreError, ValueError, OSError) as e:
            screen.notify(str(e), title=t("ledger"), severity="error")
            return
        screen.notify(t("ledger_written", path=written))

    screen.app.push_screen(PromptDialog(t("ledger_month"), month, "YYYY-MM"), given)
