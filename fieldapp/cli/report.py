"""The `report` command: the plan's indicators printed as a table, and saved as CSV or XLSX."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from fieldapp.cli.common import CONTEXT, db_option

if TYPE_CHECKING:
    from fieldapp.report import Figure, Report

HEADS = {
    "zh": ("区域", "指标", "分子", "分母", "数值", "目标", "状态"),
    "en": ("Area", "Indicator", "Num.", "Den.", "Value", "Target", "Status"),
}
WIDTHS = (16, 30, 9, 9, 11, 7, 8)
RIGHT = (False, False, True, True, True, True, False)
COLORS = {"met": "green", "behind": "red"}
OPERATIONAL = {
    "zh": "上门服务 {visits} 人次 / {workers} 名工作人员（人均 {visits_per_worker}）；困难老人本月探访 {hardship_visited}/{hardship_elders}（{hardship_month}）；"
    "逾期未探访 {overdue_followups}；待处理冲突 {open_conflicts}，待审核 {open_reviews}",
    "en": "{visits} visits by {workers} workers ({visits_per_worker} each); hardship elders visited {hardship_visited}/{hardship_elders} ({hardship_month}); "
    "overdue {overdue_followups}; open conflicts {open_conflicts}, review items {open_reviews}",
}


@click.command(context_settings=CONTEXT)
@db_option("区级（或设备）数据库 (the district database).", required=True)
@click.option("--year", type=click.IntRange(2000, 2100), required=True, help="年度 (year).")
@click.option(
    "--month", type=click.IntRange(1, 12), default=None, help="只看该月 (one month of the year)."
)
@click.option(
    "--by",
    type=click.Choice(["district", "street", "community"]),
    default="street",
    show_default=True,
    help="细到哪一级 (down to which level).",
)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="另存为 CSV (UTF-8 BOM).",
)
@click.option(
    "--xlsx",
    "xlsx_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="另存为 Excel 工作簿 (workbook with charts).",
)
@click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    default=None,
    help="语言 (language; default: the UI language).",
)
@click.pass_context
def report(
    ctx: click.Context,
    db_path: Path,
    year: int,
    month: int | None,
    by: str,
    csv_path: Path | None,
    xlsx_path: Path | None,
    lang: str | None,
) -> None:
    """规划指标报表 (the plan's indicators against its targets, by district, street and community)."""
    from fieldapp import db
    from fieldapp import report as rep

    lang = lang or (ctx.obj or {}).get("lang") or "zh"
    try:  # the report reads SQL only: no record models to import (start-up matters here)
        conn = db.connect(db_path, create=False)
    except db.DatabaseError as e:
        raise click.ClickException(str(e)) from None
    try:
        r = rep.build(conn, year, month, lang=lang)
        levels = rep.levels_for(by)
        print_report(r, levels, lang)
        if csv_path:
            rep.write_csv(r, csv_path, levels)
            click.echo(f"CSV → {csv_path}")
        if xlsx_path:
            rep.write_xlsx(r, xlsx_path, conn, lang=lang)
            click.echo(f"XLSX → {xlsx_path}")
    finally:
        conn.close()


def _fit(text: str, width: int, align_right: bool) -> str:
    from rich.cells import cell_len

    while cell_len(text) > width:
        text = text[:-1]
    pad = " " * (width - cell_len(text))
    return pad + text if align_right else text + pad


def _line(cells: tuple[str, ...]) -> str:
    return " ".join(_fit(c, w, a) for c, w, a in zip(cells, WIDTHS, RIGHT, strict=True))


def _cells(f: Figure, area: str, en: bool) -> tuple[str, ...]:
    from fieldapp import report as rep

    return (
        area,
        rep.LABELS[f.indicator][int(en)],
        rep._num(f.numerator),
        "" if f.denominator is None else rep._num(f.denominator),
        "—" if f.value is None else f"{f.value:.2f}{f.unit if f.unit == '%' else ''}",
        "—" if f.target is None else rep._num(f.target),
        "",
    )


def print_report(r: Report, levels: tuple[str, ...], lang: str) -> None:
    """A plain table readable at 100 columns; Chinese is two cells wide (rich.cells measures it).
    Written line by line: a Rich Table of 500 rows costs more than computing the report."""
    from fieldapp import report as rep

    en = lang == "en"
    key = "en" if en else "zh"
    click.echo(f"{'Plan indicators' if en else '规划指标'} {r.period.label}")
    click.echo(_line(HEADS[key]))
    click.echo("-" * (sum(WIDTHS) + len(WIDTHS) - 1))
    last_area = None
    for f in r.figures:
        if f.area_level not in levels:
            continue
        area = f.area_name if f.area_code != last_area else ""
        last_area = f.area_code
        status = rep.STATUS[f.status][int(en)]
        text = _line(_cells(f, area, en))
        click.echo(text.rstrip() + " " + click.style(status, fg=COLORS.get(f.status)))
    click.echo(OPERATIONAL[key].format(**r.operational))
