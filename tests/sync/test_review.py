"""District decisions are district versions (SPEC §4 v2): conflict choices (whole or field by field),
grouped duplicate persons, meal slots and transfers; undo is one more decision; decisions survive
re-merges because they are data, and a later device edit descends from them."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from fieldapp import kinds, review
from fieldapp.store import Store
from fieldapp.store.district import set_supervisor
from fieldapp.sync.bundle import version_line
from fieldapp.sync.export import export
from fieldapp.sync.merge import merge_files

from ..conftest import COMMUNITY, STREET, elder_data, make_id
from .helpers import clone_laptop, district, rebuild

BOSS = "王主任"


def _device(tmp_path: Path) -> Store:
    a = Store.open(tmp_path / "a.db")
    a.setup_device(street_code=STREET, community_code=COMMUNITY, worker="周红")
    return a


def _district(tmp_path: Path, *devices: Store) -> Store:
    d = district(tmp_path / "d.db", *devices)
    with d.transaction():
        set_supervisor(d.conn, BOSS)
    return d


def _version(d: Store, vid: str) -> dict[str, object]:
    row = d.conn.execute(
        "SELECT parent_version_id, also_parents, device_id, deleted, payload_schema, payload"
        " FROM versions WHERE version_id = ?",
        (vid,),
    ).fetchone()
    return dict(row) | {"payload": json.loads(row["payload"])}


def _conflicted(tmp_path: Path, a_edit: dict[str, object], b_edit: dict[str, object]):  # type: ignore[no-untyped-def]
    a = _device(tmp_path)
    rid = a.create("elder", elder_data(phone="13800000000")).record_id
    first = export(a, tmp_path / "usb", allow_v1=True, mkdir=True)
    b = clone_laptop(a, tmp_path / "b.db")
    b.update("elder", rid, elder_data(**b_edit))
    a.update("elder", rid, elder_data(**a_edit))
    bundles = [
        first.path,
        export(a, tmp_path / "usb", allow_v1=True, mkdir=True).path,
        export(b, tmp_path / "usb2", allow_v1=True, mkdir=True).path,
    ]
    d = _district(tmp_path, a, b)
    assert [r.status for r in merge_files(d.conn, bundles, allow_v1=True)] == ["merged"] * 3
    return a, b, d, rid, bundles


def test_a_conflict_choice_is_a_resolution_that_survives_re_merge_undo_and_a_later_edit(
    tmp_path: Path,
) -> None:
    a, b, d, rid, bundles = _conflicted(
        tmp_path, {"phone": "13822222222"}, {"phone": "13811111111"}
    )
    [c] = review.conflicts(d.conn)
    _, left, right = review.conflict_sides(d.conn, c["id"])
    current = d.conn.execute("SELECT phone, version_id FROM elder WHERE id = ?", (rid,)).fetchone()
    key, loser, winner = ("a", left, right) if left.version_id != current[1] else ("b", right, left)
    assert review.who(d.conn) == BOSS
    vid = review.decide_conflict(
        d.conn, c["id"], choose=key, by=review.who(d.conn), comment="电话已核实"
    )
    district_id = d.conn.execute("SELECT device_id FROM device").fetchone()[0]
    v = _version(d, vid)
    assert (v["parent_version_id"], json.loads(str(v["also_parents"])), v["device_id"]) == (
        loser.version_id,
        [winner.version_id],
        district_id,
    )
    assert v["payload_schema"] == 2 and v["payload"]["community_code"] == COMMUNITY  # type: ignore[index]
    assert tuple(
        d.conn.execute("SELECT phone, version_id FROM elder WHERE id = ?", (rid,)).fetchone()
    ) == (
        loser.payload["phone"],
        vid,
    )
    row = d.conn.execute(
        "SELECT status, decided_by, decision, decision_version_id, comment FROM conflicts"
    ).fetchone()
    assert tuple(row) == ("resolved", BOSS, loser.version_id, vid, "电话已核实")
    # the same bundles and full re-exports again: the decision is data and stands
    again = merge_files(
        d.conn,
        [
            *bundles,
            export(a, tmp_path / "usb3", full=True, allow_v1=True, mkdir=True).path,
            export(b, tmp_path / "usb4", full=True, allow_v1=True, mkdir=True).path,
        ],
        allow_v1=True,
    )
    assert [r.status for r in again] == ["already"] * 3 + ["merged"] * 2
    assert (
        d.conn.execute("SELECT phone, version_id FROM elder WHERE id = ?", (rid,)).fetchone()[1]
        == vid
    )
    assert review.conflicts(d.conn) == []
    # undo: a new district version restores what the record showed before; the history shows both
    [u] = review.undo(d.conn, f"c{c['id']}", by=BOSS, comment="误操作")
    assert _version(d, u)["parent_version_id"] == vid
    assert tuple(
        d.conn.execute("SELECT phone, version_id FROM elder WHERE id = ?", (rid,)).fetchone()
    ) == (
        winner.payload["phone"],
        u,
    )
    assert [
        (h["what"], h["decided_by"], h["decision_version_id"], h["comment"])
        for h in review.history(d.conn, rid)
    ] == [
        ("concurrent_edit", BOSS, vid, "电话已核实"),
        ("undo", BOSS, u, "误操作"),
    ]
    with pytest.raises(review.ReviewError, match="已撤销"):
        review.undo(d.conn, f"c{c['id']}", by=BOSS)
    # a device edit that descends from the district's versions simply wins: no new conflict
    saved = a.update("elder", rid, elder_data(phone="13933333333"))
    fresh = export(a, tmp_path / "usb5", allow_v1=True, mkdir=True).path

    def on_top(lines: list[str]) -> list[str]:
        out = []
        for line in lines:
            data = json.loads(line)
            if data["version_id"] == saved.version_id:
                data["parent_version_id"] = u
                row = {
                    **data,
                    "payload": json.dumps(
                        data["payload"], ensure_ascii=False, sort_keys=True, separators=(",", ":")
                    ),
                    "also_parents": json.dumps(data.get("also_parents", [])),
                    "payload_schema": data.get("payload_schema", 1),
                }
                line = version_line(row)
            out.append(line)
        return out

    edited = rebuild(fresh, tmp_path / "edited.fieldbundle", lines=on_top)
    assert [r.status for r in merge_files(d.conn, [edited], allow_v1=True)] == ["merged"]
    assert tuple(
        d.conn.execute("SELECT phone, version_id FROM elder WHERE id = ?", (rid,)).fetchone()
    ) == (
        "13933333333",
        saved.version_id,
    )
    assert review.counts(d.conn)["conflicts"] == 0


def test_fields_from_either_side_and_a_mix_that_breaks_a_rule_is_refused(tmp_path: Path) -> None:
    day = kinds.today().isoformat()
    _, _, d, rid, _ = _conflicted(
        tmp_path,
        {"phone": "13822222222", "status": "deceased", "status_date": day},
        {"phone": "13811111111", "address": "海陵区新路1号"},
    )
    [c] = review.conflicts(d.conn)
    _, left, right = review.conflict_sides(d.conn, c["id"])
    dead, alive = ("a", "b") if left.payload.get("status") == "deceased" else ("b", "a")
    before = d.conn.execute("SELECT count(*) FROM versions").fetchone()[0]
    with pytest.raises(review.ReviewError) as e:  # deceased without its date
        review.decide_conflict(d.conn, c["id"], choose=alive, fields={"status": dead}, by=BOSS)
    # the rule is named by its label, never its code (issue 15)
    assert e.value.zh.endswith("状态变更日期：状态不是「在册」时须填写状态变更日期")
    assert e.value.en.endswith("Status since: is required when status is not active")
    with pytest.raises(review.ReviewError, match="没有字段 shoe_size"):
        review.decide_conflict(d.conn, c["id"], choose=alive, fields={"shoe_size": dead}, by=BOSS)
    assert d.conn.execute("SELECT count(*) FROM versions").fetchone()[0] == before
    assert review.conflicts(d.conn)[0]["status"] == "open"
    vid = review.decide_conflict(d.conn, c["id"], choose=alive, fields={"phone": dead}, by=BOSS)
    row = d.conn.execute(
        "SELECT phone, address, status, version_id FROM elder WHERE id = ?", (rid,)
    ).fetchone()
    assert tuple(row) == ("13822222222", "海陵区新路1号", "active", vid)
    zh, en = review.describe_choice("conflict", alive, fields={"phone": dead})
    assert (
        zh.startswith(f"合并：以{alive.upper()}为底，phone取自另一方")
        and "phone from the other side" in en
    )


def test_three_records_of_one_person_are_one_item_decided_once_and_undone(tmp_path: Path) -> None:
    a = _device(tmp_path)
    b = clone_laptop(a, tmp_path / "b.db", "beef")
    c = clone_laptop(a, tmp_path / "c.db", "cafe")
    person = elder_data(name="重名", id_number=make_id(date(1940, 2, 2), False, 9))
    ids = sorted(s.create("elder", person).record_id for s in (a, b, c))
    bundles = [
        export(s, tmp_path / f"u{i}", allow_v1=True, mkdir=True).path
        for i, s in enumerate((a, b, c))
    ]
    d = _district(tmp_path, a, b, c)
    merge_files(d.conn, bundles, allow_v1=True)
    [group] = review.person_groups(d.conn)
    assert len(group.items) == 3 and [r["id"] for r in group.records] == ids
    assert group.shown_key.count("*") == 11 and all("*" in r["id_number"] for r in group.records)
    assert review.counts(d.conn)["person_groups"] == 1
    written = review.decide_person(d.conn, group.group_id, ids[0], by=BOSS, comment="同一人")
    assert len(written) == 2
    rows = d.conn.execute(
        "SELECT id, status, merged_into, status_date FROM elder ORDER BY id"
    ).fetchall()
    today = kinds.today().isoformat()
    assert [tuple(r) for r in rows] == [
        (ids[0], "active", None, None),
        (ids[1], "cancelled", ids[0], today),
        (ids[2], "cancelled", ids[0], today),
    ]
    assert review.person_groups(d.conn) == []
    decided = d.conn.execute("SELECT status, decision, decided_by FROM review_items").fetchall()
    assert {tuple(r) for r in decided} == {("resolved", f"same:{ids[0]}", BOSS)}
    merge_files(
        d.conn,
        [
            export(s, tmp_path / f"f{i}", full=True, allow_v1=True, mkdir=True).path
            for i, s in enumerate((a, b, c))
        ],
        allow_v1=True,
    )
    assert review.person_groups(d.conn) == []
    assert (
        d.conn.execute("SELECT count(*) FROM elder WHERE status = 'cancelled'").fetchone()[0] == 2
    )
    assert len(review.undo(d.conn, f"r{group.items[1]}", by=BOSS)) == 2
    assert [r[0] for r in d.conn.execute("SELECT status FROM elder ORDER BY id")] == ["active"] * 3
    [again] = review.person_groups(d.conn)
    assert len(again.items) == 3
    assert review.decide_person(d.conn, again.group_id, None, by=BOSS) == []
    assert review.person_groups(d.conn) == []


def test_meal_slot_choice_is_a_tombstone_and_undo_brings_the_count_back(tmp_path: Path) -> None:
    from ..test_models import base

    a = _device(tmp_path)
    point = a.create("meal_point", base("meal_point")).record_id
    b = clone_laptop(a, tmp_path / "b.db")
    day = "2026-06-01"
    slot = {"point_id": point, "service_date": day, "meal": "lunch"}
    ma = a.create("meal_count", slot | {"dine_in": 8}).record_id
    mb = b.create("meal_count", slot | {"dine_in": 30}).record_id
    d = _district(tmp_path, a, b)
    merge_files(
        d.conn,
        [
            export(s, tmp_path / f"u{i}", allow_v1=True, mkdir=True).path
            for i, s in enumerate((a, b))
        ],
        allow_v1=True,
    )
    [item] = review.reviews(d.conn, "meal_slot")
    with pytest.raises(review.ReviewError):
        review.decide_meal_slot(d.conn, item["id"], ma, by="  ")
    vid = review.decide_meal_slot(d.conn, item["id"], ma, by=BOSS)
    assert tuple(
        d.conn.execute("SELECT deleted, version_id FROM meal_count WHERE id = ?", (mb,)).fetchone()
    ) == (1, vid)
    effective = "SELECT id, total FROM meal_count_effective WHERE service_date = ?"
    assert [tuple(r) for r in d.conn.execute(effective, (day,))] == [(ma, 8)]
    merge_files(
        d.conn,
        [
            export(s, tmp_path / f"f{i}", full=True, allow_v1=True, mkdir=True).path
            for i, s in enumerate((a, b))
        ],
        allow_v1=True,
    )
    assert [tuple(r) for r in d.conn.execute(effective, (day,))] == [(ma, 8)]
    assert review.reviews(d.conn, "meal_slot") == []
    review.undo(d.conn, f"r{item['id']}", by=BOSS)
    assert d.conn.execute("SELECT deleted FROM meal_count WHERE id = ?", (mb,)).fetchone()[0] == 0
    assert [r["id"] for r in review.reviews(d.conn, "meal_slot")] == [item["id"]]


def test_a_worker_asks_for_a_transfer_and_the_district_makes_it(tmp_path: Path) -> None:
    a = _device(tmp_path)
    other = a.conn.execute(
        "SELECT code FROM ref_community WHERE street_code = ? AND code != ? ORDER BY code",
        (STREET, COMMUNITY),
    ).fetchone()[0]
    rid = a.create("elder", elder_data()).record_id
    a.update(
        "elder",
        rid,
        elder_data(status="moved_out", status_date=kinds.today().isoformat(), moved_to=other),
    )
    d = _district(tmp_path, a)
    merge_files(d.conn, [export(a, tmp_path / "u", allow_v1=True, mkdir=True).path], allow_v1=True)
    [item] = review.reviews(d.conn, "transfer")
    assert item["record_a"] == rid and item["natural_key"].startswith(other + "|")
    with pytest.raises(review.ReviewError, match="12"):
        review.transfer_elder(d.conn, rid, "1234", by=BOSS)
    vid = review.transfer_elder(d.conn, rid, other, by=BOSS, comment="已搬家")
    row = d.conn.execute(
        "SELECT community_code, status, moved_to, status_date, version_id FROM elder"
    ).fetchone()
    assert tuple(row) == (other, "active", None, kinds.today().isoformat(), vid)
    assert review.reviews(d.conn, "transfer") == []
    review.undo(d.conn, f"r{item['id']}", by=BOSS)
    assert d.conn.execute("SELECT community_code, status FROM elder").fetchone()[:] == (
        COMMUNITY,
        "moved_out",
    )
    assert [r["record_a"] for r in review.reviews(d.conn, "transfer")] == [rid]


def test_a_decision_needs_a_name_and_the_supervisor_comes_from_district_init(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FIELDAPP_USER", raising=False)
    d = district(tmp_path / "d.db")
    with pytest.raises(review.ReviewError, match="district init --supervisor"):
        review.who(d.conn)
    with d.transaction():
        set_supervisor(d.conn, " 李科长 ")
    assert review.who(d.conn) == "李科长"
    monkeypatch.setenv("FIELDAPP_USER", "script")
    assert review.who(d.conn) == "script"
    assert (
        review.describe_choice("conflict", "b")[0]
        == "保留B：A的修改仍保存在历史中；下次回传后各设备显示B"
    )
