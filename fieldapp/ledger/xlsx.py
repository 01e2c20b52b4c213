"""The ledger as a printable XLSX: A4 landscape, title and header repeated on every page, page numbers, totals."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from fieldapp.ledger.build import Cell, Ledger, LedgerError, Summary

if TYPE_CHECKING:
    from xlsxwriter.format import Format
    from xlsxwriter.workbook import Workbook
    from xlsxwriter.worksheet import Worksheet

FOOTER = "&C第 &P 页 / 共 &N 页"
HEADER_ROW = 2  # 0: title, 1: community, street, maker; 2: column headings
NUM_FORMATS = {"int": "0", "money": "0.00", "hours": "0.0", "date": "yyyy-mm-dd"}


@dataclass
class _Formats:
    """The cell formats of one workbook, by column style; `bold_*` for the totals rows."""

    title: Format
    info: Format
    head: Format
    cells: dict[str, Format]
    bold: dict[str, Format]


def _formats(wb: Workbook) -> _Formats:
    base = {"border": 1, "valign": "vcenter", "font_size": 10}
    styles = ("text", "sign", "int", "money", "hours", "date")

    def fmt(style: str, bold: bool) -> Format:
        extra: dict[str, object] = {"bold": bold}
        if style in NUM_FORMATS:
            extra["num_format"] = NUM_FORMATS[style]
        else:
            extra["text_wrap"] = True
        return wb.add_format(base | extra)

    return _Formats(
        title=wb.add_format({"bold": True, "font_size": 16, "align": "center"}),
        info=wb.add_format({"font_size": 10}),
        head=wb.add_format(
            base | {"bold": True, "bg_color": "#DDEBF7", "text_wrap": True, "align": "center"}
        ),
        cells={s: fmt(s, False) for s in styles},
        bold={s: fmt(s, True) for s in styles},
    )


def _write_cell(ws: Worksheet, row: int, col: int, value: Cell, fmt: Format) -> None:
    """Numbers as numbers, dates as dates, empty cells still bordered (a box to fill in)."""
    if value is None or value == "":
        ws.write_blank(row, col, None, fmt)
    elif isinstance(value, date):
        ws.write_datetime(row, col, datetime(value.year, value.month, value.day), fmt)
    elif isinstance(value, str):
        ws.write_string(row, col, value, fmt)
    else:
        ws.write_number(row, col, value, fmt)


def _total(rows: list[tuple[Cell, ...]], i: int, style: str) -> int | float:
    values = [v for r in rows if isinstance(v := r[i], int | float)]
    if style == "int":
        return sum(int(v) for v in values)
    return round(sum(float(v) for v in values), 2)


def _summary_row(
    ws: Worksheet, row: int, ledger: Ledger, summary: Summary, formats: _Formats
) -> None:
    """The label in the first column, the number of records in the second (an integer shown as
    `共 12 次`), and the sums under the summed columns."""
    for c, col in enumerate(ledger.columns):
        fmt = formats.bold["text" if col.style in ("date", "sign") else col.style]
        if c == 0:
            ws.write_string(row, c, summary.label, formats.bold["text"])
        elif c == 1:
            ws.write_number(row, c, len(summary.rows), formats.bold[f"count_{ledger.count_unit}"])
        elif col.total:
            ws.write_number(row, c, _total(summary.rows, c, col.style), fmt)
        else:
            ws.write_blank(row, c, None, fmt)


def _page_setup(ws: Worksheet, ledger: Ledger) -> None:
    ws.set_landscape()
    ws.set_paper(9)  # A4
    ws.repeat_rows(0, HEADER_ROW)
    ws.set_footer(FOOTER)
    ws.fit_to_pages(1, 0)  # one page wide, as many long as it takes
    ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.6)
    ws.center_horizontally()
    ws.freeze_panes(HEADER_ROW + 1, 0)
    last = len(ledger.columns) - 1
    ws.print_area(0, 0, HEADER_ROW + len(ledger.rows) + len(ledger.summaries()), last)


def _heading(ws: Worksheet, ledger: Ledger, formats: _Formats) -> None:
    last = len(ledger.columns) - 1
    ws.merge_range(0, 0, 0, last, ledger.title, formats.title)
    ws.set_row(0, 26)
    street = f"{ledger.street_name} · " if ledger.street_name else ""
    ws.write_string(
        1,
        0,
        f"{street}{ledger.community_name}    制表人：{ledger.worker}    "
        f"月份：{ledger.month.year}年{ledger.month.month}月",
        formats.info,
    )
    for c, col in enumerate(ledger.columns):
        ws.write_string(HEADER_ROW, c, col.title, formats.head)
        ws.set_column(c, c, col.width)
    ws.set_row(HEADER_ROW, 30)


def _workbook_bytes(ledger: Ledger) -> bytes:
    import xlsxwriter

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    formats = _formats(wb)
    unit = ledger.count_unit
    formats.bold[f"count_{unit}"] = wb.add_format(
        {"border": 1, "bold": True, "font_size": 10, "num_format": f'"共 "0" {unit}"'}
    )
    ws = wb.add_worksheet(ledger.title[:31].replace("（", "(").replace("）", ")"))
    _heading(ws, ledger, formats)
    sign = any(col.style == "sign" for col in ledger.columns)
    row = HEADER_ROW
    for row, record in enumerate(ledger.rows, start=HEADER_ROW + 1):
        for c, (col, value) in enumerate(zip(ledger.columns, record, strict=True)):
            _write_cell(ws, row, c, value, formats.cells[col.style])
        if sign:
            ws.set_row(row, 28)  # room to sign by hand
    for summary in ledger.summaries():
        row += 1
        _summary_row(ws, row, ledger, summary, formats)
    _page_setup(ws, ledger)
    wb.close()
    return buf.getvalue()


def write_private(path: Path, data: bytes) -> None:
    """Born 0600: a temporary file created with its mode beside `path`, then renamed over it (a
    half-written ledger never replaces a good one)."""
    if path.is_dir():
        raise LedgerError(f"「{path}」是文件夹，请给出文件名", f"{path} is a folder, not a file")
    if not path.parent.is_dir():
        raise LedgerError(
            f"文件夹「{path.parent}」不存在", f"the folder {path.parent} does not exist"
        )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0), 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise LedgerError(
            f"无法写入「{path}」：{e.strerror or e}", f"cannot write {path}: {e}"
        ) from None


def write_xlsx(ledger: Ledger, path: Path) -> Path:
    write_private(path, _workbook_bytes(ledger))
    return path
