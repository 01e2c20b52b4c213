"""The district report as text: the CSV of SPEC §7 (its ten columns exactly), the level choice of
`--by`, and the lines of the terminal table."""

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
    ]


def write_csv(report: Report, path: Path, levels: tuple[str, ...]) -> None:
    """UTF-8 with BOM (so Excel shows Chinese); exactly the columns of CSV_COLUMNS."""
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for fig in report.figures:
            if fig.area_level in levels:
                w.writerow(csv_row(fig))


def levels_for(by: str) -> tuple[str, ...]:
    return {
        "district": ("district",),
        "street": ("district", "street"),
        "community": ("district", "street", "community"),
    }[by]


def table_cells(report: Report, levels: tuple[str, ...], lang: str) -> Iterator[tuple[str, ...]]:
    """The terminal table's rows: area (on its first row only), indicator, numerator, denominator,
    value, target, status word, status key (for the colour)."""
    zh = lang != "en"
    last_area = None
    for f in report.figures:
        if f.area_level not in levels:
            continue
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


def operational_line(op: Operational, lang: str) -> str:
    return (
        "上门服务 {visits} 人次 / {workers} 名工作人员（人均 {visits_per_worker}）；困难老人本月探访 {hardship_visited}/{hardship_elders}（{hardship_month}）；"
        "逾期未探访 {overdue_followups}；待处理冲突 {open_conflicts}，待审核 {open_reviews}"
        if lang != "en"
        else "{visits} visits by {workers} workers ({visits_per_worker} each); hardship elders visited {hardship_visited}/{hardship_elders} ({hardship_month}); "
        "overdue {overdue_followups}; open conflicts {open_conflicts}, review items {open_reviews}"
    ).format(**op)
