"""`fieldapp targets set|list`: the district's targets for the years after the plan (fieldapp.targets)."""

from __future__ import annotations

from pathlib import Path

import click

from fieldapp.cli.common import CONTEXT, DISTRICT_DB_HELP, db_option


@click.group("targets", context_settings=CONTEXT)
def targets() -> None:
    """年度目标 (the district's targets for the years after the plan)."""


@targets.command("set", context_settings=CONTEXT)
@db_option(DISTRICT_DB_HELP, required=True)
@click.option("--year", type=int, required=True, help="年份 (year, 2026 or later).")
@click.option("--by", "by", default="", help="设定人 (who sets it).")
@click.argument("pairs", nargs=-1, required=True)
def targets_set(db_path: Path, year: int, by: str, pairs: tuple[str, ...]) -> None:
    """设定年度目标：INDICATOR=VALUE …  (e.g. home_service_coverage=19 meal_monthly_capacity=5000)."""
    from fieldapp import db
    from fieldapp.targets import TargetError, set_target

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


@targets.command("list", context_settings=CONTEXT)
@db_option(DISTRICT_DB_HELP, required=True)
@click.option("--year", type=int, required=True, help="年份 (year).")
def targets_list(db_path: Path, year: int) -> None:
    """列出某年生效的目标 (the targets in force for a year, and where each comes from)."""
    from fieldapp import db
    from fieldapp import indicators as ind

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
