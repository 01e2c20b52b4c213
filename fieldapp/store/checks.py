"""The save rules that look at another record or at today (SPEC §3 v2): they run on the device only.

The merge judges a version by what it holds; whether a visit's community is its elder's, whether a
meal count is above its point's capacity, whether an elder was under 60 on the day of registration
can only be asked where the other record and the local date are at hand: here, before a save.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fieldapp.sqlite import sqlite3
from fieldapp.store.errors import StoreError

# the kinds whose community is another record's: (the field naming it, its table)
OWNER_OF: dict[str, tuple[str, str]] = {
    "home_visit": ("elder_id", "elder"),
    "assessment": ("elder_id", "elder"),
    "retrofit": ("elder_id", "elder"),
    "meal_count": ("point_id", "meal_point"),
}


def fill_community(conn: sqlite3.Connection, kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """The record's community_code from its elder or point; a different one given is refused."""
    if kind not in OWNER_OF:
        return data
    field, table = OWNER_OF[kind]
    ref = data.get(field)
    if not isinstance(ref, str) or not ref.strip():
        return data  # the model says the field is required
    row = conn.execute(
        f"SELECT community_code FROM {table} WHERE id = ? AND deleted = 0", (ref.strip().lower(),)
    ).fetchone()
    if row is None:
        what = "老人" if table == "elder" else "助餐点"
        raise StoreError(
            f"{what}不存在或已删除", f"{table} {ref} does not exist or is deleted", field
        )
    given = data.get("community_code")
    if given not in (None, "") and given != row[0]:
        what = "老人" if table == "elder" else "助餐点"
        raise StoreError(
            f"社区代码「{given}」与{what}所在社区「{row[0]}」不一致（由{what}自动带出，不能修改）",
            f"community {given} differs from the {table}'s community {row[0]}",
            "community_code",
        )
    return data | {"community_code": row[0]}


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def check_under_60(born: date | None, confirmed: bool, registered: date) -> None:
    """An elder under 60 on the day of registration is saved only once the worker confirms."""
    if born is None or confirmed:
        return
    age = age_on(born, registered)
    if age < 60:
        raise StoreError(
            f"登记当日（{registered}）该老人 {age} 岁，未满60岁：请核对出生日期，确需登记时勾选「已确认未满60岁」",
            f"{age} years old on the registration day {registered}, under 60:"
            " check the birth date, or confirm the registration",
            "under_60_confirmed",
        )


def check_capacity(conn: sqlite3.Connection, point_id: str, total: int, confirmed: bool) -> None:
    """A meal slot above the point's daily capacity needs the worker's confirmation."""
    row = conn.execute("SELECT capacity_daily FROM meal_point WHERE id = ?", (point_id,)).fetchone()
    if row is None or confirmed or total <= int(row[0]):
        return
    raise StoreError(
        f"本餐次合计 {total} 人次超过助餐点日供餐能力 {row[0]} 人次：请核对，确认无误时勾选「已确认超出供餐能力」",
        f"the slot's total {total} is above the point's daily capacity {row[0]}:"
        " check it, or confirm it",
        "over_capacity_confirmed",
    )
