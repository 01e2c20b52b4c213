"""Review decisions (conflict, duplicate person, meal-slot collision) are recorded and survive re-merges."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

from fieldapp import review
from fieldapp.store import Store
from fieldapp.sync.export import export
from fieldapp.sync.merge import merge_files

from ..conftest import COMMUNITY, STREET, elder_data, make_id
from .helpers import district


def _device(tmp_path: Path) -> Store:
    a = Store.open(tmp_path / "a.db")
    a.setup_device(street_code=STREET, community_code=COMMUNITY, worker="周红")
    return a


def _clone(a: Store, path: Path) -> Store:
    """A second laptop that has what the first one has (as devices do once they share records)."""
    a.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(a.conn.execute("PRAGMA database_list").fetchone()[2], path)
    b = Store.open(path)
    b.conn.execute("UPDATE device SET device_id = '0193a1b2-7c4d-7e8f-9a0b-00000000beef'")
    b.conn.execute("DELETE FROM exports")
    b.close()
    return Store.open(path)


def test_conflict_choice_is_kept_across_re_merges(tmp_path: Path) -> None:
    a = _device(tmp_path)
    rid = a.create("elder", elder_data(phone="13800000000")).record_id
    first = export(a, tmp_path / "usb", allow_v1=True)
    b = _clone(a, tmp_path / "b.db")  # the second laptop has the record and edits it too
    b.update("elder", rid, elder_data(phone="13811111111"))
    a.update("elder", rid, elder_data(phone="13822222222"))
    bundles = [
        first.path,
        export(a, tmp_path / "usb", allow_v1=True).path,
        export(b, tmp_path / "usb2", allow_v1=True).path,
    ]
    d = district(tmp_path / "d.db", a, b)
    assert all(r.status == "merged" for r in merge_files(d.conn, bundles, allow_v1=True))
    [c] = review.conflicts(d.conn)
    info, left, right = review.conflict_sides(d.conn, c["id"])
    assert {left.payload["phone"], right.payload["phone"]} == {"13811111111", "13822222222"}
    assert "*" in left.payload["id_number"]  # masked for the reviewer
    current = d.conn.execute("SELECT phone, version_id FROM elder WHERE id = ?", (rid,)).fetchone()
    loser = left if left.version_id != current["version_id"] else right
    review.decide_conflict(d.conn, c["id"], loser.version_id, decided_by="区审核员")
    assert (
        d.conn.execute("SELECT phone FROM elder WHERE id = ?", (rid,)).fetchone()[0]
        == loser.payload["phone"]
    )
    row = d.conn.execute(
        "SELECT status, decided_by, decided_at, decision FROM conflicts"
    ).fetchone()
    assert (
        row["status"] == "resolved"
        and row["decided_by"] == "区审核员"
        and row["decided_at"]
        and row["decision"] == loser.version_id
    )
    # the same bundles again, and a full re-export of each laptop: the decision stands
    again = merge_files(
        d.conn,
        [
            *bundles,
            export(a, tmp_path / "usb3", full=True, allow_v1=True).path,
            export(b, tmp_path / "usb4", full=True, allow_v1=True).path,
        ],
        allow_v1=True,
    )
    assert [r.status for r in again] == ["already", "already", "already", "merged", "merged"]
    assert (
        d.conn.execute("SELECT phone FROM elder WHERE id = ?", (rid,)).fetchone()[0]
        == loser.payload["phone"]
    )
    assert review.conflicts(d.conn) == []
    # a later edit on top of the chosen version simply wins (it descends from it)
    assert review.counts(d.conn)["conflicts"] == 0


def test_duplicate_person_and_meal_slot_decisions_are_kept(tmp_path: Path) -> None:
    from ..test_models import base

    a = _device(tmp_path)
    point = a.create("meal_point", base("meal_point")).record_id
    b = _clone(a, tmp_path / "b.db")
    person = elder_data(name="重名", id_number=make_id(date(1940, 2, 2), False, 9))
    a.create("elder", person)
    b.create("elder", person)
    day = "2026-06-01"
    ma = a.create(
        "meal_count", {"point_id": point, "service_date": day, "meal": "lunch", "dine_in": 8}
    ).record_id
    mb = b.create(
        "meal_count", {"point_id": point, "service_date": day, "meal": "lunch", "dine_in": 30}
    ).record_id
    bundles = [
        export(a, tmp_path / "u1", allow_v1=True).path,
        export(b, tmp_path / "u2", allow_v1=True).path,
    ]
    d = district(tmp_path / "d.db", a, b)
    merge_files(d.conn, bundles, allow_v1=True)
    [dup] = review.reviews(d.conn, "duplicate_person")
    [slot] = review.reviews(d.conn, "meal_slot")
    item, left, right = review.review_sides(d.conn, dup["id"])
    assert (
        left["name"] == right["name"] == "重名"
        and "*" in left["id_number"]
        and item["shown_key"].count("*") == 8
        and item["natural_key"].startswith("hmac:")
    )
    review.decide_review(d.conn, dup["id"], "different", decided_by="区审核员")
    review.decide_review(d.conn, slot["id"], ma, decided_by="区审核员")
    effective = d.conn.execute(
        "SELECT id, total FROM meal_count_effective WHERE service_date = ?", (day,)
    ).fetchall()
    assert [tuple(r) for r in effective] == [(ma, 8)]
    merge_files(
        d.conn,
        [
            export(a, tmp_path / "u3", full=True, allow_v1=True).path,
            export(b, tmp_path / "u4", full=True, allow_v1=True).path,
        ],
        allow_v1=True,
    )
    assert (
        review.reviews(d.conn, "duplicate_person") == []
        and review.reviews(d.conn, "meal_slot") == []
    )
    decided = {
        r["queue"]: (r["status"], r["decision"])
        for r in d.conn.execute("SELECT queue, status, decision FROM review_items")
    }
    assert decided == {"duplicate_person": ("resolved", "different"), "meal_slot": ("resolved", ma)}
    assert [
        tuple(r)
        for r in d.conn.execute(
            "SELECT id, total FROM meal_count_effective WHERE service_date = ?", (day,)
        )
    ] == [(ma, 8)]
    assert mb != ma
