"""SPEC §6 v2 attack by attack: each bundle or key file is refused with its reason, the district
database unchanged (dump hash), and the CLI exits cleanly; locks and concurrent merges get a message."""

from __future__ import annotations

import json
import multiprocessing
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from fieldapp import crypto
from fieldapp.cli import main
from fieldapp.demo import generate_community
from fieldapp.sqlite import sqlite3
from fieldapp.store import Store
from fieldapp.sync.bundle import verify
from fieldapp.sync.export import export
from fieldapp.sync.merge import bundle_status, merge_bundle, merge_files, missing_bundles
from fieldapp.text import clean

from .helpers import PASS, World, district, dump_hash, reseal, resigned_line, world

ESC = "\x1b]0;owned\x07\x1b[2J"


@pytest.fixture(autouse=True)
def _fast_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDAPP_KDF", "interactive")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "device.db"
    generate_community(path, seed=13, today=date(2026, 6, 30), elders=6)
    return path


@pytest.fixture
def w(demo: Path, tmp_path: Path) -> World:
    return world(demo, tmp_path)


@pytest.fixture
def good(w: World) -> Path:
    return export(w.device, w.tmp / "usb", allow_v1=False, mkdir=True).path


def _nest(n: int) -> str:
    return "[" * n + "]" * n


def _first_line(change: Any) -> Any:
    return lambda lines: [change(lines[0]), *lines[1:]]


def test_text_clean_strips_escapes_and_controls() -> None:
    assert clean(f"a{ESC}b\x00c\u202ed\x9b31m") == "abcd"
    assert clean("x\ny") == "x y" and clean("z" * 50, 10) == "z" * 9 + "…"


