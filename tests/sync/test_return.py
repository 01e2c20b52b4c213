"""Return bundles (SPEC §5b): the district sends each community's records back to its laptops."""

from __future__ import annotations

import json
import re
import time
import zipfile
from datetime import date
from pathlib import Path

import pytest

from fieldapp import crypto, review
from fieldapp.store import Store, StoreError
from fieldapp.sync.export import export
from fieldapp.sync.office import import_any
from fieldapp.sync.return_read import import_return
from fieldapp.sync.return_write import applied_by

from ..conftest import COMMUNITY, elder_data, make_id, visit_data
from .helpers import dump_hash
from .return_helpers import OTHER, district_view, net, rows


def test_three_way_round_trip(tmp_path: Path) -> None:
    n = net(tmp_path)
    a, b, c = n.laptop("a"), n.laptop("b"), n.laptop("c", OTHER)
    ea = a.create("elder", elder_data(name="甲")).record_id
    a.create("home_visit", visit_data(ea))
    eb = b.create(
        "elder",
        elder_data(name="乙", id_number=make_id(date(1940, 1, 1), True)),
    ).record_id
    c.create("elder", elder_data(name="丙", community_code=OTHER))
    bundles = [n.export(x) for x in "abc"]
    assert n.merge(*[p for p in bundles if p]) == ["merged"] * 3
    ret = n.returns()
    assert ret[COMMUNITY].devices == 2 and ret[OTHER].devices == 1
    assert ret["321202001001"].path is None  # no laptop enrolled there: nothing written
    for name, code in (("a", COMMUNITY), ("b", COMMUNITY), ("c", OTHER)):
        path = ret[code].path
        assert path is not None
        r = n.import_(name, path)
        assert r.status == "applied", r.reason
    assert r.versions_new == 0  # c only got back its own version
    assert n.export("a") is None  # what a laptop received is never exported again by it
    want = district_view(n, COMMUNITY)
    assert [e[0] for e in want["elder"]] == sorted([ea, eb])
    assert len(want["home_visit"]) == 1
    assert rows(a.conn) == want
    assert rows(b.conn) == want
    a_id = a.device().device_id  # type: ignore[union-attr]
    assert b.recorded_by()[a_id] == "a" and a_id not in a.recorded_by()  # who recorded it
    assert [e[0] for e in rows(c.conn)["elder"]] != [ea]
    assert {ea, eb}.isdisjoint(e[0] for e in rows(c.conn)["elder"])
    # a second round trip changes nothing
    again = n.returns(COMMUNITY)[COMMUNITY]
    assert again.seq == 2 and again.path is not None
    assert n.import_("a", again.path).versions_new == 0
    assert rows(a.conn) == want
    assert n.import_("a", ret[COMMUNITY].path).status == "already"  # type: ignore[arg-type]


