"""A month's ledger (台账) as plain rows: the records of one kind in the device's community, labelled in Chinese."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from fieldapp import reference
from fieldapp.kinds import mask_id_number
from fieldapp.sqlite import sqlite3

Cell = str | int | float | date | None

LEDGER_KINDS: tuple[str, ...] = ("home_visit", "meal", "volunteer", "retrofit")
"""What `--kind` accepts: the four ledgers inspectors ask for (meal counts and volunteer events
go by their everyday names)."""

KIND_TITLES: dict[str, tuple[str, str]] = {
    "home_visit": ("居家上门服务台账", "home visit ledger"),
    "meal": ("助餐服务台账", "meal service ledger"),
    "volunteer": ("志愿助老活动台账", "volunteer event ledger"),
    "retrofit": ("适老化改造台账", "home retrofit ledger"),
}

_MONTH = re.compile(r"(\d{4})-(\d{2})")


class LedgerError(ValueError):
    """A ledger that cannot be written (bad month, unknown kind, no community, unwritable file)."""

    def __init__(self, zh: str, en: str) -> None:
        self.zh, self.en = zh, en
        super().__init__(f"{zh}（{en}）")


@dataclass(frozen=True)
class Column:
    """One column: its heading, its width in characters and how its cells are shown.

    `style` is text, date, int, money (2 decimals), hours (1 decimal) or sign (an empty box to
    sign in); `total` marks the columns summed in the totals rows."""

    title: str
    width: float
    style: str = "text"
    total: bool = False


@dataclass(frozen=True)
class Summary:
    """A totals row: its label and the rows it counts and sums."""

    label: str
    rows: list[tuple[Cell, ...]]


@dataclass
class Ledger:
    """Everything a printed ledger shows, with no formatting: the writer lays it out."""

    kind: str
    month: date
    community_name: str
    street_name: str
    worker: str
    columns: tuple[Column, ...]
    rows: list[tuple[Cell, ...]]
    count_unit: str
    extra: list[Summary] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.community_name} {KIND_TITLES[self.kind][0]}（{self.month.year}年{self.month.month}月）"

    def summaries(self) -> list[Summary]:
        """合计 over every row, then any subtotal (e.g. only the events that took place)."""
        return [Summary("合计", self.rows), *self.extra]


def parse_month(month: str) -> date:
    """`2026-11` → the first of that month; anything else is refused with the rule."""
    m = _MONTH.fullmatch(month.strip()) if isinstance(month, str) else None
    if m is None or not 1 <= int(m.group(2)) <= 12 or not 2000 <= int(m.group(1)) <= 2100:
        raise LedgerError(
            f"月份「{month}」格式不对：应为 年-月，如 2026-11",
            f"month {month!r}: expected YYYY-MM such as 2026-11",
        )
    return date(int(m.group(1)), int(m.group(2)), 1)


def check_kind(kind: str) -> str:
    if kind not in LEDGER_KINDS:
        raise LedgerError(
            f"台账类型「{kind}」不存在：可选 {' / '.join(LEDGER_KINDS)}"
            "（上门服务 / 助餐 / 志愿活动 / 适老化改造）",
            f"unknown ledger kind {kind!r}: one of {', '.join(LEDGER_KINDS)}",
        )
    return kind


def _next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def _day(v: str | None) -> date | None:
    return date.fromisoformat(v) if v else None


@dataclass(frozen=True)
class _Query:
    """What every kind's builder needs: the connection, the community and the month's bounds."""

    conn: sqlite3.Connection
    ref: reference.Reference
    community: str
    start: str
    end: str

    def rows(self, sql: str) -> list[sqlite3.Row]:
        """`sql` names :community, :start and :end (end excluded)."""
        params = {"community": self.community, "start": self.start, "end": self.end}
        return list(self.conn.execute(sql, params))

    def label(self, catalogue: str, code: str | None) -> str:
        return self.ref.label(catalogue, code) if code else ""


# an elder who withdrew consent is kept only for statutory duties (docs/security.md): none of their
# records is printed in a ledger, which leaves the office and is shown to inspectors and elders
_CONSENTED = " AND e.consent IS NOT 'withdrawn'"


def _visits(q: _Query) -> tuple[tuple[Column, ...], list[tuple[Cell, ...]], str]:
    cols = (
        Column("日期", 11, "date"),
        Column("老人姓名", 9),
        Column("身份证号（脱敏）", 20),
        Column("服务类型", 10),
        Column("服务内容", 26),
        Column("方式", 9),
        Column("时长（分钟）", 8, "int", total=True),
        Column("服务人员", 9),
        Column("老人签字", 14, "sign"),
    )
    rows: list[tuple[Cell, ...]] = []
    for r in q.rows(
        "SELECT v.visit_date, e.name, e.id_number, v.service_type, v.service_items,"
        " v.contact_mode, v.duration_min, v.worker FROM home_visit v"
        " LEFT JOIN elder e ON e.id = v.elder_id"
        f" WHERE v.deleted = 0 AND v.community_code = :community{_CONSENTED}"
        " AND v.visit_date >= :start AND v.visit_date < :end"
        " ORDER BY v.visit_date, v.start_time, e.name, v.id"
    ):
        entry = q.ref.entry("service_type", r["service_type"])
        items = {i["code"]: i["zh"] for i in (entry.extra.get("items", ()) if entry else ())}
        content = "、".join(items.get(c, c) for c in json.loads(r["service_items"] or "[]"))
        rows.append(
            (
                _day(r["visit_date"]),
                r["name"] or "",
                mask_id_number(r["id_number"]),
                q.label("service_type", r["service_type"]),
                content,
                q.label("contact_mode", r["contact_mode"]),
                int(r["duration_min"]),
                r["worker"],
                None,
            )
        )
    return cols, rows, "次"


def _meals(q: _Query) -> tuple[tuple[Column, ...], list[tuple[Cell, ...]], str]:
    cols = (
        Column("日期", 11, "date"),
        Column("助餐点", 24),
        Column("餐次", 7),
        Column("堂食", 8, "int", total=True),
        Column("送餐", 8, "int", total=True),
        Column("自取", 8, "int", total=True),
        Column("合计", 9, "int", total=True),
        Column("其中补贴", 9, "int", total=True),
    )
    meal_order = {code: i for i, code in enumerate(q.ref.codes("meal"))}
    found = q.rows(
        "SELECT m.service_date, p.name AS point, m.meal, m.dine_in, m.delivery, m.pickup,"
        " m.total, m.subsidized_total, m.id FROM meal_count m"
        " LEFT JOIN meal_point p ON p.id = m.point_id"
        " WHERE m.deleted = 0 AND m.community_code = :community"
        " AND m.service_date >= :start AND m.service_date < :end"
    )
    found.sort(
        key=lambda r: (r["service_date"], r["point"] or "", meal_order.get(r["meal"], 9), r["id"])
    )
    rows: list[tuple[Cell, ...]] = [
        (
            _day(r["service_date"]),
            r["point"] or "",
            q.label("meal", r["meal"]),
            int(r["dine_in"]),
            int(r["delivery"]),
            int(r["pickup"]),
            int(r["total"]),
            int(r["subsidized_total"]),
        )
        for r in found
    ]
    return cols, rows, "条"


def _volunteer(q: _Query) -> tuple[tuple[Column, ...], list[tuple[Cell, ...]], str]:
    cols = (
        Column("日期", 11, "date"),
        Column("活动名称", 22),
        Column("类别", 9),
        Column("地点", 14),
        Column("参与志愿者", 24),
        Column("服务时长（小时）", 9, "hours", total=True),
        Column("积分", 8, "hours", total=True),
        Column("受益人数", 8, "int", total=True),
        Column("状态", 8),
    )
    rows: list[tuple[Cell, ...]] = []
    for r in q.rows(
        "SELECT id, event_date, title, category, location, beneficiaries, status,"
        " total_hours, total_points FROM volunteer_event"
        " WHERE deleted = 0 AND community_code = :community"
        " AND event_date >= :start AND event_date < :end"
        " ORDER BY event_date, start_time, title, id"
    ):
        names = [
            p[0] or "?"
            for p in q.conn.execute(
                "SELECT v.name FROM volunteer_participant p"
                " LEFT JOIN volunteer v ON v.id = p.volunteer_id"
                " WHERE p.event_id = ? ORDER BY v.name",
                (r["id"],),
            )
        ]
        rows.append(
            (
                _day(r["event_date"]),
                r["title"],
                q.label("volunteer_category", r["category"]),
                r["location"] or "",
                "、".join(names),
                float(r["total_hours"]),
                float(r["total_points"]),
                None if r["beneficiaries"] is None else int(r["beneficiaries"]),
                q.label("event_status", r["status"]),
            )
        )
    return cols, rows, "场"


def _retrofit_items(q: _Query, raw: str | None) -> str:
    out = []
    for item in json.loads(raw or "[]"):
        name = q.label("retrofit_item", item.get("code"))
        qty = item.get("qty", 1)
        out.append(name if qty == 1 else f"{name}×{qty:g}")
    return "、".join(out)


def _retrofits(q: _Query) -> tuple[tuple[Column, ...], list[tuple[Cell, ...]], str]:
    cols = (
        Column("老人姓名", 9),
        Column("身份证号（脱敏）", 20),
        Column("项目年度", 7, "int"),
        Column("资金类型", 9),
        Column("状态", 9),
        Column("申请日期", 11, "date"),
        Column("评估日期", 11, "date"),
        Column("开工日期", 11, "date"),
        Column("验收日期", 11, "date"),
        Column("改造项目", 28),
        Column("总费用（元）", 11, "money", total=True),
        Column("补贴（元）", 11, "money", total=True),
        Column("自付（元）", 11, "money", total=True),
    )
    in_month = " OR ".join(
        f"(r.{d} >= :start AND r.{d} < :end)"
        for d in ("apply_date", "assess_date", "start_date", "accept_date")
    )
    rows: list[tuple[Cell, ...]] = [
        (
            r["name"] or "",
            mask_id_number(r["id_number"]),
            int(r["project_year"]),
            q.label("retrofit_funding", r["funding_type"]),
            q.label("retrofit_status", r["status"]),
            _day(r["apply_date"]),
            _day(r["assess_date"]),
            _day(r["start_date"]),
            _day(r["accept_date"]),
            _retrofit_items(q, r["items"]),
            float(r["cost_total"]),
            float(r["subsidy"]),
            float(r["self_paid"]),
        )
        for r in q.rows(
            "SELECT e.name, e.id_number, r.* FROM retrofit r LEFT JOIN elder e ON e.id = r.elder_id"
            f" WHERE r.deleted = 0 AND r.community_code = :community{_CONSENTED} AND ({in_month})"
            " ORDER BY r.apply_date, e.name, r.id"
        )
    ]
    return cols, rows, "户"


Builder = Callable[[_Query], tuple[tuple[Column, ...], list[tuple[Cell, ...]], str]]
BUILDERS: dict[str, Builder] = {
    "home_visit": _visits,
    "meal": _meals,
    "volunteer": _volunteer,
    "retrofit": _retrofits,
}
"""Which records each ledger holds. A retrofit belongs to every month in which one of its dates
falls (applied, assessed, started or accepted): the month's ledger lists what moved that month."""


