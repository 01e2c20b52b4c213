"""The `fieldapp import-roster` command: a community's existing register into this device, checked first."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from fieldapp.cli.common import CONTEXT, db_option

if TYPE_CHECKING:
    from fieldapp.roster import Outcome, Progress


@click.command("import-roster", context_settings=CONTEXT)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--kind",
    type=click.Choice(["elder", "meal_point", "volunteer"]),
    required=True,
    help="花名册类型：老年人/助餐点/志愿者 (what the roster lists).",
)
@click.option(
    "--sheet", default=None, help="工作表名称（默认第一个）(sheet name; default: the first)."
)
@click.option("--dry-run", is_flag=True, help="只检查，不保存 (check every row, save nothing).")
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="跳过有问题的行，导入其余行 (import the good rows; without it one bad row saves nothing).",
)
@click.option(
    "--mapping",
    "mapping_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="列对应关系文件：存在则使用，不存在则把本次识别的对应关系存入它，供同街道其他社区复用 "
    "(column mapping JSON: used when it exists, else written for reuse).",
)
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="问题报告 .xlsx（默认：原文件旁「…-问题清单.xlsx」）(validation report; default beside FILE).",
)
@db_option()
def import_roster(
    file: Path,
    kind: str,
    sheet: str | None,
    dry_run: bool,
    skip_invalid: bool,
    mapping_file: Path | None,
    report_file: Path | None,
    db_path: Path | None,
) -> None:
    """导入社区已有的花名册（Excel .xlsx 或 CSV）(import a community's existing register).

    Every row is checked first (ID check digit, birth date and gender against the ID, required
    fields, duplicates in the file and in the database); rows with problems go to an XLSX report
    to fix and import again. Rows already in the database are skipped, so importing the same file
    twice adds nothing. Exit code 0: imported (or a clean dry run); 1: refused or problems found.
    """
    from fieldapp import db, paths, roster
    from fieldapp.store import Store

    try:
        store = Store.open(db_path or paths.default_db(), create=False)
    except db.DatabaseError as e:
        raise click.ClickException(str(e)) from None
    opts = roster.Options(sheet, mapping_file, dry_run, skip_invalid, progress=_progress())
    try:
        with store:
            if store.device() is None:
                raise click.ClickException("本设备尚未设置（请先运行 fieldapp init）")
            out = roster.import_roster(store, file, kind, opts)
    except roster.RosterRefused as e:
        raise click.ClickException(f"未导入，数据库未改动：{e.zh}") from None
    finally:
        if sys.stderr.isatty():
            click.echo("", err=True)
    _print(out, file, report_file, mapping_file)


def _progress() -> Progress | None:
    if not sys.stderr.isatty():
        return None

    def show(stage: str, done: int, total: int | None) -> None:
        of = f"/{total}" if total else ""
        click.echo(f"\r{stage} {done}{of} 行", nl=False, err=True)

    return show


def _print(out: Outcome, file: Path, report_file: Path | None, mapping_file: Path | None) -> None:
    from fieldapp import roster

    a = out.analysis
    click.echo(a.summary())
    for issue in a.issues[:20]:
        click.echo(f"  {issue.text()}")
    if len(a.issues) > 20:
        click.echo(f"  …共 {len(a.issues)} 个问题")
    if a.issues:
        path = report_file or file.with_name(f"{file.stem}-问题清单.xlsx")
        roster.write_report(a, path)
        click.echo(f"问题报告：{path}（改正后可直接再次导入）")
    if mapping_file is not None:
        click.echo(f"列对应关系：{mapping_file}")
    if out.dry_run:
        click.echo("试运行：未保存任何记录 (dry run: nothing saved)")
    elif out.blocked:
        raise click.ClickException(
            f"有 {len(a.bad_rows)} 行有问题，未保存任何记录；改正后重新导入，或加 --skip-invalid 只导入其余行"
        )
    else:
        click.echo(f"已导入 {out.saved} 条记录 (imported {out.saved})")
    if out.dry_run and a.issues:
        sys.exit(1)
