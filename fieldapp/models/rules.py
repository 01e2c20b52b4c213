"""The rule helpers and error messages: how a broken rule names its field in Chinese and English.

Every model module raises through `rule()` and every caller reads `RecordInvalid.problems`, so a
worker sees the same wording whether the form, the store or the bundle reader refused a record.
"""

from __future__ import annotations

import calendar
import functools
import re
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, ValidationError, ValidationInfo, create_model
from pydantic_core import ErrorDetails, PydanticCustomError

from fieldapp import kinds, reference

M = typing.TypeVar("M", bound=BaseModel)


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
        """What a worker reads: the field's label and the rule, never the internal field name."""
        if lang == "en":
            return f"{self.label_en}: {self.en}"
        return f"{self.label_zh}：{self.zh}"

    def debug(self, lang: str = "zh") -> str:
        """What a developer reads (an exception's text, a log): the label and the field's code."""
        if lang == "en":
            return f"{self.label_en} ({self.field}): {self.en}"
        return f"{self.label_zh}（{self.field}）：{self.zh}"


class RecordInvalid(ValueError):
    """A record broke one or more rules; each problem names the field and the rule in zh and en.

    `problems` is what screens show (`Problem.text`); the exception's own text carries the field
    codes as well, for the developer reading a traceback or a log."""

    def __init__(self, kind: str, problems: list[Problem]) -> None:
        self.kind, self.problems = kind, problems
        super().__init__(
            "；".join(p.debug("zh") for p in problems)
            + " | "
            + "; ".join(p.debug("en") for p in problems)
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


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds, through `list[...]` and `X | None` (a retrofit's items)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _sub_labels(model: type[BaseModel] | None, field: str, sub: list[str]) -> tuple[str, str]:
    """` 第2项 数量` / ` #2 Quantity` for an error inside a list of lines, in the words of the form."""
    inner = (
        _inner_model(model.model_fields[field].annotation)
        if model and field in model.model_fields
        else None
    )
    zh: list[str] = []
    en: list[str] = []
    for part in sub:
        if part.isdigit():
            zh.append(f"第{int(part) + 1}项")
            en.append(f"#{int(part) + 1}")
        else:
            lz, le = _labels(inner, part)
            zh.append(lz)
            en.append(le)
    return "".join(" " + p for p in zh), "".join(" " + p for p in en)


def _translate(err: ErrorDetails) -> tuple[str, str]:
    """Pydantic's own error, in the words of `_TRANSLATE` (zh, en)."""
    ctx = err.get("ctx") or {}
    kind = err["type"]
    if err.get("input", "") is None and (kind.endswith("_type") or kind == "literal_error"):
        kind = "missing"  # a blank in a form arrives as None
    tzh, ten = _TRANSLATE.get(kind, ("不符合要求：{msg}", "{msg}"))
    fmt = dict(ctx) | {"msg": err["msg"]}
    try:
        return tzh.format(**fmt), ten.format(**fmt)
    except (KeyError, IndexError):
        return f"不符合要求：{err['msg']}", err["msg"]


def _broken_rules(err: ErrorDetails) -> list[tuple[str, str, str]]:
    """(field, zh, en) of each rule one error carries: one, or several from `Broken.report`."""
    ctx = err.get("ctx") or {}
    loc = [str(p) for p in err["loc"]]
    if err["type"] == "fieldapp_rules":
        return [(str(r["field"]), str(r["zh"]), str(r["en"])) for r in ctx["problems"]]
    if err["type"] == "fieldapp_rule":
        return [(str(ctx.get("field") or (loc[0] if loc else "")), str(ctx["zh"]), str(ctx["en"]))]
    return [(loc[0] if loc else "", *_translate(err))]


_CODE = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")  # a field's code: birth_date, start_time …


def _no_codes(model: type[BaseModel] | None, text: str, lang: str) -> str:
    """A rule's words with every field code of `model` replaced by its label (`start_time` →
    开始时间 / Start time): a worker never reads an internal name."""
    if model is None:
        return text

    def label(m: re.Match[str]) -> str:
        name = m.group(0)
        if name not in model.model_fields:
            return name
        zh, en = _labels(model, name)
        return en if lang == "en" else zh

    return _CODE.sub(label, text)


def _problem(model: type[BaseModel] | None, field: str, zh: str, en: str) -> Problem:
    """The one place a problem's words are put together: label and rule, without field codes."""
    label_zh, label_en = _labels(model, field)
    return Problem(
        field, label_zh, label_en, _no_codes(model, zh, "zh"), _no_codes(model, en, "en")
    )


def _choices(model: type[BaseModel] | None, err: ErrorDetails) -> tuple[str, str] | None:
    """A code list's error in the catalogue's words (须为以下之一：高风险、重点关注…), not its codes."""
    loc = [str(p) for p in err["loc"]]
    if err["type"] != "literal_error" or model is None or len(loc) != 1:
        return None
    info = model.model_fields.get(loc[0])
    extra = info.json_schema_extra if info is not None else None
    catalogue = extra.get("catalogue") if isinstance(extra, dict) else None
    if not isinstance(catalogue, str) or not reference.load().codes(catalogue):
        return None
    codes = reference.load().codes(catalogue)
    zh = "、".join(reference.load().label(catalogue, c, "zh") for c in codes)
    en = ", ".join(reference.load().label(catalogue, c, "en") for c in codes)
    return f"须为以下之一：{zh}", f"must be one of {en}"


def explain(exc: ValidationError, model: type[BaseModel] | None = None) -> list[Problem]:
    """Turn a pydantic ValidationError into problems a worker can read (field label + rule, zh/en).

    This is the one place a problem's words are built: the label is the field's Chinese or English
    name from the model (never its code), and a line inside a list says which line and which of its
    fields (`改造项目 第2项 数量`)."""
    out: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err["loc"]]
        if err.get("input", "") is not None and (words := _choices(model, err)) is not None:
            out.append(_problem(model, loc[0], *words))
            continue
        for field, zh, en in _broken_rules(err):
            p = _problem(model, field, zh, en)
            if loc and loc[0] == field and len(loc) > 1:
                sub_zh, sub_en = _sub_labels(model, field, loc[1:])
                p = Problem(field, p.label_zh + sub_zh, p.label_en + sub_en, p.zh, p.en)
            out.append(p)
    return out


# While a save collects every problem (`validate_all`), the model validators' broken rules land in
# this list instead of being raised: pydantic stops its chain of model validators at the first one
# that raises, and a worker would see one rule per save.
_DEFERRED: ContextVar[list[dict[str, Any]] | None] = ContextVar("fieldapp_deferred", default=None)
# True in the second pass of such a save: the model validators run again with the fields that
# failed left blank (None), so a rule computing with one of them cannot be evaluated (`Broken.each`).
_LENIENT: ContextVar[bool] = ContextVar("fieldapp_lenient", default=False)


class Broken:
    """The rules one model validator finds broken, reported together at its end (`report`).

    `uses` names the other fields a rule reads: when one of them could not be read (a field error),
    the rule says nothing rather than something about a blank the worker did not leave."""

    def __init__(self) -> None:
        self.found: list[dict[str, Any]] = []

    def add(self, field: str, zh: str, en: str, *, uses: tuple[str, ...] = ()) -> None:
        self.found.append({"field": field, "zh": zh, "en": en, "uses": uses})

    @contextmanager
    def each(self) -> Iterator[None]:
        """One rule among several: in the lenient pass, a rule that computes with a blank field
        (None + 1, None > 0) is skipped, and the validator's other rules still run and are
        reported; outside it such an error is a bug and is raised."""
        try:
            yield
        except (TypeError, ArithmeticError):
            if not _LENIENT.get():
                raise

    def dupes(self, field: str, values: list[Any]) -> None:
        """`no_duplicates`, noted instead of raised."""
        try:
            no_duplicates(field, values)
        except PydanticCustomError as e:
            ctx = e.context or {}
            self.add(field, str(ctx["zh"]), str(ctx["en"]))

    def report(self) -> None:
        """Raise every broken rule at once, or hand them to the save collecting them."""
        deferred = _DEFERRED.get()
        if deferred is not None:
            deferred.extend(self.found)
        elif len(self.found) == 1:
            f = self.found[0]
            raise rule(f["field"], f["zh"], f["en"])
        elif self.found:
            en = "; ".join(f"{f['field']}: {f['en']}" for f in self.found)
            problems = tuple({k: f[k] for k in ("field", "zh", "en")} for f in self.found)
            raise PydanticCustomError("fieldapp_rules", "{en}", {"en": en, "problems": problems})


@functools.cache
def _lenient(model: type[BaseModel], unread: frozenset[str]) -> type[BaseModel]:
    """`model` with the fields in `unread` optional: its model validators can run without them."""
    fields: dict[str, Any] = {name: (Any, None) for name in unread}
    return create_model(f"{model.__name__}Without", __base__=model, **fields)


def _cross_checks(
    model: type[BaseModel], raw: Any, exc: ValidationError, context: dict[str, Any]
) -> list[dict[str, Any]]:
    """The model validators' rules, run on the fields that passed: pydantic skips every model
    validator once a field fails, so the birth date against the ID number would wait for a later
    save. A rule that reads an unread field (`uses`) or is about one is left out."""
    unread = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
    if not unread or not isinstance(raw, dict):
        return []  # a rule about the whole record failed: nothing runs past it
    found: list[dict[str, Any]] = []
    token, lenient_token = _DEFERRED.set(found), _LENIENT.set(True)
    try:
        lenient = _lenient(model, frozenset(unread & set(model.model_fields)))
        lenient.model_validate({k: v for k, v in raw.items() if k not in unread}, context=context)
    except Exception:  # best effort on top of the field errors: never a traceback
        # a rule outside `Broken.each` that cannot run without the unread fields (a catalogue
        # asked about a blank code): the field errors already refuse the record
        pass
    finally:
        _DEFERRED.reset(token)
        _LENIENT.reset(lenient_token)
    return [f for f in found if not ({f["field"], *f["uses"]} & unread)]


def validate_all(
    kind: str,
    model: type[M],
    raw: Any,
    context: dict[str, Any],
    *,
    today: ValidationContext | None = None,
) -> M:
    """Validate `raw`, raising RecordInvalid with every problem at once: each field's error and
    each cross-field rule (birth date against ID number…), in the order of the form's fields.
    "Today" is `today`'s (as `validation_context` sets it; None: the local date)."""
    deferred: list[dict[str, Any]] = []
    token = _DEFERRED.set(deferred)
    today_token = _CONTEXT.set(today)
    try:
        with reference.pinned():  # the validators ask for it once per coded field
            record: M | None = model.model_validate(raw, context=context)
        problems: list[Problem] = []
    except ValidationError as e:
        record, problems = None, explain(e, model)
        deferred.extend(_cross_checks(model, raw, e, context))
    finally:
        _CONTEXT.reset(today_token)
        _DEFERRED.reset(token)
    for f in deferred:
        p = _problem(model, f["field"], f["zh"], f["en"])
        if p not in problems:
            problems.append(p)
    if problems or record is None:
        order = {name: i for i, name in enumerate(model.model_fields)}
        problems.sort(key=lambda p: order.get(p.field, len(order)))
        raise RecordInvalid(kind, problems)
    return record


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
