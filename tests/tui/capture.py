"""Text captures of the worker's screens at 80×24: the snapshot tests and the manual use them.

`screen_text(app)` is what the terminal shows, one line a row, trailing blanks trimmed;
`capture(db_path, keys, ...)` starts the app on a database, presses `keys` and returns that text.
Deterministic: the calendar is pinned with FIELDAPP_TODAY by the caller, the demo has a seed.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Sequence
from pathlib import Path

from rich.cells import cell_len
from textual.app import App

SIZE = (80, 24)
TODAY = "2026-11-30"  # the day every capture is taken on (FIELDAPP_TODAY)


_TEXT = re.compile(
    r'<text [^>]*\bx="([\d.]+)"[^>]*clip-path="url\(#[\w-]+-line-(\d+)\)"[^>]*>([^<]*)</text>'
)
_CELL = 12.2  # rich's SVG: a cell is 0.61 × the 20-unit line height wide


def screen_text(app: App[None]) -> str:
    """The screen as text, one line a terminal row, from the app's public SVG screenshot: each
    fragment names its row and its column (x / cell width); a wide (CJK) glyph takes two cells."""
    rows: dict[int, list[str]] = {}
    for x, line, fragment in _TEXT.findall(app.export_screenshot()):
        row = rows.setdefault(int(line), [])
        col = round(float(x) / _CELL)
        text = html.unescape(fragment).replace("\xa0", " ")
        width = sum(cell_len(c) for c in row)
        row.append(" " * max(0, col - width) + text)
    height = app.size.height
    return "\n".join("".join(rows.get(i, [])).rstrip() for i in range(height)) + "\n"


async def capture(
    db_path: Path,
    keys: Sequence[str] = (),
    *,
    lang: str = "zh",
    size: tuple[int, int] = SIZE,
    today: str = TODAY,
) -> str:
    """Open the worker's app on `db_path`, press `keys`, and return the screen as text."""
    from fieldapp.tui.app import FieldApp

    os.environ["FIELDAPP_TODAY"] = today
    app = FieldApp(db_path, lang=lang)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        await pilot.pause(0.05)
        return screen_text(app)
