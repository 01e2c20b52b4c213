"""Opens, initialises and migrates the SQLite file; the only place that knows the pragmas."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path

from fieldapp import backup, dbkey, integrity, paths, reference
from fieldapp.integrity import DatabaseDamaged, DatabaseError
from fieldapp.sqlite import sqlite3

__all__ = ["DatabaseDamaged", "DatabaseError", "connect", "migrate", "open_raw"]

SCHEMA_VERSION = 5


def _schema_statements() -> list[str]:
    return _statements(paths.schema_path().read_text(encoding="utf-8"))


def _create_from_schema(*names: str) -> Callable[[sqlite3.Connection], None]:
    """A migration step that runs schema.sql's own CREATE statements for the named objects
    (tables and their indexes), so the DDL stays written once."""

    def step(conn: sqlite3.Connection) -> None:
        for stmt in _schema_statements():
            if _created_name(stmt) in names:
                conn.execute(stmt)

    return step


def _created_name(stmt: str) -> str | None:
    """The table (or view) a CREATE TABLE / VIEW / INDEX … ON statement is about."""
    words = stmt.replace("(", " ").split()
    # CREATE TABLE t … / CREATE VIEW v … / CREATE INDEX i ON t …: where the name stands
    at = {"TABLE": 2, "VIEW": 2, "INDEX": 4}.get(words[1])
    return words[at] if words[0] == "CREATE" and at is not None else None


def _rebuild(conn: sqlite3.Connection, table: str, fill: dict[str, str]) -> None:
    """Recreate `table` from schema.sql's CREATE (a NOT NULL column without default, or a changed
    CHECK, cannot be added by ALTER TABLE): CREATE the new table, INSERT … SELECT every old row with
    the `fill` expressions for the new columns, DROP the old one, rename, recreate its indexes."""
    stmts = [s for s in _schema_statements() if _created_name(s) == table]
    create = next(s for s in stmts if s.split()[1] == "TABLE")
    old_cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    conn.execute(create.replace(f"CREATE TABLE {table} (", f"CREATE TABLE {table}__v4 (", 1))
    cols = old_cols + list(fill)
    exprs = old_cols + [fill[c] for c in fill]
    conn.execute(
        f"INSERT INTO {table}__v4 ({', '.join(cols)}) SELECT {', '.join(exprs)} FROM {table} t"
    )
    conn.execute(f"DROP TABLE {table}")
    conn.execute(f"ALTER TABLE {table}__v4 RENAME TO {table}")
    for stmt in stmts:
        if stmt.split()[1] == "INDEX":
            conn.execute(stmt)


_ELDER_COMMUNITY = (
    "COALESCE((SELECT e.community_code FROM elder e WHERE e.id = t.elder_id), {fallback})"
)
# a child whose elder/point is not in this database (a district that merged the visit but not the
# elder): the community of the bundle that brought it, else this database's own community
_FALLBACK = (
    "(SELECT b.community_code FROM versions v JOIN bundles b ON b.bundle_id = v.origin"
    " WHERE v.version_id = t.version_id), (SELECT community_code FROM device)"
)


def _migrate_3_to_4(conn: sqlite3.Connection) -> None:
    """Schema version 4 (SPEC v2): new columns and tables; child records get their community, non-
    active elders their status_date, enrolments their communities. Old versions are not rewritten."""
    add = {
        "versions": (
            "also_parents TEXT NOT NULL DEFAULT '[]'",
            "payload_schema INTEGER NOT NULL DEFAULT 1",
            "saved_at TEXT",
        ),
        "elder": (
            "status_date TEXT",
            "moved_to TEXT",
            "merged_into TEXT",
            "under_60_confirmed INTEGER NOT NULL DEFAULT 0",
        ),
        "conflicts": ("decision_version_id TEXT", "comment TEXT"),
        "bundles": ("app_version TEXT",),
        "clock_flags": ("accepted_at TEXT", "accepted_by TEXT"),
        "device_keys": ("district_device_id TEXT", "district_sign_public TEXT"),
        "enrolled_devices": (
            "communities TEXT NOT NULL DEFAULT '[]'",
            "community_confirmed INTEGER NOT NULL DEFAULT 1",
        ),
    }
    for table, columns in add.items():
        for col in columns:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {col}")
    # the view reads meal_count and review_items, which are rebuilt: drop it, recreate it after
    conn.execute("DROP VIEW meal_count_effective")
    elder_code = _ELDER_COMMUNITY.format(fallback=_FALLBACK)
    for table in ("home_visit", "assessment", "retrofit"):
        _rebuild(conn, table, {"community_code": elder_code})
    point_code = (
        "COALESCE((SELECT p.community_code FROM meal_point p WHERE p.id = t.point_id), "
        + _FALLBACK
        + ")"
    )
    _rebuild(conn, "meal_count", {"community_code": point_code})
    _rebuild(conn, "review_items", {"decision_version_id": "NULL", "comment": "NULL"})
    _create_from_schema(
        "meal_count_effective",
        "roster_imports",
        "bundle_clones",
        "accepted_bundles",
        "db_state",
        "analytics_secret",
    )(conn)
    _fill_status_dates(conn)
    _fill_enrolment_communities(conn)
    if conn.execute("SELECT 1 FROM device WHERE role = 'district'").fetchone():
        from fieldapp import review  # release-1 decisions become district versions (SPEC §4 v2)

        review.decisions_to_versions(conn)


def _hlc_date(stamp: str) -> str:
    return datetime.fromtimestamp(int(stamp[:13]) / 1000).date().isoformat()


def _fill_status_dates(conn: sqlite3.Connection) -> None:
    """A non-active elder's status_date: the day of the version that set the status (the oldest of
    the winner's unbroken line of ancestors with that status), by its merge time when it came in a
    bundle, else by its hlc (a version saved before v4 has no saved_at)."""
    for elder_id, version_id, status in conn.execute(
        "SELECT id, version_id, status FROM elder WHERE status != 'active'"
    ).fetchall():
        setter = conn.execute(
            "SELECT version_id, parent_version_id, hlc, origin, payload FROM versions"
            " WHERE version_id = ?",
            (version_id,),
        ).fetchone()
        while setter is not None and setter[1] is not None:
            parent = conn.execute(
                "SELECT version_id, parent_version_id, hlc, origin, payload FROM versions"
                " WHERE version_id = ?",
                (setter[1],),
            ).fetchone()
            if parent is None or json.loads(parent[4]).get("status") != status:
                break
            setter = parent
        if setter is None:
            continue
        merged = conn.execute(
            "SELECT merged_at FROM bundles WHERE bundle_id = ?", (setter[3],)
        ).fetchone()
        day = str(merged[0])[:10] if merged else _hlc_date(setter[2])
        conn.execute("UPDATE elder SET status_date = ? WHERE id = ?", (day, elder_id))


def _fill_enrolment_communities(conn: sqlite3.Connection) -> None:
    """An enrolled device's communities: those its merged bundles' signed manifests named; a device
    with none is marked unconfirmed, for the supervisor to confirm (SPEC §4a)."""
    for (device_id,) in conn.execute("SELECT device_id FROM enrolled_devices").fetchall():
        codes = sorted(
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT community_code FROM bundles WHERE device_id = ?", (device_id,)
            )
        )
        conn.execute(
            "UPDATE enrolled_devices SET communities = ?, community_confirmed = ? WHERE device_id = ?",
            (json.dumps(codes), 1 if codes else 0, device_id),
        )


def _v5_report(conn: sqlite3.Connection) -> None:
    """Schema 5, the report's part (issue 12): home_visit_community gives way to
    home_visit_coverage, the same columns in the order the year's coverage groups by."""
    conn.execute("DROP INDEX IF EXISTS home_visit_community")
    for stmt in _schema_statements():
        if stmt.startswith("CREATE INDEX home_visit_coverage "):  # a v3 file has it from 3 → 4
            conn.execute(stmt.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1))


