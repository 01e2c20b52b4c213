"""Export, verify and merge with real files: round trip, idempotence, and every kind of bad bundle refused."""

from __future__ import annotations

import json
import shutil
import zipfile
from datetime import date
from pathlib import Path

import pytest

from fieldapp.demo import generate_community
from fieldapp.sqlite import sqlite3
from fieldapp.store import Store, StoreError
from fieldapp.sync import bundle
from fieldapp.sync.export import export, history
from fieldapp.sync.merge import merge_bundle, merge_files, missing_bundles

from .helpers import current_tables, district, dump_hash, edit_payload, open_reviews, rebuild

TODAY = date(2026, 6, 30)
EXAMPLE = (
    Path(__file__).resolve().parents[1] / "data" / "321202001901-2025-11-0193a1b2-1.fieldbundle"
)


@pytest.fixture(scope="module")
def demo_device(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("device") / "device.db"
    generate_community(path, seed=5, today=TODAY, elders=40)
    return path


@pytest.fixture
def device(demo_device: Path, tmp_path: Path) -> Store:
    path = tmp_path / "device.db"
    shutil.copy(demo_device, path)
    return Store.open(path)


@pytest.fixture
def one_bundle(device: Store, tmp_path: Path) -> Path:
    return export(device, tmp_path / "usb", period="2026-06", allow_v1=True, mkdir=True).path


def test_round_trip_device_to_district_equals_row_for_row(device: Store, tmp_path: Path) -> None:
    result = export(device, tmp_path / "usb", period="2026-06", allow_v1=True, mkdir=True)
    assert result.path.name.startswith("321202001901-2026-06-") and result.path.name.endswith(
        "-1.fieldbundle"
    )
    assert bundle.verify(result.path).ok
    dist = district(tmp_path / "district.db", device)
    merged = merge_bundle(dist.conn, result.path, allow_v1=True)
    assert merged.status == "merged", merged.reason
    assert current_tables(dist.conn) == current_tables(device.conn)
    versions = "SELECT version_id, kind, record_id, parent_version_id, hlc, device_id, deleted, content_hash, payload FROM versions ORDER BY version_id"
    assert dist.conn.execute(versions).fetchall() == device.conn.execute(versions).fetchall()


def test_monthly_exports_chain_and_merge_to_the_same_result_as_one_full_export(
    device: Store, tmp_path: Path
) -> None:
    first = device.conn.execute("SELECT min(hlc) FROM versions").fetchone()[0]
    cut = str(int(first[:13]) + 90 * 86_400_000).zfill(13) + "-00000"
    a = export(device, tmp_path / "usb", period="2025-09", until_hlc=cut, allow_v1=True, mkdir=True)
    b = export(device, tmp_path / "usb", period="2026-06", allow_v1=True, mkdir=True)
    with pytest.raises(StoreError, match="没有新的记录"):
        export(device, tmp_path / "usb", allow_v1=True, mkdir=True)
    full = export(device, tmp_path / "usb", full=True, allow_v1=True, mkdir=True)
    assert (a.seq, b.seq, full.seq) == (1, 2, 3)
    assert a.versions + b.versions == full.versions
    assert [h["seq"] for h in history(device)] == [3, 2, 1]
    with zipfile.ZipFile(b.path) as zf:
        assert json.loads(zf.read("manifest.json"))["prev_bundle_id"] == a.bundle_id
    d1, d2 = district(tmp_path / "d1.db", device), district(tmp_path / "d2.db", device)
    assert all(r.status == "merged" for r in merge_files(d1.conn, [b.path, a.path], allow_v1=True))
    assert merge_bundle(d2.conn, full.path, allow_v1=True).status == "merged"
    assert current_tables(d1.conn) == current_tables(d2.conn) == current_tables(device.conn)
    again = merge_bundle(d1.conn, full.path, allow_v1=True)  # a re-export of what is already there
    assert (
        again.status == "merged" and sum(k.unchanged for k in again.kinds.values()) == full.versions
    )
    assert current_tables(d1.conn) == current_tables(device.conn)


def test_merging_the_same_bundle_twice_is_already_merged(
    device: Store, one_bundle: Path, tmp_path: Path
) -> None:
    dist = district(tmp_path / "d.db", device)
    assert merge_bundle(dist.conn, one_bundle, allow_v1=True).status == "merged"
    before = dump_hash(tmp_path / "d.db")
    r = merge_bundle(dist.conn, one_bundle, allow_v1=True)
    assert r.status == "already" and r.ok
    assert dump_hash(tmp_path / "d.db") == before


def test_the_shared_example_bundle_verifies_and_merges() -> None:
    report = bundle.verify(EXAMPLE)
    assert report.ok, report.problem
    assert report.counts == {"elder": 2, "home_visit": 1}


def test_example_bundle_merges_into_a_fresh_district(device: Store, tmp_path: Path) -> None:
    dist = district(tmp_path / "d.db", EXAMPLE)
    r = merge_bundle(dist.conn, EXAMPLE, allow_v1=True)
    assert r.status == "merged", r.reason
    elder = dist.conn.execute("SELECT phone, version_id FROM elder").fetchone()
    assert tuple(elder) == (
        "13812340000",
        "0193a1b2-8000-7000-8000-0000000000a2",
    )  # the edit wins over the create


def edit_first(lines: list[str], kind: str, **changes: object) -> list[str]:
    """The lines with the first version of `kind` changed (content_hash recomputed: only the rule fails)."""
    n = next(i for i, line in enumerate(lines) if json.loads(line)["kind"] == kind)
    return [*lines[:n], edit_payload(lines[n], **changes), *lines[n + 1 :]]


def first_line_of(path: Path, kind: str) -> int:
    with zipfile.ZipFile(path) as zf:
        lines = zf.read("versions.ndjson").decode().splitlines()
    return 1 + next(i for i, line in enumerate(lines) if json.loads(line)["kind"] == kind)


BAD_CASES = {
    "not a zip": (
        lambda src, tmp: (
            (tmp / "x.fieldbundle").write_text("这不是同步包") and tmp / "x.fieldbundle"
        ),
        "不是 ZIP",
    ),
    "truncated": (
        lambda src, tmp: (
            (tmp / "t.fieldbundle").write_bytes(src.read_bytes()[: src.stat().st_size // 2])
            and tmp / "t.fieldbundle"
        ),
        "ZIP",
    ),
    "extra member": (
        lambda src, tmp: rebuild(src, tmp / "e.fieldbundle", extra_members={"notes.txt": b"hi"}),
        "多出 ['notes.txt']",
    ),
    "missing member": (
        lambda src, tmp: rebuild(src, tmp / "m.fieldbundle", drop=("versions.ndjson",)),
        "缺少 ['versions.ndjson']",
    ),
    "digest differs": (
        lambda src, tmp: rebuild(
            src,
            tmp / "d.fieldbundle",
            manifest=lambda m: m["members"]["versions.ndjson"].update(sha256="0" * 64),
        ),
        "摘要不一致",
    ),
    "bad json line": (
        lambda src, tmp: rebuild(
            src, tmp / "j.fieldbundle", lines=lambda ls: [*ls[:3], '{"kind": "elder",\n', *ls[4:]]
        ),
        "第4行不是有效的 JSON",
    ),
    "unknown format_version": (
        lambda src, tmp: rebuild(
            src, tmp / "f.fieldbundle", manifest=lambda m: m.update(format_version=3)
        ),
        "format_version=3",
    ),
    "invalid version": (
        lambda src, tmp: rebuild(
            src,
            tmp / "v.fieldbundle",
            lines=lambda ls: edit_first(ls, "elder", id_number="32120219440312003Y"),
        ),
        "身份证号",
    ),
    "unknown community": (
        lambda src, tmp: rebuild(
            src, tmp / "c.fieldbundle", manifest=lambda m: m.update(community_code="321202001999")
        ),
        "321202001999",
    ),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_bundle_is_refused_with_its_reason_and_the_database_unchanged(
    device: Store, case: str, one_bundle: Path, tmp_path: Path
) -> None:
    make, words = BAD_CASES[case]
    bad = make(one_bundle, tmp_path)
    dist = district(tmp_path / "d.db", device)
    dist.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = dump_hash(tmp_path / "d.db")
    r = merge_bundle(dist.conn, bad, allow_v1=True)
    assert r.status == "invalid" and not r.ok
    assert r.reason and words in r.reason, r.reason
    assert dump_hash(tmp_path / "d.db") == before
    assert not bundle.verify(bad).ok or case == "unknown community"


def test_skip_invalid_merges_the_rest_and_keeps_the_rejected_line(
    device: Store, one_bundle: Path, tmp_path: Path
) -> None:
    bad = rebuild(
        one_bundle,
        tmp_path / "v.fieldbundle",
        lines=lambda ls: edit_first(ls, "elder", phone="123"),
    )
    line = first_line_of(one_bundle, "elder")
    dist = district(tmp_path / "d.db", device)
    strict = merge_bundle(dist.conn, bad, allow_v1=True)
    assert (
        strict.status == "invalid"
        and f"第{line}行" in (strict.reason or "")
        and "--skip-invalid" in (strict.reason or "")
    )
    r = merge_bundle(dist.conn, bad, skip_invalid=True, allow_v1=True)
    assert r.status == "merged" and len(r.rejected) == 1 and r.rejected[0][0] == line
    row = dist.conn.execute("SELECT line_no, kind, reason, raw FROM rejected_versions").fetchone()
    assert (
        row["line_no"] == line
        and row["kind"] == "elder"
        and row["reason"].startswith("联系电话：须为11位手机号")
        and json.loads(row["raw"])["payload"]["phone"] == "123"
    )
    total = dist.conn.execute("SELECT count(*) FROM versions").fetchone()[0]
    with zipfile.ZipFile(one_bundle) as zf:
        assert total == len(zf.read("versions.ndjson").splitlines()) - 1


def test_same_version_id_with_other_content_is_refused_as_tampered(
    device: Store, one_bundle: Path, tmp_path: Path
) -> None:
    dist = district(tmp_path / "d.db", device)
    assert merge_bundle(dist.conn, one_bundle, allow_v1=True).status == "merged"
    forged = rebuild(
        one_bundle,
        tmp_path / "forged.fieldbundle",
        manifest=lambda m: m.update(bundle_id="0193a1b2-9000-7000-8000-00000000ffff", seq=2),
        lines=lambda ls: edit_first(ls, "elder", address="海陵区伪造路1号"),
    )
    dist.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = dump_hash(tmp_path / "d.db")
    r = merge_bundle(dist.conn, forged, allow_v1=True)
    assert r.status == "invalid" and "篡改" in (r.reason or "")
    assert dump_hash(tmp_path / "d.db") == before


def test_zip_bomb_is_refused_before_decompressing(
    device: Store, tmp_path: Path, one_bundle: Path
) -> None:
    bomb = tmp_path / "bomb.fieldbundle"
    with (
        zipfile.ZipFile(one_bundle) as src,
        zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf,
    ):
        zf.writestr("manifest.json", src.read("manifest.json"))
        with zf.open("versions.ndjson", "w") as member:
            block = b" " * (1 << 20)
            for _ in range(64):
                member.write(block)
    dist = district(tmp_path / "d.db", device)
    r = merge_bundle(dist.conn, bomb, allow_v1=True)
    assert r.status == "invalid" and "压缩炸弹" in (r.reason or "")


def test_a_device_database_is_not_a_merge_target(one_bundle: Path, device: Store) -> None:
    r = merge_bundle(device.conn, one_bundle, allow_v1=True)
    assert r.status == "invalid" and "district init" in (r.reason or "")


def test_dry_run_checks_everything_and_writes_nothing(
    device: Store, one_bundle: Path, tmp_path: Path
) -> None:
    dist = district(tmp_path / "d.db", device)
    dist.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = dump_hash(tmp_path / "d.db")
    r = merge_bundle(dist.conn, one_bundle, dry_run=True, allow_v1=True)
    assert r.status == "checked" and r.versions > 0
    assert dump_hash(tmp_path / "d.db") == before


def test_seq_gap_is_reported_as_a_missing_bundle(device: Store, tmp_path: Path) -> None:
    first = device.conn.execute("SELECT min(hlc) FROM versions").fetchone()[0]
    cuts = [str(int(first[:13]) + d * 86_400_000).zfill(13) + "-00000" for d in (60, 120)]
    a = export(device, tmp_path / "usb", until_hlc=cuts[0], allow_v1=True, mkdir=True)
    export(device, tmp_path / "usb", until_hlc=cuts[1], allow_v1=True, mkdir=True)
    c = export(device, tmp_path / "usb", allow_v1=True, mkdir=True)
    dist = district(tmp_path / "d.db", device)
    merge_files(dist.conn, [a.path, c.path], allow_v1=True)
    dev = device.device()
    assert dev is not None and missing_bundles(dist.conn) == {dev.device_id: [(2, 2)]}


def test_clock_more_than_a_day_ahead_is_flagged(
    device: Store, one_bundle: Path, tmp_path: Path
) -> None:
    dist = district(tmp_path / "d.db", device)
    with zipfile.ZipFile(one_bundle) as zf:
        last = max(json.loads(x)["hlc"] for x in zf.read("versions.ndjson").decode().splitlines())
    r = merge_bundle(dist.conn, one_bundle, now_ms=int(last[:13]) - 2 * 86_400_000, allow_v1=True)
    assert r.clock_suspect > 0
    assert dist.conn.execute("SELECT count(*) FROM clock_flags").fetchone()[0] == r.clock_suspect


def _second_laptop(device: Store, tmp_path: Path) -> Store:
    """A second device of the same community: a copy of the first with its own device id and no exports."""
    path = tmp_path / "laptop2.db"
    device.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(Path(device.conn.execute("PRAGMA database_list").fetchone()[2]), path)
    raw = sqlite3.connect(path)
    raw.execute(
        "UPDATE device SET device_id = '0193a1b2-7c4d-7e8f-9a0b-00000000beef', label = '笔记本2'"
    )
    raw.execute("DELETE FROM exports")
    raw.commit()
    raw.close()
    return Store.open(path)


def test_two_devices_counting_one_meal_slot_go_to_review_never_summed_twice(
    device: Store, tmp_path: Path
) -> None:
    from ..conftest import elder_data, make_id

    point = device.page("meal_point", limit=1)[0]["id"]
    day = "2026-06-29"
    device.conn.execute("UPDATE exports SET upto_seq = upto_seq")  # (no exports yet in this copy)
    other = _second_laptop(device, tmp_path)
    existing = device.page(
        "meal_count", where={"point_id": point, "service_date": day, "meal": "lunch"}
    )
    for s in (device, other):
        for r in s.page("meal_count", where={"point_id": point, "service_date": day}):
            s.delete("meal_count", r["id"])
    device.create(
        "meal_count", {"point_id": point, "service_date": day, "meal": "lunch", "dine_in": 10}
    )
    other.create(
        "meal_count", {"point_id": point, "service_date": day, "meal": "lunch", "dine_in": 12}
    )
    person = elder_data(name="重复人", id_number=make_id(date(1941, 5, 6), True, 77))
    device.create("elder", person)
    other.create("elder", person)
    a = export(device, tmp_path / "a", allow_v1=True, mkdir=True)
    b = export(other, tmp_path / "b", allow_v1=True, mkdir=True)
    dist = district(tmp_path / "d.db", device, other)
    assert [r.status for r in merge_files(dist.conn, [a.path, b.path], allow_v1=True)] == [
        "merged",
        "merged",
    ]
    queues = {q for q, _, _ in open_reviews(dist.conn)}
    assert queues == {"meal_slot", "duplicate_person"}
    slot = dist.conn.execute(
        "SELECT count(*), sum(total) FROM meal_count_effective WHERE point_id = ? AND service_date = ? AND meal = 'lunch'",
        (point, day),
    ).fetchone()
    assert slot[0] == 1 and slot[1] in (10, 12)
    assert (
        dist.conn.execute(
            "SELECT count(*) FROM meal_count WHERE point_id = ? AND service_date = ? AND meal = 'lunch' AND deleted = 0",
            (point, day),
        ).fetchone()[0]
        == 2
    )
    key = dist.conn.execute(
        "SELECT natural_key FROM review_items WHERE queue = 'duplicate_person'"
    ).fetchone()[0]
    assert (
        key.startswith("hmac:") and make_id(date(1941, 5, 6), True, 77)[6:14] not in key
    )  # keyed, not the number
    assert existing is not None


def test_library_calls_refuse_format_1_unless_the_caller_allows_it(
    device: Store, tmp_path: Path
) -> None:
    """The safe default: a caller who forgets `allow_v1` gets format 1 refused, not accepted."""
    dist = district(tmp_path / "d.db", device)
    dist.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = dump_hash(tmp_path / "d.db")
    refusal = "v1 格式的同步包未签名、未加密，只在明确允许时接受（--allow-v1）"
    r = merge_bundle(dist.conn, EXAMPLE)
    assert (r.status, r.reason) == (
        "invalid",
        f"{refusal}（format 1 bundles are unsigned and unencrypted: accepted only with --allow-v1）",
    )
    [again] = merge_files(dist.conn, [EXAMPLE])
    assert again.status == "invalid" and again.reason == r.reason
    assert dump_hash(tmp_path / "d.db") == before
    with pytest.raises(bundle.BundleError) as refused:
        bundle.open_bundle(EXAMPLE)
    assert refused.value.zh == refusal
    with bundle.open_bundle(EXAMPLE, allow_v1=True) as reader:
        assert reader.version == 1
    with pytest.raises(StoreError, match="本设备尚未安装区级公钥"):
        export(device, tmp_path / "usb", mkdir=True)
    assert not (tmp_path / "usb").exists() or not list((tmp_path / "usb").iterdir())
    assert history(device) == []


def test_verify_and_merge_refuse_a_bad_line_in_the_same_words(
    device: Store, one_bundle: Path, tmp_path: Path
) -> None:
    """One line check (bundle_check.check_line) for both paths: the merge only adds its consequence."""
    other = "0193a1b2-0000-7000-8000-00000000ffff"
    line = first_line_of(one_bundle, "elder")
    with zipfile.ZipFile(one_bundle) as zf:
        rid = json.loads(zf.read("versions.ndjson").decode().splitlines()[line - 1])["record_id"]

    def move(ls: list[str]) -> list[str]:
        data = json.loads(ls[line - 1])
        data["device_id"] = other  # not part of the content hash: only the device rule fails
        return [*ls[: line - 1], json.dumps(data) + "\n", *ls[line:]]

    bad = rebuild(one_bundle, tmp_path / "o.fieldbundle", lines=move)
    zh = f"第{line}行（记录 {rid}）不合格：设备：与同步包清单的设备不一致"
    en = f"line {line} (record {rid}) is invalid: device: differs from the bundle's device"
    report = bundle.verify(bad)
    assert not report.ok and report.problem == f"{zh}（{en}）"
    r = merge_bundle(district(tmp_path / "d.db", device).conn, bad, allow_v1=True)
    assert r.reason == (
        f"{zh}；整个同步包未合并（可用 --skip-invalid 合并其余记录）"
        f"（{en}; the bundle was not merged (--skip-invalid merges the rest)）"
    )
