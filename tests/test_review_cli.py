"""`fieldapp review list|show|decide|undo`, `district transfer`, `district init --supervisor`, and
the migration of release-1 decisions (rows) into district versions on a real schema 3 database."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from fieldapp import db, kinds, models, review
from fieldapp.cli import main
from fieldapp.kinds import age_on
from fieldapp.sqlite import sqlite3
from fieldapp.store import Store
from fieldapp.sync.export import export
from fieldapp.sync.merge import merge_files

from .conftest import COMMUNITY, elder_data
from .sync.helpers import clone_laptop, enrol
from .sync.test_review import _device

DATA = Path(__file__).resolve().parent / "data" / "v3"


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def _enrol(dbp: str, *devices: Store) -> None:
    """The district enrols the laptops (format 1 bundles are accepted only from enrolled ones)."""
    with Store.open(Path(dbp)) as d:
        for device in devices:
            enrol(d, device)


def test_the_cli_decides_shows_and_undoes_a_conflict(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("FIELDAPP_USER", raising=False)
    dbp = str(tmp_path / "d.db")
    assert _run("district", "init", "--db", dbp, "--supervisor", "王主任")[0] == 0
    a = _device(tmp_path)
    rid = a.create("elder", elder_data(phone="13800000000")).record_id
    first = export(a, tmp_path / "usb", allow_v1=True, mkdir=True)
    b = clone_laptop(a, tmp_path / "b.db")
    b.update("elder", rid, elder_data(phone="13811111111"))
    a.update("elder", rid, elder_data(phone="13822222222"))
    _enrol(dbp, a, b)
    conn = db.connect(dbp)
    merge_files(
        conn,
        [
            first.path,
            export(a, tmp_path / "u1", allow_v1=True, mkdir=True).path,
            export(b, tmp_path / "u2", allow_v1=True, mkdir=True).path,
        ],
        allow_v1=True,
    )
    [c] = review.conflicts(conn)
    conn.close()
    code, out = _run("review", "list", "--db", dbp)
    assert code == 0 and out.splitlines() == [
        f"c{c['id']}\t冲突 conflict\telder {rid}\tconcurrent_edit"
    ]
    code, out = _run("review", "show", f"c{c['id']}", "--db", dbp)
    assert code == 0 and "--keep b: 保留B：A的修改仍保存在历史中；下次回传后各设备显示B" in out
    assert "不同的字段 fields that differ: phone\n" in out
    assert out.count("id_number=3212***********259") == 2 and "19440312" not in out
    assert "1944-03-12" not in out and out.count(f"age={age_on('1944-03-12', kinds.today())}") == 2
    assert _run("review", "decide", f"c{c['id']}", "--db", dbp)[0] == 2  # no --keep
    code, out = _run(
        "review", "decide", f"c{c['id']}", "--db", dbp, "--keep", "a", "--field", "shoe=b"
    )
    assert code == 1 and "没有字段 shoe" in out and "no field shoe" in out
    code, out = _run(
        "review", "decide", f"c{c['id']}", "--db", dbp, "--keep", "a", "--comment", "核实"
    )
    assert code == 0 and out.startswith(f"已决定 c{c['id']}")
    conn = db.connect(dbp)
    row = conn.execute("SELECT decided_by, comment, decision_version_id FROM conflicts").fetchone()
    assert (row[0], row[1]) == ("王主任", "核实")
    assert conn.execute("SELECT version_id FROM elder").fetchone()[0] == row[2]
    conn.close()
    assert _run("review", "list", "--db", dbp) == (0, "没有待审核项 (nothing to review)\n")
    code, out = _run("review", "undo", f"c{c['id']}", "--db", dbp, "--by", "李科长")
    assert (code, out) == (
        0,
        f"已撤销 c{c['id']}：1 个新的区级版本 (undone: 1 district versions)\n",
    )
    code, out = _run("review", "undo", f"c{c['id']}", "--db", dbp)
    assert code == 1 and "已撤销" in out
    assert _run("review", "show", "x1", "--db", dbp)[0] == 1


def test_district_transfer_from_the_cli(tmp_path: Path) -> None:
    dbp = str(tmp_path / "d.db")
    assert _run("district", "init", "--db", dbp, "--supervisor", "王主任")[0] == 0
    assert _run("district", "init", "--db", dbp, "--supervisor", "李科长") == (
        0,
        "审核人已设为 李科长 (supervisor set)\n",
    )
    a = _device(tmp_path)
    rid = a.create("elder", elder_data()).record_id
    _enrol(dbp, a)
    conn = db.connect(dbp)
    merge_files(conn, [export(a, tmp_path / "u", allow_v1=True, mkdir=True).path], allow_v1=True)
    other = conn.execute(
        "SELECT code FROM ref_community WHERE code != ? ORDER BY code", (COMMUNITY,)
    ).fetchone()[0]
    conn.close()
    code, out = _run("district", "transfer", rid, "--to", "999999999999", "--db", dbp)
    assert code == 1 and "没有社区 999999999999" in out
    code, out = _run("district", "transfer", rid, "--to", other, "--db", dbp)
    assert code == 0 and out.startswith(f"已迁入 {other}")
    conn = db.connect(dbp)
    assert conn.execute("SELECT community_code FROM elder").fetchone()[0] == other
    assert conn.execute("SELECT decided_by, decision FROM review_items").fetchone()[:] == (
        "李科长",
        other,
    )
    conn.close()


def _v3_with_decisions(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The release-1 district database with three decisions made the release-1 way (rows only)."""
    path = tmp_path / "district.db"
    with gzip.open(DATA / "district.db.gz", "rb") as src, path.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    conn = sqlite3.connect(path)
    elders = conn.execute("SELECT id, version_id FROM elder ORDER BY id LIMIT 2").fetchall()
    meals = conn.execute(
        "SELECT id FROM meal_count WHERE deleted = 0 ORDER BY id LIMIT 2"
    ).fetchall()
    rid, current = elders[0]
    v = conn.execute(
        "SELECT parent_version_id, hlc, device_id, payload FROM versions WHERE version_id = ?",
        (current,),
    ).fetchone()
    payload = json.loads(v[3]) | {"phone": "13955555555"}
    sibling = "01a22bd8-0000-7000-8000-00000000c0de"
    conn.execute(
        "INSERT INTO versions (version_id, kind, record_id, parent_version_id, hlc, device_id, deleted,"
        " content_hash, payload, origin) VALUES (?, 'elder', ?, ?, ?, ?, 0, ?, ?, 'local')",
        (
            sibling,
            rid,
            v[0],
            "0000000000001-00000",
            v[2],
            models.content_hash(False, payload),
            models.canonical_json(payload),
        ),
    )
    a, b = sorted((current, sibling))
    done = "2025-11-20T10:00:00+08:00"
    conn.execute(
        "INSERT INTO conflicts (kind, record_id, version_a, version_b, reason, status, created_at,"
        " decided_by, decided_at, decision) VALUES ('elder', ?, ?, ?, 'concurrent_edit', 'resolved', ?, 'root', ?, ?)",
        (rid, a, b, done, done, sibling),
    )
    for queue, kind, (x, y), decision in (
        ("duplicate_person", "elder", (elders[0][0], elders[1][0]), "same"),
        ("meal_slot", "meal_count", (meals[0][0], meals[1][0]), meals[0][0]),
    ):
        conn.execute(
            "INSERT INTO review_items (queue, kind, record_a, record_b, natural_key, status, created_at,"
            " decided_by, decided_at, decision) VALUES (?, ?, ?, ?, 'k', 'resolved', ?, 'root', ?, ?)",
            (queue, kind, x, y, done, done, decision),
        )
    conn.commit()
    conn.close()
    return path, {
        "elder": rid,
        "status": payload["status"],
        "other_elder": elders[1][0],
        "wrong_meal": meals[1][0],
    }


