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


def default_db() -> Path:
    """`--db` beats FIELDAPP_DB beats the per-user data dir."""
    override = os.environ.get("FIELDAPP_DB")
    return Path(override) if override else data_dir() / "fieldapp.db"


def demo_db() -> Path:
    return data_dir() / "demo.db"
