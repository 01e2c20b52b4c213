"""The monthly ledgers (台账) read back with openpyxl: print setup, headings, one row per record, totals, privacy."""

from __future__ import annotations

import os
import re
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner
from openpyxl.worksheet.worksheet import Worksheet

from fieldapp.cli import main
from fieldapp.demo import generate_community
from fieldapp.kinds import mask_id_number
from fieldapp.ledger import LedgerError, write_ledger
from fieldapp.sqlite import sqlite3
from fieldapp.store import Store

from .conftest import elder_data, visit_data

TODAY = date(2026, 11, 30)
MONTH = "2026-11"
START, END = "2026-11-01", "2026-12-01"
ID_NUMBER = re.compile(r"\d{17}[\dXx]")
NUMBER_AS_TEXT = re.compile(r"\s*-?\d+(\.\d+)?\s*")

HEADINGS = {
    "home_visit": [
        "日期",
        "老人姓名",
        "身份证号（脱敏）",
        "服务类型",
        "服务内容",
        "方式",
        "时长（分钟）",
        "服务人员",
        "老人签字",
    ],
    "meal": ["日期", "助餐点", "餐次", "堂食", "送餐", "自取", "合计", "其中补贴"],
    "volunteer": [
        "日期",
        "活动名称",
        "类别",
        "地点",
        "参与志愿者",
        "服务时长（小时）",
        "积分",
        "受益人数",
        "状态",
    ],
    "retrofit": [
        "老人姓名",
        "身份证号（脱敏）",
        "项目年度",
        "资金类型",
        "状态",
        "申请日期",
        "评估日期",
        "开工日期",
        "验收日期",
        "改造项目",
        "总费用（元）",
        "补贴（元）",
        "自付（元）",
    ],
}
TITLES = {
    "home_visit": "居家上门服务台账",
    "meal": "助餐服务台账",
    "volunteer": "志愿助老活动台账",
    "retrofit": "适老化改造台账",
}
IN_MONTH_RETROFIT = " OR ".join(
    f"({d} >= :start AND {d} < :end)"
    for d in ("apply_date", "assess_date", "start_date", "accept_date")
)
# what the database holds for the month: (count, {column heading: SQL sum})
EXPECTED_SQL = {
    "home_visit": (
        "FROM home_visit WHERE deleted = 0 AND visit_date >= :start AND visit_date < :end",
        {"时长（分钟）": "duration_min"},
    ),
    "meal": (
        "FROM meal_count WHERE deleted = 0 AND service_date >= :start AND service_date < :end",
        {
            "堂食": "dine_in",
            "送餐": "delivery",
            "自取": "pickup",
            "合计": "total",
            "其中补贴": "subsidized_total",
        },
    ),
    "volunteer": (
        "FROM volunteer_event WHERE deleted = 0 AND event_date >= :start AND event_date < :end",
        {"服务时长（小时）": "total_hours", "积分": "total_points", "受益人数": "beneficiaries"},
    ),
    "retrofit": (
        f"FROM retrofit WHERE deleted = 0 AND ({IN_MONTH_RETROFIT})",
        {"总费用（元）": "cost_total", "补贴（元）": "subsidy", "自付（元）": "self_paid"},
    ),
}


def _add_month_records(path: Path) -> None:
    """What the demo may lack in November: events with participants, a retrofit, deletions."""
    with Store.open(path) as store:
        conn = store.conn
        vols = [r[0] for r in conn.execute("SELECT id FROM volunteer ORDER BY id LIMIT 3")]
        elders = [r[0] for r in conn.execute("SELECT id FROM elder WHERE deleted = 0 ORDER BY id")]
        dev = store.device()
        assert dev is not None
        community = dev.community_code
        event = {"community_code": community, "location": "社区活动室", "beneficiaries": 14}
        store.create(
            "volunteer_event",
            event
            | {
                "title": "重阳节理发",
                "event_date": "2026-11-08",
                "category": "haircut",
                "status": "done",
                "participants": [
                    {"volunteer_id": vols[0], "hours": "2.5"},
                    {"volunteer_id": vols[1], "hours": "1.5"},
                ],
            },
        )
        store.create(
            "volunteer_event",
            event
            | {
                "title": "防诈骗宣传",
                "event_date": "2026-11-20",
                "category": "anti_fraud",
                "status": "cancelled",
                "beneficiaries": None,
                "participants": [{"volunteer_id": vols[2], "hours": "1"}],
            },
        )
        store.create(
            "retrofit",
            {
                "elder_id": elders[0],
                "project_year": 2026,
                "funding_type": "subsidized",
                "status": "accepted",
                "apply_date": "2026-10-20",
                "assess_date": "2026-10-28",
                "start_date": "2026-11-03",
                "accept_date": "2026-11-12",
                "items": [
                    {"code": "R01", "qty": 2, "unit_price": "300"},
                    {"code": "R17", "qty": 1, "unit_price": "350.5"},
                ],
                "cost_total": "950.50",
                "subsidy": "800",
                "self_paid": "150.50",
            },
        )
        gone = store.create(
            "volunteer_event",
            event | {"title": "删除的活动", "event_date": "2026-11-09", "category": "culture"},
        )
        store.delete("volunteer_event", gone.record_id)
        for table, day in (("home_visit", "visit_date"), ("meal_count", "service_date")):
            rid = conn.execute(
                f"SELECT id FROM {table} WHERE deleted = 0 AND {day} >= ? ORDER BY id LIMIT 1",
                (START,),
            ).fetchone()[0]
            store.delete(table, rid)


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ledger") / "device.db"
    generate_community(path, seed=5, today=TODAY, elders=40)
    _add_month_records(path)
    return path


