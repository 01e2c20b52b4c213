"""What a kit targets: the platforms with their real wheel tags and marker values, and the pins."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent.parent


class KitError(Exception):
    """A kit cannot be built as asked; the message says why (the builder prints it, no traceback)."""


@dataclass(frozen=True)
class Platform:
    """A target laptop. `tags` go to `pip download --platform`; `markers` evaluate the
    dependencies' environment markers for the target, because pip evaluates them for the
    machine that builds the kit (click needs colorama on Windows only)."""

    key: str
    tags: tuple[str, ...]
    os_name: str
    sys_platform: str
    platform_system: str
    machine: str

    def markers(self, python: str) -> dict[str, str]:
        return {
            "os_name": self.os_name,
            "sys_platform": self.sys_platform,
            "platform_system": self.platform_system,
            "platform_machine": self.machine,
            "platform_release": "",
            "platform_version": "",
            "python_version": python,
            "python_full_version": f"{python}.0",
            "implementation_name": "cpython",
            "implementation_version": f"{python}.0",
            "platform_python_implementation": "CPython",
        }


# glibc 2.28 is the floor: UOS 20, Kylin V10 and Debian 10 ship it; pip also accepts every
# older manylinux tag below the one named (manylinux2014 = 2.17).
PLATFORMS: dict[str, Platform] = {
    "win_amd64": Platform("win_amd64", ("win_amd64",), "nt", "win32", "Windows", "AMD64"),
    "linux_x86_64": Platform(
        "linux_x86_64",
        ("manylinux_2_28_x86_64", "manylinux2014_x86_64"),
        "posix",
        "linux",
        "Linux",
        "x86_64",
    ),
    "linux_aarch64": Platform(
        "linux_aarch64",
        ("manylinux_2_28_aarch64", "manylinux2014_aarch64"),
        "posix",
        "linux",
        "Linux",
        "aarch64",
    ),
}

_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([A-Za-z0-9.+!_-]+)\s*$")


def platforms_for(choice: str) -> list[Platform]:
    """A kit rebuilt for one version replaces that version's folder, so name every target of
    that version in one build (`--platform` is repeatable)."""
    if choice == "all":
        return list(PLATFORMS.values())
    if choice not in PLATFORMS:
        raise KitError(f"未知平台 {choice}（可选：{', '.join(PLATFORMS)}, all）")
    return [PLATFORMS[choice]]


def python_tag(python: str) -> str:
    """ "3.11" -> "py311", the suffix of the requirements file for that Python."""
    if not re.fullmatch(r"3\.\d{1,2}", python):
        raise KitError(f"--python 须为 3.x 形式，如 3.11（收到 {python!r}）")
    return "py" + python.replace(".", "")


def pinned_dependencies(pyproject: Path | None = None) -> dict[str, str]:
    """The runtime dependencies of pyproject.toml, each of which must be pinned with `==`: a kit
    built from ranges would not be reproducible, and the laptops must get what CI tested."""
    path = pyproject or _ROOT / "pyproject.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KitError(f"找不到 {path}：请在 fieldapp 源码目录中构建安装包") from None
    except tomllib.TOMLDecodeError as e:
        raise KitError(f"{path} 不是有效的 TOML：{e}") from None
    deps = data.get("project", {}).get("dependencies", [])
    pins: dict[str, str] = {}
    for dep in deps:
        m = _PIN.match(dep) if isinstance(dep, str) else None
        if not m:
            raise KitError(f"依赖 {dep!r} 未用 == 固定版本（安装包只收固定版本）")
        pins[normalize(m.group(1))] = m.group(2)
    return pins


def normalize(name: str) -> str:
    """PEP 503 name: wheel files spell `python_stdnum`, requirements `python-stdnum`."""
    return re.sub(r"[-_.]+", "-", name).lower()
