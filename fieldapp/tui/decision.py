"""The supervisor's decision dialog: both sides of a review item field by field, who made each and when, what each choice will do."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import (
    Footer,
    Input,
    Label,
    Static,
)

from fieldapp import i18n
from fieldapp.i18n import t
from fieldapp.sqlite import sqlite3
from fieldapp.tui.keys import Translated
from fieldapp.tui.safe import safe


def _fields(kind: str) -> dict[str, Any]:
    from fieldapp import models

    return models.MODELS[kind].model_fields


HIDDEN = ("version_id", "hlc", "device_id", "name_initials")


def _shown_value(kind: str | None, name: str, value: Any) -> str:
    """A value as the reviewer reads it: a code by its label (`with_children` → 与子女同住)."""
    if value is None:
        return ""
    info = _fields(kind).get(name) if kind else None
    extra = (info.json_schema_extra if info is not None else None) or {}
    catalogue = extra.get("catalogue") if isinstance(extra, dict) else None
    try:
        if catalogue and isinstance(value, list):
            return "、".join(i18n.code_label(str(catalogue), str(v)) for v in value)
        if catalogue:
            return i18n.code_label(str(catalogue), str(value))
    except (KeyError, ValueError):
        pass
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value)


def _label(kind: str | None, name: str) -> str:
    return (
        i18n.field_label_kind(kind, name)
        if kind and name in _fields(kind)
        else t(name)
        if name in i18n.WORDS
        else name
    )


def _compare_table(
    left: dict[str, Any], right: dict[str, Any], kind: str | None, heads: tuple[str, str]
) -> Table:
    """One table, field | A | B, the differing rows highlighted: at 80 columns each value keeps
    about 30 characters (two side tables left it five, issue 16 point 3)."""
    table = Table(expand=True, box=None, show_edge=False, pad_edge=False)
    table.add_column("", style="dim", no_wrap=True, max_width=12)
    table.add_column(heads[0], ratio=1)
    table.add_column(heads[1], ratio=1)
    for k in dict.fromkeys([*left, *right]):
        if k in HIDDEN:
            continue
        a, b = left.get(k), right.get(k)
        style = "bold yellow" if a != b else ""
        table.add_row(
            safe(_label(kind, k)),
            safe(_shown_value(kind, k, a), style),
            safe(_shown_value(kind, k, b), style),
        )
    return table


class DecisionDialog(Translated, ModalScreen[tuple[str, str] | None]):
    """Two versions or two records in one table (differences highlighted), who made each side and
    what each choice will do; a key decides, with an optional comment.

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
        context: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.title_text, self.left, self.right, self.choices, self.kind = (
            title,
            left,
            right,
            choices,
            kind,
        )
        self.context = context or []

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dlg-body"):
            yield Label(safe(self.title_text, "bold"))
            for line in self.context:
                yield Label(safe(line), classes="dlg-context")
            yield Static(_compare_table(self.left, self.right, self.kind, ("A", "B")))
            yield Label(t("what_happens") + "：", classes="dlg-head")
            for k, (_, label) in self.choices.items():
                yield Label(Text(f"[{k.upper()}] {label}：{_describe(k)}"), classes="dlg-choice")
        with Horizontal(id="dlg-comment-row"):
            yield Label(t("comment") + "：")
            yield Input("", id="dlg-comment", compact=True)
        yield Footer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "choose":
            return parameters[0] == "" or parameters[0] in self.choices
        return True

    def action_choose(self, key: str) -> None:
        """The key pressed (never one this dialog does not offer: `check_action`) → its value and
        the comment typed."""
        if not key:
            self.dismiss(None)
            return
        self.dismiss((self.choices[key][0], self.query_one("#dlg-comment", Input).value.strip()))

    def on_mount(self) -> None:
        self.query_one("#dlg-body").focus()

    @on(Input.Submitted, "#dlg-comment")
    def _typed(self) -> None:
        self.query_one("#dlg-body").focus()


def _describe(key: str) -> str:
    return t(
        {"a": "choose_keep_a", "b": "choose_keep_b", "s": "choose_same", "d": "choose_different"}[
            key
        ]
    )


def side_context(conn: sqlite3.Connection, version_ids: tuple[str, str]) -> list[str]:
    """Who made each side, when, on which device and in which bundle (issue 16, point 6)."""
    from fieldapp.devices import short_device_id

    out = []
    for side, vid in zip("AB", version_ids, strict=True):
        row = conn.execute(
            "SELECT v.hlc, v.device_id, b.file_name, b.worker, b.device_label, b.period"
            " FROM versions v LEFT JOIN bundles b ON b.bundle_id = v.origin WHERE v.version_id = ?",
            (vid,),
        ).fetchone()
        if row is None:
            continue
        when = _hlc_time(row[0])
        who = row[3] or row[4] or "—"
        out.append(
            f"{side}：{who} · {short_device_id(row[1])} · {when} · {row[2] or t('district_title')}"
        )
    return out


def earlier_decisions(conn: sqlite3.Connection, record_id: str) -> list[str]:
    rows = conn.execute(
        "SELECT decided_by, decided_at, decision FROM conflicts"
        " WHERE record_id = ? AND status = 'resolved' ORDER BY decided_at",
        (record_id,),
    ).fetchall()
    return [f"{t('earlier_decision')}：{r[0]} {str(r[1])[:16]} → {str(r[2])[-8:]}" for r in rows]


def _hlc_time(h: str) -> str:
    from datetime import datetime

    try:
        return datetime.fromtimestamp(int(h[:13]) / 1000).strftime("%Y-%m-%d %H:%M")
    except (ValueError, OverflowError, OSError):
        return h
