"""The kit builder's parts that need no network: pins, platform tags, markers, hashes, scripts."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from fieldapp.kit import build as kbuild
from fieldapp.kit.resolve import closure, parse_wheel_name, requirements_text, wheels_in
from fieldapp.kit.scripts import GUIDE_NAME, KIT_FILES, write_kit_files
from fieldapp.kit.spec import PLATFORMS, KitError, pinned_dependencies, platforms_for, python_tag


def make_wheel(folder: Path, name: str, version: str, plat: str, *requires: str) -> Path:
    path = folder / f"{name}-{version}-py3-none-{plat}.whl"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{name}-{version}.dist-info/METADATA", meta)
    return path


def test_pins_are_read_from_pyproject() -> None:
    pins = pinned_dependencies()
    assert pins["textual"] == "8.2.8"
    assert pins["python-stdnum"] == "2.2"
    assert pins["pynacl"] == "1.6.2"
    assert pins["openpyxl"] == "3.1.5"  # the roster import reads .xlsx at run time
    assert pins["sqlcipher3-wheels"] == "0.5.7"  # encrypted databases (issue 18)
    assert len(pins) == 12


def test_an_unpinned_dependency_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "pyproject.toml"
    bad.write_text('[project]\ndependencies = ["click==8.5.1", "rich>=13"]\n', encoding="utf-8")
    with pytest.raises(KitError, match="'rich>=13' 未用 == 固定版本"):
        pinned_dependencies(bad)
    with pytest.raises(KitError, match="找不到"):
        pinned_dependencies(tmp_path / "missing.toml")


def test_platform_tags_are_real_wheel_tags() -> None:
    assert PLATFORMS["win_amd64"].tags == ("win_amd64",)
    assert PLATFORMS["linux_x86_64"].tags == ("manylinux_2_28_x86_64", "manylinux2014_x86_64")
    assert PLATFORMS["linux_aarch64"].tags[0] == "manylinux_2_28_aarch64"
    assert [p.key for p in platforms_for("all")] == ["win_amd64", "linux_x86_64", "linux_aarch64"]
    with pytest.raises(KitError, match="未知平台 mac"):
        platforms_for("mac")
    assert python_tag("3.11") == "py311"
    with pytest.raises(KitError, match="3.x"):
        python_tag("311")


def test_download_command_names_every_tag_and_binary_only(tmp_path: Path) -> None:
    cmd = kbuild.download_cmd(PLATFORMS["linux_x86_64"], "3.11", tmp_path, ["x==1"])
    assert cmd[:4] == [sys.executable, "-m", "pip", "download"]
    assert "--only-binary=:all:" in cmd
    i = cmd.index("--python-version")
    assert cmd[i + 1] == "3.11"
    assert [cmd[j + 1] for j, a in enumerate(cmd) if a == "--platform"] == [
        "manylinux_2_28_x86_64",
        "manylinux2014_x86_64",
    ]
    assert cmd[-1] == "x==1"


def test_closure_uses_the_targets_markers_and_extras(tmp_path: Path) -> None:
    make_wheel(tmp_path, "app", "1.0", "any", "click==8.5.1", "md[linkify]>=2")
    make_wheel(tmp_path, "click", "8.5.1", "any", 'colorama; platform_system == "Windows"')
    make_wheel(tmp_path, "md", "3.0", "any", 'linkify; extra == "linkify"', 'x; extra == "y"')
    make_wheel(tmp_path, "linkify", "2.0", "any")
    have = wheels_in(tmp_path)
    linux, missing = closure(["app==1.0"], have, PLATFORMS["linux_x86_64"].markers("3.11"))
    assert sorted(linux) == ["app", "click", "linkify", "md"]
    assert missing == []
    win, missing = closure(["app==1.0"], have, PLATFORMS["win_amd64"].markers("3.11"))
    assert missing == ['colorama; platform_system == "Windows"']
    make_wheel(tmp_path, "colorama", "0.4.6", "any")
    win, missing = closure(
        ["app==1.0"], wheels_in(tmp_path), PLATFORMS["win_amd64"].markers("3.11")
    )
    assert (sorted(win), missing) == (["app", "click", "colorama", "linkify", "md"], [])


def test_closure_refuses_a_wheel_outside_the_specifier(tmp_path: Path) -> None:
    make_wheel(tmp_path, "app", "1.0", "any", "md>=4")
    make_wheel(tmp_path, "md", "3.0", "any")
    with pytest.raises(KitError, match="不满足 md>=4"):
        closure(["app"], wheels_in(tmp_path), PLATFORMS["win_amd64"].markers("3.11"))


def test_wheel_names_are_normalized() -> None:
    assert parse_wheel_name("python_stdnum-2.2-py3-none-any.whl") == ("python-stdnum", "2.2", "any")
    assert parse_wheel_name("pynacl-1.6.2-cp38-abi3-win_amd64.whl")[2] == "win_amd64"
    with pytest.raises(KitError, match="不合规则"):
        parse_wheel_name("nope.whl")


def test_requirements_pin_every_wheel_with_its_sha256(tmp_path: Path) -> None:
    a = make_wheel(tmp_path, "python_stdnum", "2.2", "any")
    make_wheel(tmp_path, "click", "8.5.1", "any")
    text = requirements_text(wheels_in(tmp_path), "fieldapp 0.1.0, win_amd64-py311")
    digest = hashlib.sha256(a.read_bytes()).hexdigest()
    lines = text.splitlines()
    assert lines[0] == "# fieldapp 0.1.0, win_amd64-py311"
    assert lines[1] == "click==8.5.1 \\"
    assert lines[3:5] == ["python-stdnum==2.2 \\", f"    --hash=sha256:{digest}"]


def test_kit_files_have_the_encoding_their_reader_expects(tmp_path: Path) -> None:
    write_kit_files(tmp_path, {"VERSION": "0.1.0", "PLATFORMS": "win_amd64", "PYTHONS": "py311"})
    bat = (tmp_path / "install.bat").read_bytes()
    assert bat.isascii() and b"\r\n" in bat and b"\n" not in bat.replace(b"\r\n", b"")
    assert b"-ExecutionPolicy Bypass -File" in bat
    ps1 = (tmp_path / "install.ps1").read_bytes()
    assert ps1.startswith(b"\xef\xbb\xbf") and b"\n" not in ps1.replace(b"\r\n", b"")
    ps = ps1.decode("utf-8-sig")
    assert "pip install --no-index --find-links $Dir --require-hashes -r $Req" in ps
    assert "WScript.Shell" in ps and "wt.exe" in ps
    sh = (tmp_path / "install.sh").read_bytes()
    assert b"\r" not in sh and sh.startswith(b"#!/bin/sh\n")
    assert b'--no-index --find-links "$DIR" --require-hashes -r "$REQ"' in sh
    guide = (tmp_path / GUIDE_NAME).read_bytes().decode("utf-8-sig")
    assert "本安装包：fieldapp 0.1.0，适用平台：win_amd64，Python：py311。" in guide
    assert "@" + "VERSION@" not in guide
    assert {f.name for f in KIT_FILES} == {p.name for p in tmp_path.iterdir()}


@pytest.mark.skipif(sys.platform == "win32", reason="runs the POSIX shell script")
def test_install_sh_is_valid_shell_and_refuses_an_unknown_version(tmp_path: Path) -> None:
    write_kit_files(tmp_path, {"VERSION": "1", "PLATFORMS": "x", "PYTHONS": "y"})
    (tmp_path / "versions" / "0.1.0").mkdir(parents=True)
    (tmp_path / "versions" / "LATEST").write_text("0.1.0\n", encoding="ascii")
    assert subprocess.run(["sh", "-n", str(tmp_path / "install.sh")], check=False).returncode == 0
    done = subprocess.run(
        ["sh", str(tmp_path / "install.sh"), "--version", "9.9", "--venv", str(tmp_path / "v")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == "安装失败：本安装包中没有版本 9.9（有：0.1.0 ）"


def test_newest_version_orders_numerically(tmp_path: Path) -> None:
    for v in ("0.9.0", "0.10.0", "0.2.1"):
        (tmp_path / v).mkdir()
    (tmp_path / "LATEST").write_text("x", encoding="ascii")
    assert kbuild.newest(tmp_path) == "0.10.0"
