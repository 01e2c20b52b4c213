"""Form fields built from the models' metadata: one mechanism for every record kind.

A field's label comes from the model (zh/en), its widget from its type or `widget` metadata,
its choices from the seed catalogues. Each FieldRow can give its raw value, take a value and
show an error under itself.
"""

from __future__ import annotations

import types
import typing
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Checkbox, DataTable, Input, Label, Select, SelectionList, Static

from fieldapp import i18n, models, reference
from fieldapp.i18n import t
from fieldapp.text import clean
from fieldapp.tui.keys import Translated
from fieldapp.tui.safe import row, safe


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(inner type, optional?) of `X | None`, through Annotated."""
    optional = False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        annotation = args[0] if len(args) == 1 else annotation
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation, optional


def _literal_codes(annotation: Any) -> tuple[str, ...] | None:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) is Literal:
        return tuple(typing.get_args(annotation))
    return None


def _display(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, list):
        return ", ".join(str(x) for x in v)
    return str(v)


class FieldRow(Vertical):
    """Label, control and the error line of one model field."""

    DEFAULT_CSS = """
    FieldRow { height: auto; }
    FieldRow > .field-line { height: auto; }
    FieldRow .field-label { width: 24; color: $text-muted; }
    FieldRow > .field-error { color: $error; height: auto; display: none; }
    FieldRow.-invalid > .field-error { display: block; }
    FieldRow.-invalid .field-label { color: $error; text-style: bold; }
    FieldRow SelectionList { height: auto; max-height: 8; width: 1fr; }
    FieldRow Input, FieldRow Select { width: 1fr; }
    FieldRow Input { background: $boost; }
    FieldRow .-textual-compact { margin-bottom: 0; }
    FieldRow Checkbox.-textual-compact:focus { border: none; }  /* one line, focused or not */
    """

    def __init__(
        self,
        model: type[models.Record],
        name: str,
        context: dict[str, Any],
        *,
        label_width: int = 24,
    ) -> None:
        super().__init__(id=f"field-{name}", classes="field-row")
        self.model = model
        self.field_name = name
        self.label_width = label_width  # the form's longest label: no label wraps or is cut
        self.info = model.model_fields[name]
        extra = self.info.json_schema_extra
        self.extra: dict[str, Any] = dict(extra) if isinstance(extra, dict) else {}
        self.annotation, self.optional = _unwrap(self.info.annotation)
        self.context = context
        self.control: Widget = self._make_control()

    # ------------------------------------------------------------ building

    def _options(self, catalogue: str, codes: tuple[str, ...]) -> list[tuple[str, str]]:
        return [(i18n.code_label(catalogue, c), c) for c in codes]

    def _make_control(self) -> Widget:
        control = self._build_control()
        if isinstance(control, Input | Select | SelectionList):
            control.compact = True  # one line a field: a form fits an 80×24 terminal
        return control

    def _build_control(self) -> Widget:
        """The control a `widget` metadata names, else the one the field's type calls for."""
        return self._widget_control() or self._typed_control()

    def _widget_control(self) -> Widget | None:
        widget, cid = self.extra.get("widget"), f"ctl-{self.field_name}"
        if widget == "community":
            opts = [
                (f"{c['name_zh'] if i18n.lang() == 'zh' else c['name_en']} {c['code']}", c["code"])
                for c in self.context.get("communities", [])
            ]
            return Select(opts, id=cid, allow_blank=True, prompt=t("community"), compact=True)
        if widget == "elder":  # chosen before the form opens (due list, elder page, elder picker)
            return Static(safe(self.context.get("elder_name", "")), id=cid, classes="elder-ref")
        if widget == "meal_point":
            return Select(
                [(safe(name), v) for name, v in self.context.get("point_options", [])],
                id=cid,
                allow_blank=True,
                prompt=i18n.kind_label("meal_point"),
            )
        if widget == "retrofit_items":
            return RetrofitItemsField(id=cid)
        if widget == "participants":
            return ParticipantsField(self.context.get("volunteer_options", []), id=cid)
        if widget == "computed":
            return Static("", id=cid, classes="computed")
        return None

    def _typed_control(self) -> Widget:
        name, ann, cid = self.field_name, self.annotation, f"ctl-{self.field_name}"
        catalogue = self.extra.get("catalogue")
        if catalogue == "service_items":
            return SelectionList[str](id=cid, compact=True)
        if typing.get_origin(ann) is list:
            (inner,) = typing.get_args(ann)
            codes = _literal_codes(inner)
            if codes is not None and catalogue:
                return SelectionList[str](
                    *[(label, code) for label, code in self._options(catalogue, codes)], id=cid
                )
            return Input(
                id=cid, placeholder="，".join(["张三", "李四"]) if name == "assessors" else ""
            )
        if typing.get_origin(ann) is dict:
            return SubsidyField(id=cid)
        codes = _literal_codes(ann)
        if codes is not None:
            return Select(
                self._options(catalogue or name, codes),
                id=cid,
                allow_blank=self.optional
                or self.info.default is not None
                or name in ("gender", "level"),
                prompt=t("auto") if name == "level" else "—",
            )
        if ann is bool:  # its label stands in the label column, like every other field's
            return Checkbox("是" if i18n.lang() == "zh" else "yes", id=cid, compact=True)
        return Input(id=cid, placeholder=self._placeholder(), compact=True)

    def _placeholder(self) -> str:
        """The format to type, or the default a blank number takes; a required number shows
        nothing, never a `0` that looks typed and is then refused as missing."""
        if self.field_name.endswith("_time"):
            return "HH:MM"
        if self.annotation is date:
            return "YYYY-MM-DD"
        if self.annotation in (int, Decimal):
            default = self.info.default
            return "" if default is None or self.info.is_required() else str(default)
        return ""

    def label_text(self) -> str:
        """The field's label in the current language, `*` when it must be filled in."""
        required = self.info.is_required() and not self.optional
        return i18n.field_label(self.model, self.field_name) + (" *" if required else "")

    def compose(self) -> ComposeResult:
        label = Label(self.label_text(), classes="field-label")
        label.styles.width = self.label_width
        error = Static("", classes="field-error")
        error.styles.padding = (0, 0, 0, self.label_width)
        with Horizontal(classes="field-line"):
            yield label
            yield self.control
        yield error

    # ------------------------------------------------------------ values

    def get_value(self) -> Any:
        c = self.control
        if self.extra.get("widget") == "elder":
            return self.context.get("elder_id")
        if isinstance(c, RetrofitItemsField | ParticipantsField | SubsidyField):
            return c.get_value()
        if isinstance(c, Select):
            return None if c.is_blank() else c.value
        if isinstance(c, SelectionList):
            return list(c.selected)
        if isinstance(c, Checkbox):
            return c.value
        if isinstance(c, Static):
            return None  # computed on save
        assert isinstance(c, Input)
        if typing.get_origin(self.annotation) is list:
            return [p.strip() for p in c.value.replace("，", ",").split(",") if p.strip()]
        return c.value.strip()

    def set_value(self, value: Any) -> None:
        c = self.control
        if self.extra.get("widget") == "elder":
            self.context["elder_id"] = value
            return
        if isinstance(c, RetrofitItemsField | ParticipantsField | SubsidyField):
            c.set_value(value)
        elif isinstance(c, Select):
            if value is None:
                c.clear()
            else:
                try:
                    c.value = value
                except Exception:  # a code no longer offered (e.g. an elder not in the list)
                    c.clear()
        elif isinstance(c, SelectionList):
            if self.extra.get("catalogue") == "service_items":
                self.set_service_type(self.context.get("service_type"), value or [])
            else:
                c.deselect_all()
                for v in value or []:
                    c.select(v)
        elif isinstance(c, Checkbox):
            c.value = bool(value)
        elif isinstance(c, Static):
            c.update(safe(_display(value)))
        else:
            assert isinstance(c, Input)
            shown = _display(value) if not isinstance(value, list) else "，".join(map(str, value))
            c.value = clean(shown)  # an escape never reaches the terminal (issue 13 point 6)

    def set_service_type(self, service_type: str | None, keep: list[str] | None = None) -> None:
        """Service items depend on the service type: offer that type's items only."""
        c = self.control
        assert isinstance(c, SelectionList)
        selected = set(keep if keep is not None else c.selected)
        c.clear_options()
        if service_type:
            entry = reference.load().entry("service_type", service_type)
            items: list[dict[str, str]] = list(entry.extra.get("items", [])) if entry else []
            for item in items:
                label = item["en"] if i18n.lang() == "en" else item["zh"]
                c.add_option((label, item["code"], item["code"] in selected))

    def show_error(self, text: str) -> None:
        self.add_class("-invalid")
        self.query_one(".field-error", Static).update(safe(text, lines=True))

    def clear_error(self) -> None:
        self.remove_class("-invalid")
        self.query_one(".field-error", Static).update("")


