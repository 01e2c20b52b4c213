"""The `fieldapp` command: help on every command, init, demo, status, community import; exit codes."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from fieldapp import __version__
from fieldapp.cli import main
from fieldapp.store import Store

from .conftest import COMMUNITY, STREET


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            out += _commands(cmd, (*prefix, name))
        else:
            out.append((*prefix, name))
    return out


@pytest.mark.parametrize("path", _commands(main), ids=lambda p: " ".join(p) or "fieldapp")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    for flag in ("-h", "--help"):
        result = CliRunner().invoke(main, [*path, flag])
        assert result.exit_code == 0, result.output
        assert "Usage:" in result.output
    cmd: click.Command = main
    for name in path:
        assert isinstance(cmd, click.Group)
        cmd = cmd.commands[name]
    assert cmd.help and cmd.help.strip()


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_init_sets_up_the_device(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    result = CliRunner().invoke(
        main,
        ["init", "--db", str(db), "--street", STREET, "--community", COMMUNITY, "--worker", "周红"],
    )
    assert result.exit_code == 0, result.output
    with Store.open(db) as s:
        dev = s.device()
        assert dev is not None and dev.worker == "周红" and dev.community_code == COMMUNITY
    again = CliRunner().invoke(
        main,
        ["init", "--db", str(db), "--street", STREET, "--community", COMMUNITY, "--worker", "周红"],
    )
    assert again.exit_code == 1 and "已设置" in again.output


def test_init_with_unknown_community_fails_clearly(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "init",
            "--db",
            str(tmp_path / "w.db"),
            "--street",
            STREET,
            "--community",
            "321202001999",
            "--worker",
            "周红",
        ],
    )
    assert result.exit_code == 1 and "社区代码「321202001999」不存在" in result.output


def test_demo_then_status_prints_counts(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    result = CliRunner().invoke(
        main, ["demo", "--db", str(db), "--elders", "30", "--today", "2026-06-30"]
    )
    assert result.exit_code == 0, result.output
    assert "老年人档案" in result.output and "用时" in result.output
    status = CliRunner().invoke(main, ["status", "--db", str(db)])
    assert status.exit_code == 0
    line = next(x for x in status.output.splitlines() if "Elder" in x)
    assert int(line.split()[-1].replace(",", "")) == 30
    refused = CliRunner().invoke(main, ["demo", "--db", str(db)])
    assert refused.exit_code == 1 and "已存在" in refused.output


def test_demo_refuses_a_future_today(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["demo", "--db", str(tmp_path / "x.db"), "--today", "2999-01-01"]
    )
    assert result.exit_code == 2 and "今天" in result.output


def test_status_on_missing_database_fails(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["status", "--db", str(tmp_path / "missing.db")])
    assert result.exit_code == 1 and "不存在" in result.output


def test_communities_import_good_and_bad(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    good = tmp_path / "good.csv"
    good.write_text(
        "code,street_code,name_zh,pop_60,pop_80\n321202001001,321202001,东风社区,1500,200\n",
        encoding="utf-8",
    )
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "code,street_code,name_zh,pop_60,pop_80\n321202001001,321202001,东风社区,1500,2000\n",
        encoding="utf-8",
    )
    r1 = CliRunner().invoke(main, ["communities", "import", "--db", str(db), str(good)])
    assert r1.exit_code == 0, r1.output
    r2 = CliRunner().invoke(main, ["communities", "import", "--db", str(db), str(bad)])
    assert r2.exit_code == 1 and "第2行" in r2.output and "数据库未改动" in r2.output
    listed = CliRunner().invoke(main, ["communities", "list", "--db", str(db)])
    assert "东风社区" in listed.output and "60+=1500" in listed.output


def test_db_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "env.db"
    monkeypatch.setenv("FIELDAPP_DB", str(db))
    result = CliRunner().invoke(
        main, ["init", "--street", STREET, "--community", COMMUNITY, "--worker", "周红"]
    )
    assert result.exit_code == 0 and db.exists()


def test_the_group_options_reach_every_subcommand(tmp_path: Path) -> None:
    """`fieldapp --db x.db device-key show` and `fieldapp --db x.db status` read x.db (issue 15.3)."""
    db = tmp_path / "x.db"
    made = CliRunner().invoke(
        main,
        ["init", "--db", str(db), "--street", STREET, "--community", COMMUNITY, "--worker", "周红"],
    )
    assert made.exit_code == 0, made.output
    shown = CliRunner().invoke(main, ["--db", str(db), "device-key", "show"])
    assert shown.exit_code == 0, shown.output
    assert "区级公钥指纹 district key: 未安装" in shown.output
    status = CliRunner().invoke(main, ["--db", str(db), "status"])
    assert status.exit_code == 0 and "工作人员 周红" in status.output
    missing = CliRunner().invoke(main, ["--db", str(tmp_path / "none.db"), "status"])
    assert missing.exit_code != 0


def test_demo_option_reaches_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fieldapp import paths

    demo = tmp_path / "demo.db"
    made = CliRunner().invoke(main, ["demo", "--db", str(demo), "--elders", "20"])
    assert made.exit_code == 0, made.output
    monkeypatch.setattr(paths, "demo_db", lambda: demo)
    status = CliRunner().invoke(main, ["--demo", "status"])
    assert status.exit_code == 0, status.output
    assert "工作人员 方萍云" in status.output and "老年人档案" in status.output


def test_no_district_key_names_device_key_install(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    CliRunner().invoke(
        main,
        ["init", "--db", str(db), "--street", STREET, "--community", COMMUNITY, "--worker", "周红"],
    )
    out = CliRunner().invoke(main, ["--db", str(db), "export", "--out", str(tmp_path)])
    assert out.exit_code != 0
    assert "fieldapp device-key install" in out.output and "init --district-key" not in out.output
