"""What every `fieldapp` command shares: the `--db` option, opening the store, progress and count printing."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from fieldapp import paths

if TYPE_CHECKING:
    from nacl.public import PrivateKey

    from fieldapp.store import Store

CONTEXT: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

WORKER_DB_HELP = "数据库文件 (database file; default: $FIELDAPP_DB or the per-user data dir)."
DISTRICT_DB_HELP = "区级数据库 (district database)."

Progress = Callable[[int | None, int | None], None]


def db_option(
    help: str = WORKER_DB_HELP, *, required: bool = False, exists: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The one `--db` option: every command names its database file this way, into `db_path`.

    Commands differ only in what the file is (worker or district), whether it is required,
    and whether it must already exist (read-only checks)."""
    return click.option(
        "--db",
        "db_path",
        type=click.Path(exists=exists, dir_okay=False, path_type=Path),
        required=required,
        default=None,
        help=help,
    )


def db_file(db_path: Path | None) -> Path:
    """The subcommand's `--db` beats the group's (`fieldapp --db x.db status`, or `--demo` for the
    demo database) beats $FIELDAPP_DB beats the per-user data dir: one rule for every command,
    read from the click context the group fills in."""
    if db_path is not None:
        return db_path
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root().obj if ctx is not None else None
    given = root.get("db_path") if isinstance(root, dict) else None
    if isinstance(given, Path):
        return given
    return paths.default_db()


def open_store(db_path: Path | None, *, create: bool = False) -> Store:
    """The store at `--db`; a missing or foreign file becomes a one-line refusal, not a traceback."""
    from fieldapp import db
    from fieldapp.store import Store

    try:
        return Store.open(db_file(db_path), create=create)
    except db.DatabaseError as e:
        raise click.ClickException(str(e)) from None


def district_key(key_file: Path) -> PrivateKey:
    """The district's private key, opened with the passphrase (FIELDAPP_KEY_PASSPHRASE, or asked)."""
    from fieldapp import crypto

    passphrase = os.environ.get("FIELDAPP_KEY_PASSPHRASE")
    if passphrase is None:
        passphrase = click.prompt(
            "区级私钥口令 (district key passphrase)", hide_input=True, err=True
        )
    try:
        return crypto.load_district_private(key_file, passphrase)
    except crypto.KeyError_ as e:
        raise click.ClickException(str(e)) from None


def progress_bar(label: str) -> Progress:
    """A progress bar on a terminal, nothing when piped; call with (None, None) to finish it."""
    if not sys.stderr.isatty():
        return lambda done, total: None
    started = False

    def update(done: int | None, total: int | None) -> None:
        nonlocal started
        if done is None:
            if started:
                click.echo("", err=True)
            started = False  # the next call starts a new line (one bar per bundle)
            return
        started = True
        width = 30
        frac = (done / total) if total else 1.0
        click.echo(
            f"\r{label} [{'#' * int(width * frac):<{width}}] {done}/{total}", nl=False, err=True
        )

    return update


def print_counts(counts: dict[str, int], versions: int) -> None:
    """Records per kind, labelled in both languages (Chinese characters are two cells wide)."""
    from rich.cells import cell_len

    from fieldapp.models import MODELS

    def pad(text: str, width: int) -> str:
        return text + " " * max(0, width - cell_len(text))

    for kind, n in counts.items():
        label = MODELS[kind].LABEL
        click.echo(f"  {pad(label[0], 14)}{label[1]:<24}{n:>9,}")
    click.echo(f"  {pad('版本', 14)}{'versions':<24}{versions:>9,}")
