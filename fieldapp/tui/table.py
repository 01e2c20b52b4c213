"""A DataTable that paints its rows once when a screen opens (issue 20: start-up).

Textual's DataTable drops every rendered cell on each `Resize` event, its size's or its virtual
size's: that is how it learns that its columns' widths changed (it measures new rows when idle,
sometimes after they were painted). But a table's first `Resize` often arrives after the first
paint with nothing changed at all, and every screen with a table then drew all its visible cells
twice before its data could be read: about a fifth of the dashboard's start-up.

This table decides instead. It measures new rows before it paints, as DataTable would once idle
(so it never paints a page with its header's widths first), and it remembers what its cells were
painted from: its size, its virtual size and each column's width. It drops them only when one of
those changed since. `Resize` itself then has nothing left to do.
"""

from __future__ import annotations

from typing import Any

from textual import events
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widgets import DataTable


class PaintOnce(DataTable[Any]):
    """A DataTable that renders its cells again only when their size or widths changed."""

    _painted: tuple[Size, Size, tuple[int, ...]] | None = None

    def _paint_state(self) -> tuple[Size, Size, tuple[int, ...]]:
        widths = tuple(c.get_render_width(self) for c in self.ordered_columns)
        return self.size, self.virtual_size, widths

    def _measure(self) -> None:
        """DataTable's `_on_idle` work, now: the widths of updated cells and of new rows."""
        if self._updated_cells:
            cells = self._updated_cells.copy()
            self._updated_cells.clear()
            self._update_column_widths(cells)
        if self._require_update_dimensions:
            self._require_update_dimensions = False
            rows = self._new_rows.copy()
            self._new_rows.clear()
            self._update_dimensions(rows)

    def render_lines(self, crop: Region) -> list[Strip]:
        self._measure()
        state = self._paint_state()
        if state != self._painted:
            if self._painted is not None:
                self._update_count += 1  # part of every cache key: the cells are rendered again
            self._painted = state
        return super().render_lines(crop)

    def _on_resize(self, event: events.Resize) -> None:
        event.prevent_default()  # DataTable's would drop every cell; render_lines decides that
