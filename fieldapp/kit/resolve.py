"""Which downloaded wheels a target needs (its own markers, not the build machine's) and their hashes."""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from fieldapp.kit.spec import KitError, normalize


@dataclass(frozen=True)
class Wheel:
    path: Path
    name: str  # normalized
    version: str

    @property
    def sha256(self) -> str:
        return file_sha256(self.path)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def parse_wheel_name(filename: str) -> tuple[str, str, str]:
    """(normalized name, version, platform tag) of `name-version[-build]-py-abi-plat.whl`."""
    if not filename.endswith(".whl"):
        raise KitError(f"不是 wheel 文件：{filename}")
    parts = filename[: -len(".whl")].split("-")
    if len(parts) not in (5, 6):
        raise KitError(f"wheel 文件名不合规则：{filename}")
    return normalize(parts[0]), parts[1], parts[-1]


def wheels_in(folder: Path) -> dict[str, Wheel]:
    found: dict[str, Wheel] = {}
    for path in sorted(folder.glob("*.whl")):
        name, version, _ = parse_wheel_name(path.name)
        if name in found:
            raise KitError(f"{folder} 中 {name} 有两个 wheel：{found[name].path.name}, {path.name}")
        found[name] = Wheel(path, name, version)
    return found


def requires_dist(wheel: Path) -> list[str]:
    """The Requires-Dist lines of the wheel's METADATA."""
    with zipfile.ZipFile(wheel) as zf:
        meta = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1]
        if len(meta) != 1:
            raise KitError(f"{wheel.name} 没有唯一的 METADATA")
        text = zf.read(meta[0]).decode("utf-8")
    return HeaderParser().parsestr(text).get_all("Requires-Dist") or []


def needed(requirement: Requirement, markers: dict[str, str], extras: frozenset[str]) -> bool:
    if requirement.marker is None:
        return True
    envs = [{**markers, "extra": e} for e in sorted(extras | {""})]
    return any(requirement.marker.evaluate(env) for env in envs)


def closure(
    roots: list[str], available: dict[str, Wheel], markers: dict[str, str]
) -> tuple[dict[str, Wheel], list[str]]:
    """Walk the dependency graph from `roots` with the target's markers. Returns the wheels
    needed and the requirements for which no wheel is in `available` (to download next)."""
    todo = [Requirement(r) for r in roots]
    extras_seen: dict[str, frozenset[str]] = {}
    chosen: dict[str, Wheel] = {}
    missing: list[str] = []
    while todo:
        req = todo.pop()
        name = normalize(req.name)
        extras = frozenset(req.extras) | extras_seen.get(name, frozenset())
        if name in chosen and extras == extras_seen.get(name):
            continue
        wheel = available.get(name)
        if wheel is None:
            missing.append(str(req))
            continue
        if not req.specifier.contains(wheel.version, prereleases=True):
            raise KitError(f"{wheel.path.name} 不满足 {req}")
        chosen[name] = wheel
        extras_seen[name] = extras
        for line in requires_dist(wheel.path):
            try:
                dep = Requirement(line)
            except InvalidRequirement:
                raise KitError(f"{wheel.path.name} 的依赖无法解析：{line}") from None
            if needed(dep, markers, extras):
                todo.append(dep)
    return chosen, sorted(set(missing))


def requirements_text(wheels: dict[str, Wheel], header: str) -> str:
    """Every wheel pinned with `==` and its sha256: pip's --require-hashes then refuses a
    tampered or swapped wheel on the stick, and any dependency missing from the file."""
    lines = [f"# {line}" for line in header.splitlines()]
    for name in sorted(wheels):
        w = wheels[name]
        lines.append(f"{name}=={w.version} \\\n    --hash=sha256:{w.sha256}")
    return "\n".join(lines) + "\n"
