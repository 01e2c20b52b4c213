"""Issue 16 point 12 from the shell, on real files: dry run without the key, verify's "already
merged", the passphrase asked again when empty, `status` on the district database, the merge
summary in Chinese, per-version progress, keygen's length check before the confirmation, and a
damaged copy of a merged bundle refused by merge and verify alike."""

from __future__ import annotations

import zipfile
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldapp.cli import main
from fieldapp.store import Store
from fieldapp.sync import apply as apply_mod
from fieldapp.sync import merge as merge_mod
from fieldapp.sync.export import export

from .conftest import COMMUNITY, STREET, elder_data, make_id
from .test_cli_district import PASSPHRASE, Setup, district_keys, ok, run, setup

__all__ = ["district_keys", "setup"]  # the fixtures, used by name


def _merged(s: Setup, keys: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The device enrolled and its bundle merged with the key; returns the private key file."""
    ok("district", "enroll", "--db", s.db, s.bundle, "--yes")
    monkeypatch.setenv("FIELDAPP_KEY_PASSPHRASE", PASSPHRASE)
    private = keys / "district.private.json"
    ok("merge", "--db", s.db, "--key", private, s.bundle)
    monkeypatch.delenv("FIELDAPP_KEY_PASSPHRASE")
    return private


def test_dry_run_without_the_key_says_already_merged(
    setup: Setup, district_keys: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _merged(setup, district_keys, monkeypatch)
    result = ok("merge", "--db", setup.db, "--dry-run", setup.bundle)
    assert f"已合并过   {setup.bundle.name}" in result.output
    assert "无效" not in result.output and "需要区级私钥" not in result.output


def test_verify_with_the_database_says_already_merged(
    setup: Setup, district_keys: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok("district", "enroll", "--db", setup.db, setup.bundle, "--yes")
    before = ok("verify", "--db", setup.db, setup.bundle)
    assert "已合并过" not in before.output
    _merged(setup, district_keys, monkeypatch)
    after = ok("verify", "--db", setup.db, setup.bundle)
    assert after.output.startswith(f"OK     {setup.bundle.name}")
    assert after.output.rstrip().endswith("已合并过 (already merged)")


def _damaged_copy(bundle: Path, dest: Path) -> Path:
    """The same bundle with one byte of its sealed member changed (manifest and signature intact)."""
    out = dest / bundle.name
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "versions.sealed":
                data = data[:40] + bytes([data[40] ^ 0xFF]) + data[41:]
            dst.writestr(info, data)
    return out


def test_a_damaged_copy_of_a_merged_bundle_is_refused_by_merge_and_verify(
    setup: Setup, district_keys: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    private = _merged(setup, district_keys, monkeypatch)
    (tmp_path / "copy").mkdir()
    bad = _damaged_copy(setup.bundle, tmp_path / "copy")
    verified = run("verify", "--db", setup.db, bad)
    monkeypatch.setenv("FIELDAPP_KEY_PASSPHRASE", PASSPHRASE)
    merged = run("merge", "--db", setup.db, "--key", private, bad)
    assert verified.exit_code == 1 and merged.exit_code == 1
    assert f"已合并过   {bad.name}" not in merged.output and "已合并过" not in verified.output
    assert f"无效   {bad.name}: versions.sealed 与清单不符" in verified.output
    assert f"无效     {bad.name}：versions.sealed 与清单不符" in merged.output
    assert "拒收 1" in merged.output


def test_an_empty_passphrase_is_asked_again(
    setup: Setup, district_keys: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok("district", "enroll", "--db", setup.db, setup.bundle, "--yes")
    monkeypatch.delenv("FIELDAPP_KEY_PASSPHRASE", raising=False)
    result = run(
        "merge",
        "--db",
        setup.db,
        "--key",
        district_keys / "district.private.json",
        setup.bundle,
        input=f"\n{PASSPHRASE}\n",
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("区级私钥口令 (district key passphrase)") == 2
    assert "口令不对" not in result.output
    assert f"已合并 {setup.bundle.name}" in " ".join(result.output.split())


def test_status_on_the_district_database_names_the_supervisor(setup: Setup) -> None:
    ok("district", "init", "--db", setup.db, "--supervisor", "王主任")
    out = ok("status", "--db", setup.db).output
    assert "None" not in out
    assert "区级数据库 district database:" in out and "审核人 supervisor 王主任" in out


def test_the_merge_summary_is_in_chinese_with_the_counts(
    setup: Setup, district_keys: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok("district", "enroll", "--db", setup.db, setup.bundle, "--yes")
    monkeypatch.setenv("FIELDAPP_KEY_PASSPHRASE", PASSPHRASE)
    out = ok(
        "merge", "--db", setup.db, "--key", district_keys / "district.private.json", setup.bundle
    ).output
    lines = out.splitlines()
    assert (
        "已合并 1，已合并过 0，拒收 0，已取消 0 (merged 1, already merged 0, refused 0, cancelled 0)"
        in lines
    )
    assert "新的审核项：冲突 0，疑似重复人员 0，助餐计数冲突 0" in lines
    head = next(x for x in lines if "新增 new" in x)
    assert "更新 updated" in head and "冲突 conflicts" in head
    elder = next(x for x in lines if x.startswith("老年人档案 Elder"))
    assert elder.split()[2:] == ["1", "0", "0", "0", "0"]


def test_keygen_checks_the_length_before_asking_for_the_confirmation(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["district", "keygen", "--out", str(tmp_path / "k")],
        input="short\n" + f"{PASSPHRASE}\n{PASSPHRASE}\n",
        env={"FIELDAPP_KEY_PASSPHRASE": None, "FIELDAPP_KDF": "interactive"},
    )
    assert result.exit_code == 0, result.output
    out = result.output
    too_short = out.index("口令至少10个字符，请重新输入")
    assert too_short < out.index("再次输入口令")  # said before any confirmation is asked
    assert out.count("再次输入口令") == 1
    assert (tmp_path / "k" / "district.private.json").exists()


def _big_bundle(tmp_path: Path, keys: Path, n: int) -> tuple[Path, Path]:
    """A district (device enrolled) and a bundle of `n` elders."""
    from fieldapp import crypto

    from .sync.helpers import enrol

    dev = Store.open(tmp_path / "dev.db")
    dev.setup_device(street_code=STREET, community_code=COMMUNITY, worker="周红")
    dev.install_district_key(*crypto.load_district_public(keys / "district.public.json"))
    for i in range(n):
        dev.create(
            "elder", elder_data(name=f"老人{i}", id_number=make_id(date(1940, 1, 1 + i), male=True))
        )
    bundle = export(dev, tmp_path / "out", mkdir=True).path
    with Store.open(tmp_path / "d.db") as d:
        d.setup_district()
        enrol(d, dev)
    dev.close()
    return tmp_path / "d.db", bundle


def test_a_large_bundle_reports_progress_per_versions(
    tmp_path: Path, district_keys: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fieldapp import crypto

    monkeypatch.setattr(apply_mod, "CHUNK_LINES", 5)  # 12 versions: 3 chunks instead of 73k/2000
    db, bundle = _big_bundle(tmp_path, district_keys, 12)
    key = crypto.load_district_private(district_keys / "district.private.json", PASSPHRASE)
    seen: list[tuple[int, int]] = []
    with Store.open(db) as d:
        (r,) = merge_mod.merge_files(
            d.conn, [bundle], district_key=key, lines=lambda a, b: seen.append((a, b))
        )
    assert r.status == "merged"
    total = seen[-1][1]
    assert total >= 12 and seen[-1] == (total, total)
    assert [a for a, _ in seen[:-1]] == [5, 10][: len(seen) - 1] and len(seen) >= 3
