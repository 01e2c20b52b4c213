"""`fieldapp district checklist` on a real district: a received, a refused (unenrolled device), a
missing (enrolled, nothing sent) and an unexpected bundle (sent for a month before the device was
enrolled); the CLI and the F6 screen call the same `checklist.checklist`, whose received / missing /
not expected cells are the report's `bundle_grid`."""

from __future__ import annotations

import zipfile
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldapp import checklist, crypto
from fieldapp.cli import main
from fieldapp.report.operations import bundle_grid
from fieldapp.store import Store
from fieldapp.sync.export import export
from fieldapp.sync.merge import merge_files

from .conftest import elder_data
from .tui.district_world import PASS, PERIOD, World, build

MISSING = "321202001903"  # enrolled, sends nothing
_prev = date.today().replace(day=1).toordinal() - 1
EARLIER = f"{date.fromordinal(_prev):%Y-%m}"  # the month before the enrolments


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FIELDAPP_KDF", "interactive")
        w = build(tmp_path_factory.mktemp("checklist"))
        with Store.open(w.device_db) as a:  # a second bundle of A, labelled with last month
            a.create("elder", elder_data(name="赵兰"))
            late = export(a, w.root / "late", period=EARLIER, mkdir=True).path
        key = crypto.load_district_private(w.key_file, PASS)
        with Store.open(w.db) as d:
            _, public = crypto.new_signing_key()
            d.enroll(
                "019ad757-3c4d-7e5f-a061-7c8d9e0f1a01",
                public,
                label="城东03",
                by="测试",
                communities=[MISSING],
            )
            results = merge_files(d.conn, [w.enrolled_bundle, late], district_key=key)
        assert [r.status for r in results] == ["merged", "merged"], results
    return w


def _run(*args: object) -> tuple[int, str]:
    r = CliRunner().invoke(main, [str(a) for a in args])
    return r.exit_code, r.output


def _rows(out: str) -> dict[str, list[str]]:
    return {line.split("\t")[0]: line.split("\t") for line in out.splitlines()[2:] if "\t" in line}


def test_the_month_received_refused_and_missing(world: World, tmp_path: Path) -> None:
    code, out = _run(
        "district",
        "checklist",
        "--db",
        world.db,
        "--period",
        PERIOD,
        "--folder",
        world.usb,
        "--xlsx",
        tmp_path / "c.xlsx",
    )
    assert code == 0, out
    rows = _rows(out)
    assert rows["321202001901"][5] == "已收到" and rows["321202001901"][4].startswith(
        f"{PERIOD} 第1个"
    )
    assert rows["321202001902"][5] == "拒收"
    assert (
        world.stranger_bundle.name in rows["321202001902"][6]
        and "未登记" in rows["321202001902"][6]
    )
    assert rows[MISSING][5] == "未收到" and rows[MISSING][3].startswith("城东03 ")
    assert out.splitlines()[0].startswith(f"{PERIOD}  已收到 1  拒收 1  未收到 1  不适用 ")
    assert list(rows)[:2] == ["321202001902", MISSING]  # worst first
    with zipfile.ZipFile(tmp_path / "c.xlsx") as z:
        strings = z.read("xl/sharedStrings.xml").decode()
    assert "拒收" in strings and "未收到" in strings and "已收到" in strings


def test_a_bundle_for_a_month_before_the_enrolment_is_unexpected(world: World) -> None:
    code, out = _run("district", "checklist", "--db", world.db, "--period", EARLIER)
    assert code == 0, out
    rows = _rows(out)
    assert rows["321202001901"][5] == "收到（未预期）"
    assert rows[MISSING][5] == "不适用" and rows["321202001902"][5] == "不适用"


def test_the_checklist_cells_are_the_reports_bundle_grid(world: World) -> None:
    with Store.open(world.db) as d:
        year = int(PERIOD[:4])
        grid = dict(bundle_grid(d.conn, year, date.today())["rows"])
        cl = {r.community_code: r.state for r in checklist.checklist(d.conn, PERIOD).rows}
    assert grid["321202001901"][-1] == "received" and cl["321202001901"] == "received"
    assert grid[MISSING][-1] == "missing" and cl[MISSING] == "missing"
    # without the folder the unenrolled device's community is not expected (no enrolled device)
    assert "321202001902" not in grid and cl["321202001902"] == "not_expected"


def test_a_wrong_month_is_refused_with_the_rule(world: World) -> None:
    code, out = _run("district", "checklist", "--db", world.db, "--period", "2026-13")
    assert code == 2 and "月份须为 YYYY-MM：2026-13" in out
