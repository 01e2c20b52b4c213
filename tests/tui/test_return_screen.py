"""The 同步 screen imports the district's return bundles and says which bundles the district has."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from textual.widgets import Button, Static

from fieldapp.tui.app import FieldApp
from fieldapp.tui.screens.sync import SyncScreen

from ..conftest import elder_data, make_id
from ..sync.return_helpers import net

SIZE = (120, 34)


async def test_the_sync_screen_imports_a_return_bundle(tmp_path: Path) -> None:
    n = net(tmp_path)
    a, b = n.laptop("a"), n.laptop("b")
    a.create("elder", elder_data())
    first = n.export("a")
    assert first is not None and n.merge(first) == ["merged"]
    path = n.returns()[a.device().community_code].path  # type: ignore[union-attr]
    assert path is not None
    usb = path.parent
    first.rename(usb / first.name)  # the laptop's own bundle beside it is skipped, not refused
    app = FieldApp(tmp_path / "a.db")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("9")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SyncScreen)
        assert "尚未导入区里的回传包" in str(screen.query_one("#sync-acks", Static).render())
        screen.query_one("#sync-folder").value = str(usb)  # type: ignore[attr-defined]
        screen.query_one("#sync-import", Button).press()
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "✓ 导入 1 个，已导入过 0 个，未导入 0 个" in str(
            screen.query_one("#sync-status", Static).render()
        )
        assert "区里已收到第 1 个同步包" in str(screen.query_one("#sync-acks", Static).render())
        screen.query_one("#sync-import", Button).press()
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "导入 0 个，已导入过 1 个" in str(screen.query_one("#sync-status", Static).render())
    assert b.conn.execute("SELECT count(*) FROM elder").fetchone()[0] == 0  # b has not imported


async def test_a_colleagues_elder_says_who_recorded_it_in_the_lists(tmp_path: Path) -> None:
    """Issue 14 point 8: after a return bundle, laptop a's elder list and due list name laptop
    b's worker beside b's elder, and nothing beside a's own."""
    from textual.widgets import DataTable

    n = net(tmp_path)
    a, b = n.laptop("a"), n.laptop("b")
    a.create("elder", elder_data(name="甲自己"))
    b.create("elder", elder_data(name="乙同事", id_number=make_id(date(1941, 5, 6), male=False)))
    files = [n.export("a"), n.export("b")]
    assert all(f is not None for f in files)
    assert n.merge(*[f for f in files if f is not None]) == ["merged", "merged"]
    path = n.returns()[a.device().community_code].path  # type: ignore[union-attr]
    assert path is not None and n.import_("a", path).status == "applied"
    app = FieldApp(tmp_path / "a.db")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        due = app.screen.query_one(DataTable)
        by_name = {str(due.get_row_at(i)[0]): due.get_row_at(i) for i in range(due.row_count)}
        assert set(by_name) == {"甲自己", "乙同事"}
        assert str(by_name["乙同事"][-1]) == "b" and str(by_name["甲自己"][-1]) == ""
        await pilot.press("2")
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        column = [str(c.label) for c in table.columns.values()].index("记录人")
        shown = {str(table.get_row_at(i)[0]): str(table.get_row_at(i)[column]) for i in range(2)}
        assert shown == {"甲自己": "", "乙同事": "b"}
