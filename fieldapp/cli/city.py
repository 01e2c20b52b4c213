"""`fieldapp city …` (init, enroll, merge, report: the city's roll-up of signed indicator bundles)
and `fieldapp district publish` (the district's bundle for the city)."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import click

from fieldapp.cli.common import CONTEXT, DISTRICT_DB_HELP, db_option
from fieldapp.sqlite import sqlite3

CITY_DB_HELP = "市级数据库 (city database)."
YEAR = click.IntRange(2000, 2100)


def _city(db_path: Path) -> sqlite3.Connection:
    from fieldapp.city import db

    try:
        return db.connect(db_path)
    except db.CityDbError as e:
        raise click.ClickException(str(e)) from None


@click.command("publish", context_settings=CONTEXT)
@db_option(DISTRICT_DB_HELP, required=True, exists=True)
@click.option("--year", type=YEAR, required=True, help="年份 (year).")
@click.option(
    "--key",
    "key_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="区级私钥文件 (district.private.json: signs the bundle).",
)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
def publish(db_path: Path, year: int, key_file: Path, out_dir: Path) -> None:
    """发布指标包（仅汇总数，区级签名）给市里 (write the signed indicator bundle for the city)."""
    from fieldapp import db
    from fieldapp.city.publish import publish as write
    from fieldapp.crypto import KeyError_
    from fieldapp.district_keys import district_code_of, load_district_signing

    passphrase = os.environ.get("FIELDAPP_KEY_PASSPHRASE")
    if passphrase is None:
        passphrase = click.prompt(
            "区级私钥口令 (district key passphrase)", hide_input=True, err=True
        )
    try:
        signing = load_district_signing(key_file, passphrase)
        conn = db.connect(db_path, create=False)
        try:
            done = write(
                conn,
                year,
                signing=signing,
                district_code=district_code_of(key_file),
                out_dir=out_dir,
            )
        finally:
            conn.close()
    except (KeyError_, db.DatabaseError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"已写出 {done.path}（{done.rows}行汇总数）")


@click.group("city", context_settings=CONTEXT)
def city() -> None:
    """市级汇总：登记各区签名公钥，合并指标包，全市报表 (the city's roll-up)."""


@city.command("init", context_settings=CONTEXT)
@db_option("新的市级数据库文件 (the new city database).", required=True)
def city_init(db_path: Path) -> None:
    """新建市级数据库（含本市6个县级区划） (create the city database)."""
    from fieldapp.city import db

    try:
        db.init(db_path).close()
    except db.CityDbError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"已创建市级数据库 {db_path}")


@city.command("enroll", context_settings=CONTEXT)
@db_option(CITY_DB_HELP, required=True, exists=True)
@click.argument("key_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--yes", is_flag=True, help="不再询问（已核对指纹） (do not ask: the fingerprint was checked)."
)
def city_enroll(db_path: Path, key_file: Path, yes: bool) -> None:
    """登记区县：区级公钥文件 (enrol a district from its public key file)."""
    from fieldapp.city.merge import Refused, enroll
    from fieldapp.crypto import KeyError_
    from fieldapp.district_keys import read_district_public

    try:
        key = read_district_public(key_file)
    except KeyError_ as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"区县 district {key.district_code}")
    click.echo(f"签名指纹 signing fingerprint: {key.sign_fingerprint or '（无 none）'}")
    if not yes and not click.confirm(
        "与区里显示的签名指纹一致吗？(does it match the district's signing fingerprint?)", err=True
    ):
        raise click.ClickException("未登记 (not enrolled)")
    conn = _city(db_path)
    try:
        enroll(conn, key)
    except Refused as e:
        raise click.ClickException(f"未登记：{e}") from None
    finally:
        conn.close()
    click.echo("已登记 (enrolled)")


@city.command("merge", context_settings=CONTEXT)
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@db_option(CITY_DB_HELP, required=True, exists=True)
def city_merge(source: Path, db_path: Path) -> None:
    """合并指标包（目录或单个文件） (merge indicator bundles: a folder or one file)."""
    from fieldapp.city.merge import Refused, merge_file

    files = sorted(source.glob("*.fieldbundle")) if source.is_dir() else [source]
    if not files:
        raise click.ClickException(f"{source} 中没有 .fieldbundle 文件")
    conn = _city(db_path)
    refused = 0
    words = {
        "merged": "已合并",
        "replaced": "已合并（替换旧包）",
        "duplicate": "已合并过，跳过",
        "older": "比现有的旧：存档，不替换",
    }
    try:
        for f in files:
            try:
                m = merge_file(conn, f)
            except Refused as e:
                refused += 1
                click.echo(f"拒收 {f.name}：{e}", err=True)
                continue
            click.echo(f"{f.name}：{words[m.outcome]}（{m.district} {m.year}）")
    finally:
        conn.close()
    if refused:
        raise click.ClickException(f"{refused}个指标包被拒收 (refused)")


@city.command("report", context_settings=CONTEXT)
@db_option(CITY_DB_HELP, required=True, exists=True)
@click.option("--year", type=YEAR, default=None, help="年份 (year; default: this year).")
@click.option("--xlsx", "xlsx_path", type=click.Path(dir_okay=False, path_type=Path), default=None)
def city_report(db_path: Path, year: int | None, xlsx_path: Path | None) -> None:
    """全市报表：各区并列与全市合计 (each district side by side and the city totals)."""
    from fieldapp.city import report

    conn = _city(db_path)
    try:
        r = report.build(conn, year or date.today().year)
    finally:
        conn.close()
    for line in report.lines(r):
        click.echo(line)
    if xlsx_path:
        report.write_xlsx(r, xlsx_path)
        click.echo(f"已写出 {xlsx_path}")
