"""The district report as an XLSX workbook an official can hand on: a summary laid out like the
plan's indicator table with the operational figures, a sheet per level, the monthly trend, and
native charts of coverage and retrofits against target. One function per sheet or part."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from fieldapp import indicators as ind
from fieldapp.report.figures import DISTRICT_CODE, STATUS, Report, TrendRow, trend
from fieldapp.report.output import CSV_COLUMNS
from fieldapp.sqlite import sqlite3

if TYPE_CHECKING:
    from xlsxwriter.format import Format
    from xlsxwriter.workbook import Workbook
    from xlsxwriter.worksheet import Worksheet

Cell = str | float | int


@dataclass
class Book:
    """The workbook with its cell formats and language, handed to each sheet's writer."""

    wb: Workbook
    zh: bool
    bold: Format
    cell: Format
    num: Format
    title: Format

    def words(self, zh: str, en: str) -> str:
        return zh if self.zh else en

    def write(self, ws: Worksheet, row: int, col: int, value: Cell | None) -> None:
        """A number with two decimals when it is a float; an empty bordered cell for None."""
        if value is None:
            ws.write_blank(row, col, None, self.cell)
        else:
            ws.write(row, col, value, self.num if isinstance(value, float) else self.cell)


def write_xlsx(
    report: Report,
    path: Path,
    conn: sqlite3.Connection,
    *,
    lang: str = "zh",
    today: date | None = None,
) -> None:
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    book = Book(
        wb,
        lang != "en",
        wb.add_format(
            {
                "bold": True,
                "border": 1,
                "bg_color": "#DDEBF7",
                "text_wrap": True,
                "valign": "vcenter",
            }
        ),
        wb.add_format({"border": 1}),
        wb.add_format({"border": 1, "num_format": "0.00"}),
        wb.add_format({"bold": True, "font_size": 14}),
    )
    summary = _summary_sheet(book, report, conn)
    _operational_block(book, summary, report, first_row=10)
    for level, sheet in (("district", "全区"), ("street", "街道"), ("community", "社区")):
        _level_sheet(book, report, level, book.words(sheet, level.capitalize()))
    _trend_sheet(book, report, trend(conn, report.period.year, today=today))
    wb.close()


def _summary_sheet(book: Book, report: Report, conn: sqlite3.Connection) -> Worksheet:
    """The plan's indicator table: baseline, target, actual, unit, kind and status per indicator."""
    y = report.period.year
    ws = book.wb.add_worksheet(book.words("指标汇总", "Summary"))
    ws.write(
        0,
        0,
        book.words(
            f"海陵区“一老一小”规划 养老服务指标 {report.period.label}",
            f"Hailing plan: elderly-care indicators {report.period.label}",
        ),
        book.title,
    )
    zh_head = ["序号", "指标", "2022年基数", f"{y}年目标", f"{y}年实际", "单位", "指标属性"]
    en_head = ["No.", "Indicator", "2022 baseline", f"{y} target", f"{y} actual", "Unit", "Kind"]
    zh_head += ["状态", "分子", "分母", "说明"]
    en_head += ["Status", "Numerator", "Denominator", "Note"]
    ws.write_row(2, 0, zh_head if book.zh else en_head, book.bold)
    targets = ind.targets(conn, y)
    base22 = ind.targets(conn, ind.BASELINE_YEAR)
    for i, name in enumerate(ind.INDICATORS):
        f = report.get(DISTRICT_CODE, name)
        t, b = targets.get(name), base22.get(name)
        kind = t.kind if t else ""
        row: list[Cell] = [
            i + 1,
            ind.LABELS[name][0 if book.zh else 1],
            b.value if b else "—",
            f.target if f.target is not None else "—",
            f.value if f.value is not None else "—",
            f.unit,
            {"binding": "约束性", "expected": "预期性"}.get(kind, kind) if book.zh else kind,
            STATUS[f.status][0 if book.zh else 1],
            f.numerator,
            f.denominator if f.denominator is not None else "",
            f.note,
        ]
        for c, v in enumerate(row):
            book.write(ws, 3 + i, c, v)
    ws.set_column(0, 0, 6)
    ws.set_column(1, 1, 30)
    ws.set_column(2, 9, 12)
    ws.set_column(10, 10, 40)
    return ws


