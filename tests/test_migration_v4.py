"""Schema 3 → 4 on real databases made by release 1 (main bf2940a, tests/data/v3/make.py): nothing lost.

A device database (a demo community of 40 elders, one moved out, one deceased) and a district
database (that device's first bundle merged, a second device enrolled with none) are opened by
this code: every version and every current row is still there, child records have their
community, non-active elders their status_date, enrolments their communities, and a private copy
of the file was taken first.
"""

from __future__ import annotations

import gzip
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

from fieldapp import backup, db
from fieldapp.sqlite import sqlite3

DATA = Path(__file__).resolve().parent / "data" / "v3"
CHILDREN = {"home_visit": "elder", "assessment": "elder", "retrofit": "elder"}
KINDS = ("elder", "home_visit", "assessment", "retrofit", "meal_point", "meal_count", "volunteer")


def _unpack(name: str, tmp: Path) -> Path:
    path = tmp / f"{name}.db"
    with gzip.open(DATA / f"{name}.db.gz", "rb") as src, path.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return path


def _rows(conn: sqlite3.Connection, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in conn.execute(sql)]


def _snapshot(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path)
    out = {
        "versions": _rows(
            conn,
            "SELECT seq, version_id, kind, record_id, parent_version_id, hlc, device_id, deleted,"
            " content_hash, payload, origin FROM versions ORDER BY seq",
        )
    }
    for kind in (*KINDS, "volunteer_event", "retrofit_line", "volunteer_participant", "bundles"):
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({kind})")]
        out[kind] = _rows(conn, f"SELECT {', '.join(cols)} FROM {kind} ORDER BY 1, 2")
    out["_cols"] = [(k,) for k in out]
    conn.close()
    return out


@pytest.mark.parametrize("name", ["device", "district"])
def test_a_release_1_database_migrates_and_keeps_every_row(name: str, tmp_path: Path) -> None:
    path = _unpack(name, tmp_path)
    before = _snapshot(path)
    old_cols = {
        k: [r[1] for r in sqlite3.connect(path).execute(f"PRAGMA table_info({k})")]
        for k in (*KINDS, "volunteer_event", "retrofit_line", "volunteer_participant", "bundles")
    }
    conn = db.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION == 5
    # the versions: every one, byte for byte, schema 1, never rewritten
    assert (
        _rows(
            conn,
            "SELECT seq, version_id, kind, record_id, parent_version_id, hlc, device_id, deleted,"
            " content_hash, payload, origin FROM versions ORDER BY seq",
        )
        == before["versions"]
    )
    assert len(before["versions"]) > 500
    assert _rows(conn, "SELECT DISTINCT payload_schema, also_parents, saved_at FROM versions") == [
        (1, "[]", None)
    ]
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE versions SET payload_schema = 2")
    # every current row, every old column unchanged
    for kind, cols in old_cols.items():
        now = _rows(conn, f"SELECT {', '.join(cols)} FROM {kind} ORDER BY 1, 2")
        assert now == before[kind], kind
    # child records: the community of their elder / point
    for kind, owner in CHILDREN.items():
        wrong = conn.execute(
            f"SELECT count(*) FROM {kind} c JOIN {owner} o ON o.id = c.elder_id"
            " WHERE c.community_code IS NOT o.community_code"
        ).fetchone()[0]
        assert wrong == 0 and conn.execute(f"SELECT count(*) FROM {kind}").fetchone()[0] > 0
    assert _rows(conn, "SELECT DISTINCT community_code FROM home_visit") == [("321202001901",)]
    assert (
        conn.execute(
            "SELECT count(*) FROM meal_count m JOIN meal_point p ON p.id = m.point_id"
            " WHERE m.community_code IS NOT p.community_code"
        ).fetchone()[0]
        == 0
    )
    # the two elders release 1 marked: the day of the version that set the status
    marked = _rows(
        conn,
        "SELECT e.status, e.status_date, v.hlc, v.origin FROM elder e"
        " JOIN versions v ON v.version_id = e.version_id WHERE e.status != 'active' ORDER BY 1",
    )
    assert [m[0] for m in marked] == ["deceased", "moved_out"]
    for _, day, stamp, origin in marked:
        if origin == "local":
            assert day == db._hlc_date(stamp)
        else:
            merged = conn.execute(
                "SELECT merged_at FROM bundles WHERE bundle_id = ?", (origin,)
            ).fetchone()[0]
            assert day == merged[:10]
    assert (
        conn.execute(
            "SELECT count(*) FROM elder WHERE status = 'active' AND status_date IS NOT NULL"
        ).fetchone()[0]
        == 0
    )
    # the copy taken first: private, beside the file, the release 1 schema and rows
    pre = f"pre-v{db.SCHEMA_VERSION}"  # named after the version migrated to
    (copy,) = backup.backups(path, pre)
    assert copy.parent == path.parent and copy.name.startswith(f"{name}.db.{pre}-")
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    old = sqlite3.connect(copy)
    assert old.execute("PRAGMA user_version").fetchone()[0] == 3
    assert old.execute("SELECT count(*) FROM versions").fetchone()[0] == len(before["versions"])
    old.close()
    conn.close()


