"""The rule helpers and error messages: how a broken rule names its field in Chinese and English.

Every model module raises through `rule()` and every caller reads `RecordInvalid.problems`, so a
worker sees the same wording whether the form, the store or the bundle reader refused a record.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, ValidationError, ValidationInfo
from pydantic_core import PydanticCustomError

from fieldapp import kinds


def rule(field: str, zh: str, en: str) -> PydanticCustomError:
    """An error of one of our rules, naming the field, in Chinese and English."""
    return PydanticCustomError("fieldapp_rule", "{en}", {"field": field, "zh": zh, "en": en})


SCHEMA_VERSION = 2  # the payload schema new saves write (SPEC §3 v2); 1 stays valid as history


@dataclass(frozen=True)
class ValidationContext:
    """What a rule about "today" compares with: the device passes its local date, the merge the
    day after the bundle's signed `created_at` (SPEC §6 step 3), so a merge never reads the clock."""

    today: date


_CONTEXT: ContextVar[ValidationContext | None] = ContextVar("fieldapp_validation", default=None)


@contextmanager
def validation_context(ctx: ValidationContext | None) -> Iterator[None]:
    """Rules called inside this block take "today" from `ctx` (None: the device's local date)."""
    token = _CONTEXT.set(ctx)
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def today() -> date:
    ctx = _CONTEXT.get()
    return ctx.today if ctx is not None else kinds.today()


def schema_of(info: ValidationInfo) -> int:
    """The payload schema a validation runs under: pydantic's context `payload_schema`, else the
    current one (a form or a save validates the record it is about to write)."""
    ctx = info.context
    if isinstance(ctx, dict):
        return int(ctx.get("payload_schema", SCHEMA_VERSION))
    return SCHEMA_VERSION


@dataclass(frozen=True)
class Problem:
    field: str
    label_zh: str
    label_en: str
    zh: str
    en: str

    def text(self, lang: str = "zh") -> str:
        if lang == "en":
            return f"{self.label_en} ({self.field}): {self.en}"
        return f"{self.label_zh}（{self.field}）：{self.zh}"


class RecordInvalid(ValueError):
    """A record broke one or more rules; each problem names the field and the rule in zh and en."""

    def __init__(self, kind: str, problems: list[Problem]) -> None:
        self.kind, self.problems = kind, problems
        super().__init__(
            "；".join(p.text("zh") for p in problems)
            + " | "
            + "; ".join(p.text("en") for p in problems)
        )


_TRANSLATE: dict[str, tuple[str, str]] = {
    "missing": ("必填", "is required"),
    "none_required": ("必填", "is required"),
    "string_type": ("须为文字", "must be text"),
    "string_too_short": ("不能为空", "must not be empty"),
    "string_too_long": ("不能超过{max_length}个字", "must be at most {max_length} characters"),
    "int_parsing": ("须为整数", "must be a whole number"),
    "int_type": ("须为整数", "must be a whole number"),
    "int_from_float": ("须为整数", "must be a whole number"),
    "float_parsing": ("须为数字", "must be a number"),
    "decimal_parsing": ("须为数字", "must be a number"),
    "decimal_type": ("须为数字", "must be a number"),
    "decimal_max_places": ("最多{decimal_places}位小数", "at most {decimal_places} decimal places"),
    "decimal_max_digits": ("数字位数过多", "too many digits"),
    "greater_than_equal": ("不能小于{ge}", "must be ≥ {ge}"),
    "greater_than": ("须大于{gt}", "must be > {gt}"),
    "less_than_equal": ("不能大于{le}", "must be ≤ {le}"),
    "less_than": ("须小于{lt}", "must be < {lt}"),
    "literal_error": ("须为以下之一：{expected}", "must be one of {expected}"),
    "date_parsing": ("日期格式须为 YYYY-MM-DD", "must be a date YYYY-MM-DD"),
    "date_from_datetime_parsing": ("日期格式须为 YYYY-MM-DD", "must be a date YYYY-MM-DD"),
    "date_from_datetime_inexact": ("须为日期，不含时间", "must be a date without time"),
    "date_type": ("日期格式须为 YYYY-MM-DD", "must be a date YYYY-MM-DD"),
    "bool_parsing": ("须为是或否", "must be true or false"),
    "bool_type": ("须为是或否", "must be true or false"),
    "list_type": ("须为列表", "must be a list"),
    "dict_type": ("须为键值表", "must be a mapping"),
    "model_type": ("须为对象", "must be an object"),
    "model_attributes_type": ("须为对象", "must be an object"),
    "too_short": ("至少{min_length}项", "needs at least {min_length} entries"),
    "too_long": ("最多{max_length}项", "at most {max_length} entries"),
    "extra_forbidden": ("不是此类记录的字段", "is not a field of this record"),
}


def _labels(model: type[BaseModel] | None, name: str) -> tuple[str, str]:
    if model is not None and name in model.model_fields:
        extra = model.model_fields[name].json_schema_extra
        if isinstance(extra, dict):
            return str(extra.get("label_zh", name)), str(extra.get("label_en", name))
    return name, name


def explain(exc: ValidationError, model: type[BaseModel] | None = None) -> list[Problem]:
    """Turn a pydantic ValidationError into problems a worker can read (field label + rule, zh/en)."""
    out: list[Problem] = []
    for err in exc.errors(include_url=False):
        ctx = err.get("ctx") or {}
        loc = [str(p) for p in err["loc"]]
        if err["type"] == "fieldapp_rule":
            field = str(ctx.get("field") or (loc[0] if loc else ""))
            zh, en = str(ctx["zh"]), str(ctx["en"])
        else:
            field = loc[0] if loc else ""
            kind = err["type"]
            if err.get("input", "") is None and (kind.endswith("_type") or kind == "literal_error"):
                kind = "missing"  # a blank in a form arrives as None
            tzh, ten = _TRANSLATE.get(kind, ("不符合要求：{msg}", "{msg}"))
            fmt = {k: v for k, v in ctx.items()} | {"msg": err["msg"]}
            try:
                zh, en = tzh.format(**fmt), ten.format(**fmt)
            except (KeyError, IndexError):
                zh, en = f"不符合要求：{err['msg']}", err["msg"]
        label_zh, label_en = _labels(model, field)
        sub = loc[1:] if loc and loc[0] == field else []
        if sub:
            parts_zh = [f"第{int(p) + 1}项" if p.isdigit() else p for p in sub]
            parts_en = [f"#{int(p) + 1}" if p.isdigit() else p for p in sub]
            label_zh += " " + " ".join(parts_zh)
            label_en += " " + " ".join(parts_en)
        out.append(Problem(field, label_zh, label_en, zh, en))
    return out


def no_duplicates(field: str, values: list[Any]) -> None:
    """A list field names each code, volunteer or item once."""
    seen = set()
    for v in values:
        if v in seen:
            raise rule(field, f"「{v}」重复出现", f"{v!r} appears twice")
        seen.add(v)


def add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def minutes_of(t: str) -> int:
    """Minutes since midnight of an HH:MM already checked by the Time type."""
    h, m = t.split(":")
    return int(h) * 60 + int(m)
