"""The core never imports textual (STYLE: the CLI and the TUI call the same core)."""

from __future__ import annotations

import subprocess
import sys

CORE = [
    "fieldapp.models",
    "fieldapp.db",
    "fieldapp.store",
    "fieldapp.reference",
    "fieldapp.hlc",
    "fieldapp.ids",
    "fieldapp.demo",
    "fieldapp.paths",
]


def test_core_modules_do_not_import_textual() -> None:
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in CORE)
        + "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        + "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
