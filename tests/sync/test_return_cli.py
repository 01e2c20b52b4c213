"""The monthly round trip from a shell (README): keygen, enrol, export, merge, return, import."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from fieldapp.cli import main
from fieldapp.store import Store

from ..conftest import COMMUNITY, STREET, elder_data

PASS = "correct horse battery staple"


def cli(*args: object, ok: bool = True) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args], env={"FIELDAPP_KEY_PASSPHRASE": PASS})
    assert (result.exit_code == 0) == ok, result.output
    return result.output


def test_the_monthly_round_trip_from_the_shell(tmp_path: Path) -> None:
    keys, usb, back = tmp_path / "keys", tmp_path / "usb", tmp_path / "back"
    out = cli("district", "keygen", "--out", keys)
    assert "签名公钥指纹" in out
    public = json.loads((keys / "district.public.json").read_text(encoding="utf-8"))
    assert {"public", "fingerprint", "sign_public", "sign_fingerprint"} <= set(public)
    district = tmp_path / "district.db"
    cli("district", "init", "--db", district)
    laptops = [tmp_path / "a.db", tmp_path / "b.db"]
    for i, db in enumerate(laptops):
        out = cli(
            "init",
            "--db",
            db,
            "--street",
            STREET,
            "--community",
            COMMUNITY,
            "--worker",
            f"工作人员{i}",
            "--district-key",
            keys / "district.public.json",
        )
        cli("device-key", "show", "--db", db, "--out", tmp_path / f"{i}.pub.json")
        cli("district", "enroll", "--db", district, tmp_path / f"{i}.pub.json", "--yes")
    with Store.open(laptops[0]) as a:
        a.create("elder", elder_data())
    cli("export", "--db", laptops[0], "--out", usb, "--mkdir")
    cli("merge", usb, "--db", district, "--key", keys / "district.private.json")
    out = cli(
        "district",
        "return",
        "--db",
        district,
        "--key",
        keys / "district.private.json",
        "--out",
        back,
        "--community",
        COMMUNITY,
    )
    assert "加密给 2 台设备" in out
    (bundle,) = back.iterdir()
    assert bundle.name.startswith(f"{COMMUNITY}-return-") and bundle.name.endswith("-1.fieldbundle")
    out = cli("import", "--db", laptops[0], bundle)
    assert "区里已收到第 1 个同步包" in out
    out = cli("import", "--db", laptops[1], back)
    assert "已导入，1 个版本，其中新的 1 个" in out
    assert "已导入过" in cli("import", "--db", laptops[1], bundle)
    with Store.open(laptops[1]) as b:
        assert b.counts()["elder"] == 1
    # a laptop with the old public key file is told to install the new one
    old = tmp_path / "old.public.json"
    old.write_text(
        json.dumps({k: public[k] for k in ("format", "public", "fingerprint")}), encoding="utf-8"
    )
    out = cli("device-key", "install", "--db", laptops[1], old)
    assert "旧版" in out
    out = cli("import", "--db", laptops[1], bundle, ok=False)
    assert "新的区级公钥文件" in out
