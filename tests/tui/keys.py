"""Pilot helpers that fill a form the way a worker does: focus a field, then press keys."""

from __future__ import annotations

from textual.pilot import Pilot

from fieldapp.tui.forms import RecordForm


async def type_into(pilot: Pilot[None], form: RecordForm, field: str, text: str) -> None:
    """Clear the field's input and type `text` key by key."""
    form.rows[field].control.focus()
    await pilot.press("end", "ctrl+u", *text)


async def choose(pilot: Pilot[None], form: RecordForm, field: str, label: str) -> None:
    """Open the field's drop-down, type (part of) the label shown, take it with Enter."""
    form.rows[field].control.focus()
    await pilot.press("enter", *label, "enter")
    await pilot.pause()
