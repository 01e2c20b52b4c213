"""The `fieldapp ledger` command: a month's printable ledger (台账) of one kind, as XLSX."""

from __future__ import annotations

from pathlib import Path

import click

from fieldapp.cli.common import CONTEXT, db_option, open_store


@click.command("ledger", context_settings=CONTEXT)
@click.option("--month", required=True, metavar="YYYY-MM", help="月份，如 2026-11 (the month).")
@click.option(
    "--kind",
    required=True,
    metavar="home_visit|meal|volunteer|retrofit",
    help="台账类型：上门服务/助餐/志愿活动/适老化改造 (which ledger).",
)
@click.option(
    "--xlsx",
    "xlsx_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="输出的 .xlsx 文件 (the file to write; replaced when it exists).",
)
@db_option()
def ledger(month: str, kind: str, xlsx_path: Path, db_path: Path | None) -> None:
    """导出本社区某月的台账，供打印存档 (a month's ledger of this community, ready to print).

    A4 landscape with the title and column headings on every page, page numbers, one row per
    record (deleted records left out, ID numbers masked) and the totals at the end. Retrofits
    are listed in every month in which one of their dates falls.
    """
    from fieldapp import ledger as ledgers

    try:
        ledgers.check_kind(kind)
        ledgers.parse_month(month)
        with open_store(db_path) as store:
            book = ledgers.build_ledger(store.conn, kind=kind, month=month)
            ledgers.write_xlsx(book, xlsx_path)
    except ledgers.LedgerError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{book.title}：{len(book.rows)} 条记录，已写入 {xlsx_path}")
