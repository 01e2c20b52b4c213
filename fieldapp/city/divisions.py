"""Sample districts for any of 泰州市's six divisions (`fieldapp demo --district DIR --division
CODE`): a copy of seed/ whose streets and communities are 示例 samples under the division's code,
with populations split from seed/city_divisions.csv (illustrative)."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

from fieldapp import paths
from fieldapp.city.db import Division, read_divisions

STREETS = 3
COMMUNITIES_PER_STREET = 2


def division(code: str) -> Division:
    found = [d for d in read_divisions() if d.code == code]
    if not found:
        codes = "、".join(d.code for d in read_divisions())
        raise ValueError(f"区划代码{code}不在本市的区划表中（{codes}）")
    return found[0]


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def division_seed(code: str, dest: Path) -> Path:
    """Write the sample seed of a division into `dest` (a copy of seed/ with its own divisions)."""
    d = division(code)
    shutil.copytree(paths.seed_dir(), dest)
    n = STREETS * COMMUNITIES_PER_STREET
    pop60, pop80 = _split(d.pop_60, n), _split(d.pop_80, n)
    with (dest / "streets.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["code", "name_zh", "name_en", "kind", "source"])
        for s in range(1, STREETS + 1):
            w.writerow(
                [
                    f"{code}{s:03d}",
                    f"{d.name_zh}示例街道{s:02d}",
                    f"{d.name_en} sample street {s:02d}",
                    "street",
                    "示例 sample",
                ]
            )
    with (dest / "communities.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "code",
                "street_code",
                "name_zh",
                "name_en",
                "kind",
                "sample",
                "code_confirmed",
                "pop_60",
                "pop_80",
                "note",
            ]
        )
        i = 0
        for s in range(1, STREETS + 1):
            for c in range(1, COMMUNITIES_PER_STREET + 1):
                street = f"{code}{s:03d}"
                w.writerow(
                    [
                        f"{street}9{c:02d}",
                        street,
                        f"{d.name_zh}示例社区{s:02d}{c:02d}",
                        f"{d.name_en} sample community {s:02d}{c:02d}",
                        "community",
                        "yes",
                        "no",
                        pop60[i],
                        pop80[i],
                        "示例 sample: not a real community",
                    ]
                )
                i += 1
    pop = json.loads((dest / "population.json").read_text(encoding="utf-8"))
    pop.update(
        {
            "_about": f"{d.name_zh}：示例 illustrative totals (seed/city_divisions.csv)",
            "pop_60": d.pop_60,
            "pop_80": d.pop_80,
        }
    )
    (dest / "population.json").write_text(
        json.dumps(pop, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    return dest


def use_division_seed(out_dir: Path, code: str) -> Path:
    """Write the division's sample seed into `out_dir/seed-<code>` and make it this process's
    seed (FIELDAPP_SEED; the demo's worker processes inherit it). `district init` for the
    sample district needs the same FIELDAPP_SEED."""
    seed = division_seed(code, out_dir / f"seed-{code}")
    os.environ["FIELDAPP_SEED"] = str(seed)
    return seed
