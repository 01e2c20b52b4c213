"""A generated elder roster and the time to import it, for the benchmark (goal: 10,000 rows in < 30 s)."""

from __future__ import annotations

import random
import time
from datetime import date, timedelta
from pathlib import Path

STREET = "321202001"
COMMUNITY = "321202001901"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "建国秀英桂兰玉珍志强明华淑芬德胜春梅永福凤英"


def _id(born: date, seq: int) -> str:
    from stdnum.cn import ric

    body = f"321202{born:%Y%m%d}{seq % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def write_elder_roster(path: Path, rows: int, *, seed: int = 17) -> None:
    """An XLSX roster as a community keeps it: a title row, Chinese headers, IDs as text."""
    import xlsxwriter

    rng = random.Random(seed)
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    ws = wb.add_worksheet("花名册")
    ws.write_row(0, 0, ["某社区老年人花名册"])
    headers = [
        "序号",
        "姓名",
        "身份证号码",
        "性别",
        "出生日期",
        "联系电话",
        "家庭住址",
        "独居",
        "困难类型",
    ]
    ws.write_row(1, 0, headers)
    seen: set[str] = set()
    for i in range(rows):
        number = ""
        while not number or number in seen:
            born = date(1930, 1, 1) + timedelta(days=rng.randrange(0, 365 * 34))
            number = _id(born, rng.randrange(1000))
        seen.add(number)
        name = rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, 2))
        gender = "男" if int(number[16]) % 2 else "女"
        ws.write_number(i + 2, 0, i + 1)
        ws.write_string(i + 2, 1, name)
        ws.write_string(i + 2, 2, number)
        ws.write_row(i + 2, 3, [gender, born.strftime("%Y/%-m/%-d"), f"139{i:08d}"])
        ws.write_row(
            i + 2,
            6,
            [
                f"示例路{i % 300}号",
                rng.choice(["是", "否"]),
                rng.choice(["", "低保", "特困、低保"]),
            ],
        )
    wb.close()


def time_elder_import(workdir: Path, rows: int = 10_000) -> dict[str, float]:
    """Seconds to analyse and import a generated roster of `rows` elders into a fresh device."""
    from fieldapp.roster import Options, import_roster
    from fieldapp.store import Store

    roster = workdir / "roster.xlsx"
    write_elder_roster(roster, rows)
    with Store.open(workdir / "roster-bench.db") as store:
        store.setup_device(street_code=STREET, community_code=COMMUNITY, worker="基准")
        t0 = time.perf_counter()
        out = import_roster(store, roster, "elder", Options())
        seconds = time.perf_counter() - t0
    if out.saved != rows:
        raise RuntimeError(f"imported {out.saved} of {rows}: {out.analysis.issues[:3]}")
    return {"rows": float(rows), "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds)}
