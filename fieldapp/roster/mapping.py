"""Which column of a roster holds which field: the headers people actually write, and saved mappings."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fieldapp.roster.read import Cell, RosterRefused

KINDS = ("elder", "meal_point", "volunteer")
IGNORE = "ignore"
# targets that are not plain fields: a yes/no column that sets a code
FLAGS = {
    "flag:alone": ("living_status", "alone"),
    "flag:empty_nest": ("living_status", "empty_nest"),
    "flag:left_behind": ("living_status", "left_behind"),
    "flag:extreme_poverty": ("hardship_tags", "extreme_poverty"),
    "flag:dibao": ("hardship_tags", "dibao"),
    "flag:near_dibao": ("hardship_tags", "near_dibao"),
    "flag:special_family": ("hardship_tags", "special_family"),
    "flag:severe_disability": ("hardship_tags", "severe_disability"),
    "flag:disabled": ("hardship_tags", "disabled"),
    "flag:dementia": ("hardship_tags", "dementia"),
}
# pseudo-fields filled from a column but not model fields as such
COMMUNITY_NAME = "community_name"

_COMMON = {
    "序号": IGNORE,
    "编号": IGNORE,
    "原行号": IGNORE,  # columns our own validation report adds
    "问题": IGNORE,
    "社区": COMMUNITY_NAME,
    "所属社区": COMMUNITY_NAME,
    "社区名称": COMMUNITY_NAME,
    "村居": COMMUNITY_NAME,
    "社区代码": "community_code",
    "社区编码": "community_code",
}

SYNONYMS: dict[str, dict[str, str]] = {
    "elder": _COMMON
    | {
        "姓名": "name",
        "老人姓名": "name",
        "身份证号": "id_number",
        "身份证号码": "id_number",
        "身份证": "id_number",
        "公民身份号码": "id_number",
        "无身份证号原因": "id_missing_reason",
        "性别": "gender",
        "出生日期": "birth_date",
        "出生年月": "birth_date",
        "出生年月日": "birth_date",
        "联系电话": "phone",
        "电话": "phone",
        "手机": "phone",
        "手机号": "phone",
        "手机号码": "phone",
        "住址": "address",
        "家庭住址": "address",
        "现住址": "address",
        "居住地址": "address",
        "地址": "address",
        "居住状况": "living_status",
        "居住情况": "living_status",
        "独居": "flag:alone",
        "是否独居": "flag:alone",
        "空巢": "flag:empty_nest",
        "是否空巢": "flag:empty_nest",
        "留守": "flag:left_behind",
        "困难类型": "hardship_tags",
        "困难类别": "hardship_tags",
        "特殊困难类型": "hardship_tags",
        "特困": "flag:extreme_poverty",
        "是否特困": "flag:extreme_poverty",
        "低保": "flag:dibao",
        "是否低保": "flag:dibao",
        "低保边缘": "flag:near_dibao",
        "计生特殊家庭": "flag:special_family",
        "重度残疾": "flag:severe_disability",
        "失能": "flag:disabled",
        "失智": "flag:dementia",
        "探访风险等级": "visit_risk",
        "风险等级": "visit_risk",
        "状态": "status",
        "紧急联系人": "emergency_contact_name",
        "紧急联系人姓名": "emergency_contact_name",
        "紧急联系人电话": "emergency_contact_phone",
        "紧急联系电话": "emergency_contact_phone",
        "与老人关系": "emergency_contact_relation",
        "关系": "emergency_contact_relation",
        "信息采集依据": "consent",
        "备注": "notes",
    },
    "meal_point": _COMMON
    | {
        "助餐点名称": "name",
        "名称": "name",
        "助餐点": "name",
        "类型": "kind",
        "助餐点类型": "kind",
        "服务方式": "modes",
        "日供餐能力": "capacity_daily",
        "供餐能力": "capacity_daily",
        "日供餐能力人次": "capacity_daily",
        "状态": "status",
        "运营状态": "status",
        "备注": IGNORE,
    },
    "volunteer": _COMMON
    | {
        "姓名": "name",
        "志愿者姓名": "name",
        "联系电话": "phone",
        "电话": "phone",
        "手机": "phone",
        "手机号": "phone",
        "手机号码": "phone",
        "志愿者编号": "platform_no",
        "平台编号": "platform_no",
        "江苏志愿服务平台编号": "platform_no",
        "江苏志愿服务编号": "platform_no",
        "备注": IGNORE,
    },
}

_PAREN = re.compile(r"[（(【\[].*?[）)】\]]")


def normalise_header(v: Cell) -> str:
    """`* 身份证号码（18位）` → `身份证号码`: marks, spaces and notes in brackets dropped."""
    s = "" if v is None else str(v)
    s = _PAREN.sub("", s)
    return re.sub(r"[\s*＊:：/]", "", s)


def targets(kind: str) -> frozenset[str]:
    from fieldapp import models

    return frozenset(models.MODELS[kind].model_fields) | set(FLAGS) | {IGNORE, COMMUNITY_NAME}


@dataclass
class Mapping:
    """Column index → target, from the header row; and the fields' defaults."""

    kind: str
    header_row: int
    headers: list[str]
    columns: dict[int, str]
    unknown: list[str]
    defaults: dict[str, Any] = field(default_factory=dict)

    def as_saved(self) -> dict[str, Any]:
        cols = {h: self.columns.get(i) for i, h in enumerate(self.headers) if h}
        return {
            "format": "fieldapp-roster-mapping",
            "version": 1,
            "kind": self.kind,
            "columns": cols,
            "defaults": self.defaults,
        }


