"""A supervisor's month on disk for the district screens' tests: a district with its key pair, an
enrolled device whose bundles are in month folders, an unenrolled device's bundle (refused), a
revoked device's bundle, and a conflict between two laptops of one community."""

from __future__ import annotations

import html
import re
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from textual.app import App

from fieldapp import crypto
from fieldapp.demo import generate_community
from fieldapp.store import Store
from fieldapp.sync.export import export

PASS = "correct horse battery staple"
PERIOD = f"{date.today():%Y-%m}"
OTHER = "321202001902"  # a second community of 城东街道


def screen_text(app: App[None]) -> str:
    svg = app.export_screenshot()
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


def screen_lines(app: App[None]) -> list[str]:
    """What the terminal shows, line by line (for the captures in the report and line asserts)."""
    strips = app.screen._compositor.render_strips()
    return [s.text.rstrip() for s in strips]


@dataclass
class World:
    root: Path
    db: Path
    usb: Path
    key_file: Path
    pub: Path
    enrolled_bundle: Path  # usb/<month>/…: sealed, from the enrolled device A
    stranger_bundle: Path  # usb/other/…: sealed, from device B (never enrolled)
    stranger_db: Path
    device_db: Path


def _device(path: Path, pub: Path, community: str, worker: str) -> Store:
    s = Store.open(path)
    s.setup_device(street_code=community[:9], community_code=community, worker=worker)
    s.install_district_key(*crypto.load_district_public(pub))
    return s


def build(root: Path) -> World:
    """Everything written under `root`; the district has device A enrolled and nothing merged."""
    pub, priv, _ = crypto.district_keygen(root / "keys", PASS)
    generate_community(root / "a.db", seed=3, today=date.today(), elders=12)
    a = Store.open(root / "a.db")
    a.install_district_key(*crypto.load_district_public(pub))
    first = export(a, root / "usb" / PERIOD, mkdir=True)
    b = _device(root / "b.db", pub, OTHER, "李明")
    from tests.conftest import elder_data

    b.create("elder", elder_data(name="王芳", community_code=OTHER))
    stranger = export(b, root / "usb" / "other", mkdir=True)
    d = Store.open(root / "district.db")
    d.setup_district()
    d.conn.execute("UPDATE device SET worker = '王主任'")  # district init --supervisor 王主任
    dev = a.device()
    assert dev is not None
    d.enroll(
        dev.device_id,
        a.keys()["sign_public"],
        label=dev.label,
        by="测试",
        communities=[dev.community_code or ""],
    )
    for s in (a, b, d):
        s.close()
    return World(
        root,
        root / "district.db",
        root / "usb",
        priv,
        pub,
        first.path,
        stranger.path,
        root / "b.db",
        root / "a.db",
    )


def copy(world: World, dest: Path) -> World:
    """A fresh copy of the world for one test (the module builds it once)."""
    shutil.copytree(world.root, dest, dirs_exist_ok=True)

    def moved(p: Path) -> Path:
        return dest / p.relative_to(world.root)

    return World(*(moved(getattr(world, f)) for f in World.__dataclass_fields__))
