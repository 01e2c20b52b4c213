"""Reads and checks the reference data of seed/ (catalogues, rules, divisions, targets); no SQL here."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from fieldapp import paths

LEVEL_ORDER = ("intact", "mild", "moderate", "severe", "total")  # best → worst (GB/T 42195-2022)


class ReferenceError_(ValueError):
    """A reference file (seed or a district's own CSV) is malformed; says which line and why."""

    def __init__(self, file: str, line: int | None, zh: str, en: str) -> None:
        self.file, self.line, self.zh, self.en = file, line, zh, en
        where = f"{file} 第{line}行" if line else file
        super().__init__(f"{where}：{zh}（{file}{f' line {line}' if line else ''}: {en}）")


@dataclass(frozen=True)
class Entry:
    code: str
    zh: str
    en: str
    extra: dict[str, Any] = field(default_factory=dict)

    def label(self, lang: str = "zh") -> str:
        return self.en if lang == "en" else self.zh


@dataclass(frozen=True)
class Band:
    level: str
    min_total: int
    max_total: int


@dataclass(frozen=True)
class Community:
    code: str
    street_code: str
    name_zh: str
    name_en: str
    kind: str
    sample: bool
    code_confirmed: bool
    pop_60: int
    pop_80: int
    note: str = ""


@dataclass(frozen=True)
class Reference:
    catalogues: dict[str, tuple[Entry, ...]]
    rules: dict[str, Any]
    retrofit_items: tuple[Entry, ...]
    bands: tuple[Band, ...]
    streets: tuple[Entry, ...]
    communities: tuple[Community, ...]
    targets: tuple[dict[str, str], ...]

    def codes(self, name: str) -> tuple[str, ...]:
        if name == "retrofit_item":
            return tuple(e.code for e in self.retrofit_items)
        return tuple(e.code for e in self.catalogues[name])

    def entry(self, name: str, code: str) -> Entry | None:
        entries = self.retrofit_items if name == "retrofit_item" else self.catalogues.get(name, ())
        return next((e for e in entries if e.code == code), None)

    def label(self, name: str, code: str, lang: str = "zh") -> str:
        e = self.entry(name, code)
        return e.label(lang) if e else code

    def service_items(self, service_type: str) -> tuple[str, ...]:
        return self._service_items.get(service_type, ())

    @cached_property
    def _service_items(self) -> dict[str, tuple[str, ...]]:
        """Each service type's items, worked out once: every home visit's check asks (issue 20)."""
        out: dict[str, tuple[str, ...]] = {}
        for e in self.catalogues.get("service_type", ()):
            out.setdefault(e.code, tuple(i["code"] for i in e.extra.get("items", ())))
        return out

    def coefficient(self, category: str) -> float:
        e = self.entry("volunteer_category", category)
        return float(e.extra.get("coefficient", 1.0)) if e else 1.0

    def level_for_total(self, total: int) -> str:
        for b in self.bands:
            if b.min_total <= total <= b.max_total:
                return b.level
        raise ValueError(f"no assessment band covers total {total}")


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _entries(raw: list[dict[str, Any]]) -> tuple[Entry, ...]:
    return tuple(
        Entry(
            code=r["code"],
            zh=r["zh"],
            en=r["en"],
            extra={k: v for k, v in r.items() if k not in ("code", "zh", "en")},
        )
        for r in raw
    )


COMMUNITY_COLUMNS = ("code", "street_code", "name_zh", "pop_60", "pop_80")  # required
YES = ("yes", "1", "true", "是")


def parse_communities(path: Path, street_codes: set[str]) -> tuple[Community, ...]:
    """Parse a communities CSV (seed or a district's own); any bad line refuses the whole file."""
    name = path.name
    header, rows = _read_community_rows(path)
    if not rows:
        raise ReferenceError_(name, None, "文件中没有社区", "no communities in the file")
    out: list[Community] = []
    seen: dict[str, int] = {}
    for i, r in enumerate(rows, start=2):
        if None in r or any(r.get(c) is None for c in header):
            raise ReferenceError_(
                name, i, "列数与表头不一致", "number of columns differs from the header"
            )
        code, street = (r["code"] or "").strip(), (r["street_code"] or "").strip()
        _check_code(name, i, code, street, street_codes)
        if code in seen:
            raise ReferenceError_(
                name,
                i,
                f"社区代码「{code}」与第{seen[code]}行重复",
                f"community code {code!r} repeats line {seen[code]}",
            )
        out.append(_community(name, i, r, code, street))
        seen[code] = i
    return tuple(out)


def _read_community_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The header and the rows; a missing required column or a non-UTF-8 file refuses the file."""
    name = path.name
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            header = list(reader.fieldnames or [])
            missing = [c for c in COMMUNITY_COLUMNS if c not in header]
            if missing:
                raise ReferenceError_(
                    name,
                    1,
                    f"缺少列：{', '.join(missing)}",
                    f"missing columns: {', '.join(missing)}",
                )
            return header, list(reader)
    except UnicodeDecodeError as e:
        raise ReferenceError_(
            name, None, "文件不是 UTF-8 编码", f"file is not UTF-8 ({e.reason})"
        ) from e


def _check_code(name: str, i: int, code: str, street: str, street_codes: set[str]) -> None:
    """A community code is 12 digits and starts with its street's code, a street of the table."""
    if len(code) != 12 or not code.isdigit():
        raise ReferenceError_(
            name,
            i,
            f"社区代码「{code}」须为12位数字",
            f"community code {code!r} must be 12 digits",
        )
    if street not in street_codes:
        raise ReferenceError_(
            name,
            i,
            f"街道代码「{street}」不在街道表中",
            f"street code {street!r} is not a known street",
        )
    if not code.startswith(street):
        raise ReferenceError_(
            name,
            i,
            f"社区代码「{code}」须以所属街道代码{street}开头",
            f"community code {code!r} must start with its street code {street}",
        )


def _populations(name: str, i: int, r: dict[str, str]) -> tuple[int, int]:
    """pop_60 and pop_80: whole numbers, the 80+ within the 60+."""
    pops = []
    for col in ("pop_60", "pop_80"):
        raw = (r[col] or "").strip()
        if not raw.isdigit():
            raise ReferenceError_(
                name,
                i,
                f"{col}「{raw}」须为非负整数",
                f"{col} {raw!r} must be a whole number ≥ 0",
            )
        pops.append(int(raw))
    if pops[1] > pops[0]:
        raise ReferenceError_(
            name,
            i,
            "80岁以上人口（pop_80）不能大于60岁以上人口（pop_60）",
            "pop_80 must not exceed pop_60",
        )
    return pops[0], pops[1]


def _community(name: str, i: int, r: dict[str, str], code: str, street: str) -> Community:
    """One line of the CSV whose codes are checked: its name and populations, then the record."""
    name_zh = (r["name_zh"] or "").strip()
    if not name_zh:
        raise ReferenceError_(name, i, "社区名称（name_zh）不能为空", "name_zh must not be empty")
    pop_60, pop_80 = _populations(name, i, r)
    return Community(
        code=code,
        street_code=street,
        name_zh=name_zh,
        name_en=(r.get("name_en") or "").strip() or name_zh,
        kind=(r.get("kind") or "community").strip() or "community",
        sample=(r.get("sample") or "no").strip().lower() in YES,
        code_confirmed=(r.get("code_confirmed") or "yes").strip().lower() in YES,
        pop_60=pop_60,
        pop_80=pop_80,
        note=(r.get("note") or "").strip(),
    )


def load(seed: Path | None = None) -> Reference:
    """The reference data (cached): called by the model validators for every record, so the default
    location is worked out once per FIELDAPP_SEED value, not per call. Inside `pinned`, the
    default is the one pinned (FIELDAPP_SEED is not read again)."""
    if seed is None:
        ref = _PINNED.get()
        return ref if ref is not None else _load_default(os.environ.get("FIELDAPP_SEED"))
    return _load(seed)


_PINNED: ContextVar[Reference | None] = ContextVar("fieldapp_reference", default=None)


@contextmanager
def pinned() -> Iterator[None]:
    """`load()` gives the default reference as it is now throughout the block: one validation
    of a record asks for it once per coded field, and reading FIELDAPP_SEED each time (2 µs)
    cost ~1.5% of a merge's CPU (issue 20)."""
    token = _PINNED.set(load())
    try:
        yield
    finally:
        _PINNED.reset(token)


@cache
def _load_default(_seed_env: str | None) -> Reference:
    return _load(paths.seed_dir())


@cache
def _load(seed: Path) -> Reference:
    cats = json.loads((seed / "catalogues.json").read_text(encoding="utf-8"))
    catalogues = {k: _entries(v) for k, v in cats.items() if not k.startswith("_")}
    rules = json.loads((seed / "rules.json").read_text(encoding="utf-8"))
    items = tuple(
        Entry(
            r["code"],
            r["name_zh"],
            r["name_en"],
            {"area": r["area"], "category": r["category"], "confirmed": r["confirmed"]},
        )
        for r in _read_csv(seed / "retrofit_items.csv")
    )
    bands = tuple(
        Band(r["level"], int(r["min_total"]), int(r["max_total"]))
        for r in _read_csv(seed / "assessment_levels.csv")
    )
    catalogues["assessment_level"] = tuple(
        Entry(r["level"], r["name_zh"], r["name_en"])
        for r in _read_csv(seed / "assessment_levels.csv")
    )
    streets = tuple(
        Entry(r["code"], r["name_zh"], r["name_en"], {"kind": r["kind"], "source": r["source"]})
        for r in _read_csv(seed / "streets.csv")
    )
    communities = parse_communities(seed / "communities.csv", {s.code for s in streets})
    targets = tuple(_read_csv(seed / "targets.csv"))
    return Reference(catalogues, rules, items, bands, streets, communities, targets)
