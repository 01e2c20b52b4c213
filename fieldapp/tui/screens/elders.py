"""老人档案: a paged, searchable list of elders (IDs masked) and each elder's page with history."""

from __future__ import annotations

from datetime import date, datetime

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Input, Label, Static, TabbedContent, TabPane

from fieldapp import i18n
from fieldapp.i18n import t
from fieldapp.kinds import mask_id_number
from fieldapp.store import StoreError
from fieldapp.tui.screens.common import (
    ELDER_COLUMNS,
    PAGE,
    AppScreen,
    ConfirmDialog,
    PagedTable,
    elder_rows,
)


class ElderListScreen(PagedTable):
    BINDINGS = [
        Binding("n", "new", "new"),
        Binding("slash", "search", "search_key"),
        Binding("e", "edit", "edit"),
    ]
    CSS_PATH = "elders.tcss"

    def __init__(self) -> None:
        super().__init__()
        self.query_text = ""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder=t("search"), id="elder-search")
        yield DataTable(id="elder-table", cursor_type="row", zebra_stripes=True)
        yield Label("", id="elder-page")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*[t(c) for c in ELDER_COLUMNS])
        self.reload()
        self.query_one(DataTable).focus()

    def on_screen_resume(self) -> None:
        self.reload()

    def reload(self) -> None:
        store = self.fapp.store
        table = self.query_one(DataTable)
        table.clear()
        if self.query_text.strip():
            rows = store.search_elders(self.query_text, limit=PAGE, offset=self.page_offset)
            total = None
        else:
            rows = store.page(
                "elder", order_by=["status", "name", "id"], limit=PAGE, offset=self.page_offset
            )
            total = store.count("elder")
        elder_rows(table, rows, today_year=date.today().year)
        page = self.page_offset // PAGE + 1
        self.query_one("#elder-page", Label).update(
            t("page", page=page, total=total if total is not None else f"{len(rows)}+")
        )

    @on(Input.Changed, "#elder-search")
    def _search(self, event: Input.Changed) -> None:
        self.query_text = event.value
        self.reload()

    @on(Input.Submitted, "#elder-search")
    def _to_table(self) -> None:
        self.query_one(DataTable).focus()

    def action_search(self) -> None:
        self.query_one(Input).focus()

    @on(DataTable.RowSelected)
    def _open(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self.app.push_screen(ElderDetailScreen(event.row_key.value))

    def action_new(self) -> None:
        self.fapp.new_record("elder")

    def action_edit(self) -> None:
        rid = self.current_id()
        if rid:
            self.fapp.edit_record("elder", rid)


class ElderDetailScreen(AppScreen):
    """One elder: their data (ID masked), visits, assessments, retrofits and every version."""

    BINDINGS = [
        Binding("escape", "back", "back"),
        Binding("e", "edit", "edit"),
        Binding("v", "visit", "home_visit"),
        Binding("a", "assess", "assessment"),
        Binding("r", "retrofit", "retrofit"),
        Binding("m", "moved_out", "moved_out"),
        Binding("x", "deceased", "deceased"),
    ]
    CSS_PATH = "elders.tcss"

    def __init__(self, elder_id: str) -> None:
        super().__init__()
        self.elder_id = elder_id

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="elder-info")
        with TabbedContent():
            with TabPane(t("home_visit"), id="tab-visits"):
                yield DataTable(id="visits", cursor_type="row")
            with TabPane(t("assessment"), id="tab-assessments"):
                yield DataTable(id="assessments", cursor_type="row")
            with TabPane(t("retrofit"), id="tab-retrofits"):
                yield DataTable(id="retrofits", cursor_type="row")
            with TabPane(t("versions"), id="tab-versions"):
                yield DataTable(id="versions", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#visits", DataTable).add_columns(
            t("date"),
            i18n.field_label_kind("home_visit", "service_type"),
            i18n.field_label_kind("home_visit", "contact_mode"),
            i18n.field_label_kind("home_visit", "worker"),
            i18n.field_label_kind("home_visit", "duration_min"),
        )
        self.query_one("#assessments", DataTable).add_columns(
            t("date"),
            i18n.field_label_kind("assessment", "total"),
            i18n.field_label_kind("assessment", "level"),
            i18n.field_label_kind("assessment", "next_due"),
        )
        self.query_one("#retrofits", DataTable).add_columns(
            i18n.field_label_kind("retrofit", "project_year"),
            t("status"),
            i18n.field_label_kind("retrofit", "cost_total"),
        )
        self.query_one("#versions", DataTable).add_columns(
            "hlc", t("date"), "device", "", "changed"
        )
        self.reload()

    def on_screen_resume(self) -> None:
        self.reload()

    def reload(self) -> None:
        store = self.fapp.store
        cur = store.get("elder", self.elder_id)
        e = cur.record.payload()
        tags = "、".join(i18n.code_label("hardship_tags", x) for x in e["hardship_tags"]) or t(
            "none"
        )
        self.query_one("#elder-info", Static).update(
            f"[b]{e['name']}[/b]  {i18n.code_label('gender', e['gender'])}  {e['birth_date']}  {mask_id_number(e['id_number'])}  "
            f"{i18n.code_label('elder_status', e['status'])}{'  [red]' + t('deleted') + '[/]' if cur.deleted else ''}\n"
            f"{e['address']}  ☎ {e['phone'] or '—'}  {i18n.code_label('living_status', e['living_status'])}  "
            f"{i18n.code_label('visit_risk', e['visit_risk'])}  {tags}"
        )
        where = {"elder_id": self.elder_id}
        visits = self.query_one("#visits", DataTable)
        visits.clear()
        for v in store.page("home_visit", where=where, order_by=["visit_date DESC"], limit=200):
            visits.add_row(
                v["visit_date"],
                i18n.code_label("service_type", v["service_type"]),
                i18n.code_label("contact_mode", v["contact_mode"]),
                v["worker"],
                str(v["duration_min"]),
                key=v["id"],
            )
        assessments = self.query_one("#assessments", DataTable)
        assessments.clear()
        for a in store.page("assessment", where=where, order_by=["assess_date DESC"], limit=200):
            assessments.add_row(
                a["assess_date"],
                str(a["total"]),
                i18n.code_label("assessment_level", a["level"]),
                a["next_due"],
                key=a["id"],
            )
        retrofits = self.query_one("#retrofits", DataTable)
        retrofits.clear()
        for r in store.page("retrofit", where=where, order_by=["project_year DESC"], limit=50):
            retrofits.add_row(
                str(r["project_year"]),
                i18n.code_label("retrofit_status", r["status"]),
                f"{r['cost_total']:.2f}",
                key=r["id"],
            )
        versions = self.query_one("#versions", DataTable)
        versions.clear()
        previous: dict[str, object] = {}
        for h in store.history(self.elder_id):
            changed = [k for k in h.payload if previous and h.payload.get(k) != previous.get(k)]
            when = datetime.fromtimestamp(int(h.hlc[:13]) / 1000).strftime("%Y-%m-%d %H:%M")
            shown = ", ".join(i18n.field_label_kind("elder", k) for k in changed) or (
                "新建" if not previous else ""
            )
            versions.add_row(
                h.hlc,
                when,
                h.device_id[:8],
                t("deleted") if h.deleted else "",
                shown,
                key=h.version_id,
            )
            previous = h.payload

    def action_back(self) -> None:
        self.app.pop_screen()

    def elder_name(self) -> str:
        return str(self.fapp.store.get("elder", self.elder_id).record.payload()["name"])

    def action_edit(self) -> None:
        self.fapp.edit_record("elder", self.elder_id)

    def action_visit(self) -> None:
        self.fapp.new_record("home_visit", elder=(self.elder_id, self.elder_name()))

    def action_assess(self) -> None:
        self.fapp.new_record("assessment", elder=(self.elder_id, self.elder_name()))

    def action_retrofit(self) -> None:
        self.fapp.new_record("retrofit", elder=(self.elder_id, self.elder_name()))

    def _set_status(self, status: str, question: str) -> None:
        def done(yes: bool | None) -> None:
            if not yes:
                return
            from fieldapp.models import RecordInvalid

            store = self.fapp.store
            try:
                cur = store.get("elder", self.elder_id)
                data = cur.record.payload() | {"status": status}
                store.update("elder", self.elder_id, data, base_version_id=cur.version_id)
            except (StoreError, RecordInvalid) as e:  # e.g. deleted meanwhile: said, not raised
                self.refused(e)
            else:
                self.notify(t("saved"))
            self.reload()

        self.app.push_screen(ConfirmDialog(question), done)

    def action_moved_out(self) -> None:
        self._set_status("moved_out", f"{t('moved_out')}：{self.elder_name()}？")

    def action_deceased(self) -> None:
        self._set_status("deceased", f"{t('deceased')}：{self.elder_name()}？")