def _migrate_4_to_5(conn: sqlite3.Connection) -> None:
    """Schema version 5 (release 2, second part): the report's index and the return bundles'
    tables, in one step."""
    _v5_report(conn)
    _v5_return(conn)


def _v5_return(conn: sqlite3.Connection) -> None:
    """Return bundles (SPEC §5b): the ones a district wrote, the ones a device applied."""
    _create_from_schema("return_bundles", "applied_returns", "return_acks")(conn)


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
    3: _migrate_3_to_4,
    4: _migrate_4_to_5,
}


class Connection(sqlite3.Connection):
    """A connection that, once `connect` has armed it with its file, records on close the state it
    leaves the file in, so the next start knows whether anything else changed it since
    (integrity.on_close)."""

    watched: Path | None = None

    def close(self) -> None:
        path, self.watched = self.watched, None
        integrity.on_close(self, path)
        super().close()


# Each connection's page cache, KiB (SQLite's default is 2 MiB): 32 MiB keeps the merge's peak
# memory under 150 MB. A page read again from the cache is not decrypted again.
CACHE_KIB = 32768
# bytes the WAL file is cut back to when it is reset after a checkpoint (SQLite keeps it at its
# largest otherwise: the half-gigabyte a merge run grows, MERGE_WAL_AUTOCHECKPOINT, would stay)
WAL_SIZE_LIMIT = 64 * 1024 * 1024


