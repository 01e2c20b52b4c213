"""The worker's export screen and the supervisor's merge screen, driven with Pilot on real files."""

from __future__ import annotations

import json
import shutil
import zipfile
from datetime import date
from pathlib import Path

import pytest
from textual.widgets import Checkbox, DataTable, Input, Label, Static, TabbedContent

from fieldapp import __version__
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


async def test_the_database_watcher_does_nothing_once_the_app_stops(
    demo: Path, tmp_path: Path
) -> None:
    """The two-second watcher (another connection committed: the screen re-reads) neither reads the
    store nor reloads a screen once the app is stopping: a CI run saw it reload the export screen
    while the app shut down, whose widgets were already gone (NoMatches '#sync-keys')."""
    db = tmp_path / "device.db"
    shutil.copy(demo, db)
    app = FieldApp(db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("9")
        await pilot.pause()
        assert isinstance(app.screen, SyncScreen)
    assert not app.is_running  # stopped: the store is closed and the screens are gone
    app._watch_database()  # one more tick of its timer: nothing happens, nothing is raised


async def test_export_screen_needs_the_district_key_installs_it_and_exports_sealed(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fieldapp import crypto

    monkeypatch.setenv("FIELDAPP_KDF", "interactive")
    db = tmp_path / "device.db"
    shutil.copy(demo, db)
    usb = tmp_path / "usb"
    usb.mkdir()
    pub, _, fp = crypto.district_keygen(tmp_path / "keys", "correct horse battery")
    app = FieldApp(db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("9")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SyncScreen)
        screen.query_one("#sync-folder", Input).value = str(usb)
        await pilot.press("ctrl+e")  # no district key yet: refused with the reason, nothing written
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "区级公钥" in str(screen.query_one("#sync-status", Static).render())
        assert not usb.exists() or not list(usb.glob("*.fieldbundle"))
        screen.query_one("#sync-key-file", Input).value = str(
            tmp_path / "keys" / "district.private.json"
        )
        screen.query_one("#sync-key-file", Input).focus()
        await pilot.press("enter")  # the private key file is not a public key: refused
        await pilot.pause()
        assert "不是区级公钥文件" in str(screen.query_one("#sync-status", Static).render())
        shown = str(screen.query_one("#sync-version", Label).render())
        assert f"fieldapp 版本 {__version__}" in shown  # who still needs the update
        screen.query_one("#sync-key-file", Input).value = str(pub)
        await pilot.press("enter")
        await pilot.pause()
        assert fp in str(screen.query_one("#sync-status", Static).render())
        assert fp in str(screen.query_one("#sync-keys", Static).render())
        await pilot.press("ctrl+e")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "✓" in str(screen.query_one("#sync-status", Static).render())
        assert screen.query_one("#sync-history", DataTable).row_count == 1
        await pilot.press("ctrl+e")  # nothing new since: refused with the reason, nothing written
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "没有新的记录" in str(screen.query_one("#sync-status", Static).render())
    files = list(usb.glob("*.fieldbundle"))
    assert len(files) == 1 and files[0].name.startswith("321202001901-")
    assert json.loads(zipfile.ZipFile(files[0]).read("manifest.json"))["format_version"] == 2


async def test_export_screen_says_which_stick_fault_stopped_the_export(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No folder (the stick is not plugged in), then a full stick: a message each, nothing written."""
    import errno
    import os

    from fieldapp import crypto

    db = tmp_path / "device.db"
    shutil.copy(demo, db)
    pub, _, _ = crypto.district_keygen(tmp_path / "keys", "correct horse battery")
    with Store.open(db) as s:
        s.install_district_key(*crypto.load_district_public(pub))
    stick = tmp_path / "stick"
    app = FieldApp(db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("9")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SyncScreen)
        screen.query_one("#sync-folder", Input).value = str(stick)
        await pilot.press("ctrl+e")
        await app.workers.wait_for_complete()
        await pilot.pause()
        shown = str(screen.query_one("#sync-status", Static).render())
        assert shown.startswith("✗ 未找到U盘文件夹") and not stick.exists()
        stick.mkdir()
        real = os.fsync
        root = str(stick.resolve())

        def full(fd: int) -> None:  # the stick reports ENOSPC when the bundle is flushed
            if os.readlink(f"/proc/self/fd/{fd}").startswith(root):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            real(fd)

        monkeypatch.setattr(os, "fsync", full)
        await pilot.press("ctrl+e")
        await app.workers.wait_for_complete()
        await pilot.pause()
        shown = str(screen.query_one("#sync-status", Static).render())
        assert shown.startswith("✗ U盘已满")
        assert list(stick.iterdir()) == []
        assert screen.query_one("#sync-history", DataTable).row_count == 0


async def test_district_screen_lists_merges_and_summarises(demo: Path, tmp_path: Path) -> None:
    from fieldapp.sync.export import export

    device = tmp_path / "device.db"
    shutil.copy(demo, device)
    usb = tmp_path / "usb"
    with Store.open(device) as s:
        export(s, usb, allow_v1=True, mkdir=True)
    (usb / "broken.fieldbundle").write_text("not a zip")
    district(tmp_path / "district.db", device).close()
    app = DistrictApp(tmp_path / "district.db", folder=usb)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MergeScreen)
        table = screen.query_one(DataTable)
        assert table.row_count == 2
        [bundle] = [f.name for f in usb.glob("*.fieldbundle") if f.name != "broken.fieldbundle"]
        labels = [str(c.label) for c in table.ordered_columns]
        assert labels == ["✓", "文件", "状态", "社区/村", "月份", "seq"]

        def cell(row: str, column: str) -> str:
            return str(table.get_row(row)[labels.index(column)])

        assert cell(bundle, "文件") == bundle and cell(bundle, "状态") == "新"
        assert cell(bundle, "社区/村") != "" and cell(bundle, "✓") == "✓"
        assert cell("broken.fieldbundle", "文件") == "broken.fieldbundle"
        assert cell("broken.fieldbundle", "状态").startswith("无效：")
        assert cell("broken.fieldbundle", "✓") == ""  # only new bundles are preselected
        screen.query_one("#merge-v1", Checkbox).value = True  # these test bundles are format 1
        await pilot.press("m")
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = screen_text(app)
        assert "导入汇总" in text and "已合并 1" in text and "已合并过" in text
    with Store.open(tmp_path / "district.db") as d, Store.open(device) as s:
        assert current_tables(d.conn) == current_tables(s.conn)
        kept = d.conn.execute("SELECT year FROM report_cache").fetchall()
        assert [r[0] for r in kept] == [date.today().year]  # the merge left the year's report


async def test_district_indicators_drill_down_and_a_review_decision(
    demo: Path, tmp_path: Path
) -> None:
    from fieldapp import review
    from fieldapp.sync.export import export
    from fieldapp.sync.merge import merge_files
    from fieldapp.tui.decision import DecisionDialog
    from fieldapp.tui.district_report import IndicatorScreen, ReviewScreen

    from ..conftest import elder_data, make_id

    device = tmp_path / "device.db"
    shutil.copy(demo, device)
    with Store.open(device) as s:
        s.create("elder", elder_data(name="重复甲", id_number=make_id(date(1939, 9, 9), False, 42)))
        s.create("elder", elder_data(name="重复乙", id_number=make_id(date(1939, 9, 9), False, 42)))
        path = export(s, tmp_path / "usb", allow_v1=True, mkdir=True).path
    d = district(tmp_path / "district.db", device)
    d.conn.execute("UPDATE device SET worker = '王主任'")  # district init --supervisor
    merge_files(d.conn, [path], allow_v1=True)
    d.close()
    app = DistrictApp(tmp_path / "district.db", folder=tmp_path / "usb")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, IndicatorScreen) and screen.loaded
        assert "海陵区" in screen_text(app) and "居家上门服务覆盖率" in screen_text(app)
        sub = screen.query_one(DataTable)
        assert sub.row_count == 11  # the streets
        sub.focus()
        sub.move_cursor(row=0)  # 城东街道
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.path[-1][1] == "321202001" and "城东街道" in screen_text(app)
        await pilot.press("backspace")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert len(screen.path) == 1
        out = tmp_path / "report.xlsx"
        screen.query_one("#ind-out", Input).value = str(out)
        await pilot.press("ctrl+x")
        await app.workers.wait_for_complete()
        assert out.exists() and out.stat().st_size > 5000
        await pilot.press("f4")
        await pilot.pause()
        rv = app.screen
        assert isinstance(rv, ReviewScreen)
        rv.query_one("#review-tabs", TabbedContent).active = "tab-dups"
        await pilot.pause()
        table = rv.query_one("#rv-dups", DataTable)
        assert table.row_count == 1
        table.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DecisionDialog)
        assert "重复甲" in screen_text(app) and "重复乙" in screen_text(app)
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen) and table.row_count == 0
    with Store.open(tmp_path / "district.db") as d2:
        row = d2.conn.execute("SELECT status, decision, decided_by FROM review_items").fetchone()
        assert (row["status"], row["decision"]) == ("resolved", "different") and row["decided_by"]
        assert review.counts(d2.conn)["duplicate_person"] == 0


async def test_district_conflict_decided_in_the_review_screen(tmp_path: Path) -> None:
    """Two laptops edit the same elder; the supervisor keeps the version that lost (F4, A or B)."""
    from fieldapp import review
    from fieldapp.store.district import set_supervisor
    from fieldapp.sync.export import export
    from fieldapp.sync.merge import merge_files
    from fieldapp.tui.decision import DecisionDialog
    from fieldapp.tui.district_report import ReviewScreen

    from ..conftest import COMMUNITY, STREET, elder_data
    from ..sync.helpers import clone_laptop

    a = Store.open(tmp_path / "a.db")
    a.setup_device(street_code=STREET, community_code=COMMUNITY, worker="周红")
    rid = a.create("elder", elder_data(phone="13800000000")).record_id
    first = export(a, tmp_path / "usb", allow_v1=True, mkdir=True)
    b = clone_laptop(a, tmp_path / "b.db")
    b.update("elder", rid, elder_data(phone="13811111111"))
    a.update("elder", rid, elder_data(phone="13822222222"))
    bundles = [
        first.path,
        export(a, tmp_path / "usb", allow_v1=True, mkdir=True).path,
        export(b, tmp_path / "usb2", allow_v1=True, mkdir=True).path,
    ]
    d = district(tmp_path / "district.db", a, b)
    a.close()
    b.close()
    with d.transaction():
        set_supervisor(d.conn, "王主任")
    merge_files(d.conn, bundles, allow_v1=True)
    [c] = review.conflicts(d.conn)
    _, left, right = review.conflict_sides(d.conn, c["id"])
    current = d.conn.execute("SELECT version_id FROM elder WHERE id = ?", (rid,)).fetchone()[0]
    d.close()
    loser_key, loser = ("a", left) if left.version_id != current else ("b", right)
    app = DistrictApp(tmp_path / "district.db", folder=tmp_path / "usb")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ReviewScreen)
        table = screen.query_one("#rv-conflicts", DataTable)
        assert table.row_count == 1
        table.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DecisionDialog)
        text = screen_text(app)
        assert "13811111111" in text and "13822222222" in text
        await pilot.press("s")  # not a key of a conflict: nothing is decided
        await pilot.pause()
        assert isinstance(app.screen, DecisionDialog)
        await pilot.press(loser_key)
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen) and table.row_count == 0
    with Store.open(tmp_path / "district.db") as d2:
        row = d2.conn.execute("SELECT phone, version_id FROM elder WHERE id = ?", (rid,)).fetchone()
        decided = d2.conn.execute(
            "SELECT status, decision, decided_by, decision_version_id FROM conflicts"
        ).fetchone()
        assert tuple(decided) == ("resolved", loser.version_id, "王主任", row["version_id"])
        assert row["phone"] == loser.payload["phone"]
