"""The baselines each figure is a ratio to, measured in the same run: the raw-SQL merge ceiling,
sqlite-utils' upsert, and a bare Textual app's start-up."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from fieldapp.sqlite import sqlite3

from .measure import arg

# a Textual app with a header, a 20-row table and a footer: what "start-up" costs with no work.
# After the start-up benchmark's phase marks (startup._PHASES) it reports the same phases as the
# apps' child; alone it marks nothing.
BARE_APP_CHILD = """
mark, report = globals().get("mark", lambda name: None), globals().get("report", lambda: None)
import asyncio
from textual.app import App
from textual.widgets import DataTable, Footer, Header
mark("imports")

class Bare(App):
    def compose(self):
        yield Header()
        yield DataTable()
        yield Footer()
    def on_mount(self):
        t = self.query_one(DataTable)
        t.add_columns("a", "b", "c")
        for i in range(20):
            t.add_row(str(i), "x", "y")
        self.loaded = True

async def main():
    app = Bare()
    app.loaded = False
    mark("open")
    async with app.run_test(size=(100, 34)) as pilot:
        while not app.loaded:
            await pilot.pause()
        mark("first_screen")
asyncio.run(main())
mark("exit")
report()
"""


def _staged_column(kind: str, column: str) -> str:
    """The SQL that makes one current-table column out of a version row (no validation)."""
    if column == "id":
        return "record_id"
    if column in ("version_id", "hlc", "device_id", "deleted"):
        return column
    if column == "level_computed":
        return "json_extract(payload, '$.level')"
    if column == "total" and kind == "meal_count":
        return (
            "json_extract(payload, '$.dine_in') + json_extract(payload, '$.delivery')"
            " + json_extract(payload, '$.pickup')"
        )
    if column == "name_initials":
        return "''"
    if column in ("subsidized_total", "total_hours", "total_points"):
        return "0"
    return f"json_extract(payload, '$.{column}')"  # scalars, and lists as their JSON text


def stage_raw(district_db: Path, staged: Path) -> int:
    """Every version of a merged district database as ready-made current-table rows in another
    file (json_extract in SQL, no validation): the input of the raw-SQL ceiling and of sqlite-utils."""
    from fieldapp import db
    from fieldapp.store import KINDS

    db.connect(staged).close()  # the same schema
    conn = sqlite3.connect(staged)
    conn.execute("ATTACH ? AS src", (arg(district_db),))
    n = 0
    for kind in KINDS:
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({kind})")]
        select = ", ".join(f"{_staged_column(kind, c)} AS {c}" for c in cols)
        conn.execute(
            f"CREATE TABLE staged_{kind} AS SELECT {select} FROM src.versions WHERE kind = ? ORDER BY seq",
            (kind,),
        )
        n += conn.execute(f"SELECT count(*) FROM staged_{kind}").fetchone()[0]
    conn.commit()
    conn.execute("DETACH src")
    conn.close()
    return n


def raw_sql_merge(staged: Path, target: Path) -> float:
    """ATTACH + INSERT … SELECT … ON CONFLICT DO UPDATE … WHERE excluded.hlc > hlc: last writer wins, no checks."""
    from fieldapp.store import KINDS

    conn = sqlite3.connect(target, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("ATTACH ? AS staged", (arg(staged),))
    start = time.perf_counter()
    conn.execute("BEGIN")
    for kind in KINDS:
        cols = [r[1] for r in conn.execute(f"PRAGMA main.table_info({kind})")]
        sets = ", ".join(f"{c} = excluded.{c}" for c in cols if c != "id")
        conn.execute(
            f"INSERT INTO main.{kind} ({', '.join(cols)}) SELECT {', '.join(cols)} FROM staged.staged_{kind} WHERE true"
            f" ON CONFLICT (id) DO UPDATE SET {sets} WHERE excluded.hlc > {kind}.hlc"
        )
    conn.execute("COMMIT")
    seconds = time.perf_counter() - start
    conn.close()
    return seconds


def ndjson(staged: Path, out_dir: Path) -> dict[str, Path]:
    """The staged rows as one newline-delimited JSON file per kind (sqlite-utils' input)."""
    from fieldapp.store import KINDS

    out_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(staged)
    conn.row_factory = sqlite3.Row
    files = {}
    for kind in KINDS:
        path = out_dir / f"{kind}.ndjson"
        with path.open("w", encoding="utf-8") as f:
            for r in conn.execute(f"SELECT * FROM staged_{kind}"):
                f.write(json.dumps(dict(r), ensure_ascii=False) + "\n")
        files[kind] = path
    conn.close()
    return files


def sqlite_utils_upsert(files: dict[str, Path], target: Path) -> float:
    """`sqlite-utils upsert` of every kind's file into `target`, as its command does it."""
    exe = shutil.which("sqlite-utils") or arg(Path(sys.executable).parent / "sqlite-utils")
    start = time.perf_counter()
    for kind, path in files.items():
        subprocess.run(
            [exe, "upsert", arg(target), kind, arg(path), "--nl", "--pk", "id"],
            check=True,
            capture_output=True,
        )
    return time.perf_counter() - start
