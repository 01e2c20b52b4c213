"""The district supervisor's own targets for the years after the plan
(SPEC §2, §7), kept in the district database as ref_target rows whose source marks them as the
district's, so that no reload of the installed seed/ files overwrites them."""

from __future__ import annotations

from datetime import datetime

from fieldapp import indicators as ind
from fieldapp.sqlite import sqlite3

SETTABLE = {
    "home_service_coverage": ("%", "binding"),
    "assessment_80_coverage": ("%", "binding"),
    "retrofit_households": ("户", "expected"),
    "meal_monthly_capacity": ("人次/月", "expected"),
    "volunteer_events": ("场", "expected"),
}


class TargetError(ValueError):
    """A target refused, with the reason in Chinese and English."""


def set_target(
    conn: sqlite3.Connection, indicator: str, year: int, value: float, *, by: str = ""
) -> None:
    """Write (or replace) the district's target of one indicator for one year. Only years after
    the plan's last (2025) and only the district's own rows may be replaced: the plan's are kept."""
    if indicator not in SETTABLE:
        raise TargetError(
            f"指标 {indicator} 不可设定，可选：{', '.join(SETTABLE)} (unknown indicator)"
        )
    if not 2026 <= year <= 2100:
        raise TargetError(f"年份 {year} 须在2026至2100之间：规划年份的目标不可改 (year)")
    unit, kind = SETTABLE[indicator]
    if value < 0 or (unit == "%" and value > 100):
        raise TargetError(f"目标值 {value:g} 超出范围（{unit}）(value out of range)")
    row = conn.execute(
        "SELECT source FROM ref_target WHERE indicator = ? AND year = ?", (indicator, year)
    ).fetchone()
    if row is not None and not str(row[0] or "").startswith(ind.DISTRICT_SOURCE):
        raise TargetError(f"{year}年 {indicator} 已有规划目标，不可覆盖 (the plan's target stays)")
    zh, en = ind.LABELS[indicator]
    source = f"{ind.DISTRICT_SOURCE}: set {datetime.now().astimezone():%Y-%m-%d %H:%M} {by}".strip()
    conn.execute(
        "INSERT OR REPLACE INTO ref_target"
        " (indicator, year, value, comparison, unit, kind, name_zh, name_en, source)"
        " VALUES (?, ?, ?, '>=', ?, ?, ?, ?, ?)",
        (indicator, year, value, unit, kind, zh, en, source),
    )
