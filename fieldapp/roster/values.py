"""Cell values as rosters hold them (男/女, 是/否, 1945/3/1, Excel serials, IDs stored as numbers) turned into field values."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from fieldapp import reference


class ValueProblem(ValueError):
    """A cell that cannot be read as its field; the message is for the worker (zh)."""


_EXCEL_EPOCH = date(1899, 12, 30)
_SCI = re.compile(r"^\d(\.\d+)?[eE]\+?\d+$")
_SPLIT = re.compile(r"[、,，;；/|\s]+")


def text(v: object) -> str | None:
    """A cell as text; numbers lose a trailing .0 (a phone typed into a number cell)."""
    if v is None:
        return None
    if isinstance(v, bool):
        return "是" if v else "否"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    if isinstance(v, datetime | date):
        return v.isoformat()[:10]
    s = str(v).strip()
    return s or None


def id_number(v: object) -> str | None:
    """An ID number, refused when Excel stored it as a number (its last digits are then gone)."""
    if v is None or v == "":
        return None
    if isinstance(v, float) or (isinstance(v, int) and not isinstance(v, bool)):
        digits = f"{int(v)}" if float(v).is_integer() else str(v)
        if len(digits) == 17:
            raise ValueProblem(
                "身份证号被 Excel 存成了数字，末位 X 已丢失：请把该列设为「文本」后重新录入该号码"
            )
        raise ValueProblem(
            "身份证号被 Excel 存成了数字（显示为 E+17 或末几位变成 0），后几位已丢失：请把该列设为「文本」后重新录入该号码"
        )
    s = str(v).strip().replace(" ", "")
    if _SCI.match(s):
        raise ValueProblem(
            f"身份证号「{s}」是科学计数法（E+17），后几位已丢失：请把该列设为「文本」后重新录入该号码"
        )
    if len(s) == 17 and s.isdigit():
        raise ValueProblem("身份证号只有17位，可能末位 X 被 Excel 丢掉了：请核对后补全")
    return s or None


def gender(v: object) -> str | None:
    s = text(v)
    if s is None:
        return None
    got = {"男": "M", "男性": "M", "M": "M", "m": "M", "女": "F", "女性": "F", "F": "F", "f": "F"}
    if s not in got:
        raise ValueProblem(f"性别「{s}」须为 男 或 女")
    return got[s]


def yes_no(v: object) -> bool:
    if v is True or v is False:
        return bool(v)
    s = text(v)
    if s is None:
        return False
    if s in ("是", "√", "✓", "Y", "y", "yes", "Yes", "1", "有"):
        return True
    if s in ("否", "×", "N", "n", "no", "No", "0", "无", "不是"):
        return False
    raise ValueProblem(f"「{s}」须为 是 或 否")


def a_date(v: object) -> date | None:
    """1945-03-01, 1945/3/1, 1945.3.1, 1945年3月1日, 19450301, an Excel serial, a date cell."""
    if v is None or v == "":
        return None
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    if isinstance(v, int | float) and not isinstance(v, bool):
        return _serial(float(v))
    s = str(v).strip()
    m = re.fullmatch(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?", s)
    if m is None:
        m = re.fullmatch(r"(\d{4})(\d{2})(\d{2})", s)
    if m is not None:
        try:
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            raise ValueProblem(f"日期「{s}」不存在") from None
    if re.fullmatch(r"\d{4,5}(\.0+)?", s):
        return _serial(float(s))
    if re.fullmatch(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*月?", s):
        raise ValueProblem(
            f"出生年月「{s}」没有日：请填写完整日期，或填身份证号（出生日期由它得出）"
        )
    raise ValueProblem(f"日期「{s}」无法识别，请写成 1945-03-01")


def _serial(n: float) -> date:
    if not 1 <= n < 2958466:
        raise ValueProblem(f"日期「{n:g}」无法识别，请写成 1945-03-01")
    return _EXCEL_EPOCH + timedelta(days=int(n))


def month_only(v: object) -> tuple[int, int] | None:
    """出生年月 written as 1945-03 / 1945.3 / 1945年3月: (year, month)."""
    if not isinstance(v, str):
        return None
    m = re.fullmatch(r"\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*月?\s*", v)
    return (int(m[1]), int(m[2])) if m else None


def code(catalogue: str, v: object) -> str | None:
    """A code of `catalogue` from its Chinese label, its code, or a common wording."""
    s = text(v)
    if s is None:
        return None
    ref = reference.load()
    codes = ref.codes(catalogue)
    if s in codes:
        return s
    for c in codes:
        if ref.label(catalogue, c) == s:
            return c
    alias = _ALIASES.get(catalogue, {}).get(s)
    if alias:
        return alias
    labels = "、".join(ref.label(catalogue, c) for c in codes)
    raise ValueProblem(f"「{s}」不在可选项中（{labels}）")


def codes(catalogue: str, v: object) -> list[str]:
    """Several codes in one cell: 特困、低保 / 堂食,送餐."""
    s = text(v)
    if s is None or s in ("无", "否", "/"):
        return []
    return list(
        dict.fromkeys(c for part in _SPLIT.split(s) if part and (c := code(catalogue, part)))
    )


_ALIASES: dict[str, dict[str, str]] = {
    "living_status": {
        "与子女共同居住": "with_children",
        "与子女居住": "with_children",
        "其它": "other",
    },
    "hardship_tags": {"特困供养": "extreme_poverty", "低保户": "dibao", "其它": "other"},
    "elder_status": {
        "正常": "active",
        "在册": "active",
        "迁出": "moved_out",
        "死亡": "deceased",
        "去世": "deceased",
    },
    "meal_point_status": {"正常": "open", "运营": "open", "停业": "closed"},
    "visit_risk": {"高": "high", "重点": "priority"},
}
