"""Build the kit: the fieldapp wheel, every dependency's wheel per target, hashes and scripts."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from packaging.version import InvalidVersion, Version

from fieldapp.kit.resolve import Wheel, closure, file_sha256, requirements_text, wheels_in
from fieldapp.kit.scripts import write_kit_files
from fieldapp.kit.spec import KitError, Platform, pinned_dependencies, python_tag

_ROOT = Path(__file__).resolve().parent.parent.parent
_NO_WHEEL = re.compile(r"satisfies the requirement ([A-Za-z0-9._\-\[\]=<>!~,]+)")
Runner = Callable[[list[str]], subprocess.CompletedProcess[str]]


def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


@dataclass
class BuildResult:
    version: str
    out: Path
    files: dict[str, int] = field(default_factory=dict)  # platform-python -> wheel count
    skipped: dict[str, str] = field(default_factory=dict)  # platform-python -> reason


def build_fieldapp_wheel(dest: Path, source: Path, runner: Runner) -> Path:
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check"]
    done = runner([*pip, "-q", "-w", str(dest), str(source)])
    wheels = sorted(dest.glob("fieldapp-*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        raise KitError(f"无法构建 fieldapp 的 wheel：{done.stderr.strip()[-800:]}")
    return wheels[0]


def download_cmd(platform: Platform, python: str, dest: Path, reqs: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--dest", str(dest)]
    cmd += ["--python-version", python, "--implementation", "cp", "--disable-pip-version-check"]
    for tag in platform.tags:
        cmd += ["--platform", tag]
    return [*cmd, "--progress-bar", "off", *reqs]


def fetch_set(
    platform: Platform, python: str, app_wheel: Path, work: Path, runner: Runner
) -> dict[str, Wheel]:
    """pip download resolves with the build machine's markers, so the set is checked again
    with the target's markers and anything missing (colorama for click on Windows) fetched."""
    dest = work / f"{platform.key}-{python_tag(python)}"
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(app_wheel, dest / app_wheel.name)
    name_version = app_wheel.name.split("-")[:2]
    roots = [f"fieldapp=={name_version[1]}"]
    reqs = [str(dest / app_wheel.name)]
    for _ in range(5):
        done = runner(download_cmd(platform, python, dest, reqs))
        if done.returncode != 0:
            lacking = sorted(set(_NO_WHEEL.findall(done.stderr))) or [done.stderr.strip()[-300:]]
            raise KitError(f"{platform.key} / Python {python} 缺少 wheel：{', '.join(lacking)}")
        chosen, missing = closure(roots, wheels_in(dest), platform.markers(python))
        if not missing:
            return chosen
        reqs = missing
    raise KitError(f"{platform.key}: 依赖未能补齐：{', '.join(missing)}")


def newest(versions_dir: Path) -> str:
    found: list[tuple[Version, str]] = []
    for d in versions_dir.iterdir():
        if d.is_dir():
            try:
                found.append((Version(d.name), d.name))
            except InvalidVersion:
                continue
    return max(found)[1]


@dataclass(frozen=True)
class Request:
    out: Path
    platforms: list[Platform]
    pythons: list[str]
    installers: list[Path]
    keep_going: bool  # --platform all: a platform lacking a wheel is skipped and named
    source: Path = _ROOT


def build(req: Request, runner: Runner = run, log: Callable[[str], None] = print) -> BuildResult:
    pins = pinned_dependencies(req.source / "pyproject.toml")
    with tempfile.TemporaryDirectory(prefix="fieldapp-kit-") as tmp:
        work = Path(tmp)
        log("构建 fieldapp wheel …")
        app_wheel = build_fieldapp_wheel(work / "dist", req.source, runner)
        version = app_wheel.name.split("-")[1]
        vdir = req.out / "versions" / version
        if vdir.exists():
            shutil.rmtree(vdir)
        vdir.mkdir(parents=True)
        result = BuildResult(version, req.out)
        jobs = [(p, py) for p in req.platforms for py in req.pythons]
        log("下载 wheel：" + ", ".join(f"{p.key}-{python_tag(py)}" for p, py in jobs) + " …")
        # One pip per target at the same time: the downloads wait on the network, not the CPU.
        with ThreadPoolExecutor(max_workers=3) as pool:
            futures = [pool.submit(fetch_set, p, py, app_wheel, work, runner) for p, py in jobs]
            for (platform, python), future in zip(jobs, futures, strict=True):
                label = f"{platform.key}-{python_tag(python)}"
                try:
                    chosen = future.result()
                except KitError as e:
                    if not req.keep_going:
                        raise
                    result.skipped[label] = str(e)
                    log(f"跳过 {label}：{e}")
                    continue
                check_pins(chosen, pins, label)
                result.files[label] = store_set(chosen, vdir, version, label)
    if not result.files:
        raise KitError("没有任何平台构建成功：" + "; ".join(result.skipped.values()))
    finish(req, result)
    return result


def store_set(chosen: dict[str, Wheel], vdir: Path, version: str, label: str) -> int:
    """Copy the wheels into the version's folder (pure wheels are shared by every target)
    and write that target's requirements file; returns the number of wheels."""
    for w in chosen.values():
        if not (vdir / w.path.name).exists():
            shutil.copy2(w.path, vdir / w.path.name)
    local = {n: Wheel(vdir / w.path.name, n, w.version) for n, w in chosen.items()}
    header = f"fieldapp {version}, {label}: pip install --no-index --find-links . --require-hashes -r this file"
    (vdir / f"requirements-{label}.txt").write_text(
        requirements_text(local, header), encoding="utf-8", newline="\n"
    )
    return len(local)


def check_pins(chosen: dict[str, Wheel], pins: dict[str, str], label: str) -> None:
    for name, pinned in pins.items():
        got = chosen.get(name)
        if got is None or got.version != pinned:
            raise KitError(f"{label}: {name} 应为 {pinned}，得到 {got.version if got else '无'}")


def finish(req: Request, result: BuildResult) -> None:
    versions_dir = req.out / "versions"
    (versions_dir / "LATEST").write_text(newest(versions_dir) + "\n", encoding="ascii")
    if req.installers:
        pydir = req.out / "python"
        pydir.mkdir(exist_ok=True)
        lines = []
        for f in req.installers:
            shutil.copy2(f, pydir / f.name)
            lines.append(f"{file_sha256(pydir / f.name)}  {f.name}")
        (pydir / "SHA256SUMS.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    labels = sorted(result.files)
    values = {
        "VERSION": result.version,
        "PLATFORMS": "、".join(sorted({lb.split("-")[0] for lb in labels})),
        "PYTHONS": "、".join(sorted({lb.split("-")[1] for lb in labels})),
    }
    write_kit_files(req.out, values)
    manifest = {
        "fieldapp": result.version,
        "built": datetime.now(UTC).isoformat(timespec="seconds"),
        "requirements": result.files,
        "skipped": result.skipped,
    }
    (req.out / "versions" / result.version / "kit.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
