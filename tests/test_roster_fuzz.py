"""Fuzzing the roster parser: random bytes and random CSV text are refused with a reason or read, never a traceback."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fieldapp.roster import Options, RosterRefused, analyse
from fieldapp.store import Store

from .conftest import COMMUNITY, STREET

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
HEADERS = ["姓名", "身份证号", "性别", "出生日期", "住址", "居住状况", "独居", "低保", "", "x"]


def _store(tmp_path: Path) -> Store:
    path = tmp_path / "fuzz.db"
    s = Store.open(path)
    if s.device() is None:
        s.setup_device(street_code=STREET, community_code=COMMUNITY, worker="周红")
    return s


def _no_traceback(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with _store(tmp_path) as s:
        try:
            a = analyse(s, path, "elder", Options())
        except RosterRefused as e:
            assert e.zh
        else:
            assert a.rows_read == len(a.ready) + len(a.existing) + len(a.bad_rows)


@SETTINGS
@given(st.binary(max_size=2000))
def test_random_bytes_never_escape(tmp_path: Path, data: bytes) -> None:
    _no_traceback(tmp_path, "r.bin", data)


@SETTINGS
@given(
    st.lists(
        st.lists(st.one_of(st.sampled_from(HEADERS), st.text(max_size=20)), max_size=10),
        max_size=15,
    ),
    st.sampled_from(["utf-8", "gb18030", "utf-16"]),
)
def test_random_csv_text_never_escapes(tmp_path: Path, rows: list[list[str]], enc: str) -> None:
    text = "\n".join(",".join(r) for r in [HEADERS[:6], *rows])
    _no_traceback(tmp_path, "r.csv", text.encode(enc, errors="replace"))


@SETTINGS
@given(st.binary(max_size=800))
def test_random_zip_members_never_escape(tmp_path: Path, member: bytes) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("xl/workbook.xml", member)
        z.writestr("[Content_Types].xml", member[:100])
    _no_traceback(tmp_path, "r.xlsx", buf.getvalue())
