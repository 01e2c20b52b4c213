"""Issue 16 point 12 in the merge screen, at 80×24 and 120×40 with key presses on real files: an
empty passphrase is asked for again (not "wrong passphrase"), and one large bundle moves the
progress bar by its versions, not only when it is done."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Input, ProgressBar

from fieldapp.store import Store
from fieldapp.sync import apply as apply_mod
from fieldapp.tui.district import DistrictApp, MergeScreen

from .district_world import PASS, World, build, copy

SIZES = [(80, 24), (120, 40)]


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> World:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FIELDAPP_KDF", "interactive")
        return build(tmp_path_factory.mktemp("small"))


@pytest.fixture
def world(month: World, tmp_path: Path) -> World:
    return copy(month, tmp_path / "w")


def _merged(db: Path) -> int:
    with Store.open(db) as d:
        return int(d.conn.execute("SELECT count(*) FROM bundles").fetchone()[0])


@pytest.mark.parametrize("size", SIZES)
async def test_an_empty_passphrase_is_asked_for_again(world: World, size: tuple[int, int]) -> None:
    app = DistrictApp(world.db, folder=world.usb, key_file=world.key_file)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MergeScreen)
        screen.query_one(DataTable).focus()
        await pilot.press("m")
        await pilot.pause()
        said = [n.message for n in app._notifications]
        assert said == ["请输入区级私钥口令"]
        assert app.focused is screen.query_one("#merge-pass", Input)
        await pilot.press(*PASS, "enter")
        screen.query_one(DataTable).focus()
        await pilot.press("m")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not any("口令不对" in n.message for n in app._notifications)
    assert _merged(world.db) == 1


@pytest.mark.parametrize("size", SIZES)
async def test_one_large_bundle_moves_the_bar_by_its_versions(
    world: World, size: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(apply_mod, "CHUNK_LINES", 5)  # the demo bundle: many chunks of 5
    seen: list[tuple[Any, Any]] = []
    update = ProgressBar.update

    def record(self: ProgressBar, **kw: Any) -> None:
        seen.append((kw.get("progress"), kw.get("total")))
        update(self, **kw)

    monkeypatch.setattr(ProgressBar, "update", record)
    app = DistrictApp(world.db, folder=world.usb, key_file=world.key_file)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MergeScreen) and screen.selected  # the enrolled device's bundle
        screen.query_one("#merge-pass", Input).value = PASS
        screen.query_one(DataTable).focus()
        await pilot.press("m")
        await app.workers.wait_for_complete()
        await pilot.pause()
    steps = [p for p, total in seen if total == 100 and p is not None]
    assert steps[-1] == 100
    assert len([p for p in steps if 0 < p < 100]) >= 3  # moved while the one bundle merged
    assert steps == sorted(steps)
    assert _merged(world.db) == 1


TREND_KEYS = ("coverage_pct", "retrofit_households", "meal_servings", "volunteer_events")


def _sparks(app: DistrictApp) -> dict[str, list[float]]:
    from textual.widgets import Sparkline

    return {k: list(app.screen.query_one(f"#spark-{k}", Sparkline).data or []) for k in TREND_KEYS}


def _expected(db: Path, code: str) -> dict[str, list[float]]:
    from datetime import date

    from fieldapp.tui.district_report import area_trend

    with Store.open(db) as d:
        months = area_trend(d.conn, date.today().year, code)
    return {k: [float(m[k]) for m in months] for k in TREND_KEYS}


@pytest.mark.parametrize("size", SIZES)
async def test_the_trend_charts_follow_the_drill_down(world: World, size: tuple[int, int]) -> None:
    """Issue 16 point 4: a street's and a community's sparklines are their own, not the district's."""
    from fieldapp.crypto import load_district_private
    from fieldapp.sync.merge import merge_files
    from fieldapp.tui.district_report import IndicatorScreen

    key = load_district_private(world.key_file, PASS)
    with Store.open(world.db) as d:
        assert merge_files(d.conn, [world.enrolled_bundle], district_key=key)[0].status == "merged"
    app = DistrictApp(world.db, folder=world.usb, key_file=world.key_file)
    async with app.run_test(size=size) as pilot:
        await pilot.press("f3")
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, IndicatorScreen) and screen.loaded
        district = _sparks(app)
        sub = screen.query_one(DataTable)
        sub.focus()
        street_row = [str(k.value) for k in sub.rows].index("321202001")
        sub.move_cursor(row=street_row)
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.path[-1][1] == "321202001"
        street = _sparks(app)
        assert street == _expected(world.db, "321202001")
        assert street["coverage_pct"] != district["coverage_pct"]
        sub.move_cursor(row=[str(k.value) for k in sub.rows].index("321202001901"))
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.path[-1][1] == "321202001901"
        community = _sparks(app)
        assert community == _expected(world.db, "321202001901")
        assert community["coverage_pct"] != street["coverage_pct"]


@pytest.mark.parametrize("size", SIZES)
async def test_a_damaged_copy_of_a_merged_bundle_is_refused_in_the_list(
    world: World, size: tuple[int, int]
) -> None:
    """Issue 16 point 12: the list says what the merge says (the sealed member's digest first)."""
    from fieldapp.crypto import load_district_private
    from fieldapp.sync.merge import merge_files

    from ..test_supervisor_cli import _damaged_copy
    from .district_world import PERIOD

    key = load_district_private(world.key_file, PASS)
    with Store.open(world.db) as d:
        assert merge_files(d.conn, [world.enrolled_bundle], district_key=key)[0].status == "merged"
    (world.usb / "copy").mkdir()
    bad = _damaged_copy(world.enrolled_bundle, world.usb / "copy")
    app = DistrictApp(world.db, folder=world.usb, key_file=world.key_file)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MergeScreen)
        table = screen.query_one(DataTable)
        name = world.enrolled_bundle.name
        assert str(table.get_row(f"{PERIOD}/{name}")[2]) == "已合并过"
        damaged = str(table.get_row(f"copy/{bad.name}")[2])
        assert damaged.startswith("拒收：versions.seal")  # the cell holds the reason's start
        assert screen.reasons[f"copy/{bad.name}"].startswith("versions.sealed 与清单不符")
        assert f"copy/{bad.name}" not in screen.selected
