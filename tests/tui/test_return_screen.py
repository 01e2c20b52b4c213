"""The 同步 screen imports the district's return bundles and says which bundles the district has."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Button, Static

from fieldapp.tui.app import FieldApp
from fieldapp.tui.screens.sync import SyncScreen

from ..conftest import elder_data
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
