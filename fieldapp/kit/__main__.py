"""`python -m fieldapp.kit build --out DIR`: the command line of the kit builder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fieldapp.kit.build import Request, build
from fieldapp.kit.spec import PLATFORMS, KitError, platforms_for, python_tag


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m fieldapp.kit", description="离线安装包 (offline kit)"
    )
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="构建安装包 (build the kit into --out; older versions stay)")
    b.add_argument("--out", type=Path, required=True, help="安装包文件夹 (kit folder)")
    b.add_argument(
        "--platform",
        choices=[*PLATFORMS, "all"],
        action="append",
        default=None,
        help="目标平台，可重复 (target platform, repeatable; default: all)",
    )
    b.add_argument(
        "--python",
        action="append",
        default=None,
        help="目标 Python 版本，可重复 (target Python, repeatable; default 3.11)",
    )
    b.add_argument(
        "--python-installer",
        type=Path,
        action="append",
        default=[],
        help="区里提供的 Python 安装程序，放入 python/ (a Python installer to ship; repeatable)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        pythons = args.python or ["3.11"]
        chosen = list(dict.fromkeys(args.platform or ["all"]))
        for py in pythons:
            python_tag(py)
        for f in args.python_installer:
            if not f.is_file():
                raise KitError(f"--python-installer：找不到文件 {f}")
        req = Request(
            out=args.out,
            platforms=[p for choice in chosen for p in platforms_for(choice)],
            pythons=pythons,
            installers=args.python_installer,
            keep_going="all" in chosen,
        )
        result = build(req)
    except KitError as e:
        print(f"错误 (error): {e}", file=sys.stderr)
        return 1
    for label, n in sorted(result.files.items()):
        print(f"  {label}: {n} wheels")
    for label, why in sorted(result.skipped.items()):
        print(f"  未包含 (not in the kit) {label}: {why}")
    print(f"安装包 fieldapp {result.version} → {result.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
