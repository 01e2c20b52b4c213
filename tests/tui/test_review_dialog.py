"""The F4 review driven with key presses at 80×24 and 120×40 on real databases (issue 16 points 5,
6, 7): a conflict decided field by field (one district version holding the mix, a mix the record
model refuses is said and nothing is written), who made each side, the earlier decision; three
records sharing one ID number are one group item, named with their communities, decided once."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from textual.widgets import DataTable, Input, TabbedContent

from fieldapp import kinds, review
from fieldapp.cli import main
from fieldapp.store import Store
from fieldapp.store.district import set_supervisor
from fieldapp.sync.export import export
from fieldapp.sync.merge import merge_files
from fieldapp.tui.decision import DecisionDialog, PersonGroupDialog, _label
from fieldapp.tui.district import DistrictApp
from fieldapp.tui.district_report import ReviewScreen

from ..conftest import STREET, elder_data, make_id
from ..sync.helpers import district
from ..sync.test_review import _conflicted
from .district_world import screen_lines, screen_text

SIZES = [(80, 24), (120, 40)]


async def _open_first(app: DistrictApp, pilot: object, tab: str, table_id: str) -> DataTable:  # type: ignore[type-arg]
    await pilot.press("f4")  # type: ignore[attr-defined]
    await pilot.pause()  # type: ignore[attr-defined]
    screen = app.screen
    assert isinstance(screen, ReviewScreen)
    screen.query_one("#review-tabs", TabbedContent).active = tab
    await pilot.pause()  # type: ignore[attr-defined]
    table = screen.query_one(table_id, DataTable)
    table.focus()
    return table


def _conflict_world(tmp_path: Path) -> tuple[Path, str, str, str]:
    """A conflict: laptop A marks the elder deceased with a new phone, laptop B gives a new
    address and another phone. Returns (db, record id, the dead side's key, the alive side's)."""
    day = kinds.today().isoformat()
    a, b, d, rid, _ = _conflicted(
        tmp_path,
        {"phone": "13822222222", "status": "deceased", "status_date": day},
        {"phone": "13811111111", "address": "海陵区新路1号"},
    )
    with d.transaction():
        set_supervisor(d.conn, "王主任")
    [c] = review.conflicts(d.conn)
    _, left, _ = review.conflict_sides(d.conn, c["id"])
    dead, alive = ("a", "b") if left.payload.get("status") == "deceased" else ("b", "a")
    for s in (a, b, d):
        s.close()
    return tmp_path / "d.db", rid, dead, alive


async def _pick(app: DistrictApp, pilot: object, field: str, side: str) -> None:
    dialog = app.screen
    assert isinstance(dialog, DecisionDialog) and dialog.pick is not None
    steps = dialog.pick.fields.index(field) - dialog.pick.cursor
    await pilot.press(*(["down"] * steps if steps > 0 else ["up"] * -steps))  # type: ignore[attr-defined]
    await pilot.press(*(["space"] * (1 if side == "a" else 2)))  # type: ignore[attr-defined]
    await pilot.pause()  # type: ignore[attr-defined]
    assert dialog.pick.picked[field] == side


@pytest.mark.parametrize("size", SIZES)
async def test_a_conflict_decided_field_by_field_is_one_district_version(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    db, rid, dead, alive = _conflict_world(tmp_path)
    app = DistrictApp(db, folder=tmp_path / "usb")
    async with app.run_test(size=size) as pilot:
        table = await _open_first(app, pilot, "tab-conflicts", "#rv-conflicts")
        assert table.row_count == 1
        await pilot.press("enter")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, DecisionDialog) and dialog.pick is not None
        assert {"phone", "address", "status", "status_date"} <= set(dialog.pick.fields)
        lines = screen_lines(app)
        phone_line = next(x for x in lines if "13822222222" in x)
        assert "13811111111" in phone_line  # both values whole on one row, even at 80 columns
        status_line = next(x for x in lines if "已故" in x)  # a code by its label
        assert "在册" in status_line and "deceased" not in "".join(lines)
        head = next(i for i, x in enumerate(lines) if x.rstrip("│ ").endswith("采用"))
        assert lines[head + 1].startswith("│▶")  # the differing fields first, the cursor on one
        await pilot.press("home")  # the body scrolls up to who made each side
        await pilot.pause()
        lines = screen_lines(app)
        assert any(x.startswith("│A：周红 · ") for x in lines)
        # a mix the record model refuses: deceased taken without its date
        await _pick(app, pilot, "status", dead)
        said_before = [x for x in screen_lines(app) if x.startswith(f"[{alive.upper()}]")]
        assert said_before and f"{_label('elder', 'status')}取自另一方" in said_before[0]
        await pilot.press(alive)
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen) and table.row_count == 1
        said = [n.message for n in app._notifications]
        assert any(
            "这样的组合不符合规则" in m and _label("elder", "status_date") in m for m in said
        )
        # the mix that is right: the dead side's phone, the rest (address, active) from the other
        await pilot.press("enter")
        await pilot.pause()
        await _pick(app, pilot, "phone", dead)
        comment = app.screen.query_one("#dlg-comment", Input)
        comment.focus()
        await pilot.press(*"电话核实")
        await pilot.press("enter")  # back to the table
        await pilot.press(alive)
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen) and table.row_count == 0
    with Store.open(db) as d:
        row = d.conn.execute(
            "SELECT phone, address, status, version_id FROM elder WHERE id = ?", (rid,)
        ).fetchone()
        c = d.conn.execute(
            "SELECT status, decided_by, comment, decision_version_id FROM conflicts"
        ).fetchone()
        v = d.conn.execute(
            "SELECT device_id, also_parents FROM versions WHERE version_id = ?", (row[3],)
        ).fetchone()
        district_id = d.conn.execute("SELECT device_id FROM device").fetchone()[0]
    assert tuple(row[:3]) == ("13822222222", "海陵区新路1号", "active")
    assert tuple(c) == ("resolved", "王主任", "电话核实", row[3])
    assert v[0] == district_id and v[1] not in (None, "[]")


def _three_records(tmp_path: Path) -> tuple[Path, list[str]]:
    """Three records sharing one ID number, made on two laptops of two communities."""
    from ..sync.test_review import _device

    number = make_id(date(1939, 9, 9), False, 42)
    a = _device(tmp_path)
    ids = [
        a.create("elder", elder_data(name=n, id_number=number)).record_id
        for n in ("重复甲", "重复乙")
    ]
    first = export(a, tmp_path / "usb", allow_v1=True, mkdir=True).path
    b = Store.open(tmp_path / "b.db")
    other = "321202001902"
    b.setup_device(street_code=STREET, community_code=other, worker="李明")
    ids.append(
        b.create(
            "elder", elder_data(name="重复丙", id_number=number, community_code=other)
        ).record_id
    )
    second = export(b, tmp_path / "usb", allow_v1=True, mkdir=True).path
    d = district(tmp_path / "d.db", a, b)
    with d.transaction():
        set_supervisor(d.conn, "王主任")
    assert [r.status for r in merge_files(d.conn, [first, second], allow_v1=True)] == ["merged"] * 2
    pairs = d.conn.execute(
        "SELECT count(*) FROM review_items WHERE queue = 'duplicate_person'"
    ).fetchone()[0]
    assert pairs >= 2  # the merge opened several pair items for the one ID number
    for s in (a, b, d):
        s.close()
    return tmp_path / "d.db", ids


@pytest.mark.parametrize("size", SIZES)
async def test_three_records_of_one_id_number_are_one_group_decided_once(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    db, ids = _three_records(tmp_path)
    app = DistrictApp(db, folder=tmp_path / "usb")
    async with app.run_test(size=size) as pilot:
        table = await _open_first(app, pilot, "tab-dups", "#rv-dups")
        assert table.row_count == 1
        row = [str(c) for c in table.get_row_at(0)]
        # in the order of their record ids (UUIDv7: 甲 and 乙, made in the same millisecond, may
        # come either way)
        names = dict(
            zip(
                ids,
                (
                    "重复甲（城东示例社区01）",
                    "重复乙（城东示例社区01）",
                    "重复丙（城东示例社区02）",
                ),
                strict=True,
            )
        )
        assert row[4] == "、".join(names[i] for i in sorted(ids))
        assert row[2] == "3" and row[1].startswith("3212") and "*" in row[1]
        await pilot.press("enter")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, PersonGroupDialog)
        text = screen_text(app)
        assert "重复甲" in text and "重复乙" in text and "重复丙" in text and "李明" in text
        await pilot.press("down", "down")  # the record that stays: 重复丙
        await pilot.pause()
        assert dialog.keep() == ids[2]
        assert "同一人：保留 重复丙" in screen_text(app)
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen) and table.row_count == 0
    with Store.open(db) as d:
        rows = {
            r["id"]: (r["status"], r["merged_into"])
            for r in d.conn.execute(
                "SELECT id, status, merged_into FROM elder WHERE id_number IS NOT NULL AND name LIKE '重复%'"
            )
        }
        items = d.conn.execute(
            "SELECT DISTINCT status, decision, decided_by FROM review_items WHERE queue = 'duplicate_person'"
        ).fetchall()
    assert rows == {
        ids[0]: ("cancelled", ids[2]),
        ids[1]: ("cancelled", ids[2]),
        ids[2]: ("active", None),
    }
    assert [tuple(i) for i in items] == [("resolved", f"same:{ids[2]}", "王主任")]


def test_review_list_shows_one_group_with_names_and_communities(tmp_path: Path) -> None:
    db, ids = _three_records(tmp_path)
    result = CliRunner().invoke(main, ["review", "list", "--db", str(db)])
    assert result.exit_code == 0, result.output
    lines = [x for x in result.output.splitlines() if "重复人员" in x]
    assert len(lines) == 1
    assert "3 条记录 records" in lines[0]
    assert "重复丙（城东示例社区02）" in lines[0] or "重复丙（" in lines[0]
    assert "321202001902" not in lines[0].split("records:")[1]


@pytest.mark.parametrize("size", SIZES)
async def test_a_decision_is_undone_from_the_review_screen_with_a_comment(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    from fieldapp.tui.decisions import DecisionsDialog

    db, rid, dead, alive = _conflict_world(tmp_path)
    with Store.open(db) as d:
        before = d.conn.execute("SELECT phone, status FROM elder WHERE id = ?", (rid,)).fetchone()
    app = DistrictApp(db, folder=tmp_path / "usb")
    async with app.run_test(size=size) as pilot:
        table = await _open_first(app, pilot, "tab-conflicts", "#rv-conflicts")
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press(alive if before["status"] == "deceased" else dead)  # the other side
        await pilot.pause()
        assert table.row_count == 0
        await pilot.press("u")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, DecisionsDialog)
        assert [(r["ref"], r["decided_by"], r["undone"]) for r in dialog.rows] == [
            ("c1", "王主任", 0)
        ]
        assert any("撤销：新建一个区级版本" in x for x in screen_lines(app))  # said before
        dialog.query_one("#dec-comment", Input).focus()
        await pilot.press(*"选错了")
        await pilot.press("enter", "u")
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
        await pilot.press("u")
        await pilot.pause()
        again = app.screen
        assert isinstance(again, DecisionsDialog) and again.rows[0]["undone"] == 1
        assert "已撤销" in screen_text(app)
        await pilot.press("u")  # an undone decision is not undone twice
        await pilot.pause()
        assert isinstance(app.screen, DecisionsDialog)
    with Store.open(db) as d:
        after = d.conn.execute("SELECT phone, status FROM elder WHERE id = ?", (rid,)).fetchone()
        undo = d.conn.execute(
            "SELECT decided_by, comment FROM conflicts WHERE reason = 'undo'"
        ).fetchone()
    assert tuple(after) == tuple(before)
    assert tuple(undo) == ("王主任", "选错了")


@pytest.mark.parametrize("size", SIZES)
async def test_a_meal_collision_names_its_point_and_meal_and_keeps_the_count_chosen(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    from ..sync.helpers import clone_laptop
    from ..sync.test_review import _device
    from ..test_models import base

    a = _device(tmp_path)
    point_data = base("meal_point")
    point = a.create("meal_point", point_data).record_id
    b = clone_laptop(a, tmp_path / "b.db")
    slot = {"point_id": point, "service_date": "2026-06-01", "meal": "lunch"}
    ma = a.create("meal_count", slot | {"dine_in": 8}).record_id
    mb = b.create("meal_count", slot | {"dine_in": 30}).record_id
    d = district(tmp_path / "d.db", a, b)
    with d.transaction():
        set_supervisor(d.conn, "王主任")
    bundles = [
        export(s, tmp_path / f"u{i}", allow_v1=True, mkdir=True).path for i, s in enumerate((a, b))
    ]
    merge_files(d.conn, bundles, allow_v1=True)
    for s in (a, b, d):
        s.close()
    app = DistrictApp(tmp_path / "d.db", folder=tmp_path / "u0")
    async with app.run_test(size=size) as pilot:
        table = await _open_first(app, pilot, "tab-meals", "#rv-meals")
        assert table.row_count == 1
        slot_cell = str(table.get_row_at(0)[1])
        assert point_data["name"] in slot_cell and point not in slot_cell
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DecisionDialog)
        text = screen_text(app)
        assert point not in text and point_data["name"] in text
        assert "午餐" in text and "lunch" not in text
        dialog = app.screen
        keep = "a" if dialog.left.get("id") == ma else "b"
        await pilot.press(keep)
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen) and table.row_count == 0
    with Store.open(tmp_path / "d.db") as d2:
        rows = dict(d2.conn.execute("SELECT id, deleted FROM meal_count").fetchall())
        item = d2.conn.execute("SELECT decision, decided_by FROM review_items").fetchone()
    assert rows == {ma: 0, mb: 1} and tuple(item) == (ma, "王主任")
