"""A small district for return-bundle tests: real key files, real laptops, real bundles on disk."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nacl.public import PrivateKey
from nacl.signing import SigningKey

from fieldapp import crypto, district_keys
from fieldapp.kinds import KINDS
from fieldapp.sqlite import sqlite3
from fieldapp.store import Store
from fieldapp.sync.export import export
from fieldapp.sync.merge import merge_files
from fieldapp.sync.return_read import ImportResult, import_return
from fieldapp.sync.return_write import District, ReturnResult, community_records, write_returns

from ..conftest import COMMUNITY, STREET
from .helpers import district

PASS = "correct horse battery staple"
OTHER = "321202001902"


@dataclass
class Net:
    """A district, its key files and its laptops (name → store)."""

    tmp: Path
    district: Store
    key: PrivateKey
    sign: SigningKey
    public_file: Path
    laptops: dict[str, Store] = field(default_factory=dict)
    made: int = 0

    def laptop(self, name: str, community: str = COMMUNITY, *, enrol: bool = True) -> Store:
        s = Store.open(self.tmp / f"{name}.db")
        s.setup_device(street_code=STREET, community_code=community, worker=name)
        install(s, self.public_file)
        if enrol:
            dev = s.device()
            assert dev is not None
            self.district.enroll(
                dev.device_id,
                s.keys()["sign_public"],
                label=name,
                by="测试",
                communities=[community],
            )
        self.laptops[name] = s
        return s

    def export(self, name: str) -> Path | None:
        """The laptop's bundle of what is new, or None when nothing is."""
        from fieldapp.store import StoreError

        try:
            return export(self.laptops[name], self.tmp / "usb" / name, mkdir=True).path
        except StoreError:
            return None

    def merge(self, *paths: Path) -> list[str]:
        return [
            r.status for r in merge_files(self.district.conn, list(paths), district_key=self.key)
        ]

    def returns(self, *communities: str) -> dict[str, ReturnResult]:
        self.made += 1
        out = self.tmp / "returns" / str(self.made)
        d = District(self.district.conn, self.sign, "321202")
        return {r.community_code: r for r in write_returns(d, out, list(communities) or None)}

    def import_(self, name: str, path: Path) -> ImportResult:
        return import_return(self.laptops[name], path)


def install(s: Store, public_file: Path) -> None:
    public, fp = crypto.load_district_public(public_file)
    s.install_district_key(public, fp, district_keys.read_district_public(public_file).sign_public)


def net(tmp: Path) -> Net:
    pub, priv, _ = crypto.district_keygen(tmp / "keys", PASS)
    d = district(tmp / "district.db")
    return Net(
        tmp,
        d,
        crypto.load_district_private(priv, PASS),
        district_keys.load_district_signing(priv, PASS),
        pub,
    )


def rows(
    conn: sqlite3.Connection, only: set[str] | None = None
) -> dict[str, list[tuple[Any, ...]]]:
    """The current rows of every record kind (of the records in `only` when given)."""
    out = {}
    for kind in KINDS:
        got = [tuple(r) for r in conn.execute(f"SELECT * FROM {kind} ORDER BY id")]
        out[kind] = [r for r in got if only is None or r[0] in only]
    return out


def district_view(n: Net, community: str) -> dict[str, list[tuple[Any, ...]]]:
    return rows(n.district.conn, community_records(n.district.conn).get(community, set()))
