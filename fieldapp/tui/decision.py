"""The supervisor's decision dialogs: a conflict's two sides field by field (some fields taken
from each side), a person group's records (one ID number, one decision), a meal slot; who made each
side and when, and what each choice will do before it is taken."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
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
from fieldapp.tui.safe import row, safe

if TYPE_CHECKING:
    pass


def _fields(kind: str) -> dict[str, Any]:
    from fieldapp import models

    return models.MODELS[kind].model_fields


HIDDEN = ("id", "version_id", "hlc", "device_id", "name_initials")


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
    if name == "deleted":
        return t("deleted_side")
    return (
        i18n.field_label_kind(kind, name)
        if kind and name in _fields(kind)
        else t(name)
        if name in i18n.WORDS
        else name
    )


def _compare_table(
    left: dict[str, Any],
    right: dict[str, Any],
    kind: str | None,
    heads: tuple[str, str],
    pick: PickState | None = None,
) -> Table:
    """One table, field | A | B, the differing rows highlighted: at 80 columns each value keeps
    about 30 characters (two side tables left it five, issue 16 point 3). With `pick`, a fourth
    column says which side each picked field is taken from, and the cursor's row is reversed."""
    table = Table(expand=True, box=None, show_edge=False, pad_edge=False)
    table.add_column("", style="dim", no_wrap=True, max_width=12)
    table.add_column(heads[0], ratio=1)
    table.add_column(heads[1], ratio=1)
    if pick is not None:
        table.add_column(t("taken_from"), no_wrap=True, width=4)
    names = [k for k in dict.fromkeys([*left, *right]) if k not in HIDDEN]
    differ = [k for k in names if left.get(k) != right.get(k)]  # first: visible at 80×24
    for k in differ + [k for k in names if k not in differ]:
        a, b = left.get(k), right.get(k)
        style = "bold yellow" if a != b else ""
        cells: list[Text] = [
            safe(_label(kind, k)),
            safe(_shown_value(kind, k, a), style),
            safe(_shown_value(kind, k, b), style),
        ]
        if pick is not None:
            cells.append(Text(pick.picked.get(k, "").upper(), style="bold"))
            if pick.fields and pick.fields[pick.cursor] == k:
                cells[0] = safe("▶" + _label(kind, k), "reverse")
        table.add_row(*cells)
    return table


@dataclass
class PickState:
    """Which differing fields the reviewer takes from which side (issue 16 point 6): `fields` are
    the ones that may be picked, `cursor` the highlighted one, `picked` field → 'a' | 'b'."""

    fields: list[str]
    cursor: int = 0
    picked: dict[str, str] = dataclass_field(default_factory=dict)

    def toggle(self) -> None:
        """Unpicked → A → B → unpicked (unpicked: the field follows the side chosen by A or B)."""
        if not self.fields:
            return
        name = self.fields[self.cursor]
        nxt = {"": "a", "a": "b", "b": ""}[self.picked.get(name, "")]
        if nxt:
            self.picked[name] = nxt
        else:
            self.picked.pop(name, None)


def pickable(kind: str | None, left: dict[str, Any], right: dict[str, Any]) -> list[str]:
    """The fields a reviewer may take from either side: the record model's own fields that differ
    (never the id; nothing when a side is a deletion, which cannot be mixed)."""
    if kind is None or left.get("deleted") or right.get("deleted"):
        return []
    known = _fields(kind)
    return [
        k
        for k in dict.fromkeys([*left, *right])
        if k in known and k != "id" and k not in HIDDEN and left.get(k) != right.get(k)
    ]


@dataclass(frozen=True)
class Choice:
    """What the dialog returns: the value of the key pressed ('a' / 'b', 'same' / 'different', a
    record id), the comment typed, and for a conflict the fields taken from a side."""

    value: str
    comment: str
    fields: dict[str, str] = dataclass_field(default_factory=dict)


