"""The district report as an XLSX workbook an official can paste into a report (SPEC §7): counts
as integers, percentages with one decimal, nothing numeric as text, every header Chinese with its
code beside it, Chinese status words, a chart on the summary and on the street sheet, a notes block,
and the months before the meal data start left blank. One function per sheet or part."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from fieldapp import indicators as ind
from fieldapp.indicators import DISTRICT_CODE
from fieldapp.report.figures import STATUS, Figure, Report, TrendRow, trend
from fieldapp.report.operations import CELL_WORDS
from fieldapp.sqlite import sqlite3

if TYPE_CHECKING:
    from xlsxwriter.format import Format
    from xlsxwriter.workbook import Workbook
    from xlsxwriter.worksheet import Worksheet

Cell = str | float | int | None
LEVEL_WORDS = {"district": "区", "street": "街道", "community": "社区"}
KIND_WORDS = {"binding": "约束性", "expected": "预期性"}
LEVEL_HEAD = [
    "区域级别 area_level",
    "区域代码 area_code",
    "区域名称 area_name",
    "指标 indicator",
    "指标代码 code",
    "分子 numerator",
    "分母 denominator",
    "数值 value",
    "目标 target",
    "单位 unit",
    "状态 status",
    "说明 note",
]


@dataclass
class Book:
    """The workbook with its cell formats, handed to each sheet's writer."""

    wb: Workbook
    head: Format
    text: Format
    count: Format  # integers
    pct: Format  # one decimal
    title: Format

    def put(self, ws: Worksheet, row: int, col: int, value: Cell, *, pct: bool = False) -> None:
        """A number as a number (an integer when whole, one decimal for a percentage), text as
        text, None as an empty bordered cell."""
        if value is None or value == "":
            ws.write_blank(row, col, None, self.text)
        elif isinstance(value, str):
            ws.write_string(row, col, value, self.text)
        elif pct or not float(value).is_integer():
            ws.write_number(row, col, round(float(value), 1), self.pct)
        else:
            ws.write_number(row, col, int(value), self.count)


def write_xlsx(
    report: Report,
    path: Path,
    conn: sqlite3.Connection,
    *,
    lang: str = "zh",
    today: date | None = None,
) -> None:
    import xlsxwriter

    del lang  # officials' workbook: Chinese headers with the codes beside, in either language
    wb = xlsxwriter.Workbook(str(path))
    book = Book(
        wb,
        wb.add_format({"bold": True, "border": 1, "bg_color": "#DDEBF7", "text_wrap": True}),
        wb.add_format({"border": 1}),
        wb.add_format({"border": 1, "num_format": "0"}),
        wb.add_format({"border": 1, "num_format": "0.0"}),
        wb.add_format({"bold": True, "font_size": 14}),
    )
    ws = _summary_sheet(book, report, conn)
    row = _notes_block(book, ws, report, first_row=len(ind.INDICATORS) + 5)
    _operational_block(book, ws, report, first_row=row + 1)
    for level in ("district", "street", "community"):
        _level_sheet(book, report, level)
    months = report.trend or trend(conn, report.period.year, today=today, as_of=report.as_of)
    _trend_sheet(book, report, months)
    _bundle_sheet(book, report)
    wb.close()


def _summary_sheet(book: Book, report: Report, conn: sqlite3.Connection) -> Worksheet:
    """The plan's indicator table: baseline, target, actual, unit, kind and status per indicator,
    with a chart of actual against target for the rate indicators."""
    y = report.period.year
    ws = book.wb.add_worksheet("指标汇总")
    ws.write(0, 0, f"海陵区“一老一小”规划 养老服务指标 {report.period.label}", book.title)
    head = ["序号 no.", "指标 indicator", "指标代码 code", "2022年基数 baseline"]
    head += [f"{y}年目标 target", f"{y}年实际 actual", "单位 unit", "指标属性 kind"]
    head += ["状态 status", "分子 numerator", "分母 denominator", "说明 note"]
    ws.write_row(2, 0, head, book.head)
    targets = ind.targets_in_force(conn, y)
    base22 = ind.targets(conn, ind.BASELINE_YEAR)
    for i, name in enumerate(ind.INDICATORS):
        f = report.get(DISTRICT_CODE, name)
        t, b = targets.get(name), base22.get(name)
        pct = f.unit == "%"
        cells: list[Cell] = [i + 1, ind.LABELS[name][0], name, b.value if b else None]
        cells += [f.target, f.value, f.unit, KIND_WORDS.get(t.kind, "") if t else ""]
        cells += [STATUS[f.status][0], f.numerator, f.denominator, f.note]
        for c, v in enumerate(cells):
            book.put(ws, 3 + i, c, v, pct=pct and c in (3, 4, 5))
    ws.set_column(0, 0, 8)
    ws.set_column(1, 2, 28)
    ws.set_column(3, 10, 13)
    ws.set_column(11, 11, 44)
    chart = book.wb.add_chart({"type": "column"})
    for col, name in ((5, "实际"), (4, "目标")):
        chart.add_series(
            {
                "name": name,
                "categories": ["指标汇总", 3, 1, 3 + 2, 1],
                "values": ["指标汇总", 3, col, 3 + 2, col],
            }
        )
    chart.set_title({"name": "覆盖率指标：实际与目标（%）"})
    ws.insert_chart(2, 13, chart)
    return ws


def _notes_block(book: Book, ws: Worksheet, report: Report, *, first_row: int) -> int:
    """The as-of date, meal data start, population reference year and what is illustrative."""
    ws.write(first_row, 0, "说明 notes", book.title)
    for i, line in enumerate(report.notes):
        ws.write_string(first_row + 1 + i, 1, line)
    return first_row + 1 + len(report.notes)


