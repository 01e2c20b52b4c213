"""Where the database, the schema and the seed data are; every path is overridable by env so tests never touch $HOME."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "fieldapp"
_PKG = Path(__file__).resolve().parent


def _data_file(name: str) -> Path:
    """The installed copy (force-included in the wheel) or, in a checkout, the top-level one."""
    installed = _PKG / "_data" / name
    if installed.exists():
        return installed
    return _PKG.parent / name


def schema_path() -> Path:
    return _data_file("schema.sql")


def seed_dir() -> Path:
    override = os.environ.get("FIELDAPP_SEED")
    return Path(override) if override else _data_file("seed")


def data_dir() -> Path:
    override = os.environ.get("FIELDAPP_HOME")
    if override:
        return Path(override)
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False))


def database_file(path: Path | str | None) -> Path:
    """`path` as a database file, refusing what is no file name: None, an empty text, and a last
    component "None", which is what `str(None)` makes of a path that was never given (release 1
    committed a 299 KB SQLite file named `None` at the repository root that way)."""
    if path is None or not str(path).strip():
        raise ValueError("未指定数据库文件（no database file given）")
    p = Path(path)
    if p.name == "None":
        raise ValueError(
            f"数据库路径 {str(p)!r} 是 str(None)：调用方没有给出数据库文件"
            f"（the database path {str(p)!r} is str(None): the caller gave no database file）"
        )
    return p


def default_db() -> Path:
    """`--db` beats FIELDAPP_DB beats the per-user data dir."""
    override = os.environ.get("FIELDAPP_DB")
    return Path(override) if override else data_dir() / "fieldapp.db"


def demo_db() -> Path:
    return data_dir() / "demo.db"


def private_dirs(folder: Path) -> None:
    """Create `folder` and each missing parent 0700: `mkdir(parents=True)` would give the parents
    the umask's mode (0755), so a folder fieldapp makes would be readable by every user."""
    missing = []
    p = folder
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir(mode=0o700, exist_ok=True)
