"""The log of one merge run: how many bundles were merged, already merged, refused or cancelled,
every refusal with its reason, the new review items, saved next to the database as a dated text file.

Built from the `BundleResult`s the merge returns (sync/merge.py is not changed for it): a refused
bundle must be as visible as a merged one (issue 16, points 1 and 10).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from fieldapp.devices import short_device_id

if TYPE_CHECKING:
    from fieldapp.sync.merge import BundleResult

SUMMARY_FIELDS = ("new", "updated", "unchanged", "conflicts", "rejected")
OUTCOMES = ("merged", "already", "refused", "cancelled")
WORDS = {
    "merged": ("已合并", "merged"),
    "already": ("已合并过", "already merged"),
    "refused": ("拒收", "refused"),
    "cancelled": ("已取消", "cancelled"),
    "checked": ("检查通过", "checked"),
    "new": ("新增", "new"),
    "updated": ("更新", "updated"),
    "unchanged": ("未变", "unchanged"),
    "conflicts": ("冲突", "conflicts"),
    "rejected": ("拒收记录", "rejected lines"),
    "duplicate_person": ("疑似重复人员", "possible duplicate persons"),
    "meal_slot": ("助餐计数冲突", "meal count collisions"),
}
REVIEW_QUEUES = ("conflicts", "duplicate_person", "meal_slot")


def word(key: str, lang: str = "zh") -> str:
    zh, en = WORDS[key]
    return en if lang == "en" else zh


def outcome(r: BundleResult) -> str:
    """merged / already / refused / checked: a refused bundle is one that is not ok."""
    return r.status if r.ok else "refused"


@dataclass
class MergeLog:
    """One run: the bundles chosen, what became of each, the review queues before and after."""

    chosen: Sequence[Path]
    results: Sequence[BundleResult]
    reviews_before: Mapping[str, int] = field(default_factory=dict)
    reviews_after: Mapping[str, int] = field(default_factory=dict)
    missing: Mapping[str, Sequence[object]] = field(default_factory=dict)
    started: datetime = field(default_factory=datetime.now)

    @property
    def counts(self) -> dict[str, int]:
        """merged / already / refused / cancelled (chosen but never reached: Esc stopped the run)."""
        out = dict.fromkeys(OUTCOMES, 0)
        for r in self.results:
            key = outcome(r)
            out[key] = out.get(key, 0) + 1
        out["cancelled"] = max(0, len(self.chosen) - len(self.results))
        return out

    @property
    def refusals(self) -> list[tuple[str, str]]:
        return [(r.path.name, r.reason or "") for r in self.results if not r.ok]

    @property
    def cancelled(self) -> list[str]:
        done = {r.path for r in self.results}
        return [p.name for p in self.chosen if p not in done]

    @property
    def new_reviews(self) -> dict[str, int]:
        """Per review queue, the open items this run added (never negative)."""
        return {
            q: max(0, self.reviews_after.get(q, 0) - self.reviews_before.get(q, 0))
            for q in REVIEW_QUEUES
        }

    def totals(self) -> dict[str, dict[str, int]]:
        """Per kind, the new / updated / unchanged / conflicts / rejected versions of the run."""
        out: dict[str, dict[str, int]] = {}
        for r in self.results:
            for kind, k in r.kinds.items():
                row = out.setdefault(kind, dict.fromkeys(SUMMARY_FIELDS, 0))
                for f in SUMMARY_FIELDS:
                    row[f] += getattr(k, f)
        return out

    def headline(self, lang: str = "zh") -> str:
        c = self.counts
        parts = [f"{word(k, lang)} {c[k]}" for k in OUTCOMES]
        if c.get("checked"):
            parts.append(f"{word('checked', lang)} {c['checked']}")
        return "，".join(parts) if lang != "en" else ", ".join(parts)

    def review_line(self, lang: str = "zh") -> str:
        n = self.new_reviews
        items = "，".join(f"{word(q, lang)} {n[q]}" for q in REVIEW_QUEUES)
        return ("新的审核项：" if lang != "en" else "new review items: ") + items

    def lines(self, lang: str = "zh", kind_label: Mapping[str, str] | None = None) -> list[str]:
        """The whole log as text lines: headline, refusals first, then each bundle, totals, gaps."""
        en = lang == "en"
        out = [self.headline(lang), self.review_line(lang)]
        for name, reason in self.refusals:
            out.append(f"{word('refused', lang)}  {name}：{reason}")
        for name in self.cancelled:
            out.append(f"{word('cancelled', lang)}  {name}")
        for r in self.results:
            if r.ok:
                extra = f"（{r.versions} 个新版本）" if r.status == "merged" and not en else ""
                out.append(f"{word(outcome(r), lang)}  {r.path.name}{extra}")
            for no, rid, reason in r.rejected:
                out.append(
                    f"    第{no}行 {rid}：{reason}" if not en else f"    line {no} {rid}: {reason}"
                )
        totals = self.totals()
        if totals:
            out.append("\t".join(["", *(word(f, lang) for f in SUMMARY_FIELDS)]))
            for kind, row in sorted(totals.items()):
                label = (kind_label or {}).get(kind, kind)
                out.append("\t".join([label, *(str(row[f]) for f in SUMMARY_FIELDS)]))
        for device, gaps in self.missing.items():
            shown = ", ".join(_gap(g) for g in gaps)
            out.append(
                f"缺少同步包：设备 {short_device_id(device)} 第 {shown} 个"
                if not en
                else f"missing bundles: device {short_device_id(device)} seq {shown}"
            )
        return out

    def text(self, lang: str = "zh", kind_label: Mapping[str, str] | None = None) -> str:
        stamp = self.started.strftime("%Y-%m-%d %H:%M:%S")
        head = f"合并日志 {stamp}" if lang != "en" else f"merge log {stamp}"
        return "\n".join([head, *self.lines(lang, kind_label)]) + "\n"

    def save(
        self, db_path: Path, lang: str = "zh", kind_label: Mapping[str, str] | None = None
    ) -> Path:
        """Written next to the database: `<db stem>-merge-YYYY-MM-DD-HHMMSS.txt` (never overwritten)."""
        base = f"{db_path.stem}-merge-{self.started:%Y-%m-%d-%H%M%S}"
        out = db_path.with_name(base + ".txt")
        n = 1
        while out.exists():
            n += 1
            out = db_path.with_name(f"{base}-{n}.txt")
        # born 0600 like the database beside it: refusal reasons name records and devices
        fd = os.open(out, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0), 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(self.text(lang, kind_label))
        return out


def _gap(g: object) -> str:
    """A missing seq (today's merge) or a (first, last) pair (a hardened merge's gaps)."""
    if isinstance(g, tuple | list) and len(g) == 2:
        first, last = g
        return str(first) if first == last else f"{first}–{last}"
    return str(g)
