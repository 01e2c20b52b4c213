"""`fieldapp targets set|list`: the district supervisor's own targets for the years after the plan
(SPEC §2, §7), kept in the district database as ref_target rows whose source marks them as the
district's, so that no reload of the installed seed/ files overwrites them."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import click

from fieldapp import indicators as ind

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


@click.group("targets")
def targets() -> None:
    """年度目标 (the district's targets for the years after the plan)."""


@targets.command("set")
@click.option(
    "--db",
    "db_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="区级数据库 (district database).",
)
@click.option("--year", type=int, required=True, help="年份 (year, 2026 or later).")
@click.option("--by", "by", default="", help="设定人 (who sets it).")
@click.argument("pairs", nargs=-1, required=True)
def targets_set(db_path: Path, year: int, by: str, pairs: tuple[str, ...]) -> None:
    """设定年度目标：INDICATOR=VALUE …  (e.g. home_service_coverage=19 meal_monthly_capacity=5000)."""
    from fieldapp import db

    try:
        conn = db.connect(db_path, create=False)
    except db.DatabaseError as e:
        raise click.ClickException(str(e)) from None
    try:
        conn.execute("BEGIN IMMEDIATE")
        for pair in pairs:
            name, _, text = pair.partition("=")
            try:
                value = float(text)
            except ValueError:
                raise TargetError(f"{pair}：目标值须为数字 (value must be a number)") from None
            set_target(conn, name.strip(), year, value, by=by)
        conn.execute("COMMIT")
    except TargetError as e:
        conn.execute("ROLLBACK")
        raise click.ClickException(f"未设定，数据库未改动 (nothing changed): {e}") from None
    finally:
        conn.close()
    click.echo(f"已设定 {year} 年目标 {len(pairs)} 项 (set {len(pairs)} targets)")


@targets.command("list")
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--year", type=int, required=True)
def targets_list(db_path: Path, year: int) -> None:
    """列出某年生效的目标 (the targets in force for a year, and where each comes from)."""
    from fieldapp import db

    try:
        conn = db.connect(db_path, create=False)
    except db.DatabaseError as e:
        raise click.ClickException(str(e)) from None
    try:
        for name, t in sorted(ind.targets_in_force(conn, year).items()):
            note = ind.target_note(t, year) or t.source
            click.echo(f"{ind.LABELS[name][0]} ({name}) ≥ {t.value:g}{t.unit}  {note}")
    finally:
        conn.close()