def _operational_block(book: Book, ws: Worksheet, report: Report, *, first_row: int) -> None:
    op = report.operational
    ws.write(first_row, 0, book.words("运行指标", "Operational"), book.title)
    month = op["hardship_month"]
    ops: list[tuple[str, str, Cell]] = [
        (
            "上门服务人次 / 工作人员数 / 人均",
            "visits / workers / per worker",
            f"{op['visits']} / {op['workers']} / {op['visits_per_worker']}",
        ),
        (
            f"困难老人本月探访（{month}）",
            f"hardship elders visited ({month})",
            f"{op['hardship_visited']} / {op['hardship_elders']}",
        ),
        ("逾期未探访", "overdue follow-ups", op["overdue_followups"]),
        (
            "待处理冲突 / 待审核",
            "open conflicts / review items",
            f"{op['open_conflicts']} / {op['open_reviews']}",
        ),
    ]
    for i, (zh, en, v) in enumerate(ops):
        ws.write(first_row + 1 + i, 1, book.words(zh, en), book.cell)
        ws.write(first_row + 1 + i, 2, v, book.cell)


def _level_sheet(book: Book, report: Report, level: str, sheet: str) -> None:
    """Every figure of one level, in the CSV's columns plus the note, with a filter."""
    ws = book.wb.add_worksheet(sheet)
    ws.write_row(0, 0, [*CSV_COLUMNS, "note"], book.bold)
    figures = report.level(level)
    for r, f in enumerate(figures, start=1):
        values: list[Cell | None] = [
            f.area_level,
            f.area_code,
            f.area_name,
            f.indicator,
            f.numerator,
            f.denominator,
            f.value,
            f.target,
            f.unit,
            f.status,
            f.note,
        ]
        for c, v in enumerate(values):
            book.write(ws, r, c, v)
    ws.set_column(0, 1, 14)
    ws.set_column(2, 3, 24)
    ws.set_column(10, 10, 40)
    ws.autofilter(0, 0, max(1, len(figures)), len(CSV_COLUMNS))


def _trend_sheet(book: Book, report: Report, months: list[TrendRow]) -> None:
    """The year month by month, with the targets beside coverage and retrofits for the charts."""
    sheet = book.words("月度趋势", "Monthly trend")
    ws = book.wb.add_worksheet(sheet)
    cov_t = report.get(DISTRICT_CODE, "home_service_coverage").target
    ret_t = report.get(DISTRICT_CODE, "retrofit_households").target
    zh_head = ["月份", "上门覆盖率%", "覆盖率目标%", "改造户数（累计）", "改造目标"]
    en_head = ["Month", "Coverage %", "Coverage target %", "Retrofits (cumulative)"]
    en_head += ["Retrofit target"]
    zh_head += ["助餐人次", "志愿活动"]
    en_head += ["Meal servings", "Volunteer events"]
    ws.write_row(0, 0, zh_head if book.zh else en_head, book.bold)
    for r, m in enumerate(months, start=1):
        row: list[Cell] = [
            m["month"],
            m["coverage_pct"],
            cov_t if cov_t is not None else "",
            m["retrofit_households"],
            ret_t if ret_t is not None else "",
            m["meal_servings"],
            m["volunteer_events"],
        ]
        ws.write_row(r, 0, row, book.cell)
    ws.set_column(0, 6, 16)
    n = len(months)
    if n:
        ws.insert_chart(n + 3, 0, _coverage_chart(book, sheet, n, cov_t), {"x_scale": 1.3})
        ws.insert_chart(n + 3, 6, _retrofit_chart(book, sheet, n, ret_t), {"x_scale": 1.3})


def _series(sheet: str, n: int, column: int, name: str) -> dict[str, object]:
    """A series of the trend sheet's column over its n months."""
    return {
        "name": name,
        "categories": [sheet, 1, 0, n, 0],
        "values": [sheet, 1, column, n, column],
    }


def _coverage_chart(book: Book, sheet: str, n: int, target: float | None) -> object:
    chart = book.wb.add_chart({"type": "line"})
    chart.add_series(
        _series(sheet, n, 1, book.words("上门覆盖率%", "Coverage %"))
        | {"marker": {"type": "circle"}}
    )
    if target is not None:
        chart.add_series(
            _series(sheet, n, 2, book.words("目标%", "Target %")) | {"line": {"dash_type": "dash"}}
        )
    chart.set_title({"name": book.words("居家上门服务覆盖率", "Home-service coverage")})
    chart.set_y_axis({"name": "%"})
    return chart


def _retrofit_chart(book: Book, sheet: str, n: int, target: float | None) -> object:
    bars = book.wb.add_chart({"type": "column"})
    bars.add_series(_series(sheet, n, 3, book.words("改造户数", "Retrofits")))
    if target is not None:
        line = book.wb.add_chart({"type": "line"})
        line.add_series(
            _series(sheet, n, 4, book.words("目标", "Target")) | {"line": {"dash_type": "dash"}}
        )
        bars.combine(line)
    bars.set_title(
        {"name": book.words("居家适老化改造户数（累计）", "Retrofitted households (cumulative)")}
    )
    return bars