def _sheet(path: Path, *, data_only: bool = True) -> Worksheet:
    ws = openpyxl.load_workbook(path, data_only=data_only).active
    assert isinstance(ws, Worksheet)
    return ws


def _rows(ws: Worksheet) -> list[tuple[Any, ...]]:
    return [r for r in ws.iter_rows(values_only=True) if any(v is not None for v in r)]


def _expected(path: Path, kind: str) -> tuple[int, dict[str, float]]:
    where, sums = EXPECTED_SQL[kind]
    cols = ", ".join(f"coalesce(sum({c}), 0)" for c in sums.values())
    conn = sqlite3.connect(path)
    row = conn.execute(f"SELECT count(*), {cols} {where}", {"start": START, "end": END}).fetchone()
    conn.close()
    return row[0], dict(zip(sums, row[1:], strict=True))


@pytest.mark.parametrize("kind", list(HEADINGS))
def test_ledger_print_setup_headings_rows_and_totals(
    demo_db: Path, tmp_path: Path, kind: str
) -> None:
    out = tmp_path / f"{kind}.xlsx"
    with Store.open(demo_db) as store:
        assert write_ledger(store, kind=kind, month=MONTH, path=out) == out
    ws = _sheet(out)
    # print setup: A4 landscape, one page wide, title and headings on every page, page numbers
    assert ws.page_setup.orientation == "landscape"
    assert int(ws.page_setup.paperSize) == 9
    assert ws.print_title_rows == "$1:$3"
    assert ws.oddFooter.center.text == "第 &P 页 / 共 &N 页"
    assert ws.sheet_properties.pageSetUpPr.fitToPage is True
    assert ws.page_setup.fitToHeight == 0
    rows = _rows(ws)
    assert rows[0][0] == f"城东示例社区01 {TITLES[kind]}（2026年11月）"
    assert list(rows[2]) == HEADINGS[kind]
    count, sums = _expected(demo_db, kind)
    assert count > 0, "the month must hold records of this kind"
    body = rows[3 : 3 + count]
    total = rows[3 + count]
    assert total[0] == "合计"
    assert all(r[0] != "合计" for r in body)
    assert total[1] == count and isinstance(total[1], int)
    for heading, expected in sums.items():
        col = HEADINGS[kind].index(heading)
        assert total[col] == pytest.approx(expected, abs=0.005), heading
        assert sum(r[col] or 0 for r in body) == pytest.approx(expected, abs=0.005), heading
        assert all(isinstance(r[col], int | float) for r in body if r[col] is not None)
    for r in rows:
        for v in r:
            assert not (isinstance(v, str) and NUMBER_AS_TEXT.fullmatch(v)), (v, r)
    dates = [i for i, h in enumerate(HEADINGS[kind]) if h.endswith("日期")]
    assert all(isinstance(r[i], datetime) for r in body for i in dates if r[i] is not None)
    assert len(rows) == 3 + count + (2 if kind == "volunteer" else 1)


def test_ledger_rows_say_what_the_records_hold_in_chinese(store: Store, tmp_path: Path) -> None:
    elder = store.create("elder", elder_data(name="张三丰"))
    data = visit_data(
        elder.record_id, visit_date="2026-11-02", service_items=["chat", "safety_check"]
    )
    store.create("home_visit", data)
    gone = store.create("home_visit", visit_data(elder.record_id, visit_date="2026-11-03"))
    store.delete("home_visit", gone.record_id)
    store.create("home_visit", visit_data(elder.record_id, visit_date="2026-10-31"))
    out = write_ledger(store, kind="home_visit", month="2026-11", path=tmp_path / "v.xlsx")
    rows = _rows(_sheet(out))
    masked = mask_id_number(elder_data()["id_number"])
    assert rows[3] == (
        datetime(2026, 11, 2),
        "张三丰",
        masked,
        "日常探访",
        "聊天陪伴、安全检查",
        "上门入户",
        45,
        "周红",
        None,
    )
    assert rows[4][:2] == ("合计", 1) and rows[4][6] == 45
    assert len(rows) == 5
    assert rows[1][0].startswith("城东街道 · 城东示例社区01")


