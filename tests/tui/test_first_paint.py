"""Issue 20, start-up: the dashboard's due list is painted once when the app opens, and again
only when the terminal's size really changes; the start-up's objects are out of the collector's way."""

from __future__ import annotations

import gc
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable

from fieldapp.tui.app import FieldApp
from fieldapp.tui.screens.dashboard import DashboardScreen

from ..conftest import elder_data, make_id
from .capture import screen_text
from .helpers import worker_device


def _elders(path: Path, n: int) -> None:
    with worker_device(path) as s:
        for i in range(n):
            born = date(1940, 1, 1 + i % 28)
            s.create("elder", elder_data(name=f"老人{i:02d}", id_number=make_id(born, True, i + 1)))


async def test_the_due_list_is_painted_once_and_again_after_a_real_resize(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _elders(db_path, 40)
    painted: Counter[Any] = Counter()  # row key → how often its line was rendered
    render = DataTable._render_line_in_row

    def counted(self: DataTable[Any], row_key: Any, *args: Any, **kwargs: Any) -> Any:
        painted[row_key.value] += 1
        return render(self, row_key, *args, **kwargs)

    monkeypatch.setattr(DataTable, "_render_line_in_row", counted)
    app = FieldApp(db_path)
    async with app.run_test(size=(100, 34)) as pilot:
        await pilot.pause(0.3)
        assert isinstance(app.screen, DashboardScreen) and app.screen.loaded
        table = app.screen.query_one("#due", DataTable)
        assert table.row_count == app.screen.due_rows == 22
        # the header and each row once: Textual's own DataTable paints them all twice, since the
        # first Resize (to the size just painted) drops every rendered cell
        assert len(painted) == table.row_count + 1 and set(painted.values()) == {1}
        await pilot.resize_terminal(130, 40)
        await pilot.pause(0.3)
        assert table.size.width == 130
        assert max(painted.values()) == 2  # a new size paints again
        text = screen_text(app)
        assert "老人00" in text and text.splitlines()[3].rstrip() != ""


def test_the_app_keeps_its_start_up_objects_out_of_the_collector(db_path: Path) -> None:
    _elders(db_path, 1)
    app = FieldApp(db_path)
    try:
        assert gc.get_freeze_count() > 10_000  # modules, classes, the store: frozen once
    finally:
        app.store.close()
