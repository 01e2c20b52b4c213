"""The worker's manual (docs/使用手册.md) shows the screens as they are: each capture block is regenerated and compared.

A block is a fenced ```text block right after `<!-- capture: NAME -->`. The captures come from a
fixed demo database on a fixed day at 80×24. When a screen changes on purpose, rewrite them with

    FIELDAPP_UPDATE_MANUAL=1 python -m pytest tests/test_manual.py

and read the diff of the manual before committing it.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from datetime import date
from pathlib import Path

import pytest

from fieldapp.demo import generate_community
from fieldapp.tui.app import FieldApp

from .tui.manual_capture import captures, frozen_today

MANUAL = Path(__file__).resolve().parent.parent / "docs" / "使用手册.md"
DAY = date(2026, 11, 30)
UPDATE = os.environ.get("FIELDAPP_UPDATE_MANUAL") == "1"
BLOCK = re.compile(r"(<!-- capture: ([a-z_]+) -->\n```text\n)(.*?)(```)", re.S)
FINGERPRINT = re.compile(r"[0-9A-F]{4}(?:-[0-9A-F]{4}){7}")
SHOWN_FINGERPRINT = "B3A9-E4CD-C35A-83D8-EFE2-BE6B-C3F7-419B"
SHOWN_FOLDER = "/media/usb"

# one run of the app each: the database ("demo" or "new") and the scenes, each a capture after
# its keys (pressed after the scene before it). F2–F10 reach the screens even when a text box has
# the focus (the elder search, the meal grid's date), where a digit would be typed into the box
RUNS: list[tuple[str, list[tuple[str, tuple[str, ...]]]]] = [
    ("new", [("first_run", ())]),
    (
        "demo",
        [
            ("dashboard", ()),
            ("elders", ("f3",)),
            ("home_visit", ("f4",)),
            ("assessment", ("f5",)),
            ("volunteer_event", ("f8",)),
            ("meals", ("f7",)),
            ("sync", ("f10",)),
        ],
    ),
    ("demo", [("visit_form", ("enter",))]),
    ("demo", [("new_elder_refused", ("2", "n", "ctrl+s"))]),
]
SCENES = [name for _, scenes in RUNS for name, _ in scenes]
PROGRESS = re.compile(r"^[━╺╸]+(?=\s+--%$)", re.M)


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("manual") / "demo.db"
    generate_community(path, seed=1, today=DAY, elders=40)
    return path


def _normalise(text: str, folder: str) -> str:
    """What changes from one machine to the next: the device key and the default folder (the
    replacements keep each line's width)."""
    text = FINGERPRINT.sub(SHOWN_FINGERPRINT, text)
    text = PROGRESS.sub(lambda m: "━" * len(m.group(0)), text)  # an idle bar's animation
    for n in range(len(folder), 5, -1):  # the folder box may show only the folder's start
        if folder[:n] in text:
            return text.replace(folder[:n], SHOWN_FOLDER[:n].ljust(n))
    return text


async def _run(
    source: str, scenes: list[tuple[str, tuple[str, ...]]], demo_db: Path, tmp_path: Path
) -> dict[str, str]:
    db = tmp_path / f"{scenes[0][0]}.db"
    if source == "demo":
        shutil.copyfile(demo_db, db)  # a run may save: each starts from the same data
    with frozen_today(DAY):
        texts = await captures(FieldApp(db, lang="zh"), [keys for _, keys in scenes], (80, 24))
    return {name: text for (name, _), text in zip(scenes, texts, strict=True)}


def test_every_scene_has_a_block_and_every_block_a_scene() -> None:
    names = [m.group(2) for m in BLOCK.finditer(MANUAL.read_text(encoding="utf-8"))]
    assert sorted(names) == sorted(SCENES)


async def test_manual_captures_are_current(
    demo_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manual = MANUAL.read_text(encoding="utf-8")
    # a short home folder (the sync screen's default folder), shown as /media/usb
    home = tempfile.mkdtemp(prefix="u", dir="/tmp" if os.name == "posix" else None)
    monkeypatch.setenv("HOME", home)
    monkeypatch.setenv("USERPROFILE", home)
    fresh: dict[str, str] = {}
    try:
        for source, scenes in RUNS:
            fresh |= await _run(source, scenes, demo_db, tmp_path)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    fresh = {name: _normalise(text, home) for name, text in fresh.items()}
    if UPDATE:
        updated = BLOCK.sub(lambda m: m.group(1) + fresh[m.group(2)] + "\n" + m.group(4), manual)
        MANUAL.write_text(updated, encoding="utf-8")
        manual = updated
    stale = [m.group(2) for m in BLOCK.finditer(manual) if m.group(3) != fresh[m.group(2)] + "\n"]
    assert not stale, (
        f"docs/使用手册.md: the captures {stale} differ from the screens; if the change is "
        "intended, run FIELDAPP_UPDATE_MANUAL=1 python -m pytest tests/test_manual.py"
    )
