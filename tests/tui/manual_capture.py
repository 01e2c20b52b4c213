"""Text captures of the worker's screens (for the manual): the app's own SVG screenshot laid back onto a grid of cells.

Textual's public `export_screenshot()` draws each run of text at its cell's x position; putting
each run back at its column (Chinese characters are two cells wide) gives the screen as the
worker sees it, without reading Textual's private compositor.
"""

from __future__ import annotations

import html
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date

from rich.cells import cell_len
from textual.app import App
from textual.pilot import Pilot

_SPAN = re.compile(
    r'<text[^>]*?x="([\d.]+)"[^>]*?textLength="([\d.]+)"[^>]*?'
    r'clip-path="url\(#[^"]*-line-(\d+)\)"[^>]*>(.*?)</text>',
    re.S,
)


def svg_text(svg: str, size: tuple[int, int]) -> str:
    """The screen's characters from `App.export_screenshot()`: one line per terminal row,
    trailing spaces cut."""
    width, height = size
    grid: list[list[str]] = [[" "] * width for _ in range(height)]
    spans = [
        (float(x), float(n), int(line), html.unescape(t)) for x, n, line, t in _SPAN.findall(svg)
    ]
    # a cell's width in the picture: from a run of ASCII (textLength counts characters, not cells)
    cell = next((n / len(t) for _, n, _, t in spans if t and t.isascii()), 12.2)
    for x, _, line, text in spans:
        col = round(x / cell)
        for ch in text.replace("\xa0", " "):
            w = cell_len(ch)
            if 0 <= line < height and 0 <= col < width:
                grid[line][col] = ch
                if w == 2 and col + 1 < width:
                    grid[line][col + 1] = ""
            col += w
    return "\n".join("".join(row).rstrip() for row in grid)


class _FixedDate(date):
    """`date` whose today() is the capture's day (set by `frozen_today`)."""

    day = date(2026, 11, 30)

    @classmethod
    def today(cls) -> _FixedDate:
        d = cls.day
        return cls(d.year, d.month, d.day)


@contextmanager
def frozen_today(day: date) -> Iterator[None]:
    """Every fieldapp module that says `date.today()` (or `kinds.today()`) sees `day`, so the
    captures do not change with the calendar. Modules imported later are not patched: import the
    app first."""
    import fieldapp.kinds
    import fieldapp.tui.app  # noqa: F401  (the screens and forms it loads are patched too)

    _FixedDate.day = day
    patched: list[tuple[object, str, object]] = []
    for name, mod in list(sys.modules.items()):
        if name.startswith("fieldapp") and getattr(mod, "date", None) is date:
            patched.append((mod, "date", date))
            mod.date = _FixedDate  # type: ignore[attr-defined]
    patched.append((fieldapp.kinds, "today", fieldapp.kinds.today))
    fieldapp.kinds.today = lambda: day
    try:
        yield
    finally:
        for mod, attr, old in patched:
            setattr(mod, attr, old)


async def capture(
    app: App[None], size: tuple[int, int] = (80, 24), keys: Sequence[str] = ()
) -> str:
    """The screen after the app starts and `keys` are pressed, as text."""
    return (await captures(app, [keys], size))[0]


async def captures(
    app: App[None], steps: Sequence[Sequence[str]], size: tuple[int, int] = (80, 24)
) -> list[str]:
    """One run of the app, a capture after each step's keys: screens one after another cost one
    start-up (on a busy machine a start costs seconds)."""
    out = []
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        for keys in steps:
            for key in keys:
                await pilot.press(key)
                await pilot.pause()
            await _settle(pilot)
            out.append(svg_text(app.export_screenshot(), size))
    return out


async def _settle(pilot: Pilot[None]) -> None:
    """Long enough for a screen's after-mount loading (workers, timers) to have drawn."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.05)
