"""Store round trips on a real SQLite file: versions, tombstones, paging, search, due list, history."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldapp import crypto, models
from fieldapp.models import RecordInvalid
from fieldapp.sqlite import sqlite3
from fieldapp.store import NotFound, StaleEdit, Store, StoreError
from fieldapp.store.rows import _columns, write_current, write_current_many

from .conftest import COMMUNITY, STREET, elder_data, make_id, visit_data

TODAY = date.today()


def _elder(store: Store, name: str = "王建国", seq: int = 1, **over: object) -> str:
    born = over.pop("born", date(1944, 3, 12))
    assert isinstance(born, date)
    return store.create(
        "elder", elder_data(name=name, id_number=make_id(born, True, seq), **over)
    ).record_id


def test_save_then_read_gives_the_same_record(store: Store) -> None:
    data = models.validate_record(
        "elder", elder_data(phone="13812345678", hardship_tags=["dibao", "dementia"])
    )
    saved = store.create("elder", data)
    got = store.get("elder", saved.record_id)
    assert got.record.payload() == data.payload()
    assert got.version_id == saved.version_id and not got.deleted
    row = store.page("elder")[0]
    assert row["name"] == "王建国" and json.loads(row["hardship_tags"]) == ["dibao", "dementia"]


def test_every_kind_round_trips_through_the_store(store: Store) -> None:
    from .test_models import base

    elder = _elder(store)
    point = store.create("meal_point", base("meal_point")).record_id
    v1 = store.create("volunteer", base("volunteer")).record_id
    v2 = store.create("volunteer", base("volunteer") | {"name": "赵强"}).record_id
    payloads = {
        "home_visit": base("home_visit") | {"elder_id": elder},
        "assessment": base("assessment") | {"elder_id": elder},
        "retrofit": base("retrofit") | {"elder_id": elder},
        "meal_count": base("meal_count") | {"point_id": point},
        "volunteer_event": base("volunteer_event")
        | {"participants": [{"volunteer_id": v1, "hours": 1.5}, {"volunteer_id": v2, "hours": 2}]},
    }
    for kind, data in payloads.items():
        saved = store.create(kind, data)
        assert (
            store.get(kind, saved.record_id).record.payload()
            == models.validate_record(kind, data).payload()
        )
    lines = store.conn.execute(
        "SELECT code, qty, unit_price FROM retrofit_line ORDER BY line_no"
    ).fetchall()
    assert [tuple(r) for r in lines] == [("R01", 2.0, 150.5), ("R13", 1.0, 100.0)]
    ev = store.page("volunteer_event")[0]
    assert ev["total_hours"] == 3.5 and ev["total_points"] == 3.5
    mc = store.page("meal_count")[0]
    assert mc["total"] == 15 and mc["subsidized_total"] == 7
    assert store.page("assessment")[0]["level_computed"] == "mild"


def test_edit_chain_links_each_version_to_its_parent(store: Store) -> None:
    rid = _elder(store)
    v1 = store.get("elder", rid).version_id
    store.update("elder", rid, elder_data(phone="13812345678"))
    v2 = store.get("elder", rid).version_id
    store.update("elder", rid, elder_data(phone="13812340000"), base_version_id=v2)
    hist = store.history(rid)
    assert [h.parent_version_id for h in hist] == [None, v1, v2]
    assert [h.payload["phone"] for h in hist] == [None, "13812345678", "13812340000"]
    assert [h.hlc for h in hist] == sorted(h.hlc for h in hist)
    assert len({h.version_id for h in hist}) == 3
    for h in hist:
        assert h.content_hash == models.content_hash(h.deleted, h.payload)


def test_delete_writes_a_tombstone_and_keeps_every_row(store: Store) -> None:
    rid = _elder(store)
    vid = store.create("home_visit", visit_data(rid)).record_id
    store.delete("home_visit", vid)
    assert store.count("home_visit") == 0
    assert store.count("home_visit", include_deleted=True) == 1
    hist = store.history(vid)
    assert [h.deleted for h in hist] == [False, True]
    assert hist[1].payload == hist[0].payload and hist[1].parent_version_id == hist[0].version_id
    assert store.get("home_visit", vid).deleted
    with pytest.raises(StoreError):
        store.delete("home_visit", vid)
    with pytest.raises(StoreError):
        store.update("home_visit", vid, visit_data(rid))


def test_versions_are_append_only(store: Store) -> None:
    _elder(store)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.conn.execute("UPDATE versions SET deleted = 1")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.conn.execute("DELETE FROM versions")


def test_stale_edit_is_refused_and_changes_nothing(store: Store) -> None:
    rid = _elder(store)
    opened = store.get("elder", rid).version_id
    store.update("elder", rid, elder_data(phone="13812345678"))
    with pytest.raises(StaleEdit):
        store.update("elder", rid, elder_data(phone="13900000000"), base_version_id=opened)
    assert store.get("elder", rid).record.payload()["phone"] == "13812345678"
    assert len(store.history(rid)) == 2


def test_invalid_record_saves_nothing(store: Store) -> None:
    with pytest.raises(RecordInvalid):
        store.create("elder", elder_data(id_number="32120219440312003Y"))
    assert store.count("elder", include_deleted=True) == 0
    assert store.conn.execute("SELECT count(*) FROM versions").fetchone()[0] == 0


def test_references_checked_against_the_database(store: Store) -> None:
    from .test_models import base

    with pytest.raises(StoreError, match="老人不存在"):
        store.create("home_visit", visit_data("0193a1b2-8000-7000-8000-000000000009"))
    with pytest.raises(StoreError, match="社区代码"):
        store.create("elder", elder_data(community_code="321202001999"))
    point = store.create("meal_point", base("meal_point")).record_id
    store.create("meal_count", base("meal_count") | {"point_id": point})
    with pytest.raises(StoreError, match="已有记录") as exc:
        store.create("meal_count", base("meal_count") | {"point_id": point, "dine_in": 9})
    assert exc.value.field == "meal"
    assert store.count("meal_count") == 1
    with pytest.raises(StoreError, match="志愿者不存在"):
        store.create("volunteer_event", base("volunteer_event"))


def test_failed_save_in_a_batch_rolls_back_the_whole_batch(store: Store) -> None:
    with pytest.raises(RecordInvalid), store.transaction():
        _elder(store, "甲", 1)
        store.create("elder", elder_data(phone="1"))
    assert store.count("elder", include_deleted=True) == 0
    rid = _elder(store, "乙", 2)  # the clock and the store still work after a rollback
    assert store.get("elder", rid).record.payload()["name"] == "乙"


def test_hlc_is_persisted_and_never_goes_back_with_the_wall_clock(db_path: Path) -> None:
    now = [1_800_000_000_000]
    store = Store.open(db_path, now=lambda: now[0])
    store.setup_device(street_code=STREET, community_code=COMMUNITY, worker="周红")
    a = store.create("elder", elder_data())
    now[0] -= 3_600_000  # the laptop's clock is set back an hour
    store.close()
    reopened = Store.open(db_path, now=lambda: now[0])
    b = reopened.update("elder", a.record_id, elder_data(phone="13812345678"))
    assert b.hlc > a.hlc
    assert reopened.device() is not None and reopened.device().hlc_last == b.hlc  # type: ignore[union-attr]
    reopened.close()


def test_list_pages_never_return_more_than_asked(store: Store) -> None:
    with store.transaction():
        for i in range(30):
            _elder(store, f"老人{i:02d}", i)
    page1 = store.page("elder", order_by=["name"], limit=10)
    page2 = store.page("elder", order_by=["name"], limit=10, offset=10)
    assert [r["name"] for r in page1] == [f"老人{i:02d}" for i in range(10)]
    assert [r["name"] for r in page2] == [f"老人{i:02d}" for i in range(10, 20)]
    assert store.count("elder") == 30
    assert all("id_number" not in r and r["id_masked"].count("*") == 11 for r in page1)
    with pytest.raises(StoreError):
        store.page("elder", order_by=["name; DROP TABLE elder"])
    with pytest.raises(StoreError):
        store.page("elder", where={"1=1 OR name": "x"})


def test_search_by_name_pinyin_initials_and_id_tail(store: Store) -> None:
    zsf = _elder(store, "张三丰", 1)
    _elder(store, "张三", 2)
    shan = _elder(store, "单田芳", 3)
    _elder(store, "李四", 4)
    by_initials = [r["id"] for r in store.search_elders("zsf")]
    assert by_initials == [zsf]
    assert {r["name"] for r in store.search_elders("ZS")} == {"张三丰", "张三"}
    assert [r["id"] for r in store.search_elders("stf")] == [shan]  # 单 read as a surname: shàn
    assert [r["name"] for r in store.search_elders("三丰")] == ["张三丰"]
    tail = store.get("elder", zsf).record.payload()["id_number"][-4:]
    assert [r["id"] for r in store.search_elders(tail.lower())] == [zsf]
    assert store.search_elders("王五") == []
    assert all("id_number" not in r for r in store.search_elders("张"))


def test_initials_list_every_reading_and_load_no_phrase_dictionary(store: Store) -> None:
    """Issue 20 (the merge's memory): a given name's characters have all their readings, as the
    surname's had, so 张长春 is found by zcc (cháng) and by zzc (zhǎng); pypinyin's dictionary of
    phrases (~50 MB) is never loaded, nor pypinyin itself (its table of characters, ~11 MB: the
    package keeps the initials, `fieldapp.initials`). Before, 长春 was read by the phrase (zcc only) and 长林 by
    the character (zzl only)."""
    chun = _elder(store, "张长春", 1)
    lin = _elder(store, "张长林", 2)
    assert [r["id"] for r in store.search_elders("zcc")] == [chun]
    assert [r["id"] for r in store.search_elders("zzc")] == [chun]
    assert [r["id"] for r in store.search_elders("zcl")] == [lin]
    assert [r["id"] for r in store.search_elders("zzl")] == [lin]
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from fieldapp.store.rows import _initials;"
            " print(_initials('欧阳长乐'), 'pypinyin' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("PYPINYIN_")},
    )
    assert out.stdout.split() == ["oyzl", "oyzy", "oycl", "oycy", "False"]


def test_the_initials_table_is_pypinyins() -> None:
    """`initials.txt` is what `python -m fieldapp.initials` writes from the pinned pypinyin, and
    every character reads back with pypinyin's initials, in its order; anything else has none."""
    from fieldapp import initials

    table = initials.from_pypinyin()
    assert len(table) > 40_000
    assert initials.FILE.read_text(encoding="utf-8") == initials.text_of(table)
    assert all(initials.of(ch) == heads for ch, heads in table.items())
    assert initials.of("长") == ("z", "c") and initials.of("〇")[0] == "l"
    for other in ("A", "·", " ", "", "王王", "\U0010ffff", "\U00032400"):
        assert initials.of(other) == ()


def test_initials_stop_growing_past_their_limit() -> None:
    from fieldapp.store.rows import MAX_INITIALS, _initials

    many = _initials("解长重乐行乐重长")  # 3·2·3·2·3·… readings: far past the limit
    alternatives = many.split()
    assert len(alternatives) <= MAX_INITIALS and len(set(alternatives)) == len(alternatives)
    assert all(len(a) == 8 for a in alternatives)  # every character still has an initial
    # what is not a Chinese character has no initial: 阿卜杜拉·买买提, a Latin letter, a blank
    assert _initials("阿卜杜拉·买买提") == _initials("阿卜杜拉买买提") != ""
    assert _initials("A王 ") == _initials("王") and _initials("·") == _initials("") == ""


def test_due_list_by_risk_then_oldest_and_visit_removes_elder(store: Store) -> None:
    long_ago = (TODAY - timedelta(days=200)).isoformat()
    high = _elder(store, "高风险", 1, visit_risk="high")
    general = _elder(store, "一般", 2, visit_risk="general")
    fresh = _elder(store, "刚探访", 3, visit_risk="general")
    store.create("home_visit", visit_data(high, visit_date=(TODAY - timedelta(days=8)).isoformat()))
    store.create("home_visit", visit_data(general, visit_date=long_ago))
    store.create(
        "home_visit", visit_data(fresh, visit_date=(TODAY - timedelta(days=10)).isoformat())
    )
    phone_only = _elder(store, "只打电话", 4, visit_risk="priority")
    store.create(
        "home_visit",
        visit_data(
            phone_only, visit_date=(TODAY - timedelta(days=2)).isoformat(), contact_mode="phone"
        ),
    )
    due = [d for d in store.due_list(TODAY) if d.reason == "visit"]
    assert [d.name for d in due] == ["高风险", "只打电话", "一般"]
    assert due[0].days_overdue == 1 and due[0].last_date == (TODAY - timedelta(days=8)).isoformat()
    assert due[2].days_overdue == 200 - 90
    store.create("home_visit", visit_data(high, visit_date=TODAY.isoformat()))
    assert "高风险" not in [d.name for d in store.due_list(TODAY) if d.reason == "visit"]


def test_due_list_asks_assessment_of_80_plus_and_when_next_due(store: Store) -> None:
    old = _elder(store, "八十五", 1, born=date(TODAY.year - 85, 1, 1))
    young = _elder(store, "六十五", 2, born=date(TODAY.year - 65, 1, 1))
    assessed = _elder(store, "已评估", 3, born=date(TODAY.year - 90, 1, 1))
    from .test_models import base

    store.create(
        "assessment",
        base("assessment")
        | {"elder_id": assessed, "assess_date": (TODAY - timedelta(days=30)).isoformat()},
    )
    store.create(
        "assessment",
        base("assessment")
        | {"elder_id": young, "assess_date": (TODAY - timedelta(days=400)).isoformat()},
    )
    due = {
        d.elder_id: (d.name, d.last_date, d.due_date, d.days_overdue)
        for d in store.due_list(TODAY)
        if d.reason == "assessment"
    }
    last = TODAY - timedelta(days=400)
    # rules.json: the next assessment 12 months later (29 February → 28 February)
    next_due = last.replace(year=last.year + 1, day=min(last.day, 28 if last.month == 2 else 31))
    assert due == {
        # the 85-year-old has never been assessed: due today
        old: ("八十五", None, TODAY.isoformat(), 0),
        # the 65-year-old's assessment asked for the next one a year later: overdue since then
        young: ("六十五", last.isoformat(), next_due.isoformat(), (TODAY - next_due).days),
    }


def test_moved_out_and_deleted_elders_leave_the_due_list(store: Store) -> None:
    a = _elder(store, "迁出", 1)
    b = _elder(store, "删除", 2)
    store.update(
        "elder",
        a,
        elder_data(id_number=make_id(date(1944, 3, 12), True, 1), name="迁出", status="moved_out"),
    )
    store.delete("elder", b)
    assert store.due_list(TODAY) == []


def test_get_unknown_record_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        store.get("elder", "0193a1b2-8000-7000-8000-000000000009")
    with pytest.raises(StoreError):
        store.get("pets", "x")


def test_saving_before_setup_is_refused(db_path: Path) -> None:
    with Store.open(db_path) as s, pytest.raises(StoreError, match="fieldapp init"):
        s.create("elder", elder_data())


def test_setup_checks_street_community_and_worker(db_path: Path) -> None:
    with Store.open(db_path) as s:
        with pytest.raises(StoreError, match="街道代码"):
            s.setup_device(street_code="321202999", community_code=COMMUNITY, worker="周红")
        with pytest.raises(StoreError, match="社区代码「321202999999」不存在"):
            s.setup_device(street_code=STREET, community_code="321202999999", worker="周红")
        with pytest.raises(StoreError, match="不属于"):
            s.setup_device(street_code="321202002", community_code=COMMUNITY, worker="周红")
        with pytest.raises(StoreError, match="姓名"):
            s.setup_device(street_code=STREET, community_code=COMMUNITY, worker=" ")
        dev = s.setup_device(street_code=STREET, community_code=COMMUNITY, worker="周红")
        assert dev.community_code == COMMUNITY and len(dev.device_id) == 36
        with pytest.raises(StoreError, match="已设置"):
            s.setup_device(street_code=STREET, community_code=COMMUNITY, worker="周红")


def test_district_enrols_and_revokes_a_device_once(tmp_path: Path) -> None:
    with Store.open(tmp_path / "device.db") as device, Store.open(tmp_path / "d.db") as district:
        dev = device.setup_device(street_code=STREET, community_code=COMMUNITY, worker="周红")
        district.setup_district()
        public = device.keys()["sign_public"]
        with pytest.raises(StoreError, match="只有设备数据库需要区级公钥"):
            district.install_district_key(crypto.unb64(public), "X")
        fp = district.enroll(dev.device_id, public, label=dev.label, by="区")
        assert fp == crypto.fingerprint(crypto.unb64(public))
        assert district.enroll(dev.device_id, public, label=dev.label, by="区") == fp
        other = crypto.new_signing_key()[1]
        with pytest.raises(StoreError, match="已用另一把密钥登记"):
            district.enroll(dev.device_id, other, label=dev.label, by="区")
        district.revoke(dev.device_id, by="区")
        with pytest.raises(StoreError, match="没有该已登记且未撤销的设备"):
            district.revoke(dev.device_id, by="区")
        with pytest.raises(StoreError, match="已被撤销"):
            district.enroll(dev.device_id, public, label=dev.label, by="区")
        [row] = district.enrolled()
        assert (row["device_id"], row["fingerprint"], row["revoked_by"]) == (
            dev.device_id,
            fp,
            "区",
        )


def test_store_imports_neither_sync_nor_pydantic() -> None:
    """The keys sit below the store (no hidden cycle through fieldapp.sync), and the models load
    on the first save, not at start-up."""
    code = (
        "import sys, fieldapp.store\n"
        "print(sorted(m for m in sys.modules if m.startswith(('fieldapp.sync', 'pydantic'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------ payload schema 2 (SPEC §3 v2)


def test_child_records_get_their_community_from_the_elder_or_point(store: Store) -> None:
    from .test_models import base

    elder = _elder(store)
    saved = store.create("home_visit", visit_data(elder))
    got = store.get("home_visit", saved.record_id).record
    assert got.payload()["community_code"] == COMMUNITY and got.payload_schema == 2
    row = store.conn.execute(
        "SELECT payload_schema, saved_at, also_parents FROM versions WHERE version_id = ?",
        (saved.version_id,),
    ).fetchone()
    assert row[0] == 2 and row[1] is not None and row[2] == "[]"
    assert store.page("home_visit")[0]["community_code"] == COMMUNITY
    point = store.create("meal_point", base("meal_point")).record_id
    mc = store.create(
        "meal_count", base("meal_count") | {"point_id": point, "community_code": None}
    )
    assert store.get("meal_count", mc.record_id).record.payload()["community_code"] == COMMUNITY


def test_a_community_code_different_from_the_elders_is_refused(store: Store) -> None:
    elder = _elder(store)
    with pytest.raises(StoreError) as e:
        store.create("home_visit", visit_data(elder, community_code="321202001902"))
    assert e.value.field == "community_code"
    assert "与老人所在社区「321202001901」不一致" in e.value.zh
    assert "differs from the elder's community 321202001901" in e.value.en
    assert store.count("home_visit") == 0


def test_an_elder_under_60_needs_the_confirmation(store: Store) -> None:
    born = date(TODAY.year - 30, 1, 1)
    with pytest.raises(StoreError) as e:
        _elder(store, born=born)
    assert e.value.field == "under_60_confirmed"
    assert "未满60岁" in e.value.zh and "under 60" in e.value.en
    assert store.count("elder") == 0
    rid = _elder(store, born=born, under_60_confirmed=True)
    assert store.get("elder", rid).record.payload()["under_60_confirmed"] is True


def test_a_meal_slot_above_capacity_needs_the_confirmation(store: Store) -> None:
    from .test_models import base

    point = store.create("meal_point", base("meal_point")).record_id  # capacity_daily 50
    data = base("meal_count") | {"point_id": point, "dine_in": 60, "delivery": 0, "pickup": 0}
    data.pop("community_code")
    with pytest.raises(StoreError) as e:
        store.create("meal_count", data | {"subsidized": {}})
    assert e.value.field == "over_capacity_confirmed"
    assert "超过助餐点日供餐能力 50 人次" in e.value.zh and "capacity 50" in e.value.en
    ok = store.create("meal_count", data | {"subsidized": {}, "over_capacity_confirmed": True})
    assert store.page("meal_count")[0]["total"] == 60 and ok.kind == "meal_count"
    with pytest.raises(RecordInvalid) as e2:
        store.create(
            "meal_count",
            data | {"meal": "dinner", "dine_in": 5000, "over_capacity_confirmed": True},
        )
    assert e2.value.problems[0].field == "dine_in"


def test_marking_moved_out_defaults_the_status_date_to_today(store: Store) -> None:
    rid = _elder(store)
    with pytest.raises(RecordInvalid) as e:
        store.create(
            "elder", elder_data(id_number=make_id(date(1950, 1, 1), True, 9), status="deceased")
        )
    assert e.value.problems[0].field == "status_date"
    store.mark_status(rid, "moved_out", moved_to="321202001902")
    row = store.page("elder", include_deleted=True)[0]
    assert (row["status"], row["status_date"], row["moved_to"]) == (
        "moved_out",
        TODAY.isoformat(),
        "321202001902",
    )
    store.mark_status(rid, "deceased", status_date="2025-02-03")
    assert store.page("elder")[0]["status_date"] == "2025-02-03"


def test_district_version_writes_a_schema_2_version_of_the_district(tmp_path: Path) -> None:
    from fieldapp.store import district_version

    d = Store.open(tmp_path / "district.db")
    d.setup_district()
    rid, parent, other = (
        "0193a1b2-8000-7000-8000-00000000000a",
        "0193a1b2-8000-7000-8000-00000000000b",
        "0193a1b2-8000-7000-8000-00000000000c",
    )
    data = models.validate_record("elder", elder_data()).payload()
    with d.transaction():
        vid = district_version(d.conn, "elder", rid, data, parent=parent, also_parents=[other])
    row = d.conn.execute("SELECT * FROM versions WHERE version_id = ?", (vid,)).fetchone()
    dev = d.device()
    assert dev is not None
    assert (row["device_id"], row["parent_version_id"], json.loads(row["also_parents"])) == (
        dev.device_id,
        parent,
        [other],
    )
    assert row["payload_schema"] == 2 and row["hlc"] == dev.hlc_last
    assert row["content_hash"] == models.content_hash(False, json.loads(row["payload"]))
    with pytest.raises(RecordInvalid) as e, d.transaction():
        district_version(d.conn, "elder", rid, data, parent=parent, also_parents=[parent])
    assert e.value.problems[0].field == "also_parents"
    d.close()


# ------------------------------------------------------------ undo and the readable history


def test_restore_undoes_a_delete_with_a_new_version_and_keeps_the_tombstone(store: Store) -> None:
    eid = _elder(store)
    vid = store.create("home_visit", visit_data(eid)).record_id
    store.delete("home_visit", vid)
    assert store.count("home_visit") == 0
    saved = store.restore("home_visit", vid)
    assert store.count("home_visit") == 1
    assert store.get("home_visit", vid).version_id == saved.version_id
    assert [h.deleted for h in store.history(vid)] == [False, True, False]
    with pytest.raises(StoreError, match="未被删除"):
        store.restore("home_visit", vid)


def test_revert_brings_back_a_chosen_version_as_a_new_one(store: Store) -> None:
    from fieldapp.store.records import changes

    eid = _elder(store, address="海陵区东进路1号")
    first = store.history(eid)[0].version_id
    cur = store.get("elder", eid)
    store.update(
        "elder",
        eid,
        cur.record.payload() | {"address": "海陵区东进路9号", "phone": "13812345678"},
        base_version_id=cur.version_id,
    )
    store.revert("elder", eid, first)
    got = store.get("elder", eid).record.payload()
    assert got["address"] == "海陵区东进路1号" and got["phone"] is None
    steps = changes(store.history(eid))
    assert [c.action for c in steps] == ["created", "edited", "edited"]
    assert {(f.field, f.old, f.new) for f in steps[1].fields} == {
        ("address", "海陵区东进路1号", "海陵区东进路9号"),
        ("phone", None, "13812345678"),
    }
    assert steps[2].fields[0].new == "海陵区东进路1号" and steps[2].local_time
    with pytest.raises(NotFound):
        store.revert("elder", eid, "no-such-version")


def test_changes_name_delete_and_restore(store: Store) -> None:
    from fieldapp.store.records import changes

    eid = _elder(store)
    store.delete("elder", eid)
    store.restore("elder", eid)
    assert [c.action for c in changes(store.history(eid))] == ["created", "deleted", "restored"]


def test_list_filter_narrows_by_date_range_and_elder_or_worker(store: Store) -> None:
    from fieldapp.store.records import ListFilter

    a = _elder(store, name="王建国", seq=1)
    b = _elder(store, name="李秀英", seq=2)
    for eid, day, worker in ((a, 3, "周红"), (a, 10, "陈明"), (b, 20, "周红")):
        store.create(
            "home_visit",
            visit_data(
                eid,
                visit_date=(TODAY.replace(day=1) - timedelta(days=40)).replace(day=day).isoformat(),
                worker=worker,
            ),
        )
    month = (TODAY.replace(day=1) - timedelta(days=40)).strftime("%Y-%m")
    between = ListFilter("visit_date", f"{month}-05", f"{month}-25")
    assert store.count("home_visit", narrow=between) == 2
    by_worker = ListFilter(text="周红", text_fields=("worker",))
    assert store.count("home_visit", narrow=by_worker) == 2
    by_elder = ListFilter(text="李秀", text_fields=("worker",))
    rows = store.page("home_visit", narrow=by_elder)
    assert [r["elder_id"] for r in rows] == [b]
    with pytest.raises(StoreError):
        store.count("home_visit", narrow=ListFilter("nope", "2026-01-01"))


def test_due_page_pages_through_the_whole_list(store: Store) -> None:
    for i in range(5):
        _elder(store, name=f"老人{i}", seq=i + 1)
    first, total = store.due_page(TODAY, limit=3)
    rest, total2 = store.due_page(TODAY, limit=3, offset=3)
    assert total == total2 and total >= 5
    assert len(first) == 3 and len(rest) == min(3, total - 3)
    assert not {(d.elder_id, d.reason) for d in first} & {(d.elder_id, d.reason) for d in rest}


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)


_odd_text = st.sampled_from(["\ud800", "a\x00\x1f\x7f", "\u2028\u2029", "😀é", '"\\/'])


@given(
    st.dictionaries(
        st.text(max_size=6),
        _json | st.lists(st.text(max_size=8) | _odd_text, max_size=4),
        max_size=8,
    )
)
def test_a_payload_becomes_columns_lists_as_canonical_json_booleans_as_integers(
    payload: dict[str, object],
) -> None:
    """A current row's columns (store/rows.py `_columns`): each field in its order; a list or an
    object as canonical JSON (sorted keys, no spaces, not ASCII-escaped), a boolean as 0 or 1,
    anything else as it is (the merge's writer does this for every version, issue 20)."""
    columns = _columns(payload)
    assert list(columns) == list(payload)
    for k, v in payload.items():
        got = columns[k]
        if isinstance(v, bool):
            assert type(got) is int and got == int(v)
        elif isinstance(v, list | dict):
            assert got == json.dumps(v, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        else:
            assert got is v


@pytest.mark.parametrize("first", [1, 2])
def test_records_of_both_payload_schemas_written_together_are_written_as_one_by_one(
    store: Store, first: int
) -> None:
    """write_current_many (the merge's and the return import's bulk path) with a payload schema 1
    elder and schema 2 ones, in either order: each current row is what write_current makes of it
    alone (the schema 2 fields kept, a schema 1 record's left to their defaults)."""
    conn = store.conn
    one = models.validate_record("elder", elder_data(), schema=1)
    two = models.validate_record(
        "elder",
        elder_data(name="李四", status="deceased", status_date="2026-01-01"),
        schema=2,
    )
    three = models.validate_record("elder", elder_data(name="张三", under_60_confirmed=True))
    meta = {"hlc": "1766911620001-00000", "device_id": "d", "deleted": 0}
    items = [
        (f"0193a1b2-7c4d-7e8f-9a0b-00000000000{i}", {**meta, "version_id": f"v{i}"}, r)
        for i, r in enumerate((one, two, three) if first == 1 else (two, one, three))
    ]
    ids = [rid for rid, _, _ in items]
    marks = ", ".join("?" * len(ids))

    def rows() -> list[tuple[object, ...]]:
        sql = f"SELECT * FROM elder WHERE id IN ({marks}) ORDER BY id"
        return [tuple(r) for r in conn.execute(sql, ids)]

    for rid, m, record in items:
        write_current(conn, "elder", rid, m, record, record.payload())
    alone = rows()
    conn.execute(f"DELETE FROM elder WHERE id IN ({marks})", ids)
    write_current_many(conn, "elder", items)
    assert rows() == alone
    by_name = {
        r["name"]: r for r in conn.execute(f"SELECT * FROM elder WHERE id IN ({marks})", ids)
    }
    assert by_name["李四"]["status_date"] == "2026-01-01"
    assert by_name["张三"]["under_60_confirmed"] == 1