def test_the_district_enrolments_get_their_communities_from_merged_bundles(
    tmp_path: Path,
) -> None:
    conn = db.connect(_unpack("district", tmp_path))
    rows = _rows(
        conn,
        "SELECT e.communities, e.community_confirmed, (SELECT count(*) FROM bundles b"
        " WHERE b.device_id = e.device_id) FROM enrolled_devices e ORDER BY 3",
    )
    assert rows == [("[]", 0, 0), ('["321202001901"]', 1, 1)]
    conn.close()


def test_a_migrated_database_has_the_schema_of_a_new_one(tmp_path: Path) -> None:
    migrated = db.connect(_unpack("device", tmp_path))
    fresh = db.connect(tmp_path / "fresh.db")

    def shape(c: sqlite3.Connection) -> dict[str, Any]:
        objs = _rows(c, "SELECT type, name, tbl_name FROM sqlite_master ORDER BY name")
        return {
            "objects": objs,
            "columns": {
                o[1]: _rows(c, f"PRAGMA table_info({o[1]})") for o in objs if o[0] == "table"
            },
            "without_rowid": sorted(
                o[1]
                for o in objs
                if o[0] == "table"
                and "WITHOUT ROWID"
                in c.execute("SELECT sql FROM sqlite_master WHERE name = ?", (o[1],)).fetchone()[0]
            ),
        }

    assert shape(migrated) == shape(fresh)
    migrated.close()
    fresh.close()


def test_a_migrated_device_reads_schema_1_records_and_saves_schema_2(tmp_path: Path) -> None:
    from fieldapp.store import Store

    store = Store.open(_unpack("device", tmp_path))
    (rid,) = store.conn.execute("SELECT id FROM home_visit ORDER BY id LIMIT 1").fetchone()
    cur = store.get("home_visit", rid)
    assert cur.record.payload_schema == 1 and "community_code" not in cur.record.payload()
    saved = store.update("home_visit", rid, cur.record.payload() | {"notes": "迁移后修改"})
    new = store.get("home_visit", rid).record
    assert new.payload_schema == 2 and new.payload()["community_code"] == "321202001901"
    assert saved.version_id == store.history(rid)[-1].version_id
    (moved,) = store.conn.execute("SELECT id FROM elder WHERE status = 'moved_out'").fetchone()
    day = store.conn.execute("SELECT status_date FROM elder WHERE id = ?", (moved,)).fetchone()[0]
    store.update("elder", moved, store.get("elder", moved).record.payload() | {"notes": "x"})
    assert store.get("elder", moved).record.payload()["status_date"] == day
    store.close()


def test_after_the_update_a_full_export_merges_old_schema_1_and_new_schema_2_versions(
    tmp_path: Path,
) -> None:
    """SPEC §3 v2: versions written before the update keep payload schema 1 for ever; a `--full`
    export after the update carries both schemas and the district merges every line, taking a
    schema 1 version's community from the device's enrolment."""
    from fieldapp import crypto
    from fieldapp.store import Store
    from fieldapp.sync.export import export
    from fieldapp.sync.merge import merge_files

    from .sync.helpers import district

    pub, priv, _ = crypto.district_keygen(tmp_path / "keys", "correct horse battery")
    device = Store.open(_unpack("device", tmp_path))
    device.install_district_key(*crypto.load_district_public(pub))  # a rotated district key
    (eid,) = device.conn.execute("SELECT id FROM elder WHERE status = 'active' LIMIT 1").fetchone()
    cur = device.get("elder", eid)
    device.update("elder", eid, cur.record.payload() | {"notes": "更新后修改"})
    old, new = device.conn.execute(
        "SELECT sum(payload_schema = 1), sum(payload_schema = 2) FROM versions"
    ).fetchone()
    assert old > 600 and new == 1
    bundle = export(device, tmp_path / "usb", full=True, mkdir=True).path
    d = district(tmp_path / "district.db", device)
    device.close()
    key = crypto.load_district_private(priv, "correct horse battery")
    [result] = merge_files(d.conn, [bundle], district_key=key)
    assert result.status == "merged", result.reason
    assert result.versions == old + new
    stored = d.conn.execute(
        "SELECT payload_schema, count(*) FROM versions GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert [tuple(r) for r in stored] == [(1, old), (2, new)]
    row = d.conn.execute("SELECT notes, community_code FROM elder WHERE id = ?", (eid,)).fetchone()
    assert tuple(row) == ("更新后修改", "321202001901")
    visits = d.conn.execute("SELECT DISTINCT community_code FROM home_visit").fetchall()
    assert [r[0] for r in visits] == ["321202001901"]  # schema 1 visits: the enrolment's
    d.close()
