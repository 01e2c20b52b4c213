"""No whole ID number anywhere a person or a file can see, but the elder's own edit form (SPEC §9).

A full run — demo device with the district key, export, enrol, merge, report (terminal, CSV,
XLSX) — and the screens of both apps are scanned for valid 18-character ID numbers."""

from __future__ import annotations

import re
import shutil
import zipfile
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from stdnum.cn import ric

from fieldapp.cli import main
from fieldapp.demo import generate_community
from fieldapp.store import Store
from fieldapp.tui.app import FieldApp
from fieldapp.tui.district import DistrictApp

from .tui.test_app import screen_text

ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dX](?![0-9A-Za-z])")
SIZE = (120, 40)


def whole_ids(text: str) -> list[str]:
    return [m for m in ID.findall(text) if ric.calc_check_digit(m) == m[-1]]


def test_the_scanner_finds_a_whole_number() -> None:
    assert whole_ids("证件 32120219440312003X 在此") == ["32120219440312003X"]
    assert whole_ids("321202********003X 1762131600000-00000") == []


async def test_no_whole_id_number_leaves_the_edit_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIELDAPP_KDF", "interactive")
    monkeypatch.setenv("FIELDAPP_KEY_PASSPHRASE", "correct horse battery")
    seen: list[tuple[str, str]] = []
    run = CliRunner()

    def cli(*args: str) -> str:
        result = run.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        seen.append((" ".join(args[:2]), result.output))
        return result.output

    device = tmp_path / "device.db"
    generate_community(device, seed=4, today=date(2026, 6, 30), elders=40)
    with Store.open(device) as s:
        ids = [
            r[0] for r in s.conn.execute("SELECT id_number FROM elder WHERE id_number IS NOT NULL")
        ]
        # a second registration of one person, so the duplicate queue has something to show
        first = s.conn.execute(
            "SELECT id FROM elder WHERE id_number IS NOT NULL LIMIT 1"
        ).fetchone()[0]
        twin = s.get("elder", first).record.payload() | {"name": "同证件"}
        s.create("elder", twin)
    assert len(ids) > 30
    cli("district", "keygen", "--out", str(tmp_path / "keys"))
    cli(
        "device-key",
        "install",
        "--db",
        str(device),
        str(tmp_path / "keys" / "district.public.json"),
    )
    cli("device-key", "show", "--db", str(device), "--out", str(tmp_path / "device.pub.json"))
    cli("status", "--db", str(device))
    cli("export", "--db", str(device), "--out", str(tmp_path / "usb"), "--mkdir")
    district = tmp_path / "district.db"
    cli("district", "init", "--db", str(district))
    cli("district", "enroll", "--db", str(district), str(tmp_path / "device.pub.json"), "--yes")
    cli(
        "verify",
        str(tmp_path / "usb"),
        "--db",
        str(district),
        "--key",
        str(tmp_path / "keys" / "district.private.json"),
    )
    cli(
        "merge",
        str(tmp_path / "usb"),
        "--db",
        str(district),
        "--key",
        str(tmp_path / "keys" / "district.private.json"),
    )
    cli(
        "report",
        "--db",
        str(district),
        "--year",
        "2026",
        "--by",
        "community",
        "--csv",
        str(tmp_path / "r.csv"),
        "--xlsx",
        str(tmp_path / "r.xlsx"),
    )

    app = FieldApp(device)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        seen.append(("dashboard", screen_text(app)))
        await pilot.press("2")
        await pilot.pause()
        seen.append(("elders", screen_text(app)))
        await pilot.press("slash", *ids[0][-4:])
        await pilot.pause()
        seen.append(("search by ID tail", screen_text(app)))
        await pilot.press("enter", "enter")
        await pilot.pause()
        seen.append(("elder page", screen_text(app)))
        for key in ("3", "4", "5", "9"):
            await pilot.press(key)
            await pilot.pause()
            seen.append((f"screen {key}", screen_text(app)))
    dapp = DistrictApp(district, folder=tmp_path / "usb")
    async with dapp.run_test(size=SIZE) as pilot:
        await pilot.pause()
        seen.append(("merge screen", screen_text(dapp)))
        await pilot.press("f3")
        await dapp.workers.wait_for_complete()
        await pilot.pause()
        seen.append(("indicators", screen_text(dapp)))
        await pilot.press("f4")
        await pilot.pause()
        dapp.screen.query_one("#review-tabs").active = "tab-dups"  # type: ignore[attr-defined]
        await pilot.pause()
        seen.append(("review", screen_text(dapp)))
        await pilot.press("enter")
        await pilot.pause()
        seen.append(("duplicate side by side", screen_text(dapp)))

    files = [tmp_path / "r.csv", tmp_path / "device.pub.json", *(tmp_path / "keys").iterdir()]
    for f in files:
        seen.append((f.name, f.read_text(encoding="utf-8-sig")))
    for archive in [tmp_path / "r.xlsx", *(tmp_path / "usb").glob("*.fieldbundle")]:
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                seen.append((f"{archive.name}:{name}", zf.read(name).decode("utf-8", "replace")))
        seen.append((archive.name, archive.name))
    assert any("********" in text for _, text in seen)  # masked numbers were on screen
    leaks = [(where, found) for where, text in seen for found in whole_ids(text)]
    assert leaks == []
    shutil.rmtree(tmp_path / "usb")
