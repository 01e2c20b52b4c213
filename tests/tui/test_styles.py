"""Screen styles live in .tcss files beside their screens (a widget's own look in its DEFAULT_CSS),
and those files ship in the wheel."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from textual.screen import Screen

ROOT = Path(__file__).resolve().parents[2]
TUI = ROOT / "fieldapp" / "tui"
MODULES = [
    "fieldapp.tui.app",
    "fieldapp.tui.forms",
    "fieldapp.tui.district",
    "fieldapp.tui.district_report",
    "fieldapp.tui.decision",
    "fieldapp.tui.decisions",
    *[
        f"fieldapp.tui.screens.{p.stem}"
        for p in (TUI / "screens").glob("*.py")
        if p.stem != "__init__"
    ],
]


def _screens() -> list[type[Screen[object]]]:
    found: dict[str, type[Screen[object]]] = {}
    for name in MODULES:
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Screen) and cls.__module__ == name:
                found[f"{name}.{cls.__name__}"] = cls
    return list(found.values())


def test_every_screen_reads_its_style_from_a_tcss_file_beside_it() -> None:
    screens = _screens()
    assert len(screens) >= 15
    for cls in screens:
        assert "DEFAULT_CSS" not in cls.__dict__, cls
        if "CSS_PATH" in cls.__dict__:
            path = Path(inspect.getfile(cls)).with_name(str(cls.CSS_PATH))
            assert path.is_file() and path.suffix == ".tcss", cls
            assert cls.__name__ in path.read_text(encoding="utf-8"), cls


@pytest.mark.skipif(not (ROOT / "pyproject.toml").exists(), reason="needs the source checkout")
def test_the_wheel_carries_every_tcss_file(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    names = set(zipfile.ZipFile(next(tmp_path.glob("fieldapp-*.whl"))).namelist())
    shipped = {p.relative_to(ROOT).as_posix() for p in TUI.rglob("*.tcss")}
    assert len(shipped) >= 12 and shipped <= names  # every .tcss beside its screen ships
