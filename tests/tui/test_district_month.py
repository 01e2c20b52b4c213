"""The supervisor's month (issue 16), driven with key presses at 80×24 and 120×40 on real files:
refusals visible (1, 10), file before status (2), the key rows and the footer at 80 columns (3),
subfolders, the remembered folder and ticks after a folder switch (11), devices (8, 9), the checklist."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input

from fieldapp.devices import distinct_ids, short_device_id
from fieldapp.store import Store
from fieldapp.tui.district import ConfirmDialog, DistrictApp, MergeLogScreen, MergeScreen
from fieldapp.tui.screens.checklist import ChecklistScreen
from fieldapp.tui.screens.devices import DevicesScreen

from .district_world import PASS, PERIOD, World, build, copy, screen_lines, screen_text

SIZES = [(80, 24), (120, 40)]


@pytest.fixture(autouse=True)
def _fast_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDAPP_KDF", "interactive")


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> World:
    import os

    os.environ["FIELDAPP_KDF"] = "interactive"
    return build(tmp_path_factory.mktemp("month"))


@pytest.fixture
def world(month: World, tmp_path: Path) -> World:
    return copy(month, tmp_path / "w")


def _app(w: World) -> DistrictApp:
    return DistrictApp(w.db, folder=w.usb, key_file=w.key_file)


async def _merge(app: DistrictApp, pilot: object) -> MergeScreen:
    screen = app.screen
    assert isinstance(screen, MergeScreen)
    screen.query_one("#merge-pass", Input).value = PASS
    screen.query_one(DataTable).focus()
    await pilot.press("m")  # type: ignore[attr-defined]
    await app.workers.wait_for_complete()
    await pilot.pause()  # type: ignore[attr-defined]
    return screen


@pytest.mark.parametrize("size", SIZES)
async def test_a_refused_bundle_says_so_with_its_reason_and_the_log_counts_it(
    world: World, size: tuple[int, int]
) -> None:
    app = _app(world)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MergeScreen)
        table = screen.query_one(DataTable)
        # 11: both month folders are scanned; the enrolled device's bundle is ticked
        stranger = f"other/{world.stranger_bundle.name}"
        ours = f"{PERIOD}/{world.enrolled_bundle.name}"
        assert table.row_count == 2 and screen.selected == {ours}
        labels = [str(c.label) for c in table.ordered_columns]
        assert labels[:3] == ["✓", "文件", "状态"]  # 2: the file before its status
        assert str(table.get_row(stranger)[2]).startswith("拒收：设备")
        # the supervisor ticks the refused bundle too (cursor on it, space) and merges
        table.move_cursor(row=list(screen.status).index(stranger))
        await pilot.press("space")
        await _merge(app, pilot)
        text = screen_text(app)
        assert "已合并 1，已合并过 0，拒收 1，已取消 0" in text  # 10: the counts
        assert f"拒收  {world.stranger_bundle.name}：设备" in text  # 1: the refusal and its reason
        assert str(table.get_row(stranger)[2]).startswith("拒收")  # 1: not "✓ 新" after
        lines = screen_lines(app)
        assert any(world.stranger_bundle.name[:20] in line for line in lines)
        assert "f2" in lines[-1] and "f3" in lines[-1] and "f4" in lines[-1]  # 3: footer
        await pilot.press("l")  # 10: the whole log, scrollable, saved next to the database
        await pilot.pause()
        assert isinstance(app.screen, MergeLogScreen)
        saved = app.screen.saved
        assert saved is not None and saved.parent == world.db.parent
        assert "拒收 1" in saved.read_text(encoding="utf-8")
        assert world.stranger_bundle.name in saved.read_text(encoding="utf-8")
        await pilot.press("escape")
        await pilot.press("ctrl+o")  # a later scan still says refused
        await pilot.pause()
        assert str(table.get_row(stranger)[2]).startswith("拒收")


@pytest.mark.parametrize("size", SIZES)
async def test_the_key_row_and_passphrase_do_not_overlap_and_the_folder_is_remembered(
    world: World, size: tuple[int, int]
) -> None:
    app = DistrictApp(world.db, key_file=world.key_file)  # 11: no folder given
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MergeScreen)
        lines = screen_lines(app)
        key_line = next(x for x in lines if x.startswith("区级私钥文件："))
        assert "口令" not in key_line and str(world.key_file)[:30] in key_line  # 3
        assert any(x.startswith("口令：") for x in lines)
        folder = screen.query_one("#merge-folder", Input)
        folder.focus()  # a path typed in whole (one key per character cost 20 s), then Enter
        folder.value = str(world.usb / "other")
        await pilot.press("enter")
        await pilot.pause()
        assert screen.files == [world.stranger_bundle]
        folder.focus()
        folder.value = str(world.usb / PERIOD)
        await pilot.press("enter")
        await pilot.pause()
        assert screen.selected == {world.enrolled_bundle.name}  # 11: ticked after the switch
    again = DistrictApp(world.db, key_file=world.key_file)
    async with again.run_test(size=size) as pilot:
        await pilot.pause()
        assert again.screen.query_one("#merge-folder", Input).value == str(world.usb / PERIOD)


@pytest.mark.parametrize("size", SIZES)
async def test_devices_screen_enrols_from_a_bundle_and_revokes_after_naming_the_device(
    world: World, size: tuple[int, int]
) -> None:
    app = _app(world)
    async with app.run_test(size=size) as pilot:
        await _merge(app, pilot)
        await pilot.press("f5")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DevicesScreen)
        table = screen.query_one(DataTable)
        assert table.row_count == 1
        row = screen.rows[0]
        assert row.community_names == ["凤凰社区"] or row.community_names[0] != "321202001901"
        assert row.last is not None and row.last.seq == 1
        screen.query_one("#dev-file", Input).value = str(world.stranger_bundle)
        await pilot.press("ctrl+e")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        text = screen_text(app)
        with Store.open(world.stranger_db) as b:
            dev = b.device()
            assert dev is not None
            fp = __import__("fieldapp.crypto", fromlist=["x"]).fingerprint(
                __import__("base64").b64decode(b.keys()["sign_public"])
            )
        assert fp in text and short_device_id(dev.device_id) in text and "李明" in text
        await pilot.press("y")
        await pilot.pause()
        assert table.row_count == 2
        table.focus()
        table.move_cursor(row=1)
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        assert short_device_id(dev.device_id) in screen_text(app)
        await pilot.press("n")  # not confirmed: nothing revoked
        await pilot.pause()
        table.move_cursor(row=1)
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await pilot.pause()
    with Store.open(world.db) as d:
        states = {r["device_id"]: r["revoked_at"] for r in d.enrolled()}
    assert states[dev.device_id] is not None and sum(v is None for v in states.values()) == 1


def test_the_distinct_part_of_device_ids_made_minutes_apart() -> None:
    same_head = [
        "019ad757-1a2b-7c3d-8e4f-5a6b7c8d9e01",
        "019ad757-2b3c-7d4e-9f50-6b7c8d9e0f12",
        "019ad757-3c4d-7e5f-a061-7c8d9e0f1a01",
    ]
    assert [short_device_id(d) for d in same_head] == ["7c8d9e01", "8d9e0f12", "9e0f1a01"]
    shown = distinct_ids(same_head)
    assert shown == {same_head[0]: "9e01", same_head[1]: "0f12", same_head[2]: "1a01"}


@pytest.mark.parametrize("size", SIZES)
async def test_checklist_shows_received_refused_and_missing_sorts_and_exports(
    world: World, size: tuple[int, int]
) -> None:
    app = _app(world)
    async with app.run_test(size=size) as pilot:
        await _merge(app, pilot)
        await pilot.press("f6")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ChecklistScreen)
        by_code = {r.community_code: r for r in screen.shown}
        assert by_code["321202001901"].state == "received"
        assert by_code["321202001902"].state == "refused"
        assert "未登记" in by_code["321202001902"].reason
        assert screen.shown[0].community_code == "321202001902"  # worst first
        await pilot.press("s")
        await pilot.pause()
        assert screen.sort == "community" and screen.shown[0].community_code < "321202001901"
        out = world.root / "checklist.xlsx"
        screen.query_one("#cl-out", Input).value = str(out)
        await pilot.press("ctrl+x")
        await pilot.pause()
    with zipfile.ZipFile(out) as z:
        strings = z.read("xl/sharedStrings.xml").decode()
    assert "拒收" in strings and "已收到" in strings and "未登记" in strings
