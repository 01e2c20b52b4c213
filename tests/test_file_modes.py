"""Every file fieldapp makes in a whole month's flow is born 0600, every folder it makes 0700, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldapp.cli import main
from fieldapp.mergelog import MergeLog
from fieldapp.store import Store
from fieldapp.sync.merge import merge_files

from .conftest import COMMUNITY, STREET, elder_data, make_id

PASS = "一句够长的口令 for tests"
# public keys are meant to be handed out: the only files that need not be private
PUBLIC = {"district.public.json", "device.pub.json"}


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The usual umask 022: a file opened without a mode would come out 0644, a folder 0755."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, (args, result.output, result.exc_info)
    return result.output


def test_every_file_of_a_full_flow_is_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, open_umask: None
) -> None:
    monkeypatch.delenv("FIELDAPP_UNENCRYPTED")  # encrypted databases and their key files
    monkeypatch.setenv("FIELDAPP_PASSPHRASE", PASS)
    monkeypatch.setenv("FIELDAPP_KEY_PASSPHRASE", PASS)
    mine = tmp_path / "flow"
    mine.mkdir(mode=0o700)
    keys, dev, dist = (
        mine / "keys",
        mine / "laptop" / "data" / "device.db",
        mine / "district" / "district.db",
    )
    stick, usb2 = mine / "U盘" / "sync", mine / "usb2"
    usb2.mkdir(mode=0o700)  # the user's own folder: only what fieldapp writes into it counts
    run("district", "keygen", "--out", str(keys))
    run("init", "--db", str(dev), "--street", STREET, "--community", COMMUNITY, "--worker", "周红",
        "--district-key", str(keys / "district.public.json"))  # fmt: skip
    with Store.open(dev) as s:
        s.create("elder", elder_data(id_number=make_id(date(1941, 5, 6), False, 3)))
    run("device-key", "show", "--db", str(dev), "--out", str(mine / "device.pub.json"))
    run("export", "--db", str(dev), "--out", str(stick), "--mkdir")
    run("district", "init", "--db", str(dist))
    run("district", "enroll", "--db", str(dist), str(mine / "device.pub.json"), "--yes")
    out = run("merge", str(stick), "--db", str(dist), "--key", str(keys / "district.private.json"))
    assert "已合并" in out
    run("backup", "--db", str(dev))
    run("backup", "--db", str(dist), "--to", str(usb2))
    with Store.open(dist) as d:  # the supervisor app's merge log; -wal and -shm while it is open
        log = MergeLog([stick], merge_files(d.conn, sorted(stick.iterdir()))).save(dist)
        assert log.parent == dist.parent
        sides = [dist.with_name(dist.name + s) for s in ("-wal", "-shm")]
        assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in sides} == {
            "district.db-wal": "0o600",
            "district.db-shm": "0o600",
        }

    files, folders = {}, {}
    for p in sorted(mine.rglob("*")):
        mode = stat.S_IMODE(p.stat().st_mode)
        (folders if p.is_dir() else files)[str(p.relative_to(mine))] = mode
    made = {name for name in files if Path(name).name not in PUBLIC}
    # the flow made what it should: both databases, their key files, copies, the bundle
    for expected in ("laptop/data/device.db", "laptop/data/device.db.key.json",
                     "district/district.db", "district/district.db.key.json",
                     "keys/district.private.json", "keys/district.recovery.json"):  # fmt: skip
        assert expected in made
    assert any(n.startswith("district/district.db.pre-merge-") for n in made)
    assert any(n.startswith("laptop/data/device.db.manual-") for n in made)
    assert any(n.startswith("usb2/district.db.manual-") for n in made)
    assert any(n.startswith("U盘/sync/") and n.endswith(".fieldbundle") for n in made)
    assert any(n.startswith("district/district-merge-") for n in made)
    assert {n: oct(m) for n, m in files.items() if n in made and m != 0o600} == {}
    assert {n: oct(m) for n, m in folders.items() if m != 0o700} == {}