def _pragmas(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(
        "PRAGMA synchronous = NORMAL"
    )  # WAL + NORMAL: durable at checkpoints, no corruption
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")


# pages in the WAL before a checkpoint while a merge runs. SQLite's default 1,000 checkpoints
# several times per group of bundles (issue 20 measured 1.05-1.12x from 10,000). At 10,000 a
# scale-1 group (20,000 versions, about 31,500 pages changed) still checkpointed after every COMMIT
# and copied the pages every group rewrites (index roots and inner pages, the tables' last leaves)
# once per group. Scale 1 (393,626 versions), µs a version, 10,000 -> 100,000: in one process
# (without the final checkpoint) plain 355 -> 279, encrypted 394 -> 343; in the benchmark's child
# (with it), two rounds alternated, plain 349 -> 300 and 418 -> 407, encrypted 466 -> 471 and
# 463 -> 377 (the machine's speed moved that much between rounds); peak 108 MB throughout. The WAL
# grows to about 100,000 pages + one group (≈ 540 MB of disk at scale 1) while the run lasts;
# `merging` folds it into the database at the end of the run, and WAL_SIZE_LIMIT shrinks the file.
# (WAL with synchronous NORMAL: a power cut can undo groups committed since the last checkpoint,
# never damage the file; their bundles are then not merged, and merge again.)
MERGE_WAL_AUTOCHECKPOINT = 100_000
# A run of merges keeps connect's page cache (CACHE_KIB). 64 MiB was measured and not kept: one
# merge each, quiet machine, µs a version and peak MB, 32 -> 64 MiB: encrypted at scale 1 549 ->
# 501 (108 -> 141 MB), but at scale 4 563 -> 597 (126 -> 159 MB); plain 455 -> 434 at scale 1,
# and 512 at scale 4 with either (32 MiB: f5c1a49's run, the same merge code; 126 -> 159 MB).


@contextmanager
def merging(conn: sqlite3.Connection) -> Iterator[None]:
    """The connection tuned for a run of merges, then as it was: fewer checkpoints, and temporary
    files (statement journals, sorts) on disk rather than in the merge's peak memory (`connect`
    keeps them in memory). A run that ends without an exception ends with a checkpoint, so the
    WAL it grew is copied into the database within the run's time, not at the next commit."""
    saved = {
        name: conn.execute(f"PRAGMA {name}").fetchone()[0]
        for name in ("wal_autocheckpoint", "temp_store")
    }
    conn.execute(f"PRAGMA wal_autocheckpoint = {MERGE_WAL_AUTOCHECKPOINT}")
    conn.execute("PRAGMA temp_store = FILE")
    try:
        yield
        if not conn.in_transaction:  # (a caller's own transaction is left to its caller)
            # readers keep what they read (PASSIVE copies what no reader holds); on a full disk
            # the groups stay committed in the WAL, and a later checkpoint copies them
            with suppress(sqlite3.OperationalError):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        for name, value in saved.items():
            conn.execute(f"PRAGMA {name} = {int(value)}")


def encrypted(conn: sqlite3.Connection) -> bool:
    """Whether the connection's main database is an encrypted file (False for one in memory)."""
    row = conn.execute("SELECT file FROM pragma_database_list WHERE name = 'main'").fetchone()
    head = dbkey.file_header(row[0]) if row and row[0] else None
    return head is not None and head != dbkey.PLAIN_HEADER


def open_raw(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection to `path` with its key applied (first statement) when the file is encrypted or
    new; a new file is plain only when FIELDAPP_UNENCRYPTED asks for it. No pragmas, no schema."""
    header = dbkey.file_header(path)
    key = None
    if header == dbkey.PLAIN_HEADER:
        dbkey.plain_opened(path)
    elif header is not None or not dbkey.unencrypted_requested():
        key = dbkey.key_for(path)
    target = f"file:{path}?mode=ro" if readonly else str(path)
    conn = sqlite3.connect(
        target, uri=readonly, isolation_level=None, check_same_thread=True, factory=Connection
    )
    try:
        if key is not None:
            key.apply(conn)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as e:
        conn.close()
        if "malformed" in str(e):  # it opened (right key), its schema pages are damaged
            raise integrity.damaged(path, str(e)) from None
        if key is not None and header is not None and header[:16] == key.db_id:
            # the key is right (its file unwrapped it, and the file's salt is the key's): the
            # first page is damaged, not the passphrase wrong
            raise integrity.damaged(path, str(e)) from None
        raise DatabaseError(
            f"无法打开数据库 {path.name}：不是 fieldapp 数据库，或密钥不对（not a database, or the wrong key）"
        ) from None
    return conn


def open_reader(path: Path) -> sqlite3.Connection:
    """A read-only connection to `path` (its key applied as `open_raw` does) with the page cache of
    `connect`'s connections, not SQLite's 2 MiB: the report's second connection looks elders up by
    id and, with 2 MiB, read their pages again and again (65,400 page reads a fresh year report at
    scale 1, 36,700 with it; each a page decrypted in an encrypted file)."""
    conn = open_raw(path, readonly=True)
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    return conn


def _create_private(path: Path) -> bool:
    """A new database file is born 0600 (its -wal and -shm take its mode), in a folder fieldapp
    creates 0700; whether the file was created here."""
    paths.private_dirs(path.parent)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def connect(path: Path | str, *, create: bool = True) -> sqlite3.Connection:
    """Open `path`, creating and seeding it when new, migrating it when older, refusing it when
    newer or damaged (checked when it changed outside fieldapp since fieldapp last left it)."""
    try:
        path = paths.database_file(path)
    except ValueError as e:
        raise DatabaseError(str(e)) from None
    if not create and not path.exists():
        raise DatabaseError(f"数据库文件不存在：{path}（database file not found）")
    created = _create_private(path)
    try:
        conn = open_raw(path)
    except (dbkey.DbKeyError, DatabaseError) as e:
        if created and path.stat().st_size == 0:
            path.unlink(missing_ok=True)
        if isinstance(e, DatabaseError):
            raise
        raise DatabaseError(str(e)) from e
    conn.row_factory = sqlite3.Row
    try:
        _pragmas(conn)
        _prepare(conn, path)
    except sqlite3.DatabaseError as e:
        conn.close()
        raise DatabaseError(f"无法打开数据库 {path.name}：{e}（cannot open database）") from e
    except BaseException:
        conn.close()
        raise
    if isinstance(conn, Connection):
        conn.watched = path
    return conn


def _prepare(conn: sqlite3.Connection, path: Path) -> None:
    """Seed a new file, migrate an older one (after a check and a copy), check one that changed
    outside fieldapp; then a device's daily copy."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise DatabaseError(
            f"数据库 {path.name} 由较新版本的 fieldapp 创建（结构版本 {version}，本程序支持 {SCHEMA_VERSION}），"
            f"请升级 fieldapp 后再打开。"
            f" (database schema version {version} is newer than this fieldapp supports ({SCHEMA_VERSION}): upgrade fieldapp)"
        )
    if version == 0:
        _initialise(conn)
        integrity.record(conn, path)
        return
    if version < SCHEMA_VERSION:
        integrity.check(conn, path, remember=False)
        # going back to the previous release stays possible (issue 11): a copy first
        backup.snapshot(conn, f"pre-v{SCHEMA_VERSION}")
        migrate(conn, version)
        integrity.record(conn, path)
    else:
        integrity.on_open(conn, path)
    if conn.execute("SELECT 1 FROM device WHERE role = 'device'").fetchone():
        backup.daily(conn, path, check=integrity.check)


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
        for stmt in _schema_statements():
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
