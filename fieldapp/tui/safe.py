"""Showing a user-supplied value in a widget as the literal text it is: never markup, never a control character.

A name such as `[/b]` typed by a worker, or a record id from a bundle carrying `ESC ] 0 ; …`,
is data. Textual parses a plain `str` given to a Static, a Label, a DataTable cell or a
notification as markup (`[/b]` raises `MarkupError`, `[red]` recolours the screen), and an escape
sequence would reach the terminal. So every such value is handed over as a `rich.text.Text`,
which Textual never parses, after `fieldapp.text.clean` removed what a terminal would obey.
Markup stays for our own words only; a line mixing both is built with `line(...)`.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.app import App
from textual.notifications import SeverityLevel

from fieldapp.text import clean


def safe(value: object, style: str | Style = "", *, lines: bool = False) -> Text:
    """`value` as literal text (None → empty), control characters and escape sequences removed;
    newlines kept only with `lines` (a message of several lines, never a table cell)."""
    if isinstance(value, Text):
        return value
    return Text("" if value is None else clean(value, lines=lines), style=style, end="")


def row(*values: object) -> list[Text]:
    """A DataTable row of literal cells: `table.add_row(*row(a, b, c), key=...)`."""
    return [safe(v) for v in values]


def line(*parts: object) -> Text:
    """One line joined from parts: a `(value, style)` pair is a styled part, anything else a plain
    one; every value literal (a name in bold keeps its brackets)."""
    out = Text(end="")
    for p in parts:
        if isinstance(p, tuple):
            value, style = p
            out.append_text(safe(value, style, lines=True))
        else:
            out.append_text(safe(p, lines=True))
    return out


class SafeNotify(App[None]):
    """Base of our Apps: every notification (an App's, a Screen's or a widget's `notify` all end
    here) is shown as literal text, its message and title cleaned. Messages quote file names,
    record ids and refusal reasons, any of which may come from an untrusted file."""

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        super().notify(
            clean(message, lines=True),
            title=clean(title),
            severity=severity,
            timeout=timeout,
            markup=False,
        )