def test_ledger_of_an_empty_month_has_headings_and_zero_totals(
    store: Store, tmp_path: Path
) -> None:
    out = write_ledger(store, kind="meal", month="2026-02", path=tmp_path / "m.xlsx")
    rows = _rows(_sheet(out))
    assert list(rows[2]) == HEADINGS["meal"]
    assert rows[3] == ("合计", 0, None, 0, 0, 0, 0, 0)


def test_no_whole_id_number_anywhere_in_the_files(demo_db: Path, tmp_path: Path) -> None:
    conn = sqlite3.connect(demo_db)
    ids = {r[0] for r in conn.execute("SELECT id_number FROM elder WHERE id_number IS NOT NULL")}
    conn.close()
    assert ids
    with Store.open(demo_db) as store:
        for kind in ("home_visit", "retrofit"):
            out = write_ledger(store, kind=kind, month=MONTH, path=tmp_path / f"{kind}.xlsx")
            with zipfile.ZipFile(out) as z:
                text = "".join(z.read(n).decode("utf-8") for n in z.namelist())
            assert not ID_NUMBER.search(text)
            assert not any(i in text for i in ids)
            assert "********" in text or "***" in text  # the masked numbers are there


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_ledger_file_is_born_private_and_replaces_an_old_one(store: Store, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "v.xlsx"
    out.write_text("old")
    out.chmod(0o644)
    write_ledger(store, kind="volunteer", month="2026-11", path=out)
    assert out.stat().st_mode & 0o777 == 0o600
    assert zipfile.is_zipfile(out)
    assert [p.name for p in out.parent.iterdir()] == ["v.xlsx"]  # no temporary file left


@pytest.mark.parametrize(
    ("kind", "month", "words"),
    [
        ("home_visit", "2026-13", "月份「2026-13」格式不对"),
        ("home_visit", "2026-1", "月份「2026-1」格式不对"),
        ("home_visit", "11/2026", "应为 年-月"),
        ("home_visit", "", "月份「」格式不对"),
        ("visits", "2026-11", "台账类型「visits」不存在"),
        ("meal_count", "2026-11", "可选 home_visit / meal / volunteer / retrofit"),
    ],
)
def test_bad_month_or_kind_is_refused(
    store: Store, tmp_path: Path, kind: str, month: str, words: str
) -> None:
    with pytest.raises(LedgerError) as e:
        write_ledger(store, kind=kind, month=month, path=tmp_path / "x.xlsx")
    assert words in e.value.zh
    assert not (tmp_path / "x.xlsx").exists()


def test_a_database_without_a_community_or_a_missing_folder_is_refused(
    store: Store, tmp_path: Path
) -> None:
    with pytest.raises(LedgerError) as e:
        write_ledger(store, kind="meal", month="2026-11", path=tmp_path / "no" / "x.xlsx")
    assert e.value.zh == f"文件夹「{tmp_path / 'no'}」不存在"
    with Store.open(tmp_path / "blank.db") as blank, pytest.raises(LedgerError) as e:
        write_ledger(blank, kind="meal", month="2026-11", path=tmp_path / "x.xlsx")
    assert "不属于某个社区" in e.value.zh


def test_cli_writes_the_ledger_and_refuses_bad_input(demo_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "meal.xlsx"
    args = ["ledger", "--db", str(demo_db), "--kind", "meal", "--xlsx", str(out)]
    result = CliRunner().invoke(main, [*args, "--month", MONTH])
    count, _ = _expected(demo_db, "meal")
    assert result.exit_code == 0, result.output
    assert f"助餐服务台账（2026年11月）：{count} 条记录" in result.output
    assert _rows(_sheet(out))[3 + count][:2] == ("合计", count)
    bad = CliRunner().invoke(main, [*args, "--month", "2026/11"])
    assert bad.exit_code == 1
    assert "月份「2026/11」格式不对" in bad.output
    bad = CliRunner().invoke(
        main, [*args[:3], "--kind", "meals", "--xlsx", str(out), "--month", MONTH]
    )
    assert bad.exit_code == 1 and "台账类型「meals」不存在" in bad.output
