"""One list screen for the other record kinds (visits, assessments, retrofits, events, volunteers, meal points)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Label

from fieldapp import i18n, reference
from fieldapp.i18n import t
from fieldapp.store import StoreError
from fieldapp.tui.screens.common import PAGE, ConfirmDialog, PagedTable

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
    ]
    CSS_PATH = "records.tcss"

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label(i18n.kind_label(self.kind), id="list-title")
        yield DataTable(cursor_type="row", zebra_stripes=True)
        yield Footer()

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
        rows = store.page(self.kind, order_by=ORDER[self.kind], limit=PAGE, offset=self.page_offset)
        names = (
            store.elder_names([r["elder_id"] for r in rows])
            if rows and "elder_id" in rows[0]
            else {}
        )
        for r in rows:
            table.add_row(*[fmt(r, names) for _, fmt in COLUMNS[self.kind]], key=r["id"])
        if table.row_count:
            table.move_cursor(row=min(keep, table.row_count - 1))
        title = f"{i18n.kind_label(self.kind)}（{store.count(self.kind)} {t('records')}，{t('page', page=self.page_offset // PAGE + 1, total=store.count(self.kind))}）"
        if self.kind == "retrofit":
            counts = store.dashboard(date.today())["retrofit_status"]
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

        def done(yes: bool | None) -> None:
            if not yes:
                return
            try:
                self.fapp.store.delete(self.kind, rid)
            except StoreError as e:  # e.g. deleted meanwhile: said, and the list re-read
                self.refused(e)
            else:
                self.notify(t("deleted"))
            self.reload()

        self.app.push_screen(ConfirmDialog(t("confirm_delete")), done)


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
        initial = {"status": nxt, date_field: cur.get(date_field) or date.today().isoformat()}
        self.fapp.edit_record("retrofit", rid, initial=initial)
