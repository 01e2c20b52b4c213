"""Export onto a bad USB stick: missing folder, full, read-only, and a kill between the rename and the recording."""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from fieldapp import crypto
from fieldapp.cli import main
from fieldapp.sqlite import sqlite3
from fieldapp.store import Store

from ..conftest import COMMUNITY, STREET, elder_data, make_id

PASS = "correct horse battery staple"


@pytest.fixture
def device(tmp_path: Path) -> Path:
    """A device database with two elders and the district's public key: ready to export."""
    pub, _priv, _ = crypto.district_keygen(tmp_path / "keys", PASS)
    path = tmp_path / "device.db"
    with Store.open(path) as s:
        s.setup_device(street_code=STREET, community_code=COMMUNITY, worker="周红")
        s.install_district_key(*crypto.load_district_public(pub))
        for seq in (1, 2):
            s.create("elder", elder_data(id_number=make_id(date(1940, 1, seq), True, seq)))
    return path


def content(path: Path) -> str:
    """Every table's rows except db_state, hashed: the records and the export history are
    unchanged. db_state holds facts about the file itself (its size and time, and the mark of an
    export in progress, set and cleared): the file was written, so they change."""
    conn = sqlite3.connect(path)
    h = hashlib.sha256()
    for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'db_state' ORDER BY name"
    ):
        rows = sorted(repr(tuple(r)) for r in conn.execute(f'SELECT * FROM "{name}"'))
        h.update(f"{name}\n{chr(10).join(rows)}\n".encode())
    pending = conn.execute("SELECT count(*) FROM db_state WHERE key = 'export_pending'").fetchone()
    conn.close()
    return f"{h.hexdigest()} pending={pending[0]}"


def exports(path: Path) -> list[tuple[int, str]]:
    conn = sqlite3.connect(path)
    rows = [
        (int(r[0]), str(r[1]))
        for r in conn.execute("SELECT seq, file_name FROM exports ORDER BY seq")
    ]
    conn.close()
    return rows


def run_export(db: Path, out: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["export", "--db", str(db), "--out", str(out), *extra])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result.exit_code, result.output


def test_missing_folder_is_refused_unless_mkdir(device: Path, tmp_path: Path) -> None:
    stick = tmp_path / "U盘" / "同步"
    before = content(device)
    code, out = run_export(device, stick)
    assert code == 1
    assert "未找到U盘文件夹" in out and "--mkdir" in out
    assert not stick.exists() and not stick.parent.exists()
    assert content(device) == before and exports(device) == []
    code, out = run_export(device, stick, "--mkdir")
    assert code == 0, out
    assert stick.stat().st_mode & 0o777 == 0o700
    (bundle,) = stick.iterdir()
    assert bundle.stat().st_mode & 0o777 == 0o600
    assert exports(device) == [(1, bundle.name)]


def test_the_library_export_refuses_a_missing_folder_too(device: Path, tmp_path: Path) -> None:
    """Review: `export()` itself created a missing folder, so any caller that forgot
    `target_folder` put the bundle on the laptop's own disk; only `mkdir=True` creates it now."""
    from fieldapp.sync.export import ExportFault, export

    stick = tmp_path / "U盘" / "同步"
    before = content(device)
    with Store.open(device) as s, pytest.raises(ExportFault) as refused:
        export(s, stick)
    assert refused.value.zh == (
        f"未找到U盘文件夹：{stick}（请插好U盘；命令行导出可加 --mkdir 新建该文件夹）"
    )
    assert not stick.parent.exists()
    assert content(device) == before and exports(device) == []
    with Store.open(device) as s:
        result = export(s, stick, mkdir=True)
    assert stick.stat().st_mode & 0o777 == 0o700
    assert [p.name for p in stick.iterdir()] == [result.path.name]
    assert exports(device) == [(1, result.path.name)]


