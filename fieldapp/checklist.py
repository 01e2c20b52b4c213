"""This month's checklist: per community, its devices, the last bundle received and whether the
month's bundle is received, missing, refused (with the reason), waiting to be merged or not expected.

Received, missing and not expected are the report's own cells (`report.operations.bundle_grid`,
one rule for both): a community is expected to send for a month when a device of it (by its
enrolment or its bundles) was enrolled and not revoked during that month; a received bundle no
device was expected to send is "unexpected". Refusals are found in the folders the supervisor
scans: a bundle of the month there that is not merged is checked the way the merge would start
(readable, signed by an enrolled, unrevoked device) without decrypting anything, and the merge's
own refusals (`known`, file name → reason) are added as they are.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from fieldapp.devices import device_rows
from fieldapp.report.operations import bundle_grid, device_communities
from fieldapp.sqlite import sqlite3

STATES = ("received", "refused", "pending", "missing", "unexpected", "not_expected")
STATE_WORDS = {
    "received": ("已收到", "received"),
    "refused": ("拒收", "refused"),
    "pending": ("未合并", "not merged yet"),
    "missing": ("未收到", "missing"),
    "unexpected": ("收到（未预期）", "received (not expected)"),
    "not_expected": ("不适用", "not expected"),
}
SORTS = ("state", "community", "street", "last")


@dataclass(frozen=True)
class Refusal:
    file_name: str
    community_code: str
    period: str
    reason: str


@dataclass
class ChecklistRow:
    community_code: str
    community_name: str
    street_name: str
    devices: list[str]
    last: str  # "2026-05 第3个 v2.1.0" or ""
    state: str
    reason: str = ""


@dataclass
class Checklist:
    period: str
    rows: list[ChecklistRow]
    unreadable: list[Refusal] = field(default_factory=list)  # no manifest: no community to say

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        for r in self.rows:
            out[r.state] += 1
        return out

    def sorted(self, key: str) -> list[ChecklistRow]:
        """By state (the worst first: refused, missing…), community code, street or last bundle."""
        order = {s: i for i, s in enumerate(("refused", "missing", "pending", "unexpected"))}
        keys = {
            "state": lambda r: (order.get(r.state, 9), r.community_code),
            "community": lambda r: (r.community_code,),
            "street": lambda r: (r.street_name, r.community_code),
            "last": lambda r: (r.last, r.community_code),
        }
        return sorted(self.rows, key=keys[key])


def state_word(state: str, lang: str = "zh") -> str:
    zh, en = STATE_WORDS[state]
    return en if lang == "en" else zh


def _grid_cells(conn: sqlite3.Connection, period: str) -> dict[str, str]:
    """Per community, the report's bundle-grid cell for the month: received, missing or
    not_expected (a community absent from the grid has no device and no bundle: not expected)."""
    year, month = int(period[:4]), int(period[5:7])
    grid = bundle_grid(conn, year, date(year, month, 1))
    return {code: cells[-1] for code, cells in grid["rows"] if cells}


def _expected(conn: sqlite3.Connection, period: str) -> set[str]:
    """The communities a device was expected to send for in the month (the grid's rule, asked
    only for a received cell: received but not expected is "unexpected")."""
    spans = {
        r[0]: (r[1][:7], (r[2] or "")[:7])
        for r in conn.execute("SELECT device_id, enrolled_at, revoked_at FROM enrolled_devices")
    }
    out: set[str] = set()
    for dev, codes in device_communities(conn).items():
        start, end = spans.get(dev, ("9999", ""))
        if start <= period and (not end or period <= end):
            out.update(codes)
    return out


def _last_bundles(conn: sqlite3.Connection, period: str) -> dict[str, str]:
    """Per community, its last bundle up to the period: period, seq and (when kept) app version."""
    has_version = any(r[1] == "app_version" for r in conn.execute("PRAGMA table_info(bundles)"))
    version = "app_version" if has_version else "''"
    out: dict[str, str] = {}
    for code, p, seq, v in conn.execute(
        f"SELECT community_code, period, seq, coalesce({version}, '') FROM bundles"
        " WHERE period <= ? ORDER BY period, merged_at",
        (period,),
    ):
        out[code] = f"{p} 第{seq}个" + (f" v{v}" if v else "")
    return out


def bundle_paths(folders: Iterable[Path]) -> list[Path]:
    """Every bundle file under the folders, subfolders included (one per stick or month)."""
    out: list[Path] = []
    for folder in folders:
        if folder.is_dir():
            out.extend(sorted(p for p in folder.rglob("*.fieldbundle") if p.is_file()))
        elif folder.is_file():
            out.append(folder)
    return out


def refusal_reason(conn: sqlite3.Connection, path: Path) -> tuple[dict[str, object] | None, str]:
    """(manifest, "") for a bundle the merge would start on, (manifest or None, reason) otherwise;
    "already" as the reason of a bundle already merged whose sealed member matches its signed
    digest (as the merge says, issue 16 point 12). Nothing is decrypted."""
    from fieldapp.sync.bundle_check import check_signer
    from fieldapp.sync.bundle_format import BundleError
    from fieldapp.sync.bundle_read import open_bundle

    manifest: dict[str, object] | None = None
    try:
        with open_bundle(path, allow_v1=True) as reader:
            m = reader.manifest
            manifest = m.model_dump()
            if conn.execute("SELECT 1 FROM bundles WHERE bundle_id = ?", (m.bundle_id,)).fetchone():
                if reader.version == 2:  # a damaged copy of a merged bundle is not "already"
                    reader.check_sealed()
                return manifest, "already"
            row = conn.execute(
                "SELECT public_key, revoked_at FROM enrolled_devices WHERE device_id = ?",
                (m.device_id,),
            ).fetchone()
            if reader.version == 2:
                check_signer(reader, {} if row is None else {m.device_id: (row[0], row[1])})
    except BundleError as e:
        return manifest, str(e)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
        return manifest, str(
            BundleError("文件损坏，无法解压", f"damaged file, cannot decompress ({e})")
        )
    return manifest, ""


def scan(
    conn: sqlite3.Connection, folders: Iterable[Path], known: Mapping[str, str] | None = None
) -> tuple[list[Refusal], list[Refusal]]:
    """(refused, waiting) bundles under the folders: `known` (file name → reason, the merge's own
    refusals) wins over the check made here; already-merged bundles are neither."""
    refused: list[Refusal] = []
    waiting: list[Refusal] = []
    for path in bundle_paths(folders):
        manifest, reason = refusal_reason(conn, path)
        if reason == "already":
            continue
        reason = (known or {}).get(path.name, reason)
        code = str((manifest or {}).get("community_code", ""))
        period = str((manifest or {}).get("period", ""))
        (refused if reason else waiting).append(Refusal(path.name, code, period, reason))
    return refused, waiting


def checklist(
    conn: sqlite3.Connection,
    period: str,
    *,
    folders: Iterable[Path] = (),
    known: Mapping[str, str] | None = None,
) -> Checklist:
    """Every community of the district for `period` ("YYYY-MM"), in code order."""
    devices = device_rows(conn)
    cells = _grid_cells(conn, period)
    expected = _expected(conn, period) if "received" in cells.values() else set()
    last = _last_bundles(conn, period)
    refused, waiting = scan(conn, folders, known)
    by_code: dict[str, list[Refusal]] = {}
    for r in refused + waiting:
        if r.period == period:
            by_code.setdefault(r.community_code, []).append(r)
    streets = {r[0]: r[1] for r in conn.execute("SELECT code, name_zh FROM ref_street")}
    titles: dict[str, list[str]] = {}
    for d in devices:
        for code in d.communities:
            titles.setdefault(code, []).append(
                f"{d.worker or d.label or '—'} {d.distinct}"
                + ("（已撤销）" if d.revoked_at else "")
            )
    rows = []
    for code, name, street in conn.execute(
        "SELECT code, name_zh, street_code FROM ref_community ORDER BY code"
    ):
        state, reason = cells.get(code, "not_expected"), ""
        if state == "received" and code not in expected:
            state = "unexpected"
        found = by_code.get(code, [])
        if state in ("missing", "not_expected") and found:
            bad = [f for f in found if f.reason]
            state = "refused" if bad else "pending"
            reason = "；".join(f"{f.file_name}：{f.reason}" for f in bad) or found[0].file_name
        rows.append(
            ChecklistRow(
                code,
                name,
                streets.get(street, street),
                titles.get(code, []),
                last.get(code, ""),
                state,
                reason,
            )
        )
    unreadable = [r for r in refused if not r.community_code]
    return Checklist(period, rows, unreadable)


def write_xlsx(cl: Checklist, out: Path, *, sort: str = "state", lang: str = "zh") -> None:
    """The checklist as one sheet, in the order shown on screen."""
    import xlsxwriter

    en = lang == "en"
    wb = xlsxwriter.Workbook(str(out))
    bold = wb.add_format({"bold": True, "border": 1, "bg_color": "#DDEBF7"})
    cell = wb.add_format({"border": 1})
    ws = wb.add_worksheet(cl.period)
    heads = (
        ("Code", "Community", "Street", "Devices", "Last bundle", "State", "Reason")
        if en
        else ("社区代码", "社区", "街道", "设备", "最后收到", "状态", "原因")
    )
    for col, h in enumerate(heads):
        ws.write(0, col, h, bold)
    for i, r in enumerate(cl.sorted(sort), start=1):
        values = (
            r.community_code,
            r.community_name,
            r.street_name,
            "、".join(r.devices),
            r.last,
            state_word(r.state, lang),
            r.reason,
        )
        for col, v in enumerate(values):
            ws.write(i, col, v, cell)
    ws.set_column(0, 0, 14)
    ws.set_column(1, 2, 16)
    ws.set_column(3, 4, 24)
    ws.set_column(5, 5, 12)
    ws.set_column(6, 6, 60)
    for j, u in enumerate(cl.unreadable, start=len(cl.rows) + 2):
        ws.write(j, 0, u.file_name)
        ws.write(j, 6, u.reason)
    wb.close()


def months_of(conn: sqlite3.Connection) -> list[str]:
    """The periods bundles were received for, newest first (the screen's choice of month)."""
    return [r[0] for r in conn.execute("SELECT DISTINCT period FROM bundles ORDER BY 1 DESC")]
