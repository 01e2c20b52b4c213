"""Files the laptops write that Windows tools read: bundle names valid on FAT32/exFAT sticks, CSV for Excel."""

from __future__ import annotations

import re
import uuid
from datetime import date
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from fieldapp import report
from fieldapp.store import Store
from fieldapp.sync.bundle import SUFFIX, bundle_name

# FAT32 and exFAT refuse these characters and the control characters in a name; Windows also
# refuses a name ending in a dot or a space, and the device names as the stem.
FAT_FORBIDDEN = re.compile(r'[<>:"/\\|?*\x00-\x1f]')
RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10))}
RESERVED |= {f"LPT{i}" for i in range(1, 10)}


def fat_problems(name: str) -> list[str]:
    problems = []
    if FAT_FORBIDDEN.search(name):
        problems.append("forbidden character")
    if name.endswith((".", " ")):
        problems.append("ends with a dot or space")
    if name.split(".")[0].upper() in RESERVED:
        problems.append("reserved device name")
    if len(name) > 255:
        problems.append("longer than 255")
    return problems


def test_fat_rule_refuses_what_windows_refuses() -> None:
    assert fat_problems("321202001901-2025-11T10:00-ab.fieldbundle") == ["forbidden character"]
    assert fat_problems("CON.fieldbundle") == ["reserved device name"]
    assert fat_problems("a.") == ["ends with a dot or space"]


def test_a_bundle_name_as_written() -> None:
    name = bundle_name("321202001901", "2025-11", "019ad759-38a0-7c2e-9193-84d322cc64f9", 3)
    assert name == "321202001901-2025-11-019ad759-3.fieldbundle"
    assert fat_problems(name) == []
    assert fat_problems(f".{name}.tmp") == []  # the atomic write's temporary name


@given(
    community=st.from_regex(r"3212[0-9]{8}", fullmatch=True),
    year=st.integers(2000, 2100),
    month=st.integers(1, 12),
    device=st.uuids(),
    seq=st.integers(1, 10**6),
)
def test_every_bundle_name_is_valid_on_fat32_and_exfat(
    community: str, year: int, month: int, device: uuid.UUID, seq: int
) -> None:
    name = bundle_name(community, f"{year:04d}-{month:02d}", str(device), seq)
    assert fat_problems(name) == []
    assert name.endswith(SUFFIX)


def test_report_csv_lines_end_with_crlf_for_excel(tmp_path: Path) -> None:
    s = Store.open(tmp_path / "r.db")
    communities = tmp_path / "c.csv"
    communities.write_text(
        "code,street_code,name_zh,pop_60,pop_80\n321202001901,321202001,东一社区,1000,150\n",
        encoding="utf-8",
    )
    s.import_communities(communities)
    s.setup_device(street_code="321202001", community_code="321202001901", worker="周红")
    r = report.build(s.conn, 2025, today=date(2026, 11, 30))
    out = tmp_path / "r.csv"
    report.write_csv(r, out, report.levels_for("community"))
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfarea_level,")
    lines = data.split(b"\r\n")
    assert lines[-1] == b""  # the file ends with CRLF
    assert len(lines) - 1 == 1 + sum(
        1 for f in r.figures if f.area_level in ("district", "street", "community")
    )
    assert b"\n" not in b"".join(lines)  # no bare LF anywhere


def test_the_old_windows_console_gets_one_warning_windows_terminal_and_linux_none() -> None:
    from fieldapp.cli.root import old_console_warning

    warning = old_console_warning("win32", {})
    assert warning is not None and "Windows Terminal" in warning and "中文可能错位" in warning
    assert old_console_warning("win32", {"WT_SESSION": "5b7d"}) is None
    assert old_console_warning("linux", {}) is None
