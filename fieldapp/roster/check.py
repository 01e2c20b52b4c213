"""One roster row checked with the record models: its cells turned into a record, or its problems with row and field."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from fieldapp.roster import values
from fieldapp.roster.mapping import COMMUNITY_NAME, FLAGS, IGNORE, Mapping
from fieldapp.roster.read import Cell

if TYPE_CHECKING:
    from fieldapp.models import Record


@dataclass(frozen=True)
class Issue:
    """A problem of one row (row 0: of the whole file), named by field, in Chinese."""

    row: int
    field: str
    label: str
    message: str

    def text(self) -> str:
        where = f"第{self.row}行" if self.row else "文件"
        return f"{where} {self.label}：{self.message}"


# what is assumed when the roster has no column for a required field (the mapping file may change it)
DEFAULTS: dict[str, dict[str, Any]] = {
    "elder": {"visit_risk": "general", "consent": "statutory_duty", "status": "active"},
    "meal_point": {"kind": "meal_point", "status": "open"},
    "volunteer": {},
}


def label(kind: str, name: str) -> str:
    from fieldapp import models

    if name == COMMUNITY_NAME:
        return "社区"
    if name in FLAGS:
        name = FLAGS[name][0]
    f = models.MODELS[kind].model_fields.get(name)
    extra = f.json_schema_extra if f is not None else None
    return str(extra.get("label_zh", name)) if isinstance(extra, dict) else name


def _converter(kind: str, name: str) -> Callable[[Cell], Any]:
    from fieldapp import models

    if name == "id_number":
        return values.id_number
    if name == "gender":
        return values.gender
    if name.endswith("_date"):
        return values.a_date
    f = models.MODELS[kind].model_fields[name]
    extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
    catalogue = extra.get("catalogue")
    if isinstance(catalogue, str):
        is_list = "list" in str(f.annotation)
        return (
            (lambda v: values.codes(catalogue, v))
            if is_list
            else (lambda v: values.code(catalogue, v))
        )
    if f.annotation is int:
        return _integer
    return values.text


def _integer(v: Cell) -> int | None:
    s = values.text(v)
    if s is None:
        return None
    try:
        return int(s)
    except ValueError:
        raise values.ValueProblem(f"「{s}」须为整数") from None


@dataclass
class RowChecker:
    """Turns rows into records of one kind with one mapping; `communities` maps names to codes."""

    kind: str
    mapping: Mapping
    device_community: str | None
    communities: dict[str, str]
    known_codes: frozenset[str]

    def __post_init__(self) -> None:
        self._conv = {
            t: _converter(self.kind, t)
            for t in self.mapping.columns.values()
            if t not in (IGNORE, COMMUNITY_NAME) and t not in FLAGS
        }

    def check(self, number: int, cells: list[Cell]) -> tuple[Record | None, list[Issue]]:
        data, issues = self._fields(number, cells)
        if issues:
            return None, issues
        return self._validate(number, data)

    def _fields(self, number: int, cells: list[Cell]) -> tuple[dict[str, Any], list[Issue]]:
        data: dict[str, Any] = {}
        flags: dict[str, list[str]] = {}
        issues: list[Issue] = []
        for i, target in self.mapping.columns.items():
            v = cells[i] if i < len(cells) else None
            try:
                self._one(target, v, data, flags)
            except values.ValueProblem as e:
                issues.append(Issue(number, target, label(self.kind, target), str(e)))
        self._apply_flags(data, flags)
        for k, v in (DEFAULTS[self.kind] | self.mapping.defaults).items():
            if data.get(k) in (None, [], ""):
                data[k] = v
        if data.get("community_code") is None and self.device_community:
            data["community_code"] = self.device_community
        return data, issues

    def _one(self, target: str, v: Cell, data: dict[str, Any], flags: dict[str, list[str]]) -> None:
        if target == IGNORE:
            return
        if target in FLAGS:
            fld, code = FLAGS[target]
            flags.setdefault(fld, [])
            if values.yes_no(v):
                flags[fld].append(code)
        elif target == COMMUNITY_NAME:
            name = values.text(v)
            if name is not None:
                if name not in self.communities:
                    raise values.ValueProblem(f"社区「{name}」不在本库的社区表中")
                data["community_code"] = self.communities[name]
        elif target == "birth_date" and (ym := values.month_only(v)) is not None:
            data["_birth_month"] = ym
        else:
            data[target] = self._conv[target](v)

    def _apply_flags(self, data: dict[str, Any], flags: dict[str, list[str]]) -> None:
        living = flags.get("living_status")
        if living is not None and not data.get("living_status"):
            data["living_status"] = living[0] if living else "other"
        tags = flags.get("hardship_tags")
        if tags:
            data["hardship_tags"] = list(dict.fromkeys([*(data.get("hardship_tags") or []), *tags]))

    def _validate(self, number: int, data: dict[str, Any]) -> tuple[Record | None, list[Issue]]:
        from fieldapp import models

        month = data.pop("_birth_month", None)
        code = data.get("community_code")
        if code is not None and code not in self.known_codes:
            return None, [
                Issue(number, "community_code", "社区", f"社区代码「{code}」不在本库的社区表中")
            ]
        try:
            record = models.validate_record(self.kind, data)
        except models.RecordInvalid as e:
            return None, [Issue(number, p.field, p.label_zh, p.zh) for p in e.problems]
        born = getattr(record, "birth_date", None)
        if month is not None and isinstance(born, date) and (born.year, born.month) != month:
            return None, [
                Issue(
                    number,
                    "birth_date",
                    "出生日期",
                    f"出生年月 {month[0]}-{month[1]:02d} 与身份证号中的 {born:%Y-%m} 不一致",
                )
            ]
        if month is not None and born is None:
            return None, [Issue(number, "birth_date", "出生日期", "出生年月没有日：请填写完整日期")]
        return record, []


def duplicate_key(kind: str, record: Record) -> tuple[str, ...]:
    """What makes two rows the same: the ID number for an elder (name and birth date without
    one); the name in its community for a meal point; name and phone for a volunteer."""
    p = record.payload()
    if kind == "elder":
        if p.get("id_number"):
            return ("id", p["id_number"])
        return ("nb", p["name"], str(p.get("birth_date")))
    if kind == "meal_point":
        return (p["community_code"], p["name"])
    return (p["community_code"], p["name"], p.get("phone") or p.get("platform_no") or "")


def duplicate_text(kind: str, key: tuple[str, ...]) -> tuple[str, str]:
    if kind == "elder":
        return ("id_number", "身份证号") if key[0] == "id" else ("name", "姓名")
    return "name", "姓名" if kind == "volunteer" else "助餐点名称"
