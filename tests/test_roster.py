"""import-roster: hand-made rosters (each header variant, GBK CSV, IDs stored as numbers), duplicates, idempotence, the report read back."""

from __future__ import annotations

import csv
import json
import zipfile
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from fieldapp.cli import main
from fieldapp.roster import Options, RosterRefused, analyse, import_roster, write_report
from fieldapp.sqlite import sqlite3
from fieldapp.store import Store

from .conftest import COMMUNITY, make_id

WANG = make_id(date(1944, 3, 12), male=True)
LI = make_id(date(1950, 5, 2), male=False, seq=3)
ZHAO = make_id(date(1938, 11, 30), male=True, seq=40)


def _xlsx(path: Path, rows: list[list[object]], title: bool = True) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    if title:
        ws.append(["城东街道某社区老年人花名册（2025年）"])
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


def _csv(path: Path, rows: list[list[str]], encoding: str) -> Path:
    with path.open("w", encoding=encoding, newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def _elders(store: Store) -> list[sqlite3.Row]:
    return store.conn.execute(
        "SELECT name, id_number, gender, birth_date, phone, address, living_status, hardship_tags,"
        " emergency_contact_name, notes, community_code, visit_risk, consent FROM elder ORDER BY name"
    ).fetchall()


def test_first_header_variant_with_flags_and_month_dates(store: Store, tmp_path: Path) -> None:
    path = _xlsx(
        tmp_path / "a.xlsx",
        [
            [
                "序号",
                "姓名",
                "身份证号码",
                "性别",
                "出生年月",
                "手机",
                "家庭住址",
                "独居",
                "低保",
                "紧急联系人",
                "备注",
            ],
            [
                1,
                "王建国",
                WANG,
                "男",
                "1944.03",
                13912345678,
                "示例路8号",
                "是",
                "否",
                "王小明",
                "腿脚不便",
            ],
            [2, "李秀英", LI, "女", datetime(1950, 5, 2), "", "示例路9号", "否", "是", "", None],
        ],
    )
    out = import_roster(store, path, "elder", Options())
    assert (out.saved, out.blocked, out.analysis.mapping.header_row) == (2, False, 2)
    rows = [tuple(r) for r in _elders(store)]
    assert rows == [
        (
            "李秀英",
            LI,
            "F",
            "1950-05-02",
            None,
            "示例路9号",
            "other",
            '["dibao"]',
            None,
            None,
            COMMUNITY,
            "general",
            "statutory_duty",
        ),
        (
            "王建国",
            WANG,
            "M",
            "1944-03-12",
            "13912345678",
            "示例路8号",
            "alone",
            "[]",
            "王小明",
            "腿脚不便",
            COMMUNITY,
            "general",
            "statutory_duty",
        ),
    ]


def test_second_header_variant_with_catalogue_columns_and_every_date_form(
    store: Store, tmp_path: Path
) -> None:
    path = _xlsx(
        tmp_path / "b.xlsx",
        [
            [
                "姓名",
                "身份证号",
                "性别",
                "出生日期",
                "联系电话",
                "现住址",
                "居住状况",
                "困难类型",
                "紧急联系人电话",
            ],
            [
                "王建国",
                WANG,
                "男",
                "1944/3/12",
                "",
                "示例路8号",
                "空巢",
                "特困、低保",
                "13812345678",
            ],
            ["李秀英", LI, "女", "19500502", "", "示例路9号", "与子女同住", "", ""],
            ["赵老汉", ZHAO, "男", 14214, "", "示例路1号", "独居", "重度残疾", ""],
        ],
        title=False,
    )
    out = import_roster(store, path, "elder", Options())
    assert out.saved == 3, out.analysis.issues
    got = {
        r["name"]: (r["birth_date"], r["living_status"], r["hardship_tags"]) for r in _elders(store)
    }
    assert got == {
        "王建国": ("1944-03-12", "empty_nest", '["extreme_poverty","dibao"]'),
        "李秀英": ("1950-05-02", "with_children", "[]"),
        "赵老汉": ("1938-11-30", "alone", '["severe_disability"]'),
    }


def test_gbk_csv_with_the_third_header_variant(store: Store, tmp_path: Path) -> None:
    path = _csv(
        tmp_path / "c.csv",
        [
            [
                "姓名",
                "身份证号码",
                "性别",
                "出生日期",
                "联系电话",
                "住址",
                "空巢",
                "特困",
                "紧急联系人",
            ],
            ["王建国", WANG, "男", "1944-03-12", "13912345678", "示例路8号", "是", "是", "王小明"],
        ],
        "gbk",
    )
    a = analyse(store, path, "elder", Options())
    assert (a.encoding, a.file_kind, len(a.ready), a.issues) == ("gbk", "csv", 1, [])
    out = import_roster(store, path, "elder", Options())
    r = _elders(store)[0]
    assert (out.saved, r["living_status"], r["hardship_tags"]) == (
        1,
        "empty_nest",
        '["extreme_poverty"]',
    )


def test_utf8_bom_csv_is_read(store: Store, tmp_path: Path) -> None:
    path = _csv(
        tmp_path / "d.csv",
        [["姓名", "身份证号", "住址", "居住状况"], ["王建国", WANG, "示例路8号", "独居"]],
        "utf-8-sig",
    )
    a = analyse(store, path, "elder", Options())
    assert (a.encoding, len(a.ready)) == ("utf-8-sig", 1)


def test_id_numbers_excel_stored_as_numbers_are_reported_never_saved(
    store: Store, tmp_path: Path
) -> None:
    x_id = next(
        i for s in range(400) if (i := make_id(date(1948, 1, 1), male=True, seq=s)).endswith("X")
    )
    path = _xlsx(
        tmp_path / "n.xlsx",
        [
            ["姓名", "身份证号码", "住址", "居住状况"],
            ["王建国", WANG, "示例路8号", "独居"],
            ["张三", int(x_id[:17]), "示例路10号", "独居"],  # the X lost
            ["赵四", float(LI), "示例路11号", "独居"],  # 3.21202195005020E+17
            ["钱五", "3.21202E+17", "示例路12号", "独居"],  # pasted as text from a number cell
        ],
    )
    out = import_roster(store, path, "elder", Options(skip_invalid=True))
    assert out.saved == 1 and [r["name"] for r in _elders(store)] == ["王建国"]
    want = [
        (4, "id_number", "身份证号被 Excel 存成了数字，末位 X 已丢失"),
        (5, "id_number", "身份证号被 Excel 存成了数字（显示为 E+17"),
        (6, "id_number", "身份证号「3.21202E+17」是科学计数法（E+17）"),
    ]
    issues = [
        (i.row, i.field, i.message[: len(w[2])])
        for i, w in zip(out.analysis.issues, want, strict=True)
    ]
    assert len(out.analysis.issues) == 3 and issues == want


def test_model_rules_give_row_field_and_chinese_message(store: Store, tmp_path: Path) -> None:
    bad_check = WANG[:17] + ("0" if WANG[17] != "0" else "1")
    path = _xlsx(
        tmp_path / "v.xlsx",
        [
            ["姓名", "身份证号", "性别", "出生日期", "住址", "居住状况"],
            ["王建国", bad_check, "男", "", "示例路8号", "独居"],
            ["李秀英", LI, "男", "", "示例路9号", "独居"],
            ["赵老汉", ZHAO, "", "1938-12-01", "示例路1号", "独居"],
            ["孙六", WANG, "", "", "", "独居"],
            ["周七", LI.replace(LI[6:10], "1951"), "", "", "示例路", "两人"],
        ],
    )
    a = analyse(store, path, "elder", Options())
    got = [(i.row, i.field, i.message) for i in a.issues]
    assert got[:4] == [
        (3, "id_number", "身份证号校验码不对，请核对每一位"),
        (4, "gender", "性别与身份证号不一致（身份证号第17位表示女）"),
        (5, "birth_date", "出生日期 1938-12-01 与身份证号中的 1938-11-30 不一致"),
        (6, "address", "必填"),
    ]
    assert got[4][0:2] == (7, "living_status") and got[4][2].startswith("「两人」不在可选项中")
    assert a.ready == []


def test_duplicates_in_the_file_and_reimport_adds_nothing(store: Store, tmp_path: Path) -> None:
    path = _xlsx(
        tmp_path / "dup.xlsx",
        [
            ["姓名", "身份证号", "住址", "居住状况"],
            ["王建国", WANG, "示例路8号", "独居"],
            ["王建国", WANG.lower(), "示例路8号", "独居"],
            ["李秀英", LI, "示例路9号", "独居"],
        ],
    )
    out = import_roster(store, path, "elder", Options(skip_invalid=True))
    assert out.saved == 2
    assert [(i.row, i.message) for i in out.analysis.issues] == [(4, "与第3行重复（同一身份证号）")]
    versions = store.conn.execute("SELECT count(*) FROM versions").fetchone()[0]
    again = import_roster(store, path, "elder", Options(skip_invalid=True))
    # on the second run the repeated row matches the database: it is "already there", not a problem
    assert (again.saved, again.analysis.existing, again.analysis.issues) == (0, [3, 4, 5], [])
    assert store.conn.execute("SELECT count(*) FROM versions").fetchone()[0] == versions == 2
    imports = store.conn.execute(
        "SELECT kind, rows_read, rows_created, rows_existing, rows_invalid, imported_by, file_sha256"
        " FROM roster_imports ORDER BY imported_at, rowid"
    ).fetchall()
    sha = out.analysis.sha256
    assert [tuple(r) for r in imports] == [
        ("elder", 3, 2, 0, 1, "周红", sha),
        ("elder", 3, 0, 3, 0, "周红", sha),
    ]
    assert "dup" not in json.dumps(
        [tuple(r) for r in store.conn.execute("SELECT * FROM roster_imports")]
    )


def test_dry_run_and_one_bad_row_save_nothing(store: Store, tmp_path: Path) -> None:
    path = _xlsx(
        tmp_path / "e.xlsx",
        [
            ["姓名", "身份证号", "住址", "居住状况"],
            ["王建国", WANG, "示例路8号", "独居"],
            ["李秀英", LI, "", "独居"],
        ],
    )
    dry = import_roster(store, path, "elder", Options(dry_run=True, skip_invalid=True))
    blocked = import_roster(store, path, "elder", Options())
    assert (dry.saved, dry.dry_run, blocked.saved, blocked.blocked) == (0, True, 0, True)
    for table in ("versions", "elder", "roster_imports"):
        assert store.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0


def test_validation_report_is_read_back_fixed_and_imported_again(
    store: Store, tmp_path: Path
) -> None:
    path = _xlsx(
        tmp_path / "f.xlsx",
        [
            ["姓名", "身份证号码", "家庭住址", "居住状况", "血型"],
            ["王建国", WANG, "示例路8号", "独居", "A"],
            ["李秀英", LI, "", "独居", "B"],
        ],
    )
    out = import_roster(store, path, "elder", Options(skip_invalid=True))
    assert out.analysis.mapping.unknown == ["血型"]
    report = tmp_path / "report.xlsx"
    assert write_report(out.analysis, report) == 1
    assert report.stat().st_mode & 0o777 == 0o600
    wb = openpyxl.load_workbook(report)
    rows = [list(r) for r in wb["问题行"].iter_rows(values_only=True)]
    assert rows == [
        ["原行号", "问题", "姓名", "身份证号码", "家庭住址", "居住状况", "血型"],
        [4, "住址：必填", "李秀英", LI, None, "独居", "B"],
    ]
    assert [list(r) for r in wb["问题清单"].iter_rows(values_only=True)] == [
        ["行号", "字段", "问题"],
        [4, "住址", "必填"],
    ]
    wb["问题行"]["E2"] = "示例路9号"
    wb.save(report)
    again = import_roster(store, report, "elder", Options())
    assert (again.saved, again.analysis.issues) == (1, [])
    assert [r["name"] for r in _elders(store)] == ["李秀英", "王建国"]


def test_saved_mapping_is_written_then_reused_for_unknown_headers(
    store: Store, tmp_path: Path
) -> None:
    mapping = tmp_path / "street.json"
    path = _xlsx(
        tmp_path / "g.xlsx",
        [
            ["姓名", "身份证号", "住址", "居住状况", "户籍地"],
            ["王建国", WANG, "示例路8号", "独居", "海陵"],
        ],
    )
    analyse(store, path, "elder", Options(mapping_file=mapping))
    saved = json.loads(mapping.read_text(encoding="utf-8"))
    assert saved["columns"] == {
        "姓名": "name",
        "身份证号": "id_number",
        "住址": "address",
        "居住状况": "living_status",
        "户籍地": None,
    }
    saved["columns"]["老人名字"] = "name"
    saved["columns"]["情况"] = "living_status"
    saved["defaults"] = {"visit_risk": "priority"}
    mapping.write_text(json.dumps(saved, ensure_ascii=False), encoding="utf-8")
    other = _xlsx(
        tmp_path / "h.xlsx",
        [["老人名字", "身份证号", "住址", "情况"], ["李秀英", LI, "示例路9号", "空巢"]],
    )
    out = import_roster(store, other, "elder", Options(mapping_file=mapping))
    assert out.saved == 1 and out.analysis.mapping.unknown == []
    assert tuple(
        store.conn.execute("SELECT name, living_status, visit_risk FROM elder").fetchone()
    ) == (
        "李秀英",
        "empty_nest",
        "priority",
    )


def test_meal_points_and_volunteers(store: Store, tmp_path: Path) -> None:
    points = _xlsx(
        tmp_path / "m.xlsx",
        [
            ["助餐点名称", "类型", "服务方式", "日供餐能力", "社区"],
            ["幸福食堂", "老年食堂", "堂食、送餐", 120, "城东街道某社区"],
        ],
    )
    community = store.communities()
    name = next(c["name_zh"] for c in community if c["code"] == COMMUNITY)
    wb = openpyxl.load_workbook(points)
    wb.active["E3"] = name  # type: ignore[index]
    wb.save(points)
    out = import_roster(store, points, "meal_point", Options())
    assert out.saved == 1, out.analysis.issues
    row = store.conn.execute(
        "SELECT name, kind, modes, capacity_daily, community_code FROM meal_point"
    ).fetchone()
    assert tuple(row) == ("幸福食堂", "canteen", '["delivery","dine_in"]', 120, COMMUNITY) or tuple(
        row
    ) == ("幸福食堂", "canteen", '["dine_in","delivery"]', 120, COMMUNITY)
    vols = _csv(
        tmp_path / "v.csv",
        [["志愿者姓名", "手机号码", "志愿者编号"], ["陈志愿", "13700000001", "JS0001"]],
        "gbk",
    )
    assert import_roster(store, vols, "volunteer", Options()).saved == 1
    assert tuple(
        store.conn.execute("SELECT name, phone, platform_no FROM volunteer").fetchone()
    ) == (
        "陈志愿",
        "13700000001",
        "JS0001",
    )


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.xlsx", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "这不是表格文件"),
        ("b.xlsx", b"", "文件是空的"),
        (
            "c.xls",
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + "EncryptedPackage".encode("utf-16-le"),
            "设有打开密码",
        ),
        ("d.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "旧版 .xls"),
        ("e.csv", "备忘\n明天开会\n买菜\n".encode(), "找不到表头行"),
        ("f.xlsx", b"PK\x03\x04garbage", "文件已损坏"),
    ],
)
def test_bad_files_are_refused_with_a_reason(
    store: Store, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(RosterRefused, match=message):
        import_roster(store, path, "elder", Options())
    assert store.conn.execute("SELECT count(*) FROM versions").fetchone()[0] == 0


def test_a_zip_that_is_not_a_workbook_is_refused(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "x.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(RosterRefused, match="这不是 Excel 表格"):
        analyse(store, path, "elder", Options())


def test_too_many_rows_are_refused(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fieldapp.roster import importer

    monkeypatch.setattr(importer, "MAX_ROWS", 3)
    rows = [["姓名", "身份证号", "住址", "居住状况"]] + [["王", WANG, "路", "独居"]] * 4
    path = _csv(tmp_path / "big.csv", rows, "utf-8")
    with pytest.raises(RosterRefused, match="文件超过 3 行"):
        import_roster(store, path, "elder", Options())


def test_cli_imports_reports_and_refuses(store: Store, db_path: Path, tmp_path: Path) -> None:
    store.close()
    path = _xlsx(
        tmp_path / "r.xlsx",
        [
            ["姓名", "身份证号码", "住址", "居住状况"],
            ["王建国", WANG, "示例路8号", "独居"],
            ["李秀英", LI, "", "独居"],
        ],
    )
    run = CliRunner().invoke
    args = ["import-roster", str(path), "--kind", "elder", "--db", str(db_path)]
    res = run(main, [*args, "--report", str(tmp_path / "rep.xlsx")])
    assert (
        res.exit_code == 1 and "第4行 住址：必填" in res.output and "未保存任何记录" in res.output
    )
    assert (tmp_path / "rep.xlsx").exists()
    res = run(main, [*args, "--dry-run", "--skip-invalid"])
    assert res.exit_code == 1 and "试运行：未保存任何记录" in res.output
    res = run(main, [*args, "--skip-invalid"])
    assert res.exit_code == 0 and "已导入 1 条记录" in res.output
    (tmp_path / "n.txt").write_bytes(b"\x00\x01\x02" * 100)
    res = run(
        main, ["import-roster", str(tmp_path / "n.txt"), "--kind", "elder", "--db", str(db_path)]
    )
    assert res.exit_code == 1 and "这不是表格文件" in res.output and "Traceback" not in res.output
    with Store.open(db_path) as s:
        assert s.conn.execute("SELECT count(*) FROM elder").fetchone()[0] == 1


def test_the_roster_core_does_not_import_textual() -> None:
    import subprocess
    import sys

    code = (
        "import sys, fieldapp.roster, fieldapp.roster.bench, fieldapp.cli.roster\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