CASES: dict[str, tuple[dict[str, Any], str]] = {
    "line nested 1000 deep": (
        {"lines": _first_line(lambda b: b[:-2] + b',"x":' + _nest(1000).encode() + b"}\n")},
        "嵌套超过 32 层",
    ),
    "manifest nested 1000 deep": (
        {"manifest_raw": lambda raw: raw[:-1] + b',"x":' + _nest(1000).encode() + b"}"},
        "manifest.json 的 JSON 嵌套超过 32 层",
    ),
    "5000-digit integer in a line": (
        {"lines": _first_line(lambda b: b[:-2] + b',"x":' + b"9" * 5000 + b"}\n")},
        "整数位数过多（5000 位",
    ),
    "5000-digit seq in the manifest": (
        {"manifest_raw": lambda raw: raw.replace(b'"seq": 1,', b'"seq": ' + b"7" * 5000 + b",")},
        "整数位数过多（5000 位",
    ),
    "seq 10^9": (
        {"manifest": lambda m: m.update(seq=10**9)},
        "seq=1000000000 比该设备上次合并的 0",
    ),
    "seq 2^63": ({"manifest": lambda m: m.update(seq=2**63)}, "manifest.json 字段 seq"),
    "a line not UTF-8": (
        {"lines": _first_line(lambda b: b[:-2] + b',"x":"\xff"}\n')},
        "第1行不是 UTF-8",
    ),
    "a line not UTF-8 and nested too deep": (
        {"lines": _first_line(lambda b: b"\xff" + _nest(200).encode() + b"\n")},
        "第1行不是 UTF-8",  # its first fault, as before the depth or the JSON
    ),
    "a line not JSON": ({"lines": _first_line(lambda b: b[:-2] + b",}\n")}, "第1行不是有效的 JSON"),
    "NaN in a line": (
        {"lines": _first_line(lambda b: b[:-2] + b',"x":NaN}\n')},
        "不允许的数值 NaN",
    ),
    "lying counts": (
        {"manifest": lambda m: m["counts"].update(elder=m["counts"]["elder"] + 1)},
        "各类记录数",
    ),
    "lying hlc range": ({"manifest": lambda m: m.update(hlc_to=m["hlc_from"])}, "hlc 超出清单范围"),
    "self-parent": (
        {
            "lines": _first_line(
                lambda b: resigned_line(b, parent_version_id=json.loads(b)["version_id"])
            )
        },
        "父版本不能是该版本自身",  # the envelope refuses it before the cycle check
    ),
    "17 also_parents": (
        {
            "lines": _first_line(
                lambda b: (
                    json.dumps({**json.loads(b), "also_parents": ["p"] * 17}) + "\n"
                ).encode()
            )
        },
        "also_parents",
    ),
    "escape sequences in record_id": (
        {"lines": _first_line(lambda b: resigned_line(b, record_id=ESC + "x"))},
        "第1行（记录 x）不合格",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_attack_is_refused_by_merge_and_verify_with_the_database_unchanged(
    case: str, w: World, good: Path
) -> None:
    changes, words = CASES[case]
    bad = reseal(w, good, w.tmp / "bad.fieldbundle", **changes)
    r = w.refused(bad, words)
    assert "\x1b" not in (r.reason or "") and "\x07" not in (r.reason or "")
    report = verify(bad, district_key=w.key, enrolled={})
    assert not report.ok and "\x1b" not in (report.problem or "")
    assert w.merge(good).status == "merged"  # a later good bundle still merges


def test_parent_cycle_across_two_records_versions_is_refused_naming_the_record(
    w: World, good: Path
) -> None:
    def cycle(lines: list[bytes]) -> list[bytes]:
        rows = [json.loads(b) for b in lines]
        by_record: dict[str, list[int]] = {}
        for i, v in enumerate(rows):
            by_record.setdefault(v["record_id"], []).append(i)
        i, j = next(ix for ix in by_record.values() if len(ix) >= 2)[:2]
        a, b = rows[i], rows[j]
        out = list(lines)
        out[i] = resigned_line(lines[i], parent_version_id=b["version_id"])
        out[j] = resigned_line(lines[j], parent_version_id=a["version_id"])
        return out

    bad = reseal(w, good, w.tmp / "cycle.fieldbundle", lines=cycle)
    r = w.refused(bad, "的父版本成环")
    assert "记录 " in (r.reason or "")


def test_a_flipped_bit_in_the_zip_member_is_a_refusal_not_bad_crc(w: World, good: Path) -> None:
    with zipfile.ZipFile(good) as zf:
        info = zf.getinfo("versions.sealed")
    raw = bytearray(good.read_bytes())
    local = info.header_offset  # the local header's own name and extra lengths
    start = local + 30 + int.from_bytes(raw[local + 26 : local + 28], "little")
    start += int.from_bytes(raw[local + 28 : local + 30], "little")
    for k, offset in enumerate((start + info.compress_size // 2, start + 3)):
        flipped = bytearray(raw)
        flipped[offset] ^= 0x10
        bad = w.tmp / f"flip{k}.fieldbundle"
        bad.write_bytes(bytes(flipped))
        w.refused(bad, "versions.sealed")
        assert not verify(bad, district_key=w.key).ok


def test_missing_bundles_are_gap_pairs_and_a_far_seq_is_refused(w: World, good: Path) -> None:
    assert w.merge(good).status == "merged"
    third = reseal(
        w,
        good,
        w.tmp / "s3.fieldbundle",
        manifest=lambda m: m.update(seq=5, bundle_id="0193a1b2-0000-7000-8000-000000000005"),
    )
    assert w.merge(third).status == "merged"
    dev = w.device.device()
    assert dev is not None
    assert missing_bundles(w.district.conn) == {dev.device_id: [(2, 4)]}
    far = reseal(
        w,
        good,
        w.tmp / "far.fieldbundle",
        manifest=lambda m: m.update(seq=1006, bundle_id="0193a1b2-0000-7000-8000-000000001006"),
    )
    w.refused(far, "seq=1006 比该设备上次合并的 5 大 1000 以上")


def test_format_1_needs_an_enrolled_unrevoked_device(w: World, demo: Path) -> None:
    plain_db = w.tmp / "plain.db"
    plain_db.write_bytes(demo.read_bytes())
    plain = Store.open(plain_db)
    v1 = export(plain, w.tmp / "v1", allow_v1=True, mkdir=True).path
    fresh = district(w.tmp / "fresh.db")  # has enrolled nobody
    fresh.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = dump_hash(w.tmp / "fresh.db")
    r = merge_bundle(fresh.conn, v1, allow_v1=True)
    assert r.status == "invalid" and "未登记" in (r.reason or ""), r.reason
    assert dump_hash(w.tmp / "fresh.db") == before
    assert not verify(v1, enrolled={}).ok
    dev = plain.device()
    assert dev is not None
    fresh.enroll(dev.device_id, plain.keys()["sign_public"], label="x", by="t")
    fresh.revoke(dev.device_id, by="t")
    r = merge_bundle(fresh.conn, v1, allow_v1=True)
    assert r.status == "invalid" and "撤销" in (r.reason or "")
    assert merge_bundle(w.district.conn, v1, allow_v1=True).status == "merged"  # enrolled


def _cli_merge(w: World, *paths: Path, env: dict[str, str] | None = None) -> Any:
    runner = CliRunner()
    args = ["merge", "--db", str(w.db), "--key", str(w.key_file), *map(str, paths)]
    return runner.invoke(
        main, args, env={"FIELDAPP_KEY_PASSPHRASE": PASS, **(env or {})}, catch_exceptions=False
    )


def test_folder_merge_goes_on_after_bad_files_and_summarises(w: World, good: Path) -> None:
    folder = good.parent
    reseal(
        w,
        good,
        folder / "a-nested.fieldbundle",
        manifest_raw=lambda r: r[:-1] + b',"x":' + _nest(5000).encode() + b"}",
    )
    (folder / "b-junk.fieldbundle").write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    (folder / f"c-{ESC}.fieldbundle").write_text("x")
    statuses = [bundle_status(w.district.conn, p)[0] for p in sorted(folder.iterdir())]
    assert statuses.count("invalid") == 3 and statuses.count("new") == 1
    result = _cli_merge(w, folder)
    assert result.exit_code == 1
    assert "已合并 " in result.output and result.output.count("无效") == 3
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert w.district.conn.execute("SELECT count(*) FROM bundles").fetchone()[0] == 1


def _hold_lock(db: Path) -> sqlite3.Connection:
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_a_held_lock_waits_with_a_countdown_then_refuses(w: World, good: Path) -> None:
    w.district.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = dump_hash(w.db)
    holder = _hold_lock(w.db)
    try:
        result = _cli_merge(w, good, env={"FIELDAPP_LOCK_WAIT": "2"})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.exit_code == 1
    assert "还剩 2 秒" in result.output and "还剩 1 秒" in result.output
    assert "另一个程序正在使用区级数据库，请关闭后重试" in result.output
    assert "Traceback" not in result.output and "database is locked" not in result.output
    assert dump_hash(w.db) == before
    assert w.merge(good).status == "merged"


def _merge_in_child(db: str, path: str, key_file: str, out: Any) -> None:
    from fieldapp import db as fdb

    conn = fdb.connect(db, create=False)
    key = crypto.load_district_private(Path(key_file), PASS)
    r = merge_files(conn, [Path(path)], district_key=key)[0]
    out.put((r.status, r.reason))


def test_two_merge_processes_at_once_merge_once_and_say_already(
    w: World, good: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIELDAPP_LOCK_WAIT", "60")
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    holder = _hold_lock(w.db)  # both children read the file and wait for the lock
    children = [
        ctx.Process(target=_merge_in_child, args=(str(w.db), str(good), str(w.key_file), out))
        for _ in range(2)
    ]
    for c in children:
        c.start()
    import time

    time.sleep(4)
    holder.execute("ROLLBACK")
    holder.close()
    got = sorted(out.get(timeout=60) for _ in children)
    for c in children:
        c.join(30)
        assert c.exitcode == 0
    assert got == [("already", None), ("merged", None)]
    assert w.district.conn.execute("SELECT count(*) FROM bundles").fetchone()[0] == 1


def _private(tmp: Path) -> Path:
    return tmp / "keys" / "district.private.json"


KEY_DAMAGE: dict[str, tuple[str, Any]] = {
    "private not JSON": ("private", lambda d: b"{not json"),
    "private a JSON list": ("private", lambda d: b"[1, 2]"),
    "private missing salt": ("private", lambda d: {k: v for k, v in d.items() if k != "salt"}),
    "private bad base64": ("private", lambda d: {**d, "secret": "!!!not base64"}),
    "private short secret": ("private", lambda d: {**d, "secret": crypto.b64(b"x" * 40)}),
    "private huge memlimit": ("private", lambda d: {**d, "memlimit": 1 << 60}),
    "private flipped secret": (
        "private",
        lambda d: {
            **d,
            "secret": crypto.b64(
                bytes([crypto.unb64(d["secret"])[0] ^ 1]) + crypto.unb64(d["secret"])[1:]
            ),
        },
    ),
    "public missing key": ("public", lambda d: {"format": d["format"]}),
    "public wrong length": ("public", lambda d: {**d, "public": crypto.b64(b"x" * 31)}),
    "device not JSON": ("device", lambda d: b"\xff\xfe"),
    "device missing device_id": (
        "device",
        lambda d: {k: v for k, v in d.items() if k != "device_id"},
    ),
    "device bad base64": ("device", lambda d: {**d, "public": "%%%"}),
}


@pytest.mark.parametrize("case", list(KEY_DAMAGE))
def test_a_damaged_key_file_says_damaged_never_wrong_passphrase(case: str, w: World) -> None:
    which, change = KEY_DAMAGE[case]
    dev = w.device.device()
    assert dev is not None
    paths = {
        "private": _private(w.tmp),
        "public": w.tmp / "keys" / "district.public.json",
        "device": crypto.device_public_file(
            w.tmp / "dev.json", dev.device_id, dev.label, w.device.keys()["sign_public"]
        ),
    }
    path = paths[which]
    new = change(json.loads(path.read_text()))
    path.write_bytes(new if isinstance(new, bytes) else json.dumps(new).encode())
    load = {
        "private": lambda: crypto.load_district_private(path, PASS),
        "public": lambda: crypto.load_district_public(path),
        "device": lambda: crypto.read_device_public(path),
    }[which]
    with pytest.raises(crypto.KeyError_) as e:
        load()
    assert "已损坏" in str(e.value) and "口令不对" not in str(e.value)
    if which == "private":
        result = CliRunner().invoke(
            main,
            ["merge", "--db", str(w.db), "--key", str(path), str(path)],
            env={"FIELDAPP_KEY_PASSPHRASE": PASS},
        )
        assert result.exit_code == 1 and "已损坏" in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
