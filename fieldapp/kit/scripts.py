"""The kit's text files, each written in the encoding and line endings its reader expects."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

GUIDE_NAME = "安装说明.md"


@dataclass(frozen=True)
class KitFile:
    """cmd.exe reads a .bat in the OEM code page and mishandles LF-only labels: ASCII + CRLF.
    Windows PowerShell 5.1 reads a .ps1 without BOM as ANSI (GBK): UTF-8 with BOM. Notepad before
    Windows 10 1809 shows LF-only text as one line: the guide gets CRLF and a BOM. sh wants LF."""

    name: str
    template: str
    newline: str
    bom: bool
    ascii_only: bool = False
    executable: bool = False


KIT_FILES = (
    KitFile("install.sh", "install.sh", "\n", bom=False, executable=True),
    KitFile("install.bat", "install.bat", "\r\n", bom=False, ascii_only=True),
    KitFile("install.ps1", "install.ps1", "\r\n", bom=True),
    KitFile(GUIDE_NAME, "guide.md", "\r\n", bom=True),
)


def template(name: str) -> str:
    return resources.files("fieldapp.kit").joinpath("templates", name).read_text(encoding="utf-8")


def render(f: KitFile, values: dict[str, str]) -> bytes:
    text = template(f.template)
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    if f.ascii_only and not text.isascii():
        raise ValueError(f"{f.name} must stay ASCII")
    text = text.replace("\r\n", "\n").replace("\n", f.newline)
    return ("\ufeff" if f.bom else "").encode("utf-8") + text.encode("utf-8")


def write_kit_files(out: Path, values: dict[str, str]) -> list[Path]:
    written = []
    for f in KIT_FILES:
        path = out / f.name
        path.write_bytes(render(f, values))
        if f.executable and os.name == "posix":  # Windows has no execute bit; sh install.sh works
            path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        written.append(path)
    return written
