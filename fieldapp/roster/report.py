"""The validation report: the rows with problems, as the worker wrote them, in an XLSX to fix and import again."""

from __future__ import annotations

import io
import os
from datetime import date, datetime
from pathlib import Path

from fieldapp.roster.importer import Analysis
from fieldapp.roster.read import Cell


def write_report(a: Analysis, path: Path) -> int:
    """Write the report (born private, replaced atomically); return the number of problem rows.

    Sheet 「问题行」 holds each bad row with its original headers plus 原行号 and 问题, every cell as
    text (so an ID number cannot turn into a number again): fix the cells, delete the two extra
    columns or not (the import ignores them), and import the sheet again. Sheet 「问题清单」 lists
    each problem with its row number and field."""
    import xlsxwriter

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_numbers": False})
    try:
        bold = wb.add_format({"bold": True})
        text_fmt = wb.add_format({"num_format": "@"})
        ws = wb.add_worksheet("问题行")
        headers = ["原行号", "问题", *[_header(a, i) for i in range(len(a.mapping.headers))]]
        ws.write_row(0, 0, headers, bold)
        ws.set_column(2, len(headers), 16, text_fmt)
        ws.set_column(1, 1, 50)
        by_row: dict[int, list[str]] = {}
        for i in a.issues:
            by_row.setdefault(i.row, []).append(f"{i.label}：{i.message}")
        for r, number in enumerate(a.bad_rows, start=1):
            ws.write_number(r, 0, number)
            ws.write_string(r, 1, "；".join(by_row[number]))
            for c, v in enumerate(a.bad_cells.get(number, [])[: len(a.mapping.headers)]):
                s = _cell_text(v)
                if s:
                    ws.write_string(r, c + 2, s)
        ws.freeze_panes(1, 2)
        lst = wb.add_worksheet("问题清单")
        lst.write_row(0, 0, ["行号", "字段", "问题"], bold)
        lst.set_column(2, 2, 70)
        for r, i in enumerate(a.issues, start=1):
            lst.write_row(r, 0, [i.row, i.label, i.message])
    finally:
        wb.close()
    _write_private(path, buf.getvalue())
    return len(a.bad_rows)


def _header(a: Analysis, i: int) -> str:
    h = a.mapping.headers[i]
    return h or f"列{i + 1}"


def _cell_text(v: Cell) -> str:
    if v is None:
        return ""
    if isinstance(v, datetime):
        return v.date().isoformat() if v.time() == datetime.min.time() else v.isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return str(v)


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
