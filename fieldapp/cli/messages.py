"""Every refusal the CLI prints goes out without control characters or terminal escape sequences.

A refusal quotes what it refused: a record id, a file name, a device label, a reason built from
a bundle's line. Each module cleans the values it formats (`fieldapp.text.clean`); this group
cleans the whole message once more where click prints it, so a message that forgot cannot rewrite
the supervisor's terminal (issue 13: escapes reached it through error messages, even piped).
"""

from __future__ import annotations

from typing import Any

import click

from fieldapp.text import clean


class CleanGroup(click.Group):
    """The `fieldapp` group: a `ClickException` (a refusal, a usage error) raised by any command
    below it has its message cleaned before click shows it; its exit code stays (1, or 2 for a
    usage error)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as e:
            cleaned = clean(e.message, lines=True)
            if cleaned == e.message:
                raise  # as it was, a usage error with its usage line
            if isinstance(e, click.UsageError):  # exit code 2, the usage line
                raise click.UsageError(cleaned, e.ctx) from None
            raise click.ClickException(cleaned) from None


def say(text: str, *, err: bool = False) -> None:
    """`click.echo` for a line holding values read from a database or a file: cleaned, newlines kept."""
    click.echo(clean(text, lines=True), err=err)
