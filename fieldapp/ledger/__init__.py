"""The monthly ledgers (台账) a community worker prints and files for inspections, from this device's records.

build.py gathers a month's rows of one kind (labels in Chinese, ID numbers masked); xlsx.py lays
them out for printing. No Textual here: the CLI and the screens both call `write_ledger`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fieldapp.ledger.build import (
    KIND_TITLES,
    LEDGER_KINDS,
    Column,
    Ledger,
    LedgerError,
    build_ledger,
    check_kind,
    parse_month,
)
from fieldapp.ledger.xlsx import write_xlsx

if TYPE_CHECKING:
    from fieldapp.store import Store

__all__ = [
    "KIND_TITLES",
    "LEDGER_KINDS",
    "Column",
    "Ledger",
    "LedgerError",
    "build_ledger",
    "check_kind",
    "parse_month",
    "write_ledger",
    "write_xlsx",
]


def write_ledger(store: Store, *, kind: str, month: str, path: Path) -> Path:
    """The month's ledger of `kind` (home_visit, meal, volunteer, retrofit) for `month` (YYYY-MM)
    written to `path` (created 0600); a bad kind, month or path raises LedgerError."""
    return write_xlsx(build_ledger(store.conn, kind=kind, month=month), Path(path))
