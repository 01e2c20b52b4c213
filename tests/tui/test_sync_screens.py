"""The worker's export screen and the supervisor's merge screen, driven with Pilot on real files."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static

from fieldapp.demo import generate_community
from fieldapp.store import Store
from fieldapp.tui.app import FieldApp
from fieldapp.tui.district import DistrictApp, MergeScreen
from fieldapp.tui.screens.sync import SyncScreen

from ..sync.helpers import current_tables, district
from .test_app import screen_text

SIZE = (100, 34)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "device.db"
    generate_community(path, seed=3, today=date(2026, 6, 30), elders=30)
    return path


async def test_export_screen_writes_a_bundle_and_lists_it(demo: Path, tmp_path: Path) -> None:
    db = tmp_path / "device.db"
    shutil.copy(demo, db)
    usb = tmp_path / "usb"
    app = FieldApp(db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("9")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SyncScreen)
        screen.query_one("#sync-folder", Input).value = str(usb)
        await pilot.press("ctrl+e")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "✓" in str(screen.query_one("#sync-status", Static).render())
        assert screen.query_one(DataTable).row_count == 1
        await pilot.press("ctrl+e")  # nothing new since: refused with the reason, nothing written
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "没有新的记录" in str(screen.query_one("#sync-status", Static).render())
    files = list(usb.glob("*.fieldbundle"))
    assert len(files) == 1 and files[0].name.startswith("321202001901-")


async def test_district_screen_lists_merges_and_summarises(demo: Path, tmp_path: Path) -> None:
    from fieldapp.sync.export import export

    device = tmp_path / "device.db"
    shutil.copy(demo, device)
    usb = tmp_path / "usb"
    with Store.open(device) as s:
        export(s, usb)
    (usb / "broken.fieldbundle").write_text("not a zip")
    district(tmp_path / "district.db").close()
    app = DistrictApp(tmp_path / "district.db", folder=usb)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MergeScreen)
        table = screen.query_one(DataTable)
        assert table.row_count == 2
        text = screen_text(app)
        assert "无效" in text and "新" in text
        await pilot.press("m")
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = screen_text(app)
        assert "导入汇总" in text and "已合并过" in text
    with Store.open(tmp_path / "district.db") as d, Store.open(device) as s:
        assert current_tables(d.conn) == current_tables(s.conn)
