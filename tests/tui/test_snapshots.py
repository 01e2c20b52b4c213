"""Every worker screen at 80×24 as text, compared with the committed capture (tests/tui/__snapshots__).

A layout change that clips a column, a header or a footer key changes the text and fails here.
After a deliberate change: FIELDAPP_SNAPSHOT_UPDATE=1 python -m pytest tests/tui/test_snapshots.py
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from .capture import TODAY, capture

HERE = Path(__file__).parent / "__snapshots__"
FINGERPRINT = re.compile(r"[0-9A-F]{4}(?:-[0-9A-F]{4}){7}")

CASES: dict[str, tuple[tuple[str, ...], str]] = {
    "dashboard_zh": ((), "zh"),
    "elders_zh": (("2",), "zh"),
    "home_visit_zh": (("3",), "zh"),
    "assessment_zh": (("4",), "zh"),
    "retrofit_zh": (("5",), "zh"),
    "meals_zh": (("6",), "zh"),
    "volunteer_event_zh": (("7",), "zh"),
    "volunteer_zh": (("8",), "zh"),
    "sync_zh": (("9",), "zh"),
    "elder_page_zh": (("2", "enter"), "zh"),
    "help_zh": (("f1",), "zh"),
    "assessment_form_zh": (("2", "enter", "a"), "zh"),
    "assessment_form_errors_zh": (("2", "enter", "a", "ctrl+s"), "zh"),
    "elder_form_zh": (("2", "n"), "zh"),
    "volunteer_event_form_zh": (("7", "n"), "zh"),
    "delete_visit_zh": (("3", "delete"), "zh"),
    "dashboard_en": ((), "en"),
    "elders_en": (("2",), "en"),
    "meals_en": (("6",), "en"),
}


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from fieldapp.demo import generate_community

    old = os.environ.get("FIELDAPP_TODAY")
    os.environ["FIELDAPP_TODAY"] = TODAY
    path = tmp_path_factory.mktemp("snap") / "demo.db"
    generate_community(path, seed=1, today=date.fromisoformat(TODAY), elders=40)
    yield path
    if old is None:
        os.environ.pop("FIELDAPP_TODAY", None)
    else:
        os.environ["FIELDAPP_TODAY"] = old


@pytest.mark.parametrize("name", sorted(CASES))
async def test_screen_at_80x24(name: str, demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDAPP_TODAY", TODAY)
    keys, lang = CASES[name]
    # each capture opens a copy: a screen that saves must not change the next one's data
    text = await capture(demo_db, keys, lang=lang)
    text = "\n".join(line for line in text.splitlines() if "▏^p" not in line) + "\n"
    text = text.replace(str(Path.home()), "~")  # the sync screen's folder starts at home
    text = FINGERPRINT.sub("XXXX-…", text)  # the demo's device key is new each time
    snap = HERE / f"{name}.txt"
    if os.environ.get("FIELDAPP_SNAPSHOT_UPDATE") or not snap.exists():
        HERE.mkdir(exist_ok=True)
        snap.write_text(text, encoding="utf-8")
    assert text == snap.read_text(encoding="utf-8")
