"""docs/bundle-format.md is kept honest: a bundle written from the page alone (PyNaCl and the
standard library, in its own interpreter, no fieldapp import) is accepted by the district, and every
value of the page's worked example is what the page's own recipe computes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldapp.cli import main
from fieldapp.sqlite import sqlite3

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "bundle-format.md"
BUILDER = Path(__file__).with_name("bundle_from_page.py")
PASSPHRASE = "correct-horse-battery-staple"


def block(text: str, tag: str) -> str:
    """The fenced block whose info string ends with `tag` (the page's worked example)."""
    m = re.search(rf"```\w* {tag}\n(.*?)\n```", text, re.S)
    assert m, f"no block {tag} in {PAGE.name}"
    return m.group(1)


def cell(text: str, label: str) -> str:
    m = re.search(rf"^\| {re.escape(label)} \| `([^`]*)`", text, re.M)
    assert m, f"no row {label!r} in {PAGE.name}"
    return m.group(1)


def cli(*args: object) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The district's keys and database, and the bundle the page's recipe writes for it."""
    tmp = tmp_path_factory.mktemp("page")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FIELDAPP_KEY_PASSPHRASE", PASSPHRASE)
        mp.setenv("FIELDAPP_USER", "区级管理员")
        cli("district", "keygen", "--out", tmp / "keys")
        cli("district", "init", "--db", tmp / "district.db")
    example = tmp / "manifest.example.json"
    example.write_bytes(block(PAGE.read_text(encoding="utf-8"), "example-manifest").encode())
    out = subprocess.run(
        [
            sys.executable,
            str(BUILDER),
            str(tmp),
            str(tmp / "keys" / "district.public.json"),
            str(example),
        ],
        capture_output=True,
        text=True,
        cwd=tmp,  # not the checkout: fieldapp is importable only if the script imports it
        check=True,
    )
    values: dict[str, object] = json.loads(out.stdout)
    values["tmp"] = tmp
    return values


def test_the_bundle_written_from_the_page_alone_merges(
    built: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert built["imported_fieldapp"] is False
    tmp = Path(str(built["tmp"]))
    monkeypatch.setenv("FIELDAPP_KEY_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("FIELDAPP_USER", "区级管理员")
    db = tmp / "district.db"
    cli("district", "enroll", "--db", db, built["device_file"], "--yes")
    out = cli("merge", built["bundle"], "--db", db, "--key", tmp / "keys" / "district.private.json")
    assert "merged" in out or "已合并" in out, out
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT name, community_code, living_status, status FROM elder").fetchall()
    (bundle_seq,) = conn.execute("SELECT seq FROM bundles").fetchone()
    conn.close()
    assert rows == [("王建国", "321202001901", "alone", "active")]
    assert bundle_seq == 1


def test_the_worked_example_is_what_the_recipe_computes(built: dict[str, object]) -> None:
    page = PAGE.read_text(encoding="utf-8")
    assert block(page, "example-line") == built["line"]
    assert cell(page, "device public key (base64)") == built["public"]
    assert cell(page, "its fingerprint") == built["fingerprint"]
    assert cell(page, "`content_hash` of the line") == built["content_hash"]
    assert (
        cell(page, "`plain.sha256` of `versions.ndjson` (the line and its `\\n`)")
        == built["plain_sha256"]
    )
    assert block(page, "example-signature") == built["signature"]
    # the page's manifest has the same fields and values as the one written, but for the parts
    # that are random on every run (the sealed member and its key)
    shown = json.loads(block(page, "example-manifest"))
    written = json.loads(str(built["manifest"]))
    for random_part in ("members", "encryption"):
        shown.pop(random_part), written.pop(random_part)
    assert shown == written
    assert f"`{built['plain_bytes']}`, 1" in page