@dataclass(frozen=True)
class Saved:
    """A mapping file: header text → target (None: ignore the column), and defaults."""

    columns: dict[str, str | None]
    defaults: dict[str, Any]


def find_header(
    kind: str, first_rows: Sequence[tuple[int, Sequence[Cell]]], saved: Saved | None
) -> Mapping:
    """The first row (of the first 20) where the name column and one more field are recognised."""
    known = SYNONYMS[kind] | {k: v for k, v in (saved.columns if saved else {}).items()}
    for number, cells in first_rows[:20]:
        headers = [normalise_header(c) for c in cells]
        cols: dict[int, str] = {}
        unknown: list[str] = []
        for i, h in enumerate(headers):
            if not h:
                continue
            if h in known:
                cols[i] = known[h] or IGNORE
            else:
                unknown.append(str(cells[i]).strip())
        fields = {t for t in cols.values() if t != IGNORE}
        if "name" in fields and len(fields) >= 2:
            _no_twice(cols, headers)
            return Mapping(
                kind, number, headers, cols, unknown, dict(saved.defaults if saved else {})
            )
    raise RosterRefused(
        "找不到表头行：前20行中没有同时含「姓名/名称」和其他已知列的一行。"
        "请确认选对了工作表，或用 --mapping 提供列对应关系",
        "no recognisable header row in the first 20 rows",
    )


def _no_twice(cols: dict[int, str], headers: list[str]) -> None:
    seen: dict[str, int] = {}
    for i, t in cols.items():
        if t == IGNORE:
            continue
        if t in seen:
            raise RosterRefused(
                f"「{headers[seen[t]]}」和「{headers[i]}」两列都对应同一字段（{t}），请删去一列或用 --mapping 指定",
                f"two columns map to {t}",
            )
        seen[t] = i


def load_saved(path: Path, kind: str) -> Saved:
    """Read a mapping file (untrusted: size, shape and every target checked)."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise RosterRefused(f"无法读取对应关系文件：{e.strerror}", "cannot read mapping") from None
    if len(raw) > 256 * 1024:
        raise RosterRefused("对应关系文件过大", "mapping file too large")
    try:
        obj = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise RosterRefused("对应关系文件不是有效的 JSON", "mapping is not JSON") from None
    if not isinstance(obj, dict) or obj.get("format") != "fieldapp-roster-mapping":
        raise RosterRefused("这不是 fieldapp 的列对应关系文件", "not a roster mapping file")
    if obj.get("kind") != kind:
        raise RosterRefused(
            f"对应关系文件用于「{obj.get('kind')}」，不是本次的「{kind}」",
            "mapping of another kind",
        )
    columns, defaults = obj.get("columns", {}), obj.get("defaults", {})
    allowed = targets(kind)
    if not isinstance(columns, dict) or not isinstance(defaults, dict):
        raise RosterRefused("对应关系文件的 columns/defaults 须为键值表", "bad mapping shape")
    for k, v in columns.items():
        if not isinstance(k, str) or not (v is None or (isinstance(v, str) and v in allowed)):
            raise RosterRefused(
                f"对应关系文件中「{k}」对应的「{v}」不是可用字段", "unknown target in mapping"
            )
    for k, v in defaults.items():
        if k not in allowed or not isinstance(v, str | int | list):
            raise RosterRefused(f"对应关系文件中默认值「{k}」不可用", "bad default in mapping")
    return Saved({normalise_header(k): v for k, v in columns.items()}, defaults)


def save(mapping: Mapping, path: Path) -> None:
    text = json.dumps(mapping.as_saved(), ensure_ascii=False, indent=2)
    path.write_text(text + "\n", encoding="utf-8")
