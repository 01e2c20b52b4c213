"""The decisions already taken (U on the review screen): who decided what, when and why, and undo,
which is one more decision by the supervisor (`review.undo`), with its own comment."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, Label

from fieldapp import i18n
from fieldapp.i18n import t
from fieldapp.tui.decision import apply_decision, connect
from fieldapp.tui.keys import Translated
from fieldapp.tui.safe import safe

WHAT = {
    "conflict": "conflicts",
    "duplicate_person": "duplicates",
    "meal_slot": "meal_collisions",
    "transfer": "transfer_word",
}


def _record(conn: Any, kind: str, record_id: str) -> str:
    """An elder by name, anything else by its id's tail."""
    if kind == "elder":
        row = conn.execute("SELECT name FROM elder WHERE id = ?", (record_id,)).fetchone()
        if row is not None:
            return str(row[0])
    return record_id[-8:]


class DecisionsDialog(Translated, ModalScreen[tuple[str, str] | None]):
    """The recent decisions, newest first; U undoes the highlighted one (with the comment typed)."""

    BINDINGS = [
        Binding("u", "undo", "undo"),
        Binding("escape", "close", "cancel"),
    ]
    CSS_PATH = "decision.tcss"

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        with Vertical(id="dec-body"):
            yield DataTable(id="dec-table", cursor_type="row")
        from fieldapp.review import describe_choice

        zh, en = describe_choice("undo", "undo")
        yield Label(safe(f"[U] {t('undo')}：{en if i18n.lang() == 'en' else zh}"), id="dec-what")
        with Horizontal(id="dec-comment-row"):
            yield Label(t("comment") + "：")
            yield Input("", id="dec-comment", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(
            "#", t("kind"), t("record"), t("decided_by"), t("date"), t("comment"), t("state")
        )
        for r in self.rows:
            table.add_row(
                r["ref"],
                t(WHAT.get(r["what"], "conflicts")),
                safe(r["label"]),
                safe(r["decided_by"] or ""),
                str(r["decided_at"] or "")[:16],
                safe(r["comment"] or ""),
                t("undone") if r["undone"] else "",
                key=r["ref"],
            )
        table.focus()

    def action_undo(self) -> None:
        table = self.query_one(DataTable)
        if not self.rows:
            return
        row = self.rows[table.cursor_row]
        if row["undone"]:
            self.notify(t("already_undone"), severity="warning")
            return
        self.dismiss((row["ref"], self.query_one("#dec-comment", Input).value.strip()))

    def action_close(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted, "#dec-comment")
    def _typed(self) -> None:
        self.query_one(DataTable).focus()


def open_decisions(screen: Screen[Any], db_path: Path, after: Callable[[], None]) -> None:
    """The decisions dialog; an undo chosen there is written as the supervisor's decision."""
    from fieldapp import review

    conn = connect(db_path)
    try:
        rows = [
            r | {"label": _record(conn, r["kind"], r["record_id"])} for r in review.recent(conn)
        ]
    finally:
        conn.close()

    def done(choice: tuple[str, str] | None) -> None:
        if choice:
            ref, comment = choice
            apply_decision(
                screen, db_path, lambda c, by: review.undo(c, ref, by=by, comment=comment or None)
            )
            after()

    screen.app.push_screen(DecisionsDialog(rows), done)