def build_ledger(conn: sqlite3.Connection, *, kind: str, month: str) -> Ledger:
    """The month's ledger of this device's community; refused when the database has no community
    (the district's database: its ledgers are the communities')."""
    check_kind(kind)
    first = parse_month(month)
    dev = conn.execute("SELECT worker, street_code, community_code FROM device").fetchone()
    if dev is None or not dev["community_code"]:
        raise LedgerError(
            "本数据库不属于某个社区（未设置，或为区级数据库），不能导出社区台账",
            "this database belongs to no community (not set up, or the district's)",
        )
    names = conn.execute(
        "SELECT c.name_zh, s.name_zh FROM ref_community c"
        " LEFT JOIN ref_street s ON s.code = c.street_code WHERE c.code = ?",
        (dev["community_code"],),
    ).fetchone()
    q = _Query(
        conn,
        reference.load(),
        dev["community_code"],
        first.isoformat(),
        _next_month(first).isoformat(),
    )
    cols, rows, unit = BUILDERS[kind](q)
    ledger = Ledger(
        kind,
        first,
        names[0] if names else dev["community_code"],
        (names[1] or "") if names else "",
        dev["worker"] or "",
        cols,
        rows,
        unit,
    )
    if kind == "volunteer":
        done = q.label("event_status", "done")
        ledger.extra.append(Summary(f"其中{done}", [r for r in rows if r[-1] == done]))
    return ledger
