"""Laptops and the district converge (SPEC §5b), tested with hypothesis.

Four laptops (three of one community, one of another) create and edit elders; their bundles are
exported (some sealed to colleagues too and imported by another laptop: office sync), merged in
any order and more than once; the district resolves conflicts and transfers
elders; return bundles are written and imported in any order, twice, or into the wrong laptop.
At the end (every laptop exports, the district merges everything and sends a last return) every
laptop equals the district's view of its community, and the district's winners are the ones
`lineage.settle` gives on the union of versions.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import zipfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fieldapp import lineage, review
from fieldapp.store import Store, StoreError
from fieldapp.sync.export import export
from fieldapp.sync.office import import_any
from fieldapp.sync.settle import Authority, _node

from ..conftest import COMMUNITY, elder_data, make_id, scaled
from .return_helpers import OTHER, Net, district_view, net, rows

LAPTOPS = {"a": COMMUNITY, "b": COMMUNITY, "c": COMMUNITY, "d": OTHER}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("return-template")
    n = net(root)
    for name, code in LAPTOPS.items():
        n.laptop(name, code)
    first = n.returns(COMMUNITY, OTHER)  # enrolled laptops get a first (empty) return bundle:
    for name, code in LAPTOPS.items():  # it tells them their colleagues' keys
        path = first[code].path
        assert path is not None and n.import_(name, path).status == "applied"
    for s in [n.district, *n.laptops.values()]:
        s.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        s.close()
    return root


def _open(template: Path, into: Path) -> Net:
    shutil.copytree(template, into, dirs_exist_ok=True)
    from fieldapp import crypto, district_keys

    priv = into / "keys" / "district.private.json"
    n = Net(
        into,
        Store.open(into / "district.db"),
        crypto.load_district_private(priv, "correct horse battery staple"),
        district_keys.load_district_signing(priv, "correct horse battery staple"),
        into / "keys" / "district.public.json",
    )
    n.laptops = {name: Store.open(into / f"{name}.db") for name in LAPTOPS}
    return n


laptop = st.sampled_from(sorted(LAPTOPS))
step = st.one_of(
    st.tuples(st.just("create"), laptop),
    st.tuples(st.just("edit"), laptop, st.integers(0, 7), st.integers(0, 99)),
    st.tuples(st.just("export"), laptop),
    st.tuples(st.just("merge"), st.integers(0, 30)),
    st.tuples(st.just("return"), st.sampled_from([COMMUNITY, OTHER])),
    st.tuples(st.just("import"), laptop, st.integers(0, 30)),
    st.tuples(st.just("office"), laptop, laptop),
    st.tuples(st.just("resolve"), st.integers(0, 7)),
    st.tuples(st.just("transfer"), st.integers(0, 7)),
)


class Run:
    def __init__(self, n: Net) -> None:
        self.n = n
        self.bundles: list[Path] = []
        self.returns: list[tuple[str, Path]] = []
        self.made = 0

    def do(self, op: tuple[Any, ...]) -> None:
        getattr(self, "_" + op[0])(*op[1:])

    def _create(self, name: str) -> None:
        self.made += 1
        self.n.laptops[name].create(
            "elder",
            elder_data(
                name=f"老人{self.made}",
                id_number=make_id(date(1940, 1, 1) + timedelta(days=self.made), male=True),
                community_code=LAPTOPS[name],
            ),
        )

    def _edit(self, name: str, k: int, phone: int) -> None:
        s = self.n.laptops[name]
        ids = [r[0] for r in s.conn.execute("SELECT id FROM elder WHERE deleted = 0 ORDER BY id")]
        if not ids:
            return
        rid = ids[k % len(ids)]
        data = dict(s.get("elder", rid).record.payload())
        data["phone"] = f"139{phone:08d}"
        with contextlib.suppress(StoreError):  # moved to another community: read-only here
            s.update("elder", rid, data)

    def _export(self, name: str) -> None:
        path = self.n.export(name)
        if path is not None:
            self.bundles.append(path)

    def _office(self, src: str, dst: str) -> None:
        """An office sync: src's bundle sealed to its colleagues too (once it knows their keys),
        imported by dst; the district gets the same file later."""
        try:
            path = export(
                self.n.laptops[src],
                self.n.tmp / "office" / src,
                for_colleagues=True,
                mkdir=True,
            ).path
        except StoreError:  # nothing new, or no colleague's key yet
            return
        self.bundles.append(path)
        m = json.loads(zipfile.ZipFile(path).read("manifest.json"))
        me = self.n.laptops[dst].device()
        assert me is not None
        r = import_any(self.n.laptops[dst], path)
        event(f"office sync {r.status}")
        if src != dst and me.device_id in m["encryption"]["colleagues"]:
            assert r.status == "applied", r.reason
        else:
            assert r.status == "refused"

    def _merge(self, k: int) -> None:
        if self.bundles:
            (status,) = self.n.merge(self.bundles[k % len(self.bundles)])
            assert status in ("merged", "already")

    def _return(self, code: str) -> None:
        path = self.n.returns(code)[code].path
        assert path is not None
        self.returns.append((code, path))

    def _import(self, name: str, k: int) -> None:
        if not self.returns:
            return
        code, path = self.returns[k % len(self.returns)]
        r = self.n.import_(name, path)
        if code == LAPTOPS[name]:
            assert r.ok, r.reason
        else:
            assert r.status == "refused"

    def _resolve(self, k: int) -> None:
        open_ = self.n.district.conn.execute(
            "SELECT id FROM conflicts WHERE status = 'open' ORDER BY id"
        ).fetchall()
        if open_:
            review.decide_conflict(
                self.n.district.conn, open_[k % len(open_)][0], choose="ab"[k % 2], by="王主任"
            )

    def _transfer(self, k: int) -> None:
        conn = self.n.district.conn
        elders = conn.execute(
            "SELECT id, community_code FROM elder WHERE deleted = 0 ORDER BY id"
        ).fetchall()
        if elders:
            rid, code = elders[k % len(elders)]
            review.transfer_elder(conn, rid, OTHER if code == COMMUNITY else COMMUNITY, by="王主任")

    def finish(self) -> None:
        for name in LAPTOPS:
            self._export(name)
        assert set(self.n.merge(*self.bundles)) <= {"merged", "already"}
        last = self.n.returns(COMMUNITY, OTHER)
        for name, code in LAPTOPS.items():
            path = last[code].path
            assert path is not None
            assert self.n.import_(name, path).status == "applied"


def _lineage_winners(n: Net) -> None:
    """The district's current rows are the winners SPEC §4 gives on its versions."""
    conn = n.district.conn
    authority = Authority.read(conn)
    for rid, current in conn.execute("SELECT id, version_id FROM elder").fetchall():
        vs = conn.execute(
            "SELECT v.version_id, v.parent_version_id, v.hlc, v.device_id, v.deleted, v.payload,"
            " v.payload_schema, v.also_parents, 0 AS flagged FROM versions v WHERE v.record_id = ?",
            (rid,),
        ).fetchall()
        settled = lineage.settle([_node(r, authority) for r in vs])
        assert settled.winner == current


@settings(
    max_examples=scaled(200),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=1, max_size=25))
def test_laptops_and_district_converge(template: Path, steps: list[tuple[Any, ...]]) -> None:
    # in memory where there is a tmpfs: every export and write is fsynced, and 200 runs of a few
    # dozen files each would mostly wait for the disk
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as tmp:
        n = _open(template, Path(tmp))
        try:
            run = Run(n)
            for op in steps:
                run.do(op)
            run.finish()
            for name, code in LAPTOPS.items():
                assert rows(n.laptops[name].conn) == district_view(n, code), name
            _lineage_winners(n)
        finally:
            for s in [n.district, *n.laptops.values()]:
                s.close()
