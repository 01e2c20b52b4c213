"""The `fieldapp` group itself: version, language, and with no subcommand the worker's app (TUI)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

import click

from fieldapp import __version__, paths
from fieldapp.cli.common import CONTEXT, db_file, db_option
from fieldapp.cli.messages import CleanGroup


@click.group(cls=CleanGroup, context_settings=CONTEXT, invoke_without_command=True)
@click.version_option(__version__, "--version", "-V", prog_name="fieldapp")
@db_option()
@click.option(
    "--demo",
    is_flag=True,
    help="打开演示数据库（首次使用时生成）(open the demo database, made on first use).",
)
@click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    envvar="FIELDAPP_LANG",
    default="zh",
    show_default=True,
    help="界面语言 (UI language).",
)
@click.pass_context
def main(ctx: click.Context, db_path: Path | None, demo: bool, lang: str) -> None:
    """fieldapp：海陵区居家养老服务记录（离线）。

    Offline records of home visits, assessments, retrofits, meal counts and volunteer events
    for elderly-care community workers; monthly sync bundles to the district.
    Without a command, opens the worker's app (TUI).
    """
    ctx.ensure_object(dict)
    ctx.obj["lang"] = lang
    path = db_file(db_path)
    if demo:
        from fieldapp.cli.secure import demo_passphrase

        demo_passphrase()  # a fixed, printed passphrase unless FIELDAPP_PASSPHRASE is set
        path = paths.demo_db() if db_path is None else path
        if not path.exists():
            from fieldapp.demo import generate_community

            click.echo(f"正在生成演示数据库 {path} … (making the demo database)", err=True)
            generate_community(path)
    if demo or db_path is not None:
        ctx.obj["db_path"] = path  # every subcommand's --db falls back to it (common.db_file)
    if ctx.invoked_subcommand is not None:
        return
    try:
        from fieldapp.tui.app import run
    except ModuleNotFoundError:
        raise click.ClickException(
            "界面（TUI）尚未完成；请先使用子命令，见 fieldapp -h。(the TUI is not built yet: see `fieldapp -h` for the commands)"
        ) from None
    warning = old_console_warning(sys.platform, os.environ)
    if warning:
        click.echo(warning, err=True)
    from fieldapp.integrity import DatabaseError

    try:
        run(path, lang=lang)
    except (
        DatabaseError
    ) as e:  # damaged, newer, or not a fieldapp database: its reason, no traceback
        raise click.ClickException(str(e)) from None


def old_console_warning(platform: str, env: Mapping[str, str]) -> str | None:
    """On Windows outside Windows Terminal (which sets WT_SESSION) the old console shows fewer
    colours and may misalign Chinese: say so once, at start (the README and the kit's guide say
    where Windows Terminal comes from)."""
    if platform != "win32" or env.get("WT_SESSION"):
        return None
    return (
        "建议在 Windows Terminal 中使用 fieldapp：旧控制台颜色少，中文可能错位（见安装说明.md）。"
        " (use Windows Terminal: the old console has fewer colours and may misalign Chinese)"
    )