def _fault_fsync(monkeypatch: pytest.MonkeyPatch, stick: Path, code: int) -> None:
    """The stick's own fsync fails (a full FAT stick reports ENOSPC when the data is flushed);
    every other file (SQLite's, in C) is untouched."""
    real = os.fsync
    root = str(stick.resolve())

    def fsync(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").startswith(root):
            raise OSError(code, os.strerror(code))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc to find the file")
def test_full_stick_says_so_and_leaves_nothing(
    device: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stick = tmp_path / "stick"
    stick.mkdir()
    before = content(device)
    _fault_fsync(monkeypatch, stick, errno.ENOSPC)
    code, out = run_export(device, stick)
    assert code == 1
    assert "U盘已满" in out and "Traceback" not in out
    assert list(stick.iterdir()) == []  # no half bundle, no temporary file
    assert content(device) == before and exports(device) == []
    monkeypatch.undo()
    code, out = run_export(device, stick)  # a stick with room: the same export goes through
    assert code == 0, out
    assert [p.name for p in stick.iterdir()] == [exports(device)[0][1]]


def test_read_only_stick_says_so(
    device: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stick = tmp_path / "stick"
    stick.mkdir()
    before = content(device)
    if os.geteuid() == 0:  # root writes through a 0500 folder: the stick's open fails instead
        real_open = os.open
        root = str(stick.resolve())

        def ro_open(path: Any, flags: int, *args: Any, **kw: Any) -> int:
            writes = flags & (os.O_WRONLY | os.O_RDWR)
            if writes and str(Path(os.fsdecode(path)).resolve()).startswith(root):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS))
            return real_open(path, flags, *args, **kw)

        monkeypatch.setattr(os, "open", ro_open)
    else:
        stick.chmod(0o500)
    try:
        code, out = run_export(device, stick)
    finally:
        monkeypatch.undo()
        stick.chmod(0o700)
    assert code == 1
    assert "U盘只读" in out and "Traceback" not in out
    assert list(stick.iterdir()) == []
    assert content(device) == before and exports(device) == []


_KILL_AFTER_RENAME = """
import os, signal, sys
from pathlib import Path
from fieldapp.store import Store
from fieldapp.sync import export as ex

def die(path, *a, **k):  # called right after the bundle is renamed into place, before recording
    os.kill(os.getpid(), signal.SIGKILL)

ex.verify = die
with Store.open(Path(sys.argv[1]), create=False) as s:
    ex.export(s, Path(sys.argv[2]))
"""


def _killed_after_rename(device: Path, stick: Path) -> Path:
    """An export killed (SIGKILL) after its bundle was renamed into place on `stick`, before the
    export was recorded: the bundle it left."""
    stick.mkdir()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run(
        [sys.executable, "-c", _KILL_AFTER_RENAME, str(device), str(stick)],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == -9, proc.stderr.decode()
    (orphan,) = stick.iterdir()
    return orphan


def test_export_killed_after_rename_is_recovered(device: Path, tmp_path: Path) -> None:
    stick = tmp_path / "stick"
    orphan = _killed_after_rename(device, stick)
    assert orphan.name.endswith("-1.fieldbundle")
    assert exports(device) == []  # written, never recorded: today's "file exists" for ever after
    code, out = run_export(device, stick)
    assert code == 0, out
    assert f"已找回上次中断的导出 {orphan.name}" in out and "没有新的记录" in out
    assert exports(device) == [(1, orphan.name)]
    with Store.open(device) as s:
        s.create("elder", elder_data(name="李梅", id_number=make_id(date(1941, 2, 3), False, 7)))
    code, out = run_export(device, stick)
    assert code == 0, out
    assert [seq for seq, _ in exports(device)] == [1, 2]
    assert sorted(p.name for p in stick.iterdir()) == sorted(n for _, n in exports(device))


def test_a_damaged_orphan_of_a_killed_export_is_kept_aside_and_the_next_export_works(
    device: Path, tmp_path: Path
) -> None:
    """Killed after the rename, and the file then cut short (the stick pulled): the next export
    does not stop at "file exists"; the damaged file is renamed aside, not deleted."""
    stick = tmp_path / "stick"
    orphan = _killed_after_rename(device, stick)
    data = orphan.read_bytes()
    orphan.write_bytes(data[: len(data) // 2])
    code, out = run_export(device, stick)
    assert code == 0, out
    assert exports(device) == [(1, orphan.name)]
    assert orphan.is_file() and orphan.stat().st_size == len(data)  # a whole bundle again
    aside = stick / f"{orphan.name}.damaged"
    assert aside.read_bytes() == data[: len(data) // 2]
