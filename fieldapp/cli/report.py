"""The `report` command: the plan's indicators printed as a table, and saved as CSV or XLSX."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from fieldapp.cli.common import CONTEXT, db_option

if TYPE_CHECKING:
    from fieldapp.report import Report

HEADS = {
    "zh": ("区域", "指标", "分子", "分母", "数值", "目标", "状态"),
    "en": ("Area", "Indicator", "Num.", "Den.", "Value", "Target", "Status"),
}
WIDTHS = (16, 30, 9, 9, 11, 7, 8)
RIGHT = (False, False, True, True, True, True, False)
COLORS = {"met": "green", "behind": "red"}


@dataclass(frozen=True)
class ReportOptions:
    """The report command's options (click passes them by name)."""

    db_path: Path
    year: int
    month: int | None
    by: str
    csv_path: Path | None
    xlsx_path: Path | None
    as_of: datetime | None
    street: str | None
    lang: str | None
    fresh: bool


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
    "--as-of",
    "as_of",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="统计截至日期（默认：往年为12月31日，本年为今天）(as-of date; default 31 Dec, or today this year).",
)
@click.option(
    "--street",
    default=None,
    help="只看该街道及其社区 (one street and its communities; 9-digit code).",
)
@click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    default=None,
    help="语言 (language; default: the UI language).",
)
@click.option(
    "--fresh",
    is_flag=True,
    help="重新计算，不用缓存 (recompute; by default a report kept since the last change is reused).",
)
@click.pass_context
def report(ctx: click.Context, /, **_: object) -> None:
    """规划指标报表 (the plan's indicators against its targets, by district, street and community)."""
    from fieldapp import db
    from fieldapp import report as rep

    o = ReportOptions(**ctx.params)
    lang = o.lang or (ctx.obj or {}).get("lang") or "zh"
    try:  # the report reads SQL only: no record models to import (start-up matters here)
        conn = db.connect(o.db_path, create=False)
    except db.DatabaseError as e:
        raise click.ClickException(str(e)) from None
    try:
        as_of = o.as_of.date() if o.as_of else None
        if o.fresh:
            r = rep.build(conn, o.year, o.month, as_of=as_of, lang=lang)
        else:  # the same build(), kept until the data, the reference data or the day change
            r = rep.build_cached(conn, o.year, o.month, as_of=as_of, lang=lang)
        levels = rep.levels_for(o.by)
        print_report(r, levels, lang, o.street)
        if o.csv_path:
            rep.write_csv(r, o.csv_path, levels, o.street)
            click.echo(f"CSV → {o.csv_path}")
        if o.xlsx_path:
            rep.write_xlsx(r, o.xlsx_path, conn, lang=lang)
            click.echo(f"XLSX → {o.xlsx_path}")
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


def print_report(r: Report, levels: tuple[str, ...], lang: str, street: str | None = None) -> None:
    """A plain table readable at 100 columns; Chinese is two cells wide (rich.cells measures it).
    Written line by line: a Rich Table of 500 rows costs more than computing the report. Rows
    with nothing to report are left out (report.table_cells decides, for the CSV too)."""
    from fieldapp import report as rep

    key = "en" if lang == "en" else "zh"
    click.echo(f"{'Plan indicators' if key == 'en' else '规划指标'} {r.period.label}")
    for line in rep.header_lines(r):
        click.echo(line)
    click.echo(_line(HEADS[key]))
    click.echo("-" * (sum(WIDTHS) + len(WIDTHS) - 1))
    for *cells, status, status_key in rep.table_cells(r, levels, lang, street):
        text = _line((*cells, ""))
        click.echo(text.rstrip() + " " + click.style(status, fg=COLORS.get(status_key)))
    click.echo(rep.operational_line(r.operational, lang))
