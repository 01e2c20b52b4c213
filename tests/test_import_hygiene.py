"""The core never imports textual (STYLE: the CLI and the TUI call the same core).

The modules are listed by walking the package, so a new core module is covered the day it is
added; only fieldapp.tui (the two apps) may import textual, and the benchmark harness, which
starts the apps in child processes, is checked like any other module.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import fieldapp

UI = "fieldapp.tui"


def _walk(folder: Path, prefix: str) -> list[str]:
    """Module names under `folder` without importing any (pkgutil.walk_packages would import the
    packages it descends into, fieldapp.tui among them)."""
    names = []
    for m in pkgutil.iter_modules([str(folder)], prefix):
        if m.name == UI or m.name.endswith(".__main__"):  # __main__ runs its command on import
            continue
        names.append(m.name)
        if m.ispkg:
            names += _walk(folder / m.name.rsplit(".", 1)[-1], m.name + ".")
    return names


def core_modules() -> list[str]:
    return ["fieldapp", *sorted(_walk(Path(fieldapp.__file__).parent, "fieldapp."))]


def test_the_walk_finds_the_whole_core() -> None:
    found = set(core_modules())
    for name in (
        "fieldapp.models",
        "fieldapp.db",
        "fieldapp.store",
        "fieldapp.report",
        "fieldapp.review",
        "fieldapp.cli",
        "fieldapp.sync.bundle",
        "fieldapp.crypto",
        "fieldapp.sync.export",
        "fieldapp.sync.merge",
        "fieldapp.bench",
        "fieldapp.bench.figures",
    ):
        assert name in found
    assert not any(n == UI or n.startswith(UI + ".") or n.endswith("__main__") for n in found)


def test_core_modules_do_not_import_textual() -> None:
    """One fresh interpreter imports them in turn and names the first that brought textual in."""
    code = (
        "import importlib, sys\n"
        "for name in sys.argv[1:]:\n"
        "    importlib.import_module(name)\n"
        "    if any(m == 'textual' or m.startswith('textual.') for m in sys.modules):\n"
        "        print(name)\n"
        "        break\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *core_modules()], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""
