"""The city roll-up: each district's year figures side by side from its current bundle, and the
city totals, numerators and denominators summed (a rate is Σ numerators / Σ denominators, never
an average of the districts' percentages); which districts have not reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fieldapp.indicators import INDICATORS, LABELS, RATE_INDICATORS, UNITS
from fieldapp.sqlite import sqlite3

PER_MONTH = ("meal_monthly_capacity", "meal_monthly_servings")


@dataclass(frozen=True)
class Cell:
    numerator: float
    denominator: float | None
    value: float | None


@dataclass(frozen=True)
class CityReport:
    year: int
    districts: list[tuple[str, str]]  # (code, name) of the districts that reported, in code order
    missing: list[tuple[str, str]]  # … and of those that have not
    cells: dict[tuple[str, str], Cell]  # (district code, indicator)
    totals: dict[str, Cell]
    as_of: dict[str, str]  # district → its bundle's as-of date
    notes: list[str]


def total(indicator: str, cells: list[Cell]) -> Cell:
    """The city's figure from the districts': rates from summed numerators and denominators;
    monthly averages (meals) add up as monthly figures; counts add up."""
    num = sum(c.numerator for c in cells)
    if indicator in RATE_INDICATORS:
        den = sum(c.denominator or 0 for c in cells)
        return Cell(num, den, round(100 * num / den, 2) if den else None)
    if indicator in PER_MONTH:
        values = [c.value for c in cells if c.value is not None]
        return Cell(num, None, round(sum(values), 2) if values else None)
    return Cell(num, None, num)


def build(conn: sqlite3.Connection, year: int) -> CityReport:
    divisions = conn.execute("SELECT code, name_zh FROM ref_division ORDER BY code").fetchall()
    current = dict(
        conn.execute(
            "SELECT district, as_of FROM bundle WHERE year = ? AND current = 1", (year,)
        ).fetchall()
    )
    cells: dict[tuple[str, str], Cell] = {}
    for code, ind, num, den, val in conn.execute(
        "SELECT b.district, f.indicator, f.numerator, f.denominator, f.value FROM figure f"
        " JOIN bundle b ON b.bundle_id = f.bundle_id AND b.current = 1 AND b.year = ?"
        " WHERE f.area_level = 'district' AND f.period = ?",
        (year, str(year)),
    ):
        cells[(code, ind)] = Cell(float(num), den, val)
    reported = [(c, n) for c, n in divisions if c in current]
    totals = {
        i: total(i, [cells[(c, i)] for c, _ in reported if (c, i) in cells]) for i in INDICATORS
    }
    samples = [n for (n,) in conn.execute("SELECT name_zh FROM ref_division WHERE pop_sample = 1")]
    notes = [
        f"全市合计：覆盖率类指标为各区分子之和 ÷ 分母之和（不是各区百分比的平均）；"
        f"助餐为各区月均之和；户数、场次为各区之和（{len(reported)}个区县）",
    ]
    missing = [(c, n) for c, n in divisions if c not in current]
    if missing:
        notes.append("未报送：" + "、".join(f"{n}（{c}）" for c, n in missing))
    if samples:
        notes.append("市级参考人口中为示例数的区县：" + "、".join(samples))
    return CityReport(year, reported, missing, cells, totals, current, notes)


def fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:,.2f}".rstrip("0").rstrip(".")


def cell_text(c: Cell | None, indicator: str) -> str:
    if c is None:
        return "—"
    if c.denominator is not None and indicator in RATE_INDICATORS:
        return f"{fmt(c.value)}% ({fmt(c.numerator)}/{fmt(c.denominator)})"
    return fmt(c.value)


def lines(r: CityReport) -> list[str]:
    """The report as terminal lines: one line per indicator, a column per district, the city."""
    head = ["指标"] + [n for _, n in r.districts] + ["全市合计"]
    out = [f"泰州市 {r.year}年 指标汇总", " | ".join(head)]
    for i in INDICATORS:
        row = [f"{LABELS[i][0]}（{UNITS[i]}）"]
        row += [cell_text(r.cells.get((c, i)), i) for c, _ in r.districts]
        row.append(cell_text(r.totals[i], i))
        out.append(" | ".join(row))
    out += r.notes
    return out


def write_xlsx(r: CityReport, path: Path) -> None:
    """One sheet: indicators down, each district's numerator, denominator and value across, then
    the city's; the notes below (which districts have not reported)."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("全市汇总")
    bold = wb.add_format({"bold": True})
    ws.write(0, 0, f"泰州市 {r.year}年 指标汇总", bold)
    cols = [*r.districts, ("city", "全市合计")]
    ws.write(1, 0, "指标", bold)
    for j, (_, name) in enumerate(cols):
        for k, part in enumerate(("分子", "分母", "值")):
            ws.write(1, 1 + 3 * j + k, f"{name} {part}", bold)
    for i, ind in enumerate(INDICATORS):
        ws.write(2 + i, 0, f"{LABELS[ind][0]}（{UNITS[ind]}）")
        for j, (code, _) in enumerate(cols):
            c = r.totals[ind] if code == "city" else r.cells.get((code, ind))
            for k, v in enumerate((c.numerator, c.denominator, c.value) if c else (None,) * 3):
                if v is not None:
                    ws.write_number(2 + i, 1 + 3 * j + k, v)
    for n, note in enumerate(r.notes):
        ws.write(3 + len(INDICATORS) + n, 0, note)
    ws.set_column(0, 0, 34)
    wb.close()
