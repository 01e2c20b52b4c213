"""Opening databases: a new file gets the schema and the seed; older ones migrate; newer ones are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from fieldapp import db, reference
from fieldapp.cli import main
from fieldapp.sqlite import sqlite3
from fieldapp.store import Store

from .conftest import CURRENT_TABLES


def test_new_database_has_schema_version_and_seed(tmp_path: Path) -> None:
    conn = db.connect(tmp_path / "a.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION
    assert conn.execute("SELECT count(*) FROM ref_street").fetchone()[0] == 11
    pops = conn.execute("SELECT sum(pop_60), sum(pop_80), count(*) FROM ref_community").fetchone()
    assert tuple(pops)[:2] == (137_900, 19_200) and pops[2] >= 80
    assert conn.execute("SELECT count(*) FROM ref_retrofit_item").fetchone()[0] == 30
    assert (
        conn.execute("SELECT count(*) FROM ref_retrofit_item WHERE category = 'basic'").fetchone()[
            0
        ]
        == 7
    )
    assert conn.execute("SELECT count(*) FROM ref_assessment_band").fetchone()[0] == 5
    targets = {
        (r[0], r[1]): r[2] for r in conn.execute("SELECT indicator, year, value FROM ref_target")
    }
    assert (
        targets[("home_service_coverage", 2025)] == 18
        and targets[("retrofit_households", 2025)] == 1500
    )
    assert (
        targets[("meal_monthly_capacity", 2025)] == 5000
        and targets[("volunteer_events", 2024)] == 24
    )
    cats = {r[0] for r in conn.execute("SELECT DISTINCT catalogue FROM ref_catalogue")}
    assert {"service_type", "meal_subsidy", "volunteer_category", "hardship_tags"} <= cats
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_reopening_keeps_data_and_does_not_reseed(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    db.connect(path).close()
    conn = db.connect(path)
    assert conn.execute("SELECT count(*) FROM ref_street").fetchone()[0] == 11
    conn.close()


def test_newer_database_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    db.connect(path).close()
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {db.SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(db.DatabaseError, match="较新版本.*upgrade fieldapp"):
        db.connect(path)


def test_older_database_is_migrated_in_one_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.db"
    db.connect(path).close()

    def add_column(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE device ADD COLUMN note TEXT")

    monkeypatch.setattr(db, "SCHEMA_VERSION", db.SCHEMA_VERSION + 1)
    monkeypatch.setitem(db.MIGRATIONS, db.SCHEMA_VERSION - 1, add_column)
    conn = db.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION
    assert "note" in {r[1] for r in conn.execute("PRAGMA table_info(device)")}
    conn.close()


def test_failed_migration_leaves_the_file_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.db"
    db.connect(path).close()

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE device ADD COLUMN note TEXT")
        raise RuntimeError("disk full")

    old = db.SCHEMA_VERSION
    monkeypatch.setattr(db, "SCHEMA_VERSION", old + 1)
    monkeypatch.setitem(db.MIGRATIONS, old, broken)
    with pytest.raises(RuntimeError):
        db.connect(path)
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == old
    assert "note" not in {r[1] for r in raw.execute("PRAGMA table_info(device)")}
    raw.close()


def test_a_foreign_sqlite_file_is_not_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE accounts (id INTEGER)")
    raw.commit()
    raw.close()
    with pytest.raises(db.DatabaseError, match="不是 fieldapp 数据库"):
        db.connect(path)


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("这不是数据库" * 100, encoding="utf-8")
    with pytest.raises(db.DatabaseError, match="无法打开数据库"):
        db.connect(path)


def test_missing_file_is_refused_when_not_creating(tmp_path: Path) -> None:
    with pytest.raises(db.DatabaseError, match="不存在"):
        Store.open(tmp_path / "nope.db", create=False)


def test_schema_statements_all_apply(tmp_path: Path) -> None:
    from fieldapp import paths

    stmts = db._statements(paths.schema_path().read_text(encoding="utf-8"))
    assert any(s.startswith("CREATE TRIGGER versions_no_update") for s in stmts)
    conn = db.connect(tmp_path / "a.db")
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert set(reference.load().catalogues) and {*CURRENT_TABLES, "versions", "device"} <= tables
    conn.close()


@pytest.mark.parametrize("given", [str(None), Path(str(None)), Path("sub") / str(None)])
def test_a_str_none_path_is_refused_and_no_file_is_made(
    given: Path | str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Release 1 committed a SQLite file named `None`: a path that was never given, through str()."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(db.DatabaseError, match=r"str\(None\)"):
        db.connect(given)
    with pytest.raises(db.DatabaseError, match=r"str\(None\)"):
        Store.open(given, create=True)
    assert sorted(p.name for p in tmp_path.rglob("*")) == []


def test_no_path_at_all_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    nothing: Any = None  # what an untyped caller could still pass
    for bad in (nothing, "", "  "):
        with pytest.raises(db.DatabaseError, match="未指定数据库文件"):
            db.connect(bad)
    assert list(tmp_path.iterdir()) == []


def test_the_command_refuses_db_none_with_a_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["status", "--db", "None"])
    assert result.exit_code == 1 and result.exception is not None
    assert isinstance(result.exception, SystemExit)  # a ClickException, not a traceback
    assert "str(None)" in result.output
    assert list(tmp_path.iterdir()) == []


def test_names_that_merely_contain_none_are_files_like_any_other(tmp_path: Path) -> None:
    for name in ("None.db", "nonexistent.db", "None-2026.db"):
        db.connect(tmp_path / name).close()
    assert sorted(p.name for p in tmp_path.glob("*.db")) == [
        "None-2026.db",
        "None.db",
        "nonexistent.db",
    ]
