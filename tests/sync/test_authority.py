"""Who may write what (SPEC §4a) and clocks (SPEC §4 v2): one test per attack of issue 13 points 1-2.

Each attack is a real bundle file merged into a real district database: a refusal names what broke
the rule and leaves the database as it was (dump hash); what is kept but may not win is shown.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from fieldapp import crypto, models
from fieldapp.cli import main
from fieldapp.sqlite import sqlite3
from fieldapp.store import Store, district_version
from fieldapp.sync.bundle import version_line, write_bundle
from fieldapp.sync.merge import merge_bundle
from fieldapp.sync.settle import settle_records

from .helpers import district, dump_hash, open_reviews, rebuild

A, B = "321202001901", "321202001902"
HONEST = "0193a1b0-7c4d-7e8f-9a0b-00000000d001"
THIEF = "0193a1b0-7c4d-7e8f-9a0b-00000000d002"
NOW_MS = 1_780_000_000_000
DAY = 86_400_000
RECORD = "0193a1b2-9000-7000-8000-000000000001"


def vid(n: int) -> str:
    return f"0193a1b2-8000-7000-8000-{n:012x}"


def version(
    n: int,
    device: str,
    *,
    parent: int | None = None,
    community: str = A,
    name: str = "李敏",
    ms: int = NOW_MS,
    also: tuple[int, ...] = (),
    record: str = RECORD,
) -> dict[str, Any]:
    payload = models.validate_record(
        "volunteer", {"name": name, "community_code": community}, schema=2
    ).payload()
    return {
        "kind": "volunteer",
        "record_id": record,
        "version_id": vid(n),
        "parent_version_id": vid(parent) if parent else None,
        "also_parents": [vid(p) for p in also],
        "payload_schema": 2,
        "hlc": f"{ms:013d}-{n:05d}" if ms < 10**13 else "9999999999999-99999",
        "device_id": device,
        "deleted": False,
        "content_hash": models.content_hash(False, payload),
        "payload": payload,
    }


def bundle(
    out: Path, device: str, seq: int, versions: list[dict[str, Any]], community: str = A
) -> Path:
    fields = {
        "bundle_id": f"0193a1b2-a000-7000-8000-{int(device[-1]):04x}{seq:08x}",
        "device_id": device,
        "device_label": "测试",
        "worker": "测试",
        "street_code": "321202001",
        "community_code": community,
        "period": "2026-06",
        "created_at": "2026-06-30T17:00:00+08:00",
        "seq": seq,
        "prev_bundle_id": None,
        "app_version": "test",
    }
    lines = (
        (
            v["kind"],
            v["hlc"],
            version_line(
                {
                    **v,
                    "payload": models.canonical_json(v["payload"]),
                    "also_parents": json.dumps(v["also_parents"]),
                }
            ),
        )
        for v in versions
    )
    return write_bundle(out / f"{device[-1]}-{seq}", fields, lines).path


@pytest.fixture
def dist(tmp_path: Path) -> Store:
    """A district with the honest device enrolled for A and the thief's laptop enrolled for B."""
    store = district(tmp_path / "district.db")
    store.enroll(HONEST, crypto.new_signing_key()[1], label="甲", by="测试", communities=[A])
    store.enroll(THIEF, crypto.new_signing_key()[1], label="乙", by="测试", communities=[B])
    return store


def merge(store: Store, path: Path) -> Any:
    return merge_bundle(store.conn, path, allow_v1=True, now_ms=NOW_MS)


def refused_unchanged(store: Store, path: Path, *words: str) -> None:
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db = Path(store.conn.execute("PRAGMA database_list").fetchone()[2])
    before = dump_hash(db)
    r = merge(store, path)
    assert r.status == "invalid", r
    for w in words:
        assert w in (r.reason or ""), r.reason
    assert dump_hash(db) == before


def current(store: Store, record: str = RECORD) -> str | None:
    row = store.conn.execute("SELECT version_id FROM volunteer WHERE id = ?", (record,)).fetchone()
    return row[0] if row else None


# ------------------------------------------------------------------ cross-community writes


def test_a_version_of_another_community_refuses_the_whole_bundle(
    dist: Store, tmp_path: Path
) -> None:
    own = version(1, THIEF, community=B, record="0193a1b2-9000-7000-8000-0000000000b1")
    theirs = version(2, THIEF, community=A)  # an elder of A created by B's laptop
    path = bundle(tmp_path, THIEF, 1, [own, theirs], community=B)
    refused_unchanged(dist, path, f"记录 {RECORD}", f"社区 {A}", B, "整个同步包未合并")