def _shared_elder(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Laptops a and b of one community both holding a's elder (through a first return)."""
    n = net(tmp_path)
    a, b = n.laptop("a"), n.laptop("b")
    rid = a.create("elder", elder_data(phone="13800000000")).record_id
    first = n.export("a")
    assert first is not None and n.merge(first) == ["merged"]
    path = n.returns(COMMUNITY)[COMMUNITY].path
    assert path is not None
    assert n.import_("a", path).ok and n.import_("b", path).status == "applied"
    return n, a, b, rid


def test_a_conflict_resolved_at_the_district_closes_on_every_laptop(tmp_path: Path) -> None:
    n, a, b, rid = _shared_elder(tmp_path)
    a.update("elder", rid, elder_data(phone="13911111111"))
    b.update("elder", rid, elder_data(phone="13922222222"))
    pa, pb = n.export("a"), n.export("b")
    assert pa and pb and n.merge(pa, pb) == ["merged", "merged"]
    (conflict,) = n.district.conn.execute(
        "SELECT id, version_a, version_b FROM conflicts WHERE status = 'open'"
    ).fetchall()
    # each laptop's bundle said it had applied return bundle 1: the district knows
    ids = [s.device().device_id for s in (a, b)]  # type: ignore[union-attr]
    assert applied_by(n.district.conn, COMMUNITY) == dict.fromkeys(ids, 1)
    ret = n.returns(COMMUNITY)[COMMUNITY].path
    assert ret is not None
    for name in "ab":  # before the decision both laptops see the same open conflict
        assert n.import_(name, ret).status == "applied"
        (got,) = (
            n.laptops[name]
            .conn.execute("SELECT version_a, version_b FROM conflicts WHERE status = 'open'")
            .fetchall()
        )
        assert tuple(got) == (conflict[1], conflict[2])
    b_version = b.conn.execute("SELECT version_id FROM elder WHERE id = ?", (rid,)).fetchone()[0]
    side = "a" if conflict[1] == b_version else "b"
    vid = review.decide_conflict(n.district.conn, conflict[0], choose=side, by="王主任")
    ret2 = n.returns(COMMUNITY)[COMMUNITY].path
    assert ret2 is not None
    for name in "ab":
        s = n.laptops[name]
        assert n.import_(name, ret2).status == "applied"
        assert s.conn.execute(
            "SELECT version_id, phone FROM elder WHERE id = ?", (rid,)
        ).fetchone()[:] == (vid, "13922222222")
        assert (
            s.conn.execute("SELECT count(*) FROM conflicts WHERE status = 'open'").fetchone()[0]
            == 0
        )
    assert rows(a.conn) == rows(b.conn) == district_view(n, COMMUNITY)
    later = a.update("elder", rid, elder_data(phone="13933333333"))
    parent = a.conn.execute(
        "SELECT parent_version_id FROM versions WHERE version_id = ?", (later.version_id,)
    ).fetchone()[0]
    assert parent == vid


def test_a_transferred_elder_leaves_read_only_and_arrives_with_its_history(tmp_path: Path) -> None:
    n, a, b, rid = _shared_elder(tmp_path)
    c = n.laptop("c", OTHER)
    a.create("home_visit", visit_data(rid))
    pa = n.export("a")
    assert pa and n.merge(pa) == ["merged"]
    review.transfer_elder(n.district.conn, rid, OTHER, by="王主任")
    ret = n.returns(COMMUNITY, OTHER)
    for name, code in (("a", COMMUNITY), ("b", COMMUNITY), ("c", OTHER)):
        path = ret[code].path
        assert path is not None and n.import_(name, path).status == "applied"
    for s in (a, b):
        assert (
            s.conn.execute("SELECT community_code FROM elder WHERE id = ?", (rid,)).fetchone()[0]
            == OTHER
        )
        assert s.moved_by_district(rid) == OTHER  # the elder page says so
        with pytest.raises(StoreError, match="迁往社区 321202001902"):
            s.update("elder", rid, elder_data(phone="13944444444", community_code=OTHER))
    assert c.moved_by_district(rid) is None
    held = c.conn.execute("SELECT count(*) FROM versions WHERE record_id = ?", (rid,)).fetchone()[0]
    assert held == 2  # the elder's creation and the transfer
    assert c.conn.execute("SELECT count(*) FROM home_visit").fetchone()[0] == 1  # its visit too
    assert rows(c.conn) == district_view(n, OTHER)
    c.update("elder", rid, elder_data(phone="13955555555", community_code=OTHER))  # c may edit it


def test_restore_a_replacement_laptop_from_the_return_bundle(tmp_path: Path) -> None:
    n, a, b, rid = _shared_elder(tmp_path)
    a.create("home_visit", visit_data(rid))
    pa = n.export("a")
    assert pa and n.merge(pa) == ["merged"]
    old = a.device()
    assert old is not None
    n.district.revoke(old.device_id, by="王主任")
    fresh = n.laptop("a2")
    path = n.returns(COMMUNITY)[COMMUNITY].path
    assert path is not None
    assert n.import_("a2", path).status == "applied"
    assert rows(fresh.conn) == district_view(n, COMMUNITY)
    assert len(rows(fresh.conn)["home_visit"]) == 1
    assert n.import_("a", path).status == "refused"  # the revoked laptop is no longer a reader
    revoked = fresh.conn.execute(
        "SELECT revoked_at IS NOT NULL FROM enrolled_devices WHERE device_id = ?", (old.device_id,)
    ).fetchone()
    assert tuple(revoked) == (1,)


def _refused(s: Store, path: Path, words: str) -> None:
    """The import is refused with `words` in its reason and the laptop's database is unchanged."""
    s.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db = Path(s.conn.execute("PRAGMA database_list").fetchone()[2])
    before = dump_hash(db)
    r = import_return(s, path)
    assert r.status == "refused" and words in (r.reason or ""), r.reason
    s.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert dump_hash(db) == before


def test_bad_return_bundles_are_refused_and_change_nothing(tmp_path: Path) -> None:
    n, a, b, rid = _shared_elder(tmp_path)
    c = n.laptop("c", OTHER)
    c.create("elder", elder_data(community_code=OTHER))
    pc = n.export("c")
    assert pc and n.merge(pc) == ["merged"]
    ret = n.returns(COMMUNITY, OTHER)
    mine, theirs = ret[COMMUNITY].path, ret[OTHER].path
    assert mine is not None and theirs is not None
    # another community's return bundle
    _refused(a, theirs, "这是社区 321202001902 的回传包")
    # one sealed to other laptops: a laptop of the community the district has not enrolled
    stranger = n.laptop("x", enrol=False)
    _refused(stranger, mine, "不是加密给本机")
    # one signed by another district
    other = net(tmp_path / "other")
    other.district.enroll(
        a.device().device_id,
        a.keys()["sign_public"],
        label="a",
        by="测试",
        communities=[COMMUNITY],  # type: ignore[union-attr]
    )
    forged = other.returns(COMMUNITY)[COMMUNITY].path
    assert forged is not None
    _refused(a, forged, "签名与本机安装的区级签名公钥不符")
    # a laptop with the old district public key file (no signing key) is told to install the new one
    old = n.laptop("old")
    old.install_district_key(*crypto.load_district_public(n.public_file))
    fresh = n.returns(COMMUNITY)[COMMUNITY].path
    assert fresh is not None
    _refused(old, fresh, "请向区里索取新的区级公钥文件")
    # a bit flipped in the sealed versions; the manifest edited after signing
    flipped = tmp_path / "flipped.fieldbundle"
    with zipfile.ZipFile(mine) as zf, zipfile.ZipFile(flipped, "w") as out:
        for info in zf.infolist():
            data = bytearray(zf.read(info))
            if info.filename == "versions.sealed":
                data[len(data) // 2] ^= 1
            out.writestr(info, bytes(data))
    _refused(b, flipped, "versions.sealed 与签名清单不符")
    edited = tmp_path / "edited.fieldbundle"
    with zipfile.ZipFile(mine) as zf, zipfile.ZipFile(edited, "w") as out:
        for info in zf.infolist():
            data = zf.read(info)
            if info.filename == "manifest.json":
                data = re.sub(rb'"seq": \d+', b'"seq": 99', data)
                assert data != zf.read(info)
            out.writestr(info, data)
    _refused(b, edited, "签名与本机安装的区级签名公钥不符")
    # signed by the district, but its reference data names a column no table has
    bad_ref = tmp_path / "bad-ref.fieldbundle"
    with zipfile.ZipFile(mine) as zf, zipfile.ZipFile(bad_ref, "w") as out:
        m = json.loads(zf.read("manifest.json"))
        m["refdata"]["stamp"] = "2999-01-01T00:00:00+08:00"
        m["refdata"]["sha256"] = "0" * 64
        m["refdata"]["communities"][0]["evil); DROP TABLE elder; --"] = 1
        body = json.dumps(m).encode()
        out.writestr("manifest.json", body)
        out.writestr("manifest.sig", crypto.b64(n.sign.sign(body).signature))
        out.writestr("versions.sealed", zf.read("versions.sealed"))
    _refused(b, bad_ref, "参考数据的列名无效")
    # a laptop's own bundle is not a return bundle; nor is a file that is not a ZIP
    pa = export(a, tmp_path / "usb" / "again", full=True, mkdir=True).path
    _refused(b, pa, "这不是区里的回传包")
    junk = tmp_path / "junk.fieldbundle"
    junk.write_bytes(b"PK\x03\x04 not really")
    _refused(a, junk, "不是 ZIP 文件")
    # and after all that, the real one still applies
    assert import_return(b, mine).status in ("applied", "already")


def test_office_sync_between_two_laptops_then_the_district_changes_nothing(
    tmp_path: Path,
) -> None:
    n, a, b, rid = _shared_elder(tmp_path)  # the first return brought both laptops' keys
    a.update("elder", rid, elder_data(phone="13977777777"))
    b.create("elder", elder_data(name="乙", id_number=make_id(date(1941, 2, 2), True)))
    pa = export(a, tmp_path / "office", for_colleagues=True, mkdir=True).path
    pb = export(b, tmp_path / "office", for_colleagues=True, mkdir=True).path
    assert import_any(b, pa).status == "applied"
    assert import_any(a, pb).status == "applied"
    assert import_any(a, pb).status == "already"
    assert rows(a.conn) == rows(b.conn)
    assert b.conn.execute("SELECT phone FROM elder WHERE id = ?", (rid,)).fetchone()[0] == (
        "13977777777"
    )
    # the district merges the very same files; its return then changes nothing
    assert n.merge(pa, pb) == ["merged", "merged"]
    ret = n.returns(COMMUNITY)[COMMUNITY].path
    assert ret is not None
    before = rows(a.conn)
    for name in "ab":
        r = n.import_(name, ret)
        assert r.status == "applied" and r.versions_new == 0
    assert rows(a.conn) == rows(b.conn) == before == district_view(n, COMMUNITY)
    # a laptop of another community cannot read it; nor can one without the colleague keys
    c = n.laptop("c", OTHER)
    r = import_any(c, pa)
    assert r.status == "refused" and "未登记" in (r.reason or "")
    with pytest.raises(StoreError, match="还没有同事设备的公钥"):
        export(c, tmp_path / "office", for_colleagues=True, full=True, mkdir=True)


def test_reference_data_applies_when_newer_and_an_older_bundle_does_not_revert_it(
    tmp_path: Path,
) -> None:
    n, a, b, rid = _shared_elder(tmp_path)  # a and b imported return 1 (seed reference data)
    pop = "SELECT pop_60 FROM ref_community WHERE code = ?"
    old = n.returns(COMMUNITY)[COMMUNITY].path  # return 2: the same reference data
    assert old is not None
    r = n.import_("a", old)
    assert r.status == "applied" and not r.refdata_applied  # same digest: nothing to apply
    n.district.conn.execute("UPDATE ref_community SET pop_60 = 4321 WHERE code = ?", (COMMUNITY,))
    time.sleep(1.1)  # stamps are to the second
    new = n.returns(COMMUNITY)[COMMUNITY].path  # return 3: a newer stamp
    assert new is not None
    assert n.import_("b", new).refdata_applied
    assert b.conn.execute(pop, (COMMUNITY,)).fetchone()[0] == 4321
    assert import_return(b, old).refdata_applied is False  # older: not applied
    assert b.conn.execute(pop, (COMMUNITY,)).fetchone()[0] == 4321