class PickTable(Translated, Static, can_focus=True):
    """The comparison table; with field picking, ↑/↓ move over the differing fields and space
    takes the highlighted one from A, then B, then neither."""

    BINDINGS = [
        Binding("up", "move(-1)", "up", show=False),
        Binding("down", "move(1)", "down", show=False),
        Binding("space", "pick", "pick_field"),
    ]

    def __init__(self, dialog: DecisionDialog) -> None:
        super().__init__(id="dlg-table")
        self.dialog = dialog

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "pick":  # a person group's cursor chooses a record, nothing to pick
            return self.dialog.pick is not None and self.dialog.queue == "conflict"
        return not (action == "move" and self.dialog.pick is None)

    def action_move(self, step: int) -> None:
        pick = self.dialog.pick
        if pick is not None and pick.fields:
            pick.cursor = max(0, min(len(pick.fields) - 1, pick.cursor + step))
            self.dialog.refresh_pick()

    def action_pick(self) -> None:
        if self.dialog.pick is not None:
            self.dialog.pick.toggle()
            self.dialog.refresh_pick()


class DecisionDialog(Translated, ModalScreen[Choice | None]):
    """Two versions or two records in one table (differences highlighted), who made each side and
    what each choice will do; a key decides, with an optional comment. A conflict's dialog lets
    the reviewer take fields from either side (`PickState`): the decision is then one district version
    holding the mix, checked by the record model when it is written.

    Every decision key is declared once; `check_action` hides the ones this dialog does not offer
    (a conflict offers A/B, a duplicate person same/different)."""

    BINDINGS = [
        Binding("a", "choose('a')", "keep_a"),
        Binding("b", "choose('b')", "keep_b"),
        Binding("s", "choose('s')", "same_person"),
        Binding("d", "choose('d')", "different_person"),
        Binding("escape", "choose('')", "cancel"),
    ]

    CSS_PATH = "decision.tcss"

    def __init__(
        self,
        title: str,
        left: dict[str, Any],
        right: dict[str, Any],
        choices: dict[str, tuple[str, str]],
        kind: str | None = None,
        context: list[str] | None = None,
        queue: str = "conflict",
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
        self.queue = queue
        fields = pickable(kind, left, right) if queue == "conflict" else []
        self.pick = PickState(fields) if fields else None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dlg-body"):
            yield Label(safe(self.title_text, "bold"))
            for line in self.context:
                yield Label(safe(line), classes="dlg-context")
            yield from self.compose_table()
        with Vertical(id="dlg-choices"):  # outside the scroll: said before a key is pressed
            for k in self.choices:
                yield Label(self.choice_text(k), id=f"dlg-choice-{k}", classes="dlg-choice")
        with Horizontal(id="dlg-comment-row"):
            yield Label(t("comment") + "：")
            yield Input("", id="dlg-comment", compact=True)
        yield Footer()

    def compose_table(self) -> ComposeResult:
        if self.pick is not None:
            yield Label(Text(t("pick_help")), classes="dlg-context")
        table = PickTable(self)
        table.update(self.table())
        yield table

    def table(self) -> Table:
        return _compare_table(self.left, self.right, self.kind, ("A", "B"), self.pick)

    def choice_text(self, key: str) -> Text:
        """`[A] 保留A：…` — what the key will do, said by `review.describe_choice` (one wording
        for the dialog and `fieldapp review show`); a conflict's text follows the picked fields."""
        from fieldapp.review import describe_choice

        value, _ = self.choices[key]
        if self.queue == "conflict":
            picked = self.pick.picked if self.pick else {}
            fields = {_label(self.kind, k): side for k, side in picked.items()}  # words, not codes
            said = describe_choice("conflict", value, fields=fields)
        elif self.queue == "meal_slot":
            said = describe_choice("meal_slot", "keep", keep=value[-8:])
        else:
            said = describe_choice(self.queue, value)
        return safe(f"[{key.upper()}]{said[1] if i18n.lang() == 'en' else said[0]}")

    def refresh_pick(self) -> None:
        self.query_one("#dlg-table", PickTable).update(self.table())
        for k in self.choices:
            self.query_one(f"#dlg-choice-{k}", Label).update(self.choice_text(k))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "choose":
            return parameters[0] == "" or parameters[0] in self.choices
        return True

    def action_choose(self, key: str) -> None:
        """The key pressed (never one this dialog does not offer: `check_action`) → its value, the
        comment typed and the picked fields."""
        if not key:
            self.dismiss(None)
            return
        comment = self.query_one("#dlg-comment", Input).value.strip()
        fields = dict(self.pick.picked) if self.pick else {}
        self.dismiss(Choice(self.choices[key][0], comment, fields))

    def on_mount(self) -> None:
        self.query_one("#dlg-table").focus()
        # who made each side stays in view at 80×24 (focusing scrolled down to the table)
        self.call_after_refresh(self.query_one("#dlg-body").scroll_home, animate=False)

    @on(Input.Submitted, "#dlg-comment")
    def _typed(self) -> None:
        self.query_one("#dlg-table").focus()


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


GROUP_COLUMNS = ("name", "gender", "birth_date", "community", "phone", "status")


class PersonGroupDialog(DecisionDialog):
    """Every record sharing one ID number, one row each (name, community, who wrote it): ↑/↓ choose
    the record that stays, S says they are one person (the others are cancelled, merged into it),
    D that they are different persons. One decision for the whole group (issue 16 point 5)."""

    def __init__(self, title: str, records: list[dict[str, Any]], context: list[str]) -> None:
        choices = {"s": ("same", t("same_person")), "d": ("different", t("different_person"))}
        super().__init__(title, {}, {}, choices, "elder", context, "duplicate_person")
        self.records = records
        self.pick = PickState([str(r["id"]) for r in records])

    def table(self) -> Table:
        table = Table(expand=True, box=None, show_edge=False, pad_edge=False)
        table.add_column("", no_wrap=True, width=1)
        for name in GROUP_COLUMNS:  # short values whole, the names and communities share the rest
            head = t("community") if name == "community" else _label("elder", name)
            wide = name in ("name", "community", "phone")
            if wide:
                table.add_column(head, ratio=3 if name == "community" else 2, overflow="fold")
            else:
                table.add_column(head, no_wrap=True)
        table.add_column(t("worker"), ratio=2, overflow="fold")
        cursor = self.pick.cursor if self.pick else 0
        for i, r in enumerate(self.records):
            mark = "▶" if i == cursor else ""
            cells = [
                _shown_value("elder", n, r.get(n)) if n != "community" else str(r.get(n) or "")
                for n in GROUP_COLUMNS
            ]
            table.add_row(
                *row(mark, *cells, str(r["worker"])), style="reverse" if i == cursor else ""
            )
        return table

    def keep(self) -> str:
        return self.records[self.pick.cursor]["id"] if self.pick and self.records else ""

    def compose_table(self) -> ComposeResult:
        yield Label(Text(t("keep_help")), classes="dlg-context")
        table = PickTable(self)
        table.update(self.table())
        yield table

    def choice_text(self, key: str) -> Text:
        from fieldapp.review import describe_choice

        value, _ = self.choices[key]
        keep = _record_name(self.records[self.pick.cursor]) if self.pick and self.records else ""
        zh, en = describe_choice("duplicate_person", value, keep=keep)
        return safe(f"[{key.upper()}]{en if i18n.lang() == 'en' else zh}")

    def action_choose(self, key: str) -> None:
        if not key:
            self.dismiss(None)
            return
        comment = self.query_one("#dlg-comment", Input).value.strip()
        value = self.choices[key][0]
        self.dismiss(Choice(self.keep() if value == "same" else "different", comment))


def _record_name(r: dict[str, Any]) -> str:
    return f"{r.get('name')}（{r.get('community')}）"


def connect(db_path: Path) -> sqlite3.Connection:
    from fieldapp import db

    return db.connect(db_path, create=False)


def apply_decision(
    screen: Screen[Any], db_path: Path, decide: Callable[[sqlite3.Connection, str], object]
) -> None:
    """Run one decision as the supervisor; a refusal of the review (a broken rule, an item decided
    meanwhile) is said in the notification, never raised."""
    from fieldapp.review import ReviewError
    from fieldapp.store import Store
    from fieldapp.tui.screens.devices import who

    conn = connect(db_path)
    try:
        decide(conn, who(Store(conn)))
    except ReviewError as e:
        screen.notify(e.en if i18n.lang() == "en" else e.zh, severity="error", timeout=10)
    else:
        screen.notify(t("decided"))
    finally:
        conn.close()


def open_conflict(screen: Screen[Any], db_path: Path, cid: int, after: Callable[[], None]) -> None:
    """The conflict's dialog; A, B or a field-by-field mix becomes one district version."""
    from fieldapp import review

    conn = connect(db_path)
    try:
        info, a, b = review.conflict_sides(conn, cid)
        context = side_context(conn, (a.version_id, b.version_id))
        context += earlier_decisions(conn, info["record_id"])
    finally:
        conn.close()

    def done(choice: Choice | None) -> None:
        if choice:
            apply_decision(
                screen,
                db_path,
                lambda c, by: review.decide_conflict(
                    c,
                    cid,
                    choose=choice.value,
                    fields=choice.fields or None,
                    by=by,
                    comment=choice.comment or None,
                ),
            )
            after()

    name = a.payload.get("name") or b.payload.get("name") or info["record_id"][-8:]
    title = f"{i18n.kind_label(info['kind'])} {name} · {info['reason']}"
    left = {"deleted": a.deleted, **a.payload}
    right = {"deleted": b.deleted, **b.payload}
    choices = {"a": ("a", t("keep_a")), "b": ("b", t("keep_b"))}
    screen.app.push_screen(DecisionDialog(title, left, right, choices, info["kind"], context), done)


def open_review(
    screen: Screen[Any], db_path: Path, item_id: int, after: Callable[[], None]
) -> None:
    """A review item's dialog: a person group (every record of one ID number) or a meal slot."""
    from fieldapp import review

    conn = connect(db_path)
    try:
        queue = conn.execute("SELECT queue FROM review_items WHERE id = ?", (item_id,)).fetchone()
        if queue is not None and queue[0] == "duplicate_person":
            group = review.person_group(conn, item_id)
            records = review.group_records(conn, group)
            dialog: DecisionDialog = PersonGroupDialog(
                f"{t('duplicates')} · {group.shown_key} · {len(records)}",
                records,
                earlier_decisions(conn, str(records[0]["id"])) if records else [],
            )

            def decide(c: sqlite3.Connection, by: str, v: Choice) -> object:
                keep = None if v.value == "different" else v.value
                return review.decide_person(
                    c, group.group_id, keep, by=by, comment=v.comment or None
                )
        else:
            item, a, b = review.review_sides(conn, item_id)
            key = named_key(conn, str(item["shown_key"]))
            a, b = (_point_named(conn, side) for side in (a, b))
            choices = {"a": (item["record_a"], t("keep_a")), "b": (item["record_b"], t("keep_b"))}
            dialog = DecisionDialog(
                f"{t('meal_collisions')} · {key}", a, b, choices, item["kind"], [], "meal_slot"
            )

            def decide(c: sqlite3.Connection, by: str, v: Choice) -> object:
                return review.decide_meal_slot(
                    c, item_id, v.value, by=by, comment=v.comment or None
                )
    finally:
        conn.close()

    def done(choice: Choice | None) -> None:
        if choice:
            apply_decision(screen, db_path, lambda c, by: decide(c, by, choice))
            after()

    screen.app.push_screen(dialog, done)


def group_rows(conn: sqlite3.Connection) -> list[tuple[str, ...]]:
    """One row per person group for the review list: item ref, masked ID number, the number of
    records, the date the first pair was found, every record as name（community） (last: at 80
    columns only its tail is cut)."""
    from fieldapp import review

    out: list[tuple[str, ...]] = []
    for g in review.person_groups(conn):
        records = review.group_records(conn, g)
        created = conn.execute(
            "SELECT min(created_at) FROM review_items WHERE id IN"
            f" ({', '.join('?' * len(g.items))})",
            g.items,
        ).fetchone()[0]
        out.append(
            (
                f"r{g.group_id}",
                g.shown_key,
                str(len(records)),
                str(created or "")[:10],
                "、".join(_record_name(r) for r in records),
            )
        )
    return out


def _point_named(conn: sqlite3.Connection, side: dict[str, Any]) -> dict[str, Any]:
    """A meal count as the reviewer reads it: its meal point by name, not by its UUID."""
    if side.get("point_id"):
        row = conn.execute("SELECT name FROM meal_point WHERE id = ?", (side["point_id"],))
        found = row.fetchone()
        if found is not None:
            return side | {"point_id": str(found[0])}
    return side


def named_key(conn: sqlite3.Connection, key: str) -> str:
    """A meal slot's key (point|date|meal) in words: the meal point's name instead of its UUID,
    the meal by its label (`lunch` → 午餐)."""
    parts = key.split("|")
    for i, part in enumerate(parts):
        row = conn.execute("SELECT name FROM meal_point WHERE id = ?", (part,)).fetchone()
        if row is not None:
            parts[i] = str(row[0])
    if len(parts) == 3:
        parts[2] = _shown_value("meal_count", "meal", parts[2])
    return " · ".join(parts)