def test_a_manifest_of_another_community_is_refused(dist: Store, tmp_path: Path) -> None:
    path = bundle(tmp_path, THIEF, 1, [version(1, THIEF, community=B)], community=A)
    refused_unchanged(dist, path, f"清单的社区 {A}", B)


def test_an_overwrite_of_another_communitys_record_is_kept_but_never_wins(
    dist: Store, tmp_path: Path
) -> None:
    assert merge(dist, bundle(tmp_path, HONEST, 1, [version(1, HONEST)])).status == "merged"
    # B's laptop writes a descendant of A's head, moving the record to B: no conflict, no win
    hijack = version(2, THIEF, parent=1, community=B, name="王芳", ms=NOW_MS + 5)
    assert merge(dist, bundle(tmp_path, THIEF, 1, [hijack], community=B)).status == "merged"
    assert current(dist) == vid(1)
    assert open_reviews(dist.conn) == {("community_change", RECORD, vid(2))}
    key = dist.conn.execute(
        "SELECT natural_key FROM review_items WHERE queue = 'community_change'"
    ).fetchone()[0]
    assert key == f"{A}→{B}"
    # an honest edit on top of the hijack descends from it: kept, never wins either
    follow = version(3, HONEST, parent=2, community=A, name="张伟", ms=NOW_MS + 9)
    assert merge(dist, bundle(tmp_path, HONEST, 2, [follow])).status == "merged"
    assert current(dist) == vid(1)
    assert ("community_change", RECORD, vid(3)) in open_reviews(dist.conn)


def test_a_device_enrolled_without_a_confirmed_community_waits(tmp_path: Path) -> None:
    store = district(tmp_path / "district.db")
    store.enroll(HONEST, crypto.new_signing_key()[1], label="甲", by="测试")
    path = bundle(tmp_path, HONEST, 1, [version(1, HONEST)])
    refused_unchanged(store, path, "尚未确认", f"fieldapp district confirm {HONEST} --community")
    store.confirm(HONEST, [A])
    assert merge(store, path).status == "merged"


# ------------------------------------------------------------------ clones and revocation


def test_two_bundles_with_one_seq_are_flagged_as_a_clone(dist: Store, tmp_path: Path) -> None:
    first = bundle(tmp_path, HONEST, 1, [version(1, HONEST)])
    assert merge(dist, first).status == "merged"
    copy = rebuild(
        bundle(tmp_path / "x", HONEST, 1, [version(2, HONEST, record=vid(99))]),
        tmp_path / "clone.fieldbundle",
        manifest=lambda m: m.update(bundle_id="0193a1b2-a000-7000-8000-0000deadbeef"),
    )
    tables = "SELECT count(*) FROM versions"
    r = merge(dist, copy)
    assert r.status == "invalid" and "疑似数据库被复制" in (r.reason or "")
    assert first.name in (r.reason or "") and "clone.fieldbundle" in (r.reason or "")
    assert dist.conn.execute(tables).fetchone()[0] == 1
    rows = dist.conn.execute(
        "SELECT device_id, seq, file_a, file_b, status FROM bundle_clones"
    ).fetchall()
    assert [tuple(x) for x in rows] == [(HONEST, 1, first.name, "clone.fieldbundle", "open")]


def test_a_revoked_devices_bundle_is_accepted_only_file_by_file(
    dist: Store, tmp_path: Path
) -> None:
    before_theft = bundle(tmp_path, HONEST, 1, [version(1, HONEST)])
    after_theft = bundle(tmp_path, HONEST, 2, [version(2, HONEST, parent=1, name="王芳")])
    dist.revoke(HONEST, by="测试")
    refused_unchanged(dist, before_theft, "已于", "撤销", "accept-bundle")
    db = tmp_path / "district.db"
    result = cli("district", "accept-bundle", "--db", db, before_theft, "--comment", "被盗前")
    assert result.exit_code == 0, result.output
    assert merge(dist, before_theft).status == "merged"
    refused_unchanged(dist, after_theft, "撤销")
    row = dist.conn.execute("SELECT device_id, comment FROM accepted_bundles").fetchone()
    assert tuple(row) == (HONEST, "被盗前")


# ------------------------------------------------------------------ clocks


