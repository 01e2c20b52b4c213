"""The district report as text: the CSV of SPEC §7 (its ten columns and `note`), the level choice
of `--by` and `--street`, and the lines of the terminal table (rows with nothing to report left
out)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from fieldapp.indicators import LABELS
from fieldapp.report.figures import STATUS, Figure, Operational, Report

CSV_COLUMNS = [
    "area_level",
    "area_code",
    "area_name",
    "indicator",
    "numerator",
    "denominator",
    "value",
    "target",
    "unit",
    "status",
    "note",
]


def fmt_num(x: float) -> str:
    """A count without decimals, anything else with two."""
    return str(int(x)) if float(x).is_integer() else f"{x:.2f}"


def csv_row(f: Figure) -> list[str]:
    return [
        f.area_level,
        f.area_code,
        f.area_name,
        f.indicator,
        fmt_num(f.numerator),
        "" if f.denominator is None else fmt_num(f.denominator),
        "" if f.value is None else f"{f.value:.2f}",
        "" if f.target is None else fmt_num(f.target),
        f.unit,
        f.status,
        f.note,
    ]


def write_csv(
    report: Report, path: Path, levels: tuple[str, ...], street: str | None = None
) -> None:
    """UTF-8 with BOM (so Excel shows Chinese); exactly the columns of CSV_COLUMNS."""
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for fig in selected(report, levels, street, skip_empty=False):
            w.writerow(csv_row(fig))


def in_street(f: Figure, street: str | None) -> bool:
    """The district's row always; with a street, that street and its communities only."""
    return street is None or f.area_level == "district" or f.area_code.startswith(street)


def has_something(f: Figure) -> bool:
    """A row worth a line: a count above 0, or a target to be behind on at street level up."""
    return bool(f.numerator) or (f.area_level != "community" and f.target is not None)


def selected(
    report: Report, levels: tuple[str, ...], street: str | None, *, skip_empty: bool = True
) -> Iterator[Figure]:
    for f in report.figures:
        wanted = not skip_empty or f.area_level == "district" or has_something(f)
        if f.area_level in levels and in_street(f, street) and wanted:
            yield f


def levels_for(by: str) -> tuple[str, ...]:
    return {
        "district": ("district",),
        "street": ("district", "street"),
        "community": ("district", "street", "community"),
    }[by]


def table_cells(
    report: Report, levels: tuple[str, ...], lang: str, street: str | None = None
) -> Iterator[tuple[str, ...]]:
    """The terminal table's rows: area (on its first row only), indicator, numerator, denominator,
    value, target, status word, status key (for the colour). Rows with nothing to report (a
    community's zero count) are left out; `street` keeps that street and its communities."""
    zh = lang != "en"
    last_area = None
    for f in selected(report, levels, street):
        area = f.area_name if f.area_code != last_area else ""
        last_area = f.area_code
        yield (
            area,
            LABELS[f.indicator][0 if zh else 1],
            fmt_num(f.numerator),
            "" if f.denominator is None else fmt_num(f.denominator),
            "—" if f.value is None else f"{f.value:.2f}{f.unit if f.unit == '%' else ''}",
            "—" if f.target is None else fmt_num(f.target),
            STATUS[f.status][0 if zh else 1],
            f.status,
        )


def header_lines(report: Report) -> list[str]:
    """What every report prints first: its as-of date, meal data start and notes."""
    return list(report.notes)


def operational_line(op: Operational, lang: str) -> str:
    return (
        "上门服务 {visits} 人次 / {workers} 名工作人员（人均 {visits_per_worker}）；困难老人本月探访 {hardship_visited}/{hardship_elders}（{hardship_month}）；"
        "逾期未探访 {overdue_followups}；待处理冲突 {open_conflicts}，待审核 {open_reviews}"
        if lang != "en"
        else "{visits} visits by {workers} workers ({visits_per_worker} each); hardship elders visited {hardship_visited}/{hardship_elders} ({hardship_month}); "
        "overdue {overdue_followups}; open conflicts {open_conflicts}, review items {open_reviews}"
    ).format(**op)
