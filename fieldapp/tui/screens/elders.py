"""老人档案: a paged, searchable list of elders (IDs masked) and each elder's page with history."""

from __future__ import annotations

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Input, Label, Static, TabbedContent, TabPane

from fieldapp import i18n, kinds
from fieldapp.i18n import t
from fieldapp.kinds import mask_id_number
from fieldapp.store import Store, StoreError
from fieldapp.store.records import changes
from fieldapp.tui.safe import line, row
from fieldapp.tui.screens.common import (
    ELDER_COLUMNS,
    PAGE,
    AppScreen,
    ConfirmDialog,
    PagedTable,
    ScreenBar,
    StatusDialog,
    elder_rows,
    who_recorded,
)


class ElderListScreen(PagedTable):
    BINDINGS = [
        Binding("n", "new", "new"),
        Binding("slash", "search", "search_key"),
        Binding("e", "edit", "edit"),
        Binding("delete", "delete", "delete"),
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
        yield ScreenBar()
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*[t(c) for c in ELDER_COLUMNS])
        self.reload()
        self.query_one(DataTable).focus()

    def on_key(self, event: events.Key) -> None:
        """An empty list: the table takes no focus, so `n` would go into the search box."""
        if event.key == "n" and self.query_one(DataTable).row_count == 0 and not self.query_text:
            event.stop()
            event.prevent_default()
            self.action_new()

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
        elder_rows(table, rows, today=kinds.today(), who=who_recorded(store))
        if total is None:  # a search: counted in full when it fills a page (never "100+")
            total = self.page_offset + len(rows)
            if len(rows) == PAGE:
                total = len(store.search_elders(self.query_text, limit=100_000))
        page = self.page_offset // PAGE + 1
        text = t("page", page=page, total=f"{total:,}")
        if total == 0 and not self.query_text.strip():
            text = t("empty_elders")
        self.query_one("#elder-page", Label).update(text)

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

    def action_delete(self) -> None:
        rid = self.current_id()
        if not rid:
            self.notify(t("no_record"), severity="warning")
            return
        table: DataTable[str] = self.query_one(DataTable)
        name, _, _, masked = (str(c) for c in table.get_row(rid)[:4])
        what = f"{name} {masked}"

        def done(yes: bool | None) -> None:
            if not yes:
                return
            try:
                self.fapp.store.delete("elder", rid)
            except StoreError as e:
                self.refused(e)
            else:
                self.notify(f"{t('deleted')}：{what}")
            self.reload()

        self.app.push_screen(ConfirmDialog(t("confirm_delete_named", what=what)), done)


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
        Binding("z", "revert", "revert"),
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
        yield Footer(compact=True, show_command_palette=False)

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
            t("when_saved"), t("action"), t("changes")
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
        age = kinds.age_on(e["birth_date"], kinds.today())
        deleted = ("  " + t("deleted"), "red") if cur.deleted else ""
        self.query_one("#elder-info", Static).update(
            line(  # an age, never the birth date, beside the masked number (SPEC §9 v2)
                (e["name"], "bold"),
                f"  {i18n.code_label('gender', e['gender'])}  ",
                f"{age}{t('years_old')}  " if age is not None else "",
                f"{mask_id_number(e['id_number'])}  {i18n.code_label('elder_status', e['status'])}",
                deleted,
                moved_note(store, self.elder_id),
                f"\n{e['address']}  {t('phone')}：{e['phone'] or '—'}\n",
                f"{t('living')}：{i18n.code_label('living_status', e['living_status'])}  ",
                f"{t('risk')}：{i18n.code_label('visit_risk', e['visit_risk'])}  {t('hardship')}：{tags}",
            )
        )
        where = {"elder_id": self.elder_id}
        visits = self.query_one("#visits", DataTable)
        visits.clear()
        for v in store.page("home_visit", where=where, order_by=["visit_date DESC"], limit=200):
            visits.add_row(
                *row(
                    v["visit_date"],
                    i18n.code_label("service_type", v["service_type"]),
                    i18n.code_label("contact_mode", v["contact_mode"]),
                    v["worker"],
                    str(v["duration_min"]),
                ),
                key=v["id"],
            )
        assessments = self.query_one("#assessments", DataTable)
        assessments.clear()
        for a in store.page("assessment", where=where, order_by=["assess_date DESC"], limit=200):
            assessments.add_row(
                *row(
                    a["assess_date"],
                    str(a["total"]),
                    i18n.code_label("assessment_level", a["level"]),
                    a["next_due"],
                ),
                key=a["id"],
            )
        retrofits = self.query_one("#retrofits", DataTable)
        retrofits.clear()
        for r in store.page("retrofit", where=where, order_by=["project_year DESC"], limit=50):
            retrofits.add_row(
                *row(
                    str(r["project_year"]),
                    i18n.code_label("retrofit_status", r["status"]),
                    f"{r['cost_total']:.2f}",
                ),
                key=r["id"],
            )
        versions = self.query_one("#versions", DataTable)
        versions.clear()
        others = store.recorded_by()  # colleagues' versions (return bundles) say who
        for c in reversed(changes(store.history(self.elder_id))):
            shown = "；".join(
                f"{i18n.field_label_kind('elder', f.field)}：{_value(f.field, f.old)} → {_value(f.field, f.new)}"
                for f in c.fields
                if f.field not in ("under_60_confirmed",)
            )
            if c.device_id in others:
                shown = f"【{others[c.device_id]}】{shown}"
            versions.add_row(
                *row(c.when + ("" if c.local_time else t("clock_time")), t(f"v_{c.action}"), shown),
                key=c.version_id,
            )

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_revert(self) -> None:
        """The version under the cursor of the versions tab comes back as a new version."""
        table = self.query_one("#versions", DataTable)
        if table.row_count == 0 or self.query_one(TabbedContent).active != "tab-versions":
            self.notify(t("versions"), severity="warning")
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        if key is None:
            return
        when = str(table.get_row_at(table.cursor_row)[0])

        def done(yes: bool | None) -> None:
            if not yes:
                return
            from fieldapp.models import RecordInvalid

            try:
                self.fapp.store.revert("elder", self.elder_id, key)
            except (StoreError, RecordInvalid) as e:
                self.refused(e)
            else:
                self.notify(t("reverted"))
            self.reload()

        question = t("confirm_revert", what=self.elder_name(), when=when)
        self.app.push_screen(ConfirmDialog(question), done)

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
        store = self.fapp.store
        own = store.get("elder", self.elder_id).record.payload().get("community_code")
        options = (
            [
                (f"{c['name_zh']} {c['code']}", c["code"])
                for c in store.communities()
                if c["code"] != own
            ]
            if status == "moved_out"
            else None
        )

        def done(answer: tuple[str, str | None] | None) -> None:
            if answer is None:
                return
            from fieldapp.models import RecordInvalid

            day, moved_to = answer
            try:
                store.mark_status(self.elder_id, status, status_date=day or None, moved_to=moved_to)
            except (StoreError, RecordInvalid) as e:  # e.g. a future day: said, not raised
                self.refused(e)
            else:
                self.notify(t("saved"))
            self.reload()

        today = kinds.today().isoformat()
        self.app.push_screen(StatusDialog(question, today, options), done)

    def action_moved_out(self) -> None:
        self._set_status("moved_out", f"{t('moved_out')}：{self.elder_name()}")

    def action_deceased(self) -> None:
        self._set_status("deceased", f"{t('deceased')}：{self.elder_name()}")


def _value(field: str, v: object) -> str:
    """A changed value as the versions tab shows it: the ID number masked and a birth date as an
    age (SPEC §9 v2: nothing beside a masked number rebuilds it)."""
    if field == "id_number" and isinstance(v, str) and v:
        return mask_id_number(v)
    if field == "birth_date" and v:
        age = kinds.age_on(str(v), kinds.today())
        return "—" if age is None else f"{age}{t('years_old')}"
    if v in (None, "", []):
        return "—"
    if isinstance(v, list):
        return "、".join(str(x) for x in v)
    return str(v)


def moved_note(store: Store, elder_id: str) -> tuple[str, str] | str:
    """An elder the district moved to another community (a transfer in a return bundle, SPEC §4a)
    is shown as moved and read-only on the old community's laptops."""
    moved = store.moved_by_district(elder_id)
    return "" if moved is None else ("  " + t("moved_read_only", community=moved), "yellow")
