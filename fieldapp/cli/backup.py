"""`fieldapp backup`: a copy of the database now (next to it, or on a stick with --to), the list of copies, and restoring one."""

from __future__ import annotations

from pathlib import Path

import click

from fieldapp.cli.common import CONTEXT, db_file, db_option, open_store

REASONS = {
    "manual": "手动",
    "daily": "每日",
    "pre-merge": "合并前",
    "pre-restore": "恢复前",
    "pre-v4": "升级前",
}


@click.group(context_settings=CONTEXT, invoke_without_command=True)
@db_option()
@click.option(
    "--to",
    "to_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="复制到另一个文件夹，如U盘或网络共享 (copy into another folder: a USB stick, a share).",
)
@click.pass_context
def backup(ctx: click.Context, db_path: Path | None, to_dir: Path | None) -> None:
    """备份数据库：现在复制一份 (back up the database now; `list` and `restore` below).

    Without --to the copy goes next to the database (the last 7 of each kind are kept); a copy
    on the same disk does not survive that disk, so copy to a stick or a share with --to.
    """
    if ctx.invoked_subcommand is not None:
        if (
            db_path is not None
        ):  # `fieldapp backup --db X list`: the subcommand's --db falls back to it
            root = ctx.find_root()
            root.ensure_object(dict)["db_path"] = db_path
        return
    from fieldapp import backup as bk

    with open_store(db_path) as store:
        try:
            copy = bk.snapshot(store.conn, "manual", folder=to_dir)
        except bk.BackupError as e:
            raise click.ClickException(str(e)) from None
        except OSError as e:
            raise click.ClickException(f"备份失败：{e.strerror or e}（backup failed）") from None
    click.echo(f"已备份到 {copy}（backed up）")


@backup.command("list", context_settings=CONTEXT)
@db_option()
def backup_list(db_path: Path | None) -> None:
    """列出数据库旁的备份，最新的在最后 (list the copies next to the database, newest last)."""
    from fieldapp import backup as bk

    path = db_file(db_path)
    copies = bk.list_backups(path)
    if not copies:
        click.echo(f"{path.name} 没有备份 (no backups)")
        return
    for c in copies:
        when = f"{c.stamp[:4]}-{c.stamp[4:6]}-{c.stamp[6:8]} {c.stamp[9:11]}:{c.stamp[11:13]}"
        reason = REASONS.get(c.reason, c.reason)
        click.echo(f"{when}  {reason:<4} {c.size / 1e6:>8.1f} MB  {c.path.name}")


@backup.command("restore", context_settings=CONTEXT)
@db_option()
@click.argument("name", required=False)
@click.option("--yes", is_flag=True, help="不再询问，直接恢复 (do not ask: for scripts).")
def backup_restore(db_path: Path | None, name: str | None, yes: bool) -> None:
    """用备份替换数据库（默认最新的一份），先备份当前文件 (replace the database with a copy, the newest by default; the current file is copied first).

    Close the app (and any other program using the database) first.
    """
    from fieldapp import backup as bk

    path = db_file(db_path)
    try:
        copy = bk.find(path, name)
        if not yes:
            click.confirm(
                f"用 {copy.name} 替换 {path}？当前文件会先备份 (replace the database with this copy?)",
                abort=True,
                err=True,
            )
        before = bk.restore(path, copy)
    except bk.BackupError as e:
        raise click.ClickException(str(e)) from None
    except OSError as e:
        raise click.ClickException(f"恢复失败：{e.strerror or e}（restore failed）") from None
    if before is not None:
        click.echo(f"原文件已备份为 {before.name}（the current file was kept）")
    click.echo(f"已从 {copy.name} 恢复 {path}（restored）")
