"""助餐: a day's meal counts as a grid (rows = meal point × meal), Tab moving cell by cell like a spreadsheet."""

from __future__ import annotations

from datetime import date
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Footer, Header, Input, Label, Static

from fieldapp import i18n, kinds, reference
from fieldapp.i18n import t
from fieldapp.store import StoreError
from fieldapp.tui.safe import safe
from fieldapp.tui.screens.common import AppScreen, ConfirmDialog, ScreenBar

CELLS = ("dine_in", "delivery", "pickup")


class GridScroll(VerticalScroll, can_focus=False):
    """The grid's rows: never focused itself, so Tab walks the cells and a digit stays a count
    (a focused container would pass digits on to the app's screen keys)."""


class MealGridScreen(AppScreen):
    BINDINGS = [
        Binding("ctrl+s", "save", "save", priority=True),
        Binding("p", "points", "meal_point"),
        Binding("ctrl+r", "reload", "reload"),
    ]
    CSS_PATH = "meals.tcss"

    def __init__(self) -> None:
        super().__init__()
        self.day = kinds.today()
        self.slots: list[dict[str, Any]] = []
        self.gen = 0  # widget ids carry the generation: removal of the old grid finishes later

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="meal-date-row"):
            yield Label(t("meal_grid"))
            yield Input(
                self.day.isoformat(),
                id="meal-date",
                placeholder="YYYY-MM-DD",
                restrict=r"[0-9-]*",
                max_length=10,
                compact=True,
            )
        yield Static(t("grid_help"), id="grid-help")
        yield GridScroll(id="meal-grid")
        yield ScreenBar()
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.call_after_refresh(self.reload)

    def on_screen_resume(self) -> None:
        if not self.has_unsaved():
            self.reload()

    def has_unsaved(self) -> bool:
        """A row whose cells differ from what is saved (the app asks before leaving)."""
        for i, slot in enumerate(self.slots):
            rec = slot["record"]
            values = self._values(i)
            if rec is None and any(values):
                return True
            if rec is not None and any(
                (v or "0") != str(rec[c]) for c, v in zip(CELLS, values, strict=True)
            ):
                return True
        return False

    def discard(self) -> None:
        self.reload()

    def action_reload(self) -> None:
        self.reload()

    @on(Input.Submitted, "#meal-date")
    def _date(self, event: Input.Submitted) -> None:
        try:
            day = date.fromisoformat(event.value.strip())
        except ValueError:
            self.notify(t("bad_day", v=event.value), title=t("date"), severity="error")
            return
        if self.has_unsaved():

            def done(yes: bool | None) -> None:
                if yes:
                    self.day = day
                    self.reload()

            self.app.push_screen(ConfirmDialog(t("discard_unsaved")), done)
            return
        self.day = day
        self.reload()

    def reload(self) -> None:
        store = self.fapp.store
        points = [
            p
            for p in store.page("meal_point", order_by=["name"], limit=1000)
            if p["status"] == "open"
        ]
        existing = {
            (r["point_id"], r["meal"]): r
            for r in store.page(
                "meal_count", where={"service_date": self.day.isoformat()}, limit=1000
            )
        }
        grid = self.query_one("#meal-grid", GridScroll)
        grid.remove_children()
        self.slots = []
        self.gen += 1
        g = self.gen
        if not points:
            add = Button(f"{t('add')}{t('meal_point')} (p)", id=f"mc{g}-add-point", compact=True)
            grid.mount_all([Static(t("no_points")), add])
            add.focus()
            return
        labels = [Label("", classes="slot")] + [
            Label(i18n.code_label("meal_mode", c), classes="cell") for c in CELLS
        ]
        labels += [Label(t("subsidized_total"), classes="sub"), Label("", classes="row-status")]
        rows: list[Horizontal] = [Horizontal(*labels, classes="grid-head")]
        for p in points:
            for meal in reference.load().codes("meal"):
                i = len(self.slots)
                rec = existing.get((p["id"], meal))
                self.slots.append(
                    {"point_id": p["id"], "meal": meal, "record": rec, "name": p["name"]}
                )
                cells = [
                    Input(
                        "" if rec is None else str(rec[c]),
                        id=f"mc{g}-{i}-{c}",
                        classes="cell",
                        type="integer",
                        placeholder="·",
                        compact=True,
                    )
                    for c in CELLS
                ]
                row = Horizontal(
                    Label(
                        safe(f"{i18n.code_label('meal', meal)} {p['name']}"),
                        classes="slot",
                        shrink=True,
                    ),
                    *cells,
                    Static("" if rec is None else str(rec["subsidized_total"]), classes="sub"),
                    Static("✓" if rec else "", classes="row-status", id=f"mc{g}-{i}-status"),
                    classes="grid-row",
                    id=f"mc{g}-row-{i}",
                )
                rows.append(row)
        grid.mount_all(rows)
        self.call_after_refresh(self._focus_first_cell)

    def _focus_first_cell(self) -> None:
        for cell in self.query(f"#mc{self.gen}-0-{CELLS[0]}").results(Input):
            cell.focus()

    @on(Button.Pressed)
    def _add_point(self, event: Button.Pressed) -> None:
        if event.button.id and event.button.id.endswith("add-point"):
            self.action_points()

    def _values(self, i: int) -> list[str]:
        return [self.query_one(f"#mc{self.gen}-{i}-{c}", Input).value.strip() for c in CELLS]

    def _day_ready(self) -> bool:
        """The counts go to the day on screen only: a date box that is not that day refuses."""
        box = self.query_one("#meal-date", Input).value.strip()
        try:
            typed = date.fromisoformat(box)
        except ValueError:
            self.notify(t("bad_day", v=box), title=t("date"), severity="error")
            return False
        if typed != self.day:
            self.notify(t("day_not_loaded", v=box), title=t("date"), severity="error")
            return False
        return True

    def action_save(self) -> None:
        if not self._day_ready():
            return
        over = self._save_rows(confirmed=set())
        if over:
            names = "、".join(
                f"{self.slots[i]['name']}{i18n.code_label('meal', self.slots[i]['meal'])}"
                for i in over
            )

            def done(yes: bool | None) -> None:
                if yes:
                    self._save_rows(confirmed=set(over))

            self.app.push_screen(ConfirmDialog(t("over_capacity", what=names)), done)

    def _save_rows(self, *, confirmed: set[int]) -> list[int]:
        """Save every changed row; the rows above the point's capacity (not yet confirmed) are
        returned for one confirmation."""
        from fieldapp.models import RecordInvalid

        store = self.fapp.store
        saved = errors = 0
        over: list[int] = []
        for i, slot in enumerate(self.slots):
            if confirmed and i not in confirmed:
                continue
            values = self._values(i)
            rec = slot["record"]
            row = self.query_one(f"#mc{self.gen}-row-{i}", Horizontal)
            status = self.query_one(f"#mc{self.gen}-{i}-status", Static)
            if rec is None and not any(values):
                continue
            counts: dict[str, Any] = {c: (v or "0") for c, v in zip(CELLS, values, strict=True)}
            if i in confirmed:
                counts["over_capacity_confirmed"] = True
            try:
                if rec is None:
                    data = {
                        "point_id": slot["point_id"],
                        "service_date": self.day.isoformat(),
                        "meal": slot["meal"],
                        **counts,
                    }
                    result = store.create("meal_count", data)
                else:
                    if i not in confirmed and all(str(rec[c]) == counts[c] for c in CELLS):
                        continue
                    cur = store.get("meal_count", rec["id"])
                    result = store.update(
                        "meal_count",
                        rec["id"],
                        cur.record.payload() | counts,
                        base_version_id=cur.version_id,
                    )
                slot["record"] = store.page("meal_count", where={"id": result.record_id}, limit=1)[
                    0
                ]
                row.remove_class("-invalid")
                status.update("✓ " + t("saved"))
                saved += 1
            except RecordInvalid as e:
                row.add_class("-invalid")
                status.update(safe("；".join(p.text(i18n.lang()) for p in e.problems)))
                errors += 1
            except StoreError as e:
                if e.field == "over_capacity_confirmed" and i not in confirmed:
                    over.append(i)
                    continue
                row.add_class("-invalid")
                status.update(safe(e.en if i18n.lang() == "en" else e.zh))
                errors += 1
        if errors:
            self.notify(t("not_saved"), severity="error")
        elif saved:
            self.notify(f"{t('saved')}：{saved}")
        return over

    @on(Input.Submitted, ".cell")
    def _details(self, event: Input.Submitted) -> None:
        """Enter on a cell: the full form for that count (subsidy categories, notes)."""
        assert event.input.id is not None
        i = int(event.input.id.split("-")[1])
        slot = self.slots[i]
        values = dict(zip(CELLS, self._values(i), strict=True))
        if slot["record"] is not None:
            self.fapp.edit_record(
                "meal_count", slot["record"]["id"], initial={k: v for k, v in values.items() if v}
            )
        else:
            initial = {
                "point_id": slot["point_id"],
                "service_date": self.day.isoformat(),
                "meal": slot["meal"],
                **{k: v for k, v in values.items() if v},
            }
            self.fapp.new_record("meal_count", initial=initial)

    def action_points(self) -> None:
        self.fapp.goto("meal_point")
