"""The supervisor's indicator dashboard (drill down district → street → community) and review queues."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import JustifyMethod
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
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
from fieldapp.i18n import t
from fieldapp.sqlite import sqlite3
from fieldapp.tui.keys import Translated

SUB_COLUMNS = (
    "home_service_coverage",
    "retrofit_households",
    "assessment_80_coverage",
    "meal_monthly_servings",
    "volunteer_events",
)


def _bar(value: float | None, target: float | None, width: int = 20) -> Text:
    """A bar of the value against its target (full = target reached)."""
    if value is None or not target:
        return Text("")
    frac = max(0.0, min(1.0, value / target))
    filled = int(round(frac * width))
    color = "green" if value >= target else "yellow" if frac >= 0.8 else "red"
    return Text("█" * filled, style=color) + Text("░" * (width - filled), style="dim")


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
        with Horizontal(id="ind-out-row"):
            yield Label(t("export_xlsx") + "：")
            yield Input(
                str(Path.home() / f"海陵区养老服务指标-{self.year}.xlsx"),
                id="ind-out",
                compact=True,
            )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(t("area"), *[t(f"short_{i}") for i in SUB_COLUMNS])
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def load(self) -> None:
        """The report runs in a thread with its own connection; the screen stays live meanwhile."""
        from fieldapp import db

        conn = db.connect(self.db_path, create=False)
        try:
            r = report.build_cached(conn, self.year, lang=i18n.lang(), with_trend=True)
        finally:
            conn.close()
        self.app.call_from_thread(self._show, r, r.trend or [])

    def _show(self, r: report.Report, months: list[dict[str, Any]]) -> None:
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
        for ind in report.INDICATORS:
            f = r.get(code, ind)
            head.add_row(
                report.LABELS[ind][0 if zh else 1],
                report._num(f.numerator),
                "" if f.denominator is None else report._num(f.denominator),
                "—" if f.value is None else f"{f.value:.2f}{'%' if f.unit == '%' else ''}",
                "—" if f.target is None else report._num(f.target),
                _bar(f.value, f.target),
                report.STATUS[f.status][0 if zh else 1],
            )
        op = r.operational
        ops = t("ops_line", **op)
        self.query_one("#ind-head", Static).update(head)
        if months:
            self._show_trend(months)
        sub = self.query_one(DataTable)
        sub.clear()
        children = self._children(r, level, code)
        for child_code, child_name in children:
            cells = []
            for ind in SUB_COLUMNS:
                f = r.get(child_code, ind)
                cells.append(
                    "—" if f.value is None else f"{f.value:.1f}{'%' if f.unit == '%' else ''}"
                )
            sub.add_row(child_name, *cells, key=child_code)
        self.sub_title = ops
        self.loaded = True

    def _show_trend(self, months: list[dict[str, Any]]) -> None:
        for key in ("coverage_pct", "retrofit_households", "meal_servings", "volunteer_events"):
            self.query_one(f"#spark-{key}", Sparkline).data = [float(m[key]) for m in months] or [
                0.0
            ]

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
        table = self.query_one(DataTable)
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


def _fields(kind: str) -> dict[str, Any]:
    from fieldapp import models

    return models.MODELS[kind].model_fields


def _side_table(
    title: str, fields: dict[str, Any], other: dict[str, Any], kind: str | None = None
) -> Table:
    table = Table(title=title, expand=True, show_header=False)
    table.add_column("", style="dim", no_wrap=True)
    table.add_column("")
    for k, v in fields.items():
        if k in ("version_id", "hlc", "device_id", "name_initials"):
            continue
        text = Text("" if v is None else str(v))
        if other.get(k) != v:
            text.stylize("bold yellow")
        label = i18n.field_label_kind(kind, k) if kind and k in _fields(kind) else k
        table.add_row(label, text)
    return table


class DecisionDialog(Translated, ModalScreen[str | None]):
    """Two versions or two records side by side (differences highlighted); a key decides.

    Every decision key is declared once; `check_action` hides the ones this dialog does not offer
    (a conflict offers A/B, a duplicate person same/different)."""

    BINDINGS = [
        Binding("a", "choose('a')", "keep_a"),
        Binding("b", "choose('b')", "keep_b"),
        Binding("s", "choose('s')", "same_person"),
        Binding("d", "choose('d')", "different_person"),
        Binding("escape", "choose('')", "cancel"),
    ]

    CSS_PATH = "district_report.tcss"

    def __init__(
        self,
        title: str,
        left: dict[str, Any],
        right: dict[str, Any],
        choices: dict[str, tuple[str, str]],
        kind: str | None = None,
    ) -> None:
        super().__init__()
        self.title_text, self.left, self.right, self.choices, self.kind = (
            title,
            left,
            right,
            choices,
            kind,
        )

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Label(self.title_text)
            with Horizontal():
                yield Static(_side_table("A", self.left, self.right, self.kind), classes="side")
                yield Static(_side_table("B", self.right, self.left, self.kind), classes="side")
            keys = "  ".join(f"[{k.upper()}] {label}" for k, (_, label) in self.choices.items())
            yield Label(Text(f"{keys}  [Esc] {t('cancel')}"))
        yield Footer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "choose":
            return parameters[0] == "" or parameters[0] in self.choices
        return True

    def action_choose(self, key: str) -> None:
        """The key pressed (never one this dialog does not offer: `check_action`) → its value."""
        self.dismiss(self.choices[key][0] if key else None)


class ReviewScreen(Translated, Screen[None]):
    BINDINGS = [Binding("enter", "open_item", "open"), Binding("ctrl+r", "reload", "reload")]
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
        self.query_one("#rv-dups", DataTable).add_columns("#", t("id_number"), "A", "B", t("date"))
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
                    str(r["id"]),
                    i18n.kind_label(r["kind"]),
                    r["record_id"][:13],
                    r["reason"],
                    r["created_at"][:10],
                    key=f"c{r['id']}",
                )
            for table_id, queue in (("#rv-dups", "duplicate_person"), ("#rv-meals", "meal_slot")):
                tbl = self.query_one(table_id, DataTable)
                tbl.clear()
                for r in review.reviews(conn, queue):
                    tbl.add_row(
                        str(r["id"]),
                        r["shown_key"],
                        r["record_a"][:13],
                        r["record_b"][:13],
                        r["created_at"][:10],
                        key=f"r{r['id']}",
                    )
            rej = self.query_one("#rv-rejected", DataTable)
            rej.clear()
            for r in review.rejected(conn):
                rej.add_row(
                    r["file_name"] or r["bundle_id"][:8],
                    str(r["line_no"]),
                    r["kind"] or "",
                    (r["record_id"] or "")[:13],
                    r["reason"],
                    key=f"x{r['id']}",
                )
            counts = review.counts(conn)
        finally:
            conn.close()
        tabs = self.query_one(TabbedContent)
        for pane, key in (
            ("tab-conflicts", "conflicts"),
            ("tab-dups", "duplicate_person"),
            ("tab-meals", "meal_slot"),
            ("tab-rejected", "rejected"),
        ):
            word = {
                "conflicts": "conflicts",
                "duplicate_person": "duplicates",
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

    def _decide(
        self, decide: Callable[[sqlite3.Connection, int, str], object], item: int, choice: str
    ) -> None:
        """Record a decision; one the review refuses (decided meanwhile, gone) is said, not raised."""
        from fieldapp.review import ReviewError

        conn = self._conn()
        try:
            decide(conn, item, choice)
        except ReviewError as e:
            self.notify(e.en if i18n.lang() == "en" else e.zh, severity="error")
        else:
            self.notify(t("decided"))
        finally:
            conn.close()
        self.reload()

    def _open_conflict(self, cid: int) -> None:
        from fieldapp import review

        conn = self._conn()
        try:
            info, a, b = review.conflict_sides(conn, cid)
        finally:
            conn.close()
        left = {"version_id": a.version_id, "deleted": a.deleted, **a.payload}
        right = {"version_id": b.version_id, "deleted": b.deleted, **b.payload}

        def done(choice: str | None) -> None:
            if choice:  # a resolution by the district (issue 16: the dialog moves to tuidistrict)
                side = "a" if choice == a.version_id else "b"
                self._decide(
                    lambda c, i, _: review.decide_conflict(c, i, choose=side, by=review.who(c)),
                    cid,
                    choice,
                )

        title = f"{i18n.kind_label(info['kind'])} {info['record_id']} · {info['reason']}"
        self.app.push_screen(
            DecisionDialog(
                title,
                left,
                right,
                {"a": (a.version_id, t("keep_a")), "b": (b.version_id, t("keep_b"))},
            ),
            done,
        )

    def _open_review(self, item_id: int) -> None:
        from fieldapp import review

        conn = self._conn()
        try:
            item, a, b = review.review_sides(conn, item_id)
        finally:
            conn.close()
        if item["queue"] == "duplicate_person":
            choices = {"s": ("same", t("same_person")), "d": ("different", t("different_person"))}
        else:
            choices = {"a": (item["record_a"], t("keep_a")), "b": (item["record_b"], t("keep_b"))}

        def done(choice: str | None) -> None:
            if choice:
                self._decide(review.decide_review, item_id, choice)

        self.app.push_screen(
            DecisionDialog(f"{item['queue']} · {item['shown_key']}", a, b, choices, item["kind"]),
            done,
        )