def _operational_block(book: Book, ws: Worksheet, report: Report, *, first_row: int) -> None:
    """One figure a row, numbers in their own cells (never "685 / 2450")."""
    op = report.operational
    ws.write(first_row, 0, "运行指标 operational", book.title)
    ws.write_row(first_row + 1, 1, ["项目 item", "数值 value", "分母 of"], book.head)
    rows: list[tuple[str, Cell, Cell]] = [
        ("上门服务人次（本月） visits", op["visits"], None),
        ("工作人员数 workers", op["workers"], None),
        ("人均上门人次 visits per worker", op["visits_per_worker"], None),
        (
            f"特殊困难老年人本月探访（{op['hardship_month']}）",
            op["hardship_visited"],
            op["hardship_elders"],
        ),
        ("逾期未探访 overdue", op["overdue_followups"], None),
        ("待处理冲突 open conflicts", op["open_conflicts"], None),
        ("待审核 review items", op["open_reviews"], None),
        (f"{report.period.year}年新增改造户数 new retrofit households", op["retrofit_new"], None),
    ]
    rows += [(f"新增改造·资金类型 {k}", v, None) for k, v in op["retrofit_by_funding"].items()]
    rows += [(f"已评估80岁以上·能力等级 {k}", v, None) for k, v in op["ability_mix"].items()]
    for i, (label, value, of) in enumerate(rows):
        r = first_row + 2 + i
        book.put(ws, r, 1, label)
        book.put(ws, r, 2, value)
        book.put(ws, r, 3, of)


def _level_rows(book: Book, ws: Worksheet, figures: list[Figure]) -> None:
    for r, f in enumerate(figures, start=1):
        pct = f.unit == "%"
        cells: list[Cell] = [LEVEL_WORDS[f.area_level], f.area_code, f.area_name]
        cells += [ind.LABELS[f.indicator][0], f.indicator, f.numerator, f.denominator]
        cells += [f.value, f.target, f.unit, STATUS[f.status][0], f.note]
        for c, v in enumerate(cells):
            book.put(ws, r, c, v, pct=pct and c in (7, 8))


def _level_sheet(book: Book, report: Report, level: str) -> None:
    """Every figure of one level with a filter; the street sheet also has the ranking chart."""
    sheet = {"district": "全区", "street": "街道", "community": "社区"}[level]
    ws = book.wb.add_worksheet(sheet)
    ws.write_row(0, 0, LEVEL_HEAD, book.head)
    figures = report.level(level)
    _level_rows(book, ws, figures)
    ws.set_column(0, 1, 14)
    ws.set_column(2, 4, 24)
    ws.set_column(11, 11, 44)
    ws.autofilter(0, 0, max(1, len(figures)), len(LEVEL_HEAD) - 1)
    if level == "street" and figures:
        _street_chart(book, ws, figures)


def _street_chart(book: Book, ws: Worksheet, figures: list[Figure]) -> None:
    """Coverage by street, in the order of the ranking, beside the district's target."""
    n = len(figures)
    rows = [i + 1 for i, f in enumerate(figures) if f.indicator == "home_service_coverage"]
    chart = book.wb.add_chart({"type": "bar"})
    chart.add_series(
        {
            "name": "居家上门服务覆盖率（%）",
            "categories": "=(" + ",".join(f"'街道'!$C${r + 1}" for r in rows) + ")",
            "values": "=(" + ",".join(f"'街道'!$H${r + 1}" for r in rows) + ")",
        }
    )
    chart.set_title({"name": "各街道居家上门服务覆盖率"})
    ws.insert_chart(n + 3, 1, chart, {"x_scale": 1.4, "y_scale": 1.4})


def _trend_sheet(book: Book, report: Report, months: list[TrendRow]) -> None:
    """The year month by month; meal cells before the data start stay blank, not 0."""
    ws = book.wb.add_worksheet("月度趋势")
    head = ["月份 month", "上门覆盖率% coverage", "改造户数（累计） retrofits"]
    head += ["助餐实际人次 meal servings", "助餐供客能力 meal capacity", "志愿活动 events"]
    ws.write_row(0, 0, head, book.head)
    for r, m in enumerate(months, start=1):
        book.put(ws, r, 0, m["month"])
        book.put(ws, r, 1, m["coverage_pct"], pct=True)
        book.put(ws, r, 2, m["retrofit_households"])
        book.put(ws, r, 3, m["meal_servings"])
        book.put(ws, r, 4, m["meal_capacity"])
        book.put(ws, r, 5, m["volunteer_events"])
    ws.set_column(0, 5, 18)


def _bundle_sheet(book: Book, report: Report) -> None:
    """Who has not sent: community × month, then each laptop's last bundle and app version."""
    grid = report.operational["bundles"]
    ws = book.wb.add_worksheet("数据包接收")
    ws.write_row(0, 0, ["社区代码 community", *(f"{m}月 {m}" for m in grid["months"])], book.head)
    for r, (comm, cells) in enumerate(grid["rows"], start=1):
        book.put(ws, r, 0, comm)
        for c, key in enumerate(cells, start=1):
            book.put(ws, r, c, CELL_WORDS[key][0])
    first = len(grid["rows"]) + 3
    head = ["设备 device", "社区 communities", "最后期间 last period", "最后接收 merged at"]
    ws.write_row(first, 0, [*head, "软件版本 app version"], book.head)
    for r, d in enumerate(report.operational["devices"], start=first + 1):
        line: list[Cell] = [d["device"], " ".join(d["communities"]), d["last_period"]]
        for c, v in enumerate([*line, d["last_merged_at"], d["app_version"] or "未知"]):
            book.put(ws, r, c, v)
    ws.set_column(0, 0, 22)
    ws.set_column(1, 13, 11)