def test_release_1_decisions_become_district_versions_when_migrated(tmp_path: Path) -> None:
    path, ids = _v3_with_decisions(tmp_path)
    conn = db.connect(path)
    district_id = conn.execute("SELECT device_id FROM device").fetchone()[0]
    made = conn.execute(
        "SELECT kind, record_id, deleted, json_extract(payload, '$.status'), parent_version_id,"
        " also_parents FROM versions WHERE device_id = ? ORDER BY kind, record_id",
        (district_id,),
    ).fetchall()
    assert sorted((r[0], r[1], r[2], r[3]) for r in made) == sorted(
        [
            ("elder", ids["elder"], 0, ids["status"]),
            ("elder", ids["other_elder"], 0, "cancelled"),
            ("meal_count", ids["wrong_meal"], 1, None),
        ]
    )
    assert (
        conn.execute("SELECT phone FROM elder WHERE id = ?", (ids["elder"],)).fetchone()[0]
        == "13955555555"
    )
    row = conn.execute(
        "SELECT status, merged_into, status_date FROM elder WHERE id = ?", (ids["other_elder"],)
    ).fetchone()
    assert tuple(row) == ("cancelled", ids["elder"], "2025-11-20")
    assert (
        conn.execute(
            "SELECT deleted FROM meal_count WHERE id = ?", (ids["wrong_meal"],)
        ).fetchone()[0]
        == 1
    )
    assert (
        conn.execute(
            "SELECT count(*) FROM conflicts WHERE decision_version_id IS NOT NULL"
        ).fetchone()[0]
        == 1
    )
    assert (
        conn.execute(
            "SELECT count(*) FROM review_items WHERE decision_version_id IS NOT NULL"
        ).fetchone()[0]
        == 2
    )
    assert review.conflicts(conn) == []
    before = conn.execute("SELECT count(*) FROM versions").fetchone()[0]
    conn.execute("BEGIN IMMEDIATE")
    assert review.decisions_to_versions(conn) == 0  # idempotent
    conn.execute("COMMIT")
    assert conn.execute("SELECT count(*) FROM versions").fetchone()[0] == before
    conn.close()