class SubsidyField(Vertical):
    """Subsidized servings per category (meal_subsidy catalogue), one small input each."""

    DEFAULT_CSS = """
    SubsidyField { height: auto; }
    SubsidyField Horizontal { height: auto; }
    SubsidyField Label { width: 14; }
    SubsidyField Input { width: 12; }
    """

    def compose(self) -> ComposeResult:
        for code in reference.load().codes("meal_subsidy"):
            with Horizontal():
                yield Label(i18n.code_label("meal_subsidy", code))
                yield Input(id=f"sub-{code}", placeholder="0")

    def on_mount(self) -> None:
        for w in self.query(Input):
            w.compact = True

    def get_value(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for code in reference.load().codes("meal_subsidy"):
            raw = self.query_one(f"#sub-{code}", Input).value.strip()
            if raw:
                out[code] = raw
        return out

    def set_value(self, value: dict[str, Any] | None) -> None:
        for code in reference.load().codes("meal_subsidy"):
            self.query_one(f"#sub-{code}", Input).value = str((value or {}).get(code, "") or "")


class LinesField(Translated, Vertical):
    """A picker + inputs + Add button over a small table of lines; Delete removes the selected line."""

    class Changed(Message):
        """A line was added or removed (the form refreshes its live preview)."""

        def __init__(self, field: LinesField) -> None:
            super().__init__()
            self.field = field

        @property
        def control(self) -> LinesField:
            return self.field

    DEFAULT_CSS = """
    LinesField { height: auto; }
    LinesField Horizontal { height: auto; }
    LinesField Select { width: 1fr; }
    LinesField Input { width: 12; }
    LinesField DataTable { height: auto; max-height: 8; }
    """
    BINDINGS = [Binding("delete", "remove_line", "remove")]

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.lines: list[dict[str, Any]] = []

    def on_mount(self) -> None:
        for w in [*self.query(Input), *self.query(Select)]:
            w.compact = True

    def _table(self) -> DataTable[Any]:
        return self.query_one(DataTable)

    def get_value(self) -> list[dict[str, Any]]:
        return [dict(line) for line in self.lines]

    def set_value(self, value: list[dict[str, Any]] | None) -> None:
        self.lines = [dict(v) for v in (value or [])]
        self._redraw()

    def _redraw(self) -> None:
        raise NotImplementedError

    def action_remove_line(self) -> None:
        table = self._table()
        if self.lines and table.cursor_row is not None and 0 <= table.cursor_row < len(self.lines):
            del self.lines[table.cursor_row]
            self._redraw()
            self.post_message(self.Changed(self))


class RetrofitItemsField(LinesField):
    """Items picked from the 30-item catalogue, with quantity and unit price."""

    def compose(self) -> ComposeResult:
        ref = reference.load()
        opts = [
            (
                f"{e.code} {e.label(i18n.lang())}（{'基础' if e.extra['category'] == 'basic' else '可选'}）",
                e.code,
            )
            for e in ref.retrofit_items
        ]
        with Horizontal():
            yield Select(opts, id="item-code", prompt=t("add"), type_to_search=True)
            yield Input(id="item-qty", placeholder=t("qty"))
            yield Input(id="item-price", placeholder=t("unit_price"))
            yield Button(t("add"), id="item-add", compact=True)
        yield DataTable(id="item-lines", cursor_type="row")

    def on_mount(self) -> None:
        super().on_mount()
        self._table().add_columns("代码", t("retrofit"), t("qty"), t("unit_price"), "小计")
        self._redraw()

    def _redraw(self) -> None:
        table = self._table()
        table.clear()
        ref = reference.load()
        for line in self.lines:
            try:
                sub = f"{Decimal(str(line['qty'])) * Decimal(str(line['unit_price'])):.2f}"
            except Exception:
                sub = "?"
            table.add_row(
                line["code"],
                ref.label("retrofit_item", line["code"], i18n.lang()),
                str(line["qty"]),
                str(line["unit_price"]),
                sub,
            )

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "item-add":
            event.stop()
            self.add_line()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id in ("item-qty", "item-price"):
            event.stop()
            self.add_line()

    def add_line(self) -> None:
        code = self.query_one("#item-code", Select)
        qty = self.query_one("#item-qty", Input)
        price = self.query_one("#item-price", Input)
        if code.is_blank():
            self.app.bell()
            return
        self.lines.append(
            {
                "code": code.value,
                "qty": qty.value.strip() or "1",
                "unit_price": price.value.strip() or "0",
            }
        )
        qty.value = price.value = ""
        code.clear()
        self._redraw()
        self.post_message(self.Changed(self))


class ParticipantsField(LinesField):
    """Volunteers picked from the list with hours in 0.5 steps; points are computed, never typed."""

    def __init__(self, volunteer_options: list[tuple[str, str]], **kw: Any) -> None:
        super().__init__(**kw)
        self.volunteer_options = volunteer_options
        self.names = {v: k for k, v in volunteer_options}

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Select(
                [(safe(name), v) for name, v in self.volunteer_options],
                id="part-volunteer",
                prompt=t("volunteer"),
                type_to_search=True,
            )
            yield Input(id="part-hours", placeholder=t("hours"))
            yield Button(t("add"), id="part-add", compact=True)
        yield DataTable(id="part-lines", cursor_type="row")

    def on_mount(self) -> None:
        super().on_mount()
        self._table().add_columns(t("volunteer"), t("hours"))
        self._redraw()

    def _redraw(self) -> None:
        table = self._table()
        table.clear()
        for line in self.lines:
            table.add_row(
                *row(self.names.get(line["volunteer_id"], line["volunteer_id"][:8]), line["hours"])
            )

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "part-add":
            event.stop()
            self.add_line()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "part-hours":
            event.stop()
            self.add_line()

    def add_line(self) -> None:
        who = self.query_one("#part-volunteer", Select)
        hours = self.query_one("#part-hours", Input)
        if who.is_blank():
            self.app.bell()
            return
        self.lines = [line for line in self.lines if line["volunteer_id"] != who.value]
        self.lines.append({"volunteer_id": who.value, "hours": hours.value.strip() or "0"})
        hours.value = ""
        who.clear()
        self._redraw()
        self.post_message(self.Changed(self))
