"""The one record form: fields from the model, saving through the store with the model's rules."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic_core import PydanticUndefined
from rich.cells import cell_len
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, SelectionList, Static

from fieldapp import i18n, models, reference
from fieldapp.i18n import t
from fieldapp.models import RecordInvalid
from fieldapp.store import Saved, Store, StoreError
from fieldapp.tui.fields import FieldRow, LinesField
from fieldapp.tui.keys import Translated
from fieldapp.tui.safe import safe

# fields the form leaves out: what the record computes itself, what the store fills in (the
# community, SPEC §3 v2) and the confirmations a dialog asks for; their values ride along unseen
HIDDEN: dict[str, set[str]] = {"assessment": {"total"}}
NEVER_SHOWN = {"community_code", "under_60_confirmed", "over_capacity_confirmed", "merged_into"}
# a refusal the worker may overrule: the field the store names → the question asked
CONFIRMABLE = {"under_60_confirmed": "under_60", "over_capacity_confirmed": "over_capacity"}
LABEL_MAX = 38
_HHMM = re.compile(r"^(\d{1,2})[:：.]?(\d{2})$")


def clock(text: str) -> str:
    """`0900`, `9:00`, `9.00` and `09：00` are all 09:00 (what the model takes)."""
    m = _HHMM.match(text.strip())
    return f"{int(m.group(1)):02d}:{m.group(2)}" if m else text


def from_id_number(value: str) -> dict[str, str]:
    """Birth date and gender a valid ID number says (the record's own rule, `models.from_id`);
    nothing while the number is incomplete or wrong."""
    try:
        born, gender = models.from_id(models.check_id_number(value))
    except ValueError:  # the rule's PydanticCustomError: not a whole, valid number yet
        return {}
    return {"birth_date": born.isoformat(), "gender": gender}


def duration(start: str, end: str) -> str | None:
    """The minutes between two typed times (`0900`, `9:30` …), or None when they do not make one."""
    a, b = _HHMM.match(clock(start)), _HHMM.match(clock(end))
    if a is None or b is None:
        return None
    minutes = (int(b.group(1)) * 60 + int(b.group(2))) - (int(a.group(1)) * 60 + int(a.group(2)))
    return str(minutes) if minutes >= 0 else None


def label_width(labels: Iterable[str]) -> int:
    """The label column of a form: its longest label and a space, at most LABEL_MAX cells (an
    80-column terminal keeps 36 for the controls); a longer label wraps rather than being cut."""
    return min(max((cell_len(label) + 1 for label in labels), default=12), LABEL_MAX)


@dataclass
class FormResult:
    saved: Saved


def preview(kind: str, data: dict[str, Any]) -> str:
    """What the record will compute, shown live as the worker types (same code as the save)."""
    try:
        if kind == "assessment":
            scores = [
                int(data[k])
                for k in (
                    "score_self_care",
                    "score_mobility",
                    "score_mental",
                    "score_perception_social",
                )
            ]
            a = models.Assessment.model_construct(
                score_self_care=scores[0],
                score_mobility=scores[1],
                score_mental=scores[2],
                score_perception_social=scores[3],
                coma=bool(data.get("coma")),
                dementia_dx=bool(data.get("dementia_dx")),
                risk_events_30d=int(data.get("risk_events_30d") or 0),
            )
            level = a.computed_level()
            base = reference.load().level_for_total(a.computed_total())
            note = (
                ""
                if level == base
                else f"（{i18n.code_label('assessment_level', base)} → 调整）"
                if i18n.lang() == "zh"
                else f" (adjusted from {base})"
            )
            return f"{'总分' if i18n.lang() == 'zh' else 'Total'} {a.computed_total()} → {i18n.code_label('assessment_level', level)}{note}"
        if kind == "home_visit" and data.get("start_time") and data.get("end_time"):
            h1, m1 = map(int, str(data["start_time"]).split(":"))
            h2, m2 = map(int, str(data["end_time"]).split(":"))
            return f"{'时长' if i18n.lang() == 'zh' else 'Duration'} {(h2 * 60 + m2) - (h1 * 60 + m1)} min"
        if kind == "retrofit":
            total = sum(
                (
                    Decimal(str(i["qty"])) * Decimal(str(i["unit_price"]))
                    for i in data.get("items") or []
                ),
                Decimal(0),
            )
            sub = Decimal(str(data.get("subsidy") or 0)) + Decimal(str(data.get("self_paid") or 0))
            return f"{'项目合计' if i18n.lang() == 'zh' else 'Items'} {total:.2f} · {'补贴+自付' if i18n.lang() == 'zh' else 'subsidy + self-paid'} {sub:.2f}"
        if kind == "volunteer_event":
            coef = Decimal(str(reference.load().coefficient(data.get("category") or "other")))
            parts = data.get("participants") or []
            hours = sum((Decimal(str(p["hours"])) for p in parts), Decimal(0))
            return f"{len(parts)} {t('volunteer')} · {hours} h · {t('points')} {hours * coef:.1f}"
        if kind == "meal_count":
            servings = sum(int(data.get(k) or 0) for k in ("dine_in", "delivery", "pickup"))
            return f"{'合计' if i18n.lang() == 'zh' else 'Total'} {servings}"
    except (ValueError, KeyError, TypeError, ArithmeticError):
        return ""
    return ""


class RecordForm(Translated, ModalScreen[FormResult | None]):
    """Add or edit one record. A refused save keeps everything typed and marks each wrong field."""

    BINDINGS = [
        Binding("ctrl+s", "save", "save", priority=True),
        Binding("escape", "cancel", "cancel"),
    ]
    CSS_PATH = "forms.tcss"

    def __init__(
        self,
        store: Store,
        kind: str,
        *,
        record_id: str | None = None,
        initial: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.store, self.kind, self.record_id = store, kind, record_id
        self.model = models.MODELS[kind]
        self.base_version_id: str | None = None
        self.initial = dict(initial or {})
        if record_id is not None:
            cur = store.get(kind, record_id)
            self.base_version_id = cur.version_id
            self.initial = cur.record.payload() | self.initial
        self.context = dict(context or {})
        self.context.setdefault("communities", store.communities())
        self.context.setdefault("service_type", self.initial.get("service_type"))
        if kind == "meal_count" and "point_options" not in self.context:
            self.context["point_options"] = [
                (p["name"], p["id"])
                for p in store.page("meal_point", order_by=["name"], limit=1000)
            ]
        if kind == "volunteer_event" and "volunteer_options" not in self.context:
            self.context["volunteer_options"] = [
                (v["name"], v["id"]) for v in store.page("volunteer", order_by=["name"], limit=1000)
            ]
        self.rows: dict[str, FieldRow] = {}
        # what the form filled in itself (from the ID number, from the times): refilled when the
        # source changes, unless the worker has typed over it
        self.filled: dict[str, Any] = {}

    def compose(self) -> ComposeResult:
        verb = t("edit") if self.record_id else t("new")
        with Vertical():
            yield Label(f"{verb} · {i18n.kind_label(self.kind)}", id="form-title")
            with VerticalScroll(id="form-fields"):
                names = [
                    n
                    for n in self.model.model_fields
                    if n not in HIDDEN.get(self.kind, set()) and n not in NEVER_SHOWN
                ]
                rows = [FieldRow(self.model, n, self.context) for n in names]
                width = label_width(r.label_text() for r in rows)
                for name, row in zip(names, rows, strict=True):
                    row.label_width = width
                    self.rows[name] = row
                    yield row
            yield Static("", id="form-preview")
            yield Static("", id="form-summary")
            with Horizontal(id="form-buttons"):
                yield Button(f"{t('save')} (Ctrl+S)", id="save", variant="primary", compact=True)
                yield Button(f"{t('cancel')} (Esc)", id="cancel", compact=True)

    def on_mount(self) -> None:
        for name, row in self.rows.items():
            if name in self.initial:
                row.set_value(self.initial[name])
        if "service_items" in self.rows and "service_items" not in self.initial:
            self.rows["service_items"].set_service_type(self.context.get("service_type"), [])
        self._refresh_preview()
        self.opened = self.data()
        first = next((r.control for r in self.rows.values() if r.control.can_focus), None)
        if first is not None:
            first.focus()

    def data(self) -> dict[str, Any]:
        """What the worker has typed, as the model takes it (blanks are None, the model decides)."""
        out: dict[str, Any] = {
            k: v
            for k, v in self.initial.items()
            if k in NEVER_SHOWN and k in self.model.model_fields
        }
        for name, row in self.rows.items():
            value = row.get_value()
            if name in ("start_time", "end_time") and isinstance(value, str):
                value = clock(value)
            default = self.model.model_fields[name].default
            if value in (None, "") and default not in (None, PydanticUndefined):
                continue  # left blank: the model's default (status active, amounts 0 …)
            out[name] = value
        return out

    def _refresh_preview(self) -> None:
        self.query_one("#form-preview", Static).update(preview(self.kind, self.data()))

    @on(Select.Changed, "#ctl-service_type")
    def _service_type(self, event: Select.Changed) -> None:
        """A visit's service items depend on its service type: offer that type's items only."""
        if "service_items" in self.rows:
            value = None if event.select.is_blank() else str(event.value)
            self.context["service_type"] = value
            self.rows["service_items"].set_service_type(value, [])

    def _fill(self, name: str, value: Any) -> None:
        """Fill a field the form can work out, unless the worker typed something else into it."""
        row = self.rows.get(name)
        if row is None:
            return
        current = row.get_value()
        if current in (None, "") or (name in self.filled and current == self.filled[name]):
            row.set_value(value)
            self.filled[name] = row.get_value()

    @on(Input.Changed, "#ctl-id_number")
    def _id_number(self, event: Input.Changed) -> None:
        """Gender and birth date come from the ID number, when the worker has not typed them."""
        for name, value in from_id_number(event.value).items():
            self._fill(name, value)

    @on(Input.Changed, "#ctl-start_time, #ctl-end_time")
    def _times(self) -> None:
        """A visit's duration follows its start and end times as they are typed."""
        if self.kind != "home_visit" or not {"start_time", "end_time"} <= set(self.rows):
            return
        minutes = duration(
            str(self.rows["start_time"].get_value() or ""),
            str(self.rows["end_time"].get_value() or ""),
        )
        self._fill("duration_min", minutes if minutes is not None else "")

    @on(Input.Changed)
    @on(Select.Changed)
    @on(SelectionList.SelectedChanged)
    @on(Checkbox.Changed)
    @on(LinesField.Changed)
    def _changed(self) -> None:
        self._refresh_preview()

    @on(Button.Pressed, "#save")
    def _save_button(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#cancel")
    def _cancel_button(self) -> None:
        self.action_cancel()

    def action_cancel(self) -> None:
        """Esc on a form with typing in it asks first: a half-filled visit is work."""
        if self.data() == self.opened:
            self.dismiss(None)
            return
        from fieldapp.tui.screens.common import ConfirmDialog

        def done(yes: bool | None) -> None:
            if yes:
                self.dismiss(None)

        self.app.push_screen(ConfirmDialog(t("discard_unsaved")), done)

    def action_save(self, confirmed: frozenset[str] = frozenset()) -> None:
        for row in self.rows.values():
            row.clear_error()
        summary = self.query_one("#form-summary", Static)
        data = self.data() | dict.fromkeys(confirmed, True)
        try:
            if self.record_id is None:
                saved = self.store.create(self.kind, data)
            else:
                saved = self.store.update(
                    self.kind, self.record_id, data, base_version_id=self.base_version_id
                )
        except RecordInvalid as e:
            self._show_problems(e)
            first = next((self.rows[p.field] for p in e.problems if p.field in self.rows), None)
            if first is not None:
                first.scroll_visible()
                if first.control.can_focus:
                    first.control.focus()
            return
        except StoreError as e:
            if e.field in CONFIRMABLE and e.field not in confirmed:
                self._confirm(e.field, confirmed, e)
                return
            text = e.en if i18n.lang() == "en" else e.zh
            if e.field and e.field in self.rows:
                self.rows[e.field].show_error(text)
            summary.update(safe(t("not_saved") + "\n" + text, lines=True))
            return
        self.dismiss(FormResult(saved))

    def _show_problems(self, e: RecordInvalid) -> None:
        """Every problem at once: under its field, and all of them in the summary (a field the form
        does not show is named there only)."""
        shown: dict[str, list[str]] = {}
        for p in e.problems:
            shown.setdefault(p.field, []).append(i18n.problem_text(p))
        for field, texts in shown.items():
            if field in self.rows:
                self.rows[field].show_error("；".join(texts))
        sep = "; " if i18n.lang() == "en" else "；"
        colon = ": " if i18n.lang() == "en" else "："
        lines = sep.join(p.text(i18n.lang()) for p in e.problems)
        self.query_one("#form-summary", Static).update(t("not_saved") + colon + lines)

    def _confirm(self, field: str, confirmed: frozenset[str], e: StoreError) -> None:
        """The store refused what a worker may confirm (under 60, above capacity): ask, and save
        again with the confirmation set."""
        from fieldapp.tui.screens.common import ConfirmDialog

        what = i18n.kind_label(self.kind)
        question = t(CONFIRMABLE[field], what=what) + "\n" + (e.en if i18n.lang() == "en" else e.zh)

        def done(yes: bool | None) -> None:
            if yes:
                self.action_save(confirmed | {field})

        self.app.push_screen(ConfirmDialog(question), done)
