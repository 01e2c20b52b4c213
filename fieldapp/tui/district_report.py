"""The supervisor's indicator dashboard (drill down district → street → community) and review queues."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from rich.console import JustifyMethod
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import (
    DataTable,
    Footer,
    Header,
    Input,
    Label,
    Sparkline,
    Static,
    TabbedContent,
    TabPane,
)

from fieldapp import i18n, report
from fieldapp import indicators as ind
from fieldapp.i18n import t
from fieldapp.kinds import mask_id_number
from fieldapp.sqlite import sqlite3
from fieldapp.store.checks import age_on
from fieldapp.tui.decision import group_rows, named_key, open_conflict, open_review
from fieldapp.tui.keys import Translated
from fieldapp.tui.safe import row

SUB_COLUMNS = (
    "home_service_coverage",
    "retrofit_households",
    "assessment_80_coverage",
    "meal_monthly_servings",
    "volunteer_events",
)
# the community view's list of who is overdue (SPEC §7: named people on this screen only)
OVERDUE_WORDS: dict[str, tuple[str, str]] = {
    "overdue_list": (
        "逾期未探访（截至 {as_of}，共 {n} 人；身份证号已遮蔽）",
        "Overdue for a visit (as of {as_of}, {n} in all; ID numbers masked)",
    ),
    "last_visit": ("上次探访", "Last visit"),
    "never_visited": ("从未探访", "never"),
}
for _key, _words in OVERDUE_WORDS.items():
    i18n.WORDS.setdefault(_key, _words)


def _bar(value: float | None, target: float | None, width: int = 20) -> Text:
    """A bar of the value against its target (full = target reached)."""
    if value is None or not target:
        return Text("")
    frac = max(0.0, min(1.0, value / target))
    filled = int(round(frac * width))
    color = "green" if value >= target else "yellow" if frac >= 0.8 else "red"
    return Text("█" * filled, style=color) + Text("░" * (width - filled), style="dim")


def area_trend(conn: sqlite3.Connection, year: int, code: str) -> list[dict[str, Any]]:
    """The monthly trend of one street or community by fieldapp.indicators' definitions, which
    count each area's persons once (an area's figure is never a sum of its communities'); the
    district's retrofit baseline is not split by area, so an area's retrofit line counts the
    households retrofitted since RETROFIT_FROM."""
    today = date.today()
    pop = conn.execute(
        "SELECT sum(pop_60) FROM ref_community WHERE code LIKE ?", (code + "%",)
    ).fetchone()[0]
    rows: list[dict[str, Any]] = []
    for m in range(1, 13):
        m0 = date(year, m, 1)
        if m0 > today:
            break
        end = min(ind.month_end(m0), today)
        covered = ind.covered(conn, date(year, 1, 1), end).get(code, 0)
        meal = ind.meals(conn, m0, end).get(code)
        events = ind.volunteer_events(conn, m0, end).get(code)
        rows.append(
            {
                "month": f"{m0:%Y-%m}",
                "coverage_pct": round(100 * covered / (pop or 1), 2),
                "retrofit_households": ind.retrofitted(conn, ind.RETROFIT_FROM, end).get(code, 0),
                "meal_servings": meal.servings if meal else 0,
                "volunteer_events": events.events if events else 0,
            }
        )
    return rows


class IndicatorScreen(Translated, Screen[None]):
    BINDINGS = [
        Binding("enter", "drill", "drill_down"),
        Binding("backspace,escape", "up", "drill_up"),
        Binding("left_square_bracket", "year(-1)", "prev_year"),
        Binding("right_square_bracket", "year(1)", "next_year"),
        Binding("ctrl+x", "xlsx", "export_xlsx", priority=True),
    ]
    CSS_PATH = "district_report.tcss"

    def __init__(self, db_path: Path) -> None:
        super().__init__()
        self.db_path = db_path
        self.year = date.today().year
        self.path: list[tuple[str, str, str]] = [("district", "321202", "")]  # drill-down trail
        self.report: report.Report | None = None
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(t("loading"), id="ind-head")
        with Horizontal(id="ind-trend"):
            for key in ("coverage_pct", "retrofit_households", "meal_servings", "volunteer_events"):
                with Vertical():
                    yield Label(t(f"trend_{key}"), classes="spark-label")
                    yield Sparkline([], id=f"spark-{key}")
        yield DataTable(id="ind-sub", cursor_type="row", zebra_stripes=True)
        yield Label("", id="ind-overdue-head")
        yield DataTable(id="ind-overdue", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="ind-out-row"):
            yield Label(t("export_xlsx") + "：")
            yield Input(
                str(Path.home() / f"海陵区养老服务指标-{self.year}.xlsx"),
                id="ind-out",
                compact=True,
            )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#ind-sub", DataTable).add_columns(
            t("area"), *[t(f"short_{i}") for i in SUB_COLUMNS]
        )
        self.query_one("#ind-overdue", DataTable).add_columns(
            t("name"),
            t("id_number"),
            t("age"),
            t("risk"),
            t("last_visit"),
            t("due"),
            t("overdue_days"),
        )
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def load(self) -> None:
        """The report runs in a thread with its own connection; the screen stays live meanwhile."""
        from fieldapp import db

        conn = db.connect(self.db_path, create=False)
        level, code, _ = self.path[-1]
        try:
            r = report.build_cached(conn, self.year, lang=i18n.lang(), with_trend=True)
            months = (r.trend or []) if level == "district" else area_trend(conn, self.year, code)
            late = None
            if level == "community":  # who is overdue, on the report's as-of date
                late = ind.overdue_persons(conn, r.as_of or date.today(), code)
        finally:
            conn.close()
        self.app.call_from_thread(self._show, r, months, late)

    def _show(
        self,
        r: report.Report,
        months: list[dict[str, Any]],
        late: list[ind.OverduePerson] | None = None,
    ) -> None:
        self.report = r
        level, code, _ = self.path[-1]
        zh = i18n.lang() != "en"
        head = Table(
            title=f"{r.get(code, 'home_service_coverage').area_name} · {r.period.label}",
            expand=True,
            box=None,
        )
        columns: tuple[tuple[str, JustifyMethod], ...] = (
            (t("indicator"), "left"),
            (t("numerator"), "right"),
            (t("denominator"), "right"),
            (t("value"), "right"),
            (t("target"), "right"),
            ("", "left"),
            (t("status"), "left"),
        )
        for col, just in columns:
            head.add_column(col, justify=just)
        for name in report.INDICATORS:
            f = r.get(code, name)
            head.add_row(
                report.LABELS[name][0 if zh else 1],
                report.fmt_num(f.numerator),
                "" if f.denominator is None else report.fmt_num(f.denominator),
                "—" if f.value is None else f"{f.value:.2f}{'%' if f.unit == '%' else ''}",
                "—" if f.target is None else report.fmt_num(f.target),
                _bar(f.value, f.target),
                report.STATUS[f.status][0 if zh else 1],
            )
        op = r.operational
        ops = t("ops_line", **op)
        self.query_one("#ind-head", Static).update(head)
        if months:
            self._show_trend(months)
        sub = self.query_one("#ind-sub", DataTable)
        sub.clear()
        children = self._children(r, level, code)
        for child_code, child_name in children:
            cells = []
            for name in SUB_COLUMNS:
                f = r.get(child_code, name)
                cells.append(
                    "—" if f.value is None else f"{f.value:.1f}{'%' if f.unit == '%' else ''}"
                )
            sub.add_row(child_name, *cells, key=child_code)
        self._show_overdue(r, late)
        self.sub_title = ops
        self.loaded = True

    def _show_overdue(self, r: report.Report, late: list[ind.OverduePerson] | None) -> None:
        """A community's view lists who is overdue in place of the sub-areas: the name, the ID
        number masked by kinds.mask_id_number and the age instead of the birth date (SPEC §9)."""
        at_community = self.path[-1][0] == "community"
        table = self.query_one("#ind-overdue", DataTable)
        head = self.query_one("#ind-overdue-head", Label)
        self.query_one("#ind-sub", DataTable).display = not at_community
        table.display = head.display = at_community
        table.clear()
        if not at_community or late is None:
            head.update(t("loading") if at_community else "")
            return
        as_of = r.as_of or date.today()
        head.update(t("overdue_list", as_of=as_of.isoformat(), n=len(late)))
        for p in late:
            due = date.fromisoformat(p.due_date)
            table.add_row(
                *row(
                    p.name,
                    mask_id_number(p.id_number),
                    str(age_on(date.fromisoformat(p.birth_date), as_of)),
                    i18n.code_label("visit_risk", p.visit_risk),
                    p.last_visit or t("never_visited"),
                    p.due_date,
                    str((as_of - due).days),
                ),
                key=p.id,
            )

    def _show_trend(self, months: list[dict[str, Any]]) -> None:
        for key in ("coverage_pct", "retrofit_households", "meal_servings", "volunteer_events"):
            # a month before the meal data start is blank (None) in the trend: 0 on a sparkline
            data = [float(m[key] or 0) for m in months]
            self.query_one(f"#spark-{key}", Sparkline).data = data or [0.0]

    def _children(self, r: report.Report, level: str, code: str) -> list[tuple[str, str]]:
        if level == "district":
            return [
                (f.area_code, f.area_name)
                for f in r.level("street")
                if f.indicator == "home_service_coverage"
            ]
        if level == "street":
            return [
                (f.area_code, f.area_name)
                for f in r.level("community")
                if f.indicator == "home_service_coverage" and f.area_code.startswith(code)
            ]
        return []

    def action_drill(self) -> None:
        table = self.query_one("#ind-sub", DataTable)
        level = self.path[-1][0]
        if self.report is None or table.row_count == 0 or level == "community":
            return
        code = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        self.path.append(("street" if level == "district" else "community", code, ""))
        self._show(self.report, [])
        self.load()

    @on(DataTable.RowSelected)
    def _selected(self) -> None:
        self.action_drill()

    def action_up(self) -> None:
        if len(self.path) > 1 and self.report is not None:
            self.path.pop()
            self.load()

    def action_year(self, step: int) -> None:
        self.year += step
        self.query_one("#ind-out", Input).value = str(
            Path(self.query_one("#ind-out", Input).value).with_name(
                f"海陵区养老服务指标-{self.year}.xlsx"
            )
        )
        self.load()

    def action_xlsx(self) -> None:
        self.write_xlsx(Path(self.query_one("#ind-out", Input).value).expanduser(), self.year)

    @work(thread=True, exclusive=False, exit_on_error=False, group="xlsx")
    def write_xlsx(self, out: Path, year: int) -> None:
        from fieldapp import db

        conn = db.connect(self.db_path, create=False)
        try:
            r = report.build(conn, year, lang=i18n.lang())
            report.write_xlsx(r, out, conn, lang=i18n.lang())
            message, severity = f"{t('saved')}：{out}", "information"
        except OSError as e:
            message, severity = f"{out}: {e.strerror}", "error"
        finally:
            conn.close()
        self.app.call_from_thread(self.notify, message, severity=severity)


class ReviewScreen(Translated, Screen[None]):
    BINDINGS = [
        Binding("enter", "open_item", "open"),
        Binding("u", "decisions", "undo"),
        Binding("ctrl+r", "reload", "reload"),
    ]
    CSS_PATH = "district_report.tcss"

    def __init__(self, db_path: Path) -> None:
        super().__init__()
        self.db_path = db_path

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="review-tabs"):
            with TabPane(t("conflicts"), id="tab-conflicts"):
                yield DataTable(id="rv-conflicts", cursor_type="row")
            with TabPane(t("duplicates"), id="tab-dups"):
                yield DataTable(id="rv-dups", cursor_type="row")
            with TabPane(t("meal_collisions"), id="tab-meals"):
                yield DataTable(id="rv-meals", cursor_type="row")
            with TabPane(t("rejected"), id="tab-rejected"):
                yield DataTable(id="rv-rejected", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#rv-conflicts", DataTable).add_columns(
            "#", t("kind"), t("record"), t("reason_col"), t("date")
        )
        self.query_one("#rv-dups", DataTable).add_columns(
            "#", t("id_number"), t("count"), t("date"), t("group_records")
        )
        self.query_one("#rv-meals", DataTable).add_columns("#", t("slot"), "A", "B", t("date"))
        self.query_one("#rv-rejected", DataTable).add_columns(
            t("file"), t("line"), t("kind"), t("record"), t("reason_col")
        )
        self.reload()

    def on_screen_resume(self) -> None:
        self.reload()

    def action_reload(self) -> None:
        self.reload()

    def _conn(self) -> sqlite3.Connection:
        from fieldapp import db

        return db.connect(self.db_path, create=False)

    def reload(self) -> None:
        from fieldapp import review

        conn = self._conn()
        try:
            c = self.query_one("#rv-conflicts", DataTable)
            c.clear()
            for r in review.conflicts(conn):
                c.add_row(
                    *row(
                        str(r["id"]),
                        i18n.kind_label(r["kind"]),
                        r["record_id"][:13],
                        r["reason"],
                        r["created_at"][:10],
                    ),
                    key=f"c{r['id']}",
                )
            dups = self.query_one("#rv-dups", DataTable)
            dups.clear()
            for ref, *cells in group_rows(conn):  # one row per ID number (issue 16 point 5)
                dups.add_row(*row(ref[1:], *cells), key=ref)
            for table_id, queue in (("#rv-meals", "meal_slot"),):
                tbl = self.query_one(table_id, DataTable)
                tbl.clear()
                for r in review.reviews(conn, queue):
                    tbl.add_row(
                        *row(
                            str(r["id"]),
                            named_key(conn, str(r["shown_key"])),
                            _who_is(conn, r["kind"], r["record_a"]),
                            _who_is(conn, r["kind"], r["record_b"]),
                            r["created_at"][:10],
                        ),
                        key=f"r{r['id']}",
                    )
            rej = self.query_one("#rv-rejected", DataTable)
            rej.clear()
            for r in review.rejected(conn):
                rej.add_row(
                    *row(
                        r["file_name"] or r["bundle_id"][:8],
                        str(r["line_no"]),
                        r["kind"] or "",
                        (r["record_id"] or "")[:13],
                        r["reason"],
                    ),
                    key=f"x{r['id']}",
                )
            counts = review.counts(conn)
        finally:
            conn.close()
        tabs = self.query_one(TabbedContent)
        for pane, key in (
            ("tab-conflicts", "conflicts"),
            ("tab-dups", "person_groups"),
            ("tab-meals", "meal_slot"),
            ("tab-rejected", "rejected"),
        ):
            word = {
                "conflicts": "conflicts",
                "person_groups": "duplicates",
                "meal_slot": "meal_collisions",
                "rejected": "rejected",
            }[key]
            tabs.get_tab(pane).label = f"{t(word)} ({counts[key]})"

    def action_open_item(self) -> None:
        tabs = self.query_one(TabbedContent)
        table = tabs.active_pane.query_one(DataTable) if tabs.active_pane else None
        if table is None or table.row_count == 0:
            return
        key = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        if key.startswith("c"):
            self._open_conflict(int(key[1:]))
        elif key.startswith("r"):
            self._open_review(int(key[1:]))

    @on(DataTable.RowSelected)
    def _row(self) -> None:
        self.action_open_item()

    def _open_conflict(self, cid: int) -> None:
        open_conflict(self, self.db_path, cid, self.reload)

    def _open_review(self, item_id: int) -> None:
        open_review(self, self.db_path, item_id, self.reload)

    def action_decisions(self) -> None:
        """The decisions taken, to read or undo (undo is one more decision)."""
        from fieldapp.tui.decisions import open_decisions

        open_decisions(self, self.db_path, self.reload)


def _who_is(conn: sqlite3.Connection, kind: str, record_id: str) -> str:
    """A record as the list shows it: an elder by name and community, else the id's tail."""
    if kind != "elder":
        return record_id[-8:]
    row = conn.execute(
        "SELECT e.name, coalesce(c.name_zh, e.community_code) FROM elder e"
        " LEFT JOIN ref_community c ON c.code = e.community_code WHERE e.id = ?",
        (record_id,),
    ).fetchone()
    return f"{row[0]}（{row[1]}）" if row else record_id[-8:]
