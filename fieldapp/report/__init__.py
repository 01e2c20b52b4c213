"""The district report (SPEC §7): figures per district, street and community built from
fieldapp.indicators, kept in a cache, written as CSV, terminal lines and an XLSX workbook.

Layout: figures.py builds the Report (and the operational figures and monthly trend), cache.py
keeps it, output.py writes CSV and table lines, xlsx.py the workbook. The definitions of what
counts live in fieldapp.indicators only.
"""

from fieldapp.indicators import INDICATORS, LABELS, RETROFIT_FROM, UNITS, Period, period
from fieldapp.report.cache import build_cached, data_state, warm
from fieldapp.report.figures import (
    STATUS,
    Figure,
    Operational,
    Raw,
    Report,
    TrendRow,
    build,
    operational,
    raw_counts,
    trend,
)
from fieldapp.report.output import (
    CSV_COLUMNS,
    csv_row,
    fmt_num,
    header_lines,
    levels_for,
    operational_line,
    table_cells,
    write_csv,
)
from fieldapp.report.xlsx import write_xlsx

__all__ = [
    "CSV_COLUMNS",
    "INDICATORS",
    "LABELS",
    "RETROFIT_FROM",
    "STATUS",
    "UNITS",
    "Figure",
    "Operational",
    "Period",
    "Raw",
    "Report",
    "TrendRow",
    "build",
    "build_cached",
    "csv_row",
    "data_state",
    "warm",
    "fmt_num",
    "levels_for",
    "operational",
    "header_lines",
    "operational_line",
    "period",
    "raw_counts",
    "table_cells",
    "trend",
    "write_csv",
    "write_xlsx",
]
