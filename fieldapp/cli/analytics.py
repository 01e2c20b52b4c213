"""`fieldapp district analytics-export`: the district's de-identified Parquet files for its own
analysts (DuckDB, the optional extra `fieldapp[analytics]`)."""

from __future__ import annotations

from pathlib import Path

import click

from fieldapp.cli.common import CONTEXT, DISTRICT_DB_HELP, db_option


@click.command("analytics-export", context_settings=CONTEXT)
@db_option(DISTRICT_DB_HELP, required=True, exists=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--overwrite", is_flag=True, help="覆盖非空目录 (replace what the folder holds).")
def analytics_export(db_path: Path, out_dir: Path, overwrite: bool) -> None:
    """导出去标识化的Parquet分析数据（留在区里） (write de-identified Parquet, kind/year=YYYY/)."""
    from fieldapp import db
    from fieldapp.analytics.export import ExportError, export

    try:
        conn = db.connect(db_path, create=False)
    except db.DatabaseError as e:
        raise click.ClickException(str(e)) from None
    try:
        done = export(conn, out_dir, overwrite=overwrite)
    except ExportError as e:
        raise click.ClickException(str(e)) from None
    finally:
        conn.close()
    rows = sum(done.rows.values())
    click.echo(
        f"已导出 {rows:,} 行 → {out_dir}（{done.years[0]}–{done.years[-1]}年，{done.seconds:.1f} 秒）"
    )
    click.echo(f"说明：{out_dir / 'README.md'}")
