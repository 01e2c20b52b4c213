"""The roster import itself: read and check every row first, then save all of it (or nothing) as versions of this device, and record the import."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from fieldapp import kinds
from fieldapp.roster import mapping as mapping_mod
from fieldapp.roster.check import Issue, RowChecker, duplicate_key, duplicate_text
from fieldapp.roster.mapping import KINDS, Mapping, find_header
from fieldapp.roster.read import MAX_BLANK_RUN, MAX_ROWS, Cell, RosterRefused, open_rows

if TYPE_CHECKING:
    from fieldapp.models import Record
    from fieldapp.store import Store

# progress(stage, done, total): stage is "读取" while rows are read and checked, "保存" while saved
Progress = Callable[[str, int, int | None], None]
PREVIEW_ROWS = 10
_STEP = 250


@dataclass(frozen=True)
class Options:
    sheet: str | None = None
    mapping_file: Path | None = None
    dry_run: bool = False
    skip_invalid: bool = False
    worker: str | None = None  # who imports; the device's worker when None
    progress: Progress | None = None
    cancel: threading.Event | None = None


@dataclass
class Analysis:
    """Everything known about a roster before anything is saved."""

    kind: str
    sha256: str
    sheet: str
    file_kind: str
    encoding: str | None
    mapping: Mapping
    rows_read: int = 0
    ready: list[tuple[int, Record]] = field(default_factory=list)
    existing: list[int] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    bad_cells: dict[int, list[Cell]] = field(default_factory=dict)
    preview: list[tuple[int, list[Cell]]] = field(default_factory=list)

    @property
    def bad_rows(self) -> list[int]:
        return sorted({i.row for i in self.issues if i.row})

    def summary(self) -> str:
        """One paragraph for the worker (CLI and TUI print the same)."""
        unknown = "、".join(self.mapping.unknown) or "无"
        return (
            f"读取 {self.rows_read} 行（工作表「{self.sheet}」，表头在第 {self.mapping.header_row} 行）："
            f"可导入 {len(self.ready)} 行，已在库中 {len(self.existing)} 行，有问题 {len(self.bad_rows)} 行。"
            f"未识别的列：{unknown}。"
        )


@dataclass(frozen=True)
class Outcome:
    analysis: Analysis
    saved: int
    blocked: bool  # problems and no --skip-invalid: nothing saved
    dry_run: bool
    import_id: str | None


def analyse(store: Store, path: Path, kind: str, opts: Options) -> Analysis:
    """Read `path` and check every row against the models and the database; save nothing."""
    if kind not in KINDS:
        raise RosterRefused(f"不能导入「{kind}」：只能是 {'、'.join(KINDS)}", "unknown kind")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise RosterRefused(f"无法读取文件：{e.strerror}", "cannot read file") from None
    reuse = (
        opts.mapping_file if opts.mapping_file is not None and opts.mapping_file.exists() else None
    )
    saved = mapping_mod.load_saved(reuse, kind) if reuse is not None else None
    source = open_rows(path, data, opts.sheet)
    try:
        rows = iter(source.rows)
        head = _take(rows, 20)
        mp = find_header(kind, head, saved)
        a = Analysis(
            kind, hashlib.sha256(data).hexdigest(), source.sheet, source.kind, source.encoding, mp
        )
        rest = (r for r in head if r[0] > mp.header_row)
        _check_rows(store, a, _chain(rest, rows), source.estimate, opts)
    finally:
        source.close()
    if opts.mapping_file is not None and saved is None:
        mapping_mod.save(a.mapping, opts.mapping_file)
    return a


def _take(rows: Iterator[tuple[int, list[Cell]]], n: int) -> list[tuple[int, list[Cell]]]:
    out = []
    for r in rows:
        out.append(r)
        if len(out) == n:
            break
    return out


def _chain(*its: Iterator[tuple[int, list[Cell]]]) -> Iterator[tuple[int, list[Cell]]]:
    for it in its:
        yield from it


def _check_rows(
    store: Store,
    a: Analysis,
    rows: Iterator[tuple[int, list[Cell]]],
    estimate: int | None,
    opts: Options,
) -> None:
    dev = store.device()
    checker = RowChecker(
        a.kind,
        a.mapping,
        dev.community_code if dev else None,
        {c["name_zh"]: c["code"] for c in store.communities()},
        store.community_codes(),
    )
    in_db = _existing_keys(store, a.kind)
    first_seen: dict[tuple[str, ...], int] = {}
    blank_run = 0
    for number, cells in rows:
        if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
            blank_run += 1
            if blank_run > MAX_BLANK_RUN:
                break
            continue
        blank_run = 0
        a.rows_read += 1
        if a.rows_read > MAX_ROWS:
            raise RosterRefused(
                f"文件超过 {MAX_ROWS:,} 行，一次导入不了：请按街道或社区分成几个文件",
                "too many rows",
            )
        if opts.cancel is not None and opts.cancel.is_set():
            raise RosterRefused("导入已取消，未保存任何记录", "cancelled")
        if len(a.preview) < PREVIEW_ROWS:
            a.preview.append((number, cells))
        _one_row(a, checker, number, cells, in_db, first_seen)
        if opts.progress is not None and a.rows_read % _STEP == 0:
            opts.progress("读取", a.rows_read, estimate)


def _one_row(
    a: Analysis,
    checker: RowChecker,
    number: int,
    cells: list[Cell],
    in_db: set[tuple[str, ...]],
    first_seen: dict[tuple[str, ...], int],
) -> None:
    record, issues = checker.check(number, cells)
    if record is not None:
        key = duplicate_key(a.kind, record)
        if key in in_db:
            a.existing.append(number)
            return
        if key in first_seen:
            fld, what = duplicate_text(a.kind, key)
            issues = [Issue(number, fld, what, f"与第{first_seen[key]}行重复（同一{what}）")]
        else:
            first_seen[key] = number
            a.ready.append((number, record))
            return
    a.issues.extend(issues)
    a.bad_cells[number] = cells


def _existing_keys(store: Store, kind: str) -> set[tuple[str, ...]]:
    """Keys of the records already here (not deleted): a row with one of them is not imported again."""
    if kind == "elder":
        sql = "SELECT id_number, name, birth_date FROM elder WHERE deleted = 0"
        return {("id", r[0]) if r[0] else ("nb", r[1], r[2]) for r in store.conn.execute(sql)}
    if kind == "meal_point":
        sql = "SELECT community_code, name FROM meal_point WHERE deleted = 0"
        return {(r[0], r[1]) for r in store.conn.execute(sql)}
    sql = "SELECT community_code, name, coalesce(phone, platform_no, '') FROM volunteer WHERE deleted = 0"
    return {(r[0], r[1], r[2]) for r in store.conn.execute(sql)}


def import_roster(store: Store, path: Path, kind: str, opts: Options) -> Outcome:
    """Analyse, then save every good row in one transaction with the import's record — or nothing:
    on a dry run, or when a row has a problem and `skip_invalid` is not set."""
    a = analyse(store, path, kind, opts)
    blocked = bool(a.issues) and not opts.skip_invalid
    if opts.dry_run or blocked:
        return Outcome(a, 0, blocked, opts.dry_run, None)
    import_id = commit(store, a, opts)
    return Outcome(a, len(a.ready), False, False, import_id)


def commit(store: Store, a: Analysis, opts: Options) -> str:
    from fieldapp import ids
    from fieldapp.store import StoreError

    has_table = store.conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'roster_imports'"
    ).fetchone()
    if not has_table:
        raise RosterRefused(
            "数据库缺少导入记录表（roster_imports），请先升级 fieldapp", "roster_imports missing"
        )
    dev = store.device()
    if dev is None:
        raise RosterRefused("本设备尚未设置（请先运行 fieldapp init）", "device not set up")
    import_id = ids.uuid7()
    total = len(a.ready)
    try:
        with store.transaction():
            for done, (_, record) in enumerate(a.ready, start=1):
                store.create(a.kind, record)
                if opts.cancel is not None and opts.cancel.is_set():
                    raise RosterRefused("导入已取消，未保存任何记录", "cancelled")
                if opts.progress is not None and done % _STEP == 0:
                    opts.progress("保存", done, total)
            store.conn.execute(
                "INSERT INTO roster_imports (import_id, kind, file_sha256, imported_at, imported_by,"
                " device_id, rows_read, rows_created, rows_existing, rows_invalid, detail)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    import_id,
                    a.kind,
                    a.sha256,
                    kinds.now_iso(),
                    opts.worker or dev.worker or dev.label,
                    dev.device_id,
                    a.rows_read,
                    total,
                    len(a.existing),
                    len(a.bad_rows),
                    json.dumps(
                        {"file_kind": a.file_kind, "sheet_header_row": a.mapping.header_row}
                    ),
                ),
            )
    except StoreError as e:
        raise RosterRefused(f"保存失败，未保存任何记录：{e.zh}", e.en) from None
    if opts.progress is not None:
        opts.progress("保存", total, total)
    return import_id