def test_a_forged_future_clock_wins_alone_loses_to_a_concurrent_head_until_accepted(
    dist: Store, tmp_path: Path
) -> None:
    root = version(1, HONEST)
    forged = version(2, HONEST, parent=1, name="王芳", ms=10**13)  # 9999999999999-99999
    assert merge(dist, bundle(tmp_path, HONEST, 1, [root, forged])).status == "merged"
    assert current(dist) == vid(2)  # the only head
    flags = "SELECT version_id, accepted_at FROM clock_flags"
    assert [tuple(r) for r in dist.conn.execute(flags)] == [(vid(2), None)]
    genuine = version(3, HONEST, parent=1, name="张伟", ms=NOW_MS + 60_000)
    assert merge(dist, bundle(tmp_path, HONEST, 2, [genuine])).status == "merged"
    assert current(dist) == vid(3)  # an unflagged concurrent head beats the flagged one
    db = tmp_path / "district.db"
    result = cli("district", "accept-clock", "--db", db, "--version", vid(2))
    assert result.exit_code == 0, result.output
    assert current(dist) == vid(2)
    assert dist.conn.execute(flags).fetchone()[1] is not None


def test_accept_clock_needs_exactly_one_target(dist: Store, tmp_path: Path) -> None:
    db = tmp_path / "district.db"
    assert cli("district", "accept-clock", "--db", db).exit_code == 1
    nothing = cli("district", "accept-clock", "--db", db, "--bundle", "nope")
    assert nothing.exit_code == 1 and "没有找到" in nothing.output


# ------------------------------------------------------------------ lineage at the district


def test_a_resolution_ends_the_conflict_and_a_district_version_beats_a_device(
    dist: Store, tmp_path: Path
) -> None:
    a, b = version(2, HONEST, parent=1, name="王芳"), version(3, HONEST, parent=1, name="张伟")
    assert merge(dist, bundle(tmp_path, HONEST, 1, [version(1, HONEST), a, b])).status == "merged"
    assert (
        dist.conn.execute("SELECT count(*) FROM conflicts WHERE status = 'open'").fetchone()[0] == 1
    )
    fix = version(4, HONEST, parent=3, also=(2,), name="刘洋")
    assert merge(dist, bundle(tmp_path, HONEST, 2, [fix])).status == "merged"
    assert current(dist) == vid(4)
    assert (
        dist.conn.execute("SELECT count(*) FROM conflicts WHERE status = 'open'").fetchone()[0] == 0
    )
    # a device edit with a later clock, and a district version beside it: the district wins
    late = version(5, HONEST, parent=4, name="李敏2", ms=NOW_MS + 3_600_000)
    assert merge(dist, bundle(tmp_path, HONEST, 3, [late])).status == "merged"
    with dist.transaction():
        decided = district_version(
            dist.conn, "volunteer", RECORD, {"name": "区定", "community_code": A}, parent=vid(4)
        )
        settle_records(dist.conn, {RECORD: "volunteer"})
    assert current(dist) == decided


def test_a_parent_cycle_refuses_the_bundle_that_closes_it(dist: Store, tmp_path: Path) -> None:
    a = version(1, HONEST, parent=2)
    assert merge(dist, bundle(tmp_path, HONEST, 1, [a])).status == "merged"
    assert current(dist) is None  # its parent has not arrived: not eligible
    refused_unchanged(dist, bundle(tmp_path, HONEST, 2, [version(2, HONEST, parent=1)]), "成环")


# ------------------------------------------------------------------ enrolment on the command line


def cli(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def test_enroll_takes_the_community_from_the_key_file_and_confirm_changes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIELDAPP_USER", "区级管理员")
    db = tmp_path / "district.db"
    district(db).close()
    key = crypto.device_public_file(
        tmp_path / "d.pub.json", HONEST, "甲", crypto.new_signing_key()[1], A
    )
    shown = cli("district", "enroll", "--db", db, key, "--yes")
    assert shown.exit_code == 0, shown.output
    assert f"社区 community: {A}" in shown.output
    conn = sqlite3.connect(db)
    row = "SELECT communities, community_confirmed FROM enrolled_devices"
    assert conn.execute(row).fetchone() == (json.dumps([A]), 1)
    assert cli("district", "confirm", "--db", db, HONEST, "--community", B).exit_code == 0
    assert conn.execute(row).fetchone() == (json.dumps([B]), 1)
    bad = cli("district", "confirm", "--db", db, HONEST, "--community", "999999999999")
    assert bad.exit_code == 1 and "999999999999" in bad.output
    conn.close()


def test_a_cross_community_bundle_on_the_command_line_exits_1_without_a_traceback(
    dist: Store, tmp_path: Path
) -> None:
    path = bundle(tmp_path, THIEF, 1, [version(1, THIEF, community=A)], community=B)
    dist.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = dump_hash(tmp_path / "district.db")
    result = cli("merge", "--db", tmp_path / "district.db", "--allow-v1", path)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output and f"记录 {RECORD}" in result.output
    assert dump_hash(tmp_path / "district.db") == before
