"""Reads an untrusted roster file (XLSX or CSV) row by row, refusing what is not a spreadsheet before parsing it."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openpyxl.workbook.workbook import Workbook

Cell = str | int | float | bool | object | None

MAX_ROWS = 50_000  # data rows; a community roster has hundreds, a street's a few thousand
MAX_BYTES = 64 * 1024 * 1024  # the file on disk
MAX_UNZIPPED = 512 * 1024 * 1024  # an XLSX's members once inflated (zip bombs)
MAX_COLUMNS = 200
MAX_CELL_CHARS = 2000
MAX_BLANK_RUN = 5_000  # so many empty rows in a row: the sheet's data has ended

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP = b"PK\x03\x04"


class RosterRefused(Exception):
    """The file cannot be imported as it is; `zh` says why to the worker, `en` to a log."""

    def __init__(self, zh: str, en: str) -> None:
        self.zh, self.en = zh, en
        super().__init__(f"{zh} ({en})")


@dataclass
class RowSource:
    """The rows of one sheet: (row number as the worker sees it, cells)."""

    kind: str  # 'xlsx' or 'csv'
    sheet: str
    rows: Iterator[tuple[int, list[Cell]]]
    estimate: int | None = None  # rows the file says it has (XLSX dimension), for progress
    encoding: str | None = None
    _close: list[Workbook] = field(default_factory=list)

    def close(self) -> None:
        for wb in self._close:
            wb.close()


def open_rows(path: Path, data: bytes, sheet: str | None = None) -> RowSource:
    """The rows of `path` (whose bytes are `data`), or RosterRefused naming what is wrong."""
    if len(data) > MAX_BYTES:
        raise RosterRefused(
            f"文件过大（{len(data) // 1048576} MB），上限 {MAX_BYTES // 1048576} MB",
            "file too large",
        )
    if not data.strip():
        raise RosterRefused("文件是空的", "the file is empty")
    if data.startswith(_OLE):
        if "EncryptedPackage".encode("utf-16-le") in data:
            raise RosterRefused(
                "该 Excel 文件设有打开密码，无法读取：请在 Excel 中去掉密码（文件→信息→保护工作簿）后另存为 .xlsx 再导入",
                "password-protected workbook",
            )
        raise RosterRefused(
            "这是旧版 .xls 文件：请在 Excel 中另存为 .xlsx（或 CSV）后再导入",
            "legacy .xls is not read: save as .xlsx",
        )
    if data.startswith(_ZIP):
        return _xlsx(path, data, sheet)
    return _csv(data)


# ------------------------------------------------------------------ XLSX


def _xlsx(path: Path, data: bytes, sheet: str | None) -> RowSource:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = set(z.namelist())
            inflated = sum(i.file_size for i in z.infolist())
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        raise RosterRefused(
            "文件已损坏或不是表格文件（无法作为 .xlsx 打开）", "not a readable XLSX"
        ) from None
    if "xl/workbook.xml" not in names:
        raise RosterRefused(
            "这不是 Excel 表格（.xlsx）文件：请导入 .xlsx 或 CSV",
            "a ZIP file that is not an XLSX workbook",
        )
    if inflated > MAX_UNZIPPED:
        raise RosterRefused("表格文件解压后过大，拒绝读取", "XLSX inflates beyond the cap")
    import openpyxl

    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds on a broken workbook: each is a refusal
        raise RosterRefused(
            "Excel 文件已损坏，无法读取：请在 Excel 中打开后重新另存为 .xlsx",
            "broken XLSX",
        ) from None
    try:
        names_list = list(wb.sheetnames)
        if sheet is not None and sheet not in names_list:
            raise RosterRefused(
                f"没有名为「{sheet}」的工作表；本文件的工作表：{'、'.join(names_list)}",
                "no such sheet",
            )
        ws = wb[sheet] if sheet is not None else wb.worksheets[0]
        estimate = ws.max_row if isinstance(ws.max_row, int) else None
        rows = _xlsx_rows(ws.iter_rows(values_only=True))
        return RowSource("xlsx", ws.title, rows, estimate, None, [wb])
    except RosterRefused:
        wb.close()
        raise
    except Exception:
        wb.close()
        raise RosterRefused("Excel 文件已损坏，无法读取工作表", "broken worksheet") from None


def _xlsx_rows(it: Iterator[tuple[object, ...]]) -> Iterator[tuple[int, list[Cell]]]:
    n = 0
    try:
        for n, row in enumerate(it, start=1):
            yield n, _capped(list(row))
    except RosterRefused:
        raise
    except Exception:
        raise RosterRefused(
            f"Excel 文件第 {n + 1} 行附近已损坏，无法继续读取", "broken worksheet data"
        ) from None


def _capped(cells: list[Cell]) -> list[Cell]:
    if len(cells) > MAX_COLUMNS:
        if any(c not in (None, "") for c in cells[MAX_COLUMNS:]):
            raise RosterRefused(f"表格超过 {MAX_COLUMNS} 列，不像花名册", "too many columns")
        cells = cells[:MAX_COLUMNS]
    for c in cells:
        if isinstance(c, str) and len(c) > MAX_CELL_CHARS:
            raise RosterRefused(
                f"有单元格超过 {MAX_CELL_CHARS} 个字，不像花名册", "a cell is too long"
            )
    return cells


# ------------------------------------------------------------------ CSV


def decode(data: bytes) -> tuple[str, str]:
    """Text and the encoding it was in: UTF-8 (with or without BOM), UTF-16 with BOM (Excel's
    "Unicode text"), else GB18030 (a superset of GBK, Excel's default on Chinese Windows)."""
    if data.startswith(b"\xef\xbb\xbf"):
        candidates = ["utf-8-sig"]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = ["utf-16"]
    else:
        candidates = ["utf-8", "gb18030"]
    for enc in candidates:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        if "\x00" in text or _binary(text):
            break
        return text, ("gbk" if enc == "gb18030" else enc)
    raise RosterRefused(
        "这不是表格文件：请导入 Excel（.xlsx）或 CSV 文件", "not a spreadsheet (binary data)"
    )


def _binary(text: str) -> bool:
    sample = text[:4096]
    bad = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\r\n\x0c")
    return bad > max(2, len(sample) // 100)


def _csv(data: bytes) -> RowSource:
    text, encoding = decode(data)
    first = text.split("\n", 1)[0]
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    return RowSource("csv", "CSV", _csv_rows(text, delimiter), None, encoding)


def _csv_rows(text: str, delimiter: str) -> Iterator[tuple[int, list[Cell]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    n = 0
    try:
        for n, row in enumerate(reader, start=1):
            yield n, _capped(list(row))
    except csv.Error:
        raise RosterRefused(
            f"CSV 文件第 {n + 1} 行格式有误（引号不配对或单元格过长）", "malformed CSV"
        ) from None
