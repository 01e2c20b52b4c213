"""Opens, initialises and migrates the SQLite file; the only place that knows the pragmas."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

from fieldapp import paths, reference

SCHEMA_VERSION = 3


def _create_from_schema(*names: str) -> Callable[[sqlite3.Connection], None]:
    """A migration step that runs schema.sql's own CREATE statements for the named objects
    (tables and their indexes), so the DDL stays written once."""

    def step(conn: sqlite3.Connection) -> None:
        for stmt in _statements(paths.schema_path().read_text(encoding="utf-8")):
            words = stmt.replace("(", " ").split()
            # CREATE TABLE t … / CREATE VIEW v … / CREATE INDEX i ON t …: where the name stands
            table = {"TABLE": 2, "VIEW": 2, "INDEX": 4}.get(words[1])
            if words[0] == "CREATE" and table is not None and words[table] in names:
                conn.execute(stmt)

    return step


# user_version N → N+1. Each step gets the open connection inside the migration's transaction.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: _create_from_schema(
        "exports",
        "bundles",
        "conflicts",
        "review_items",
        "rejected_versions",
        "clock_flags",
        "meal_count_effective",
    ),
    2: _create_from_schema("device_keys", "enrolled_devices", "report_cache"),
}


class DatabaseError(Exception):
    """The database cannot be used as it is; the message says why in Chinese and English."""


def _pragmas(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(
        "PRAGMA synchronous = NORMAL"
    )  # WAL + NORMAL: durable at checkpoints, no corruption
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("PRAGMA cache_size = -32768")  # 32 MiB: the merge's peak memory stays under 150 MB
    conn.execute("PRAGMA temp_store = MEMORY")


def connect(path: Path | str, *, create: bool = True) -> sqlite3.Connection:
    """Open `path`, creating and seeding it when new, migrating it when older, refusing it when newer."""
    try:
        path = paths.database_file(path)
    except ValueError as e:
        raise DatabaseError(str(e)) from None
    if not create and not path.exists():
        raise DatabaseError(f"数据库文件不存在：{path}（database file not found）")
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=True)
    conn.row_factory = sqlite3.Row
    try:
        _pragmas(conn)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise DatabaseError(
                f"数据库 {path.name} 由较新版本的 fieldapp 创建（结构版本 {version}，本程序支持 {SCHEMA_VERSION}），"
                f"请升级 fieldapp 后再打开。"
                f" (database schema version {version} is newer than this fieldapp supports ({SCHEMA_VERSION}): upgrade fieldapp)"
            )
        if version == 0:
            _initialise(conn)
        elif version < SCHEMA_VERSION:
            migrate(conn, version)
    except sqlite3.DatabaseError as e:
        conn.close()
        raise DatabaseError(f"无法打开数据库 {path.name}：{e}（cannot open database）") from e
    except BaseException:
        conn.close()
        raise
    return conn


def _initialise(conn: sqlite3.Connection) -> None:
    has_tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[
        0
    ]
    if has_tables:
        raise DatabaseError(
            "该文件不是 fieldapp 数据库（已有其他数据表）(not a fieldapp database: it has other tables)"
        )
    conn.execute("BEGIN IMMEDIATE")
    try:
        # executescript() would COMMIT on its own: run the statements one by one inside this transaction
        for stmt in _statements(paths.schema_path().read_text(encoding="utf-8")):
            conn.execute(stmt)
        load_seed(conn, reference.load())
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _statements(sql: str) -> list[str]:
    """Split the schema into statements (triggers contain `;` inside BEGIN … END)."""
    out, buf = [], ""
    for line in sql.splitlines():
        stripped = line.split("--", 1)[0] if not line.lstrip().startswith("--") else ""
        if not stripped.strip():
            continue
        buf += stripped + "\n"
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        raise DatabaseError(f"schema.sql ends inside a statement: {buf[:80]!r}")
    return out


def migrate(conn: sqlite3.Connection, from_version: int) -> None:
    """Apply MIGRATIONS from `from_version` up to SCHEMA_VERSION, all in one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for v in range(from_version, SCHEMA_VERSION):
            step = MIGRATIONS.get(v)
            if step is None:
                raise DatabaseError(
                    f"没有从结构版本 {v} 升级的方法 (no migration from schema version {v})"
                )
            step(conn)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def load_seed(conn: sqlite3.Connection, ref: reference.Reference) -> None:
    """Write the reference data into the ref_ tables (inside the caller's transaction)."""
    conn.executemany(
        "INSERT INTO ref_street (code, name_zh, name_en, kind, source) VALUES (?, ?, ?, ?, ?)",
        [(s.code, s.zh, s.en, s.extra["kind"], s.extra.get("source")) for s in ref.streets],
    )
    replace_communities(conn, ref.communities)
    conn.executemany(
        "INSERT INTO ref_catalogue (catalogue, code, zh, en, sort, extra) VALUES (?, ?, ?, ?, ?, ?)",
        [
            (name, e.code, e.zh, e.en, i, json.dumps(e.extra, ensure_ascii=False))
            for name, entries in ref.catalogues.items()
            for i, e in enumerate(entries)
        ],
    )
    conn.executemany(
        "INSERT INTO ref_retrofit_item (code, area, name_zh, name_en, category, confirmed) VALUES (?, ?, ?, ?, ?, ?)",
        [
            (
                e.code,
                e.extra["area"],
                e.zh,
                e.en,
                e.extra["category"],
                e.extra["confirmed"] == "yes",
            )
            for e in ref.retrofit_items
        ],
    )
    levels = {e.code: e for e in ref.catalogues["assessment_level"]}
    conn.executemany(
        "INSERT INTO ref_assessment_band (level, name_zh, name_en, min_total, max_total, confirmed) VALUES (?, ?, ?, ?, ?, 0)",
        [
            (b.level, levels[b.level].zh, levels[b.level].en, b.min_total, b.max_total)
            for b in ref.bands
        ],
    )
    conn.executemany(
        "INSERT INTO ref_target (indicator, year, value, comparison, unit, kind, name_zh, name_en, source)"
        " VALUES (:indicator, :year, :value, :comparison, :unit, :kind, :name_zh, :name_en, :source)",
        ref.targets,
    )
    conn.executemany(
        "INSERT INTO ref_rule (key, value) VALUES (?, ?)",
        [
            (k, json.dumps(v, ensure_ascii=False))
            for k, v in ref.rules.items()
            if not k.startswith("_")
        ],
    )


def replace_communities(
    conn: sqlite3.Connection, communities: tuple[reference.Community, ...]
) -> None:
    conn.execute("DELETE FROM ref_community")
    conn.executemany(
        "INSERT INTO ref_community (code, street_code, name_zh, name_en, kind, sample, code_confirmed, pop_60, pop_80, note)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                c.code,
                c.street_code,
                c.name_zh,
                c.name_en,
                c.kind,
                c.sample,
                c.code_confirmed,
                c.pop_60,
                c.pop_80,
                c.note,
            )
            for c in communities
        ],
    )
